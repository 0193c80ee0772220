#!/usr/bin/env node
// The fleet CLI for any CI system (the GitHub workflows call it too): synth → policy → diff or deploy, for one
// stack or all, through the cdktf CLI or plain terraform on the synthesized folders.
'use strict';
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const { CliError, parseOptions, readCdktfConfig, resolveOutdir, readManifest, selectStacks, which, formatDuration, reporter, appendSummary, runMain } = require('./lib/cli');

const USAGE = `Usage: npm run fleet -- <command> [stack ...|all] [options]

Commands:
  synth                  synthesize every stack with the app command of cdktf.json
  policy [stack ...]     summarize the policy reports of the last synth; exit 1 on policy errors
  diff <stack ...|all>   synth, policy, then plan each stack
  deploy <stack ...|all> synth, policy, then apply each stack in dependency order (stops at the first failure)

Options:
  --engine terraform|cdktf  terraform (default): terraform -chdir=<outdir>/stacks/<stack> init, then plan or apply
                            cdktf: cdktf diff|deploy <stack> --skip-synth (needs cdktf-cli@0.21.0 installed)
  --auto-approve            apply without asking; required when stdin is not a terminal (CI)
  --outdir <dir>            synthesized output (default: $CDKTF_OUTDIR, cdktf.json "output", or cdktf.out)
  --skip-synth              use the output of an earlier synth as it is
  --summary <file>          append a Markdown summary, e.g. --summary "$GITHUB_STEP_SUMMARY"
  --skip-credential-check   do not look for AWS credentials before diff and deploy
  --allow-local-state       deploy in CI (CI is set) although a stack keeps its state in a local file
  -h, --help                show this help

Exit codes: 0 success, 1 policy errors or a failed step, 2 bad usage.`;

const OPTIONS = {
  engine: { type: 'string', default: 'terraform' },
  'auto-approve': { type: 'boolean', default: false },
  outdir: { type: 'string' },
  'skip-synth': { type: 'boolean', default: false },
  summary: { type: 'string' },
  'skip-credential-check': { type: 'boolean', default: false },
  'allow-local-state': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
};
const ENGINES = ['terraform', 'cdktf'];
const COMMANDS = ['synth', 'policy', 'diff', 'deploy'];
const PLAN_OUTPUT_LIMIT = 60_000; // characters per stack in the summary; GitHub caps a step summary at 1 MiB
const progress = reporter('fleet');

// ---------------------------------------------------------------------------------------------------------
// Policy reports (written by the policy aspect beside each stack's cdk.tf.json)

/**
 * Policy state of each stack from its policy-report.json (constructs/policy/report.ts: `summary.errors`,
 * `summary.warnings`, `findings[]` with status 'failed' or 'suppressed'). A missing report counts as an error:
 * the gate must not pass because the checks did not run.
 */
function readPolicy(stacks) {
  return stacks.map((stack) => {
    const json = path.join(stack.dir, 'policy-report.json');
    const md = path.join(stack.dir, 'policy-report.md');
    if (!fs.existsSync(json)) return { stack, missing: json, failed: [], errors: 1, warnings: 0, suppressed: 0 };
    let report;
    try {
      report = JSON.parse(fs.readFileSync(json, 'utf8'));
    } catch (error) {
      throw new CliError(`${json} is not valid JSON (${error.message}); synthesize again.`);
    }
    const failed = (report.findings ?? []).filter((f) => f.status === 'failed');
    const count = (severity) => failed.filter((f) => f.severity === severity).length;
    return {
      stack,
      failed,
      errors: report.summary?.errors ?? count('error'),
      warnings: report.summary?.warnings ?? count('warning'),
      suppressed: report.summary?.suppressed ?? 0,
      markdown: fs.existsSync(md) ? fs.readFileSync(md, 'utf8') : undefined,
    };
  });
}

function printPolicy(results) {
  for (const r of results) {
    if (r.missing) {
      progress.info(`  ${r.stack.name}: no policy report at ${r.missing}. The policy checks did not run: apply PolicyAspect to every stack (stacks/inference-stack.ts).`);
      continue;
    }
    progress.info(`  ${r.stack.name}: ${r.errors} error(s), ${r.warnings} warning(s), ${r.suppressed} suppressed`);
    for (const f of r.failed) progress.info(`    ${f.severity === 'error' ? '✖' : '!'} ${f.ruleId} ${f.path}: ${f.message}${f.fix ? `. Fix: ${f.fix}` : ''}`);
  }
}

function policySummary(results) {
  const rows = results.map((r) => `| ${r.stack.name} | ${r.missing ? 'no report' : r.errors} | ${r.warnings} | ${r.suppressed} |`);
  const details = results
    .filter((r) => r.markdown)
    .map((r) => `<details><summary>${r.stack.name} policy report</summary>\n\n${r.markdown.trim()}\n\n</details>`);
  return ['### Policy', '', '| stack | errors | warnings | suppressed |', '|---|---|---|---|', ...rows, '', ...details].join('\n');
}

async function checkPolicy(ctx, stacks) {
  const results = await progress.step(`policy (${stacks.map((s) => s.name).join(', ')})`, async () => readPolicy(stacks));
  printPolicy(results);
  appendSummary(ctx.summary, policySummary(results));
  const errors = results.reduce((n, r) => n + r.errors, 0);
  if (errors > 0) throw new CliError(`policy: ${errors} error(s) in ${results.filter((r) => r.errors).map((r) => r.stack.name).join(', ')}; fix them (see the reports above) before diff or deploy.`);
}

// ---------------------------------------------------------------------------------------------------------
// Prerequisites

/** Where the AWS SDK and the Terraform provider would find credentials, or undefined. */
async function findAwsCredentials(env = process.env) {
  if (env.AWS_ACCESS_KEY_ID) {
    if (!env.AWS_SECRET_ACCESS_KEY) throw new CliError('AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: export both (and AWS_SESSION_TOKEN for temporary keys).');
    return 'access keys in the environment';
  }
  if (env.AWS_WEB_IDENTITY_TOKEN_FILE && env.AWS_ROLE_ARN) return `web identity (OIDC) for ${env.AWS_ROLE_ARN}`;
  if (env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI || env.AWS_CONTAINER_CREDENTIALS_FULL_URI) return 'container credentials';
  const home = os.homedir();
  const files = [env.AWS_SHARED_CREDENTIALS_FILE || path.join(home, '.aws', 'credentials'), env.AWS_CONFIG_FILE || path.join(home, '.aws', 'config')];
  const sections = files.filter((f) => fs.existsSync(f)).flatMap((f) => [...fs.readFileSync(f, 'utf8').matchAll(/^\s*\[\s*(?:profile\s+)?([^\]\s]+)\s*\]/gm)].map((m) => m[1]));
  if (env.AWS_PROFILE) {
    if (sections.includes(env.AWS_PROFILE)) return `profile '${env.AWS_PROFILE}'`;
    throw new CliError(`AWS_PROFILE is '${env.AWS_PROFILE}' but ${files.join(' and ')} define no such profile (found: ${sections.join(', ') || 'none'}).`);
  }
  if (sections.includes('default')) return 'the default profile';
  if (String(env.AWS_EC2_METADATA_DISABLED).toLowerCase() !== 'true' && (await instanceMetadataReachable())) return 'the EC2 instance profile';
  return undefined;
}

/** IMDSv2 answers a token request within a second on EC2; elsewhere the address does not answer. */
function instanceMetadataReachable() {
  return new Promise((resolve) => {
    const req = http.request({ host: '169.254.169.254', path: '/latest/api/token', method: 'PUT', timeout: 1000, headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '60' } }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

async function checkCredentials(ctx) {
  if (ctx.skipCredentialCheck) return;
  const source = await findAwsCredentials();
  if (!source) {
    throw new CliError(
      [
        `no AWS credentials found for ${ctx.command}: terraform's AWS provider needs them to read the current state and plan (local state too).`,
        'Looked for: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY, AWS_PROFILE, AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN,',
        'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/FULL_URI, a [default] profile in ~/.aws/credentials or ~/.aws/config, and EC2 instance metadata.',
        'Fix: in GitHub Actions, run aws-actions/configure-aws-credentials with role-to-assume (OIDC) before this step;',
        'elsewhere export AWS_PROFILE or the access keys of a deploy role. Pass --skip-credential-check if your setup is one this check cannot see.',
      ].join('\n'),
    );
  }
  progress.info(`AWS credentials: ${source}`);
}

/** The executables an engine needs; terraform runs in both (the cdktf CLI drives it). */
function resolveTools(ctx) {
  const terraform = which('terraform');
  if (!terraform) {
    throw new CliError(
      'terraform is not on PATH. Install terraform >= 1.5 (https://developer.hashicorp.com/terraform/install; in GitHub Actions hashicorp/setup-terraform) or OpenTofu with a `terraform` symlink, then run again.',
    );
  }
  if (ctx.engine !== 'cdktf') return { terraform };
  const cdktf = [path.join(ctx.root, 'node_modules', '.bin', 'cdktf')].find((f) => fs.existsSync(f)) ?? which('cdktf');
  if (!cdktf) {
    throw new CliError(
      'the cdktf CLI is not installed (it is not a dependency of this project). Install it with `npm install --global cdktf-cli@0.21.0` (or `npm install --no-save cdktf-cli@0.21.0`), or use `--engine terraform`, which needs only terraform.',
    );
  }
  return { terraform, cdktf };
}

/** A CI runner's disk is gone after the job: state kept there would orphan everything the deploy created. */
function checkStateBackends(ctx, stacks) {
  if (ctx.command !== 'deploy' || !process.env.CI || ctx.allowLocalState) return;
  const local = stacks.filter((stack) => {
    const backend = JSON.parse(fs.readFileSync(stack.file, 'utf8')).terraform?.backend ?? {};
    return Object.keys(backend).length === 0 || 'local' in backend;
  });
  if (local.length) {
    throw new CliError(
      `${local.map((s) => s.name).join(', ')} keep${local.length === 1 ? 's' : ''} Terraform state in a local file, which a CI runner discards after the job. ` +
        'Set TF_STATE_BUCKET (and TF_STATE_REGION, optionally TF_STATE_LOCK_TABLE) so the stacks synthesize with the S3 backend, or pass --allow-local-state.',
    );
  }
}

// ---------------------------------------------------------------------------------------------------------
// Running tools

const stripAnsi = (text) => text.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');

/** Runs a tool with its output streamed to ours; `capture` also returns stdout. Fails with the exit code. */
async function run(ctx, label, file, args, { capture = false, interactive = false, env = {} } = {}) {
  const { execa } = await import('execa');
  return progress.step(label, async () => {
    const result = await execa(file, args, {
      cwd: ctx.root,
      env: { CHECKPOINT_DISABLE: '1', ...env },
      stdin: interactive ? 'inherit' : 'ignore',
      stdout: capture ? ['pipe', 'inherit'] : 'inherit',
      stderr: 'inherit',
      reject: false,
    });
    if (result.failed) {
      const why = result.code === 'ENOENT' ? `${file} was not found` : result.exitCode !== undefined ? `exit code ${result.exitCode}` : result.shortMessage;
      throw new CliError(`${label} failed (${why}).`);
    }
    return capture ? stripAnsi(String(result.stdout)) : '';
  });
}

/** Paths in commands read better relative to the project, when the output lives inside it. */
function displayPath(ctx, file) {
  const rel = path.relative(ctx.root, file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

async function synth(ctx) {
  const app = ctx.config.app;
  if (!app) throw new CliError(`cdktf.json in ${ctx.root} has no "app" command (e.g. "node scripts/synth.js").`, 2);
  fs.mkdirSync(ctx.outdir, { recursive: true });
  // Reports left by an earlier synth would pass for this one's if it fails before writing its own.
  const stacksDir = path.join(ctx.outdir, 'stacks');
  if (fs.existsSync(stacksDir)) {
    for (const name of fs.readdirSync(stacksDir)) {
      for (const report of ['policy-report.json', 'policy-report.md']) fs.rmSync(path.join(stacksDir, name, report), { force: true });
    }
  }
  const { execa } = await import('execa');
  await progress.step(`synth (${app} → ${displayPath(ctx, ctx.outdir)})`, async () => {
    const result = await execa(app, { shell: true, cwd: ctx.root, env: { CDKTF_OUTDIR: ctx.outdir, CHECKPOINT_DISABLE: '1' }, stdin: 'ignore', stdout: 'inherit', stderr: 'inherit', reject: false });
    if (!result.failed) return;
    // A policy aspect that fails synth has written its reports first: show them.
    const written = fs.existsSync(stacksDir) ? fs.readdirSync(stacksDir).filter((n) => fs.existsSync(path.join(stacksDir, n, 'policy-report.json'))) : [];
    if (written.length) printPolicy(readPolicy(written.map((name) => ({ name, dir: path.join(stacksDir, name) }))));
    throw new CliError(`synth failed (exit code ${result.exitCode ?? result.shortMessage}): \`${app}\` in ${ctx.root}; its output is above.`);
  });
  const stacks = readManifest(ctx.outdir);
  progress.info(`synthesized ${stacks.length} stack(s): ${stacks.map((s) => `${s.name} (${displayPath(ctx, s.file)})`).join(', ')}`);
  return stacks;
}

function planHeadline(output) {
  return output.match(/Plan: \d+ to add, \d+ to change, \d+ to destroy\./)?.[0] ?? output.match(/Apply complete! Resources: [^\n]*/)?.[0] ?? (/No changes\./.test(output) ? 'No changes.' : 'See the output below.');
}

function toolSummary(ctx, stack, verb, output) {
  const text = output.length > PLAN_OUTPUT_LIMIT ? `${output.slice(0, PLAN_OUTPUT_LIMIT)}\n… (truncated; the full output is in the job log)` : output;
  return [`### ${stack.name}: ${verb} (${ctx.engine})`, '', `**${planHeadline(output)}**`, '', '<details><summary>Output</summary>', '', '```text', text.trim(), '```', '', '</details>'].join('\n');
}

async function terraformStack(ctx, tools, stack) {
  const chdir = `-chdir=${displayPath(ctx, stack.dir)}`;
  // Terraform words its hints for pipelines when nobody answers prompts.
  const env = ctx.autoApprove || ctx.command === 'diff' ? { TF_IN_AUTOMATION: '1' } : {};
  await run(ctx, `${stack.name}: terraform init`, tools.terraform, [chdir, 'init', '-input=false'], { env });
  if (ctx.command === 'diff') return run(ctx, `${stack.name}: terraform plan`, tools.terraform, [chdir, 'plan', '-input=false'], { capture: true, env });
  const args = ctx.autoApprove ? [chdir, 'apply', '-auto-approve', '-input=false'] : [chdir, 'apply'];
  return run(ctx, `${stack.name}: terraform apply`, tools.terraform, args, { capture: true, interactive: !ctx.autoApprove, env });
}

async function cdktfStack(ctx, tools, stack) {
  const args = [ctx.command, stack.name, '--skip-synth', '--output', ctx.outdir, ...(ctx.autoApprove ? ['--auto-approve'] : [])];
  return run(ctx, `${stack.name}: cdktf ${ctx.command}`, tools.cdktf, args, { capture: true, interactive: ctx.command === 'deploy' && !ctx.autoApprove });
}

// ---------------------------------------------------------------------------------------------------------

async function main(argv) {
  const { values, positionals } = parseOptions(argv, OPTIONS, 'npm run fleet --');
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (positionals.length === 0) throw new CliError(`A command is needed.\n\n${USAGE}`, 2);
  const [command, ...stackArgs] = positionals;
  if (!COMMANDS.includes(command)) throw new CliError(`Unknown command '${command}'; use one of ${COMMANDS.join(', ')}. Run \`npm run fleet -- --help\`.`, 2);
  if (!ENGINES.includes(values.engine)) throw new CliError(`Unknown --engine '${values.engine}'; use one of ${ENGINES.join(', ')}.`, 2);
  if (command === 'synth' && stackArgs.length) throw new CliError('synth takes no stack: it synthesizes every stack of the app.', 2);
  if ((command === 'diff' || command === 'deploy') && stackArgs.length === 0) throw new CliError(`${command} needs a stack name or 'all', e.g. \`npm run fleet -- ${command} inference-dev\`.`, 2);

  const root = process.cwd();
  const willSynth = command === 'synth' || (command !== 'policy' && !values['skip-synth']);
  const config = readCdktfConfig(root, willSynth);
  const ctx = {
    command,
    root,
    config,
    engine: values.engine,
    autoApprove: values['auto-approve'],
    outdir: resolveOutdir(root, config, values.outdir),
    summary: values.summary,
    skipCredentialCheck: values['skip-credential-check'],
    allowLocalState: values['allow-local-state'],
  };
  const started = Date.now();

  if (command === 'synth') {
    await synth(ctx);
    return 0;
  }
  if (command === 'policy') {
    await checkPolicy(ctx, selectStacks(readManifest(ctx.outdir), stackArgs, ctx.outdir));
    return 0;
  }

  // diff / deploy: everything that can be checked up front is, before the slow steps.
  if (command === 'deploy' && !ctx.autoApprove && !process.stdin.isTTY) {
    throw new CliError('deploy without --auto-approve asks for confirmation, but stdin is not a terminal. In CI pass --auto-approve (after a reviewed diff).', 2);
  }
  const tools = resolveTools(ctx);
  await checkCredentials(ctx);
  if (!values['skip-synth']) await synth(ctx);
  const stacks = selectStacks(readManifest(ctx.outdir), stackArgs, ctx.outdir);
  await checkPolicy(ctx, stacks);
  checkStateBackends(ctx, stacks);

  const failed = [];
  for (const [i, stack] of stacks.entries()) {
    try {
      const output = ctx.engine === 'cdktf' ? await cdktfStack(ctx, tools, stack) : await terraformStack(ctx, tools, stack);
      appendSummary(ctx.summary, toolSummary(ctx, stack, command === 'diff' ? 'plan' : 'deploy', output));
    } catch (error) {
      if (!(error instanceof CliError)) throw error;
      progress.info(error.message);
      appendSummary(ctx.summary, `### ${stack.name}: ${command} failed\n\n${error.message} See the job log.`);
      failed.push(stack.name);
      if (command === 'deploy') {
        const skipped = stacks.slice(i + 1).map((s) => s.name);
        if (skipped.length) progress.info(`not deploying ${skipped.join(', ')} after ${stack.name} failed`);
        break;
      }
    }
  }
  const elapsed = formatDuration(Date.now() - started);
  if (failed.length) throw new CliError(`${command} failed for ${failed.join(', ')} (${elapsed} in all).`);
  progress.info(`✔ ${command} ${stacks.map((s) => s.name).join(', ')} done in ${elapsed}`);
  return 0;
}

module.exports = { COMMANDS, ENGINES, OPTIONS };

if (require.main === module) runMain('fleet', main);
