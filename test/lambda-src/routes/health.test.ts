import { RedisServer, startRedis } from '../../support/redis-server';
import { SimulatedUpstream, startSimulatedUpstream } from '../../support/simulated-upstream';
import { call, Gateway, metric, openaiError, startGateway } from '../gateway-harness';

let redis: RedisServer;
let up: SimulatedUpstream;
let gw: Gateway;

beforeAll(async () => {
  [redis, up] = await Promise.all([startRedis(), startSimulatedUpstream()]);
  gw = await startGateway({ UPSTREAM_URLS: up.url, REDIS_URL: redis.url, AUTH: 'required', API_KEY_HASHES: 'a'.repeat(64) });
});
afterAll(async () => {
  await gw.close(1000);
  await Promise.all([up.stop(), redis.stop()]);
});

it('/healthz answers without calling any dependency or needing a key', async () => {
  const before = up.requests;
  expect(await call(gw.url, '/healthz')).toMatchObject({ status: 200, json: { status: 'ok' } });
  expect(up.requests).toBe(before);
});

it('/readyz is ready when an upstream and the cache answer, and says which one does not', async () => {
  expect((await call(gw.url, '/readyz')).json).toEqual({ status: 'ready', upstream: true, cache: true });
  await redis.stop();
  expect(await call(gw.url, '/readyz')).toMatchObject({ status: 503, json: { status: 'unavailable', upstream: true, cache: false } });
  await redis.restart();
  const down = await startGateway({ UPSTREAM_URLS: 'http://127.0.0.1:9', REDIS_URL: redis.url });
  expect(await call(down.url, '/readyz')).toMatchObject({ status: 503, json: { upstream: false, cache: true } });
  await down.close(1000);
});

it('/metrics serves Prometheus text to direct scrapes, not through the load balancer', async () => {
  await call(gw.url, '/v1/models');
  const r = await call(gw.url, '/metrics');
  expect(r.headers.get('content-type')).toBe('text/plain; version=0.0.4');
  expect(r.text).toMatch(/^# TYPE /);
  expect(await metric(gw.url, 'gateway_requests_total{route="/v1/models",status="401",model=""}')).toBe(1);
  expect(openaiError(await call(gw.url, '/metrics', { headers: { 'x-forwarded-for': '203.0.113.9' } }), 403).code).toBe('forbidden');
});
