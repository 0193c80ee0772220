// The fleet CLI end to end: synth and policy for real on the mini-fleet app (with the policy checks on), and
// diff/deploy against stand-in terraform and cdktf executables that record their arguments.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { binDir, FAKE_KEYS, FLEET, miniProject, ROOT, runCli, scratch } from './support';

const project = miniProject();
const outdir = scratch('out-');
const TWO_STACKS = { MINI_FLEET_STACKS: 'mini-dev,mini-prod' };

function fleet(args: string[], options: { bin: string; log?: string; env?: Record<string, string>; cwd?: string }) {
  return runCli(FLEET, args, { cwd: project, ...options });
}

// One synth of two mini stacks, shared by the tests that pass --skip-synth.
let synthRun: Awaited<ReturnType<typeof fleet>>;
beforeAll(async () => {
  synthRun = await fleet(['synth', '--outdir', outdir], { bin: binDir([]).bin, env: TWO_STACKS });
});

describe('fleet synth and policy', () => {
  const tools = binDir([]);

  it('synthesizes the app of cdktf.json into --outdir, with timed progress lines', () => {
    const run = synthRun;
    expect(run.stderr).toMatch(/\[fleet\] ▶ synth \(node .*mini-app\.ts → .*\)/);
    expect(run.stderr).toMatch(/\[fleet\] ✔ synth .*\(\d+\.\d+ s\)/);
    expect(run.stderr).toContain('synthesized 2 stack(s): mini-dev');
    expect(run.code).toBe(0);
    for (const stack of ['mini-dev', 'mini-prod']) {
      expect(existsSync(join(outdir, 'stacks', stack, 'cdk.tf.json'))).toBe(true);
      expect(existsSync(join(outdir, 'stacks', stack, 'policy-report.json'))).toBe(true);
    }
  });

  it('summarizes clean policy reports and appends them to --summary', async () => {
    const summary = join(scratch('summary-'), 'summary.md');
    const run = await fleet(['policy', '--outdir', outdir, '--summary', summary], { bin: tools.bin });
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('mini-dev: 0 error(s), 0 warning(s), 0 suppressed');
    const markdown = readFileSync(summary, 'utf8');
    expect(markdown).toContain('| mini-prod | 0 | 0 | 0 |');
    expect(markdown).toContain('<summary>mini-dev policy report</summary>');
    expect(markdown).toContain('# Policy report: mini-dev (profile dev)');
  });

  it('fails synth on a policy error, prints the finding, and leaves a report that `policy` rejects', async () => {
    const failing = scratch('out-');
    const synth = await fleet(['synth', '--outdir', failing], { bin: tools.bin, env: { MINI_FLEET_INSECURE: '1' } });
    expect(synth.code).toBe(1);
    expect(synth.stderr).toMatch(/✖ CKV_AWS_79 mini-dev\/app\/FleetTemplate: metadata_options\.http_tokens is "optional".*Fix: Set metadata_options/);
    expect(synth.stderr).toContain('fleet: synth failed (exit code 1)');

    // policy needs a manifest; the failed synth wrote reports but no manifest, so point it at the stack folder by hand.
    writeFileSync(join(failing, 'manifest.json'), JSON.stringify({ stacks: { 'mini-dev': { name: 'mini-dev', workingDirectory: 'stacks/mini-dev', synthesizedStackPath: 'stacks/mini-dev/cdk.tf.json' } } }));
    const policy = await fleet(['policy', '--outdir', failing], { bin: tools.bin });
    expect(policy.code).toBe(1);
    expect(policy.stderr).toContain('mini-dev: 1 error(s)');
    expect(policy.stderr).toContain('fleet: policy: 1 error(s) in mini-dev');
  });

  it('treats a missing policy report as an error: the checks did not run', async () => {
    const dir = scratch('out-');
    mkdirSync(join(dir, 'stacks', 'bare'), { recursive: true });
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ stacks: { bare: { name: 'bare', workingDirectory: 'stacks/bare', synthesizedStackPath: 'stacks/bare/cdk.tf.json' } } }));
    const run = await fleet(['policy', '--outdir', dir], { bin: tools.bin });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`bare: no policy report at ${join(dir, 'stacks', 'bare', 'policy-report.json')}. The policy checks did not run`);
  });

  it('explains a missing synth output', async () => {
    const run = await fleet(['policy', '--outdir', join(outdir, 'nowhere')], { bin: tools.bin });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`No synthesized output: ${join(outdir, 'nowhere', 'manifest.json')} does not exist. Run \`npm run fleet -- synth\` first`);
  });

  it('needs cdktf.json to synthesize', async () => {
    const run = await fleet(['synth'], { bin: tools.bin, cwd: scratch('empty-') });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/No cdktf\.json in .*: run from the project root/);
  });
});

describe('fleet diff and deploy with plain terraform', () => {
  it('plans each stack with terraform -chdir=<outdir>/stacks/<stack> and summarizes the plan', async () => {
    const tools = binDir(['terraform']);
    const summary = join(scratch('summary-'), 'summary.md');
    const run = await fleet(['diff', 'all', '--outdir', outdir, '--skip-synth', '--summary', summary], { bin: tools.bin, log: tools.log, env: FAKE_KEYS });
    expect(run.code).toBe(0);
    const dev = `-chdir=${join(outdir, 'stacks', 'mini-dev')}`;
    const prod = `-chdir=${join(outdir, 'stacks', 'mini-prod')}`;
    expect(tools.calls().map((c) => c.argv)).toEqual([
      [dev, 'init', '-input=false'],
      [dev, 'plan', '-input=false'],
      [prod, 'init', '-input=false'],
      [prod, 'plan', '-input=false'],
    ]);
    expect(tools.calls().every((c) => c.automation === '1')).toBe(true);
    expect(run.stderr).toContain('AWS credentials: access keys in the environment');
    expect(run.stderr).toMatch(/✔ mini-prod: terraform plan \(\d/);
    expect(readFileSync(summary, 'utf8')).toContain('### mini-dev: plan (terraform)\n\n**Plan: 3 to add, 0 to change, 0 to destroy.**');
  });

  it('synthesizes, checks policy, then applies in order with -auto-approve -input=false', async () => {
    const tools = binDir(['terraform']);
    const fresh = scratch('out-');
    const run = await fleet(['deploy', 'mini-prod', 'mini-dev', '--auto-approve', '--outdir', fresh], { bin: tools.bin, log: tools.log, env: { ...FAKE_KEYS, ...TWO_STACKS } });
    expect(run.code).toBe(0);
    const steps = [...run.stderr.matchAll(/\[fleet\] ▶ (.*)/g)].map((m) => m[1].replace(/ \(.*/, ''));
    expect(steps).toEqual(['synth', 'policy', 'mini-dev: terraform init', 'mini-dev: terraform apply', 'mini-prod: terraform init', 'mini-prod: terraform apply']);
    expect(tools.calls().map((c) => c.argv.slice(1))).toEqual([['init', '-input=false'], ['apply', '-auto-approve', '-input=false'], ['init', '-input=false'], ['apply', '-auto-approve', '-input=false']]);
    expect(tools.calls()[1].argv[0]).toBe(`-chdir=${join(fresh, 'stacks', 'mini-dev')}`);
    expect(run.stderr).toMatch(/✔ deploy mini-dev, mini-prod done in \d/);
  });

  it('stops at the first failed stack and names the ones it did not deploy', async () => {
    const tools = binDir(['terraform']);
    const run = await fleet(['deploy', 'all', '--auto-approve', '--outdir', outdir, '--skip-synth'], { bin: tools.bin, log: tools.log, env: { ...FAKE_KEYS, FAKE_TOOL_FAIL: 'apply' } });
    expect(run.code).toBe(1);
    expect(tools.calls().map((c) => c.argv[1])).toEqual(['init', 'apply']);
    expect(run.stderr).toContain('mini-dev: terraform apply failed (exit code 3).');
    expect(run.stderr).toContain('not deploying mini-prod after mini-dev failed');
    expect(run.stderr).toContain('fleet: deploy failed for mini-dev');
  });

  it('refuses to deploy local state from CI unless told to', async () => {
    const tools = binDir(['terraform']);
    const refused = await fleet(['deploy', 'mini-dev', '--auto-approve', '--outdir', outdir, '--skip-synth'], { bin: tools.bin, log: tools.log, env: { ...FAKE_KEYS, CI: 'true' } });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('mini-dev keeps Terraform state in a local file, which a CI runner discards after the job. Set TF_STATE_BUCKET');
    expect(tools.calls()).toEqual([]);
    const allowed = await fleet(['deploy', 'mini-dev', '--auto-approve', '--allow-local-state', '--outdir', outdir, '--skip-synth'], { bin: tools.bin, log: tools.log, env: { ...FAKE_KEYS, CI: 'true' } });
    expect(allowed.code).toBe(0);
  });

  it('does not deploy without --auto-approve when nobody can confirm', async () => {
    const tools = binDir(['terraform']);
    const run = await fleet(['deploy', 'mini-dev', '--outdir', outdir, '--skip-synth'], { bin: tools.bin, log: tools.log, env: FAKE_KEYS });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('deploy without --auto-approve asks for confirmation, but stdin is not a terminal. In CI pass --auto-approve');
    expect(tools.calls()).toEqual([]);
  });

  it('says terraform is missing before doing anything else', async () => {
    const tools = binDir([]);
    const fresh = scratch('out-');
    const run = await fleet(['diff', 'mini-dev', '--outdir', fresh], { bin: tools.bin, env: FAKE_KEYS });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('fleet: terraform is not on PATH. Install terraform >= 1.5');
    expect(existsSync(join(fresh, 'manifest.json'))).toBe(false);
  });

  it('explains missing AWS credentials, a missing profile and a half-set key pair', async () => {
    const tools = binDir(['terraform']);
    const args = ['diff', 'mini-dev', '--outdir', outdir, '--skip-synth'];
    const none = await fleet(args, { bin: tools.bin, log: tools.log });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("fleet: no AWS credentials found for diff: terraform's AWS provider needs them");
    expect(none.stderr).toContain('aws-actions/configure-aws-credentials with role-to-assume (OIDC)');
    const profile = await fleet(args, { bin: tools.bin, log: tools.log, env: { AWS_PROFILE: 'deployer' } });
    expect(profile.stderr).toMatch(/AWS_PROFILE is 'deployer' but .*credentials and .*config define no such profile \(found: none\)/);
    const half = await fleet(args, { bin: tools.bin, log: tools.log, env: { AWS_ACCESS_KEY_ID: FAKE_KEYS.AWS_ACCESS_KEY_ID } });
    expect(half.stderr).toContain('AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not');
    expect(tools.calls()).toEqual([]);
  });

  it('accepts a profile from the shared config, web identity and container credentials', async () => {
    const tools = binDir(['terraform']);
    const home = scratch('home-');
    mkdirSync(join(home, '.aws'));
    writeFileSync(join(home, '.aws', 'config'), '[default]\nregion = us-east-1\n\n[profile deployer]\nrole_arn = arn:aws:iam::123456789012:role/deployer\n');
    const args = ['diff', 'mini-dev', '--outdir', outdir, '--skip-synth'];
    const sources = [
      [{ HOME: home }, 'the default profile'],
      [{ HOME: home, AWS_PROFILE: 'deployer' }, "profile 'deployer'"],
      [{ AWS_WEB_IDENTITY_TOKEN_FILE: '/var/run/token', AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/ci' }, 'web identity (OIDC) for arn:aws:iam::123456789012:role/ci'],
      [{ AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: '/v2/credentials/x' }, 'container credentials'],
    ] as const;
    for (const [env, source] of sources) {
      const run = await fleet(args, { bin: tools.bin, log: tools.log, env });
      expect(run.stderr).toContain(`AWS credentials: ${source}`);
      expect(run.code).toBe(0);
    }
  });
});

describe('fleet with the cdktf engine', () => {
  it('runs cdktf diff/deploy <stack> --skip-synth against the synthesized output', async () => {
    const tools = binDir(['terraform', 'cdktf']);
    const common = ['--engine', 'cdktf', '--outdir', outdir, '--skip-synth'];
    expect((await fleet(['diff', 'mini-dev', ...common], { bin: tools.bin, log: tools.log, env: FAKE_KEYS })).code).toBe(0);
    expect((await fleet(['deploy', 'mini-prod', '--auto-approve', ...common], { bin: tools.bin, log: tools.log, env: FAKE_KEYS })).code).toBe(0);
    expect(tools.calls().map((c) => [c.tool, ...c.argv])).toEqual([
      ['cdktf', 'diff', 'mini-dev', '--skip-synth', '--output', outdir],
      ['cdktf', 'deploy', 'mini-prod', '--skip-synth', '--output', outdir, '--auto-approve'],
    ]);
  });

  it('says how to install the cdktf CLI when it is missing', async () => {
    const tools = binDir(['terraform']);
    const run = await fleet(['diff', 'mini-dev', '--engine', 'cdktf', '--outdir', outdir, '--skip-synth'], { bin: tools.bin, log: tools.log, env: FAKE_KEYS });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('the cdktf CLI is not installed (it is not a dependency of this project). Install it with `npm install --global cdktf-cli@0.21.0`');
    expect(run.stderr).toContain('or use `--engine terraform`');
  });
});

describe('fleet usage errors', () => {
  const tools = binDir(['terraform']);
  it.each([
    [['launch'], "Unknown command 'launch'; use one of synth, policy, diff, deploy."],
    [['diff'], "diff needs a stack name or 'all'"],
    [['diff', 'mini-dev', '--engine', 'pulumi'], "Unknown --engine 'pulumi'; use one of terraform, cdktf."],
    [['deploy', 'all', '--yes'], "Unknown option '--yes'"],
    [['synth', 'mini-dev'], 'synth takes no stack'],
    [[], 'A command is needed.'],
  ])('%j exits 2: %s', async (args, message) => {
    const run = await fleet(args, { bin: tools.bin, env: FAKE_KEYS });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
  });

  it('lists the known stacks for an unknown one', async () => {
    const run = await fleet(['diff', 'mini-staging', '--outdir', outdir, '--skip-synth'], { bin: tools.bin, env: FAKE_KEYS });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`Unknown stack 'mini-staging'. Known stacks (from ${join(outdir, 'manifest.json')}): mini-dev, mini-prod; or 'all'.`);
  });

  it('prints its help', async () => {
    const run = await fleet(['--help'], { bin: tools.bin });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Usage: npm run fleet -- <command>');
  });
});

describe('fleet on the reference app', () => {
  it('synthesizes both stacks with the S3 backend from the workflow variables, passes policy and plans dev', async () => {
    const tools = binDir(['terraform']);
    const out = scratch('reference-');
    // GitHub sets a variable that is not configured to the empty string: the app must fall back to its defaults.
    const unset = ['TF_STATE_LOCK_TABLE', 'TF_STATE_KEY_PREFIX', 'INFERENCE_DEV_REGION', 'INFERENCE_PROD_REGION', 'INFERENCE_DEV_CERTIFICATE_ARN', 'INFERENCE_PROD_CERTIFICATE_ARN', 'INFERENCE_DEV_UPSTREAM_URLS', 'INFERENCE_PROD_UPSTREAM_URLS'];
    const env = { ...FAKE_KEYS, ...Object.fromEntries(unset.map((k) => [k, ''])), TF_STATE_BUCKET: 'fleet-state', TF_STATE_REGION: 'eu-west-1' };
    const run = await runCli(FLEET, ['diff', 'inference-dev', '--outdir', out], { cwd: ROOT, bin: tools.bin, log: tools.log, env });
    expect(run.stderr).toContain(`synthesized 2 stack(s): inference-dev (${join(out, 'stacks', 'inference-dev', 'cdk.tf.json')}), inference-prod`);
    expect(run.stderr).toMatch(/inference-dev: 0 error\(s\)/);
    expect(run.code).toBe(0);
    const chdir = `-chdir=${join(out, 'stacks', 'inference-dev')}`;
    expect(tools.calls().map((c) => c.argv)).toEqual([[chdir, 'init', '-input=false'], [chdir, 'plan', '-input=false']]);
    const plan = JSON.parse(readFileSync(join(out, 'stacks', 'inference-dev', 'cdk.tf.json'), 'utf8'));
    expect(plan.terraform.backend).toEqual({ s3: expect.objectContaining({ bucket: 'fleet-state', region: 'eu-west-1', key: 'cdktf-inference-fleet/inference-dev.tfstate', encrypt: true }) });
  });
});
