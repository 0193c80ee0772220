// Minimal AWS client: credentials (env, then IMDSv2 instance role), SigV4 and the JSON protocol used by
// DynamoDB and Secrets Manager. Hand-written because the SDK would not fit the user-data size budget.
import { createHash, createHmac } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** Epoch ms; only for instance-role credentials. */
  expiresAt?: number;
}

export type AwsService = 'dynamodb' | 'secretsmanager';

export interface AwsOptions {
  region?: string;
  endpoint?: string;
  timeoutMs?: number;
}

export class AwsError extends Error {
  constructor(message: string, readonly code: string, readonly status: number) {
    super(message);
    this.name = 'AwsError';
  }
}

const sha256 = (data: string) => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
// RFC 3986 encoding, as SigV4 requires (encodeURIComponent leaves !'()* alone).
const enc = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function signingKey(secret: string, day: string, region: string, service: string): Buffer {
  return [region, service, 'aws4_request'].reduce((key, part) => hmac(key, part), hmac('AWS4' + secret, day));
}

/**
 * SigV4-signs a request: returns `headers` plus x-amz-date, x-amz-security-token (session credentials) and
 * authorization. Host is signed from the URL but not returned: fetch sends it itself.
 */
export function sign(
  method: string,
  url: URL,
  headers: Record<string, string>,
  body: string,
  creds: Credentials,
  region: string,
  service: string,
  now = new Date(),
): Record<string, string> {
  const amzDate = now.toISOString().replace(/[-:]|\.\d+/g, '');
  const out: Record<string, string> = { ...headers, 'x-amz-date': amzDate };
  if (creds.sessionToken) out['x-amz-security-token'] = creds.sessionToken;
  const canon = Object.entries({ ...out, host: url.host })
    .map(([k, v]) => [k.toLowerCase(), v.trim().replace(/\s+/g, ' ')])
    .sort((a, b) => cmp(a[0], b[0]));
  const signed = canon.map((h) => h[0]).join(';');
  const query = [...url.searchParams]
    .map(([k, v]) => [enc(k), enc(v)])
    .sort((a, b) => cmp(a[0], b[0]) || cmp(a[1], b[1]))
    .map((p) => p.join('='))
    .join('&');
  const request = [method, url.pathname, query, ...canon.map((h) => h.join(':')), '', signed, sha256(body)].join('\n');
  const scope = `${amzDate.slice(0, 8)}/${region}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(request)].join('\n');
  const signature = createHmac('sha256', signingKey(creds.secretAccessKey, amzDate.slice(0, 8), region, service))
    .update(toSign)
    .digest('hex');
  out.authorization = `AWS4-HMAC-SHA256 Credential=${creds.accessKeyId}/${scope}, SignedHeaders=${signed}, Signature=${signature}`;
  return out;
}

// IMDS state is keyed by endpoint so a changed AWS_EC2_METADATA_SERVICE_ENDPOINT never reuses stale data.
interface ImdsState {
  base: string;
  token?: { value: string; expiresAt: number };
  creds?: Credentials;
  pending?: Promise<Credentials>;
}
let imdsState: ImdsState = { base: '' };
const TOKEN_TTL_S = 21600;
const REFRESH_BEFORE_MS = 5 * 60_000;

function imdsFor(): ImdsState {
  const base = (process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT || 'http://169.254.169.254').replace(/\/+$/, '');
  if (imdsState.base !== base) imdsState = { base };
  return imdsState;
}

async function imds(state: ImdsState, path: string, retry = true): Promise<string> {
  if (!state.token || state.token.expiresAt < Date.now()) {
    const res = await fetch(state.base + '/latest/api/token', {
      method: 'PUT',
      headers: { 'x-aws-ec2-metadata-token-ttl-seconds': String(TOKEN_TTL_S) },
      signal: AbortSignal.timeout(2000),
    });
    if (!res.ok) throw new Error(`IMDS token request: HTTP ${res.status}`);
    state.token = { value: await res.text(), expiresAt: Date.now() + (TOKEN_TTL_S - 60) * 1000 };
  }
  const res = await fetch(state.base + path, {
    headers: { 'x-aws-ec2-metadata-token': state.token.value },
    signal: AbortSignal.timeout(2000),
  });
  // 401: the token expired or IMDS restarted; fetch a new one once.
  if (res.status === 401 && retry) {
    state.token = undefined;
    return imds(state, path, false);
  }
  if (res.status === 404) return ''; // no role attached / no such key
  if (!res.ok) throw new Error(`IMDS GET ${path}: HTTP ${res.status}`);
  return res.text();
}

async function roleCredentials(state: ImdsState): Promise<Credentials> {
  const dir = '/latest/meta-data/iam/security-credentials/';
  const role = (await imds(state, dir)).split('\n')[0].trim();
  if (!role) throw new Error('no IAM role is attached to this instance');
  const j = JSON.parse((await imds(state, dir + role)) || '{}');
  if (j.Code !== 'Success') throw new Error(`role ${role}: ${j.Message || j.Code || 'no credentials'}`);
  return { accessKeyId: j.AccessKeyId, secretAccessKey: j.SecretAccessKey, sessionToken: j.Token, expiresAt: Date.parse(j.Expiration) };
}

/** Env credentials, else the instance role's from IMDSv2, cached and refreshed 5 minutes before they expire. */
export async function getCredentials(): Promise<Credentials> {
  const { AWS_ACCESS_KEY_ID: id, AWS_SECRET_ACCESS_KEY: secret, AWS_SESSION_TOKEN: token } = process.env;
  if (id && secret) return { accessKeyId: id, secretAccessKey: secret, sessionToken: token || undefined };
  const state = imdsFor();
  const old = state.creds;
  if (old && old.expiresAt! - Date.now() > REFRESH_BEFORE_MS) return old;
  state.pending ??= roleCredentials(state)
    .then(
      (creds) => (state.creds = creds),
      (err) => {
        // A failed refresh keeps serving credentials that are still valid.
        if (old && old.expiresAt! > Date.now()) return old;
        throw new AwsError(`no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or attach an instance role (${err.message})`, 'CredentialsError', 0);
      },
    )
    .finally(() => (state.pending = undefined));
  return state.pending;
}

/** AWS_REGION / AWS_DEFAULT_REGION (the fleet's user data sets AWS_REGION). */
export async function getRegion(): Promise<string> {
  const region = process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION;
  if (!region) throw new AwsError('no AWS region: set AWS_REGION', 'ConfigError', 0);
  return region;
}

const MAX_ATTEMPTS = 5;
const RETRYABLE = /Throttl|LimitExceeded|ExpiredToken/;

/**
 * One AWS JSON-protocol call. Throttling, 5xx and network errors are retried with full-jitter backoff;
 * other errors throw an AwsError whose code is the exception name (e.g. ConditionalCheckFailedException).
 */
export async function awsJson(service: AwsService, target: string, body: unknown, opts: AwsOptions = {}): Promise<any> {
  const ddb = service === 'dynamodb';
  const region = opts.region ?? (await getRegion());
  const url = new URL(opts.endpoint || process.env[ddb ? 'DYNAMODB_ENDPOINT' : 'SECRETS_MANAGER_ENDPOINT'] || `https://${service}.${region}.amazonaws.com`);
  const payload = JSON.stringify(body);
  const what = `${service} ${target}`;
  for (let attempt = 1; ; attempt++) {
    const creds = await getCredentials();
    const protocol = { 'content-type': `application/x-amz-json-1.${ddb ? 0 : 1}`, 'x-amz-target': `${ddb ? 'DynamoDB_20120810' : service}.${target}` };
    const headers = sign('POST', url, protocol, payload, creds, region, service);
    let err: AwsError;
    try {
      const res = await fetch(url, { method: 'POST', headers, body: payload, signal: AbortSignal.timeout(opts.timeoutMs ?? 5000) });
      const text = await res.text();
      let j: any;
      try {
        j = text ? JSON.parse(text) : {};
      } catch {
        j = undefined;
      }
      if (res.ok && j) return j;
      const code = String(j?.__type ?? '').split('#').pop() || `HTTP${res.status}`;
      err = new AwsError(`${what}: ${code}: ${j?.message ?? j?.Message ?? text.slice(0, 200)}`, code, res.status);
      if (code === 'ExpiredTokenException') imdsFor().creds = undefined;
      if (res.status < 500 && res.status !== 429 && !RETRYABLE.test(code)) throw err;
    } catch (e) {
      if (e instanceof AwsError) throw e;
      const name = (e as Error).name === 'TimeoutError' ? 'TimeoutError' : 'NetworkError';
      err = new AwsError(`${what}: ${name}: ${(e as Error).message}`, name, 0);
    }
    if (attempt >= MAX_ATTEMPTS) throw err;
    await sleep(Math.random() * Math.min(2000, 50 * 2 ** attempt));
  }
}

/** A secret's SecretString (Redis AUTH token, database password). */
export async function getSecretValue(secretId: string): Promise<string> {
  const res = await awsJson('secretsmanager', 'GetSecretValue', { SecretId: secretId });
  if (typeof res.SecretString !== 'string') {
    throw new AwsError(`secret ${secretId} has no SecretString (binary secrets are not supported)`, 'UnsupportedSecret', 0);
  }
  return res.SecretString;
}
