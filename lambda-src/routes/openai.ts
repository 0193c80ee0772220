// The OpenAI API: requests are validated here, then served from the cache or proxied to the upstream pool
// (or the in-process simulator behind it) with streaming, usage and latency accounting.
import { checkTypes, readJson } from '../http/body';
import { errorBody, httpError, send } from '../http/errors';
import type { Ctx, Routes } from '../http/router';
import { events, frame, SSE_HEADERS } from '../http/sse';
import { labels, observe } from '../metrics/registry';
import { cacheable, cacheKey } from '../stores/response-cache';
import { tryJson } from '../util';
import type { Deps } from '../app';

// Field → allowed JSON types (model and the route's input field are required).
const TYPES: Record<string, string> = {
  model: 'string',
  messages: 'array',
  prompt: 'string|array',
  input: 'string|array',
  stream: 'boolean',
  stream_options: 'object',
  temperature: 'number',
  top_p: 'number',
  n: 'number',
  max_tokens: 'number',
  max_completion_tokens: 'number',
  user: 'string',
};
const INPUT: Record<string, string> = { '/v1/chat/completions': 'messages', '/v1/completions': 'prompt', '/v1/embeddings': 'input' };
const broken = (e: any) => (e?.status ? e : httpError(502, 'upstream response failed: ' + e?.message, 'upstream_error'));

export function openaiRoutes(d: Deps): Routes {
  async function complete(c: Ctx, path: string) {
    const body = await readJson(c.req, d.cfg.MAX_BODY_BYTES);
    const input = INPUT[path];
    checkTypes(body, TYPES, ['model', input]);
    if (input == 'messages' && !body.messages.every((m: any) => typeof m?.role == 'string')) throw httpError(400, "each message needs a string 'role'", 'invalid_type', 'messages');
    const { model } = body;
    const versions = d.cfg.MODEL_VERSIONS;
    const ids = versions.size ? [...versions.keys()] : (await d.pool.models().catch(() => undefined))?.map((m) => m.id);
    if (ids && !ids.includes(model)) throw httpError(404, `model '${model}' does not exist; see GET /v1/models`, 'model_not_found', 'model');
    const m = c.m;
    m.model = model;
    m.model_version = versions.get(model);
    await d.limit(c, Math.ceil(JSON.stringify(body[input]).length / 4) + (body.max_completion_tokens ?? body.max_tokens ?? 0));

    const stream = body.stream && input != 'input';
    const key = !stream && cacheable(body, c.req.headers as { 'x-cache'?: string }) && cacheKey(path, model, m.model_version ?? '', body);
    const hit = key && (await d.cache.get(key));
    const usage = (u: any = {}) => ((m.prompt_tokens = u.prompt_tokens | 0), (m.completion_tokens = u.completion_tokens | 0));
    if (hit) {
      m.cache_hit = true;
      usage(JSON.parse(hit).usage);
      return send(c.res, 200, hit, { 'x-cache': 'hit' });
    }
    const gone = new AbortController();
    c.res.on('close', () => gone.abort());
    // Usage is always asked for upstream (it feeds token limits and metrics); the client gets it only if it asked.
    await d.pool.call(path, JSON.stringify(stream ? { ...body, stream_options: { include_usage: true } } : body), gone.signal, async (r) => {
      if (!stream || !r.ok) {
        const text = await r.text().catch((e) => Promise.reject(broken(e)));
        const j = tryJson(text);
        // An upstream 4xx keeps its status; its body is passed on when it is an OpenAI error, wrapped otherwise.
        if (!r.ok && j?.error) return send(c.res, r.status, j);
        if (!r.ok) throw httpError(r.status, `upstream answered ${r.status}: ${text.slice(0, 200)}`, 'upstream_error');
        if (!j) throw httpError(502, 'upstream sent invalid JSON', 'upstream_error');
        usage(j.usage);
        send(c.res, 200, text, key ? { 'x-cache': 'miss' } : undefined);
        if (key) await d.cache.set(key, text);
        return;
      }
      c.res.writeHead(200, SSE_HEADERS);
      const lbl = labels({ model });
      const wantUsage = body.stream_options?.include_usage;
      let last = 0, n = 0;
      try {
        for await (const data of events(r.body!)) {
          if (data == '[DONE]') break;
          const j = JSON.parse(data);
          const now = performance.now();
          if (j.usage) usage(j.usage);
          if (j.choices?.length) {
            if (last) observe('gateway_inter_token_latency_seconds', lbl, (now - last) / 1000);
            else observe('gateway_time_to_first_token_seconds', lbl, (m.ttft_ms = Math.round(now - c.t0)) / 1000);
            last = now;
            n++;
          }
          if (wantUsage || !j.usage || j.choices?.length) c.res.write(frame(data));
        }
        c.res.write(frame('[DONE]'));
      } catch (e) {
        // Headers are out: the error becomes the last event (OpenAI clients raise it); nothing is retried.
        c.res.write(frame(errorBody(broken(e))));
      }
      m.completion_tokens ||= n;
      c.res.end();
    });
  }

  return [
    ...Object.keys(INPUT).map((path): Routes[0] => [path, { POST: (c) => complete(c, path) }]),
    ['/v1/models', { GET: async (c) => send(c.res, 200, { object: 'list', data: await d.models() }) }],
  ];
}
