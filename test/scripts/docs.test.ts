// The README's reference tables are generated from the code; this fails when someone changed one without the other.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

it('README reference sections match the Props interfaces and the handler ENV_VARS (run `node scripts/docs.js` to update)', () => {
  const out = execFileSync(process.execPath, [join(__dirname, '..', '..', 'scripts', 'docs.js'), '--check'], { encoding: 'utf8' });
  expect(out).toMatch(/up to date/);
});
