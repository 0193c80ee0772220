// `npm run dev` end to end: it starts the real bundle with local services, serves the OpenAI API, and leaves
// nothing running after Ctrl-C.
import { execFileSync } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { freePort } from '../support/free-port';

jest.setTimeout(90_000);

const refused = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(false)));
    socket.once('error', () => resolve(true));
  });

let dev: ReturnType<typeof execa>;
afterAll(() => {
  dev?.kill('SIGKILL');
});

it('starts, serves a chat completion, and stops cleanly on SIGINT', async () => {
  const port = await freePort();
  dev = execa(process.execPath, [join(__dirname, '..', '..', 'scripts', 'run-ts.js'), 'scripts/dev.ts'], {
    cwd: join(__dirname, '..', '..'),
    env: { PORT: String(port), WORKERS: '1' },
    all: true,
    reject: false,
  });
  let output = '';
  dev.all!.on('data', (chunk) => (output += chunk));
  for (let i = 0; !output.includes('Ctrl-C stops everything'); i++) {
    if (i > 600 || dev.exitCode !== null) throw new Error(`npm run dev did not become ready:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(output).toContain(`curl -s http://127.0.0.1:${port}/v1/chat/completions`);

  const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'sim-llm', messages: [{ role: 'user', content: 'Hello' }], max_tokens: 5 }),
  });
  expect(res.status).toBe(200);
  expect(await res.json()).toMatchObject({ object: 'chat.completion', choices: [{ message: { role: 'assistant' } }] });

  const ports = [...output.matchAll(/(?:redis:\/\/[^:]*:|postgres [\d.]+:|http:\/\/127\.0\.0\.1:)(\d+)/g)].map((m) => Number(m[1]));
  expect(new Set(ports).size).toBeGreaterThanOrEqual(4);
  dev.kill('SIGINT');
  const result = await dev;
  expect(result.exitCode).toBe(0);
  expect(output).toMatch(/stopped/);
  for (const p of new Set(ports)) expect(await refused(p)).toBe(true);
  const leftovers = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => ports.some((p) => line.includes(`:${p}`) || line.includes(`-p ${p}`) || line.includes(`--port ${p}`)));
  expect(leftovers).toEqual([]);
});
