// The metrics database schema, owned by the database host (not the gateway bundle: the handler never imports
// this file). One idempotent script: run it at setup with psql (or PgClient.simpleQuery), as often as you like.
// The gateway's MetricsStore only calls the two functions below: its SQL lives here, not in the bundle.

export interface MetricsSchemaOptions {
  /**
   * `'auto'`: TimescaleDB when `pg_available_extensions` lists it, with a plain-table fallback if any of its
   * steps fails (not preloaded, an Apache-2 build without compression...); `true`: TimescaleDB or an error;
   * `false`: plain PostgreSQL (a table with a time index, kept forever).
   * @default 'auto'
   */
  readonly timescale?: boolean | 'auto';
  /** Days TimescaleDB keeps request_metrics rows (retention policy). @default 30 */
  readonly retentionDays?: number;
  /**
   * Role that gets exactly what the gateway needs: INSERT on request_metrics; SELECT, INSERT, UPDATE on
   * model_versions. No DDL, so the gateway's credentials cannot change the schema.
   * @default - no grants (the gateway connects as the tables' owner)
   */
  readonly grantTo?: string;
}

const TABLES = `CREATE TABLE IF NOT EXISTS request_metrics(time timestamptz NOT NULL,instance text,route text,model text,model_version text,status smallint,latency_ms real,ttft_ms real,prompt_tokens int,completion_tokens int,cache_hit bool,key_id text,request_id text);
CREATE TABLE IF NOT EXISTS model_versions(model text,version text,first_seen timestamptz NOT NULL,last_seen timestamptz NOT NULL,PRIMARY KEY(model,version));`;

// The gateway's two statements. A batch is a JSON array of rows matched to the columns by name; each
// (model, version) in it widens that version's [first_seen, last_seen] to its request times. Invoker rights:
// they can do no more than the role calling them.
const FUNCTIONS = `CREATE OR REPLACE FUNCTION insert_request_metrics(batch json) RETURNS void LANGUAGE sql AS $f$
INSERT INTO request_metrics SELECT * FROM json_populate_recordset(NULL::request_metrics,batch);
INSERT INTO model_versions AS v SELECT model,model_version,min(time),max(time) FROM json_populate_recordset(NULL::request_metrics,batch) WHERE model_version IS NOT NULL GROUP BY 1,2
ON CONFLICT(model,version) DO UPDATE SET first_seen=LEAST(v.first_seen,EXCLUDED.first_seen),last_seen=GREATEST(v.last_seen,EXCLUDED.last_seen);
$f$;
CREATE OR REPLACE FUNCTION model_version_at(m text,at timestamptz) RETURNS text LANGUAGE sql STABLE AS $f$
SELECT version FROM model_versions WHERE model=m AND first_seen<=at ORDER BY last_seen>=at DESC,first_seen DESC LIMIT 1;
$f$;`;

// create_hypertable makes its own time index. ALTER TABLE SET (compress) has no IF NOT EXISTS and fails once
// chunks are compressed, hence the guard. WITH NO DATA: a continuous aggregate WITH DATA cannot be created in
// a transaction or a DO block; the policy fills it.
const timescaleSteps = (days: number) => `CREATE EXTENSION IF NOT EXISTS timescaledb;
PERFORM create_hypertable('request_metrics','time',if_not_exists=>TRUE,migrate_data=>TRUE);
PERFORM add_retention_policy('request_metrics',INTERVAL '${days} days',if_not_exists=>TRUE);
IF NOT EXISTS(SELECT FROM timescaledb_information.hypertables WHERE hypertable_name='request_metrics' AND compression_enabled) THEN
ALTER TABLE request_metrics SET(timescaledb.compress,timescaledb.compress_segmentby='model');
END IF;
PERFORM add_compression_policy('request_metrics',INTERVAL '1 day',if_not_exists=>TRUE);
CREATE MATERIALIZED VIEW IF NOT EXISTS request_metrics_1m WITH(timescaledb.continuous) AS SELECT time_bucket('1 minute',time) AS bucket,model,count(*) AS requests,sum((status>=500)::int) AS errors,avg(latency_ms) AS avg_latency_ms,sum(prompt_tokens) AS prompt_tokens,sum(completion_tokens) AS completion_tokens FROM request_metrics GROUP BY bucket,model WITH NO DATA;
PERFORM add_continuous_aggregate_policy('request_metrics_1m',start_offset=>INTERVAL '1 hour',end_offset=>INTERVAL '1 minute',schedule_interval=>INTERVAL '1 minute',if_not_exists=>TRUE);
RETURN;`;

/**
 * The whole schema as one idempotent SQL script: request_metrics (a hypertable with retention and compression
 * policies and the per-minute continuous aggregate request_metrics_1m under TimescaleDB, a plain table with a
 * time index otherwise), model_versions and the two functions the gateway calls. The TimescaleDB steps sit in a
 * DO block, so every mode is checked for syntax wherever it runs. Run in one transaction (psql --single-transaction, or a multi-statement simple
 * query), concurrent runs wait for each other on an advisory lock.
 */
export function metricsSchemaSql({ timescale = 'auto', retentionDays = 30, grantTo }: MetricsSchemaOptions = {}): string {
  if (!Number.isInteger(retentionDays) || retentionDays < 1) throw new Error(`metricsSchemaSql: retentionDays must be an integer >= 1, got ${retentionDays}`);
  if (![true, false, 'auto'].includes(timescale)) throw new Error(`metricsSchemaSql: timescale must be true, false or 'auto', got ${JSON.stringify(timescale)}`);
  if (grantTo !== undefined && !/^[a-z_][a-z0-9_$]{0,62}$/.test(grantTo)) {
    throw new Error(`metricsSchemaSql: grantTo ${JSON.stringify(grantTo)} is not a plain lower-case role name (letters, digits, _ and $; at most 63)`);
  }
  const steps = timescaleSteps(retentionDays);
  const auto = timescale == 'auto';
  return `SELECT pg_advisory_xact_lock(7361024);
${TABLES}
${FUNCTIONS}
DO $$BEGIN
IF ${auto ? "EXISTS(SELECT FROM pg_available_extensions WHERE name='timescaledb')" : String(timescale).toUpperCase()} THEN
${auto ? `BEGIN\n${steps}\nEXCEPTION WHEN OTHERS THEN RAISE WARNING 'TimescaleDB unusable, using plain tables: %', SQLERRM;\nEND;` : steps}
END IF;
CREATE INDEX IF NOT EXISTS request_metrics_time ON request_metrics(time DESC);
END$$;
${grantTo ? `GRANT INSERT ON request_metrics TO ${grantTo};\nGRANT SELECT,INSERT,UPDATE ON model_versions TO ${grantTo};\n` : ''}`;
}
