// Cog-style predictions through the HTTP API, on dynalite, run by the in-process simulator.
import { DynaliteServer, startDynalite } from '../../support/dynalite-server';
import { waitFor } from '../../support/wait';
import { call, Gateway, openaiError, startGateway } from '../gateway-harness';

let db: DynaliteServer;
let gw: Gateway;
let slow: Gateway;

beforeAll(async () => {
  db = await startDynalite();
  await db.createJobTable('jobs');
  const env = { DYNAMODB_TABLE: 'jobs', DYNAMODB_ENDPOINT: db.endpoint, PUBLIC_BASE_URL: 'https://api.example.com/' };
  gw = await startGateway(env);
  slow = await startGateway({ ...env, SIM_TTFT_MS: '800', PREDICTION_WAIT_MS: '100' });
});
afterAll(async () => {
  await Promise.all([gw.close(2000), slow.close(2000)]);
  await db.stop();
});

it('POST /predictions runs synchronously by default and returns the completed prediction', async () => {
  const r = await call(gw.url, '/predictions', { body: { model: 'sim-llm', input: { prompt: 'tell me', max_tokens: 3 } } });
  expect(r.status).toBe(200);
  expect(r.json).toMatchObject({ status: 'succeeded', model: 'sim-llm', input: { prompt: 'tell me', max_tokens: 3 }, output: expect.any(String), error: null });
  expect(r.json.output.split(' ')).toHaveLength(3);
  expect(r.json.urls).toEqual({ get: `https://api.example.com/predictions/${r.json.id}`, cancel: `https://api.example.com/predictions/${r.json.id}/cancel` });
  // {messages} is a chat completion; the model defaults to the first one served.
  const chat = await call(gw.url, '/predictions', { body: { input: { messages: [{ role: 'user', content: 'hi' }] } } });
  expect(chat.json).toMatchObject({ status: 'succeeded', output: expect.any(String) });
});

it('Prefer: respond-async answers 202 at once; GET follows it to completion', async () => {
  const r = await call(gw.url, '/predictions', { body: { input: { prompt: 'later' } }, headers: { prefer: 'respond-async' } });
  expect(r.status).toBe(202);
  expect(['starting', 'processing']).toContain(r.json.status);
  const done = await waitFor('the prediction', async () => {
    const g = await call(gw.url, `/predictions/${r.json.id}`);
    return g.json.status == 'succeeded' ? g : undefined;
  });
  expect(done!.json.metrics.predict_time).toEqual(expect.any(Number));
});

it('a synchronous request still running after PREDICTION_WAIT_MS gets 202 with its state', async () => {
  const r = await call(slow.url, '/predictions', { body: { input: { prompt: 'slow' } } });
  expect(r.status).toBe(202);
  expect(r.json.status).toBe('processing');
});

it('POST /predict is the always-asynchronous alias', async () => {
  const r = await call(slow.url, '/predict', { body: { input: { prompt: 'alias' } } });
  expect([r.status, typeof r.json.id]).toEqual([202, 'string']);
});

it('PUT /predictions/{id} creates idempotently and refuses a different input under the same id', async () => {
  const body = { input: { prompt: 'idempotent' } };
  const a = await call(gw.url, '/predictions/client-id-1', { method: 'PUT', body });
  const b = await call(gw.url, '/predictions/client-id-1', { method: 'PUT', body });
  expect([a.json.id, b.json.id, b.json.status]).toEqual(['client-id-1', 'client-id-1', 'succeeded']);
  const clash = await call(gw.url, '/predictions/client-id-1', { method: 'PUT', body: { input: { prompt: 'other' } } });
  expect(openaiError(clash, 409).code).toBe('conflict');
});

it('cancels a running prediction', async () => {
  const r = await call(slow.url, '/predictions', { body: { input: { prompt: 'cancel me' } }, headers: { prefer: 'respond-async' } });
  const c = await call(slow.url, `/predictions/${r.json.id}/cancel`, { method: 'POST' });
  expect([c.status, c.json.status]).toEqual([200, 'canceled']);
  expect((await call(slow.url, `/predictions/${r.json.id}`)).json.status).toBe('canceled');
});

it('reports bad input, unknown ids and failed runs clearly', async () => {
  expect(openaiError(await call(gw.url, '/predictions', { body: { input: 'not an object' } }), 422)).toMatchObject({ message: "'input' must be object, got string", param: 'input' });
  expect(openaiError(await call(gw.url, '/predictions/nope'), 404).message).toBe('prediction nope not found');
  expect(openaiError(await call(gw.url, '/predictions', { body: '{' }), 400).code).toBe('invalid_body');
  const failed = await call(gw.url, '/predictions', { body: { input: { image: 'x' } } });
  expect(failed.json).toMatchObject({ status: 'failed', error: 'input needs "prompt" or "messages"' });
});

it('is off, with a clear 404, when DYNAMODB_TABLE is not set', async () => {
  const off = await startGateway({});
  expect(openaiError(await call(off.url, '/predictions', { body: { input: {} } }), 404).message).toBe('predictions are off: DYNAMODB_TABLE is not set');
  await off.close(1000);
});
