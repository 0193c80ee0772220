// A simulated OpenAI-compatible model server (in the spirit of llm-d's inference simulator): deterministic
// tokens per prompt, configurable time to first token and inter-token latency, random failures. It is a
// fetch-like function, so the gateway runs it in-process behind the same upstream pool as real servers, and
// serveSimulator() puts it on a real HTTP port. Every response says `simulator`, so it is never mistaken for a model.
import { createServer, Server } from 'node:http';
import { errorBody, httpError } from '../http/errors';
import { frame, SSE_HEADERS } from '../http/sse';
import { aborted, randomUUID, sha, sleep } from '../util';

export type FetchLike = (url: string, init: { method?: string; headers?: Record<string, string>; body?: string; signal?: AbortSignal }) => Promise<Response>;

export interface SimulatorOptions {
  models: string[];
  /** @default 0 */
  ttftMs?: number;
  /** @default 0 */
  itlMs?: number;
  /** Fraction of requests failing with 429, 500, 503 or a hang (until aborted). @default 0 */
  failureRate?: number;
}

const json = (body: unknown, status?: number) => Response.json(body, { status });

export function simulator({ models, ttftMs = 0, itlMs = 0, failureRate = 0 }: SimulatorOptions): FetchLike {
  return async (url, { body = '{}', signal }) => {
    const path = new URL(url).pathname;
    const wait = (ms: number) => ms && sleep(ms, 0, { signal });
    if (path == '/v1/models') return json({ object: 'list', data: models.map((id) => ({ id, object: 'model', created: 0, owned_by: 'simulator' })) });
    const b = JSON.parse(body);
    const { model, input } = b;
    const kind = /^\/v1\/(chat\/|)(completions|embeddings)$/.exec(path);
    const status = !kind || !models.includes(model) ? 404 : Math.random() < failureRate ? [429, 500, 503, 0][(Math.random() * 4) | 0] : 200;
    if (!status) await aborted(signal);
    if (status > 200) {
      const message = status == 404 ? `simulator serves ${models} on /v1/(chat/)completions and /v1/embeddings` : `simulated failure (${status})`;
      return json(errorBody(httpError(status, message)), status);
    }

    const prompt = b.messages ?? b.prompt ?? input;
    const p = Math.ceil(JSON.stringify(prompt).length / 4);
    if (kind![2] == 'embeddings') {
      const data = [input].flat().map((s, index) => ({ object: 'embedding', index, embedding: [...sha(JSON.stringify(s)).subarray(0, 8)].map((x) => x / 128 - 1) }));
      return json({ object: 'list', data, model, usage: { prompt_tokens: p, total_tokens: p } });
    }
    const h = sha(JSON.stringify(prompt));
    const max = b.max_completion_tokens ?? b.max_tokens;
    const n = Math.min(max ?? 16, 4096);
    // Token i: a short base-36 word from the prompt's hash.
    const tokens = [...Array(n)].map((_, i) => (i ? ' ' : '') + (h[i % 32] + i).toString(36));
    const usage = { prompt_tokens: p, completion_tokens: n, total_tokens: p + n };
    const chat = kind![1];
    const id = 'sim-' + randomUUID();
    const out = (text: string, last: boolean, stream?: boolean) => ({
      id,
      object: chat ? 'chat.completion' + (stream ? '.chunk' : '') : 'text_completion',
      created: (Date.now() / 1000) | 0,
      model,
      system_fingerprint: 'simulator',
      choices: [{ index: 0, ...(chat ? { [stream ? 'delta' : 'message']: { role: 'assistant', content: text } } : { text }), finish_reason: last ? (max ? 'length' : 'stop') : null }],
    });
    if (!b.stream) {
      await wait(ttftMs + itlMs * (n - 1));
      return json({ ...out(tokens.join(''), true), usage });
    }
    async function* sse() {
      for (let i = 0; i < n; i++) {
        await wait(i ? itlMs : ttftMs);
        yield frame(out(tokens[i], i == n - 1, true));
      }
      if (b.stream_options?.include_usage) yield frame({ ...out('', false, true), choices: [], usage });
      yield frame('[DONE]');
    }
    return new Response(ReadableStream.from(sse()).pipeThrough(new TextEncoderStream()), { headers: SSE_HEADERS });
  };
}

/** The simulator (or any fetch-like handler, e.g. one wrapping it) on a real HTTP port: tests, local development. */
export function serveSimulator(port: number, o: SimulatorOptions | FetchLike, host = '127.0.0.1'): Promise<Server> {
  const sim = typeof o == 'function' ? o : simulator(o);
  const server = createServer(async (req, res) => {
    const body: Buffer[] = [];
    for await (const c of req) body.push(c);
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    try {
      const r = await sim(`http://localhost${req.url}`, { method: req.method, body: Buffer.concat(body).toString() || undefined, signal: abort.signal });
      res.writeHead(r.status, Object.fromEntries(r.headers));
      for await (const c of r.body!) res.write(c);
      res.end();
    } catch (e) {
      if (res.headersSent) res.destroy();
      else res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify(errorBody(httpError(400, String(e)))));
    }
  });
  return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
}
