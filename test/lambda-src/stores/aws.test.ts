import { awsJson, getCredentials, getRegion, getSecretValue, sign, signingKey } from '../../../lambda-src/stores/aws';
import { serve, startImds, startSecretsManager } from '../aws-peers';

const EXAMPLE = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const AT = new Date('2015-08-30T12:36:00Z');
const ENV_KEYS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_EC2_METADATA_SERVICE_ENDPOINT', 'SECRETS_MANAGER_ENDPOINT'];

async function closedPort(): Promise<string> {
  const peer = await serve(() => undefined);
  await peer.close();
  return peer.url;
}

// --- tests ----------------------------------------------------------------------------------------------

const saved: Record<string, string | undefined> = {};
beforeEach(() => {
  for (const k of ENV_KEYS) (saved[k] = process.env[k]), delete process.env[k];
});
afterEach(() => {
  for (const k of ENV_KEYS) if (saved[k] === undefined) delete process.env[k];
  else process.env[k] = saved[k];
});

describe('SigV4 (AWS signature test suite vectors)', () => {
  const sig = (method: string, url: string, headers: Record<string, string> = {}, body = '', service = 'service') =>
    sign(method, new URL(url), headers, body, EXAMPLE, 'us-east-1', service, AT).authorization;
  const auth = (signed: string, signature: string, service = 'service') =>
    `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/${service}/aws4_request, SignedHeaders=${signed}, Signature=${signature}`;

  it('derives the documented signing keys', () => {
    expect(signingKey(EXAMPLE.secretAccessKey, '20150830', 'us-east-1', 'iam').toString('hex')).toBe('c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9');
    expect(signingKey(EXAMPLE.secretAccessKey, '20150830', 'us-east-1', 'service').toString('hex')).toBe('938127b5336810ddb6a5d6af445fcac9e371f9ed418ed386b022aed82901be75');
  });

  it('get-vanilla', () => {
    expect(sig('GET', 'https://example.amazonaws.com/')).toBe(auth('host;x-amz-date', '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31'));
  });

  it('get-vanilla-query (a query given in canonical order is signed as is)', () => {
    expect(sig('GET', 'https://example.amazonaws.com/?Param1=value1&Param2=value2')).toBe(auth('host;x-amz-date', 'b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500'));
  });

  it('get-utf8 (percent-encoded path)', () => {
    expect(sig('GET', 'https://example.amazonaws.com/ሴ')).toBe(auth('host;x-amz-date', '8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85'));
  });

  it('post-vanilla and post-x-www-form-urlencoded (signed body and content type)', () => {
    expect(sig('POST', 'https://example.amazonaws.com/')).toBe(auth('host;x-amz-date', '5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b'));
    expect(sig('POST', 'https://example.amazonaws.com/', { 'Content-Type': 'application/x-www-form-urlencoded' }, 'Param1=value1')).toBe(
      auth('content-type;host;x-amz-date', 'ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a'),
    );
  });

  it('the documented IAM ListUsers example', () => {
    const headers = { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' };
    expect(sig('GET', 'https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08', headers, '', 'iam')).toBe(
      auth('content-type;host;x-amz-date', '5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7', 'iam'),
    );
  });

  it('signs the session token and returns the headers fetch must send (Host excluded)', () => {
    const out = sign('POST', new URL('http://127.0.0.1:8000/'), { 'x-amz-target': 'T' }, '{}', { ...EXAMPLE, sessionToken: 'tok' }, 'us-east-1', 'dynamodb', AT);
    expect(Object.keys(out).sort()).toEqual(['authorization', 'x-amz-date', 'x-amz-security-token', 'x-amz-target']);
    expect(out.authorization).toContain('SignedHeaders=host;x-amz-date;x-amz-security-token;x-amz-target,');
  });
});

describe('credentials and region', () => {
  it('prefer the environment and never ask IMDS', async () => {
    const imds = await startImds();
    try {
      Object.assign(process.env, { AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url, AWS_ACCESS_KEY_ID: 'AKENV', AWS_SECRET_ACCESS_KEY: 's', AWS_SESSION_TOKEN: 't', AWS_DEFAULT_REGION: 'eu-west-3' });
      expect(await getCredentials()).toEqual({ accessKeyId: 'AKENV', secretAccessKey: 's', sessionToken: 't' });
      expect(await getRegion()).toBe('eu-west-3');
      expect(imds.stats).toEqual({ puts: 0, credentialFetches: 0, unauthorized: 0 });
    } finally {
      await imds.close();
    }
  });

  it('come from IMDSv2 (token handshake, role) and are cached', async () => {
    const imds = await startImds();
    try {
      process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT = imds.url + '/';
      const first = await getCredentials();
      expect(first).toMatchObject({ accessKeyId: 'ASIA0', secretAccessKey: 'secret-0', sessionToken: 'token-0' });
      expect(first.expiresAt).toBeGreaterThan(Date.now() + 5 * 3600_000);
      expect(await getCredentials()).toBe(first);
      expect(imds.stats).toEqual({ puts: 1, credentialFetches: 1, unauthorized: 0 });
    } finally {
      await imds.close();
    }
  });

  it('are refreshed within 5 minutes of Expiration', async () => {
    const imds = await startImds({ expiresInMs: 4 * 60_000 });
    try {
      process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT = imds.url;
      const [a, b] = await Promise.all([getCredentials(), getCredentials()]); // concurrent callers share one fetch
      expect(a).toBe(b);
      expect((await getCredentials()).accessKeyId).toBe('ASIA1');
      expect(imds.stats).toMatchObject({ puts: 2, credentialFetches: 2 }); // a fresh session token per refresh
    } finally {
      await imds.close();
    }
  });

  it('refresh after IMDS forgot every session token (restarted)', async () => {
    const imds = await startImds({ expiresInMs: 60_000 });
    try {
      process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT = imds.url;
      await getCredentials();
      imds.tokens.clear();
      expect((await getCredentials()).accessKeyId).toBe('ASIA1');
      expect(imds.stats).toEqual({ puts: 2, credentialFetches: 2, unauthorized: 0 });
    } finally {
      await imds.close();
    }
  });

  it('fail clearly without a role, with a role EC2 cannot assume, without IMDS, or without a region', async () => {
    expect(() => getRegion()).toThrow('no AWS region: set AWS_REGION');
    const imds = await startImds({ role: '' });
    try {
      process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT = imds.url;
      await expect(getCredentials()).rejects.toThrow('no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or attach an instance role (no IAM role is attached to this instance)');
    } finally {
      await imds.close();
    }
    const denied = await startImds({ document: { Code: 'AssumeRoleUnauthorizedAccess', Message: 'EC2 cannot assume the role fleet-role.' } });
    try {
      process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT = denied.url;
      await expect(getCredentials()).rejects.toThrow(/\(role fleet-role: EC2 cannot assume the role fleet-role\.\)$/);
    } finally {
      await denied.close();
    }
    process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT = await closedPort();
    const err = await getCredentials().catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ code: 'CredentialsError', status: 0, message: expect.stringMatching(/^no AWS credentials: .*fetch failed/) });
  });
});

describe('awsJson and getSecretValue against a signature-checking Secrets Manager peer', () => {
  it('signs with IMDS role credentials in AWS_REGION, and returns SecretString', async () => {
    const imds = await startImds();
    const sm = await startSecretsManager({ 'redis-auth': 'p@ss' }, { ASIA0: 'secret-0' });
    try {
      Object.assign(process.env, { AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url, SECRETS_MANAGER_ENDPOINT: sm.url, AWS_REGION: 'eu-central-1' });
      expect(await getSecretValue('redis-auth')).toBe('p@ss');
      expect(sm.seen).toEqual([{ target: 'secretsmanager.GetSecretValue', token: 'token-0', scope: expect.stringMatching(/^\d{8}\/eu-central-1\/secretsmanager\/aws4_request$/) }]);
    } finally {
      await Promise.all([imds.close(), sm.close()]);
    }
  });

  describe('with env credentials', () => {
    let sm: Awaited<ReturnType<typeof startSecretsManager>>;
    const script: Array<[number, object]> = [];
    beforeAll(async () => {
      sm = await startSecretsManager({ s: 'v', bin: '' }, { AKENV: 'env-secret' }, script);
    });
    afterAll(() => sm.close());
    beforeEach(() => {
      Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'AKENV', AWS_SECRET_ACCESS_KEY: 'env-secret', AWS_REGION: 'us-west-2', SECRETS_MANAGER_ENDPOINT: sm.url });
      sm.seen.length = 0;
    });

    it('maps client errors to AwsError (code after #, status) without retrying', async () => {
      const err = await getSecretValue('missing').catch((e) => e);
      expect(err).toBeInstanceOf(Error);
      expect(err).toMatchObject({ code: 'ResourceNotFoundException', status: 400, message: "secretsmanager GetSecretValue: ResourceNotFoundException: Secrets Manager can't find the specified secret." });
      expect(sm.seen).toHaveLength(1);
    });

    it('is rejected by the peer when signed with the wrong secret', async () => {
      process.env.AWS_SECRET_ACCESS_KEY = 'wrong';
      await expect(getSecretValue('s')).rejects.toMatchObject({ code: 'InvalidSignatureException', status: 403 });
    });

    it('retries 5xx and throttling, then succeeds', async () => {
      script.push([500, { __type: 'InternalServiceError', message: 'boom' }], [400, { __type: 'ThrottlingException', message: 'slow down' }], [503, {}]);
      expect(await getSecretValue('s')).toBe('v');
      expect(sm.seen).toHaveLength(4);
    });

    it('gives up after 5 attempts with the last error', async () => {
      script.push(...Array.from({ length: 5 }, (): [number, object] => [500, { __type: 'InternalFailure', message: 'down' }]));
      await expect(getSecretValue('s')).rejects.toMatchObject({ code: 'InternalFailure', status: 500 });
      expect(sm.seen).toHaveLength(5);
    });

    it('retries network errors and timeouts, naming them', async () => {
      await expect(awsJson('secretsmanager', 'GetSecretValue', {}, { endpoint: await closedPort() })).rejects.toMatchObject({ code: 'NetworkError', status: 0 });
      const silent = await serve(() => undefined); // accepts and never answers
      try {
        const err = await awsJson('secretsmanager', 'GetSecretValue', {}, { endpoint: silent.url, timeoutMs: 20 }).catch((e) => e);
        expect(err).toMatchObject({ code: 'TimeoutError', message: expect.stringMatching(/^secretsmanager GetSecretValue: TimeoutError/) });
      } finally {
        silent.server.closeAllConnections();
        await silent.close();
      }
    });

    it('rejects a secret without SecretString', async () => {
      script.push([200, { Name: 'bin', SecretBinary: 'AAEC' }]);
      await expect(getSecretValue('bin')).rejects.toThrow('secret bin is binary; only SecretString is supported');
    });
  });
});
