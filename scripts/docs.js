#!/usr/bin/env node
// Regenerates the README's reference sections from the source of truth: construct Props (JSDoc with @default)
// and the handler's ENV_VARS table. `node scripts/docs.js --check` exits 1 when the README is stale (run by tests).
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const readmePath = path.join(root, 'README.md');

/** Props interfaces of one construct file: [{ name, props: [{ name, type, optional, doc, default }] }]. */
function propsOf(file) {
  const src = fs.readFileSync(file, 'utf8');
  const out = [];
  for (const match of src.matchAll(/export interface (\w+Props) (?:extends [\w, <>]+ )?\{\n([\s\S]*?)\n\}/g)) {
    const props = [];
    for (const p of match[2].matchAll(/\/\*\*([\s\S]*?)\*\/\s*readonly (\w+)(\??): ([^;]+);/g)) {
      const lines = p[1].split('\n').map((l) => l.replace(/^\s*\*\s?/, '').trim()).filter(Boolean);
      const defaultLine = lines.find((l) => l.startsWith('@default'));
      const doc = lines.filter((l) => !l.startsWith('@')).join(' ');
      props.push({ name: p[2], optional: p[3] === '?', type: p[4].replace(/\s+/g, ' ').trim(), doc, default: defaultLine ? defaultLine.replace('@default', '').trim() : p[3] ? '' : 'required' });
    }
    out.push({ name: match[1], props });
  }
  return out;
}

const cell = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');

function constructReference() {
  const dir = path.join(root, 'constructs');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.ts') && f !== 'index.ts').sort();
  const parts = [];
  for (const file of files) {
    for (const iface of propsOf(path.join(dir, file))) {
      if (iface.props.length === 0) continue;
      parts.push(`#### \`${iface.name}\` (constructs/${file})\n`, '| prop | type | default | description |', '|---|---|---|---|');
      for (const p of iface.props) parts.push(`| \`${p.name}\` | \`${cell(p.type)}\` | ${cell(p.default || '-')} | ${cell(p.doc)} |`);
      parts.push('');
    }
  }
  return parts.join('\n');
}

function handlerEnvReference() {
  const configFile = path.join(root, 'lambda-src', 'config.ts');
  if (!fs.existsSync(configFile)) return '_The handler has no configuration module yet._\n';
  const vars = require('./run-ts').runTs(path.relative(root, configFile)).ENV_VARS;
  const rows = ['| variable | default | description |', '|---|---|---|'];
  for (const v of vars) rows.push(`| \`${v.name}\` | ${cell(v.default === undefined || v.default === '' ? '-' : `\`${v.default}\``)} | ${cell(v.description)} |`);
  return `${rows.join('\n')}\n`;
}

function replaceSection(text, marker, body) {
  const start = `<!-- ${marker}:start -->`;
  const end = `<!-- ${marker}:end -->`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < i) throw new Error(`README.md lacks the markers ${start} … ${end}`);
  return `${text.slice(0, i + start.length)}\n${body.trim()}\n${text.slice(j)}`;
}

function render(text) {
  let out = replaceSection(text, 'construct-props', constructReference());
  out = replaceSection(out, 'handler-env', handlerEnvReference());
  return out;
}

module.exports = { propsOf, render };

if (require.main === module) {
  const current = fs.readFileSync(readmePath, 'utf8');
  const next = render(current);
  if (process.argv.includes('--check')) {
    if (next !== current) {
      console.error('README.md reference sections are stale: run `node scripts/docs.js`.');
      process.exit(1);
    }
    console.log('README.md reference sections are up to date.');
  } else if (next !== current) {
    fs.writeFileSync(readmePath, next);
    console.log('README.md reference sections updated.');
  }
}
