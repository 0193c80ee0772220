// Bearer keys and per-key limits shared through a real redis-server.
import { createHash } from 'node:crypto';
import { RedisServer, startRedis } from '../../support/redis-server';
import { startSecretsManager } from '../aws-peers';
import { call, Gateway, openaiError, startGateway } from '../gateway-harness';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const auth = (key: string) => ({ authorization: `Bearer ${key}` });
const body = { model: 'sim-llm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 };
let redis: RedisServer;
const gateways: Gateway[] = [];
const gateway = async (env: Record<string, string>) => {
  const g = await startGateway({ REDIS_URL: redis.url, AUTH: 'required', API_KEY_HASHES: `alice:${sha('sk-alice')},${sha('sk-bob')}`, ...env });
  gateways.push(g);
  return g;
};

// Limits use fixed one-minute windows (Redis time, this machine's clock): start a limit test well inside one.
const insideWindow = async () => {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < 3000) await new Promise((r) => setTimeout(r, left + 100));
};

beforeAll(async () => (redis = await startRedis()));
afterAll(async () => {
  await Promise.all(gateways.map((g) => g.close(1000)));
  await redis.stop();
});

it('401s a missing, malformed or unknown key with an OpenAI error; accepts known keys by their hash', async () => {
  const gw = await gateway({});
  expect(openaiError(await call(gw.url, '/v1/chat/completions', { body }), 401)).toMatchObject({ type: 'authentication_error', code: 'invalid_api_key', message: expect.stringContaining('missing API key') });
  expect(openaiError(await call(gw.url, '/v1/models', { headers: { authorization: 'Basic abc' } }), 401).message).toBe('invalid API key');
  expect(openaiError(await call(gw.url, '/v1/chat/completions', { body, headers: auth('sk-mallory') }), 401).message).toBe('invalid API key');
  expect((await call(gw.url, '/v1/chat/completions', { body, headers: auth('sk-alice') })).status).toBe(200);
  expect((await call(gw.url, '/v1/chat/completions', { body, headers: auth('sk-bob') })).status).toBe(200);
  // Ids label the log; a bare hash gets its first 8 hex digits.
  expect(gw.logs.slice(-2).map((l) => l.key_id)).toEqual(['alice', sha('sk-bob').slice(0, 8)]);
  // Probes need no key.
  expect((await call(gw.url, '/healthz')).status).toBe(200);
});

it('429s past the per-key request limit, with x-ratelimit-* and retry-after headers, per key', async () => {
  const gw = await gateway({ RATE_LIMIT_RPM: '2' });
  await insideWindow();
  const first = await call(gw.url, '/v1/chat/completions', { body, headers: auth('sk-alice') });
  expect([first.headers.get('x-ratelimit-limit-requests'), first.headers.get('x-ratelimit-remaining-requests')]).toEqual(['2', '1']);
  expect(first.headers.get('x-ratelimit-reset-requests')).toMatch(/^\d+s$/);
  await call(gw.url, '/v1/chat/completions', { body, headers: auth('sk-alice') });
  const limited = await call(gw.url, '/v1/chat/completions', { body, headers: auth('sk-alice') });
  expect(openaiError(limited, 429)).toMatchObject({ type: 'rate_limit_error', code: 'rate_limit_exceeded' });
  expect(limited.headers.get('x-ratelimit-remaining-requests')).toBe('0');
  expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
  // Another key has its own window.
  expect((await call(gw.url, '/v1/chat/completions', { body, headers: auth('sk-bob') })).status).toBe(200);
});

it('counts the tokens a response used against the per-key token limit', async () => {
  const gw = await gateway({ RATE_LIMIT_TPM: '60' });
  await insideWindow();
  const big = { ...body, max_tokens: 40 };
  const first = await call(gw.url, '/v1/chat/completions', { body: big, headers: auth('sk-alice') });
  expect([first.status, first.headers.get('x-ratelimit-limit-tokens')]).toEqual([200, '60']);
  // The first response used ~45 tokens: another 40-token request no longer fits.
  const second = await call(gw.url, '/v1/chat/completions', { body: big, headers: auth('sk-alice') });
  expect(openaiError(second, 429).code).toBe('rate_limit_exceeded');
  expect(Number(second.headers.get('x-ratelimit-remaining-tokens'))).toBeLessThan(40);
});

it('without auth, limits apply per client address', async () => {
  const gw = await gateway({ AUTH: 'disabled', API_KEY_HASHES: '', RATE_LIMIT_RPM: '1' });
  await insideWindow();
  expect((await call(gw.url, '/v1/chat/completions', { body })).status).toBe(200);
  expect((await call(gw.url, '/v1/chat/completions', { body })).status).toBe(429);
  expect(gw.logs.at(-1)!.key_id).toBe('ip:127.0.0.1');
});

describe('keys from Secrets Manager (API_KEYS_SECRET_ARN)', () => {
  let sm: Awaited<ReturnType<typeof startSecretsManager>>;
  const saved = { ...process.env };
  beforeAll(async () => {
    sm = await startSecretsManager({ 'gateway-keys': 'sk-one,sk-two\nsk-three\n', 'no-keys': ' \n' }, { AKTEST: 'test-secret' });
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'AKTEST', AWS_SECRET_ACCESS_KEY: 'test-secret', AWS_REGION: 'eu-west-1', SECRETS_MANAGER_ENDPOINT: sm.url });
  });
  afterAll(async () => {
    for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_REGION', 'SECRETS_MANAGER_ENDPOINT']) if (saved[k] === undefined) delete process.env[k];
    Object.assign(process.env, saved);
    await sm.close();
  });

  it('reads the keys (comma or newline separated) at start and accepts them beside API_KEY_HASHES', async () => {
    const gw = await gateway({ API_KEY_HASHES: `alice:${sha('sk-alice')}`, API_KEYS_SECRET_ARN: 'gateway-keys' });
    for (const key of ['sk-one', 'sk-two', 'sk-three', 'sk-alice']) expect((await call(gw.url, '/v1/models', { headers: auth(key) })).status).toBe(200);
    expect(openaiError(await call(gw.url, '/v1/models', { headers: auth('sk-four') }), 401).message).toBe('invalid API key');
    // A key from the secret is labelled by its hash's first 8 hex digits, never by the key itself.
    expect(gw.logs.slice(0, 3).map((l) => l.key_id)).toEqual(['sk-one', 'sk-two', 'sk-three'].map((k) => sha(k).slice(0, 8)));
    expect(sm.seen.map((s) => s.target)).toEqual(['secretsmanager.GetSecretValue']); // once, at start
  });

  it('refuses to start on a secret without keys, or one it cannot read', async () => {
    await expect(gateway({ API_KEY_HASHES: '', API_KEYS_SECRET_ARN: 'no-keys' })).rejects.toThrow('API_KEYS_SECRET_ARN: the secret no-keys holds no keys');
    await expect(gateway({ API_KEY_HASHES: '', API_KEYS_SECRET_ARN: 'missing' })).rejects.toThrow(/ResourceNotFoundException/);
  });
});
