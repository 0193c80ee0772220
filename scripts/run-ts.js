#!/usr/bin/env node
// Runs a TypeScript entry file without ts-node: esbuild compiles it and its local imports into one CommonJS
// file in ~50 ms (packages stay external), then node runs it. Used by the synth app command and `npm run dev`.
// Usage: node scripts/run-ts.js <entry.ts> [args...]
'use strict';
const path = require('node:path');
const { buildSync } = require('esbuild');

const root = path.resolve(__dirname, '..');

function runTs(entry) {
  const name = path.basename(entry, '.ts');
  const outfile = path.join(root, 'dist', 'run', `${name}.js`);
  buildSync({
    entryPoints: [path.resolve(root, entry)],
    outfile,
    bundle: true,
    packages: 'external',
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    sourcemap: 'inline',
    logLevel: 'warning',
  });
  require(outfile);
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
