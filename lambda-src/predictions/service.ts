// Cog/Replicate-style async predictions. The DynamoDB record is the source of truth: a job runs on the
// instance holding its lease, heartbeats extend the lease, and any instance's recovery loop re-runs jobs
// whose lease expired (dead worker) or was released (graceful stop), so every job completes somewhere.
// Execution is at-least-once: a job whose worker died re-runs from the start (at most 3 attempts).
import { randomBytes, randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoTable } from '../stores/dynamodb';
import { JOB_TABLE_SCHEMA, JobRecord, PredictionStatus, PredictionStore } from '../stores/prediction-store';

export interface Prediction {
  id: string;
  model: string | null;
  version: string | null;
  input: Record<string, unknown>;
  output: unknown;
  error: string | null;
  logs: string;
  status: PredictionStatus;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  metrics: { predict_time?: number };
  urls: { get: string; cancel: string };
}

/** Returns the output; a throw marks the prediction failed with its message. */
export type PredictionRunner = (prediction: Prediction, signal: AbortSignal) => Promise<unknown>;

export interface CreatePredictionRequest {
  id?: string;
  model?: string;
  version?: string;
  input: unknown;
  webhook?: string;
  webhook_events_filter?: string[];
}

export interface PredictionServiceOptions {
  table: DynamoTable;
  runner: PredictionRunner;
  /** Identifies this instance as lease owner (e.g. the EC2 instance id plus the process id). */
  instanceId: string;
  /** Prefix for `urls` (e.g. https://api.example.com); relative URLs without it. */
  baseUrl?: string;
  leaseMs?: number;
  heartbeatMs?: number;
  /** How long finished predictions stay readable before DynamoDB TTL removes them. */
  retentionSeconds?: number;
  onError?: (err: unknown, context: string) => void;
}

export class PredictionError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'PredictionError';
  }
}

const ID = /^[A-Za-z0-9_-]{1,64}$/;
// Accepted for Replicate compatibility; a runner returns its output once, so only `completed` fires.
const EVENTS = ['start', 'output', 'logs', 'completed'];
const ITEM_LIMIT = 400 * 1024;
/** Input bytes accepted; the rest of the 400 KB DynamoDB item is left for the output. */
export const MAX_INPUT_BYTES = 256 * 1024;
const MAX_ATTEMPTS = 3;
const bytes = (s: string) => Buffer.byteLength(s);
const isTerminal = (s: PredictionStatus) => s === 'succeeded' || s === 'failed' || s === 'canceled';
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));
const invalid = (msg: string) => new PredictionError(422, 'invalid_request', msg);
const notFound = (id: string) => new PredictionError(404, 'not_found', `prediction ${id} not found`);

/** JSON with sorted keys, so equal inputs compare equal whatever their key order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const keys = Object.keys(v).filter((k) => (v as any)[k] !== undefined).sort();
    return `{${keys.map((k) => JSON.stringify(k) + ':' + canonical((v as any)[k])).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** Resolves when `p` settles or `ms` pass, leaving no timer behind. */
async function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise((r) => (timer = setTimeout(r, Math.max(0, ms))))]);
  clearTimeout(timer);
}

interface Running {
  abort: AbortController;
  done: Promise<void>;
}

export class PredictionService {
  private readonly store: PredictionStore;
  private readonly running = new Map<string, Running>();
  private readonly webhooks = new Set<Promise<void>>();
  private readonly o: Required<Omit<PredictionServiceOptions, 'table'>>;
  private timer?: NodeJS.Timeout;
  private tick?: Promise<void>;
  private stopped = false;

  constructor(opts: PredictionServiceOptions) {
    this.o = { baseUrl: '', leaseMs: 30_000, heartbeatMs: 10_000, retentionSeconds: 86_400, onError: (e, c) => console.error(`predictions: ${c}: ${message(e)}`), ...opts };
    const { instanceId, leaseMs, heartbeatMs, retentionSeconds } = this.o;
    if (!instanceId || !(heartbeatMs > 0 && heartbeatMs < leaseMs && retentionSeconds > 0)) {
      throw new Error('PredictionService needs an instanceId, 0 < heartbeatMs < leaseMs and retentionSeconds > 0');
    }
    this.store = new PredictionStore(opts.table);
  }

  /** Writes the prediction (committed before this returns) and runs it here. With a client id this is idempotent PUT semantics. */
  async create(req: CreatePredictionRequest, opts: { wait: boolean }): Promise<{ prediction: Prediction; created: boolean }> {
    if (this.stopped) throw new PredictionError(503, 'unavailable', 'this instance is shutting down; retry the request');
    const job = this.validate(req);
    if (!(await this.store.create(job))) {
      const old = await this.store.get(job.id);
      if (!old || canonical([old.model, old.version, JSON.parse(old.input)]) !== canonical([job.model, job.version, req.input])) {
        throw new PredictionError(409, 'conflict', `prediction ${job.id} already exists with a different model, version or input; use a new id`);
      }
      return { prediction: opts.wait ? await this.waitFor(job.id) : this.toPrediction(old), created: false };
    }
    const run = this.execute(job);
    if (!opts.wait) return { prediction: this.toPrediction(job), created: true };
    await run;
    return { prediction: await this.waitFor(job.id), created: true };
  }

  async get(id: string): Promise<Prediction> {
    const job = ID.test(id) ? await this.store.get(id) : undefined;
    if (!job) throw notFound(id);
    return this.toPrediction(job);
  }

  /** Cancels a non-terminal prediction (a finished one is returned unchanged). The owner aborts its runner. */
  async cancel(id: string): Promise<Prediction> {
    if (!ID.test(id)) throw notFound(id);
    const job = await this.store.finish(id, undefined, { status: 'canceled', completed_at: new Date().toISOString() }, this.o.retentionSeconds);
    if (!job) return this.get(id);
    // Runs elsewhere: its owner's next heartbeat fails the ownership condition and aborts.
    this.running.get(id)?.abort.abort(new Error('prediction canceled'));
    this.notify(job);
    return this.toPrediction(job);
  }

  /** Every intervalMs, claims and runs jobs whose lease expired (dead or stopped workers). */
  startRecovery(intervalMs = 2000): void {
    if (this.timer || this.stopped) return;
    this.timer = setInterval(() => this.kick(), intervalMs);
    this.timer.unref();
    this.kick();
  }

  /** Stops taking work, waits up to timeoutMs for running jobs, then hands the rest over by releasing their leases. */
  async stop(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    this.stopped = true;
    clearInterval(this.timer);
    await this.tick;
    await within(Promise.allSettled([...this.running.values()].map((r) => r.done)), deadline - Date.now());
    await Promise.allSettled(
      [...this.running].map(([id, r]) => {
        r.abort.abort(new Error('instance shutting down'));
        return this.store.release(id, this.o.instanceId);
      }),
    );
    await within(Promise.allSettled(this.webhooks), deadline - Date.now());
  }

  private kick(): void {
    if (this.tick || this.stopped) return;
    this.tick = this.recover()
      .catch((e) => this.o.onError(e, 'recovery'))
      .finally(() => (this.tick = undefined));
  }

  private async recover(): Promise<void> {
    for (let shard = 0; shard < JOB_TABLE_SCHEMA.shards; shard++) {
      for (const old of await this.store.expired(shard, 25)) {
        if (this.running.has(old.id) || this.stopped) continue;
        const note = old.attempt > 0 ? `${old.logs ?? ''}attempt ${old.attempt + 1}: the previous worker stopped responding\n` : undefined;
        const job = await this.store.claim(old.id, this.o.instanceId, this.o.leaseMs, note);
        if (!job) continue;
        if (job.attempt <= MAX_ATTEMPTS) {
          void this.execute(job);
          continue;
        }
        const error = `abandoned after ${MAX_ATTEMPTS} attempts: every worker running it stopped responding`;
        const done = await this.store.finish(job.id, this.o.instanceId, { status: 'failed', error, completed_at: new Date().toISOString() }, this.o.retentionSeconds);
        if (done) this.notify(done);
      }
    }
  }

  private execute(job: JobRecord): Promise<void> {
    const abort = new AbortController();
    const done = this.run(job, abort)
      .catch((e) => this.o.onError(e, `prediction ${job.id}`))
      .finally(() => this.running.delete(job.id));
    this.running.set(job.id, { abort, done });
    return done;
  }

  private async run(job: JobRecord, abort: AbortController): Promise<void> {
    const { id } = job;
    const me = this.o.instanceId;
    const lost = () => abort.abort(new Error('lease lost: the prediction was canceled or taken over'));
    const beat = setInterval(() => {
      this.store.renew(id, me, this.o.leaseMs).then((ok) => ok || lost(), (e) => this.o.onError(e, `heartbeat ${id}`));
    }, this.o.heartbeatMs);
    try {
      const started = await this.store.renew(id, me, this.o.leaseMs, { status: 'processing', started_at: new Date().toISOString() });
      if (!started) return;
      const aborted = new Promise<never>((_, reject) => abort.signal.addEventListener('abort', () => reject(abort.signal.reason), { once: true }));
      let output: string | undefined;
      let error: string | undefined;
      try {
        // Racing the signal stops waiting for a runner that ignores it.
        const result = await Promise.race([this.o.runner(this.toPrediction(started), abort.signal), aborted]);
        output = JSON.stringify(result ?? null);
        const limit = ITEM_LIMIT - bytes(job.input) - 16 * 1024;
        if (bytes(output) > limit) {
          error = `output is ${bytes(output)} bytes; at most ${limit} fit beside the input in one DynamoDB item (400 KB)`;
          output = undefined;
        }
      } catch (e) {
        error = message(e).slice(0, 4096) || 'prediction failed';
        output = undefined;
      }
      // Aborted: canceled, taken over or shutting down; the record is no longer ours to finish.
      if (abort.signal.aborted) return;
      const status = error === undefined ? 'succeeded' : 'failed';
      const done = await this.store.finish(id, me, { status, output, error, completed_at: new Date().toISOString() }, this.o.retentionSeconds);
      if (done) this.notify(done);
    } finally {
      clearInterval(beat);
    }
  }

  private async waitFor(id: string): Promise<Prediction> {
    await this.running.get(id)?.done;
    for (let delay = 100; ; delay = Math.min(delay * 2, 1000)) {
      const p = await this.get(id);
      if (isTerminal(p.status) || this.stopped) return p;
      await sleep(delay);
    }
  }

  /** POSTs the finished prediction to its webhook in the background: a few retries, never blocking the job. */
  private notify(job: JobRecord): void {
    if (!job.webhook || !(job.webhook_events_filter ?? ['completed']).includes('completed')) return;
    const { webhook } = job;
    const body = JSON.stringify(this.toPrediction(job));
    const send = async () => {
      let why = '';
      for (let attempt = 0; attempt < 4; attempt++) {
        if (attempt) await sleep(250 * 2 ** attempt);
        try {
          const res = await fetch(webhook, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(10_000) });
          await res.arrayBuffer();
          if (res.ok) return;
          why = `HTTP ${res.status}`;
          if (res.status < 500 && res.status !== 429) break;
        } catch (e) {
          why = message(e);
        }
      }
      this.o.onError(new Error(`webhook to ${new URL(webhook).host} failed: ${why}`), `prediction ${job.id}`);
    };
    const p = send().finally(() => this.webhooks.delete(p));
    this.webhooks.add(p);
  }

  private validate(req: CreatePredictionRequest): JobRecord {
    if (!req || typeof req !== 'object' || Array.isArray(req)) throw invalid('the request body must be a JSON object with an "input" object');
    const { id = randomBytes(15).toString('base64url'), model, version, input, webhook, webhook_events_filter: filter } = req;
    if (typeof id !== 'string' || !ID.test(id)) throw invalid(`id ${JSON.stringify(id)} is invalid: use 1-64 characters of A-Z, a-z, 0-9, _ or -`);
    for (const [k, v] of Object.entries({ model, version })) {
      if (v !== undefined && !(typeof v === 'string' && v.length <= 256)) throw invalid(`${k} must be a string of at most 256 characters`);
    }
    if (!input || typeof input !== 'object' || Array.isArray(input)) {
      throw invalid(`input must be a JSON object, got ${Array.isArray(input) ? 'an array' : input === null ? 'null' : typeof input}`);
    }
    if (webhook !== undefined) {
      let url: URL | undefined;
      try {
        url = new URL(webhook);
      } catch {
        // reported below
      }
      if (!url || !/^https?:$/.test(url.protocol) || webhook.length > 2048) {
        throw invalid(`webhook ${JSON.stringify(String(webhook).slice(0, 100))} must be an absolute http(s) URL of at most 2048 characters`);
      }
      // The instance metadata service is never a legitimate webhook target.
      if (/^(169\.254\.|\[fd00:ec2::)/.test(url.hostname)) throw invalid(`webhook host ${url.hostname} is not allowed (link-local)`);
    }
    if (filter !== undefined && (!Array.isArray(filter) || !filter.length || filter.some((e) => !EVENTS.includes(e)))) {
      throw invalid(`webhook_events_filter must be a non-empty array of ${EVENTS.join(', ')}; got ${JSON.stringify(filter)}`);
    }
    const json = JSON.stringify(input);
    if (bytes(json) > MAX_INPUT_BYTES) {
      throw new PredictionError(413, 'too_large', `input is ${bytes(json)} bytes; the limit is ${MAX_INPUT_BYTES} (a prediction is one DynamoDB item, max 400 KB)`);
    }
    const now = Date.now();
    return {
      id,
      model,
      version,
      input: json,
      webhook,
      webhook_events_filter: filter,
      status: 'starting',
      created_at: new Date(now).toISOString(),
      active_shard: String(randomInt(JOB_TABLE_SCHEMA.shards)),
      owner: this.o.instanceId,
      lease_expires_at: now + this.o.leaseMs,
      attempt: 1,
    };
  }

  private toPrediction(j: JobRecord): Prediction {
    const url = `${this.o.baseUrl}/predictions/${j.id}`;
    const { started_at: s = null, completed_at: c = null } = j;
    return {
      id: j.id,
      model: j.model ?? null,
      version: j.version ?? null,
      input: JSON.parse(j.input),
      output: j.output === undefined ? null : JSON.parse(j.output),
      error: j.error ?? null,
      logs: j.logs ?? '',
      status: j.status,
      created_at: j.created_at,
      started_at: s,
      completed_at: c,
      metrics: s && c ? { predict_time: (Date.parse(c) - Date.parse(s)) / 1000 } : {},
      urls: { get: url, cancel: `${url}/cancel` },
    };
  }
}
