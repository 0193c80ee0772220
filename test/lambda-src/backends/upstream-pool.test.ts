import { upstreamPool, PoolOptions } from '../../../lambda-src/backends/upstream-pool';
import { freePort } from '../../support/free-port';
import { SimulatedUpstream, startSimulatedUpstream } from '../../support/simulated-upstream';

const ups: SimulatedUpstream[] = [];
const upstream = async (opts = {}) => {
  const u = await startSimulatedUpstream(opts);
  ups.push(u);
  return u;
};
afterEach(async () => {
  await Promise.all(ups.splice(0).map((u) => u.stop()));
});

const body = JSON.stringify({ model: 'sim-llm', prompt: 'hello', max_tokens: 2 });
function pool(urls: string[], opts: Partial<PoolOptions> = {}) {
  const retries: number[] = [];
  const p = upstreamPool({ urls, timeoutMs: 2000, maxRetries: 2, cooldownMs: 60_000, onRetry: () => retries.push(1), ...opts });
  const complete = (signal = new AbortController().signal) => p.call('/v1/completions', body, signal, async (r) => ({ status: r.status, json: (await r.json()) as any }));
  return { ...p, complete, retries };
}

it('sends each request to the upstream with the fewest in flight', async () => {
  const [a, b] = [await upstream({ ttftMs: 200 }), await upstream({ ttftMs: 200 })];
  const p = pool([a.url, b.url]);
  await Promise.all([1, 2, 3, 4].map(() => p.complete()));
  expect([a.requests, b.requests]).toEqual([2, 2]);
});

it('retries a 5xx with backoff and succeeds', async () => {
  const a = await upstream();
  a.setFailure(503, 500);
  const p = pool([a.url]);
  expect((await p.complete()).status).toBe(200);
  expect([a.requests, p.retries.length]).toEqual([3, 2]);
});

it('retries 429 (honouring retry-after) but passes other 4xx straight through', async () => {
  const a = await upstream();
  a.setFailure(429);
  const p = pool([a.url]);
  expect((await p.complete()).status).toBe(200);
  a.setFailure(400);
  const r = await p.complete();
  expect(r.status).toBe(400);
  expect(r.json.error.message).toBe('injected failure 400');
  expect(a.requests).toBe(3);
});

it('gives up after maxRetries with a clear 502', async () => {
  const a = await upstream();
  a.setFailure(500, 502, 503);
  const err = await pool([a.url]).complete().catch((e) => e);
  expect(err).toMatchObject({ status: 502, code: 'upstream_error', message: `upstream ${a.url} answered 503 (3 attempts)` });
});

it('times out a silent upstream, retries, then fails with 504', async () => {
  const a = await upstream();
  a.setFailure('hang', 'hang');
  const err = await pool([a.url], { timeoutMs: 150, maxRetries: 1 }).complete().catch((e) => e);
  expect(err).toMatchObject({ status: 504, code: 'upstream_timeout', message: `upstream ${a.url} sent nothing for 150 ms (2 attempts)` });
  a.setFailure('hang');
  expect((await pool([a.url], { timeoutMs: 150 }).complete()).status).toBe(200);
});

it('routes around an unreachable upstream and cools it down', async () => {
  const dead = `http://127.0.0.1:${await freePort()}`;
  const live = await upstream();
  const p = pool([dead, live.url]);
  for (let i = 0; i < 4; i++) expect((await p.complete()).status).toBe(200);
  // One connection error at most: then the dead upstream cools down and gets nothing.
  expect(p.retries.length).toBeLessThanOrEqual(1);
  expect(live.requests).toBe(4);
  const only = await pool([dead], { maxRetries: 0 }).complete().catch((e) => e);
  expect(only.message).toMatch(/^upstream http:\/\/127\.0\.0\.1:\d+ unreachable: connect ECONNREFUSED/);
});

it('never retries once the response is being consumed', async () => {
  const a = await upstream();
  a.setFailure('break');
  const p = pool([a.url]);
  const stream = JSON.stringify({ model: 'sim-llm', prompt: 'x', stream: true });
  const err = await p.call('/v1/completions', stream, new AbortController().signal, (r) => r.text()).catch((e) => e);
  expect(err).toMatchObject({ message: 'terminated' });
  expect([a.requests, p.retries.length]).toEqual([1, 0]);
});

it('fails a body that stalls longer than timeoutMs', async () => {
  const a = await upstream({ ttftMs: 0, itlMs: 400 });
  const stream = JSON.stringify({ model: 'sim-llm', prompt: 'x', stream: true, max_tokens: 3 });
  const err = await pool([a.url], { timeoutMs: 150 }).call('/v1/completions', stream, new AbortController().signal, (r) => r.text()).catch((e) => e);
  expect(err).toMatchObject({ status: 504, code: 'upstream_timeout' });
});

it('stops at once when the caller aborts, without retrying', async () => {
  const a = await upstream();
  a.setFailure('hang');
  const p = pool([a.url]);
  const abort = new AbortController();
  setTimeout(() => abort.abort(new Error('client went away')), 50);
  await expect(p.complete(abort.signal)).rejects.toThrow('client went away');
  expect(p.retries).toEqual([]);
});

it('lists models from the first upstream that answers, and says so when none does', async () => {
  const dead = `http://127.0.0.1:${await freePort()}`;
  const a = await upstream({ models: ['m1', 'm2'] });
  expect((await pool([dead, a.url]).models()).map((m) => m.id)).toEqual(['m1', 'm2']);
  await expect(pool([dead]).models()).rejects.toMatchObject({ status: 502, message: 'no upstream answered GET /v1/models' });
});

it('sends the API key to the upstream', async () => {
  let seen: string | undefined;
  const p = upstreamPool({
    urls: ['http://fake'],
    apiKey: 'sk-upstream',
    timeoutMs: 1000,
    maxRetries: 0,
    cooldownMs: 0,
    fetch: async (_url, init) => {
      seen = init.headers?.authorization;
      return new Response('{}');
    },
  });
  await p.call('/v1/completions', '{}', new AbortController().signal, (r) => r.text());
  expect(seen).toBe('Bearer sk-upstream');
});
