// The handler is configured only through environment variables: loadConfig validates them at start, and
// ENV_VARS documents them (scripts/docs.js renders it into the README; the bundle drops it).
import { availableParallelism, hostname } from './util';

/** Integers: [default, min, max = 2^31]. */
const INTS: Record<string, number[]> = {
  PORT: [8080, 0, 65535],
  UPSTREAM_TIMEOUT_MS: [300000, 1],
  UPSTREAM_MAX_RETRIES: [2, 0, 10],
  UPSTREAM_COOLDOWN_MS: [5000, 0],
  SIM_TTFT_MS: [100, 0],
  SIM_ITL_MS: [20, 0],
  CACHE_TTL_SECONDS: [600, 1],
  METRICS_DB_PORT: [5432, 1, 65535],
  RATE_LIMIT_RPM: [0, 0],
  RATE_LIMIT_TPM: [0, 0],
  MAX_BODY_BYTES: [10485760, 1],
  KEEP_ALIVE_TIMEOUT_MS: [310000, 1],
  HEADERS_TIMEOUT_MS: [10000, 1],
  REQUEST_TIMEOUT_MS: [60000, 1],
  SHUTDOWN_TIMEOUT_MS: [90000, 0],
  PREDICTION_WAIT_MS: [60000, 0],
  PREDICTION_LEASE_MS: [30000, 100],
  METRICS_BUFFER_ROWS: [10000, 1],
};
/** Defaults of string settings (every other variable is copied as set). */
const STRS: Record<string, string> = { HOST: '0.0.0.0', METRICS_DB_NAME: 'metrics', METRICS_DB_USER: 'gateway', SIM_MODELS: 'sim-llm' };
/** One of a set; the first is the default. */
const ENUMS: Record<string, string[]> = { AUTH: ['required', 'disabled'], METRICS_DB_SSL: ['require', 'disable'], BACKEND: ['openai', 'simulator'] };

export interface Config {
  PORT: number;
  HOST: string;
  WORKERS: number;
  INSTANCE_ID: string;
  BACKEND: 'openai' | 'simulator';
  UPSTREAM_URLS: string[];
  UPSTREAM_API_KEY?: string;
  UPSTREAM_TIMEOUT_MS: number;
  UPSTREAM_MAX_RETRIES: number;
  UPSTREAM_COOLDOWN_MS: number;
  /** model → version; empty: whatever the upstreams list. */
  MODEL_VERSIONS: Map<string, string>;
  SIM_MODELS: string[];
  SIM_TTFT_MS: number;
  SIM_ITL_MS: number;
  SIM_FAILURE_RATE: number;
  REDIS_URL?: string;
  REDIS_PASSWORD?: string;
  REDIS_AUTH_SECRET_ARN?: string;
  CACHE_TTL_SECONDS: number;
  DYNAMODB_TABLE?: string;
  DYNAMODB_ENDPOINT?: string;
  AWS_REGION?: string;
  METRICS_DB_HOST?: string;
  METRICS_DB_PORT: number;
  METRICS_DB_NAME: string;
  METRICS_DB_USER: string;
  METRICS_DB_PASSWORD?: string;
  METRICS_DB_PASSWORD_SECRET_ARN?: string;
  METRICS_DB_SSL: 'require' | 'disable';
  API_KEY_HASHES: { id: string; hash: string }[];
  API_KEYS_SECRET_ARN?: string;
  AUTH: 'required' | 'disabled';
  RATE_LIMIT_RPM: number;
  RATE_LIMIT_TPM: number;
  MAX_BODY_BYTES: number;
  KEEP_ALIVE_TIMEOUT_MS: number;
  HEADERS_TIMEOUT_MS: number;
  REQUEST_TIMEOUT_MS: number;
  SHUTDOWN_TIMEOUT_MS: number;
  PUBLIC_BASE_URL: string;
  PREDICTION_WAIT_MS: number;
  PREDICTION_LEASE_MS: number;
  METRICS_BUFFER_ROWS: number;
}

/** Reads and validates the environment; an error names the variable, its value and what is allowed. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const get = (n: string) => env[n]?.trim() || undefined;
  const c: any = {};
  for (const n in env) c[n] = get(n);
  const check = (n: string, ok: unknown, allowed: string) => {
    if (!ok) throw new Error(`${n}=${JSON.stringify(env[n] ?? '')} is invalid: ${allowed}`);
  };
  const num = (n: string, def: number, min: number, max = 2 ** 31, int = 1) => {
    const x = +(get(n) ?? def);
    check(n, x >= min && x <= max && (!int || Number.isInteger(x)), `expected ${int ? 'an integer' : 'a number'} from ${min} to ${max}`);
    return (c[n] = x);
  };
  const list = (n: string, re: RegExp, allowed: string) => {
    const items = (get(n) ?? STRS[n] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    check(n, items.every((s) => re.test(s)), `expected a comma-separated list of ${allowed}`);
    return (c[n] = items);
  };
  for (const n in INTS) num(n, ...(INTS[n] as [number, number]));
  for (const n in STRS) c[n] ??= STRS[n];
  num('WORKERS', availableParallelism(), 1, 1024);
  num('SIM_FAILURE_RATE', 0, 0, 1, 0);
  c.INSTANCE_ID = get('INSTANCE_ID') ?? hostname();
  const urls = list('UPSTREAM_URLS', /^https?:\/\/[^\s/]/, 'http(s) URLs');
  list('SIM_MODELS', /^\S+$/, 'model ids');
  c.MODEL_VERSIONS = new Map(list('MODEL_VERSIONS', /^[^=\s]+=[^=\s]+$/, 'model=version pairs').map((s) => s.split('=') as [string, string]));
  c.API_KEY_HASHES = list('API_KEY_HASHES', /^([\w.-]+:)?[\da-f]{64}$/i, '[id:]sha256-hex').map((s) => {
    const [hash, id = hash.slice(0, 8)] = s.split(':').reverse();
    return { id, hash: hash.toLowerCase() };
  });
  for (const n in ENUMS) {
    const allowed = n == 'BACKEND' && !urls.length ? ['simulator', 'openai'] : ENUMS[n];
    check(n, allowed.includes((c[n] = get(n) ?? allowed[0])), `expected ${allowed.join(' or ')}`);
  }
  check('UPSTREAM_URLS', c.BACKEND == 'simulator' || urls.length, 'BACKEND=openai needs at least one URL');
  check('API_KEY_HASHES', c.AUTH == 'disabled' || c.API_KEY_HASHES.length || c.API_KEYS_SECRET_ARN, 'AUTH=required needs API_KEY_HASHES or API_KEYS_SECRET_ARN (AUTH=disabled: private networks only)');
  check('REDIS_URL', /^(rediss?:\/\/[^\s/]+)?$/.test(c.REDIS_URL ?? ''), 'expected redis[s]://host:port');
  check('REDIS_URL', c.REDIS_URL || !(c.RATE_LIMIT_RPM || c.RATE_LIMIT_TPM), 'RATE_LIMIT_RPM/TPM need Redis');
  check('REQUEST_TIMEOUT_MS', c.REQUEST_TIMEOUT_MS >= c.HEADERS_TIMEOUT_MS, 'must be >= HEADERS_TIMEOUT_MS');
  c.PUBLIC_BASE_URL = (c.PUBLIC_BASE_URL ?? '').replace(/\/+$/, '');
  return c;
}

// [name, description, default when it is not in the tables above]
const doc = (rows: string[][]) =>
  rows.map(([name, description, def = String(INTS[name]?.[0] ?? STRS[name] ?? ENUMS[name]?.[0] ?? '')]) => ({ name, default: def || undefined, description }));

export const ENV_VARS: { name: string; default?: string; description: string }[] = /* @__PURE__ */ doc([
  ['PORT', 'TCP port to listen on.'],
  ['HOST', 'Address to listen on.'],
  ['WORKERS', 'Worker processes (node:cluster).', 'vCPU count'],
  ['INSTANCE_ID', 'Names this instance in logs, metric rows and prediction leases.', 'host name'],
  ['BACKEND', '`openai` (the UPSTREAM_URLS pool) or `simulator` (built-in, labelled `simulator` in every response).', 'openai if UPSTREAM_URLS is set, else simulator'],
  ['UPSTREAM_URLS', 'Comma-separated base URLs of OpenAI-compatible model servers (vLLM, TGI, llama.cpp, Ollama).'],
  ['UPSTREAM_API_KEY', 'Bearer token sent to the upstreams.'],
  ['UPSTREAM_TIMEOUT_MS', 'Longest silence from an upstream (before headers or between body bytes) before the attempt fails.'],
  ['UPSTREAM_MAX_RETRIES', 'Retries on connect errors, timeouts, 429 and 5xx (jittered backoff, `retry-after` honoured); never once bytes were streamed.'],
  ['UPSTREAM_COOLDOWN_MS', 'How long a failing upstream gets no traffic while others are available.'],
  ['MODEL_VERSIONS', '`model=version,...`: the models served and their versions (cache keys, metrics); unset: whatever the upstreams list.'],
  ['SIM_MODELS', 'Comma-separated model ids the simulator serves.'],
  ['SIM_TTFT_MS', 'Simulated time to first token.'],
  ['SIM_ITL_MS', 'Simulated inter-token latency.'],
  ['SIM_FAILURE_RATE', 'Fraction (0-1) of simulated requests that fail with 429, 500, 503 or hang.', '0'],
  ['REDIS_URL', '`redis://` or `rediss://` (TLS) URL of the response cache and rate-limit counters; unset: no cache, no limits.'],
  ['REDIS_PASSWORD', 'Redis AUTH token.'],
  ['REDIS_AUTH_SECRET_ARN', 'Secrets Manager secret holding the Redis AUTH token, read at start.'],
  ['CACHE_TTL_SECONDS', 'Lifetime of cached responses (temperature 0 or `x-cache: force`; `x-cache: bypass` skips).'],
  ['DYNAMODB_TABLE', 'Prediction job table; unset: /predictions is disabled.'],
  ['DYNAMODB_ENDPOINT', 'DynamoDB endpoint override (e.g. a local dynalite).'],
  ['AWS_REGION', 'AWS region of DynamoDB and Secrets Manager; unset: AWS_DEFAULT_REGION.'],
  ['METRICS_DB_HOST', 'PostgreSQL/TimescaleDB host for per-request metric rows; unset: rows are not stored.'],
  ['METRICS_DB_PORT', 'Metrics database port.'],
  ['METRICS_DB_NAME', 'Metrics database name.'],
  ['METRICS_DB_USER', 'Metrics database user.'],
  ['METRICS_DB_PASSWORD', 'Metrics database password.'],
  ['METRICS_DB_PASSWORD_SECRET_ARN', 'Secrets Manager secret holding the metrics database password, read at start.'],
  ['METRICS_BUFFER_ROWS', 'Metric rows kept per worker while the database is unreachable; beyond it the oldest are dropped (and counted).'],
  ['METRICS_DB_SSL', '`require` (TLS) or `disable` (plain TCP; only on a trusted network).'],
  ['API_KEY_HASHES', 'Comma-separated SHA-256 hex digests of the accepted bearer keys, each optionally `id:hash` (the id labels limits and metrics).'],
  ['API_KEYS_SECRET_ARN', 'Secrets Manager secret holding bearer keys (comma or newline separated), read at start; their SHA-256 digests join API_KEY_HASHES.'],
  ['AUTH', '`required` (start fails without API_KEY_HASHES or API_KEYS_SECRET_ARN) or `disabled` (anyone may call; limits apply per client address).'],
  ['RATE_LIMIT_RPM', 'Requests per minute per key, shared through Redis; 0 = unlimited.'],
  ['RATE_LIMIT_TPM', 'Tokens per minute per key, shared through Redis; 0 = unlimited.'],
  ['MAX_BODY_BYTES', 'Largest request body (413 above).'],
  ['KEEP_ALIVE_TIMEOUT_MS', 'Idle keep-alive timeout; above the ALB idle timeout (300 s) so the ALB closes first.'],
  ['HEADERS_TIMEOUT_MS', 'Time a client has to send the request headers (408 after).'],
  ['REQUEST_TIMEOUT_MS', 'Time a client has to send the whole request (408 after).'],
  ['SHUTDOWN_TIMEOUT_MS', 'On SIGTERM, how long in-flight requests and predictions may take before the worker exits.'],
  ['PUBLIC_BASE_URL', 'Prefix of the `urls` in predictions (e.g. https://api.example.com); unset: relative URLs.'],
  ['PREDICTION_WAIT_MS', 'How long a synchronous POST /predictions waits before answering 202 with the running prediction.'],
  ['PREDICTION_LEASE_MS', 'Lease of a running prediction; another worker re-runs it this long after its worker died.'],
]);
