import { metricsSchemaSql } from '../../../lambda-src/stores/metrics-schema';
import { MetricsStore, metricsStore, MetricsStoreOptions, RequestMetric } from '../../../lambda-src/stores/metrics-store';
import { PgClient, pgClient } from '../../../lambda-src/stores/postgres';
import { PostgresServer, startPostgres } from '../../support/postgres-server';
import { waitFor } from '../../support/wait';

let seq = 0;
const metric = (over: Partial<RequestMetric> = {}): RequestMetric => ({
  time: new Date(), instance: 'i-1', route: '/v1/chat/completions', model: 'llama', model_version: 'v1', status: 200,
  latency_ms: 12.5, ttft_ms: 3.25, prompt_tokens: 10, completion_tokens: 20, cache_hit: false, key_id: 'key-1', request_id: `req-${++seq}`, ...over,
});

describe('MetricsStore on PostgreSQL (the schema applied by the database host, as metrics-schema.ts says)', () => {
  let server: PostgresServer;
  let sql: PgClient;
  const stores: MetricsStore[] = [];
  const store = (opts: Partial<MetricsStoreOptions> = {}) => {
    const s = metricsStore({ host: server.host, port: server.port, database: server.database, user: server.user, password: server.password, flushIntervalMs: 20, ...opts });
    stores.push(s);
    return s;
  };
  const count = async (where = 'true') => Number((await sql.query(`SELECT count(*) AS n FROM request_metrics WHERE ${where}`)).rows[0].n);

  beforeAll(async () => {
    server = await startPostgres();
    sql = pgClient({ host: server.host, port: server.port, database: server.database, user: server.user, password: server.password });
    await sql.connect();
    await sql.simpleQuery(metricsSchemaSql());
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close(1000)));
  });
  afterAll(async () => {
    await sql.close();
    await server.stop();
  });

  it('counts failed writes while the tables do not exist, keeps the rows, and writes them once the schema is applied', async () => {
    await sql.simpleQuery('CREATE DATABASE fresh');
    const errors: any[] = [];
    const s = store({ database: 'fresh', onError: (e) => errors.push(e) });
    for (let i = 0; i < 5; i++) s.record(metric({ request_id: `early-${i}` }));
    s.start();
    await waitFor('failed writes', () => s.stats.errors >= 2);
    expect(errors[0].message).toMatch(/insert_request_metrics\(unknown\) does not exist/); // the schema (tables and functions) is missing
    expect(s.stats).toMatchObject({ buffered: 5, dropped: 0, written: 0 });
    const fresh = pgClient({ host: server.host, port: server.port, database: 'fresh', user: server.user, password: server.password });
    await fresh.connect();
    await fresh.simpleQuery(metricsSchemaSql());
    await waitFor('the rows', () => s.stats.written == 5);
    expect((await fresh.query("SELECT count(*) AS n FROM request_metrics WHERE request_id LIKE 'early-%'")).rows).toEqual([{ n: '5' }]);
    await fresh.close();
  });

  it('writes rows in batches, with every field in its column', async () => {
    await sql.query('TRUNCATE request_metrics');
    const s = store({ batchSize: 100 });
    const at = new Date('2024-05-01T10:00:00.123Z');
    s.record(metric({ time: at, request_id: 'special', model: null, model_version: undefined, ttft_ms: undefined, key_id: undefined, status: 429, cache_hit: true, latency_ms: 0.5 }));
    for (let i = 0; i < 349; i++) s.record(metric());
    expect(s.stats.buffered).toBe(350);
    s.start();
    await waitFor('350 rows', () => s.stats.written == 350);
    expect(s.stats).toMatchObject({ buffered: 0, dropped: 0, errors: 0 });
    expect(await count()).toBe(350);
    const { rows } = await sql.query("SELECT * FROM request_metrics WHERE request_id = 'special'");
    expect(rows).toEqual([{
      time: expect.any(String), instance: 'i-1', route: '/v1/chat/completions', model: null, model_version: null, status: '429', latency_ms: '0.5',
      ttft_ms: null, prompt_tokens: '10', completion_tokens: '20', cache_hit: 't', key_id: null, request_id: 'special',
    }]);
    expect(new Date(rows[0].time!).getTime()).toBe(at.getTime());
  });

  it('answers which version served a model at a time, across a rollout and a rollback', async () => {
    const s = store();
    s.start();
    const seen: Record<string, Date> = {};
    const serve = async (version: string, label: string) => {
      s.record(metric({ model: 'mistral', model_version: version, time: (seen[label] = new Date()) }));
      await new Promise((r) => setTimeout(r, 30));
      s.record(metric({ model: 'mistral', model_version: version }));
      await waitFor(`${label} flushed`, async () => (await sql.query("SELECT 1 FROM model_versions WHERE model = 'mistral' AND version = $1 AND last_seen >= $2", [version, seen[label]])).rows.length);
    };
    await serve('v1', 'first v1');
    await serve('v2', 'v2');
    await serve('v1', 'rollback to v1');
    // The question is the database's to answer (metrics-schema.ts), for any SQL client.
    const versionAt = async (model: string, at: Date) => (await sql.query('SELECT model_version_at($1,$2) AS v', [model, at])).rows[0].v;
    expect(await versionAt('mistral', new Date(seen['first v1'].getTime() - 60_000))).toBeNull();
    expect(await versionAt('mistral', seen['first v1'])).toBe('v1');
    expect(await versionAt('mistral', seen.v2)).toBe('v2');
    expect(await versionAt('mistral', seen['rollback to v1'])).toBe('v1');
    expect(await versionAt('other-model', new Date())).toBeNull();
  });

  it('keeps the earliest first_seen when instances flush out of order', async () => {
    const early = store(), late = store();
    early.record(metric({ model: 'qwen', model_version: 'v7' }));
    await new Promise((r) => setTimeout(r, 20));
    const lateAt = new Date();
    late.record(metric({ model: 'qwen', model_version: 'v7', time: lateAt }));
    const firstSeen = async () => (await sql.query("SELECT first_seen FROM model_versions WHERE model = 'qwen'")).rows[0]?.first_seen;
    late.start();
    await waitFor('late flush', firstSeen);
    expect(new Date((await firstSeen())!).getTime()).toBeGreaterThanOrEqual(lateAt.getTime());
    early.start();
    await waitFor('early flush to move first_seen back', async () => new Date((await firstSeen())!).getTime() < lateAt.getTime());
  });

  it('drops rows the database refuses (data errors) instead of retrying them forever', async () => {
    const errors: any[] = [];
    const s = store({ onError: (e) => errors.push(e) });
    s.record(metric({ model: 'nul\u0000byte' }));
    s.start();
    await waitFor('the refusal', () => s.stats.dropped == 1);
    expect(errors[0].code).toMatch(/^22/); // data exception: PostgreSQL text cannot hold NUL
    s.record(metric({ request_id: 'after-bad' }));
    await waitFor('the next row', () => s.stats.written == 1);
    expect(s.stats).toMatchObject({ buffered: 0, dropped: 1, errors: 1 });
  });

  it('buffers while PostgreSQL is down, drops the oldest beyond maxBuffer, and resumes after a restart', async () => {
    const errors: unknown[] = [];
    const s = store({ maxBuffer: 50, batchSize: 20, onError: (e) => errors.push(e) });
    s.start();
    s.record(metric({ request_id: 'before-down' }));
    await waitFor('a first write', () => s.stats.written == 1);
    await server.stop();
    // record() is synchronous and only appends to memory, whatever the database is doing.
    for (let i = 0; i < 80; i++) expect(s.record(metric({ request_id: `down-${i}` }))).toBeUndefined();
    expect(s.stats).toMatchObject({ buffered: 50, dropped: 30, written: 1 });
    await waitFor('a failed flush', () => s.stats.errors > 0);
    expect(s.stats).toMatchObject({ buffered: 50, dropped: 30, written: 1 });
    await server.start();
    await sql.close();
    sql = pgClient({ host: server.host, port: server.port, database: server.database, user: server.user, password: server.password });
    await sql.connect();
    await waitFor('writes to resume', () => s.stats.written == 51, 15000);
    expect(s.stats.buffered).toBe(0);
    // The oldest 30 were dropped: down-30 … down-79 made it.
    const { rows } = await sql.query("SELECT min(substr(request_id, 6)::int) AS lo, max(substr(request_id, 6)::int) AS hi, count(*) AS n FROM request_metrics WHERE request_id LIKE 'down-%'");
    expect(rows).toEqual([{ lo: '30', hi: '79', n: '50' }]);
    expect(errors.length).toBeGreaterThan(0);
  });

  it('flushes what is buffered on close(timeout)', async () => {
    const s = store({ flushIntervalMs: 60_000, batchSize: 7 });
    s.start();
    for (let i = 0; i < 30; i++) s.record(metric({ request_id: `closing-${i}` }));
    await s.close(5000);
    expect(s.stats).toMatchObject({ written: 30, buffered: 0 });
    expect(await count("request_id LIKE 'closing-%'")).toBe(30);
  });

  it('gives up within the timeout when the database is unreachable, keeping the rows counted as buffered', async () => {
    const errors: unknown[] = [];
    const s = store({ port: 1, connectTimeoutMs: 100, onError: (e) => errors.push(e) });
    s.record(metric());
    s.start();
    await waitFor('a failed connect', () => s.stats.errors > 0);
    await s.close(300);
    expect(s.stats).toMatchObject({ written: 0, buffered: 1 });
    expect(String(errors[0])).toMatch(/ECONNREFUSED/);
  });

});
