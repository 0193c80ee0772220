// The on-disk bundle cache must never serve stale code: a changed input means a new bundle (and so a new
// launch template, which rolls the fleet), an unchanged one the same bytes.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..', '..');
const dir = join(root, 'dist', `cache-test-${process.pid}`);
const entry = join(dir, 'entry.ts');
const helper = join(dir, 'helper.ts');

const build = () => {
  const out = execFileSync(process.execPath, [join(root, 'scripts', 'run-ts.js'), 'scripts/build-handler.ts', entry], { cwd: root, encoding: 'utf8' });
  return /sha256 ([0-9a-f]{16})/.exec(out)![1];
};

afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('rebuilds when an imported file changes and reuses the bundle when nothing did', () => {
  mkdirSync(dir, { recursive: true });
  writeFileSync(entry, "import { greeting } from './helper';\nconsole.log(greeting);\n");
  writeFileSync(helper, "export const greeting = 'hello';\n");
  const first = build();
  expect(build()).toBe(first);
  writeFileSync(helper, "export const greeting = 'hello, fleet';\n");
  const second = build();
  expect(second).not.toBe(first);
  writeFileSync(helper, "export const greeting = 'hello';\n");
  expect(build()).toBe(first);
});
