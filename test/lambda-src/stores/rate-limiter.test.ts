import { rateLimiter } from '../../../lambda-src/stores/rate-limiter';
import { RedisClient } from '../../../lambda-src/stores/redis';
import { RedisServer, startRedis } from '../../support/redis-server';
import { waitFor } from '../../support/wait';

/** Windows are aligned to the clock: start a multi-step test early in one, so it cannot straddle a boundary. */
async function earlyInWindow(_redis: RedisClient, windowSeconds: number) {
  const left = windowSeconds - ((Date.now() / 1000) % windowSeconds);
  if (left < 0.5) await new Promise((r) => setTimeout(r, left * 1000 + 20));
}

describe('RateLimiter on Redis', () => {
  let server: RedisServer;
  // Two clients = two gateway instances sharing one Redis.
  let a: RedisClient;
  let b: RedisClient;

  beforeAll(async () => {
    server = await startRedis();
    a = new RedisClient({ url: server.url });
    b = new RedisClient({ url: server.url });
  });
  beforeEach(() => earlyInWindow(a, 60));
  afterAll(async () => {
    await a.close();
    await b.close();
    await server.stop();
  });

  it('allows N requests per window across instances and refuses request N+1', async () => {
    const one = rateLimiter(a, 5, 0, 'rpm:'), two = rateLimiter(b, 5, 0, 'rpm:');
    const decisions = [];
    for (let i = 0; i < 6; i++) decisions.push(await (i % 2 ? two : one).check('key-1', 10));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, true, false]);
    expect(decisions.map((d) => d.headers['x-ratelimit-remaining-requests'])).toEqual([4, 3, 2, 1, 0, 0]);
    // Only the limit that is set is advertised (tpm 0 = unlimited).
    expect(decisions[5]).toEqual({ allowed: false, degraded: false, reset: expect.any(Number), headers: { 'x-ratelimit-limit-requests': 5, 'x-ratelimit-remaining-requests': 0, 'x-ratelimit-reset-requests': `${decisions[5].reset}s` } });
    expect(decisions[5].reset).toBeGreaterThan(0);
    expect(decisions[5].reset).toBeLessThanOrEqual(60);
    expect(one.stats.limited + two.stats.limited).toBe(1);
    // Other keys have their own budget.
    expect((await one.check('key-2', 0)).allowed).toBe(true);
  });

  it('counts concurrent checks atomically', async () => {
    const limiters = [rateLimiter(a, 20, 0, 'conc:'), rateLimiter(b, 20, 0, 'conc:')];
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => limiters[i % 2].check('k', 1)));
    expect(results.filter((r) => r.allowed)).toHaveLength(20);
  });

  it('refuses a request whose estimated tokens do not fit what record() has used', async () => {
    const limiter = rateLimiter(a, 0, 1000, 'tpm:');
    expect(await limiter.check('k', 400)).toMatchObject({ allowed: true, headers: { 'x-ratelimit-remaining-tokens': 1000, 'x-ratelimit-limit-tokens': 1000 } });
    await limiter.record('k', 700);
    await rateLimiter(b, 0, 1000, 'tpm:').record('k', 100.2); // rounded up to 101
    expect(await limiter.check('k', 199)).toMatchObject({ allowed: true, headers: { 'x-ratelimit-remaining-tokens': 199 } });
    expect(await limiter.check('k', 200)).toMatchObject({ allowed: false, headers: { 'x-ratelimit-remaining-tokens': 199 } });
    expect(limiter.stats).toEqual({ limited: 1, errors: 0 });
  });

  it('gives every key it writes a TTL (volatile-lru never evicts keys without one)', async () => {
    const limiter = rateLimiter(a, 10, 100, 'ttl:');
    await limiter.check('k', 1);
    await limiter.record('fresh', 5); // record() alone creates the key too
    const keys: string[] = await a.command(['KEYS', 'ttl:*']);
    expect(keys).toHaveLength(2); // k's request counter, fresh's token counter
    for (const k of keys) {
      const ttl = await a.command(['TTL', k]);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60);
    }
  });

  it('starts a fresh budget in the next window', async () => {
    const limiter = rateLimiter(a, 2, 0, 'win:', 1);
    await earlyInWindow(a, 1);
    await limiter.check('k', 0);
    await limiter.check('k', 0);
    const denied = await limiter.check('k', 0);
    expect(denied).toMatchObject({ allowed: false, reset: 1, headers: { 'x-ratelimit-reset-requests': '1s' } });
    await waitFor('the next 1 s window', async () => (await limiter.check('k', 0)).allowed, 3000);
  });

  it('does not touch Redis when unlimited', async () => {
    const limiter = rateLimiter(undefined, 0, 0);
    expect(await limiter.check('k', 1e9)).toEqual({
      allowed: true, reset: expect.any(Number), headers: {}, degraded: false,
    });
    await limiter.record('k', 5);
  });

  it('fails open, degraded, without Redis configured', async () => {
    const limiter = rateLimiter(undefined, 1, 10);
    expect(await limiter.check('k', 0)).toMatchObject({ allowed: true, degraded: true, headers: { 'x-ratelimit-remaining-requests': 1, 'x-ratelimit-remaining-tokens': 10 } });
    expect(await limiter.check('k', 0)).toMatchObject({ allowed: true, degraded: true });
    await limiter.record('k', 5);
    expect(limiter.stats).toEqual({ limited: 0, errors: 0 });
  });

  it('fails open, degraded, and counts errors when Redis is down', async () => {
    const own = await startRedis();
    const client = new RedisClient({ url: own.url });
    const limiter = rateLimiter(client, 1, 0);
    expect((await limiter.check('k', 0)).allowed).toBe(true);
    expect((await limiter.check('k', 0)).allowed).toBe(false);
    await own.stop();
    expect(await limiter.check('k', 0)).toMatchObject({ allowed: true, degraded: true, headers: { 'x-ratelimit-remaining-requests': 1 } });
    await limiter.record('k', 10); // tpm 0: nothing to record, no call
    expect(limiter.stats).toEqual({ limited: 1, errors: 1 });
    const tokens = rateLimiter(client, 0, 10);
    await expect(tokens.record('k', 10)).resolves.toBeUndefined();
    expect(tokens.stats.errors).toBe(1);
    await client.close();
  });
});
