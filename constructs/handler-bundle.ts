import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildSync } from 'esbuild';

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

/** Bundles the handler with esbuild (cached per entry within one synth). */
export function bundleHandler(options: HandlerBundleOptions = {}): HandlerBundle {
  const root = packageRoot();
  const entry = resolve(root, options.entry ?? join('lambda-src', 'main.ts'));
  if (!existsSync(entry)) {
    throw new Error(`Handler entry '${options.entry ?? entry}' does not exist. Pass the path of your handler's entry file (e.g. 'src/handler.ts').`);
  }
  const key = JSON.stringify([entry, options.target, options.define]);
  const cached = cache.get(key);
  if (cached) return cached;
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
    logLevel: 'silent',
    absWorkingDir: root,
  });
  if (result.errors.length > 0) {
    throw new Error(`Bundling the handler '${entry}' failed:\n${result.errors.map((e) => `  ${e.location?.file ?? ''}:${e.location?.line ?? ''} ${e.text}`).join('\n')}`);
  }
  const code = result.outputFiles[0].text;
  const bytes = Buffer.byteLength(code);
  const bundle: HandlerBundle = {
    code,
    bytes,
    gzipBytes: gzipSync(code, { level: 9 }).length,
    sha256: createHash('sha256').update(code).digest('hex'),
    entry: relative(root, entry) || entry,
  };
  cache.set(key, bundle);
  return bundle;
}
