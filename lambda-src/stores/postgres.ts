// PostgreSQL frontend/backend protocol v3 over one connection: SCRAM-SHA-256, extended queries with text
// parameters and results. Requests are pipelined; each ends with Sync, so each gets its own ReadyForQuery.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { connect, isIP, Socket } from 'node:net';
import { connect as tls } from 'node:tls';

export interface PgOptions {
  host: string;
  /** @default 5432 */
  port?: number;
  database: string;
  user: string;
  /** @default '' */
  password?: string;
  /**
   * TLS through SSLRequest; fails if the server declines. Without `ca` the certificate is not verified (RDS
   * certificates chain to an AWS CA Node does not ship): encrypted, but open to an active attacker inside the
   * VPC. @default false
   */
  ssl?: boolean | 'require';
  /** PEM CA bundle: with `ssl`, the server certificate and host name are verified against it. @default none */
  ca?: string;
  /** Covers TCP, TLS and authentication. @default 5000 */
  connectTimeoutMs?: number;
  /** A request not answered in time fails and closes the connection. @default 30000 */
  queryTimeoutMs?: number;
}

/** A server error; `code` is the SQLSTATE (28P01 wrong password, 42P01 undefined table...). */
export type PgError = Error & { code?: string };
export type Row = Record<string, string | null>;
export type PgParam = string | number | boolean | null | Date;
export interface PgResult {
  rows: Row[];
  /** Command tag, e.g. `INSERT 0 3`. */
  command: string;
}
type Op = PgResult & { cols: string[]; err?: PgError; done(e?: unknown): void };

const i32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const u16 = (n: number) => i32(n).subarray(2);
const str = (s: string) => Buffer.from(s + '\0');
const msg = (type: string, ...parts: Buffer[]) => {
  const b = Buffer.concat(parts);
  return Buffer.concat([Buffer.from(type), i32(b.length + 4), b]);
};
const hmac = (k: Buffer, s: string) => createHmac('sha256', k).update(s).digest();
const err = (m: string) => new Error('postgres: ' + m);

export class PgClient {
  /** True until connect() and after close() or a connection failure; a closed client stays closed. */
  closed = true;
  private s?: Socket;
  private q: Op[] = [];
  private buf: Buffer = Buffer.alloc(0);
  private nonce = '';
  private sig = '';

  constructor(private readonly opts: PgOptions) {}

  connect(): Promise<void> {
    const { host, port = 5432, ssl, ca, user, database } = this.opts;
    this.closed = false;
    const done = this.op(this.opts.connectTimeoutMs ?? 5000);
    const raw = (this.s = connect(port, host).on('error', this.fail));
    (async () => {
      if (ssl) {
        raw.write(Buffer.concat([i32(8), i32(80877103)]));
        const b: Buffer = await new Promise((ok) => raw.once('data', ok));
        if (b[0] != 83) throw err(`${host}:${port} does not accept TLS (ssl is set)`);
        this.s = tls({ socket: raw, host, servername: isIP(host) ? undefined : host, ca, rejectUnauthorized: !!ca });
      }
      this.s!.on('data', (d) => this.data(d))
        .on('error', this.fail)
        .on('close', () => this.fail(err('connection closed')))
        .write(msg('', i32(196608), str(`user\0${user}\0database\0${database}\0client_encoding\0UTF8\0`)));
    })().catch(this.fail);
    return done.then(() => {});
  }

  /** Extended query protocol with text parameters; rows are objects of column text or null. */
  query(sql: string, params: PgParam[] = []): Promise<PgResult> {
    const bind = params.flatMap((v) =>
      v == null ? [i32(-1)] : [i32(Buffer.byteLength((v = v instanceof Date ? v.toISOString() : String(v)))), Buffer.from(v)],
    );
    return this.send(
      msg('P', str(''), str(sql), u16(0)),
      msg('B', str(''), str(''), u16(0), u16(params.length), ...bind, u16(0)),
      msg('D', str('P')),
      msg('E', str(''), i32(0)),
      msg('S'),
    );
  }

  /** Simple query protocol: several statements (migrations), run as one implicit transaction. */
  async simpleQuery(sql: string): Promise<void> {
    await this.send(msg('Q', str(sql)));
  }

  async close(): Promise<void> {
    const s = this.s!;
    if (this.closed) return;
    this.closed = true;
    await new Promise((r) => s.once('close', r).end(msg('X'), () => s.destroy()));
  }

  private send(...m: Buffer[]) {
    const p = this.op(this.opts.queryTimeoutMs ?? 30000);
    if (!this.closed) this.s!.write(Buffer.concat(m));
    return p;
  }

  /** Queues a request's result: settled at its ReadyForQuery, or when the connection fails or times out. */
  private op(ms: number): Promise<PgResult> {
    return new Promise((ok, no) => {
      if (this.closed) return no(err('connection not open'));
      const t = setTimeout(() => this.fail(err(`${this.opts.host} did not answer within ${ms} ms`)), ms);
      const op: Op = { rows: [], cols: [], command: '', done: (e) => (clearTimeout(t), e ? no(e) : ok({ rows: op.rows, command: op.command })) };
      this.q.push(op);
    });
  }

  private fail = (e: unknown) => {
    this.closed = true;
    for (const op of this.q.splice(0)) op.done(op.err ?? e);
    this.s?.destroy();
  };

  private data(d: Buffer) {
    let b = (this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d);
    try {
      for (let len; b.length > 4 && b.length > (len = b.readInt32BE(1)); b = this.buf = b.subarray(len + 1)) this.message(b[0], b.subarray(5, len + 1));
    } catch (e) {
      this.fail(e);
    }
  }

  private message(t: number, m: Buffer) {
    const op = this.q[0];
    let p = 2;
    if (t == 82) this.auth(m.readInt32BE(0), m.subarray(4).toString()); // R
    else if (t == 84) // T: RowDescription, 18 bytes of type info after each name
      for (let n = m.readInt16BE(0), e, c: string[] = (op.cols = []); n--; p = e + 19) c.push(m.toString('utf8', p, (e = m.indexOf(0, p))));
    else if (t == 68) { // D
      const row: Row = {};
      for (const c of op.cols) {
        const n = m.readInt32BE(p);
        p += 4;
        row[c] = n < 0 ? null : m.toString('utf8', p, (p += n));
      }
      op.rows.push(row);
    } else if (t == 67) op.command = m.toString('utf8', 0, m.length - 1); // C
    else if (t == 69) { // E: fields are a type byte and a string
      const f: Record<string, string> = {};
      for (let i = 0, e; m[i]; i = e + 1) f[String.fromCharCode(m[i])] = m.toString('utf8', i + 1, (e = m.indexOf(0, i)));
      if (op) op.err ??= Object.assign(err(`${f.M} (SQLSTATE ${f.C})`), { code: f.C });
    } else if (t == 90) this.q.shift()!.done(op.err); // Z
    // Others (ParameterStatus, BackendKeyData, NoticeResponse, ParseComplete, BindComplete, NoData...) carry nothing we use.
  }

  /** AuthenticationOk (0), or SCRAM-SHA-256 (10 start, 11 continue, 12 final; RFC 5802, no channel binding). */
  private auth(code: number, body: string) {
    const w = (b: string, ...pre: Buffer[]) => this.s!.write(msg('p', ...pre, Buffer.from(b)));
    if (code == 10) {
      const first = 'n,,n=,r=' + (this.nonce = randomBytes(18).toString('base64'));
      w(first, str('SCRAM-SHA-256'), i32(first.length));
    } else if (code == 11) {
      const a = Object.fromEntries(body.split(',').map((x) => [x[0], x.slice(2)]));
      if (!a.r?.startsWith(this.nonce)) throw err('bad SCRAM nonce');
      const salted = pbkdf2Sync(this.opts.password ?? '', Buffer.from(a.s, 'base64'), +a.i, 32, 'sha256');
      const key = hmac(salted, 'Client Key'), reply = 'c=biws,r=' + a.r, msgs = `n=,r=${this.nonce},${body},${reply}`;
      const sig = hmac(createHash('sha256').update(key).digest(), msgs);
      this.sig = 'v=' + hmac(hmac(salted, 'Server Key'), msgs).toString('base64');
      w(`${reply},p=${Buffer.from(key.map((b, i) => b ^ sig[i])).toString('base64')}`);
    } else if (code == 12) {
      // The server proves it knows the verifier: an impostor that accepts any password fails here.
      if (body != this.sig) throw err('SCRAM server signature mismatch');
    } else if (code) throw err(`authentication method ${code} unsupported; use scram-sha-256 in pg_hba.conf`);
  }
}
