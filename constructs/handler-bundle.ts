import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildSync, version as esbuildVersion } from 'esbuild';

export interface HandlerBundleOptions {
  /**
   * Entry file of the handler. A platform team points this at its own handler to get the same bundling and size guard.
   * @default - this package's `lambda-src/main.ts`
   */
  readonly entry?: string;
  /** esbuild target; match the Node.js the AMI installs. @default 'node20' (runs on the AMI's Node.js 22 too) */
  readonly target?: string;
  /** Compile-time constants, e.g. `{ 'process.env.NODE_ENV': '"production"' }`. @default {} */
  readonly define?: Record<string, string>;
}

/** A minified single-file handler, built identically on every machine. */
export interface HandlerBundle {
  readonly code: string;
  readonly bytes: number;
  readonly gzipBytes: number;
  readonly sha256: string;
  /** Entry file relative to the package root, for messages. */
  readonly entry: string;
}

const cache = new Map<string, HandlerBundle>();

/** The package root: where `lambda-src/` lives, whether this runs from source, from dist/ or from node_modules. */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name === 'cdktf-inference-fleet') return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cdktf-inference-fleet: cannot find the package root above ${__dirname}.`);
    dir = parent;
  }
}

/** Bundles the handler with esbuild (cached in memory per synth, and on disk while no input changed). */
export function bundleHandler(options: HandlerBundleOptions = {}): HandlerBundle {
  const root = packageRoot();
  const entry = resolve(root, options.entry ?? join('lambda-src', 'main.ts'));
  if (!existsSync(entry)) {
    throw new Error(`Handler entry '${options.entry ?? entry}' does not exist. Pass the path of your handler's entry file (e.g. 'src/handler.ts').`);
  }
  const key = JSON.stringify([entry, options.target, options.define, esbuildVersion]);
  const cached = cache.get(key);
  if (cached) return cached;
  const code = readBuildCache(root, key) ?? build(root, entry, key, options);
  const bundle: HandlerBundle = {
    code,
    bytes: Buffer.byteLength(code),
    gzipBytes: gzipSync(code, { level: 9 }).length,
    sha256: createHash('sha256').update(code).digest('hex'),
    entry: relative(root, entry) || entry,
  };
  cache.set(key, bundle);
  return bundle;
}

function build(root: string, entry: string, key: string, options: HandlerBundleOptions): string {
  const result = buildSync({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    platform: 'node',
    format: 'cjs',
    target: options.target ?? 'node20',
    charset: 'ascii', // keeps the bundle safe inside a YAML literal block
    legalComments: 'none',
    sourcemap: false,
    define: options.define,
    write: false,
    metafile: true,
    logLevel: 'silent',
    absWorkingDir: root,
  });
  if (result.errors.length > 0) {
    throw new Error(`Bundling the handler '${entry}' failed:\n${result.errors.map((e) => `  ${e.location?.file ?? ''}:${e.location?.line ?? ''} ${e.text}`).join('\n')}`);
  }
  const code = result.outputFiles[0].text;
  writeBuildCache(root, key, code, Object.keys(result.metafile!.inputs));
  return code;
}

// The on-disk cache lets a synth with no handler change skip starting esbuild (~120 ms). Entries are keyed by
// the options and hold each input's size and mtime; the bundle bytes themselves never depend on the cache.
const cacheFile = (root: string, key: string) => join(root, 'dist', 'handler-cache', createHash('sha256').update(key).digest('hex').slice(0, 16));
const fingerprint = (root: string, files: string[]) =>
  files.map((file) => {
    const stat = statSync(resolve(root, file), { throwIfNoEntry: false });
    return [file, stat?.size ?? -1, stat?.mtimeMs ?? -1] as const;
  });

function readBuildCache(root: string, key: string): string | undefined {
  try {
    const file = cacheFile(root, key);
    const { inputs } = JSON.parse(readFileSync(`${file}.json`, 'utf8')) as { inputs: [string, number, number][] };
    if (JSON.stringify(fingerprint(root, inputs.map((i) => i[0]))) !== JSON.stringify(inputs)) return undefined;
    return readFileSync(`${file}.js`, 'utf8');
  } catch {
    return undefined;
  }
}

function writeBuildCache(root: string, key: string, code: string, inputs: string[]): void {
  try {
    const file = cacheFile(root, key);
    mkdirSync(dirname(file), { recursive: true });
    // Unique names renamed into place: concurrent synths never read half a file.
    const tmp = `${file}.${process.pid}`;
    writeFileSync(`${tmp}.js`, code);
    writeFileSync(`${tmp}.json`, JSON.stringify({ inputs: fingerprint(root, inputs) }));
    renameSync(`${tmp}.js`, `${file}.js`);
    renameSync(`${tmp}.json`, `${file}.json`);
  } catch {
    // A read-only package directory just means no cache.
  }
}
