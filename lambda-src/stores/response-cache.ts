// Exact-match cache of deterministic completions in Redis. A cache outage only costs hits: get/set never throw.
import { canon, sha } from '../util';
import type { RedisClient } from './redis';

/**
 * Only output a replay cannot tell apart from a fresh call: greedy decoding (`temperature: 0`) or the client
 * opting in with `x-cache: force`, one choice (n <= 1), and no `x-cache: bypass`. Tools are allowed: the
 * response only describes the calls; the client executes them.
 */
export function cacheable(body: Record<string, any>, headers?: { 'x-cache'?: string }): boolean {
  const h = headers?.['x-cache'];
  return h != 'bypass' && (body.n ?? 1) <= 1 && (body.temperature === 0 || h == 'force');
}

/** sha256 (hex) of route, model, version and the canonical body minus what changes transport or attribution, not output. */
export const cacheKey = (route: string, model: string, version: string, body: Record<string, unknown>): string =>
  sha(JSON.stringify([route, model, version, canon({ ...body, stream: undefined, stream_options: undefined, user: undefined })]), 'hex');

export type ResponseCache = ReturnType<typeof responseCache>;

/** `redis` undefined disables caching (get misses silently, set is a no-op, ping is ready). */
export function responseCache(redis: RedisClient | undefined, ttlSeconds: number, prefix = 'rc:') {
  const stats = { hits: 0, misses: 0, errors: 0 };
  return {
    stats,
    async get(key: string): Promise<string | undefined> {
      return redis?.command(['GET', prefix + key]).then((v) => (stats[v == null ? 'misses' : 'hits']++, v ?? undefined), () => void stats.errors++);
    },
    /** Always with a TTL: the cache runs with volatile-lru eviction, which never evicts keys without one. */
    async set(key: string, value: string): Promise<void> {
      await redis?.command(['SET', prefix + key, value, 'EX', ttlSeconds]).catch(() => stats.errors++);
    },
    /** For /readyz: true when Redis answers, or when caching is disabled (nothing to wait for). */
    ping: async (): Promise<boolean> => !redis || redis.command(['PING']).then((r) => r == 'PONG', () => false),
  };
}
