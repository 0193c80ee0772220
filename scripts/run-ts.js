#!/usr/bin/env node
// Runs a TypeScript entry file without ts-node: esbuild compiles it and its local imports into one CommonJS
// file (packages stay external), then node runs it. The compiled file is kept in dist/run/ with the size and
// mtime of every input, and reused while none changed, which saves esbuild's ~150 ms start on repeat runs.
// Used by the synth app command, `npm run dev`, `npm run build:handler`, the README generator and the handler bench.
// Usage: node scripts/run-ts.js <entry.ts> [args...]
'use strict';
const fs = require('node:fs');
const Module = require('node:module');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const esbuildVersion = () => require('esbuild/package.json').version;

/** Inputs as `[file, size, mtimeMs]`; a missing or changed file makes the cache stale. */
const fingerprint = (files) => files.map((file) => {
  const stat = fs.statSync(path.join(root, file), { throwIfNoEntry: false });
  return [file, stat?.size ?? -1, stat?.mtimeMs ?? -1];
});

function compile(entry, filename) {
  const manifest = `${filename}.inputs.json`;
  try {
    const cached = JSON.parse(fs.readFileSync(manifest, 'utf8'));
    if (cached.entry === entry && cached.esbuild === esbuildVersion() && JSON.stringify(fingerprint(cached.inputs.map((i) => i[0]))) === JSON.stringify(cached.inputs)) {
      return fs.readFileSync(filename, 'utf8');
    }
  } catch {
    // no usable cache: compile
  }
  const { buildSync } = require('esbuild');
  const { outputFiles, metafile } = buildSync({
    entryPoints: [path.resolve(root, entry)],
    outfile: filename,
    write: false,
    metafile: true,
    bundle: true,
    packages: 'external',
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    logLevel: 'warning',
    absWorkingDir: root,
  });
  const code = outputFiles[0].text;
  // Written to unique names and renamed into place, so concurrent runs never read a half-written file.
  const tmp = `${filename}.${process.pid}`;
  fs.mkdirSync(path.dirname(filename), { recursive: true });
  fs.writeFileSync(`${tmp}.js`, code);
  fs.writeFileSync(`${tmp}.json`, JSON.stringify({ entry, esbuild: esbuildVersion(), inputs: fingerprint(Object.keys(metafile.inputs)) }));
  fs.renameSync(`${tmp}.js`, filename);
  fs.renameSync(`${tmp}.json`, manifest);
  return code;
}

/** Compiles and runs `entry` (relative to the package root) as a CommonJS module; returns its exports. */
function runTs(entry) {
  const filename = path.join(root, 'dist', 'run', `${path.basename(entry, '.ts')}.js`);
  const compiled = new Module(filename, module);
  compiled.filename = filename;
  compiled.paths = Module._nodeModulePaths(path.dirname(filename));
  compiled._compile(compile(entry, filename), filename);
  return compiled.exports;
}

module.exports = { runTs };

if (require.main === module) {
  const [entry, ...args] = process.argv.slice(2);
  if (!entry) {
    console.error('usage: node scripts/run-ts.js <entry.ts> [args...]');
    process.exit(2);
  }
  process.argv = [process.argv[0], entry, ...args];
  runTs(entry);
}
