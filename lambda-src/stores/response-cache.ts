// Exact-match cache of deterministic completions in Redis. A cache outage only costs hits: get/set never throw.
import { createHash } from 'node:crypto';
import { checkInt } from './check';
import type { RedisClient } from './redis';

/** Fields that change the transport or attribution, not the generated output. */
const IGNORED = ['stream', 'stream_options', 'user'];

/** JSON with object keys sorted at every depth, so key order in the request does not matter. */
const canon = (v: any): unknown =>
  Array.isArray(v) ? v.map(canon) : v && typeof v == 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])])) : v;

export class ResponseCache {
  readonly stats = { hits: 0, misses: 0, errors: 0 };
  private readonly prefix: string;

  /** `redis` undefined disables caching (get misses silently, set is a no-op). */
  constructor(
    private readonly redis: RedisClient | undefined,
    private readonly opts: { ttlSeconds: number; prefix?: string },
  ) {
    checkInt('ResponseCache', 'ttlSeconds', opts.ttlSeconds, 1);
    this.prefix = opts.prefix ?? 'rc:';
  }

  /**
   * Only output a replay cannot tell apart from a fresh call: greedy decoding (`temperature: 0`) or the client
   * opting in with `x-cache: force`, one choice (n <= 1), and no `x-cache: bypass`. Tools are allowed: the
   * response only describes the calls; the client executes them.
   */
  static cacheable(body: Record<string, unknown>, headers?: { 'x-cache'?: string }): boolean {
    const h = headers?.['x-cache'];
    return h != 'bypass' && ((body.n ?? 1) as number) <= 1 && (body.temperature === 0 || h == 'force');
  }

  /** sha256 of route, model, version and the canonical body minus IGNORED fields (hex). */
  static key(route: string, model: string, version: string, body: Record<string, unknown>): string {
    const b = { ...body };
    for (const k of IGNORED) delete b[k];
    return createHash('sha256').update(JSON.stringify([route, model, version, canon(b)])).digest('hex');
  }

  async get(key: string): Promise<string | undefined> {
    try {
      const v = await this.redis?.command(['GET', this.prefix + key]);
      if (this.redis) v == null ? this.stats.misses++ : this.stats.hits++;
      return v ?? undefined;
    } catch {
      this.stats.errors++;
      return undefined;
    }
  }

  /** Always with a TTL: the cache runs with volatile-lru eviction, which never evicts keys without one. */
  async set(key: string, value: string): Promise<void> {
    try {
      await this.redis?.command(['SET', this.prefix + key, value, 'EX', this.opts.ttlSeconds]);
    } catch {
      this.stats.errors++;
    }
  }

  /** For /readyz: true when Redis answers, or when caching is disabled (nothing to wait for). */
  async ping(): Promise<boolean> {
    return !this.redis || (await this.redis.command(['PING']).then((r) => r == 'PONG', () => false));
  }
}
