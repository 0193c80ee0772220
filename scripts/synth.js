#!/usr/bin/env node
// The cdktf app command (cdktf.json "app"): compiles stacks/main.ts with esbuild and runs it. Provider classes
// are imported per file, so a synth of both stacks needs no ts-node and no provider index (see bench/synth.js).
'use strict';
process.env.CHECKPOINT_DISABLE ??= '1';
const path = require('node:path');

process.chdir(path.resolve(__dirname, '..'));
require('./run-ts').runTs('stacks/main.ts');
