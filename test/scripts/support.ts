// Helpers for the delivery tools' tests: a project folder around the mini-fleet app, stand-in executables that
// record how they were called, and a runner for the CLIs with a controlled environment.
import { appendFileSync, chmodSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { cleanupAfterExit, tempDir } from '../support/temp';

export const ROOT = resolve(__dirname, '../..');
export const FLEET = join(ROOT, 'scripts', 'fleet.js');
export const DIAGRAM = join(ROOT, 'scripts', 'diagram.js');

let scratchRoot: string | undefined;

/** A fresh folder under one temp root per test file, removed when the test process exits. */
export function scratch(prefix: string): string {
  if (!scratchRoot) {
    scratchRoot = tempDir('delivery-tests-');
    cleanupAfterExit(`rm -rf '${scratchRoot}'`);
  }
  return mkdtempSync(join(scratchRoot, prefix));
}

/** A project whose cdktf app is the mini fleet (test/scripts/fixtures/mini-app.ts). */
export function miniProject(): string {
  const dir = scratch('project-');
  writeFileSync(join(dir, 'cdktf.json'), JSON.stringify({ language: 'typescript', app: `node ${join(ROOT, 'scripts', 'run-ts.js')} test/scripts/fixtures/mini-app.ts` }));
  return dir;
}

export interface Call {
  tool: string;
  argv: string[];
  automation: string | null;
}

/**
 * A bin folder holding `node` and stand-ins for `tools` (terraform, cdktf): each appends its argv to a log,
 * prints what the real tool prints on success, and exits 3 when FAKE_TOOL_FAIL names its subcommand.
 */
export function binDir(tools: string[]): { bin: string; log: string; calls(): Call[] } {
  const dir = scratch('bin-');
  const bin = join(dir, 'bin');
  const log = join(dir, 'calls.jsonl');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  const script = `#!${process.execPath}
const fs = require('node:fs');
const tool = require('node:path').basename(process.argv[1]);
const argv = process.argv.slice(2);
fs.appendFileSync(process.env.FAKE_TOOL_LOG, JSON.stringify({ tool, argv, automation: process.env.TF_IN_AUTOMATION ?? null }) + '\\n');
const sub = argv.find((a) => !a.startsWith('-'));
if (process.env.FAKE_TOOL_FAIL === sub) { console.error(tool + ' ' + sub + ': simulated failure'); process.exit(3); }
if (sub === 'plan' || sub === 'diff') console.log('Plan: 3 to add, 0 to change, 0 to destroy.');
if (sub === 'apply' || sub === 'deploy') console.log('Apply complete! Resources: 3 added, 0 changed, 0 destroyed.');
`;
  for (const tool of tools) {
    writeFileSync(join(bin, tool), script);
    chmodSync(join(bin, tool), 0o755);
  }
  appendFileSync(log, '');
  return { bin, log, calls: () => readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) };
}

/** Fake static credentials: enough for the CLI's check, never used (terraform is a stand-in). */
export const FAKE_KEYS = { AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE', AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };

/** Runs a CLI with only the given environment (plus an empty HOME and no EC2 metadata probe). */
export async function runCli(script: string, args: string[], options: { cwd: string; bin: string; log?: string; env?: Record<string, string> }) {
  const home = scratch('home-');
  const result = await execa(process.execPath, [script, ...args], {
    cwd: options.cwd,
    env: { PATH: options.bin, HOME: home, AWS_EC2_METADATA_DISABLED: 'true', FAKE_TOOL_LOG: options.log ?? '/dev/null', ...options.env },
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
  });
  return { code: result.exitCode, stdout: String(result.stdout), stderr: String(result.stderr) };
}
