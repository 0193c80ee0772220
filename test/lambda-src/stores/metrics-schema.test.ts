// The metrics schema as the database host applies it, on a real PostgreSQL (no TimescaleDB here: the
// TimescaleDB steps are still compiled, as the DO block holding them is, so their syntax is checked).
import { MetricsSchemaOptions, metricsSchemaSql } from '../../../lambda-src/stores/metrics-schema';
import { metricsStore } from '../../../lambda-src/stores/metrics-store';
import { PgClient, pgClient, PgOptions } from '../../../lambda-src/stores/postgres';
import { PostgresServer, startPostgres } from '../../support/postgres-server';
import { waitFor } from '../../support/wait';

let server: PostgresServer;
let admin: PgClient;
const opts = (database: string, extra: Partial<PgOptions> = {}): PgOptions => ({ host: server.host, port: server.port, database, user: server.user, password: server.password, ...extra });
/** A fresh database, and a client on it. */
async function database(name: string): Promise<PgClient> {
  await admin.simpleQuery(`CREATE DATABASE ${name}`);
  const c = pgClient(opts(name));
  await c.connect();
  return c;
}
const relations = async (c: PgClient) =>
  (await c.query("SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE nspname = 'public' ORDER BY 1")).rows.map((r) => r.relname);
const TABLES = ['model_versions', 'model_versions_pkey', 'request_metrics', 'request_metrics_time'];

beforeAll(async () => {
  server = await startPostgres();
  admin = pgClient(opts(server.database));
  await admin.connect();
});
afterAll(async () => {
  await admin.close();
  await server.stop();
});

it.each<[string, MetricsSchemaOptions]>([
  ['auto (TimescaleDB not available here: plain tables)', {}],
  ['plain PostgreSQL', { timescale: false }],
])('%s: one script, idempotent', async (_, o) => {
  const c = await database(o.timescale === false ? 'plain' : 'auto');
  const sql = metricsSchemaSql(o);
  await c.simpleQuery(sql);
  await c.simpleQuery(sql); // again: nothing changes, nothing fails
  expect(await relations(c)).toEqual(TABLES);
  await c.close();
});

it('with timescale: true fails on a server without TimescaleDB, and leaves nothing half done', async () => {
  const c = await database('forced');
  await expect(c.simpleQuery(metricsSchemaSql({ timescale: true }))).rejects.toThrow(/timescaledb/);
  expect(await relations(c)).toEqual([]); // one transaction: rolled back
  await c.close();
});

it('writes TimescaleDB steps with the retention asked for', () => {
  const sql = metricsSchemaSql({ retentionDays: 7 });
  expect(sql).toContain("add_retention_policy('request_metrics',INTERVAL '7 days',if_not_exists=>TRUE)");
  expect(sql).toContain('WITH(timescaledb.continuous)');
  expect(sql).toContain("IF EXISTS(SELECT FROM pg_available_extensions WHERE name='timescaledb')");
  expect(metricsSchemaSql({ timescale: false })).toContain('IF FALSE THEN');
});

it('grants the gateway role what MetricsStore needs, and no DDL', async () => {
  const c = await database('granted');
  await admin.simpleQuery("CREATE ROLE gw LOGIN PASSWORD 'gw-pass'");
  await c.simpleQuery(metricsSchemaSql({ grantTo: 'gw' }));
  const as = opts('granted', { user: 'gw', password: 'gw-pass' });
  const store = metricsStore({ ...as, flushIntervalMs: 20 });
  store.start();
  store.record({ time: new Date(), instance: 'i', route: '/v1/models', model: 'm', model_version: 'v1', status: 200, latency_ms: 1, prompt_tokens: 0, completion_tokens: 0, cache_hit: false, request_id: 'granted-1' });
  await waitFor('the row', () => store.stats.written == 1);
  expect(store.stats.errors).toBe(0);
  await store.close(1000);
  const gw = pgClient(as);
  await gw.connect();
  expect((await gw.query('SELECT model_version_at($1,$2) AS v', ['m', new Date()])).rows).toEqual([{ v: 'v1' }]);
  await expect(gw.query('CREATE TABLE sneaky(x int)')).rejects.toMatchObject({ code: '42501' });
  await expect(gw.query('DROP TABLE request_metrics')).rejects.toMatchObject({ code: '42501' });
  await expect(gw.query('DELETE FROM request_metrics')).rejects.toMatchObject({ code: '42501' });
  await gw.close();
  await c.close();
});

it.each([
  [{ retentionDays: 0 }, 'metricsSchemaSql: retentionDays must be an integer >= 1, got 0'],
  [{ retentionDays: 1.5 }, 'metricsSchemaSql: retentionDays must be an integer >= 1, got 1.5'],
  [{ timescale: 'yes' as any }, `metricsSchemaSql: timescale must be true, false or 'auto', got "yes"`],
  [{ grantTo: 'gw; DROP TABLE x' }, 'metricsSchemaSql: grantTo "gw; DROP TABLE x" is not a plain lower-case role name'],
])('rejects %j', (o, message) => {
  expect(() => metricsSchemaSql(o)).toThrow(message);
});
