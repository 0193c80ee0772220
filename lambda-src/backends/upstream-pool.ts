// OpenAI-compatible upstreams (vLLM, TGI, llama.cpp, Ollama...) behind one call: least-outstanding choice,
// retries with jittered backoff on connect errors, timeouts, 429 and 5xx, and a cooldown for failing upstreams.
import { HttpError, httpError } from '../http/errors';
import { sleep } from '../util';
import type { FetchLike } from './simulator';

export interface PoolOptions {
  urls: string[];
  /** Sent as `Authorization: Bearer`. */
  apiKey?: string;
  /** Longest silence (before headers, or between body bytes) before an attempt fails. */
  timeoutMs: number;
  maxRetries: number;
  /** How long an upstream that failed gets no traffic while others are available. */
  cooldownMs: number;
  /** @default globalThis.fetch */
  fetch?: FetchLike;
  onRetry?: () => void;
}

export interface Model {
  id: string;
  object: string;
  created: number;
  owned_by: string;
}

export type Pool = ReturnType<typeof upstreamPool>;

export function upstreamPool(o: PoolOptions) {
  const get = o.fetch ?? (fetch as FetchLike);
  const ups = o.urls.map((url) => ({ url: url.replace(/\/+$/, ''), out: 0, until: 0 }));
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (o.apiKey) headers.authorization = 'Bearer ' + o.apiKey;
  let rr = 0, cached: Model[] | undefined, at = 0;

  return {
    /**
     * POSTs `body` to `path` and hands the response to `consume` (status < 500 and not 429). Failures before
     * that are retried; once `consume` runs nothing is (bytes may have reached the client). A body that
     * stalls for timeoutMs errors with a 504 HttpError.
     */
    async call<T>(path: string, body: string, signal: AbortSignal, consume: (res: Response) => Promise<T>): Promise<T> {
      for (let attempt = 0; ; attempt++) {
        // The fewest requests in flight among upstreams not cooling down (round robin among equals).
        const live = ups.filter((u) => u.until <= Date.now());
        const pool = live.length ? live : ups;
        let u = pool[rr++ % pool.length];
        for (const x of pool) if (x.out < u.out) u = x;
        const idle = new AbortController();
        let timer: NodeJS.Timeout | undefined, why: HttpError, wait = 0, consuming = false;
        const quiet = () => {
          clearTimeout(timer);
          timer = setTimeout(() => idle.abort(httpError(504, `upstream ${u.url} sent nothing for ${o.timeoutMs} ms`, 'upstream_timeout')), o.timeoutMs);
        };
        quiet();
        u.out++;
        try {
          const res = await get(u.url + path, { method: 'POST', headers, body, signal: AbortSignal.any([signal, idle.signal]) });
          if (res.status != 429 && res.status < 500) {
            consuming = true;
            return await consume(new Response(res.body?.pipeThrough(new TransformStream({ transform: (c, ctl) => (quiet(), ctl.enqueue(c)) })), res));
          }
          await res.arrayBuffer().catch(() => 0);
          why = httpError(502, `upstream ${u.url} answered ${res.status}`, 'upstream_error');
          wait = +res.headers.get('retry-after')! * 1000 || 0;
          if (res.status > 499) u.until = Date.now() + o.cooldownMs;
        } catch (e: any) {
          // Errors from consume, and the client going away, end the request here.
          if (consuming || signal.aborted) throw e;
          why = e?.status ? e : httpError(502, `upstream ${u.url} unreachable: ${e.cause?.message ?? e.message}`, 'upstream_error');
          u.until = Date.now() + o.cooldownMs;
        } finally {
          clearTimeout(timer);
          u.out--;
        }
        if (attempt >= o.maxRetries) throw httpError(why.status, `${why.message} (${attempt + 1} attempts)`, why.code);
        o.onRetry?.();
        // Full jitter; retry-after is honoured up to 10 s, beyond that the client is better told.
        await sleep(Math.min(1e4, Math.max(wait, Math.random() * 100 * 2 ** attempt)), 0, { signal });
      }
    },

    /** The model list of the first upstream that answers, cached for a minute (`fresh` asks again). */
    async models(fresh?: boolean): Promise<Model[]> {
      if (fresh || !cached || Date.now() - at > 6e4) {
        for (const u of ups) {
          try {
            const r = await get(u.url + '/v1/models', { headers, signal: AbortSignal.timeout(2000) });
            if (r.ok) return (at = Date.now()), (cached = ((await r.json()) as { data: Model[] }).data);
          } catch {
            // next upstream
          }
        }
        if (fresh || !cached) throw httpError(502, 'no upstream answered GET /v1/models', 'upstream_error');
      }
      return cached;
    },
  };
}
