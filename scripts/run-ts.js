#!/usr/bin/env node
// Runs a TypeScript entry file without ts-node: esbuild compiles it and its local imports into one CommonJS
// file in ~50 ms (packages stay external), then node runs it. Used by the synth app command and `npm run dev`.
// Usage: node scripts/run-ts.js <entry.ts> [args...]
'use strict';
const path = require('node:path');
const Module = require('node:module');
const { buildSync } = require('esbuild');

const root = path.resolve(__dirname, '..');

function runTs(entry) {
  const name = path.basename(entry, '.ts');
  // Compiled in memory and loaded as if it lived in dist/run/: concurrent runs never share a file on disk.
  const filename = path.join(root, 'dist', 'run', `${name}.js`);
  const { outputFiles } = buildSync({
    entryPoints: [path.resolve(root, entry)],
    outfile: filename,
    write: false,
    bundle: true,
    packages: 'external',
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    sourcemap: 'inline',
    logLevel: 'warning',
  });
  const compiled = new Module(filename, module);
  compiled.filename = filename;
  compiled.paths = Module._nodeModulePaths(path.dirname(filename));
  compiled._compile(outputFiles[0].text, filename);
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
