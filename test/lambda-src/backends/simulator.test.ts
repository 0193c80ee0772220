import { simulator } from '../../../lambda-src/backends/simulator';
import { frames } from '../gateway-harness';
import { SimulatedUpstream, startSimulatedUpstream } from '../../support/simulated-upstream';

const sim = simulator({ models: ['sim-a', 'sim-b'] });
const post = (path: string, body: object, signal?: AbortSignal) => sim('http://simulator' + path, { method: 'POST', body: JSON.stringify(body), signal });
const chat = (content: string, extra = {}) => post('/v1/chat/completions', { model: 'sim-a', messages: [{ role: 'user', content }], ...extra });

it('is labelled a simulator in the model list and in every completion', async () => {
  expect(await (await sim('http://simulator/v1/models', {})).json()).toEqual({
    object: 'list',
    data: ['sim-a', 'sim-b'].map((id) => ({ id, object: 'model', created: 0, owned_by: 'simulator' })),
  });
  const j: any = await (await chat('hi')).json();
  expect(j).toMatchObject({ object: 'chat.completion', model: 'sim-a', system_fingerprint: 'simulator', choices: [{ index: 0, message: { role: 'assistant' }, finish_reason: 'stop' }] });
});

it('answers deterministically per prompt, with consistent usage', async () => {
  const a1: any = await (await chat('same prompt', { max_tokens: 5 })).json();
  const a2: any = await (await chat('same prompt', { max_tokens: 5 })).json();
  const b: any = await (await chat('another prompt', { max_tokens: 5 })).json();
  expect(a1.choices[0].message.content).toBe(a2.choices[0].message.content);
  expect(a1.choices[0].message.content).not.toBe(b.choices[0].message.content);
  expect(a1.choices[0].message.content.split(' ')).toHaveLength(5);
  expect(a1.choices[0].finish_reason).toBe('length');
  expect(a1.usage).toEqual({ prompt_tokens: expect.any(Number), completion_tokens: 5, total_tokens: a1.usage.prompt_tokens + 5 });
});

it('streams chunks that concatenate to the non-streamed text, then usage when asked, then [DONE]', async () => {
  const whole: any = await (await chat('stream me', { max_tokens: 4 })).json();
  const res = await chat('stream me', { max_tokens: 4, stream: true, stream_options: { include_usage: true } });
  expect(res.headers.get('content-type')).toBe('text/event-stream');
  const f = frames(await res.text());
  expect(f.at(-1)).toBe('[DONE]');
  const chunks = f.slice(0, -1).map((x) => JSON.parse(x));
  expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
  expect(chunks.every((c) => c.object == 'chat.completion.chunk' && c.system_fingerprint == 'simulator')).toBe(true);
  expect(chunks.slice(0, 4).map((c) => c.choices[0].delta.content).join('')).toBe(whole.choices[0].message.content);
  expect(chunks[4]).toMatchObject({ choices: [], usage: whole.usage });
  const plain = frames(await (await chat('stream me', { max_tokens: 4, stream: true })).text());
  expect(plain).toHaveLength(5);
});

it('serves legacy completions and embeddings', async () => {
  const c: any = await (await post('/v1/completions', { model: 'sim-b', prompt: 'once upon', max_tokens: 3 })).json();
  expect(c).toMatchObject({ object: 'text_completion', choices: [{ text: expect.any(String), finish_reason: 'length' }], usage: { completion_tokens: 3 } });
  const e: any = await (await post('/v1/embeddings', { model: 'sim-b', input: ['a', 'b'] })).json();
  expect(e.data.map((d: any) => [d.index, d.embedding.length])).toEqual([[0, 8], [1, 8]]);
  const again: any = await (await post('/v1/embeddings', { model: 'sim-b', input: 'a' })).json();
  expect(again.data[0].embedding).toEqual(e.data[0].embedding);
});

it('refuses unknown models and paths with OpenAI-shaped 404s', async () => {
  const r = await post('/v1/chat/completions', { model: 'gpt-4', messages: [] });
  expect(r.status).toBe(404);
  expect(((await r.json()) as any).error.message).toContain('sim-a,sim-b');
  expect((await post('/v1/images', { model: 'sim-a' })).status).toBe(404);
});

it('fails at failureRate with 429, 500, 503 or a hang that ends when the caller aborts', async () => {
  const failing = simulator({ models: ['m'], failureRate: 1 });
  const seen = new Set<number | string>();
  for (let i = 0; i < 100; i++) {
    const r = await failing('http://s/v1/completions', { body: JSON.stringify({ model: 'm', prompt: 'x' }), signal: AbortSignal.timeout(20) }).then(
      (res) => res.status,
      (e) => e.name,
    );
    seen.add(r);
  }
  expect([...seen].sort()).toEqual([429, 500, 503, 'TimeoutError']);
});

describe('over HTTP', () => {
  let up: SimulatedUpstream;
  beforeAll(async () => (up = await startSimulatedUpstream({ models: ['sim-llm'] })));
  afterAll(() => up.stop());

  it('answers OpenAI requests and counts them', async () => {
    const before = up.requests;
    const r = await fetch(up.url + '/v1/chat/completions', { method: 'POST', body: JSON.stringify({ model: 'sim-llm', messages: [{ role: 'user', content: 'x' }] }) });
    expect(r.status).toBe(200);
    expect(((await r.json()) as any).system_fingerprint).toBe('simulator');
    expect(up.requests).toBe(before + 1);
  });

  it('reports a malformed body as a 400', async () => {
    const r = await fetch(up.url + '/v1/chat/completions', { method: 'POST', body: '{nope' });
    expect(r.status).toBe(400);
    expect(((await r.json()) as any).error.type).toBe('invalid_request_error');
  });
});
