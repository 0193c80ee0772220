// Minimal RESP2 client: one connection, concurrent commands pipelined on it, replies matched in order.
import { connect, isIP, Socket } from 'node:net';
import { connect as tls } from 'node:tls';

/** A decoded reply; bulk strings are utf8, errors nested in arrays (EXEC) stay Error objects. */
export type RespValue = string | number | null | Error | RespValue[];

export interface RedisOptions {
  /** redis://[user:password@]host:port, or rediss://... for TLS (certificate verified). */
  url: string;
  /** Overrides a password in the URL. @default the URL's, else no AUTH */
  password?: string;
  /** PEM CA to verify a rediss:// server with instead of Node's bundled CAs. @default Node's CAs */
  ca?: string;
  /** Covers TCP, TLS and AUTH. @default 1000 */
  connectTimeoutMs?: number;
  /** A command not answered in time fails and drops the connection (its reply could no longer be matched). @default 500 */
  commandTimeoutMs?: number;
}

type Parsed = [RespValue, number] | undefined;

const fail = (m: string) => new Error('redis: ' + m);
const CLOSED = 'connection closed';

/** Parses the reply at b[i]; undefined while the buffer holds only part of it. */
function parse(b: Buffer, i: number): Parsed {
  const e = b.indexOf('\r\n', i);
  if (e < 0) return;
  const t = b[i], s = b.toString('utf8', i + 1, e), n = +s;
  let p = e + 2;
  if (t == 43) return [s, p]; // +
  if (t == 45) return [new Error(s), p]; // -
  if (t == 58) return [n, p]; // :
  if (n < 0) return [null, p];
  if (t == 36) return b.length < p + n + 2 ? undefined : [b.toString('utf8', p, p + n), p + n + 2]; // $
  if (t != 42) throw fail('protocol error'); // *
  const a: RespValue[] = [];
  for (let r: Parsed; a.length < n; p = r[1]) {
    if (!(r = parse(b, p))) return;
    a.push(r[0]);
  }
  return [a, p];
}

export class RedisClient {
  private tx?: (args: (string | number)[], ms?: number) => Promise<any>;
  private opening?: Promise<void>;
  private sock?: Socket;
  private fails = 0;
  private retryAt = 0;
  private closed = false;

  constructor(private readonly opts: RedisOptions) {
    // A bad URL fails at startup, not on the first request (the message leaves out the URL: it may hold a password).
    if (!/^rediss?:$/.test(new URL(opts.url).protocol)) throw fail('url must start with redis:// or rediss://');
  }

  /** Connected and authenticated. */
  get ready(): boolean {
    return !!this.tx;
  }

  async command(args: (string | number)[]): Promise<any> {
    if (this.closed) throw fail('client closed');
    if (!this.tx) {
      // While Redis is down, calls fail at once instead of each waiting for a connect attempt.
      if (Date.now() < this.retryAt) throw fail('unreachable, backing off');
      await (this.opening ??= this.open().finally(() => (this.opening = undefined)));
    }
    return this.tx ? this.tx(args) : Promise.reject(fail(CLOSED));
  }

  private async open(): Promise<void> {
    const { url, ca, connectTimeoutMs = 1000, commandTimeoutMs = 500 } = this.opts;
    const u = new URL(url), host = u.hostname, port = +u.port || 6379, pass = this.opts.password ?? decodeURIComponent(u.password);
    const s = (this.sock = u.protocol == 'rediss:' ? tls({ host, port, servername: isIP(host) ? undefined : host, ca }) : connect(port, host));
    const q: ((v: unknown, e?: unknown) => void)[] = [];
    let buf = Buffer.alloc(0);
    const drop = (e: unknown) => {
      if (this.tx == tx) this.tx = undefined;
      for (const p of q.splice(0)) p(0, e);
      s.destroy();
    };
    const tx = (args: (string | number)[], ms = commandTimeoutMs) =>
      new Promise((ok, no) => {
        const t = setTimeout(() => drop(fail(`${args[0]} timed out after ${ms} ms`)), ms);
        q.push((v, e) => (clearTimeout(t), e ? no(e) : ok(v)));
        s.write(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength((a = String(a)))}\r\n${a}\r\n`).join(''));
      });
    s.setNoDelay()
      .on('data', (d) => {
        buf = buf.length ? Buffer.concat([buf, d]) : d;
        try {
          for (let r: Parsed; (r = parse(buf, 0)); buf = buf.subarray(r[1])) q.shift()?.(r[0], r[0] instanceof Error && r[0]);
        } catch (e) {
          drop(e);
        }
      })
      .on('error', drop)
      .on('close', () => drop(fail(CLOSED)));
    try {
      // Queued behind the TCP/TLS handshake; its reply, or the socket's error, settles the connect.
      await tx(pass ? ['AUTH', ...(u.username ? [decodeURIComponent(u.username)] : []), pass] : ['PING'], connectTimeoutMs);
      this.fails = 0;
      this.tx = tx;
    } catch (e) {
      this.retryAt = Date.now() + Math.min(2000, 25 * 2 ** this.fails++);
      drop(e);
      throw e;
    }
  }

  /** Replies to commands already sent arrive first (QUIT is answered after them), then it disconnects. */
  async close(): Promise<void> {
    this.closed = true;
    await this.opening?.catch(() => {});
    await this.tx?.(['QUIT']).catch(() => {});
    this.sock?.destroy();
  }
}
