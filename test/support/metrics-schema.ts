// Applies the metrics schema to a local PostgreSQL the way the database host does at setup (as the superuser).
import { pgClient } from '../../lambda-src/stores/postgres';
import { metricsSchemaSql } from '../../lambda-src/stores/metrics-schema';
import type { PostgresServer } from './postgres-server';

/** Returns whether TimescaleDB took the tables (it does only where the extension is installed). */
export async function applyMetricsSchema(pg: PostgresServer): Promise<boolean> {
  const sql = pgClient({ host: pg.host, port: pg.port, database: pg.database, user: pg.user, password: pg.password });
  await sql.connect();
  try {
    await sql.simpleQuery(metricsSchemaSql());
    const { rows } = await sql.query("SELECT count(*) AS n FROM pg_extension WHERE extname = 'timescaledb'");
    return rows[0].n !== '0';
  } finally {
    await sql.close();
  }
}
