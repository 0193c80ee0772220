// Cog/Replicate-style async predictions. The DynamoDB record is the source of truth: a job runs on the
// instance holding its lease, heartbeats extend the lease, and any instance's recovery loop re-runs jobs
// whose lease expired (dead worker) or was released (graceful stop), so every job completes somewhere.
// Execution is at-least-once: a job whose worker died re-runs from the start (at most 3 attempts).
import { upstreamPool } from '../backends/upstream-pool';
import { checkTypes } from '../http/body';
import { httpError } from '../http/errors';
import type { DynamoTable } from '../stores/dynamodb';
import { JobRecord, PredictionStatus, PredictionStore, SHARDS } from '../stores/prediction-store';
import { aborted, canon, randomBytes, sleep, within } from '../util';

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
  /** Told about failed runs, heartbeats, recoveries and webhooks, with what failed. */
  onError: (err: unknown, context: string) => void;
  /** Prefix for `urls` (e.g. https://api.example.com); relative URLs without it. @default '' */
  baseUrl?: string;
  /** @default 30000 */
  leaseMs?: number;
  /** Below leaseMs. @default leaseMs / 3 */
  heartbeatMs?: number;
}

/** Input bytes accepted; the rest of the 400 KB DynamoDB item is left for the output. */
export const MAX_INPUT_BYTES = 256 * 1024;
/** How long finished predictions stay readable before DynamoDB TTL removes them. */
const RETENTION_SECONDS = 86400;
const MAX_ATTEMPTS = 3;
const ID = /^[\w-]{1,64}$/;
// Accepted for Replicate compatibility: a runner returns its output once, so only `completed` can fire.
const TYPES = { id: 'string', model: 'string', version: 'string', input: 'object', webhook: 'string', webhook_events_filter: 'array' };
const bytes = (s: string) => Buffer.byteLength(s);
const now = () => new Date().toISOString();
const invalid = (m: string) => httpError(422, m, 'invalid_request');

export type PredictionService = ReturnType<typeof predictionService>;

export function predictionService({ runner, instanceId: me, onError, baseUrl = '', leaseMs = 3e4, heartbeatMs = leaseMs / 3, table }: PredictionServiceOptions) {
  const store = new PredictionStore(table);
  /** Jobs running here: id → [abort, done]. */
  const running = new Map<string, [AbortController, Promise<void>]>();
  const webhooks = new Set<Promise<unknown>>();
  let timer: NodeJS.Timeout | undefined, tick: Promise<void> | undefined, stopped = false;

  const view = (j: JobRecord): Prediction => {
    const url = `${baseUrl}/predictions/${j.id}`, s = j.started_at ?? null, c = j.completed_at ?? null;
    return {
      id: j.id,
      model: j.model ?? null,
      version: j.version ?? null,
      input: JSON.parse(j.input),
      output: JSON.parse(j.output ?? 'null'),
      error: j.error ?? null,
      logs: j.logs ?? '',
      status: j.status,
      created_at: j.created_at,
      started_at: s,
      completed_at: c,
      metrics: s && c ? { predict_time: (Date.parse(c) - Date.parse(s)) / 1000 } : {},
      urls: { get: url, cancel: url + '/cancel' },
    };
  };

  async function get(id: string): Promise<Prediction> {
    const job = ID.test(id) && (await store.get(id));
    if (!job) throw httpError(404, `prediction ${id} not found`, 'not_found');
    return view(job);
  }

  /**
   * The terminal write (by `owner`, or by anyone when undefined: cancel), then the webhook: POSTed in the
   * background with the upstream pool's retries and timeouts (errors name only the webhook's origin).
   */
  async function finish(id: string, owner: string | undefined, set: Partial<JobRecord>) {
    const job = await store.finish(id, owner, { ...set, completed_at: now() }, RETENTION_SECONDS);
    const url = job?.webhook && (job.webhook_events_filter ?? ['completed']).includes('completed') && new URL(job.webhook);
    if (url) {
      const hook = upstreamPool({ urls: [url.origin], timeoutMs: 1e4, maxRetries: 3, cooldownMs: 0 });
      const p = hook
        .call(url.pathname + url.search, JSON.stringify(view(job!)), AbortSignal.timeout(6e4), async (r) => {
          if (!r.ok) throw Error(`webhook ${url.origin} answered ${r.status}`);
        })
        .catch((e) => onError(e, 'webhook of ' + id))
        .finally(() => webhooks.delete(p));
      webhooks.add(p);
    }
    return job;
  }

  /** Runs a job this instance holds the lease of, in the background (tracked in `running`). */
  function execute({ id, input }: JobRecord) {
    const abort = new AbortController();
    const done = run(id, input, abort)
      .catch((e) => onError(e, 'prediction ' + id))
      .finally(() => running.delete(id));
    running.set(id, [abort, done]);
  }

  async function run(id: string, input: string, abort: AbortController) {
    const beat = setInterval(() => {
      store.renew(id, me, leaseMs).then((ok) => ok || abort.abort(Error('lease lost (canceled or taken over)')), (e) => onError(e, 'heartbeat ' + id));
    }, heartbeatMs);
    try {
      const started = await store.renew(id, me, leaseMs, { status: 'processing', started_at: now() });
      if (!started) return;
      let output: string | undefined, error: string | undefined;
      try {
        // Racing the signal stops waiting for a runner that ignores it.
        output = JSON.stringify((await Promise.race([runner(view(started), abort.signal), aborted(abort.signal)])) ?? null);
        const limit = 400 * 1024 - bytes(input) - 16384;
        if (bytes(output) > limit) (error = `output of ${bytes(output)} bytes exceeds the ${limit} that fit in its DynamoDB item`), (output = undefined);
      } catch (e: any) {
        error = (e?.message ?? '' + e).slice(0, 4096) || 'prediction failed';
      }
      // Aborted: canceled, taken over or shutting down; the record is no longer ours to finish.
      if (!abort.signal.aborted) await finish(id, me, { status: error == null ? 'succeeded' : 'failed', output, error });
    } finally {
      clearInterval(beat);
    }
  }

  /** Claims and runs the jobs whose lease expired (dead or stopped workers); gives up on a job after MAX_ATTEMPTS. */
  async function recover() {
    for (let shard = 0; shard < SHARDS; shard++) {
      for (const old of await store.expired(shard, 25)) {
        if (running.has(old.id) || stopped) continue;
        const note = old.attempt > 0 ? `${old.logs ?? ''}attempt ${old.attempt + 1}: the previous worker stopped responding\n` : undefined;
        const job = await store.claim(old.id, me, leaseMs, note);
        if (job && job.attempt > MAX_ATTEMPTS) await finish(job.id, me, { status: 'failed', error: `abandoned: its worker stopped responding ${MAX_ATTEMPTS} times` });
        else if (job) execute(job);
      }
    }
  }
  const kick = () => {
    if (!tick && !stopped) tick = recover().catch((e) => onError(e, 'recovery')).finally(() => (tick = undefined));
  };

  function validate(req: CreatePredictionRequest): JobRecord {
    checkTypes(req, TYPES, ['input'], 422);
    const { id = randomBytes(15).toString('base64url'), model, version, input, webhook, webhook_events_filter: filter } = req;
    if (!ID.test(id)) throw invalid(`id must be 1-64 of A-Z a-z 0-9 _ -, got ${JSON.stringify(id)}`);
    if (webhook != null) {
      const url = URL.canParse(webhook) ? new URL(webhook) : undefined;
      if (!/^https?:$/.test(url?.protocol!) || webhook.length > 2048) throw invalid(`webhook must be an http(s) URL of at most 2048 characters, got ${JSON.stringify(webhook.slice(0, 99))}`);
      // The instance metadata service is never a legitimate webhook target.
      if (/^(169\.254\.|\[fd00:ec2::)/.test(url!.hostname)) throw invalid(`webhook host ${url!.hostname} is not allowed (link-local)`);
    }
    const json = JSON.stringify(input);
    if (bytes(json) > MAX_INPUT_BYTES) throw httpError(413, `input of ${bytes(json)} bytes exceeds the limit of ${MAX_INPUT_BYTES}`, 'too_large');
    const at = Date.now();
    return { id, model, version, input: json, webhook, webhook_events_filter: filter, status: 'starting', created_at: new Date(at).toISOString(), active_shard: '' + ((Math.random() * SHARDS) | 0), owner: me, lease_expires_at: at + leaseMs, attempt: 1 };
  }

  return {
    /**
     * Writes the prediction (committed before this returns) and runs it here; waits up to `waitMs` for it to
     * finish (completed_at set), else returns its current state. A client id makes it idempotent (PUT): the
     * same request again returns the existing prediction, a different one is a 409.
     */
    async create(req: CreatePredictionRequest, waitMs = 0): Promise<Prediction> {
      if (stopped) throw httpError(503, 'shutting down; retry', 'unavailable');
      const job = validate(req);
      const key = (j: JobRecord) => JSON.stringify(canon([j.model, j.version, JSON.parse(j.input)]));
      const created = await store.create(job);
      const old = created ? job : await store.get(job.id);
      if (!old || key(old) != key(job)) throw httpError(409, `prediction ${job.id} exists with other model, version or input; use a new id`, 'conflict');
      if (created) execute(job);
      // Done here, or elsewhere (an idempotent PUT of a job another instance runs: polled).
      const until = Date.now() + waitMs;
      await within(Promise.resolve(running.get(job.id)?.[1]), waitMs);
      for (;;) {
        const p = waitMs ? await get(job.id) : view(old);
        const left = until - Date.now();
        if (p.completed_at || stopped || left <= 0) return p;
        await sleep(Math.min(500, left));
      }
    },

    get,

    /** Cancels a non-terminal prediction (a finished one is returned unchanged). The owner aborts its runner. */
    async cancel(id: string): Promise<Prediction> {
      const job = ID.test(id) && (await finish(id, undefined, { status: 'canceled' }));
      if (!job) return get(id);
      // Running elsewhere: its owner's next heartbeat fails the ownership condition and aborts.
      running.get(id)?.[0].abort(Error('prediction canceled'));
      return view(job);
    },

    /** Every intervalMs, claims and runs jobs whose lease expired (dead or stopped workers). */
    startRecovery(intervalMs = 2000): void {
      if (timer || stopped) return;
      timer = setInterval(kick, intervalMs).unref();
      kick();
    },

    /** Stops taking work, waits up to timeoutMs for running jobs, then hands the rest over by releasing their leases. */
    async stop(timeoutMs = 1e4): Promise<void> {
      const end = Date.now() + timeoutMs;
      stopped = true;
      clearInterval(timer);
      await tick;
      await within(Promise.allSettled([...running.values()].map((r) => r[1])), end - Date.now());
      await Promise.allSettled([...running].map(([id, [abort]]) => (abort.abort(Error('instance shutting down')), store.release(id, me))));
      await within(Promise.allSettled(webhooks), end - Date.now());
    },
  };
}
