import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import { join } from 'node:path';
import { ENV_VARS, loadConfig } from '../../lambda-src/config';

const KEY = 'ab'.repeat(32);
const load = (env: Record<string, string> = {}) => loadConfig({ API_KEY_HASHES: KEY, ...env });

it('has secure, documented defaults', () => {
  const c = load();
  expect(c).toMatchObject({
    PORT: 8080,
    HOST: '0.0.0.0',
    WORKERS: availableParallelism(),
    INSTANCE_ID: hostname(),
    BACKEND: 'simulator',
    AUTH: 'required',
    API_KEY_HASHES: [{ id: 'abababab', hash: KEY }],
    KEEP_ALIVE_TIMEOUT_MS: 310000,
    SHUTDOWN_TIMEOUT_MS: 90000,
    METRICS_DB_SSL: 'require',
    SIM_MODELS: ['sim-llm'],
    RATE_LIMIT_RPM: 0,
  });
  expect(c.KEEP_ALIVE_TIMEOUT_MS).toBeGreaterThan(300_000); // above the ALB idle timeout
});

it('parses lists, maps and the backend choice', () => {
  const c = load({ UPSTREAM_URLS: ' http://10.0.0.1:8000 , https://vllm.internal/ ', MODEL_VERSIONS: 'llama=3.1,mistral=v0.3', API_KEY_HASHES: `ci:${KEY.toUpperCase()},${KEY}`, PUBLIC_BASE_URL: 'https://api.example.com//' });
  expect(c.UPSTREAM_URLS).toEqual(['http://10.0.0.1:8000', 'https://vllm.internal/']);
  expect(c.BACKEND).toBe('openai');
  expect([...c.MODEL_VERSIONS]).toEqual([['llama', '3.1'], ['mistral', 'v0.3']]);
  expect(c.API_KEY_HASHES).toEqual([{ id: 'ci', hash: KEY }, { id: 'abababab', hash: KEY }]);
  expect(c.PUBLIC_BASE_URL).toBe('https://api.example.com');
  expect(load({ UPSTREAM_URLS: 'http://x', BACKEND: 'simulator' }).BACKEND).toBe('simulator');
  expect(load({ AUTH: 'disabled', API_KEY_HASHES: '' }).AUTH).toBe('disabled');
  // Keys from Secrets Manager alone satisfy AUTH=required (they are read at start).
  expect(load({ API_KEY_HASHES: '', API_KEYS_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:1:secret:keys' })).toMatchObject({ AUTH: 'required', API_KEY_HASHES: [] });
});

it.each([
  [{ PORT: 'eighty' }, 'PORT="eighty" is invalid: expected an integer from 0 to 65535'],
  [{ PORT: '70000' }, 'PORT="70000" is invalid: expected an integer from 0 to 65535'],
  [{ WORKERS: '0' }, 'WORKERS="0" is invalid: expected an integer from 1 to 1024'],
  [{ UPSTREAM_TIMEOUT_MS: '1.5' }, 'UPSTREAM_TIMEOUT_MS="1.5" is invalid: expected an integer from 1 to 2147483648'],
  [{ SIM_FAILURE_RATE: '2' }, 'SIM_FAILURE_RATE="2" is invalid: expected a number from 0 to 1'],
  [{ BACKEND: 'vllm' }, 'BACKEND="vllm" is invalid: expected simulator or openai'],
  [{ BACKEND: 'openai' }, 'UPSTREAM_URLS="" is invalid: BACKEND=openai needs at least one URL'],
  [{ UPSTREAM_URLS: 'http://a,ftp://b' }, 'UPSTREAM_URLS="http://a,ftp://b" is invalid: expected a comma-separated list of http(s) URLs'],
  [{ MODEL_VERSIONS: 'llama' }, 'MODEL_VERSIONS="llama" is invalid: expected a comma-separated list of model=version pairs'],
  [{ API_KEY_HASHES: 'sk-plaintext-key' }, 'API_KEY_HASHES="sk-plaintext-key" is invalid: expected a comma-separated list of [id:]sha256-hex'],
  [{ API_KEY_HASHES: '' }, 'API_KEY_HASHES="" is invalid: AUTH=required needs API_KEY_HASHES or API_KEYS_SECRET_ARN (AUTH=disabled: private networks only)'],
  [{ AUTH: 'off' }, 'AUTH="off" is invalid: expected required or disabled'],
  [{ METRICS_DB_SSL: 'prefer' }, 'METRICS_DB_SSL="prefer" is invalid: expected require or disable'],
  [{ REDIS_URL: 'localhost:6379' }, 'REDIS_URL="localhost:6379" is invalid: expected redis[s]://host:port'],
  [{ RATE_LIMIT_RPM: '60' }, 'REDIS_URL="" is invalid: RATE_LIMIT_RPM/TPM need Redis'],
  [{ HEADERS_TIMEOUT_MS: '20000', REQUEST_TIMEOUT_MS: '10000' }, 'REQUEST_TIMEOUT_MS="10000" is invalid: must be >= HEADERS_TIMEOUT_MS'],
])('rejects %j', (env, message) => {
  expect(() => load(env)).toThrow(message);
});

it('documents every variable the handler reads, one line each, in ENV_VARS', () => {
  const read = new Set<string>();
  loadConfig(new Proxy({ API_KEY_HASHES: KEY } as Record<string, string>, { get: (t, k: string) => (read.add(k), t[k]) }));
  // Plain strings are copied as set: their names show where the handler uses them.
  const files = readdirSync('lambda-src', { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  for (const f of files) for (const m of readFileSync(join('lambda-src', f), 'utf8').matchAll(/\bcfg\.([A-Z][A-Z0-9_]+)/g)) read.add(m[1]);
  expect(ENV_VARS.map((v) => v.name).sort()).toEqual([...read].sort());
  for (const v of ENV_VARS) expect(v.description).toMatch(/^[^\n]{10,200}$/);
  expect(ENV_VARS.find((v) => v.name == 'KEEP_ALIVE_TIMEOUT_MS')!.default).toBe('310000');
  expect(ENV_VARS.find((v) => v.name == 'WORKERS')!.default).toBe('vCPU count');
});
