// Every kind of bad input gets the right 4xx with an OpenAI-shaped error, and the worker keeps serving.
import { call, Gateway, openaiError, rawRequest, startGateway } from '../gateway-harness';

let gw: Gateway;
const chat = { model: 'sim-llm', messages: [{ role: 'user', content: 'hello' }] };

beforeAll(async () => {
  gw = await startGateway({ MAX_BODY_BYTES: '2048', HEADERS_TIMEOUT_MS: '300', REQUEST_TIMEOUT_MS: '300' });
});
afterAll(() => gw.close(1000));
afterEach(async () => {
  // The worker survived whatever the test sent.
  expect((await call(gw.url, '/healthz')).status).toBe(200);
  expect((await call(gw.url, '/v1/chat/completions', { body: chat })).status).toBe(200);
});

it('malformed JSON → 400 invalid_body naming the parse error', async () => {
  const e = openaiError(await call(gw.url, '/v1/chat/completions', { body: '{"model": "sim-llm",' }), 400);
  expect(e).toMatchObject({ type: 'invalid_request_error', code: 'invalid_body' });
  expect(e.message).toMatch(/^invalid JSON: /);
});

it.each([
  ['an array', '[1,2]'],
  ['a string', '"hi"'],
  ['null', 'null'],
  ['an empty body', ''],
])('a body that is %s → 400', async (_what, body) => {
  expect(openaiError(await call(gw.url, '/v1/chat/completions', { body }), 400).code).toBe('invalid_body');
});

it.each([
  ['model', { ...chat, model: 42 }, "'model' must be string, got number"],
  ['model', { messages: chat.messages }, "'model' must be string, got missing"],
  ['messages', { ...chat, messages: 'hello' }, "'messages' must be array, got string"],
  ['messages', { model: 'sim-llm' }, "'messages' must be array, got missing"],
  ['messages', { ...chat, messages: [{ content: 'no role' }] }, "each message needs a string 'role'"],
  ['stream', { ...chat, stream: 'yes' }, "'stream' must be boolean, got string"],
  ['max_tokens', { ...chat, max_tokens: '5' }, "'max_tokens' must be number, got string"],
  ['temperature', { ...chat, temperature: [0] }, "'temperature' must be number, got array"],
  ['stream_options', { ...chat, stream_options: true }, "'stream_options' must be object, got boolean"],
])('wrong type of %s → 400 with param', async (param, body, message) => {
  expect(openaiError(await call(gw.url, '/v1/chat/completions', { body }), 400)).toMatchObject({ param, message, type: 'invalid_request_error' });
});

it('wrong types on /v1/completions and /v1/embeddings', async () => {
  expect(openaiError(await call(gw.url, '/v1/completions', { body: { model: 'sim-llm', prompt: 7 } }), 400).message).toBe("'prompt' must be string or array, got number");
  expect(openaiError(await call(gw.url, '/v1/embeddings', { body: { model: 'sim-llm' } }), 400).param).toBe('input');
});

it('unknown model → 404 model_not_found', async () => {
  const e = openaiError(await call(gw.url, '/v1/chat/completions', { body: { ...chat, model: 'gpt-9' } }), 404);
  expect(e).toMatchObject({ code: 'model_not_found', param: 'model' });
  expect(e.message).toContain("'gpt-9'");
});

it('oversize body → 413, whether declared by content-length or streamed chunked', async () => {
  const big = JSON.stringify({ ...chat, messages: [{ role: 'user', content: 'x'.repeat(4096) }] });
  expect(openaiError(await call(gw.url, '/v1/chat/completions', { body: big }), 413).code).toBe('request_too_large');
  const chunked = await rawRequest(gw.url, `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${(3000).toString(16)}\r\n${'x'.repeat(3000)}\r\n0\r\n\r\n`);
  expect(chunked).toMatch(/^HTTP\/1.1 413 /);
  expect(JSON.parse(chunked.slice(chunked.indexOf('\r\n\r\n') + 4)).error.code).toBe('request_too_large');
});

it('invalid UTF-8 → 400', async () => {
  const body = Buffer.concat([Buffer.from('{"model":"sim-llm","messages":[{"role":"user","content":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}]}')]);
  expect(openaiError(await call(gw.url, '/v1/chat/completions', { body }), 400).message).toBe('request body is not valid UTF-8');
});

it('a client too slow with its headers → 408 with an OpenAI error, then the connection closes', async () => {
  const reply = await rawRequest(gw.url, 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n');
  expect(reply).toMatch(/^HTTP\/1.1 408 Request Timeout\r\n/);
  expect(JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4)).error).toMatchObject({ type: 'invalid_request_error', code: 'ERR_HTTP_REQUEST_TIMEOUT' });
});

it('a malformed request line → 400 with an OpenAI error', async () => {
  const reply = await rawRequest(gw.url, 'THIS IS NOT HTTP\r\n\r\n');
  expect(reply).toMatch(/^HTTP\/1.1 400 Bad Request\r\n/);
  expect(JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4)).error.type).toBe('invalid_request_error');
});

it('unknown route → 404', async () => {
  expect(openaiError(await call(gw.url, '/v1/nothing'), 404)).toMatchObject({ code: 'not_found', message: 'no route GET /v1/nothing' });
});

it('wrong method → 405 with Allow', async () => {
  const r = await call(gw.url, '/v1/chat/completions');
  expect(openaiError(r, 405).code).toBe('method_not_allowed');
  expect(r.headers.get('allow')).toBe('POST');
  expect((await call(gw.url, '/predictions/abc', { method: 'DELETE' })).headers.get('allow')).toBe('PUT, GET');
});

it('echoes a sane x-request-id and logs one JSON line per request', async () => {
  const r = await call(gw.url, '/v1/chat/completions', { body: chat, headers: { 'x-request-id': 'trace-123' } });
  expect(r.headers.get('x-request-id')).toBe('trace-123');
  const bogus = await call(gw.url, '/healthz', { headers: { 'x-request-id': 'has spaces' } });
  expect(bogus.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  expect(gw.logs.find((l) => l.request_id == 'trace-123')).toMatchObject({ route: '/v1/chat/completions', status: 200, model: 'sim-llm', cache_hit: false });
});
