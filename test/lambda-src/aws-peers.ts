// Loopback AWS peers for handler tests: IMDSv2 and a Secrets Manager that checks SigV4 signatures.
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { sign } from '../../lambda-src/stores/aws';

export type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

export async function serve(handler: Handler): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c) => (body += c));
    req.on('end', () => handler(req, body, res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, server, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** Speaks IMDSv2: a PUT token handshake, then token-authenticated GETs. */
export async function startImds(opts: { role?: string; expiresInMs?: number; document?: object } = {}) {
  const tokens = new Set<string>();
  const stats = { puts: 0, credentialFetches: 0, unauthorized: 0 };
  const role = opts.role ?? 'fleet-role';
  const creds = () => ({ AccessKeyId: `ASIA${stats.credentialFetches}`, SecretAccessKey: `secret-${stats.credentialFetches}`, Token: `token-${stats.credentialFetches}` });
  const peer = await serve((req, _body, res) => {
    const send = (status: number, text = '') => res.writeHead(status).end(text);
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
      if (!(ttl >= 1 && ttl <= 21600)) return send(400);
      const token = randomUUID();
      tokens.add(token);
      stats.puts++;
      return send(200, token);
    }
    if (req.method !== 'GET') return send(405);
    if (!tokens.has(String(req.headers['x-aws-ec2-metadata-token']))) return stats.unauthorized++, send(401);
    const dir = '/latest/meta-data/iam/security-credentials/';
    if (req.url === dir) return opts.role === '' ? send(404) : send(200, role);
    if (req.url === dir + role) {
      const expiration = new Date(Date.now() + (opts.expiresInMs ?? 6 * 3600_000)).toISOString();
      send(200, JSON.stringify(opts.document ?? { Code: 'Success', Type: 'AWS-HMAC', ...creds(), Expiration: expiration }));
      return stats.credentialFetches++;
    }
    return send(404);
  });
  return { ...peer, tokens, stats };
}

/**
 * Answers the AWS JSON protocol like Secrets Manager, after checking the SigV4 signature of the request as
 * received (host with port, exact body bytes, every signed header) against the caller's secret.
 */
export async function startSecretsManager(secrets: Record<string, string>, keys: Record<string, string>, script: Array<[number, object]> = []) {
  const seen: { target?: string; token?: string; scope?: string }[] = [];
  const peer = await serve((req, body, res) => {
    const reply = (status: number, obj: object): void => {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' }).end(JSON.stringify(obj));
    };
    const auth = /^AWS4-HMAC-SHA256 Credential=(\w+)\/(\S+), SignedHeaders=(\S+), Signature=(\w+)$/.exec(String(req.headers.authorization));
    seen.push({ target: req.headers['x-amz-target'] as string, token: req.headers['x-amz-security-token'] as string, scope: auth?.[2] });
    if (!auth || !keys[auth[1]]) return reply(400, { __type: 'UnrecognizedClientException', message: 'bad key' });
    const [, scopeRegion, service] = auth[2].split('/');
    const signed = auth[3].split(';');
    const headers = Object.fromEntries(signed.filter((h) => !['host', 'x-amz-date', 'x-amz-security-token'].includes(h)).map((h) => [h, String(req.headers[h])]));
    const d = String(req.headers['x-amz-date']);
    const date = new Date(`${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 11)}:${d.slice(11, 13)}:${d.slice(13)}`);
    const token = req.headers['x-amz-security-token'] as string | undefined;
    const expected = sign('POST', new URL(req.url!, `http://${req.headers.host}`), headers, body, { accessKeyId: auth[1], secretAccessKey: keys[auth[1]], sessionToken: token }, scopeRegion, service, date);
    const must = ['host', 'x-amz-date', 'x-amz-target', 'content-type', ...(token ? ['x-amz-security-token'] : [])];
    if (expected.authorization !== req.headers.authorization || must.some((h) => !signed.includes(h))) {
      return reply(403, { __type: 'InvalidSignatureException', message: 'signature mismatch' });
    }
    if (req.headers['content-type'] !== 'application/x-amz-json-1.1') return reply(400, { __type: 'SerializationException', message: 'content type' });
    const next = script.shift();
    if (next) return reply(...next);
    if (req.headers['x-amz-target'] !== 'secretsmanager.GetSecretValue') return reply(400, { __type: 'UnknownOperationException' });
    const { SecretId } = JSON.parse(body);
    if (!(SecretId in secrets)) {
      return reply(400, { __type: 'com.amazonaws.secretsmanager#ResourceNotFoundException', Message: "Secrets Manager can't find the specified secret." });
    }
    reply(200, { ARN: `arn:aws:secretsmanager:${scopeRegion}:123456789012:secret:${SecretId}`, Name: SecretId, SecretString: secrets[SecretId] });
  });
  return { ...peer, seen };
}
