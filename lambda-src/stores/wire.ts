// What the Redis and PostgreSQL clients share: requests and their replies, in order, on one socket. A request
// not answered in time, a malformed reply or a failing socket fails every pending request and closes it.
import type { Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';

const net: typeof import('node:net') = require('node:net');
const tls: typeof import('node:tls') = require('node:tls');

/** TCP to host:port, or TLS with `secure` (SNI unless host is an IP address; a `socket` in it is upgraded). */
export const dial = (host: string, port: number, secure?: ConnectionOptions | false): Socket =>
  secure ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, ...secure }) : net.connect(port, host);

export interface Wire {
  socket: Socket;
  /** True once it failed or was closed: a client opens a new one. */
  closed: boolean;
  /** Writes `data` (if any) and resolves with the reply that settles it, in order. */
  send(data: Buffer | string | undefined, ms: number): Promise<any>;
  /** Settles the oldest pending request. */
  reply(value: unknown, err?: unknown): void;
  /** Fails every pending request and destroys the socket. */
  fail(e: unknown): void;
  /** Starts reading `socket`: `read` takes one reply or message from the front of the buffered bytes and returns its length (0: incomplete). */
  listen(read: (b: Buffer) => number): void;
}

export function wire(socket: Socket, err: (m: string) => Error): Wire {
  const q: [(v: unknown) => void, (e: unknown) => void, NodeJS.Timeout][] = [];
  const w: Wire = {
    socket,
    closed: false,
    send: (data, ms) =>
      new Promise((ok, no) => {
        if (w.closed) return no(err('connection closed'));
        q.push([ok, no, setTimeout(() => w.fail(err(`no answer within ${ms} ms`)), ms)]);
        if (data) w.socket.write(data);
      }),
    reply(v, e) {
      const [ok, no, t] = q.shift()!;
      clearTimeout(t);
      e ? no(e) : ok(v);
    },
    fail(e) {
      w.closed = true;
      for (const [, no, t] of q.splice(0)) clearTimeout(t), no(e);
      w.socket.destroy();
    },
    listen(read) {
      let buf = Buffer.alloc(0);
      w.socket
        .on('data', (d) => {
          buf = buf.length ? Buffer.concat([buf, d]) : d;
          try {
            for (let n; (n = read(buf)); ) buf = buf.subarray(n);
          } catch (e) {
            w.fail(e);
          }
        })
        .on('error', w.fail)
        .on('close', () => w.fail(err('connection closed')));
    },
  };
  return w;
}
