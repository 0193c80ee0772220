#!/usr/bin/env node
// Synth benchmark: this repository's app command against the stock cdktf setup (ts-node with TypeScript 5
// type-checking, provider classes through the @cdktf/provider-aws index) on the same stacks, side by side
// in one run. Reports median wall time and peak memory of whole-process runs, and the ratios.
// Usage: node bench/synth.js [--runs N]   (a benchmark: nothing here is asserted)
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { percentile, table, progress } = require('./lib/stats');

const root = path.resolve(__dirname, '..');
const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 5;
const rssHook = path.join(__dirname, 'lib', 'peak-rss.js');

/** Copies the app and rewrites per-file provider imports to index imports, as the stock template writes them. */
function prepareStockCopy() {
  const dir = path.join(root, 'bench', '.stock');
  fs.rmSync(dir, { recursive: true, force: true });
  for (const folder of ['constructs', 'stacks', 'lambda-src']) {
    if (fs.existsSync(path.join(root, folder))) fs.cpSync(path.join(root, folder), path.join(dir, folder), { recursive: true });
  }
  const camel = (file) => file.replace(/-([a-z0-9])/g, (_, c) => c.toUpperCase());
  const rewrite = (file) => {
    let src = fs.readFileSync(file, 'utf8');
    src = src.replace(/import \{([^}]+)\} from '@cdktf\/provider-(aws|random)\/lib\/([a-z0-9-]+)';/g, (_, names, provider, mod) => {
      const ns = `${camel(mod)}_${provider}`;
      // `import X = ns.X` aliases the class as value and type (and interfaces as types), as a direct import would.
      const aliases = names.split(',').map((n) => n.trim().replace(/^type\s+/, '')).filter(Boolean).map((n) => {
        const [name, as = name] = n.split(/\s+as\s+/);
        return `import ${as} = ${ns}.${name};`;
      });
      return `import { ${camel(mod)} as ${ns} } from '@cdktf/provider-${provider}';\n${aliases.join('\n')}`;
    });
    fs.writeFileSync(file, src);
  };
  const walk = (d) => fs.readdirSync(d, { withFileTypes: true }).forEach((e) => {
    const p = path.join(d, e.name);
    if (e.isDirectory()) walk(p);
    else if (p.endsWith('.ts')) rewrite(p);
  });
  walk(dir);
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ extends: '../../tsconfig.json', include: ['constructs', 'stacks', 'lambda-src'], compilerOptions: { rootDir: '.', noUnusedLocals: false, module: 'commonjs', moduleResolution: 'node' } }));
  return dir;
}

function measure(label, command, args, cwd) {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'synth-bench-'));
  const env = { ...process.env, CHECKPOINT_DISABLE: '1', CDKTF_OUTDIR: outdir, NODE_OPTIONS: `--require ${rssHook}` };
  const start = process.hrtime.bigint();
  const result = spawnSync(command, args, { cwd, env, encoding: 'utf8' });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  fs.rmSync(outdir, { recursive: true, force: true });
  if (result.status !== 0) throw new Error(`${label} failed (exit ${result.status}):\n${result.stderr.slice(-2000)}`);
  const rss = Number(/BENCH_MAX_RSS_KB=(\d+)/.exec(result.stderr)?.[1] ?? NaN) / 1024;
  return { seconds, rssMb: rss };
}

function series(label, command, args, cwd, extraEnv = {}) {
  const samples = [];
  for (let i = 0; i < runs; i++) {
    progress(`${label}: run ${i + 1}/${runs}`);
    Object.assign(process.env, extraEnv);
    samples.push(measure(label, command, args, cwd));
    for (const key of Object.keys(extraEnv)) delete process.env[key];
  }
  return {
    label,
    seconds: percentile(samples.map((s) => s.seconds), 50),
    rssMb: percentile(samples.map((s) => s.rssMb), 50),
  };
}

const stockDir = prepareStockCopy();
const ours = series('this repo: node scripts/synth.js (esbuild, per-file imports)', process.execPath, [path.join(root, 'scripts', 'synth.js')], root);
const noPolicy = fs.existsSync(path.join(root, 'constructs', 'policy'))
  ? series('this repo, policy checks off', process.execPath, [path.join(root, 'scripts', 'synth.js')], root, { INFERENCE_POLICY: 'off' })
  : undefined;
const stock = series('stock: ts-node (TypeScript 5) + provider index', process.execPath, [
  '-r', require.resolve('ts-node/register'), path.join(stockDir, 'stacks', 'main.ts'),
], stockDir, { TS_NODE_COMPILER: 'typescript5', TS_NODE_PROJECT: path.join(stockDir, 'tsconfig.json') });
fs.rmSync(stockDir, { recursive: true, force: true });

const rows = [ours, ...(noPolicy ? [noPolicy] : []), stock].map((r) => [r.label, r.seconds.toFixed(3), r.rssMb.toFixed(0), (r.seconds / ours.seconds).toFixed(1) + 'x', (r.rssMb / ours.rssMb).toFixed(1) + 'x']);
console.log(`\nSynthesize both stacks, whole process, median of ${runs} runs on ${os.cpus().length} cores (node ${process.version})\n`);
console.log(table(['setup', 'wall s', 'peak MB', 'time vs ours', 'memory vs ours'], rows));
if (noPolicy) console.log(`\nPolicy checks add ${((ours.seconds - noPolicy.seconds) * 1000).toFixed(0)} ms (${(((ours.seconds - noPolicy.seconds) / noPolicy.seconds) * 100).toFixed(1)} %) to a synth.`);
