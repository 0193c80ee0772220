// Bearer API keys, stored only as SHA-256 digests, and per-key request/token limits shared through Redis.
import { httpError } from './http/errors';
import type { Ctx } from './http/router';
import type { RateLimiter } from './stores/rate-limiter';
import { sha, timingSafeEqual } from './util';

/** `Authorization: Bearer <key>` → the key's id; 401 otherwise. Every digest is compared, in constant time. */
export function authenticator(keys: { id: string; hash: string }[]) {
  const table = keys.map((k) => [k.id, Buffer.from(k.hash, 'hex')] as const);
  return (header = '') => {
    const key = /^Bearer +(\S+)$/i.exec(header)?.[1];
    const digest = key && sha(key);
    let id;
    if (digest) for (const [k, h] of table) if (timingSafeEqual(digest, h)) id = k;
    if (!id) throw httpError(401, header ? 'invalid API key' : 'missing API key: send "Authorization: Bearer <key>"', 'invalid_api_key');
    return id;
  };
}

/** Counts one request (and checks `tokens` fit) in the caller's per-minute windows: x-ratelimit-* headers, 429 when over. */
export async function rateLimit(limiter: RateLimiter, c: Ctx, tokens: number): Promise<void> {
  const { allowed, reset, headers } = await limiter.check(c.m.key_id!, tokens);
  for (const k in headers) c.res.setHeader(k, headers[k]);
  if (!allowed) throw httpError(429, `rate limit reached for ${c.m.key_id}; retry in ${reset} s`, 'rate_limit_exceeded', undefined, { 'retry-after': '' + reset });
}
