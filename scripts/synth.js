#!/usr/bin/env node
// The cdktf app command (cdktf.json "app"): esbuild compiles stacks/main.ts and its local imports into one
// CommonJS file in ~50 ms, then node runs it. Packages stay external, and provider classes are imported per
// file, so a synth of both stacks needs no ts-node and no provider index (see bench/synth.js).
'use strict';
process.env.CHECKPOINT_DISABLE ??= '1';
const path = require('node:path');
const { buildSync } = require('esbuild');

const root = path.resolve(__dirname, '..');
const outfile = path.join(root, 'dist', 'app', 'main.js');
buildSync({
  entryPoints: [path.join(root, 'stacks', 'main.ts')],
  outfile,
  bundle: true,
  packages: 'external',
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: 'inline',
  logLevel: 'warning',
});
process.chdir(root);
require(outfile);
