// `npm run dev`: the real handler bundle on this machine, with local Redis, PostgreSQL, a DynamoDB-compatible
// server (dynalite) and the simulated model server, wired the way the fleet wires them. Ctrl-C stops everything.
// Needs redis-server and PostgreSQL 15 (Debian: `apt-get install redis-server postgresql`, as .ci/run does).
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleHandler, packageRoot } from '../constructs/handler-bundle';
import { startDynalite } from '../test/support/dynalite-server';
import { startPostgres } from '../test/support/postgres-server';
import { startRedis } from '../test/support/redis-server';
import { startSimulatedUpstream } from '../test/support/simulated-upstream';
import { applyMetricsSchema } from '../test/support/metrics-schema';

const started = Date.now();
const step = (message: string) => console.log(`[dev +${((Date.now() - started) / 1000).toFixed(1)}s] ${message}`);

async function main(): Promise<void> {
  const port = Number(process.env.PORT ?? 8080);
  const stops: (() => Promise<unknown>)[] = [];
  let stopping = false;
  const shutdown = async (code: number) => {
    if (stopping) return;
    stopping = true;
    step('stopping');
    for (const stop of stops.reverse()) await stop().catch((e) => console.error(`dev: ${e.message}`));
    step('stopped');
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));

  try {
    step('starting redis-server, PostgreSQL, dynalite and the simulated model server');
    const redis = await startRedis({ password: 'dev-only-redis-password' });
    stops.push(() => redis.stop());
    const pg = await startPostgres();
    stops.push(() => pg.stop());
    const dynamo = await startDynalite();
    stops.push(() => dynamo.stop());
    const upstream = await startSimulatedUpstream({ ttftMs: 80, itlMs: 15 });
    stops.push(() => upstream.stop());
    await dynamo.createJobTable('inference-dev-jobs');
    step(`services: redis ${redis.url}, postgres ${pg.host}:${pg.port}, dynalite ${dynamo.endpoint}, model server ${upstream.url}`);
    const timescale = await applyMetricsSchema(pg);
    step(`metrics schema applied (${timescale ? 'TimescaleDB hypertable' : 'plain PostgreSQL: timescaledb is not installed'})`);

    const bundle = bundleHandler();
    const dir = join(packageRoot(), 'dist', 'dev');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'main.js'), bundle.code);
    step(`handler bundle: ${bundle.bytes} bytes (${bundle.gzipBytes} gzip), the same bytes the launch template carries`);

    const base = `http://127.0.0.1:${port}`;
    const gateway = spawn(process.execPath, [join(dir, 'main.js')], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: {
        PATH: process.env.PATH,
        PORT: String(port),
        HOST: '127.0.0.1',
        WORKERS: process.env.WORKERS ?? '2',
        UPSTREAM_URLS: upstream.url,
        REDIS_URL: redis.url,
        REDIS_PASSWORD: 'dev-only-redis-password',
        DYNAMODB_TABLE: 'inference-dev-jobs',
        DYNAMODB_ENDPOINT: dynamo.endpoint,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY,
        METRICS_DB_HOST: pg.host,
        METRICS_DB_PORT: String(pg.port),
        METRICS_DB_NAME: pg.database,
        METRICS_DB_USER: pg.user,
        METRICS_DB_PASSWORD: pg.password,
        METRICS_DB_SSL: 'disable',
        // Loopback only, so no API keys; the fleet requires them.
        AUTH: 'disabled',
        PUBLIC_BASE_URL: base,
      },
    });
    const exited = new Promise<number>((resolve) => gateway.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
    stops.unshift(async () => {
      if (gateway.exitCode === null) gateway.kill('SIGTERM');
      await exited;
    });
    void exited.then((code) => {
      if (!stopping) {
        console.error(`dev: the gateway exited with code ${code}`);
        void shutdown(1);
      }
    });

    for (let i = 0; !(await fetch(`${base}/readyz`).then((r) => r.ok, () => false)); i++) {
      if (i > 150) throw new Error(`the gateway did not answer ${base}/readyz within 15 s (is port ${port} free? set PORT=...)`);
      await new Promise((r) => setTimeout(r, 100));
    }
    step(`ready: ${base}`);
    console.log(`
  Try it:
    curl -s ${base}/v1/chat/completions -H 'content-type: application/json' \\
      -d '{"model":"sim-llm","messages":[{"role":"user","content":"Hello"}],"stream":true}'
    curl -s ${base}/predictions -H 'content-type: application/json' -H 'prefer: respond-async' \\
      -d '{"model":"sim-llm","input":{"prompt":"Hello"}}'
    curl -s ${base}/metrics

  OpenAI SDKs: base_url=${base}/v1, any api_key. Ctrl-C stops everything.
`);
  } catch (err) {
    console.error(`dev: ${(err as Error).message}`);
    await shutdown(1);
  }
}

void main();
