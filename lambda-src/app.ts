// Wires configuration → stores → backend → routes into one HTTP server (one per cluster worker).
import type { AddressInfo, Socket } from 'node:net';
import { authenticator, rateLimit } from './auth';
import { simulator } from './backends/simulator';
import { Model, Pool, upstreamPool } from './backends/upstream-pool';
import type { Config } from './config';
import { errorBody, HttpError, httpError, send } from './http/errors';
import { Ctx, router } from './http/router';
import { frame } from './http/sse';
import { inc, labels, observe, render, Snapshot, snapshot } from './metrics/registry';
import { PredictionService, predictionService } from './predictions/service';
import { openaiRoutes } from './routes/openai';
import { predictionRoutes } from './routes/predictions';
import { getSecretValue } from './stores/aws';
import { DynamoTable } from './stores/dynamodb';
import { metricsStore, RequestMetric } from './stores/metrics-store';
import { rateLimiter } from './stores/rate-limiter';
import { RedisClient } from './stores/redis';
import { ResponseCache, responseCache } from './stores/response-cache';
import { cluster, createServer, randomUUID, sha, STATUS_CODES, within } from './util';

/** What the routes need. */
export interface Deps {
  cfg: Config;
  pool: Pool;
  cache: ResponseCache;
  /** The models served: the upstreams' list, narrowed to MODEL_VERSIONS when set. */
  models(): Promise<Model[]>;
  /** Rate-limits the request's key (x-ratelimit-* headers, 429). */
  limit(c: Ctx, tokens: number): Promise<void>;
  predictions?: PredictionService;
}

export interface App {
  url: string;
  /** Stops accepting, lets in-flight requests and predictions finish within timeoutMs, flushes metrics. */
  close(timeoutMs: number): Promise<void>;
}

// Probes and scrapes: no key needed, no metric rows.
const PUBLIC = /^\/(healthz|readyz|metrics)$/;
const stderr = (o: object) => console.error(JSON.stringify({ time: new Date(), ...o }));

export async function startApp(cfg: Config, log: (line: string) => unknown = (line) => process.stdout.write(line + '\n')): Promise<App> {
  const secret = async (arn?: string) => arn && getSecretValue(arn);
  // Accepted keys: API_KEY_HASHES, plus the SHA-256 of each key (comma or newline separated) in API_KEYS_SECRET_ARN.
  const arn = cfg.API_KEYS_SECRET_ARN;
  const hashes = ((await secret(arn)) || '').split(/[\s,]+/).filter(Boolean).map((k) => sha(k, 'hex'));
  if (arn && !hashes[0]) throw Error(`API_KEYS_SECRET_ARN: the secret ${arn} holds no keys`);
  const auth = authenticator(cfg.API_KEY_HASHES.concat(hashes.map((hash) => ({ id: hash.slice(0, 8), hash }))));

  const redis = cfg.REDIS_URL ? new RedisClient({ url: cfg.REDIS_URL, password: (await secret(cfg.REDIS_AUTH_SECRET_ARN)) || cfg.REDIS_PASSWORD }) : undefined;
  const cache = responseCache(redis, cfg.CACHE_TTL_SECONDS);
  const limiter = rateLimiter(redis, cfg.RATE_LIMIT_RPM, cfg.RATE_LIMIT_TPM);
  const db = cfg.METRICS_DB_HOST
    ? metricsStore({
        host: cfg.METRICS_DB_HOST,
        port: cfg.METRICS_DB_PORT,
        database: cfg.METRICS_DB_NAME,
        user: cfg.METRICS_DB_USER,
        password: (await secret(cfg.METRICS_DB_PASSWORD_SECRET_ARN)) || cfg.METRICS_DB_PASSWORD,
        ssl: cfg.METRICS_DB_SSL == 'require',
        maxBuffer: cfg.METRICS_BUFFER_ROWS,
        onError: (e) => stderr({ metrics_db: e + '' }),
      })
    : undefined;
  db?.start();
  const sim = cfg.BACKEND == 'simulator';
  const pool = upstreamPool({
    urls: sim ? ['http://simulator'] : cfg.UPSTREAM_URLS,
    apiKey: cfg.UPSTREAM_API_KEY,
    timeoutMs: cfg.UPSTREAM_TIMEOUT_MS,
    maxRetries: cfg.UPSTREAM_MAX_RETRIES,
    cooldownMs: cfg.UPSTREAM_COOLDOWN_MS,
    fetch: sim ? simulator({ models: cfg.SIM_MODELS, ttftMs: cfg.SIM_TTFT_MS, itlMs: cfg.SIM_ITL_MS, failureRate: cfg.SIM_FAILURE_RATE }) : undefined,
    onRetry: () => inc('gateway_upstream_retries_total'),
  });
  const versions = cfg.MODEL_VERSIONS;
  const models = async () => (await pool.models()).filter((m) => !versions.size || versions.has(m.id));

  const predictions = cfg.DYNAMODB_TABLE
    ? predictionService({
        table: new DynamoTable(cfg.DYNAMODB_TABLE, { endpoint: cfg.DYNAMODB_ENDPOINT, region: cfg.AWS_REGION }),
        instanceId: `${cfg.INSTANCE_ID}:${process.pid}`,
        baseUrl: cfg.PUBLIC_BASE_URL,
        leaseMs: cfg.PREDICTION_LEASE_MS,
        onError: (e, context) => stderr({ prediction: context, error: e + '' }),
        // A prediction is a completion: {prompt} or {messages} (plus any OpenAI parameters) → the generated text.
        runner: async ({ input, model }, signal) => {
          const path = input.messages ? '/v1/chat/completions' : input.prompt != null && '/v1/completions';
          if (!path) throw Error('input needs "prompt" or "messages"');
          model ??= (input.model as string) ?? (await models())[0]?.id;
          return pool.call(path, JSON.stringify({ ...input, model, stream: false }), signal, async (r) => {
            const j: any = await r.json();
            if (!r.ok) throw Error(`upstream answered ${r.status}: ${j.error?.message}`);
            return j.choices[0].message?.content ?? j.choices[0].text;
          });
        },
      })
    : undefined;
  predictions?.startRecovery();

  // The stores count for themselves: gateway_cache_{hits,misses,errors}_total (errors: Redis unavailable),
  // gateway_rate_limit_{limited,errors}_total, gateway_metrics_rows_{dropped,written,errors}_total and the
  // gateway_metrics_rows_buffered gauge.
  const stats = (): Snapshot => {
    const out = snapshot();
    for (const [store, s] of [['cache', cache.stats], ['rate_limit', limiter.stats], ['metrics_rows', db?.stats ?? {}]] as const) {
      for (const [k, v] of Object.entries(s)) out.push([`gateway_${store}_${k}${k == 'buffered' ? '' : '_total'}`, v]);
    }
    return out;
  };
  // In a cluster the primary sums every worker's snapshot: each second a worker sends its own and gets the sum back.
  let total: Snapshot | undefined;
  const push = cluster.isWorker && setInterval(() => process.connected && process.send!({ metrics: stats() }), 1000).unref();
  if (push) process.on('message', (m: { metrics?: Snapshot }) => (total = m.metrics ?? total));

  const deps: Deps = { cfg, pool, cache, models, predictions, limit: (c, tokens) => rateLimit(limiter, c, tokens) };
  const route = router([
    ...openaiRoutes(deps),
    ...predictionRoutes(deps),
    // Liveness: the process answers; no dependency is called.
    ['/healthz', { GET: (c) => send(c.res, 200, { status: 'ok' }) }],
    // Readiness: an upstream lists its models and the cache answers.
    [
      '/readyz',
      {
        GET: async (c) => {
          const [upstream, cache_] = await Promise.all([pool.models(true).then(() => true, () => false), cache.ping()]);
          send(c.res, upstream && cache_ ? 200 : 503, { status: upstream && cache_ ? 'ready' : 'unavailable', upstream, cache: cache_ });
        },
      },
    ],
    // Prometheus text of every worker's counters and histograms (summed by the cluster primary).
    [
      '/metrics',
      {
        GET: async (c) => {
          // The ALB adds X-Forwarded-For: metrics go to direct scrapes on the private network, not to the internet.
          if (c.req.headers['x-forwarded-for']) throw httpError(403, 'scrape /metrics directly, not via the load balancer', 'forbidden');
          c.res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(render((push && total) || stats()));
        },
      },
    ],
  ]);
  let stopping = false;

  const finish = ({ m, res, t0 }: Ctx) => {
    m.status = res.headersSent ? res.statusCode : 499; // 499: the client left first
    m.latency_ms = Math.round((performance.now() - t0) * 10) / 10;
    inc('gateway_requests_total', labels({ route: m.route, status: m.status, model: m.model ?? '' }));
    observe('gateway_request_duration_seconds', labels({ route: m.route }), m.latency_ms / 1000);
    log(JSON.stringify(m));
    const tokens = m.prompt_tokens + m.completion_tokens;
    if (m.key_id && tokens) limiter.record(m.key_id, tokens);
    if (db && !PUBLIC.test(m.route)) db.record(m);
  };

  const server = createServer(
    // The checking interval bounds how late a header timeout fires (Node's default is 30 s).
    { keepAliveTimeout: cfg.KEEP_ALIVE_TIMEOUT_MS, headersTimeout: cfg.HEADERS_TIMEOUT_MS, requestTimeout: cfg.REQUEST_TIMEOUT_MS, connectionsCheckingInterval: Math.min(1000, cfg.HEADERS_TIMEOUT_MS) },
    async (req, res) => {
      const rid = req.headers['x-request-id'];
      const id = typeof rid == 'string' && /^[\w.:-]{1,99}$/.test(rid) ? rid : randomUUID();
      const m: RequestMetric = { time: new Date(), instance: cfg.INSTANCE_ID, route: 'unmatched', model: null, status: 0, latency_ms: 0, prompt_tokens: 0, completion_tokens: 0, cache_hit: false, request_id: id };
      const c: Ctx = { req, res, t0: performance.now(), params: [], m };
      res.setHeader('x-request-id', id);
      if (stopping) res.setHeader('connection', 'close');
      res.on('close', () => finish(c));
      try {
        const r = route(req.method!, req.url!.split('?')[0]);
        m.route = r.route;
        c.params = r.params;
        // Without auth, limits apply per client: the ALB appends the real address last to X-Forwarded-For.
        if (!PUBLIC.test(r.route)) m.key_id = cfg.AUTH == 'required' ? auth(req.headers.authorization) : 'ip:' + (req.headers['x-forwarded-for'] ?? req.socket.remoteAddress + '').toString().split(',').pop()!.trim();
        await r.handler(c);
      } catch (e: any) {
        let h: HttpError = e;
        if (!(e?.status >= 400)) {
          stderr({ request_id: id, error: e?.stack ?? e + '' });
          h = httpError(500, `internal error (request ${id})`, 'internal_error');
        }
        // Headers already out means an event stream: the error is its last event.
        if (res.headersSent) res.end(frame(errorBody(h)));
        else send(res, h.status, errorBody(h), h.headers);
      }
    },
  );
  // Malformed requests and slow clients never reach the handler; they still get an OpenAI-shaped error.
  server.on('clientError', (e: NodeJS.ErrnoException, socket: Socket) => {
    const status = e.code == 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : e.code == 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    if (!socket.writable || (socket as any)._httpMessage?.headersSent) return void socket.destroy();
    const body = JSON.stringify(errorBody(httpError(status, e.message, e.code)));
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n${body}`);
    inc('gateway_requests_total', labels({ route: 'unmatched', status, model: '' }));
  });
  await new Promise<void>((ok, fail) => server.once('error', fail).listen(cfg.PORT, cfg.HOST, ok));

  return {
    url: `http://${cfg.HOST.includes(':') ? `[${cfg.HOST}]` : cfg.HOST}:${(server.address() as AddressInfo).port}`,
    async close(timeoutMs) {
      const end = Date.now() + timeoutMs;
      stopping = true;
      clearInterval(push || undefined);
      // Keep-alive connections go as soon as their current response is out.
      const idle = setInterval(() => server.closeIdleConnections(), 100);
      await Promise.all([within(new Promise((ok) => server.close(ok)), timeoutMs), predictions?.stop(timeoutMs)]);
      clearInterval(idle);
      server.closeAllConnections();
      await db?.close(Math.max(1000, end - Date.now()));
      await redis?.close();
    },
  };
}
