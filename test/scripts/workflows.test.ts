// The GitHub Actions workflows, parsed: triggers, least-privilege permissions, the steps that test, synth, check
// policy, draw, plan and deploy, OIDC, one concurrency group per stack, and commands the CLIs accept.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parse } from 'yaml';
import { ENVIRONMENTS } from '../../stacks/environments';
import { ROOT } from './support';

// The CLIs are plain CommonJS without type declarations.
const fleetCli = require('../../scripts/fleet.js');
const diagramCli = require('../../scripts/diagram.js');

type Step = { name?: string; uses?: string; run?: string; with?: Record<string, unknown>; env?: Record<string, string>; if?: string; id?: string };
type Job = { needs?: string | string[]; if?: string; permissions?: Record<string, string> | string; strategy?: any; concurrency?: any; environment?: any; env?: Record<string, string>; steps: Step[] };
type Workflow = { name: string; on: Record<string, any>; permissions: Record<string, string> | string; concurrency?: any; env?: Record<string, string>; jobs: Record<string, Job> };

const load = (file: string): Workflow => parse(readFileSync(join(ROOT, '.github', 'workflows', file), 'utf8'));
const pr = load('pr.yml');
const deploy = load('deploy.yml');
const workflows = [['pr.yml', pr], ['deploy.yml', deploy]] as const;
const STACKS = ENVIRONMENTS.map((e) => e.stackName);
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

const runs = (job: Job) => job.steps.map((s) => s.run ?? '').join('\n');
const step = (job: Job, uses: string) => job.steps.find((s) => s.uses?.startsWith(`${uses}@`));
const usesAws = (job: Job) => Boolean(step(job, 'aws-actions/configure-aws-credentials'));

/** `npm run <script> -- args` lines of a job, split like a shell would (quotes, "$VAR" kept as one word). */
function npmRuns(job: Job, script: string): string[][] {
  const lines = runs(job).split('\n').filter((l) => l.trim().startsWith(`npm run ${script} --`));
  return lines.map((l) => [...l.trim().slice(`npm run ${script} --`.length).matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]));
}

describe.each(workflows)('%s', (_file, wf) => {
  it('grants only contents: read at the top, and id-token: write only to jobs that assume the AWS role', () => {
    expect(wf.permissions).toEqual({ contents: 'read' });
    for (const [name, job] of Object.entries(wf.jobs)) {
      const expected = usesAws(job) ? { contents: 'read', 'id-token': 'write' } : undefined;
      expect([name, job.permissions]).toEqual([name, expected]);
    }
  });

  it('pins every action to a major version or a commit', () => {
    const uses = Object.values(wf.jobs).flatMap((j) => j.steps.map((s) => s.uses).filter(Boolean));
    expect(uses.length).toBeGreaterThan(3);
    for (const u of uses) expect(u).toMatch(/^[\w.-]+\/[\w./-]+@(v\d+|[0-9a-f]{40})$/);
  });

  it('sets CHECKPOINT_DISABLE and Node 20 with the npm cache, and installs with npm ci', () => {
    expect(wf.env?.CHECKPOINT_DISABLE).toBe('1');
    for (const job of Object.values(wf.jobs)) {
      expect(step(job, 'actions/checkout')?.with).toEqual({ 'persist-credentials': false });
      expect(step(job, 'actions/setup-node')?.with).toEqual({ 'node-version': 20, cache: 'npm' });
      expect(runs(job)).toContain('npm ci --no-audit --no-fund');
    }
  });

  it('never interpolates expressions into shell scripts (values reach run steps through env)', () => {
    for (const job of Object.values(wf.jobs)) for (const s of job.steps) expect(s.run ?? '').not.toContain('${{');
  });

  it('tests, synthesizes and checks policy before anything touches AWS', () => {
    const { test } = wf.jobs;
    expect(test.needs).toBeUndefined();
    expect(usesAws(test)).toBe(false);
    const order = ['npm ci', 'npm test', 'npm run fleet -- synth', 'npm run fleet -- policy'].map((cmd) => test.steps.findIndex((s) => s.run?.startsWith(cmd)));
    expect(order.every((i, n) => i >= 0 && (n === 0 || i > order[n - 1]))).toBe(true);
    const awsJobs = Object.entries(wf.jobs).filter(([, j]) => usesAws(j));
    expect(awsJobs.length).toBe(1);
    for (const [, job] of awsJobs) expect(job.needs).toBe('test');
  });

  it('installs what .ci/run installs for the tests (and Graphviz)', () => {
    const ciRun = readFileSync(join(ROOT, '.ci', 'run'), 'utf8');
    const ciPackages = [...ciRun.matchAll(/missing\+=\(([\w-]+)\)/g)].map((m) => m[1]);
    const install = runs(wf.jobs.test);
    for (const p of [...ciPackages, 'redis-server', 'postgresql', 'graphviz']) expect(install).toContain(`missing+=(${p})`);
    expect(install).toContain('apt-get install -y -qq --no-install-recommends "${missing[@]}"');
    expect(install).toContain('sudo service postgresql stop');
  });

  it('calls the CLIs only with commands and options they accept', () => {
    const fleetCalls = Object.values(wf.jobs).flatMap((j) => npmRuns(j, 'fleet'));
    expect(fleetCalls.length).toBeGreaterThan(2);
    for (const args of fleetCalls) {
      const { values, positionals } = parseArgs({ args, options: fleetCli.OPTIONS, allowPositionals: true, strict: true }) as { values: Record<string, unknown>; positionals: string[] };
      expect(fleetCli.COMMANDS).toContain(positionals[0]);
      expect(fleetCli.ENGINES).toContain(values.engine);
      if (values.summary !== undefined) expect(values.summary).toBe('$GITHUB_STEP_SUMMARY');
    }
    for (const args of Object.values(wf.jobs).flatMap((j) => npmRuns(j, 'diagram'))) parseArgs({ args, options: diagramCli.OPTIONS, allowPositionals: true, strict: true });
  });

  it('assumes the AWS role through OIDC, with terraform 1.x and the cdktf CLI of the cdktf version in use', () => {
    const [job] = Object.values(wf.jobs).filter(usesAws);
    const aws = step(job, 'aws-actions/configure-aws-credentials')!;
    expect(aws.with?.['role-to-assume']).toMatch(/^\$\{\{ (vars\.AWS_PLAN_ROLE_ARN \|\| )?vars\.AWS_ROLE_ARN \}\}$/);
    expect(aws.with?.['aws-region']).toMatch(/vars\.AWS_REGION/);
    expect(JSON.stringify(job)).not.toMatch(/AWS_SECRET_ACCESS_KEY|secrets\./);
    expect(step(job, 'hashicorp/setup-terraform')?.with).toEqual({ terraform_version: expect.stringMatching(/^1\.\d+\.\d+$/), terraform_wrapper: false });
    expect(runs(job)).toContain(`npm install --global --no-audit --no-fund cdktf-cli@${pkg.dependencies.cdktf}`);
    for (const v of ['TF_STATE_BUCKET', 'TF_STATE_REGION', 'TF_STATE_LOCK_TABLE', 'TF_STATE_KEY_PREFIX', 'INFERENCE_PROD_CERTIFICATE_ARN']) expect(job.env?.[v]).toBe(`\${{ vars.${v} }}`);
    expect(job.env?.STACK).toBe('${{ matrix.stack }}');
  });
});

describe('pull request workflow', () => {
  it('runs on pull requests to main', () => {
    expect(Object.keys(pr.on)).toEqual(['pull_request']);
    expect(pr.on.pull_request.branches).toEqual(['main']);
  });

  it('uploads the policy reports and the diagrams, and links the diagrams from the job summary', () => {
    const { test } = pr.jobs;
    const uploads = test.steps.filter((s) => s.uses?.startsWith('actions/upload-artifact@'));
    expect(uploads.map((s) => s.with?.path)).toEqual(['cdktf.out/stacks/*/policy-report.*', 'diagrams/']);
    expect(npmRuns(test, 'diagram')).toEqual([['all', '--out', 'diagrams', '--summary', '$GITHUB_STEP_SUMMARY']]);
    const link = test.steps.find((s) => s.env?.ARTIFACT_URL)!;
    expect(link.env?.ARTIFACT_URL).toBe('${{ steps.diagrams.outputs.artifact-url }}');
    expect(link.run).toContain('>> "$GITHUB_STEP_SUMMARY"');
  });

  it('plans every stack with cdktf diff in its own concurrency group, only for branches of this repository', () => {
    const { plan } = pr.jobs;
    expect(plan.strategy.matrix.stack).toEqual(STACKS);
    expect(plan.strategy['fail-fast']).toBe(false);
    expect(plan.concurrency.group).toContain('${{ matrix.stack }}');
    expect(plan.if).toContain("vars.AWS_ROLE_ARN != ''");
    expect(plan.if).toContain('github.event.pull_request.head.repo.full_name == github.repository');
    expect(npmRuns(plan, 'fleet')).toEqual([['diff', '$STACK', '--engine', 'cdktf', '--summary', '$GITHUB_STEP_SUMMARY']]);
    expect(plan.environment).toBeUndefined();
  });
});

describe('deploy workflow', () => {
  const job = deploy.jobs.deploy;

  it('runs on pushes to main and by hand for one stack or all', () => {
    expect(Object.keys(deploy.on).sort()).toEqual(['push', 'workflow_dispatch']);
    expect(deploy.on.push.branches).toEqual(['main']);
    expect(deploy.on.workflow_dispatch.inputs.stack.options).toEqual(['all', ...STACKS]);
  });

  it('deploys one stack at a time, dev first, each in its GitHub environment and concurrency group', () => {
    expect(job.strategy['max-parallel']).toBe(1);
    expect(job.strategy['fail-fast']).toBe(true);
    expect(job.strategy.matrix.stack).toContain(`'${JSON.stringify(STACKS)}'`);
    expect(STACKS[0]).toBe('inference-dev');
    expect(job.environment).toEqual({ name: '${{ matrix.stack }}' });
    expect(job.concurrency).toEqual({ group: 'deploy-${{ matrix.stack }}', 'cancel-in-progress': false });
  });

  it('refuses local state and prod without its certificate, then runs cdktf deploy --auto-approve', () => {
    const guard = job.steps.findIndex((s) => s.run?.includes('if [ -z "$TF_STATE_BUCKET" ]'));
    expect(job.steps[guard].run).toContain('if [ "$STACK" = inference-prod ] && [ -z "$INFERENCE_PROD_CERTIFICATE_ARN" ]');
    const run = job.steps.findIndex((s) => s.run?.startsWith('npm run fleet -- deploy'));
    expect(guard).toBe(0);
    expect(run).toBe(job.steps.length - 1);
    expect(npmRuns(job, 'fleet')).toEqual([['deploy', '$STACK', '--engine', 'cdktf', '--auto-approve', '--summary', '$GITHUB_STEP_SUMMARY']]);
    expect(job.env?.TF_CLI_ARGS_apply).toMatch(/^-lock-timeout=\d+m$/);
  });
});

describe('package.json', () => {
  it('wires the CLIs as npm scripts', () => {
    expect(pkg.scripts.fleet).toBe('node scripts/fleet.js');
    expect(pkg.scripts.diagram).toBe('node scripts/diagram.js');
  });
});
