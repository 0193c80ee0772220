#!/usr/bin/env node
// The cdktf app command (cdktf.json "app"): compiles stacks/main.ts with esbuild and runs it. Provider classes
// are imported per file, so a synth of both stacks needs no ts-node and no provider index (see bench/synth.js).
'use strict';
process.env.CHECKPOINT_DISABLE ??= '1';
const path = require('node:path');
const Module = require('node:module');

// cdktf loads archiver (and its ~100 dependencies) at start only to zip directory assets, which these stacks
// never have: load it on first use instead. That is a tenth of a second of every synth.
const load = Module._load;
Module._load = function (request, parent, isMain) {
  if (request !== 'archiver' || !parent?.filename.includes(`${path.sep}cdktf${path.sep}`)) return load.apply(this, arguments);
  let archiver;
  return (...args) => (archiver ??= load.call(this, request, parent, isMain))(...args);
};

process.chdir(path.resolve(__dirname, '..'));
require('./run-ts').runTs('stacks/main.ts');
