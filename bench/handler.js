#!/usr/bin/env node
// Handler benchmark (not a test): requests/s and p50/p99 latency of the gateway (lambda-src/main.ts bundled as
// in production, one worker) side by side, in the same run, with a minimal node:http server doing the same
// work: GET /healthz, a cache-hit chat completion (Redis GET) and a completion proxied to a zero-latency
// simulated upstream. The load generator keeps N keep-alive connections busy for a fixed time.
// Usage: node bench/handler.js [--seconds 5] [--connections 32]
'use strict';
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { buildSync } = require('esbuild');
const { percentile, table, progress } = require('./lib/stats');

const root = path.resolve(__dirname, '..');
const arg = (name, def) => Number(process.argv[process.argv.indexOf(`--${name}`) + 1]) || def;
const seconds = arg('seconds', 5);
const connections = arg('connections', 32);
const children = [];

/** TypeScript (an entry given as source) bundled to one CommonJS script. */
const bundle = (contents) =>
  buildSync({ stdin: { contents, resolveDir: root, loader: 'ts' }, bundle: true, platform: 'node', format: 'cjs', target: 'node20', write: false, logLevel: 'silent' }).outputFiles[0].text;

const freePort = () => new Promise((resolve) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); }); });

/** Runs `code` (or a file) in a child node process and resolves once `url` answers (or `ready` shows on stdout). */
async function run(label, args, env, probe) {
  const child = spawn(args[0], args.slice(1), { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout.on('data', (d) => (out += d).length > 1e5 && (out = out.slice(-1e4)));
  child.stderr.on('data', (d) => (out += d));
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`${label} exited:\n${out}`);
    if (await probe(() => out)) return child;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${label} did not start:\n${out}`);
}
const answers = (url) => () => new Promise((resolve) => http.get(url, (res) => resolve(res.resume() && res.statusCode < 500)).on('error', () => resolve(false)));

/** N keep-alive connections issuing requests back to back for `secs`. */
async function load(url, body, secs) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const latencies = [];
  let errors = 0;
  const headers = body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {};
  const one = () =>
    new Promise((resolve) => {
      const t = performance.now();
      const req = http.request(url, { method: body ? 'POST' : 'GET', agent, headers }, (res) => {
        res.resume().on('end', () => {
          if (res.statusCode == 200) latencies.push(performance.now() - t);
          else errors++;
          resolve();
        });
      });
      req.on('error', () => (errors++, resolve()));
      req.end(body);
    });
  const start = performance.now();
  const end = start + secs * 1000;
  await Promise.all(Array.from({ length: connections }, async () => { while (performance.now() < end) await one(); }));
  const elapsed = (performance.now() - start) / 1000;
  agent.destroy();
  return { rps: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors };
}

// The baseline: what a minimal node:http server does for the same three requests, with the project's own
// Redis client (so the comparison is about the gateway, not the wire protocol).
const BASELINE = `
import { createServer } from 'node:http';
import { createHash } from 'node:crypto';
import { RedisClient } from './lambda-src/stores/redis';
const redis = new RedisClient({ url: process.env.REDIS_URL! });
const upstream = process.env.UPSTREAM!;
createServer(async (req, res) => {
  if (req.url == '/healthz') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c);
  const body = Buffer.concat(chunks).toString();
  const key = 'baseline:' + createHash('sha256').update(body).digest('hex');
  const hit = req.url == '/v1/chat/completions' && (await redis.command(['GET', key]));
  if (hit) return void res.writeHead(200, { 'content-type': 'application/json' }).end(hit);
  const r = await fetch(upstream + req.url, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  const text = await r.text();
  if (req.url == '/v1/chat/completions') await redis.command(['SET', key, text, 'EX', 600]);
  res.writeHead(r.status, { 'content-type': 'application/json' }).end(text);
}).listen(+process.env.PORT!, '127.0.0.1');
`;
const UPSTREAM = `
import { serveSimulator } from './lambda-src/backends/simulator';
serveSimulator(+process.env.PORT!, { models: ['sim-llm'], ttftMs: 0, itlMs: 0 });
`;

async function main() {
  const tmp = require('node:fs').mkdtempSync(path.join(os.tmpdir(), 'bench-handler-'));
  const file = (name, code) => (require('node:fs').writeFileSync(path.join(tmp, name), code), path.join(tmp, name));
  const { bundleHandler } = require('../scripts/run-ts').runTs('constructs/handler-bundle.ts');

  progress('starting redis-server, the simulated upstream, the gateway and the baseline');
  const [redisPort, upPort, gwPort, basePort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  await run('redis-server', ['/usr/bin/redis-server', '--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {}, (out) => out().includes('Ready to accept'));
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  const upstream = `http://127.0.0.1:${upPort}`;
  await run('upstream', [process.execPath, file('upstream.js', bundle(UPSTREAM))], { PORT: String(upPort) }, answers(`${upstream}/v1/models`));
  const gateway = `http://127.0.0.1:${gwPort}`;
  const gwEnv = { PORT: String(gwPort), HOST: '127.0.0.1', WORKERS: '1', AUTH: 'disabled', UPSTREAM_URLS: upstream, REDIS_URL: redisUrl };
  await run('gateway', [process.execPath, file('main.js', bundleHandler().code)], gwEnv, answers(`${gateway}/healthz`));
  const baseline = `http://127.0.0.1:${basePort}`;
  await run('baseline', [process.execPath, file('baseline.js', bundle(BASELINE))], { PORT: String(basePort), UPSTREAM: upstream, REDIS_URL: redisUrl }, answers(`${baseline}/healthz`));

  const chat = JSON.stringify({ model: 'sim-llm', messages: [{ role: 'user', content: 'a cached question' }], temperature: 0, max_tokens: 16 });
  const completion = JSON.stringify({ model: 'sim-llm', prompt: 'a proxied prompt', max_tokens: 16 });
  const scenarios = [
    ['GET /healthz', '/healthz', undefined],
    ['cache-hit chat completion', '/v1/chat/completions', chat],
    ['completion via upstream', '/v1/completions', completion],
  ];
  const rows = [];
  const ratios = [];
  for (const [name, route, body] of scenarios) {
    const result = {};
    for (const [server, url] of [['gateway', gateway], ['node:http', baseline]]) {
      progress(`${name}: ${server}, ${connections} connections, ${seconds} s (+1 s warm-up)`);
      await load(url + route, body, 1);
      const r = (result[server] = await load(url + route, body, seconds));
      rows.push([name, server, Math.round(r.rps), r.p50.toFixed(2), r.p99.toFixed(2), r.errors]);
    }
    const g = result.gateway, b = result['node:http'];
    ratios.push([name, (g.rps / b.rps).toFixed(2), (g.p50 / b.p50).toFixed(2), (g.p99 / b.p99).toFixed(2)]);
  }
  console.log(`Handler benchmark: ${os.cpus().length} CPUs, Node ${process.version}, ${connections} keep-alive connections, ${seconds} s per run, one gateway worker\n`);
  console.log(table(['scenario', 'server', 'req/s', 'p50 ms', 'p99 ms', 'non-200'], rows));
  console.log('\n' + table(['scenario', 'req/s gateway/node:http', 'p50 ratio', 'p99 ratio'], ratios));
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => children.forEach((c) => c.kill('SIGKILL')));
