import { RedisClient } from '../../../lambda-src/stores/redis';
import { cacheable, cacheKey, responseCache } from '../../../lambda-src/stores/response-cache';
import { RedisServer, startRedis } from '../../support/redis-server';

describe('cacheable', () => {
  it.each([
    [{ temperature: 0 }, undefined, true],
    [{ temperature: 0, n: 1 }, undefined, true],
    [{ temperature: 0, tools: [{ type: 'function' }] }, undefined, true],
    [{ temperature: 0, n: 2 }, undefined, false],
    [{ temperature: 0.7 }, undefined, false],
    [{}, undefined, false], // provider default temperature samples
    [{}, { 'x-cache': 'force' }, true],
    [{ temperature: 1 }, { 'x-cache': 'force' }, true],
    [{ temperature: 1, n: 3 }, { 'x-cache': 'force' }, false],
    [{ temperature: 0 }, { 'x-cache': 'bypass' }, false],
  ])('%j with headers %j → %s', (body, headers, expected) => {
    expect(cacheable(body, headers)).toBe(expected);
  });
});

describe('cacheKey', () => {
  const body = { model: 'm', temperature: 0, messages: [{ role: 'user', content: 'hi' }], response_format: { type: 'json', schema: { a: 1, b: 2 } } };
  const key = (b: Record<string, unknown>, route = '/v1/chat/completions', model = 'm', version = 'v1') => cacheKey(route, model, version, b);

  it('is a sha256 hex digest', () => {
    expect(key(body)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('ignores key order at every depth', () => {
    const reordered = { response_format: { schema: { b: 2, a: 1 }, type: 'json' }, messages: [{ content: 'hi', role: 'user' }], temperature: 0, model: 'm' };
    expect(key(reordered)).toBe(key(body));
  });

  it('ignores stream, stream_options and user', () => {
    expect(key({ ...body, stream: true, stream_options: { include_usage: true }, user: 'alice' })).toBe(key(body));
  });

  it('changes with anything that changes the output', () => {
    const base = key(body);
    expect(key({ ...body, messages: [{ role: 'user', content: 'hi!' }] })).not.toBe(base);
    expect(key({ ...body, max_tokens: 5 })).not.toBe(base);
    expect(key(body, '/v1/completions')).not.toBe(base);
    expect(key(body, undefined, 'other')).not.toBe(base);
    expect(key(body, undefined, undefined, 'v2')).not.toBe(base);
    // Array order is meaningful (message order), unlike object key order.
    expect(key({ ...body, stop: ['a', 'b'] })).not.toBe(key({ ...body, stop: ['b', 'a'] }));
  });
});

describe('responseCache on Redis', () => {
  let server: RedisServer;
  let redis: RedisClient;

  beforeAll(async () => {
    server = await startRedis();
    redis = new RedisClient({ url: server.url });
  });
  afterAll(async () => {
    await redis.close();
    await server.stop();
  });

  it('misses, stores with a TTL, then hits', async () => {
    const cache = responseCache(redis, 60, 't1:');
    const k = cacheKey('/r', 'm', 'v', { temperature: 0 });
    expect(await cache.get(k)).toBeUndefined();
    await cache.set(k, '{"choices":[]}');
    expect(await cache.get(k)).toBe('{"choices":[]}');
    expect(cache.stats).toEqual({ hits: 1, misses: 1, errors: 0 });
    const ttl = await redis.command(['TTL', 't1:' + k]);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60);
    expect(await cache.ping()).toBe(true);
  });

  it("uses the default prefix 'rc:'", async () => {
    await responseCache(redis, 5).set('abc', 'x');
    expect(await redis.command(['GET', 'rc:abc'])).toBe('x');
  });

  it('is disabled without Redis: misses silently, stores nothing, is ready', async () => {
    const cache = responseCache(undefined, 60);
    await cache.set('k', 'v');
    expect(await cache.get('k')).toBeUndefined();
    expect(cache.stats).toEqual({ hits: 0, misses: 0, errors: 0 });
    expect(await cache.ping()).toBe(true);
  });

  it('keeps answering (undefined) and counts errors while Redis is down', async () => {
    const own = await startRedis();
    const client = new RedisClient({ url: own.url });
    const cache = responseCache(client, 60);
    await cache.set('k', 'v');
    expect(await cache.get('k')).toBe('v');
    await own.stop();
    await expect(cache.get('k')).resolves.toBeUndefined();
    await expect(cache.set('k', 'v2')).resolves.toBeUndefined();
    await expect(cache.get('k')).resolves.toBeUndefined();
    expect(cache.stats).toEqual({ hits: 1, misses: 0, errors: 3 });
    expect(await cache.ping()).toBe(false);
    await client.close();
  });
});
