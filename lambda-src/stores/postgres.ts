// PostgreSQL frontend/backend protocol v3 over one connection: SCRAM-SHA-256, extended queries with text
// parameters and results. Requests are pipelined; each ends with Sync, so each gets its own ReadyForQuery.
import { hmac, pbkdf2Sync, randomBytes, sha } from '../util';
import { dial, Wire, wire } from './wire';

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
const err = (m: string) => Error('postgres: ' + m);

export type PgClient = ReturnType<typeof pgClient>;

export function pgClient(o: PgOptions) {
  const { host, port = 5432 } = o;
  let w: Wire, nonce = '', proof = '';
  // The reply being read (requests are answered in order).
  let rows: Row[] = [], cols: string[] = [], command = '', error: PgError | undefined;

  function message(t: number, m: Buffer) {
    let p = 2;
    if (t == 82) auth(m.readInt32BE(0), m.subarray(4) + ''); // R
    else if (t == 84) // T: RowDescription, 18 bytes of type info after each name
      for (let n = m.readInt16BE(0), e; n--; p = e + 19) cols.push(m.toString('utf8', p, (e = m.indexOf(0, p))));
    else if (t == 68) { // D
      const row: Row = {};
      for (const col of cols) {
        const n = m.readInt32BE(p);
        p += 4;
        row[col] = n < 0 ? null : m.toString('utf8', p, (p += n));
      }
      rows.push(row);
    } else if (t == 67) command = m.toString('utf8', 0, m.length - 1); // C
    else if (t == 69) { // E: fields are a type byte and a string
      const f: Record<string, string> = {};
      for (let i = 0, e; m[i]; i = e + 1) f[String.fromCharCode(m[i])] = m.toString('utf8', i + 1, (e = m.indexOf(0, i)));
      error ??= Object.assign(err(`${f.M} (SQLSTATE ${f.C})`), { code: f.C });
    } else if (t == 90) { // Z: ReadyForQuery ends each request
      w.reply({ rows, command }, error);
      (rows = []), (cols = []), (command = ''), (error = undefined);
    }
    // Others (ParameterStatus, BackendKeyData, NoticeResponse, ParseComplete, BindComplete, NoData...) carry nothing we use.
  }

  /** AuthenticationOk (0), or SCRAM-SHA-256 (10 start, 11 continue, 12 final; RFC 5802, no channel binding). */
  function auth(code: number, body: string) {
    const send = (b: string, ...pre: Buffer[]) => w.socket.write(msg('p', ...pre, Buffer.from(b)));
    if (code == 10) {
      const first = 'n,,n=,r=' + (nonce = randomBytes(18).toString('base64'));
      send(first, str('SCRAM-SHA-256'), i32(first.length));
    } else if (code == 11) {
      const a = Object.fromEntries(body.split(',').map((x) => [x[0], x.slice(2)]));
      if (!a.r?.startsWith(nonce)) throw err('bad SCRAM nonce');
      const salted = pbkdf2Sync(o.password ?? '', Buffer.from(a.s, 'base64'), +a.i, 32, 'sha256');
      const key = hmac(salted, 'Client Key'), reply = 'c=biws,r=' + a.r, msgs = `n=,r=${nonce},${body},${reply}`;
      const sig = hmac(sha(key), msgs);
      proof = 'v=' + hmac(hmac(salted, 'Server Key'), msgs).toString('base64');
      send(`${reply},p=${Buffer.from(key.map((b, i) => b ^ sig[i])).toString('base64')}`);
    } else if (code == 12) {
      // The server proves it knows the verifier: an impostor that accepts any password fails here.
      if (body != proof) throw err('SCRAM server signature mismatch');
    } else if (code) throw err(`auth method ${code} unsupported: use scram-sha-256`);
  }

  const send = (...m: Buffer[]): Promise<PgResult> => (w ? w.send(Buffer.concat(m), o.queryTimeoutMs ?? 3e4) : Promise.reject(err('connection closed')));

  return {
    /** True until connect() and after close() or a connection failure; a closed client stays closed. */
    get closed() {
      return !w || w.closed;
    },

    async connect(): Promise<void> {
      const raw = dial(host, port);
      const c = (w = wire(raw, err)), fail = c.fail;
      // A FATAL error (wrong password, terminated backend) arrives just before the close: the better reason.
      c.fail = (e) => fail(error ?? e);
      raw.on('error', c.fail);
      // Settled at the first ReadyForQuery: TCP, TLS and authentication within connectTimeoutMs.
      const done = w.send(undefined, o.connectTimeoutMs ?? 5000);
      (async () => {
        if (o.ssl) {
          raw.write(Buffer.concat([i32(8), i32(80877103)]));
          const b: Buffer = await new Promise((ok) => raw.once('data', ok));
          if (b[0] != 83) throw err(`${host}:${port} refused TLS`);
          w.socket = dial(host, port, { socket: raw, ca: o.ca, rejectUnauthorized: !!o.ca });
        }
        w.listen((b) => {
          const len = b.length > 4 && b.readInt32BE(1) + 1;
          return len && b.length >= len ? (message(b[0], b.subarray(5, len)), len) : 0;
        });
        w.socket.write(msg('', i32(196608), str(`user\0${o.user}\0database\0${o.database}\0client_encoding\0UTF8\0`)));
      })().catch(w.fail);
      await done;
    },

    /** Extended query protocol with text parameters; rows are objects of column text or null. */
    query(sql: string, params: PgParam[] = []): Promise<PgResult> {
      const bind = params.flatMap((v) => (v == null ? [i32(-1)] : [i32(Buffer.byteLength((v = v instanceof Date ? v.toISOString() : '' + v))), Buffer.from(v)]));
      return send(msg('P', str(''), str(sql), u16(0)), msg('B', str(''), str(''), u16(0), u16(params.length), ...bind, u16(0)), msg('D', str('P')), msg('E', str(''), i32(0)), msg('S'));
    },

    /** Simple query protocol: several statements (migrations), run as one implicit transaction. */
    async simpleQuery(sql: string): Promise<void> {
      await send(msg('Q', str(sql)));
    },

    async close(): Promise<void> {
      if (w && !w.closed) {
        w.closed = true;
        await new Promise((r) => w.socket.once('close', r).end(msg('X'), () => w.socket.destroy()));
      }
    },
  };
}
