import { MetricsStore, MetricsStoreOptions, RequestMetric } from '../../../lambda-src/stores/metrics-store';
import { PgClient } from '../../../lambda-src/stores/postgres';
import { PostgresServer, startPostgres } from '../../support/postgres-server';
import { waitFor } from '../../support/wait';

let seq = 0;
const metric = (over: Partial<RequestMetric> = {}): RequestMetric => ({
  time: new Date(), instance: 'i-1', route: '/v1/chat/completions', model: 'llama', modelVersion: 'v1', status: 200,
  latencyMs: 12.5, ttftMs: 3.25, promptTokens: 10, completionTokens: 20, cacheHit: false, keyId: 'key-1', requestId: `req-${++seq}`, ...over,
});

describe('MetricsStore on PostgreSQL (no TimescaleDB here)', () => {
  let server: PostgresServer;
  let sql: PgClient;
  const stores: MetricsStore[] = [];
  const store = (opts: Partial<MetricsStoreOptions> = {}) => {
    const s = new MetricsStore({ host: server.host, port: server.port, database: server.database, user: server.user, password: server.password, flushIntervalMs: 20, ...opts });
    stores.push(s);
    return s;
  };
  const count = async (where = 'true') => Number((await sql.query(`SELECT count(*) AS n FROM request_metrics WHERE ${where}`)).rows[0].n);

  beforeAll(async () => {
    server = await startPostgres();
    sql = new PgClient({ host: server.host, port: server.port, database: server.database, user: server.user, password: server.password });
    await sql.connect();
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close(1000)));
  });
  afterAll(async () => {
    await sql.close();
    await server.stop();
  });

  it('migrates concurrently from two stores, and again idempotently, choosing plain PostgreSQL', async () => {
    const errors: unknown[] = [];
    const [one, two] = [store({ onError: (e) => errors.push(e) }), store({ onError: (e) => errors.push(e) })];
    one.start();
    two.start();
    await waitFor('both migrations', () => one.stats.timescale !== null && two.stats.timescale !== null);
    expect(errors).toEqual([]);
    expect([one.stats.timescale, two.stats.timescale]).toEqual([false, false]);
    const again = store({ onError: (e) => errors.push(e) });
    again.start();
    await waitFor('a third migration', () => again.stats.timescale !== null);
    expect(errors).toEqual([]);
    const { rows } = await sql.query(
      "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relname LIKE ANY($1) ORDER BY 1",
      ['{request_metrics%,model_versions%}'],
    );
    expect(rows.map((r) => r.relname)).toEqual(['model_versions', 'model_versions_pkey', 'request_metrics', 'request_metrics_time']);
  });

  it('writes rows in batches, with every field in its column', async () => {
    await sql.query('TRUNCATE request_metrics');
    const s = store({ batchSize: 100 });
    const at = new Date('2024-05-01T10:00:00.123Z');
    s.record(metric({ time: at, requestId: 'special', model: null, modelVersion: null, ttftMs: null, keyId: null, status: 429, cacheHit: true, latencyMs: 0.5 }));
    for (let i = 0; i < 349; i++) s.record(metric());
    expect(s.stats.buffered).toBe(350);
    s.start();
    await waitFor('350 rows', () => s.stats.written == 350);
    expect(s.stats).toMatchObject({ buffered: 0, dropped: 0, errors: 0, timescale: false });
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
      s.recordModelVersion('mistral', version);
      seen[label] = new Date();
      await new Promise((r) => setTimeout(r, 30));
      s.recordModelVersion('mistral', version);
      await waitFor(`${label} flushed`, async () => (await sql.query("SELECT 1 FROM model_versions WHERE model = 'mistral' AND version = $1 AND last_seen >= $2", [version, seen[label]])).rows.length);
    };
    await serve('v1', 'first v1');
    await serve('v2', 'v2');
    await serve('v1', 'rollback to v1');
    expect(await s.versionAt('mistral', new Date(seen['first v1'].getTime() - 60_000))).toBeUndefined();
    expect(await s.versionAt('mistral', seen['first v1'])).toBe('v1');
    expect(await s.versionAt('mistral', seen.v2)).toBe('v2');
    expect(await s.versionAt('mistral', seen['rollback to v1'])).toBe('v1');
    expect(await s.versionAt('other-model', new Date())).toBeUndefined();
  });

  it('keeps the earliest first_seen when instances flush out of order', async () => {
    const early = store(), late = store();
    early.recordModelVersion('qwen', 'v7');
    await new Promise((r) => setTimeout(r, 20));
    const lateAt = new Date();
    late.recordModelVersion('qwen', 'v7');
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
    expect(errors[0].code).toBe('22021'); // invalid byte sequence: PostgreSQL text cannot hold NUL
    s.record(metric({ requestId: 'after-bad' }));
    await waitFor('the next row', () => s.stats.written == 1);
    expect(s.stats).toMatchObject({ buffered: 0, dropped: 1, errors: 1 });
  });

  it('buffers while PostgreSQL is down, drops the oldest beyond maxBuffer, and resumes after a restart', async () => {
    const errors: unknown[] = [];
    const s = store({ maxBuffer: 50, batchSize: 20, retryMaxMs: 200, onError: (e) => errors.push(e) });
    s.start();
    await waitFor('migration', () => s.stats.timescale !== null);
    await server.stop();
    // record() is synchronous and only appends to memory, whatever the database is doing.
    for (let i = 0; i < 80; i++) expect(s.record(metric({ requestId: `down-${i}` }))).toBeUndefined();
    expect(s.stats).toMatchObject({ buffered: 50, dropped: 30, written: 0 });
    await waitFor('a failed flush', () => s.stats.errors > 0);
    expect(s.stats).toMatchObject({ buffered: 50, dropped: 30, written: 0 });
    await server.start();
    await sql.close();
    sql = new PgClient({ host: server.host, port: server.port, database: server.database, user: server.user, password: server.password });
    await sql.connect();
    await waitFor('writes to resume', () => s.stats.written == 50, 15000);
    expect(s.stats.buffered).toBe(0);
    // The oldest 30 were dropped: down-30 … down-79 made it.
    const { rows } = await sql.query("SELECT min(substr(request_id, 6)::int) AS lo, max(substr(request_id, 6)::int) AS hi, count(*) AS n FROM request_metrics WHERE request_id LIKE 'down-%'");
    expect(rows).toEqual([{ lo: '30', hi: '79', n: '50' }]);
    expect(errors.length).toBeGreaterThan(0);
  });

  it('flushes what is buffered on close(timeout)', async () => {
    const s = store({ flushIntervalMs: 60_000, batchSize: 7 });
    s.start();
    await waitFor('migration', () => s.stats.timescale !== null);
    for (let i = 0; i < 30; i++) s.record(metric({ requestId: `closing-${i}` }));
    await s.close(5000);
    expect(s.stats).toMatchObject({ written: 30, buffered: 0 });
    expect(await count("request_id LIKE 'closing-%'")).toBe(30);
  });

  it('gives up within the timeout when the database is unreachable, keeping the rows counted as buffered', async () => {
    const s = store({ port: 1, retryMaxMs: 50, connectTimeoutMs: 100 });
    s.record(metric());
    s.start();
    await waitFor('a failed connect', () => s.stats.errors > 0);
    await s.close(300);
    expect(s.stats).toMatchObject({ written: 0, buffered: 1 });
    await expect(s.versionAt('m', new Date())).rejects.toThrow(/MetricsStore: 127\.0\.0\.1 unreachable|ECONNREFUSED/);
  });

  it.each([
    [{ maxBuffer: 0 }, 'MetricsStore: maxBuffer must be an integer >= 1, got 0'],
    [{ batchSize: 5001 }, 'MetricsStore: batchSize must be an integer >= 1 and <= 5000, got 5001'],
    [{ flushIntervalMs: 1.5 }, 'MetricsStore: flushIntervalMs must be an integer >= 1, got 1.5'],
    [{ retentionDays: -3 }, 'MetricsStore: retentionDays must be an integer >= 1, got -3'],
  ])('rejects %j', (opts, message) => {
    expect(() => new MetricsStore({ host: 'h', database: 'd', user: 'u', ...opts })).toThrow(message);
  });
});
