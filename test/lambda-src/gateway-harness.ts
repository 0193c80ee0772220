// Starts the real gateway (in-process, or main.ts bundled exactly like the user-data bundle in a child
// process) and talks to it over HTTP.
import { ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { App, startApp } from '../../lambda-src/app';
import { loadConfig } from '../../lambda-src/config';
import { bundleHandler } from '../../constructs/handler-bundle';
import { freePort } from '../support/free-port';
import { tempDir } from '../support/temp';
import { waitFor } from '../support/wait';

export interface Gateway extends App {
  /** Parsed request log lines. */
  logs: Record<string, any>[];
}

/** The app in this process: loopback, a free port, auth off unless `env` says otherwise. */
export async function startGateway(env: Record<string, string> = {}): Promise<Gateway> {
  const logs: Record<string, any>[] = [];
  const app = await startApp(loadConfig({ HOST: '127.0.0.1', PORT: '0', AUTH: 'disabled', SIM_TTFT_MS: '0', SIM_ITL_MS: '0', ...env }), (line) => logs.push(JSON.parse(line)));
  return Object.assign(app, { logs });
}

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

/** One request; a body object is sent as JSON, a string or Buffer as is. */
export async function call(url: string, path: string, opts: { method?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Reply> {
  const { body } = opts;
  const raw = body === undefined || typeof body == 'string' || Buffer.isBuffer(body) ? (body as string | Buffer | undefined) : JSON.stringify(body);
  const res = await fetch(url + path, { method: opts.method ?? (body === undefined ? 'GET' : 'POST'), headers: { 'content-type': 'application/json', ...opts.headers }, body: raw });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** The `data:` payloads of an event-stream body. */
export const frames = (text: string) => text.split('\n\n').filter(Boolean).map((f) => f.replace(/^data: /, ''));

/** Asserts the OpenAI error shape and returns the error object. */
export function openaiError(r: Reply, status: number): { message: string; type: string; param: string | null; code: string | null } {
  expect({ status: r.status, keys: Object.keys(r.json?.error ?? {}).sort() }).toEqual({ status, keys: ['code', 'message', 'param', 'type'] });
  expect(typeof r.json.error.message).toBe('string');
  return r.json.error;
}

/** Writes raw bytes on a fresh connection and resolves with everything the server sends back before closing. */
export function rawRequest(url: string, data: string | Buffer, holdOpenMs = 0): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    let out = '';
    const socket = connect(Number(port), hostname, () => {
      socket.write(data);
      if (holdOpenMs) setTimeout(() => socket.end(), holdOpenMs).unref();
    });
    socket.on('data', (d) => (out += d)).on('close', () => resolve(out)).on('error', reject);
  });
}

/** Prometheus value of one series (0 when absent). */
export async function metric(url: string, series: string): Promise<number> {
  const text = (await call(url, '/metrics')).text;
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

export interface GatewayProcess {
  url: string;
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
}

let bundlePath: string | undefined;

/** main.ts bundled as in production (constructs/handler-bundle.ts) and run with node; resolves once /healthz answers. */
export async function spawnGateway(env: Record<string, string>): Promise<GatewayProcess> {
  if (!bundlePath) {
    bundlePath = join(tempDir('gateway-bundle-'), 'main.js');
    writeFileSync(bundlePath, bundleHandler().code);
  }
  const port = await freePort();
  const child = spawn(process.execPath, [bundlePath], {
    env: { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: String(port), AUTH: 'disabled', WORKERS: '1', SIM_TTFT_MS: '0', SIM_ITL_MS: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal!)));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`the gateway on ${url}`, async () => {
    if (child.exitCode !== null) throw new Error(`gateway exited (${child.exitCode}):\n${stderr}`);
    return fetch(url + '/healthz').then((r) => r.ok, () => false);
  });
  return { url, child, exited, stdout: () => stdout, stderr: () => stderr };
}
