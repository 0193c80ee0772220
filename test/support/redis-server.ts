// A real redis-server on a free loopback port, in its own temp dir, no persistence.
import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { freePort } from './free-port';
import { cleanupAfterExit, selfSignedCert, tempDir } from './temp';

export interface RedisServer {
  url: string;
  port: number;
  /** PEM to trust, when started with `tls`. */
  ca?: string;
  /** Stops the server; its temp dir is removed once the test process exits. */
  stop(): Promise<void>;
  /** Stops if running, then starts again on the same port (data is gone: no persistence). */
  restart(): Promise<void>;
}

export async function startRedis(opts: { password?: string; tls?: boolean } = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = tempDir('redis-'), pidFile = join(dir, 'redis.pid');
  cleanupAfterExit(`kill $(cat ${pidFile}) 2>/dev/null; rm -rf ${dir}`);
  const ca = opts.tls ? selfSignedCert(dir) : undefined;
  const args = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--pidfile', pidFile];
  if (opts.password) args.push('--requirepass', opts.password);
  if (ca) {
    const [cert, key] = ['cert.pem', 'key.pem'].map((f) => join(dir, f));
    args.push('--port', '0', '--tls-port', String(port), '--tls-cert-file', cert, '--tls-key-file', key, '--tls-ca-cert-file', cert, '--tls-auth-clients', 'no');
  } else args.push('--port', String(port));

  let child: ChildProcess | undefined;
  const start = () =>
    new Promise<void>((resolve, reject) => {
      const c = (child = spawn('/usr/bin/redis-server', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }));
      let out = '';
      c.stdout!.on('data', (d) => {
        out += d;
        if (out.includes('Ready to accept connections')) resolve();
      });
      c.stderr!.on('data', (d) => (out += d));
      c.once('exit', (code) => reject(new Error(`redis-server exited (${code}) before it was ready:\n${out}`)));
    });
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    await new Promise((r) => c.once('exit', r).kill('SIGTERM'));
  };
  await start();
  return {
    url: `${ca ? 'rediss' : 'redis'}://127.0.0.1:${port}`,
    port,
    ca,
    stop,
    restart: async () => {
      await stop();
      await start();
    },
  };
}
