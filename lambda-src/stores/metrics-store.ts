// Request metrics to PostgreSQL/TimescaleDB, off the request path: record() only appends to a bounded
// in-memory buffer; a timer writes it in batches. A slow or dead database costs rows, never latency.
// The schema (metrics-schema.ts) is applied by the database host, so the gateway's role needs no DDL rights;
// until it exists, writes fail, are counted, and rows stay buffered (the oldest dropped beyond maxBuffer).
import { within } from '../util';
import { PgClient, pgClient, PgError, PgOptions } from './postgres';

/** One request: the JSON log line and, by the same names, a request_metrics row (absent fields are NULL). */
export interface RequestMetric {
  time: Date;
  instance: string;
  route: string;
  model: string | null;
  model_version?: string;
  status: number;
  latency_ms: number;
  ttft_ms?: number;
  prompt_tokens: number;
  completion_tokens: number;
  cache_hit: boolean;
  key_id?: string;
  request_id: string;
}

export interface MetricsStoreOptions extends PgOptions {
  /** Rows kept while the database is unreachable; beyond it the oldest are dropped. @default 10000 */
  maxBuffer?: number;
  /** Rows per INSERT. @default 500 */
  batchSize?: number;
  /** @default 1000 */
  flushIntervalMs?: number;
  /** Told about every failed connect or write (they are also counted in stats.errors). @default none */
  onError?: (e: unknown) => void;
}

/** SQLSTATE class 22 (data exception) or 23 (constraint violation): retrying the same rows cannot succeed. */
const dataError = (e: unknown) => /^2[23]/.test((e as PgError).code!);

export type MetricsStore = ReturnType<typeof metricsStore>;

export function metricsStore(o: MetricsStoreOptions) {
  const { maxBuffer = 1e4, batchSize = 500, onError } = o;
  /** Rows waiting, and the batch being written (still buffered until the INSERT succeeds). */
  let buf: RequestMetric[] = [], rows: RequestMetric[] = [];
  const stats = {
    get buffered() {
      return buf.length + rows.length;
    },
    dropped: 0,
    written: 0,
    errors: 0,
  };
  /** model\0version → [model, version, first seen, last seen], coalesced between flushes. */
  const versions = new Map<string, [string, string, Date, Date]>();
  let pg: PgClient | undefined, opening: Promise<PgClient> | undefined, flushing: Promise<void> | undefined, timer: NodeJS.Timeout | undefined;

  /** The open connection, or a new one. While the database is down that is one attempt per flush, off the request path. */
  const db = (): Promise<PgClient> =>
    opening ?? (pg && !pg.closed ? Promise.resolve(pg) : (opening = (pg = pgClient(o)).connect().then(() => pg!).finally(() => (opening = undefined))));

  async function write() {
    try {
      const c = await db();
      for (const [k, v] of versions) {
        const last = v[3];
        await c
          .query('INSERT INTO model_versions VALUES($1,$2,$3,$4) ON CONFLICT(model,version) DO UPDATE SET first_seen=LEAST(model_versions.first_seen,$3),last_seen=GREATEST(model_versions.last_seen,$4)', v)
          .catch((e) => {
            if (!dataError(e)) throw e;
          });
        if (v[3] == last) versions.delete(k);
      }
      while ((rows = buf.splice(0, batchSize)).length) {
        // One parameter: the rows as JSON, matched to the columns by name.
        await c.query('INSERT INTO request_metrics SELECT * FROM json_populate_recordset(NULL::request_metrics,$1)', [JSON.stringify(rows)]);
        stats.written += rows.length;
      }
    } catch (e) {
      stats.errors++;
      onError?.(e);
      // Rows the database refuses are dropped; anything else (connection lost, table missing) is retried,
      // on a new connection once the failure closed this one.
      if (dataError(e)) stats.dropped += rows.length;
      else {
        buf = rows.concat(buf);
        const over = buf.length - maxBuffer;
        if (over > 0) stats.dropped += buf.splice(0, over).length;
      }
    }
    rows = [];
  }
  const flush = () => (flushing ??= write().finally(() => (flushing = undefined)));

  return {
    stats,
    /** Starts the flush timer (the first connect happens in the background); never throws. */
    start(): void {
      timer ??= setInterval(flush, o.flushIntervalMs ?? 1000).unref();
      flush();
    },
    /** O(1) and synchronous; the oldest row is dropped (and counted) when the buffer is full. */
    record(m: RequestMetric): void {
      if (buf.push(m) > maxBuffer) buf.shift(), stats.dropped++;
    },
    /** Upserts model_versions(model, version, first_seen, last_seen) at the next flush. */
    recordModelVersion(model: string, version: string): void {
      const now = new Date(), k = model + '\0' + version, v = versions.get(k);
      v ? (v[3] = now) : versions.set(k, [model, version, now, now]);
    },
    /** The version whose [first_seen, last_seen] covers `at` (the latest to start, during a rollout), as of the last flush. */
    async versionAt(model: string, at: Date): Promise<string | undefined> {
      const { rows } = await (await db()).query('SELECT version FROM model_versions WHERE model=$1 AND first_seen<=$2 ORDER BY last_seen>=$2 DESC,first_seen DESC LIMIT 1', [model, at]);
      return rows[0]?.version ?? undefined;
    },
    /** Flushes what it can within timeoutMs (SIGTERM path), then closes. */
    async close(timeoutMs: number): Promise<void> {
      clearInterval(timer);
      const end = Date.now() + timeoutMs;
      // Stops when a round writes nothing (database down): waiting longer would not help.
      for (let w = -1; w < stats.written && (buf.length || versions.size) && Date.now() < end; ) {
        w = stats.written;
        await within(flush(), end - Date.now());
      }
      await pg?.close();
    },
  };
}
