// Per-key request and token limits shared by every instance through Redis. One hash per key and window
// (r = requests, t = tokens), always with a TTL: the cache evicts volatile-lru, which skips keys without one.
// Time comes from Redis (TIME), so instances with skewed clocks agree on window boundaries.
import { checkInt } from './check';
import type { RedisClient } from './redis';

/** Limits of 0 mean unlimited; their `remaining*` is then 0 and should not be advertised. */
export interface RateDecision {
  allowed: boolean;
  limitRequests: number;
  remainingRequests: number;
  limitTokens: number;
  remainingTokens: number;
  resetSeconds: number;
  /** Redis unavailable: the request was let through unchecked (fail open). */
  degraded: boolean;
}

export interface RateLimiterOptions {
  /** Requests per window and key; 0 = unlimited. */
  rpm: number;
  /** Tokens per window and key; 0 = unlimited. */
  tpm: number;
  /** @default 'rl:' */
  prefix?: string;
  /** Fixed windows aligned to multiples of this (so a burst across a boundary can reach twice the limit). @default 60 */
  windowSeconds?: number;
}

// ARGV: window, rpm, tpm, tokens, mode ('c' = count a request if it fits, 'r' = add used tokens).
// Returns {allowed, requests, tokens, seconds to reset}. The TTL ends with the window.
const SCRIPT = `local t=redis.call('TIME')
local w=tonumber(ARGV[1])
local k=KEYS[1]..':'..math.floor(t[1]/w)
local x=w-t[1]%w
local e=tonumber(ARGV[4])
if ARGV[5]=='r' then redis.call('HINCRBY',k,'t',e) redis.call('EXPIRE',k,x) return 0 end
local c=redis.call('HMGET',k,'r','t')
local r=tonumber(c[1]) or 0
local q=tonumber(c[2]) or 0
local R=tonumber(ARGV[2])
local T=tonumber(ARGV[3])
local ok=(R==0 or r<R) and (T==0 or q+e<=T)
if ok then r=redis.call('HINCRBY',k,'r',1) redis.call('EXPIRE',k,x) end
return {ok and 1 or 0,r,q,x}`;

export class RateLimiter {
  readonly stats = { limited: 0, errors: 0 };
  private readonly args: number[];

  /** `redis` undefined: limits cannot be enforced; every check is allowed with `degraded: true`. */
  constructor(
    private readonly redis: RedisClient | undefined,
    private readonly opts: RateLimiterOptions,
  ) {
    const { rpm, tpm, windowSeconds: w = 60 } = opts;
    checkInt('RateLimiter', 'rpm', rpm, 0);
    checkInt('RateLimiter', 'tpm', tpm, 0);
    checkInt('RateLimiter', 'windowSeconds', w, 1);
    this.args = [w, rpm, tpm];
  }

  /**
   * Counts one request if it and `estimatedTokens` fit the window; a denied request is not counted. Tokens
   * are only added by record(), once the real usage is known. Fails open when Redis does.
   */
  async check(keyId: string, estimatedTokens: number): Promise<RateDecision> {
    const [w, rpm, tpm] = this.args;
    let r = [1, 0, 0, w], degraded = false;
    if (rpm || tpm)
      try {
        r = await this.eval(keyId, estimatedTokens, 'c');
      } catch {
        if (this.redis) this.stats.errors++;
        degraded = true;
      }
    if (!r[0]) this.stats.limited++;
    const left = (limit: number, used: number) => (limit ? Math.max(0, limit - used) : 0);
    return { allowed: !!r[0], limitRequests: rpm, remainingRequests: left(rpm, r[1]), limitTokens: tpm, remainingTokens: left(tpm, r[2]), resetSeconds: r[3], degraded };
  }

  /** Adds the tokens a request used. Never throws. */
  async record(keyId: string, tokens: number): Promise<void> {
    if (this.redis && this.args[2] && tokens > 0)
      await this.eval(keyId, Math.ceil(tokens), 'r').catch(() => {
        this.stats.errors++;
      });
  }

  /** Rejects when Redis fails or is not configured. */
  private async eval(keyId: string, tokens: number, mode: string): Promise<number[]> {
    return this.redis!.command(['EVAL', SCRIPT, 1, (this.opts.prefix ?? 'rl:') + keyId, ...this.args, tokens, mode]);
  }
}
