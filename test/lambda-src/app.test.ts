// The whole gateway against real servers, including faults: Redis and PostgreSQL stopped mid-run, a worker
// killed mid-prediction, SIGTERM with a request in flight. main.ts runs bundled as in production.
import { metricsSchemaSql } from '../../lambda-src/stores/metrics-schema';
import { pgClient } from '../../lambda-src/stores/postgres';
import { DynamoTable } from '../../lambda-src/stores/dynamodb';
import { PredictionStore } from '../../lambda-src/stores/prediction-store';
import { DynaliteServer, startDynalite } from '../support/dynalite-server';
import { PostgresServer, startPostgres } from '../support/postgres-server';
import { RedisServer, startRedis } from '../support/redis-server';
import { waitFor } from '../support/wait';
import { call, Gateway, metric, spawnGateway, startGateway } from './gateway-harness';

let redis: RedisServer;
let pg: PostgresServer;
let dyn: DynaliteServer;
const cached = { model: 'sim-llm', messages: [{ role: 'user', content: 'cache me' }], temperature: 0, max_tokens: 2 };
const dbEnv = () => ({ METRICS_DB_HOST: pg.host, METRICS_DB_PORT: String(pg.port), METRICS_DB_NAME: pg.database, METRICS_DB_USER: pg.user, METRICS_DB_PASSWORD: pg.password, METRICS_DB_SSL: 'disable' });
async function sql(query: string): Promise<Record<string, string | null>[]> {
  const c = pgClient({ host: pg.host, port: pg.port, database: pg.database, user: pg.user, password: pg.password });
  await c.connect();
  try {
    return (await c.query(query)).rows;
  } finally {
    await c.close();
  }
}

beforeAll(async () => {
  [redis, pg, dyn] = await Promise.all([startRedis(), startPostgres(), startDynalite()]);
  await dyn.createJobTable('jobs');
  // The metrics database host applies the schema; the gateway only writes.
  const c = pgClient({ host: pg.host, port: pg.port, database: pg.database, user: pg.user, password: pg.password });
  await c.connect();
  await c.simpleQuery(metricsSchemaSql());
  await c.close();
}, 60_000);
afterAll(async () => {
  await Promise.all([redis.stop(), pg.stop(), dyn.stop()]);
});

describe('in process', () => {
  let gw: Gateway;
  afterEach(() => gw.close(2000));

  it('keeps serving, uncached and unlimited, while Redis is down, counts the errors, and recovers', async () => {
    gw = await startGateway({ REDIS_URL: redis.url, RATE_LIMIT_RPM: '1000' });
    await call(gw.url, '/v1/chat/completions', { body: cached });
    expect((await call(gw.url, '/v1/chat/completions', { body: cached })).headers.get('x-cache')).toBe('hit');
    await redis.stop();
    for (let i = 0; i < 3; i++) {
      const r = await call(gw.url, '/v1/chat/completions', { body: cached });
      expect([r.status, r.headers.get('x-cache')]).toEqual([200, 'miss']);
    }
    expect(await metric(gw.url, 'gateway_cache_errors_total')).toBeGreaterThanOrEqual(3);
    await redis.restart();
    await waitFor('the cache to work again', async () => {
      await call(gw.url, '/v1/chat/completions', { body: cached });
      return (await call(gw.url, '/v1/chat/completions', { body: cached })).headers.get('x-cache') == 'hit';
    });
  });

  it('writes a metric row per request; with PostgreSQL down it buffers, then drops the oldest with a counter', async () => {
    gw = await startGateway({ ...dbEnv(), METRICS_BUFFER_ROWS: '20', MODEL_VERSIONS: 'sim-llm=v7' });
    const body = { model: 'sim-llm', prompt: 'row', max_tokens: 1 };
    await call(gw.url, '/v1/completions', { body, headers: { 'x-request-id': 'row-1' } });
    const [row] = (await waitFor('the first row', async () => {
      const rows = await sql("SELECT route, model, model_version, status, completion_tokens, cache_hit FROM request_metrics WHERE request_id = 'row-1'").catch(() => []);
      return rows.length ? rows : undefined;
    }))!;
    expect(row).toEqual({ route: '/v1/completions', model: 'sim-llm', model_version: 'v7', status: '200', completion_tokens: '1', cache_hit: 'f' });
    expect((await sql("SELECT version FROM model_versions WHERE model = 'sim-llm'"))[0].version).toBe('v7');

    await pg.stop();
    const written = await metric(gw.url, 'gateway_metrics_rows_written_total');
    for (let i = 0; i < 30; i++) expect((await call(gw.url, '/v1/completions', { body })).status).toBe(200);
    expect(await metric(gw.url, 'gateway_metrics_rows_buffered')).toBe(20);
    expect(await metric(gw.url, 'gateway_metrics_rows_dropped_total')).toBeGreaterThanOrEqual(10);
    await pg.start();
    await waitFor('the buffer to drain', async () => (await metric(gw.url, 'gateway_metrics_rows_buffered')) == 0, 20_000);
    expect(await metric(gw.url, 'gateway_metrics_rows_written_total')).toBeGreaterThanOrEqual(written + 20);
  }, 40_000);
});

describe('main.ts (bundled, in a child process)', () => {
  const aws = () => ({ AWS_ACCESS_KEY_ID: 'AKIDTEST', AWS_SECRET_ACCESS_KEY: 'test-secret', AWS_REGION: 'us-east-1', DYNAMODB_TABLE: 'jobs', DYNAMODB_ENDPOINT: dyn.endpoint });

  it('refuses a bad configuration with a clear message and exit code 78', async () => {
    const bad = spawnGateway({ PORT: 'eighty' });
    await expect(bad).rejects.toThrow('gateway exited (78):\nconfiguration error: PORT="eighty" is invalid: expected an integer from 0 to 65535');
  });

  it('on SIGTERM finishes the request in flight, flushes its metric row and exits 0', async () => {
    const gw = await spawnGateway({ WORKERS: '2', SIM_TTFT_MS: '1500', ...dbEnv() });
    const inFlight = call(gw.url, '/v1/completions', { body: { model: 'sim-llm', prompt: 'finish me' }, headers: { 'x-request-id': 'in-flight' } });
    await new Promise((r) => setTimeout(r, 300));
    gw.child.kill('SIGTERM');
    const r = await inFlight;
    expect(r.status).toBe(200);
    expect(await gw.exited).toBe(0);
    expect((await sql("SELECT status FROM request_metrics WHERE request_id = 'in-flight'"))[0]).toEqual({ status: '200' });
    // One JSON log line per request on stdout.
    const log = gw.stdout().trim().split('\n').map((l) => JSON.parse(l)).find((l) => l.request_id == 'in-flight');
    expect(log).toMatchObject({ route: '/v1/completions', status: 200, model: 'sim-llm', cache_hit: false, latency_ms: expect.any(Number) });
  }, 20_000);

  it('sums every worker into /metrics', async () => {
    const gw = await spawnGateway({ WORKERS: '2' });
    await Promise.all([...Array(20)].map(() => call(gw.url, '/v1/models')));
    await waitFor('both workers in the total', async () => (await metric(gw.url, 'gateway_requests_total{route="/v1/models",status="200",model=""}')) == 20);
    gw.child.kill('SIGTERM');
    expect(await gw.exited).toBe(0);
  }, 20_000);

  it('restarts a worker killed mid-prediction; the job completes in another worker after its lease', async () => {
    const gw = await spawnGateway({ ...aws(), SIM_TTFT_MS: '2000', PREDICTION_LEASE_MS: '1000' });
    const created = await call(gw.url, '/predictions', { body: { input: { prompt: 'survive' } }, headers: { prefer: 'respond-async' } });
    expect(created.status).toBe(202);
    const store = new PredictionStore(new DynamoTable('jobs', { endpoint: dyn.endpoint }));
    const job = await waitFor('the job to run', async () => {
      const j = await store.get(created.json.id);
      return j?.status == 'processing' ? j : undefined;
    });
    const pid = Number(job!.owner!.split(':').pop());
    process.kill(pid, 'SIGKILL');
    const done = await waitFor(
      'the job to complete elsewhere',
      async () => {
        const g = await call(gw.url, `/predictions/${created.json.id}`).catch(() => undefined);
        return g?.json.status == 'succeeded' && g.json;
      },
      15_000,
    );
    expect(done.logs).toContain('the previous worker stopped responding');
    expect((await store.get(created.json.id))!.owner).not.toBe(job!.owner);
    expect(gw.stderr()).toMatch(new RegExp(`worker ${pid} exited \\(SIGKILL\\); restarting in \\d+ ms`));
    gw.child.kill('SIGTERM');
    expect(await gw.exited).toBe(0);
  }, 25_000);
});
