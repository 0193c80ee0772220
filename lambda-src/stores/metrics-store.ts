// Request metrics to PostgreSQL (TimescaleDB when available), off the request path: record() only appends to
// a bounded in-memory buffer; a timer writes it in batches. A slow or dead database costs rows, never latency.
import { checkInt } from './check';
import { PgClient, PgError, PgOptions } from './postgres';

export interface RequestMetric {
  time: Date;
  instance: string;
  route: string;
  model: string | null;
  modelVersion: string | null;
  status: number;
  latencyMs: number;
  ttftMs: number | null;
  promptTokens: number;
  completionTokens: number;
  cacheHit: boolean;
  keyId: string | null;
  requestId: string;
}

export interface MetricsStoreOptions extends PgOptions {
  /** Rows kept while the database is unreachable; beyond it the oldest are dropped. @default 10000 */
  maxBuffer?: number;
  /** Rows per INSERT (13 parameters each; PostgreSQL allows 65535). @default 500 */
  batchSize?: number;
  /** @default 1000 */
  flushIntervalMs?: number;
  /** TimescaleDB retention policy; plain PostgreSQL keeps everything. @default 30 */
  retentionDays?: number;
  /** Cap of the exponential backoff between connection attempts. @default 30000 */
  retryMaxMs?: number;
  /** Told about every failed connect, migration or write (they are also counted in stats.errors). @default none */
  onError?: (e: unknown) => void;
}


// One transaction (a multi-statement simple query); the advisory lock makes instances starting together
// migrate one after the other, since concurrent CREATE ... IF NOT EXISTS can still collide.
const TABLES = `SELECT pg_advisory_xact_lock(7361024);
CREATE TABLE IF NOT EXISTS request_metrics(time timestamptz NOT NULL,instance text,route text,model text,model_version text,status smallint,latency_ms real,ttft_ms real,prompt_tokens int,completion_tokens int,cache_hit bool,key_id text,request_id text);
CREATE TABLE IF NOT EXISTS model_versions(model text,version text,first_seen timestamptz NOT NULL,last_seen timestamptz NOT NULL,PRIMARY KEY(model,version));`;

// create_hypertable makes its own time index. ALTER TABLE SET (compress) has no IF NOT EXISTS and fails once
// chunks are compressed, hence the guard. WITH NO DATA: a continuous aggregate WITH DATA cannot be created
// inside a transaction; the policy fills it.
const timescale = (days: number) => `CREATE EXTENSION IF NOT EXISTS timescaledb;
SELECT create_hypertable('request_metrics','time',if_not_exists=>TRUE,migrate_data=>TRUE);
SELECT add_retention_policy('request_metrics',INTERVAL '${days} days',if_not_exists=>TRUE);
DO $$BEGIN IF NOT EXISTS(SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name='request_metrics' AND compression_enabled) THEN ALTER TABLE request_metrics SET(timescaledb.compress,timescaledb.compress_segmentby='model');END IF;END$$;
SELECT add_compression_policy('request_metrics',INTERVAL '1 day',if_not_exists=>TRUE);
CREATE MATERIALIZED VIEW IF NOT EXISTS request_metrics_1m WITH(timescaledb.continuous) AS SELECT time_bucket('1 minute',time) AS bucket,model,count(*) AS requests,sum((status>=500)::int) AS errors,avg(latency_ms) AS avg_latency_ms,sum(prompt_tokens) AS prompt_tokens,sum(completion_tokens) AS completion_tokens FROM request_metrics GROUP BY bucket,model WITH NO DATA;
SELECT add_continuous_aggregate_policy('request_metrics_1m',start_offset=>INTERVAL '1 hour',end_offset=>INTERVAL '1 minute',schedule_interval=>INTERVAL '1 minute',if_not_exists=>TRUE);`;

const PLAIN = 'CREATE INDEX IF NOT EXISTS request_metrics_time ON request_metrics(time DESC);';

/** SQLSTATE class 22 (data exception) or 23 (constraint violation): retrying the same rows cannot succeed. */
const dataError = (e: unknown) => /^2[23]/.test((e as PgError).code ?? '');

const row = (m: RequestMetric) => [
  m.time, m.instance, m.route, m.model, m.modelVersion, Math.round(m.status), m.latencyMs, m.ttftMs,
  Math.round(m.promptTokens), Math.round(m.completionTokens), m.cacheHit, m.keyId, m.requestId,
];

const DEFAULTS = { maxBuffer: 10000, batchSize: 500, flushIntervalMs: 1000, retentionDays: 30, retryMaxMs: 30000 };

export class MetricsStore {
  readonly stats = { buffered: 0, dropped: 0, written: 0, errors: 0, timescale: null as boolean | null };
  private buf: RequestMetric[] = [];
  /** model\0version → [model, version, first seen, last seen], coalesced between flushes. */
  private versions = new Map<string, [string, string, Date, Date]>();
  private pg?: PgClient;
  private migrated = false;
  private opening?: Promise<PgClient>;
  private flushing?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private fails = 0;
  private retryAt = 0;
  private readonly o = { ...DEFAULTS };

  constructor(private readonly opts: MetricsStoreOptions) {
    for (const k in DEFAULTS) {
      const key = k as keyof typeof DEFAULTS, v = opts[key] ?? DEFAULTS[key];
      checkInt('MetricsStore', k, v, 1, key == 'batchSize' ? 5000 : undefined);
      this.o[key] = v;
    }
  }

  start(): void {
    this.timer ??= setInterval(() => this.flush(), this.o.flushIntervalMs).unref();
    this.flush();
  }

  record(m: RequestMetric): void {
    if (this.buf.push(m) > this.o.maxBuffer) {
      this.buf.shift();
      this.stats.dropped++;
    }
    this.stats.buffered = this.buf.length;
  }

  recordModelVersion(model: string, version: string): void {
    const now = new Date(), v = this.versions.get(model + '\0' + version);
    v ? (v[3] = now) : this.versions.set(model + '\0' + version, [model, version, now, now]);
  }

  /** The version whose [first_seen, last_seen] covers `at` (the latest to start, during a rollout), as of the last flush. */
  async versionAt(model: string, at: Date): Promise<string | undefined> {
    const { rows } = await (await this.db()).query(
      'SELECT version FROM model_versions WHERE model=$1 AND first_seen<=$2 ORDER BY last_seen>=$2 DESC,first_seen DESC LIMIT 1',
      [model, at],
    );
    return rows[0]?.version ?? undefined;
  }

  async close(timeoutMs: number): Promise<void> {
    clearInterval(this.timer);
    let t: NodeJS.Timeout | undefined;
    const drain = async () => {
      // Stops when a round writes nothing (database down): waiting longer would not help.
      for (let w = -1; w < this.stats.written && (this.buf.length || this.versions.size); ) {
        w = this.stats.written;
        await this.flush();
      }
    };
    await Promise.race([drain(), new Promise((r) => (t = setTimeout(r, timeoutMs)))]);
    clearTimeout(t);
    await this.pg?.close();
  }

  private flush(): Promise<void> {
    return (this.flushing ??= this.write().finally(() => (this.flushing = undefined)));
  }

  private async write() {
    let rows: RequestMetric[] = [];
    try {
      const db = await this.db();
      for (const [k, v] of this.versions) {
        const last = v[3];
        await db.query(
          'INSERT INTO model_versions VALUES($1,$2,$3,$4) ON CONFLICT(model,version) DO UPDATE SET first_seen=LEAST(model_versions.first_seen,$3),last_seen=GREATEST(model_versions.last_seen,$4)',
          v,
        ).catch((e) => {
          if (!dataError(e)) throw e;
        });
        if (v[3] == last) this.versions.delete(k);
      }
      while ((rows = this.buf.splice(0, this.o.batchSize)).length) {
        this.stats.buffered = this.buf.length;
        // The columns in table order, 13 per row.
        const values = rows.map((_, i) => `(${Array.from({ length: 13 }, (_, j) => '$' + (i * 13 + j + 1))})`);
        await db.query(`INSERT INTO request_metrics VALUES${values}`, rows.flatMap(row));
        this.stats.written += rows.length;
      }
    } catch (e) {
      this.stats.errors++;
      this.opts.onError?.(e);
      // Rows that cannot be stored are dropped; anything else is retried on a fresh connection (which
      // re-runs the idempotent migrations).
      if (dataError(e)) this.stats.dropped += rows.length;
      else {
        this.buf.unshift(...rows);
        const over = this.buf.length - this.o.maxBuffer;
        if (over > 0) this.stats.dropped += this.buf.splice(0, over).length;
        this.pg?.close();
      }
    }
    this.stats.buffered = this.buf.length;
  }

  private db(): Promise<PgClient> {
    if (this.migrated && !this.pg!.closed) return Promise.resolve(this.pg!);
    if (Date.now() < this.retryAt) return Promise.reject(new Error(`MetricsStore: ${this.opts.host} unreachable, backing off`));
    return (this.opening ??= this.open().finally(() => (this.opening = undefined)));
  }

  private async open(): Promise<PgClient> {
    this.migrated = false;
    const pg = (this.pg = new PgClient(this.opts));
    try {
      await pg.connect();
      // Any TimescaleDB failure (not preloaded, Apache-2 build without compression...) falls back to plain tables.
      let ts = (await pg.query("SELECT 1 FROM pg_available_extensions WHERE name='timescaledb'")).rows.length > 0;
      await pg.simpleQuery(TABLES + (ts ? timescale(this.o.retentionDays) : PLAIN)).catch((e) => {
        if (!ts) throw e;
        this.opts.onError?.(e);
        ts = false;
        return pg.simpleQuery(TABLES + PLAIN);
      });
      this.stats.timescale = ts;
      this.fails = 0;
      this.migrated = true;
      return pg;
    } catch (e) {
      pg.close();
      this.retryAt = Date.now() + Math.min(this.o.retryMaxMs, 100 * 2 ** this.fails++);
      throw e;
    }
  }
}
