// Minimal AWS client: credentials (environment, then the IMDSv2 instance role), SigV4 and the JSON protocol
// of DynamoDB and Secrets Manager. Hand-written because the SDK would not fit the user-data size budget.
import { HttpError, httpError } from '../http/errors';
import { hmac, sha, sleep, tryJson } from '../util';

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** Epoch ms; only for instance-role credentials. */
  expiresAt?: number;
}

export interface AwsOptions {
  region?: string;
  endpoint?: string;
  timeoutMs?: number;
}

/** A failed AWS call: `code` is the exception name (e.g. ConditionalCheckFailedException), `status` the HTTP status (0: no answer). */
export type AwsError = HttpError;

export const signingKey = (secret: string, day: string, region: string, service: string): Buffer =>
  [region, service, 'aws4_request'].reduce(hmac, hmac('AWS4' + secret, day));

/**
 * SigV4-signs a request: returns `headers` plus x-amz-date, x-amz-security-token (session credentials) and
 * authorization. Host is signed from the URL but not returned: fetch sends it itself. A query string is signed
 * as given, so it must already be canonical (sorted, RFC 3986-encoded); the JSON protocol has none.
 */
export function sign(method: string, url: URL, headers: Record<string, string>, body: string, creds: Credentials, region: string, service: string, now = new Date()): Record<string, string> {
  const date = now.toISOString().replace(/[-:]|\.\d+/g, ''), day = date.slice(0, 8);
  const out: Record<string, string> = { ...headers, 'x-amz-date': date };
  if (creds.sessionToken) out['x-amz-security-token'] = creds.sessionToken;
  const canon = Object.entries({ ...out, host: url.host }).map(([k, v]) => [k.toLowerCase(), v.trim().replace(/\s+/g, ' ')]).sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const signed = canon.map((h) => h[0]).join(';');
  const scope = `${day}/${region}/${service}/aws4_request`;
  const request = [method, url.pathname, url.search.slice(1), ...canon.map((h) => h.join(':')), '', signed, sha(body, 'hex')].join('\n');
  const signature = hmac(signingKey(creds.secretAccessKey, day, region, service), ['AWS4-HMAC-SHA256', date, scope, sha(request, 'hex')].join('\n'));
  out.authorization = `AWS4-HMAC-SHA256 Credential=${creds.accessKeyId}/${scope}, SignedHeaders=${signed}, Signature=${signature.toString('hex')}`;
  return out;
}

/** The instance role's credentials from IMDSv2 (a fresh session token each time: this runs about once an hour). */
async function roleCredentials(base: string): Promise<Credentials> {
  const get = async (path: string, headers: Record<string, string>, method?: string) => {
    const r = await fetch(base + path, { method, headers, signal: AbortSignal.timeout(2000) });
    // The role list answers 404 when no role is attached.
    if (!r.ok) throw Error(r.status == 404 ? 'no IAM role is attached to this instance' : `IMDS ${path}: HTTP ${r.status}`);
    return r.text();
  };
  const token = { 'x-aws-ec2-metadata-token': await get('/latest/api/token', { 'x-aws-ec2-metadata-token-ttl-seconds': '60' }, 'PUT') };
  const dir = '/latest/meta-data/iam/security-credentials/';
  const role = (await get(dir, token)).split('\n')[0].trim();
  const j = JSON.parse(await get(dir + role, token));
  if (j.Code != 'Success') throw Error(`role ${role}: ${j.Message || j.Code}`);
  return { accessKeyId: j.AccessKeyId, secretAccessKey: j.SecretAccessKey, sessionToken: j.Token, expiresAt: Date.parse(j.Expiration) };
}

// Instance-role credentials, keyed by the IMDS endpoint so a changed AWS_EC2_METADATA_SERVICE_ENDPOINT never reuses them.
let imds: { base?: string; creds?: Credentials; pending?: Promise<Credentials> } = {};

/** Environment credentials, else the instance role's from IMDSv2, cached and refreshed 5 minutes before they expire. */
export async function getCredentials(): Promise<Credentials> {
  const { AWS_ACCESS_KEY_ID: id, AWS_SECRET_ACCESS_KEY: secret, AWS_SESSION_TOKEN: token, AWS_EC2_METADATA_SERVICE_ENDPOINT: base } = process.env;
  if (id && secret) return { accessKeyId: id, secretAccessKey: secret, sessionToken: token || undefined };
  const b = (base || 'http://169.254.169.254').replace(/\/+$/, '');
  if (imds.base != b) imds = { base: b };
  const s = imds, old = s.creds;
  if (old && old.expiresAt! - Date.now() > 3e5) return old;
  return (s.pending ??= roleCredentials(b)
    .then(
      (c) => (s.creds = c),
      (e) => {
        // A failed refresh keeps serving credentials that are still valid.
        if (old && old.expiresAt! > Date.now()) return old;
        throw httpError(0, `no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or attach an instance role (${e.message})`, 'CredentialsError');
      },
    )
    .finally(() => (s.pending = undefined)));
}

/** AWS_REGION, else AWS_DEFAULT_REGION (the fleet's user data sets AWS_REGION). */
export function getRegion(): string {
  const region = process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION;
  if (!region) throw httpError(0, 'no AWS region: set AWS_REGION', 'ConfigError');
  return region;
}

/**
 * One AWS JSON-protocol call. Throttling, 5xx and network errors are retried (5 attempts, full-jitter backoff);
 * other errors throw an AwsError whose code is the exception name.
 */
export async function awsJson(service: 'dynamodb' | 'secretsmanager', target: string, body: unknown, o: AwsOptions = {}): Promise<any> {
  const ddb = service == 'dynamodb';
  const region = o.region || getRegion();
  // DynamoTable passes DYNAMODB_ENDPOINT; Secrets Manager calls take SECRETS_MANAGER_ENDPOINT (tests, local runs).
  const url = new URL(o.endpoint || (!ddb && process.env.SECRETS_MANAGER_ENDPOINT) || `https://${service}.${region}.amazonaws.com`);
  const payload = JSON.stringify(body);
  const what = `${service} ${target}: `;
  const protocol = { 'content-type': 'application/x-amz-json-1.' + (ddb ? 0 : 1), 'x-amz-target': (ddb ? 'DynamoDB_20120810.' : 'secretsmanager.') + target };
  for (let attempt = 1; ; attempt++) {
    let err: AwsError;
    try {
      const headers = sign('POST', url, protocol, payload, await getCredentials(), region, service);
      const res = await fetch(url, { method: 'POST', headers, body: payload, signal: AbortSignal.timeout(o.timeoutMs ?? 5000) });
      const text = await res.text();
      const j = tryJson(text || '{}');
      if (res.ok && j) return j;
      const code = (j?.__type ?? '').split('#').pop() || 'HTTP' + res.status;
      err = httpError(res.status, what + `${code}: ${j?.message ?? j?.Message ?? text.slice(0, 200)}`, code);
      if (code == 'ExpiredTokenException') imds.creds = undefined;
      if (res.status < 500 && res.status != 429 && !/Throttl|LimitExceeded|ExpiredToken/.test(code)) throw err;
    } catch (e: any) {
      if (e.status != null) throw e;
      const name = e.name == 'TimeoutError' ? e.name : 'NetworkError';
      err = httpError(0, what + `${name}: ${e.message}`, name);
    }
    if (attempt > 4) throw err;
    await sleep(Math.random() * Math.min(2000, 50 * 2 ** attempt));
  }
}

/** A secret's SecretString (Redis AUTH token, database password, API keys). */
export async function getSecretValue(secretId: string): Promise<string> {
  const s = (await awsJson('secretsmanager', 'GetSecretValue', { SecretId: secretId })).SecretString;
  if (typeof s != 'string') throw httpError(0, `secret ${secretId} is binary; only SecretString is supported`, 'UnsupportedSecret');
  return s;
}
