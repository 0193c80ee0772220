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
  let pg: PgClient | undefined, flushing: Promise<void> | undefined, timer: NodeJS.Timeout | undefined;

  async function write() {
    try {
      // The open connection, or a new one: while the database is down, one attempt per flush, off the request path.
      if (!pg || pg.closed) await (pg = pgClient(o)).connect();
      while ((rows = buf.splice(0, batchSize)).length) {
        // One parameter: the rows as JSON. The function (metrics-schema.ts) also updates model_versions.
        await pg.query('SELECT insert_request_metrics($1)', [JSON.stringify(rows)]);
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
    /**
     * O(1) and synchronous; the oldest row is dropped (and counted) when the buffer is full. A row with a
     * model_version also records, when written, that this version served its model at its time (model_versions).
     */
    record(m: RequestMetric): void {
      if (buf.push(m) > maxBuffer) buf.shift(), stats.dropped++;
    },
    /** Flushes what it can within timeoutMs (SIGTERM path), then closes. */
    async close(timeoutMs: number): Promise<void> {
      clearInterval(timer);
      // A flush already running may have missed the latest rows: a second one writes them.
      await within(flush().then(flush), timeoutMs);
      await pg?.close();
    },
  };
}
