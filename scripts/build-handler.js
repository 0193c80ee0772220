#!/usr/bin/env node
// Bundles the handler (lambda-src/main.ts) exactly as the infrastructure does (constructs/handler-bundle.ts,
// reused here, not copied) into dist/handler/main.js, and prints its raw and gzip -9 sizes. It rides inside EC2
// user data (16,384 bytes, gzip-compressed, with the rest of the cloud-config), so the build fails above the
// handler's share of it.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { buildSync } = require('esbuild');

const BUDGET_GZIP_BYTES = 14000;
const root = path.resolve(__dirname, '..');

/** constructs/handler-bundle.ts is TypeScript: compile it in memory and load it as CommonJS. */
function loadHandlerBundle() {
  const file = path.join(root, 'constructs', 'handler-bundle.ts');
  const { outputFiles } = buildSync({ entryPoints: [file], bundle: true, platform: 'node', format: 'cjs', packages: 'external', write: false, logLevel: 'silent' });
  const mod = { exports: {} };
  new Function('module', 'exports', 'require', '__dirname', outputFiles[0].text)(mod, mod.exports, require, path.dirname(file));
  return mod.exports;
}

const bundle = loadHandlerBundle().bundleHandler();
const out = path.join(root, 'dist', 'handler', 'main.js');
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, bundle.code);
const kb = (n) => `${n} bytes (${(n / 1024).toFixed(2)} KB)`;
console.log(`${path.relative(root, out)} from ${bundle.entry}`);
console.log(`  raw:       ${kb(bundle.bytes)}`);
console.log(`  gzip -9:   ${kb(bundle.gzipBytes)} of a ${kb(BUDGET_GZIP_BYTES)} budget`);
console.log(`  sha256:    ${bundle.sha256}`);
if (bundle.gzipBytes > BUDGET_GZIP_BYTES) {
  console.error(`The handler is ${bundle.gzipBytes - BUDGET_GZIP_BYTES} bytes over its user-data budget: trim lambda-src/ (or deliver it from S3).`);
  process.exit(1);
}
