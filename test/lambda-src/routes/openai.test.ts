// The OpenAI routes against a simulated upstream over HTTP and a real redis-server.
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RedisServer, startRedis } from '../../support/redis-server';
import { SimulatedUpstream, startSimulatedUpstream } from '../../support/simulated-upstream';
import { call, frames, Gateway, openaiError, startGateway } from '../gateway-harness';

let redis: RedisServer;
let up: SimulatedUpstream;
let gw: Gateway;
const chat = (content: string, extra: object = {}) => ({ model: 'sim-llm', messages: [{ role: 'user', content }], ...extra });

beforeAll(async () => {
  [redis, up] = await Promise.all([startRedis(), startSimulatedUpstream({ models: ['sim-llm', 'other'] })]);
  gw = await startGateway({ UPSTREAM_URLS: up.url, REDIS_URL: redis.url, UPSTREAM_TIMEOUT_MS: '300', UPSTREAM_MAX_RETRIES: '1' });
});
afterAll(async () => {
  await gw.close(1000);
  await Promise.all([up.stop(), redis.stop()]);
});

it('proxies chat completions, completions and embeddings in OpenAI shape', async () => {
  const c = await call(gw.url, '/v1/chat/completions', { body: chat('hi', { max_tokens: 3 }) });
  expect(c.status).toBe(200);
  expect(c.json).toMatchObject({ object: 'chat.completion', choices: [{ message: { role: 'assistant' } }], usage: { completion_tokens: 3 } });
  expect((await call(gw.url, '/v1/completions', { body: { model: 'sim-llm', prompt: 'hi' } })).json.object).toBe('text_completion');
  expect((await call(gw.url, '/v1/embeddings', { body: { model: 'sim-llm', input: 'hi' } })).json.data[0].object).toBe('embedding');
  expect(gw.logs.at(-1)).toMatchObject({ route: '/v1/embeddings', status: 200, model: 'sim-llm', cache_hit: false, latency_ms: expect.any(Number) });
});

it('lists the upstream models, labelled as the upstream labels them', async () => {
  const r = await call(gw.url, '/v1/models');
  expect(r.json).toEqual({ object: 'list', data: ['sim-llm', 'other'].map((id) => ({ id, object: 'model', created: 0, owned_by: 'simulator' })) });
});

it('streams server-sent events ending with [DONE]; usage only when include_usage asks', async () => {
  const r = await call(gw.url, '/v1/chat/completions', { body: chat('stream', { stream: true, max_tokens: 4 }) });
  expect(r.headers.get('content-type')).toBe('text/event-stream');
  expect(r.text.endsWith('data: [DONE]\n\n')).toBe(true);
  const f = frames(r.text);
  expect(f).toHaveLength(5);
  expect(f.slice(0, -1).every((x) => JSON.parse(x).object == 'chat.completion.chunk' && !JSON.parse(x).usage)).toBe(true);
  // The gateway always asks upstream for usage (token limits, metrics) ...
  expect(up.lastBody!.stream_options).toEqual({ include_usage: true });
  const withUsage = frames((await call(gw.url, '/v1/chat/completions', { body: chat('stream', { stream: true, max_tokens: 4, stream_options: { include_usage: true } }) })).text);
  expect(withUsage).toHaveLength(6);
  expect(JSON.parse(withUsage[4])).toMatchObject({ choices: [], usage: { completion_tokens: 4 } });
  expect(gw.logs.at(-1)).toMatchObject({ completion_tokens: 4, ttft_ms: expect.any(Number) });
});

it('passes multimodal content parts through untouched', async () => {
  const content = [
    { type: 'text', text: 'what is this?' },
    { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=', detail: 'low' } },
  ];
  expect((await call(gw.url, '/v1/chat/completions', { body: chat('', { messages: [{ role: 'user', content }] }) })).status).toBe(200);
  expect(up.lastBody!.messages).toEqual([{ role: 'user', content }]);
});

it('answers the second identical deterministic request from the cache, whatever the key order', async () => {
  const before = up.requests;
  const first = await call(gw.url, '/v1/chat/completions', { body: chat('cache me', { temperature: 0, max_tokens: 2 }) });
  const second = await call(gw.url, '/v1/chat/completions', { body: { max_tokens: 2, temperature: 0, messages: [{ content: 'cache me', role: 'user' }], model: 'sim-llm' } });
  expect([first.headers.get('x-cache'), second.headers.get('x-cache')]).toEqual(['miss', 'hit']);
  expect(second.text).toBe(first.text);
  expect(up.requests).toBe(before + 1);
  expect(gw.logs.at(-1)).toMatchObject({ cache_hit: true, prompt_tokens: first.json.usage.prompt_tokens });
  // Sampling (temperature > 0) is never cached; x-cache: bypass skips the cache.
  expect((await call(gw.url, '/v1/chat/completions', { body: chat('cache me', { temperature: 0.7, max_tokens: 2 }) })).headers.get('x-cache')).toBeNull();
  expect((await call(gw.url, '/v1/chat/completions', { body: chat('cache me', { temperature: 0, max_tokens: 2 }), headers: { 'x-cache': 'bypass' } })).headers.get('x-cache')).toBeNull();
});

it('never caches an error', async () => {
  up.setFailure(400);
  const body = chat('error first', { temperature: 0 });
  const failed = await call(gw.url, '/v1/chat/completions', { body });
  expect(openaiError(failed, 400).message).toBe('injected failure 400');
  const before = up.requests;
  const ok = await call(gw.url, '/v1/chat/completions', { body });
  expect([ok.status, ok.headers.get('x-cache'), up.requests]).toEqual([200, 'miss', before + 1]);
});

it('retries upstream 5xx, then reports a clear 502', async () => {
  up.setFailure(503);
  expect((await call(gw.url, '/v1/completions', { body: { model: 'sim-llm', prompt: 'x' } })).status).toBe(200);
  up.setFailure(500, 500);
  const e = openaiError(await call(gw.url, '/v1/completions', { body: { model: 'sim-llm', prompt: 'x' } }), 502);
  expect(e).toMatchObject({ type: 'server_error', code: 'upstream_error', message: `upstream ${up.url} answered 500 (2 attempts)` });
});

it('reports an upstream that stays silent as 504', async () => {
  up.setFailure('hang', 'hang');
  const e = openaiError(await call(gw.url, '/v1/completions', { body: { model: 'sim-llm', prompt: 'x' } }), 504);
  expect(e).toMatchObject({ code: 'upstream_timeout', message: `upstream ${up.url} sent nothing for 300 ms (2 attempts)` });
});

it('ends a stream that breaks mid-way with an error event (no retry, no [DONE])', async () => {
  up.setFailure('break');
  const before = up.requests;
  const r = await call(gw.url, '/v1/chat/completions', { body: chat('break', { stream: true }) });
  expect(r.status).toBe(200);
  const f = frames(r.text);
  expect(f.slice(0, 2).map((x) => JSON.parse(x).object)).toEqual(['chat.completion.chunk', 'chat.completion.chunk']);
  expect(JSON.parse(f[2])).toEqual({ error: { message: 'upstream response failed: terminated', type: 'server_error', param: null, code: 'upstream_error' } });
  expect(f).toHaveLength(3);
  expect(up.requests).toBe(before + 1);
});

describe('with MODEL_VERSIONS', () => {
  let pinned: Gateway;
  beforeAll(async () => (pinned = await startGateway({ UPSTREAM_URLS: up.url, MODEL_VERSIONS: 'sim-llm=2024-06-01,absent=1' })));
  afterAll(() => pinned.close(1000));

  it('serves only the listed models and tags requests with their version', async () => {
    expect((await call(pinned.url, '/v1/models')).json.data.map((m: any) => m.id)).toEqual(['sim-llm']);
    const before = up.requests;
    expect(openaiError(await call(pinned.url, '/v1/chat/completions', { body: chat('x', { model: 'other' }) }), 404).code).toBe('model_not_found');
    expect(up.requests).toBe(before);
    await call(pinned.url, '/v1/chat/completions', { body: chat('x') });
    expect(pinned.logs.at(-1)).toMatchObject({ model: 'sim-llm', model_version: '2024-06-01' });
  });
});

describe('with an upstream that misbehaves', () => {
  let odd: Server;
  let oddGw: Gateway;
  const replies: [number, string][] = [];
  beforeAll(async () => {
    odd = createServer((req, res) => {
      if (req.url == '/v1/models') return void res.end(JSON.stringify({ data: [{ id: 'sim-llm' }] }));
      const [status, body] = replies.shift()!;
      res.writeHead(status, { 'content-type': 'text/plain' }).end(body);
    });
    await new Promise<void>((r) => odd.listen(0, '127.0.0.1', r));
    oddGw = await startGateway({ UPSTREAM_URLS: `http://127.0.0.1:${(odd.address() as AddressInfo).port}` });
  });
  afterAll(async () => {
    await oddGw.close(1000);
    await new Promise((r) => odd.close(r));
  });

  it('wraps a non-OpenAI 4xx body in an OpenAI error with the same status', async () => {
    replies.push([422, 'prompt too long for this model']);
    expect(openaiError(await call(oddGw.url, '/v1/completions', { body: { model: 'sim-llm', prompt: 'x' } }), 422)).toMatchObject({ code: 'upstream_error', message: 'upstream answered 422: prompt too long for this model' });
  });

  it('turns a 200 that is not JSON into a 502', async () => {
    replies.push([200, '<html>proxy error</html>']);
    expect(openaiError(await call(oddGw.url, '/v1/completions', { body: { model: 'sim-llm', prompt: 'x' } }), 502).message).toBe('upstream sent invalid JSON');
  });
});
