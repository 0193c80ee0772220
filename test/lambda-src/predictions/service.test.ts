import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { DynamoTable } from '../../../lambda-src/stores/dynamodb';
import { JOB_TABLE_SCHEMA, PredictionStore } from '../../../lambda-src/stores/prediction-store';
import { MAX_INPUT_BYTES, Prediction, PredictionRunner, PredictionService, predictionService, PredictionServiceOptions } from '../../../lambda-src/predictions/service';
import { DynaliteServer, startDynalite } from '../../support/dynalite-server';

const TABLE = 'predictions';
let db: DynaliteServer;
let table: DynamoTable;
let store: PredictionStore;
let services: PredictionService[] = [];
let errors: string[] = [];

beforeAll(async () => {
  db = await startDynalite();
  await db.createJobTable(TABLE);
  table = new DynamoTable(TABLE, { endpoint: db.endpoint });
  store = new PredictionStore(table);
});
afterEach(async () => {
  await Promise.all(services.map((s) => s.stop(100)));
  services = [];
  errors = [];
});
afterAll(() => db.stop());

function service(runner: PredictionRunner, opts: Partial<PredictionServiceOptions> = {}): PredictionService {
  const s = predictionService({ table, runner, instanceId: 'i-a', baseUrl: 'https://api.test', leaseMs: 2000, heartbeatMs: 500, onError: (e, c) => errors.push(`${c}: ${(e as Error).message}`), ...opts });
  services.push(s);
  return s;
}

async function until<T>(what: string, probe: () => Promise<T> | T, timeoutMs = 8000): Promise<T> {
  for (const deadline = Date.now() + timeoutMs; ; await new Promise((r) => setTimeout(r, 10))) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

const settled = (s: PredictionService, id: string) =>
  until(`${id} to finish`, async () => {
    const p = await s.get(id);
    return ['succeeded', 'failed', 'canceled'].includes(p.status) && p;
  }) as Promise<Prediction>;

/** A runner that waits until aborted, recording the abort reason. */
function blockingRunner() {
  const seen: { started: Prediction[]; aborted: string[] } = { started: [], aborted: [] };
  const runner: PredictionRunner = (p, signal) =>
    new Promise((_resolve, reject) => {
      seen.started.push(p);
      signal.addEventListener('abort', () => {
        seen.aborted.push((signal.reason as Error).message);
        reject(signal.reason);
      });
    });
  return { runner, seen };
}

const inIndex = async (id: string) => {
  const { name, hashKey, rangeKey } = JOB_TABLE_SCHEMA.leaseIndex;
  for (let shard = 0; shard < JOB_TABLE_SCHEMA.shards; shard++) {
    const { Items } = await table.call('Query', { IndexName: name, KeyConditionExpression: `#${hashKey} = :s AND #${rangeKey} < :t` }, { s: String(shard), t: Number.MAX_SAFE_INTEGER });
    if (Items.some((r: any) => r.id === id)) return true;
  }
  return false;
};

describe('create / get', () => {
  it('commits the record before returning, runs in the background and finishes with TTL set', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const s = service(async (p) => {
      await gate;
      return { echo: p.input.prompt };
    });
    const prediction = await s.create({ model: 'llama', version: 'v1', input: { prompt: 'hi' } });
    expect(prediction).toMatchObject({ status: 'starting', model: 'llama', version: 'v1', input: { prompt: 'hi' }, output: null, error: null, logs: '', started_at: null, completed_at: null, metrics: {} });
    expect(prediction.id).toMatch(/^[A-Za-z0-9_-]{20}$/);
    expect(prediction.urls).toEqual({ get: `https://api.test/predictions/${prediction.id}`, cancel: `https://api.test/predictions/${prediction.id}/cancel` });
    expect(await store.get(prediction.id)).toMatchObject({ owner: 'i-a', attempt: 1 });
    expect(await until('processing', async () => (await s.get(prediction.id)).status === 'processing')).toBe(true);
    expect(await inIndex(prediction.id)).toBe(true);

    release();
    const done = await settled(s, prediction.id);
    expect(done).toMatchObject({ status: 'succeeded', output: { echo: 'hi' }, error: null });
    expect(Date.parse(done.completed_at!)).toBeGreaterThanOrEqual(Date.parse(done.started_at!));
    expect(done.metrics.predict_time).toBeGreaterThanOrEqual(0);
    const raw = await store.get(prediction.id);
    expect(raw!.expires_at).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000) + 86_400 - 60);
    expect(raw!.active_shard).toBeUndefined();
    expect(await inIndex(prediction.id)).toBe(false); // terminal jobs leave the lease index
    expect(errors).toEqual([]);
  });

  it('with wait returns the terminal prediction', async () => {
    const s = service(async (p) => [p.input.n, 'done']);
    const prediction = await s.create({ input: { n: 7 } }, 10_000);
    expect(prediction).toMatchObject({ status: 'succeeded', output: [7, 'done'] });
  });

  it('marks a throwing runner failed with its message', async () => {
    const s = service(async () => {
      throw new Error('CUDA out of memory');
    });
    const prediction = await s.create({ input: {} }, 10_000);
    expect(prediction).toMatchObject({ status: 'failed', error: 'CUDA out of memory', output: null });
    expect((await store.get(prediction.id))!.expires_at).toBeGreaterThan(Date.now() / 1000);
  });

  it('fails an output too large for one DynamoDB item with a clear error', async () => {
    const s = service(async () => 'x'.repeat(450 * 1024));
    const prediction = await s.create({ input: {} }, 10_000);
    expect(prediction.status).toBe('failed');
    expect(prediction.error).toMatch(/^output of 460802 bytes exceeds the \d+ that fit in its DynamoDB item$/);
  });

  it('PUT with an id is idempotent and conflicts on a different input', async () => {
    const calls: unknown[] = [];
    const s = service(async (p) => (calls.push(p.input), 'ok'));
    const first = await s.create({ id: 'put-1', input: { a: 1, b: [1, 2] } }, 10_000);
    const again = await s.create({ id: 'put-1', input: { b: [1, 2], a: 1 } });
    expect(first.status).toBe('succeeded');
    expect(again).toEqual(first);
    expect(calls).toHaveLength(1);
    const err = await s.create({ id: 'put-1', input: { a: 2, b: [1, 2] } }).catch((e) => e);
    expect(err).toMatchObject({ status: 409, code: 'conflict', message: 'prediction put-1 exists with other model, version or input; use a new id' });
    await expect(s.create({ id: 'put-1', model: 'other', input: { a: 1, b: [1, 2] } })).rejects.toMatchObject({ status: 409 });
  });

  it('404s unknown and malformed ids', async () => {
    const s = service(async () => null);
    await expect(s.get('nope')).rejects.toMatchObject({ status: 404, code: 'not_found', message: 'prediction nope not found' });
    await expect(s.get('../etc')).rejects.toMatchObject({ status: 404 });
    await expect(s.cancel('nope')).rejects.toMatchObject({ status: 404 });
  });
});

describe('cancel', () => {
  it('aborts a runner on this instance; a late result does not overwrite the cancel', async () => {
    const aborted: unknown[] = [];
    let started = false;
    // Resolves (rather than rejects) once aborted, like a runner that finishes its current step anyway.
    const s = service((_p, signal) => new Promise((resolve) => ((started = true), signal.addEventListener('abort', () => (aborted.push((signal.reason as Error).message), setTimeout(() => resolve('late'), 5))))));
    const prediction = await s.create({ input: {} });
    await until('runner start', () => started);
    const canceled = await s.cancel(prediction.id);
    expect(canceled).toMatchObject({ status: 'canceled', output: null, completed_at: expect.any(String) });
    expect(aborted).toEqual(['prediction canceled']);
    expect(await s.cancel(prediction.id)).toEqual(canceled); // terminal: returned unchanged
    await s.stop(1000);
    await new Promise((r) => setTimeout(r, 20)); // let the late result arrive
    expect(await s.get(prediction.id)).toEqual(canceled);
    expect((await store.get(prediction.id))!.expires_at).toBeGreaterThan(Date.now() / 1000);
  });

  it('from another instance: the owner sees it at its next heartbeat and aborts', async () => {
    const { runner, seen } = blockingRunner();
    const owner = service(runner, { heartbeatMs: 50 });
    const other = service(async () => 'never', { instanceId: 'i-b' });
    const prediction = await owner.create({ input: {} });
    await until('runner start', () => seen.started.length === 1);
    expect((await other.cancel(prediction.id)).status).toBe('canceled');
    await until('abort on heartbeat', () => seen.aborted.length === 1);
    expect(seen.aborted).toEqual(['lease lost (canceled or taken over)']);
  });
});

describe('leases and recovery', () => {
  it('heartbeats extend the lease while the job runs', async () => {
    const { runner, seen } = blockingRunner();
    const s = service(runner, { leaseMs: 1000, heartbeatMs: 50 });
    const prediction = await s.create({ input: {} });
    await until('runner start', () => seen.started.length === 1);
    const first = (await store.get(prediction.id))!.lease_expires_at as number;
    await until('a renewed lease', async () => ((await store.get(prediction.id))!.lease_expires_at as number) > first);
  });

  it('a worker killed mid-job: another instance recovers the job after the lease expires', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dead-worker-'));
    const bundle = join(dir, 'worker.js');
    buildSync({ entryPoints: [join(__dirname, 'fixtures/dead-worker.ts')], bundle: true, platform: 'node', target: 'node20', outfile: bundle, logLevel: 'error' });
    const child = spawn(process.execPath, [bundle], {
      env: { ...process.env, TABLE_NAME: TABLE, DYNAMODB_ENDPOINT: db.endpoint, JOB_ID: 'orphan-1', LEASE_MS: '800' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let out = '';
      let err = '';
      child.stdout.on('data', (c) => (out += c));
      child.stderr.on('data', (c) => (err += c));
      const running = JSON.parse(await until('the worker to start the job', () => (child.exitCode !== null ? Promise.reject(new Error(err)) : out.includes('\n') ? out : '')));
      expect(running).toMatchObject({ id: 'orphan-1', status: 'processing' });
      child.kill('SIGKILL');
      await until('the worker to die', () => child.signalCode === 'SIGKILL');
      expect(await store.get('orphan-1')).toMatchObject({ owner: 'doomed-worker', status: 'processing', active_shard: expect.any(String) });

      const rescuer = service(async (p) => `rescued ${p.input.prompt}`, { instanceId: 'i-rescuer', leaseMs: 800, heartbeatMs: 200 });
      rescuer.startRecovery(50);
      const done = await settled(rescuer, 'orphan-1');
      expect(done).toMatchObject({ status: 'succeeded', output: 'rescued survive me', logs: 'attempt 2: the previous worker stopped responding\n' });
      expect(await store.get('orphan-1')).toMatchObject({ owner: 'i-rescuer', attempt: 2 });
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stop() waits up to its bound, then releases leases so another instance takes over at once', async () => {
    const { runner, seen } = blockingRunner();
    const leaving = service(runner, { leaseMs: 60_000, heartbeatMs: 20_000 });
    const prediction = await leaving.create({ input: { n: 1 } });
    await until('runner start', () => seen.started.length === 1);
    await leaving.stop(30);
    expect(seen.aborted).toEqual(['instance shutting down']);
    const raw = await store.get(prediction.id);
    expect(raw).toMatchObject({ owner: 'i-a', attempt: 0, status: 'processing' });
    expect(raw!.lease_expires_at).toBeLessThanOrEqual(Date.now());
    await expect(leaving.create({ input: {} })).rejects.toMatchObject({ status: 503, code: 'unavailable' });

    const next = service(async () => 'finished elsewhere', { instanceId: 'i-next' });
    next.startRecovery(60_000); // only the immediate first pass: a 60 s lease would otherwise block it
    expect(await settled(next, prediction.id)).toMatchObject({ status: 'succeeded', output: 'finished elsewhere', logs: '' });
  });

  it('gives up on a job whose workers keep dying', async () => {
    const now = Date.now();
    await store.create({ id: 'poison', input: '{}', status: 'processing', created_at: new Date(now).toISOString(), active_shard: '0', owner: 'gone', lease_expires_at: now - 1, attempt: 3 });
    const calls: string[] = [];
    const s = service(async (p) => calls.push(p.id));
    s.startRecovery(20);
    expect(await settled(s, 'poison')).toMatchObject({ status: 'failed', error: 'abandoned: its worker stopped responding 3 times' });
    expect(calls).toEqual([]);
  });
});

describe('webhooks', () => {
  it('POSTs the completed prediction, retrying a failed delivery without blocking the job', async () => {
    const received: Prediction[] = [];
    let failures = 1;
    const hook = createServer((req: IncomingMessage, res: ServerResponse) => {
      let body = '';
      req.on('data', (c) => (body += c)).on('end', () => {
        const p = JSON.parse(body) as Prediction;
        if (p.status === 'succeeded' && failures-- > 0) {
          res.writeHead(503).end();
          return;
        }
        received.push(p);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook?token=abc`;
      const s = service(async () => 'out');
      const prediction = await s.create({ input: {}, webhook: url, webhook_events_filter: ['start', 'completed'] }, 10_000);
      expect(prediction.status).toBe('succeeded'); // returned before the retried webhook landed
      await until('webhook delivery', () => received.length === 1);
      expect(received).toEqual([prediction]); // only completion fires

      received.length = 0;
      await s.create({ input: {}, webhook: url, webhook_events_filter: ['start'] }, 10_000); // completed filtered out
      const quiet = await s.create({ input: {}, webhook: url }, 10_000); // default filter: completed
      await until('webhook delivery', () => received.length === 1);
      expect(received[0]).toMatchObject({ id: quiet.id, status: 'succeeded' });

      const { runner, seen } = blockingRunner();
      const blocked = await service(runner, { instanceId: 'i-b' }).create({ input: {}, webhook: url });
      await until('runner start', () => seen.started.length === 1);
      await s.cancel(blocked.id); // canceled from the other instance: the canceler sends "completed"
      await until('webhook delivery', () => received.length === 2);
      expect(received[1]).toMatchObject({ id: blocked.id, status: 'canceled' });
      expect(errors).toEqual([]);
    } finally {
      await new Promise((r) => hook.close(r));
    }
  });
});

describe('bad input', () => {
  const s = () => service(async () => null);
  // [what, request, message, code, status]
  const cases: Array<[string, unknown, RegExp | string, string, number?]> = [
    ['a malformed id', { id: 'has space', input: {} }, 'id must be 1-64 of A-Z a-z 0-9 _ -, got "has space"', 'invalid_request'],
    ['a too long id', { id: 'x'.repeat(65), input: {} }, /^id must be 1-64 of A-Z a-z 0-9 _ -, got "x+"$/, 'invalid_request'],
    ['a numeric id', { id: 7, input: {} }, "'id' must be string, got number", 'invalid_type'],
    ['a missing input', {}, "'input' must be object, got missing", 'invalid_type'],
    ['an array input', { input: [1] }, "'input' must be object, got array", 'invalid_type'],
    ['a null input', { input: null }, "'input' must be object, got null", 'invalid_type'],
    ['a string input', { input: 'hi' }, "'input' must be object, got string", 'invalid_type'],
    ['a numeric model', { model: 3, input: {} }, "'model' must be string, got number", 'invalid_type'],
    ['a non-http webhook', { input: {}, webhook: 'ftp://x/y' }, 'webhook must be an http(s) URL of at most 2048 characters, got "ftp://x/y"', 'invalid_request'],
    ['a numeric webhook', { input: {}, webhook: 42 }, "'webhook' must be string, got number", 'invalid_type'],
    ['a relative webhook', { input: {}, webhook: '/hook' }, 'webhook must be an http(s) URL of at most 2048 characters, got "/hook"', 'invalid_request'],
    ['an overlong webhook', { input: {}, webhook: `https://h/${'a'.repeat(2048)}` }, /^webhook must be an http\(s\) URL of at most 2048 characters, got "https:\/\/h\/a{89}"$/, 'invalid_request'],
    ['a metadata-service webhook', { input: {}, webhook: 'http://169.254.169.254/latest' }, 'webhook host 169.254.169.254 is not allowed (link-local)', 'invalid_request'],
    ['a webhook filter that is no list', { input: {}, webhook_events_filter: 'completed' }, "'webhook_events_filter' must be array, got string", 'invalid_type'],
    ['an input over the size cap', { input: { blob: 'x'.repeat(MAX_INPUT_BYTES) } }, `input of ${MAX_INPUT_BYTES + 11} bytes exceeds the limit of ${MAX_INPUT_BYTES}`, 'too_large', 413],
  ];
  it.each(cases)('rejects %s', async (_name, req, msg, code, status = 422) => {
    const err = await s().create(req as any).catch((e) => e);
    expect(err).toMatchObject({ status, code });
    if (typeof msg === 'string') expect(err.message).toBe(msg);
    else expect(err.message).toMatch(msg);
  });
});
