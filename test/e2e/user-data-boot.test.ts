// End to end: the dev stack's synthesized launch template → the user data EC2 would hand cloud-init → the exact
// bundle, unit and environment it installs → that bundle running against real Redis, PostgreSQL, a
// DynamoDB-compatible server and a simulated model upstream, driven over HTTP like a client would.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { HANDLER_PATHS } from '../../constructs/handler-user-data';
import { startDynalite, type DynaliteServer } from '../support/dynalite-server';
import { unpackBundle, writeFiles } from '../support/cloud-init';
import { freePort } from '../support/free-port';
import { applyMetricsSchema } from '../support/metrics-schema';
import { startPostgres } from '../support/postgres-server';
import { startRedis } from '../support/redis-server';
import { startSimulatedUpstream } from '../support/simulated-upstream';

const { launchTemplateUserData, parseCloudConfig } = require('../../scripts/user-data.js');
const root = join(__dirname, '..', '..');
// The simulated upstream's model (test/support/simulated-upstream.ts).
const MODEL = 'sim-llm';
const API_KEY = 'sk-e2e-0123456789abcdef';
const json = { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` };

jest.setTimeout(120_000);

let work: string;
let plan: any;
let files: Record<string, { path: string; permissions: string; owner: string; content: string }>;
let runcmd: string[][];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'e2e-user-data-'));
  // The README's synth command, as a whole process, into a private output directory.
  await execa(process.execPath, [join(root, 'scripts', 'synth.js')], { cwd: root, env: { CDKTF_OUTDIR: join(work, 'out'), CHECKPOINT_DISABLE: '1' } });
  plan = JSON.parse(readFileSync(join(work, 'out', 'stacks', 'inference-dev', 'cdk.tf.json'), 'utf8'));
  const [userData, ...others] = launchTemplateUserData(plan);
  expect(others).toHaveLength(0);
  expect(userData.raw.length).toBeLessThanOrEqual(16_384);
  const config = parseCloudConfig(userData.document);
  files = Object.fromEntries(config.write_files.map((f: any) => [f.path, f]));
  runcmd = config.runcmd;
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

const envLines = (text: string) =>
  Object.fromEntries(text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));

describe('the dev stack user data, decoded like cloud-init', () => {
  it('declares exactly the bundle, environment, unit and boot script, with safe permissions', () => {
    expect(Object.keys(files).sort()).toEqual([HANDLER_PATHS.boot, HANDLER_PATHS.compressedBundle, HANDLER_PATHS.staticEnv, HANDLER_PATHS.unit].sort());
    expect(files[HANDLER_PATHS.staticEnv].permissions).toBe('0600');
    expect(files[HANDLER_PATHS.compressedBundle]).toMatchObject({ permissions: '0644', encoding: 'b64' });
    expect(files[HANDLER_PATHS.boot].permissions).toBe('0755');
    expect(runcmd).toEqual([['bash', HANDLER_PATHS.boot]]);
  });

  it('boots with a script bash accepts, which completes the fleet’s own lifecycle hook after /readyz', () => {
    const boot = files[HANDLER_PATHS.boot].content;
    execFileSync('bash', ['-n'], { input: boot });
    const asg: any = Object.values(plan.resource.aws_autoscaling_group)[0];
    const hook = asg.initial_lifecycle_hook[0] ?? asg.initial_lifecycle_hook;
    expect(boot).toContain(`--lifecycle-hook-name '${hook.name}' --auto-scaling-group-name '${asg.name}'`);
    const parameter: any = Object.values(plan.resource.aws_ssm_parameter)[0];
    expect(boot).toContain(`--name '${parameter.name}'`);
    expect(boot).toMatch(/curl -fsS -m 2 http:\/\/127\.0\.0\.1:8080\/readyz/);
  });

  it('installs a unit that restarts always and stops within the target group’s deregistration delay', () => {
    const unit = files[HANDLER_PATHS.unit].content;
    const tg: any = Object.values(plan.resource.aws_lb_target_group)[0];
    const stop = Number(/^TimeoutStopSec=(\d+)$/m.exec(unit)![1]);
    expect(unit).toMatch(/^Restart=always$/m);
    expect(stop).toBeLessThan(Number(tg.deregistration_delay));
    expect(Number(envLines(files[HANDLER_PATHS.staticEnv].content).SHUTDOWN_TIMEOUT_MS) / 1000).toBeLessThan(stop);
  });

  it('carries no secret: the environment holds names and ARNs only', () => {
    const env = envLines(files[HANDLER_PATHS.staticEnv].content);
    expect(Object.keys(env).filter((k) => /PASSWORD$|TOKEN|SECRET$|API_KEY$/.test(k))).toEqual([]);
  });
});

describe('the extracted bundle, run as the unit would run it', () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let pg: Awaited<ReturnType<typeof startPostgres>>;
  let dynamo: DynaliteServer;
  let upstream: Awaited<ReturnType<typeof startSimulatedUpstream>>;
  let gateway: ResultPromise;
  let base: string;
  let output = '';

  beforeAll(async () => {
    [redis, pg, dynamo, upstream] = await Promise.all([startRedis({ password: 'e2e-redis-secret' }), startPostgres(), startDynalite(), startSimulatedUpstream()]);
    await dynamo.createJobTable('e2e-jobs');
    await applyMetricsSchema(pg);
    // cloud-init's write_files, then the boot script's own unpack-and-verify steps, in a scratch root.
    const root = join(work, 'root');
    writeFiles(root, Object.values(files));
    const bundlePath = unpackBundle(root, files[HANDLER_PATHS.boot].content);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    // stack.env is the SSM parameter's value with Terraform's references filled in; here they point at local servers.
    const parameter: any = Object.values(plan.resource.aws_ssm_parameter)[0];
    const local: Record<string, string> = {
      AWS_REGION: 'us-east-1',
      DYNAMODB_TABLE: 'e2e-jobs',
      REDIS_URL: redis.url,
      METRICS_DB_HOST: pg.host,
      PUBLIC_BASE_URL: base,
    };
    const stackEnv: Record<string, string> = {};
    for (const key of Object.keys(envLines(parameter.value))) {
      // Secrets come by ARN from Secrets Manager on AWS; locally the values are passed directly.
      if (key === 'REDIS_AUTH_SECRET_ARN') stackEnv.REDIS_PASSWORD = 'e2e-redis-secret';
      else if (key === 'API_KEYS_SECRET_ARN') stackEnv.API_KEY_HASHES = createHash('sha256').update(API_KEY).digest('hex');
      else if (key === 'METRICS_DB_PASSWORD_SECRET_ARN') stackEnv.METRICS_DB_PASSWORD = pg.password;
      else if (key in local) stackEnv[key] = local[key];
      else throw new Error(`the SSM handler config sets ${key}, which this test does not know how to provide locally`);
    }
    const env = {
      ...envLines(files[HANDLER_PATHS.staticEnv].content),
      ...stackEnv,
      PORT: String(port),
      HOST: '127.0.0.1',
      WORKERS: '2',
      UPSTREAM_URLS: upstream.url,
      DYNAMODB_ENDPOINT: dynamo.endpoint,
      METRICS_DB_PORT: String(pg.port),
      METRICS_DB_NAME: pg.database,
      METRICS_DB_USER: pg.user,
      METRICS_DB_SSL: 'disable',
      AWS_ACCESS_KEY_ID: 'AKIDE2E',
      AWS_SECRET_ACCESS_KEY: 'e2e',
    };
    // The unit's ExecStart, with the system node standing in for /usr/bin/node-22.
    gateway = execa(process.execPath, [bundlePath], { env, extendEnv: false, reject: false, all: true });
    gateway.all!.on('data', (chunk) => (output += chunk));
    for (let i = 0; ; i++) {
      const ready = await fetch(`${base}/readyz`).then((r) => r.ok, () => false);
      if (ready) break;
      if (i > 200 || gateway.exitCode !== null) throw new Error(`gateway did not become ready:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  afterAll(async () => {
    gateway?.kill('SIGTERM');
    await gateway;
    await Promise.all([redis?.stop(), pg?.stop(), dynamo?.stop(), upstream?.stop()]);
  });

  it('refuses a request without the API key the stack generated, in OpenAI’s error shape', async () => {
    const res = await fetch(`${base}/v1/models`);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: { type: expect.any(String), message: expect.any(String) } });
  });

  it('answers a chat completion in OpenAI’s shape', async () => {
    const res = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'Hello there' }], max_tokens: 8, temperature: 0 }),
    });
    expect(res.status).toBe(200);
    const body: any = await res.json();
    expect(body).toMatchObject({ object: 'chat.completion', model: MODEL, choices: [{ index: 0, message: { role: 'assistant', content: expect.any(String) } }] });
    expect(body.usage.completion_tokens).toBeGreaterThan(0);
  });

  it('streams a completion as server-sent events ending in [DONE], with usage when asked', async () => {
    const res = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'Stream please' }], max_tokens: 6, stream: true, stream_options: { include_usage: true } }),
    });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const frames = (await res.text()).split('\n\n').filter(Boolean);
    expect(frames.every((f) => f.startsWith('data: '))).toBe(true);
    expect(frames.at(-1)).toBe('data: [DONE]');
    const chunks = frames.slice(0, -1).map((f) => JSON.parse(f.slice(6)));
    expect(chunks[0]).toMatchObject({ object: 'chat.completion.chunk' });
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { completion_tokens: expect.any(Number) } });
  });

  it('runs an async prediction from 202 to succeeded through DynamoDB', async () => {
    const created = await fetch(`${base}/predictions`, {
      method: 'POST',
      headers: { ...json, prefer: 'respond-async' },
      body: JSON.stringify({ model: MODEL, input: { prompt: 'a long multimodal job' } }),
    });
    expect(created.status).toBe(202);
    const started: any = await created.json();
    expect(started).toMatchObject({ id: expect.any(String), status: 'starting', urls: { get: `${base}/predictions/${started.id}` } });
    let prediction: any = started;
    for (let i = 0; i < 100 && !['succeeded', 'failed', 'canceled'].includes(prediction.status); i++) {
      await new Promise((r) => setTimeout(r, 100));
      prediction = await (await fetch(`${base}/predictions/${started.id}`, { headers: json })).json();
    }
    expect(prediction).toMatchObject({ id: started.id, status: 'succeeded', output: expect.anything() });
  });

  it('exposes Prometheus metrics for what it served', async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toMatch(/^# TYPE \w+ (counter|histogram|gauge)$/m);
    expect(text).toMatch(/route="\/v1\/chat\/completions"/);
    expect(text).toMatch(/time_to_first_token_seconds_bucket/);
  });

  it('stops gracefully on SIGTERM with exit code 0, logging one JSON line per request', async () => {
    gateway.kill('SIGTERM');
    const result = await gateway;
    expect(result.exitCode).toBe(0);
    const logs = output.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    expect(logs.some((l) => l.route === '/v1/chat/completions' && l.status === 200)).toBe(true);
  });
});
