// Per-key request and token limits shared by every instance through Redis: one counter per key, kind
// (r = requests, t = tokens) and fixed window, always with a TTL (the cache evicts volatile-lru, which skips
// keys without one). A burst across a window boundary can reach twice the limit.
import type { RedisClient } from './redis';

export interface RateDecision {
  allowed: boolean;
  /** Seconds until the window ends. */
  reset: number;
  /** OpenAI's x-ratelimit-{limit,remaining,reset}-{requests,tokens} headers, for the limits that are set (not 0). */
  headers: Record<string, string | number>;
  /** Redis unavailable: the request was let through unchecked (fail open). */
  degraded: boolean;
}

export type RateLimiter = ReturnType<typeof rateLimiter>;

/** rpm/tpm 0 = unlimited. `redis` undefined: limits cannot be enforced; every check is allowed with `degraded: true`. */
export function rateLimiter(redis: RedisClient | undefined, rpm: number, tpm: number, prefix = 'rl:', windowSeconds = 60) {
  const stats = { limited: 0, errors: 0 };
  /** The window's key prefix and the seconds left in it. */
  const window = (key: string) => {
    const s = Date.now() / 1000;
    return [`${prefix}${key}:${Math.floor(s / windowSeconds)}:`, Math.ceil(windowSeconds - (s % windowSeconds))] as const;
  };
  /** INCRBY with the window's TTL (pipelined on the one connection). */
  const add = (k: string, n: number, ttl: number) => Promise.all([redis!.command(['INCRBY', k, n]), redis!.command(['EXPIRE', k, ttl])]);
  return {
    stats,
    /**
     * Counts one request (every check counts, allowed or not) and allows it if the window's requests and
     * `estimatedTokens` plus the tokens record() added fit. Fails open when Redis does.
     */
    async check(key: string, estimatedTokens: number): Promise<RateDecision> {
      const [k, reset] = window(key);
      let requests = 0, tokens = 0, degraded = false;
      if (rpm || tpm)
        try {
          [[requests], tokens] = await Promise.all([add(k + 'r', 1, reset), redis!.command(['GET', k + 't'])]);
        } catch {
          if (redis) stats.errors++;
          degraded = true;
        }
      const allowed = degraded || ((!rpm || requests <= rpm) && (!tpm || +tokens + estimatedTokens <= tpm));
      if (!allowed) stats.limited++;
      const headers: RateDecision['headers'] = {};
      for (const [kind, limit, used] of [['requests', rpm, requests], ['tokens', tpm, +tokens]] as const) {
        if (limit) Object.assign(headers, { ['x-ratelimit-limit-' + kind]: limit, ['x-ratelimit-remaining-' + kind]: Math.max(0, limit - used), ['x-ratelimit-reset-' + kind]: reset + 's' });
      }
      return { allowed, reset, headers, degraded };
    },
    /** Adds the tokens a request used. Never throws. */
    async record(key: string, tokens: number): Promise<void> {
      const [k, reset] = window(key);
      if (redis && tpm && tokens > 0) await add(k + 't', Math.ceil(tokens), reset).catch(() => stats.errors++);
    },
  };
}
