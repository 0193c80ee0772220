// Minimal RESP2 client: one connection, concurrent commands pipelined on it, replies matched in order.
import { dial, Wire, wire } from './wire';

/** A decoded reply; bulk strings are utf8, errors nested in arrays (EXEC) stay Error objects. */
export type RespValue = string | number | null | Error | RespValue[];

export interface RedisOptions {
  /** redis://host:port, or rediss://host:port for TLS (certificate verified). */
  url: string;
  /** AUTH password (ElastiCache AUTH token). @default no AUTH */
  password?: string;
  /** PEM CA to verify a rediss:// server with instead of Node's bundled CAs. @default Node's CAs */
  ca?: string;
  /** Covers TCP, TLS and AUTH. @default 1000 */
  connectTimeoutMs?: number;
  /** A command not answered in time fails and drops the connection (its reply could no longer be matched). @default 500 */
  commandTimeoutMs?: number;
}

type Parsed = [RespValue, number] | undefined;

const fail = (m: string) => Error('redis: ' + m);

/** Parses the reply at b[i]; undefined while the buffer holds only part of it. */
function parse(b: Buffer, i: number): Parsed {
  const e = b.indexOf('\r\n', i);
  if (e < 0) return;
  const t = b[i], s = b.toString('utf8', i + 1, e), n = +s;
  let p = e + 2;
  if (t == 43) return [s, p]; // +
  if (t == 45) return [Error(s), p]; // -
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

const encode = (args: (string | number)[]) => `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength((a = '' + a))}\r\n${a}\r\n`).join('');

export class RedisClient {
  /**
   * Sends one command, pipelined with concurrent ones. Rejects with the Redis error, on a timeout or a lost
   * connection; a later call reconnects (while Redis is down, calls fail at once during a short backoff).
   */
  command: (args: (string | number)[]) => Promise<any>;
  /** Replies to commands already sent arrive first (QUIT is answered after them), then it disconnects. */
  close: () => Promise<void>;

  constructor(o: RedisOptions) {
    const u = new URL(o.url), host = u.hostname, port = +u.port || 6379;
    // A bad URL fails at startup, not on the first request.
    if (!/^rediss?:$/.test(u.protocol)) throw fail('url must be redis[s]://host:port');
    let w: Wire | undefined, opening: Promise<void> | undefined, fails = 0, retryAt = 0, closed = false;

    const open = async () => {
      const c = wire(dial(host, port, u.protocol == 'rediss:' && { ca: o.ca }), fail);
      c.socket.setNoDelay();
      c.listen((b) => {
        const r = parse(b, 0);
        if (r) c.reply(r[0], r[0] instanceof Error && r[0]);
        return r ? r[1] : 0;
      });
      try {
        // Queued behind the TCP/TLS handshake; its reply, or the socket's error, settles the connect.
        await c.send(encode(o.password ? ['AUTH', o.password] : ['PING']), o.connectTimeoutMs ?? 1000);
        fails = 0;
        w = c;
      } catch (e) {
        retryAt = Date.now() + Math.min(2000, 25 * 2 ** fails++);
        c.fail(e);
        throw e;
      }
    };

    this.command = async (args) => {
      if (closed) throw fail('client closed');
      if (!w || w.closed) {
        if (Date.now() < retryAt) throw fail('unreachable, backing off');
        await (opening ??= open().finally(() => (opening = undefined)));
      }
      return w!.send(encode(args), o.commandTimeoutMs ?? 500);
    };
    this.close = async () => {
      closed = true;
      await opening?.catch(() => 0);
      await w?.send(encode(['QUIT']), 500).catch(() => 0);
      w?.socket.destroy();
    };
  }
}
