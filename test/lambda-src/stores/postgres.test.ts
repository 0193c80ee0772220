import { AddressInfo, connect, createServer } from 'node:net';
import { PgClient, pgClient, PgOptions } from '../../../lambda-src/stores/postgres';
import { freePort } from '../../support/free-port';
import { PostgresServer, startPostgres } from '../../support/postgres-server';

const optsOf = (s: PostgresServer, extra: Partial<PgOptions> = {}): PgOptions => ({
  host: s.host, port: s.port, database: s.database, user: s.user, password: s.password, ...extra,
});

/**
 * A relay to the real server that corrupts the server's SCRAM proof (AuthenticationSASLFinal, 'R' code 12),
 * as an impostor that does not know the password verifier would have to.
 */
async function tamperingRelay(port: number): Promise<{ port: number; close(): void }> {
  const server = createServer((client) => {
    const up = connect(port, '127.0.0.1');
    client.pipe(up);
    let buf = Buffer.alloc(0);
    up.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length > 4 && buf.length > buf.readInt32BE(1)) {
        const m = Buffer.from(buf.subarray(0, buf.readInt32BE(1) + 1));
        buf = buf.subarray(m.length);
        if (m[0] == 82 && m.readInt32BE(5) == 12) m[m.length - 2] ^= 1; // a different base64 character
        client.write(m);
      }
    });
    up.on('close', () => client.destroy());
    client.on('close', () => up.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, close: () => server.close() };
}

describe('PgClient', () => {
  let server: PostgresServer;
  let pg: PgClient;

  beforeAll(async () => {
    server = await startPostgres();
    pg = pgClient(optsOf(server));
    await pg.connect();
  });
  afterAll(async () => {
    await pg.close();
    await server.stop();
  });

  it('logs in with SCRAM-SHA-256 and runs a query', async () => {
    expect(pg.closed).toBe(false);
    const { rows, command } = await pg.query('SELECT current_user AS u, current_database() AS d');
    expect(rows).toEqual([{ u: 'fleet', d: 'fleet' }]);
    expect(command).toBe('SELECT 1');
    // The server really asked for SCRAM: the stored verifier is a SCRAM one.
    const { rows: v } = await pg.query("SELECT left(rolpassword, 14) AS p FROM pg_authid WHERE rolname = 'fleet'");
    expect(v[0].p).toBe('SCRAM-SHA-256$');
  });

  it('rejects a wrong password with SQLSTATE 28P01', async () => {
    const c = pgClient(optsOf(server, { password: 'wrong' }));
    const err = await c.connect().catch((e) => e);
    expect(err.code).toBe('28P01');
    expect(err.message).toBe('postgres: password authentication failed for user "fleet" (SQLSTATE 28P01)');
    expect(c.closed).toBe(true);
    await expect(c.query('SELECT 1')).rejects.toThrow('postgres: connection closed');
  });

  it("rejects a server that cannot prove it knows the password's SCRAM verifier", async () => {
    const relay = await tamperingRelay(server.port);
    try {
      await expect(pgClient({ ...optsOf(server), port: relay.port }).connect()).rejects.toThrow('postgres: SCRAM server signature mismatch');
      // The relay itself is transparent otherwise: a trust login through it works.
      const c = pgClient({ ...optsOf(server), port: relay.port, user: server.trustedUser });
      await c.connect();
      await c.close();
    } finally {
      relay.close();
    }
  });

  it('logs in where pg_hba.conf says trust, without a password', async () => {
    const c = pgClient({ ...optsOf(server), user: server.trustedUser, password: undefined });
    await c.connect();
    expect((await c.query('SELECT current_user AS u')).rows).toEqual([{ u: 'trusted' }]);
    await c.close();
  });

  it('refuses the connection when the database does not exist (3D000)', async () => {
    await expect(pgClient(optsOf(server, { database: 'nope' })).connect()).rejects.toMatchObject({ code: '3D000' });
  });

  it('sends text parameters of every supported type', async () => {
    const at = new Date('2024-02-29T12:34:56.789Z');
    const { rows } = await pg.query(
      'SELECT $1::text AS s, $2::int AS i, $3::float8 AS f, $4::boolean AS b, $5::boolean AS nb, $6::text AS n, $7::timestamptz AS d, $8::bigint AS big',
      ["it's \"quoted\" — 日本", -42, 2.5, true, false, null, at, 2 ** 53],
    );
    expect(rows[0]).toMatchObject({ s: "it's \"quoted\" — 日本", i: '-42', f: '2.5', b: 't', nb: 'f', n: null, big: '9007199254740992' });
    expect(new Date(rows[0].d!).getTime()).toBe(at.getTime());
  });

  it('infers parameter types from context and returns NULL columns as null', async () => {
    await pg.simpleQuery('CREATE TABLE t (id int PRIMARY KEY, name text, score real)');
    const ins = await pg.query('INSERT INTO t VALUES ($1, $2, $3), ($4, $5, $6)', [1, 'a', 1.5, 2, null, null]);
    expect(ins).toEqual({ rows: [], command: 'INSERT 0 2' });
    const { rows } = await pg.query('SELECT id, name, score FROM t WHERE id >= $1 ORDER BY id', [1]);
    expect(rows).toEqual([{ id: '1', name: 'a', score: '1.5' }, { id: '2', name: null, score: null }]);
    expect(await pg.query('UPDATE t SET name = $1 WHERE id = $2', ['b', 2])).toEqual({ rows: [], command: 'UPDATE 1' });
    expect(await pg.query('SELECT * FROM t WHERE id = $1', [99])).toEqual({ rows: [], command: 'SELECT 0' });
  });

  it.each([
    ['42P01', 'SELECT * FROM no_such_table', [], /relation "no_such_table" does not exist/],
    ['42601', 'SELEC 1', [], /syntax error at or near "SELEC"/],
    ['22P02', 'SELECT $1::int', ['x'], /invalid input syntax for type integer: "x"/],
    ['23505', 'INSERT INTO t VALUES (1)', [], /duplicate key value violates unique constraint "t_pkey"/],
    ['08P01', 'SELECT $1::int', [], /bind message supplies 0 parameters, but prepared statement "" requires 1/],
  ])('rejects with SQLSTATE %s and stays usable', async (code, sql, params, message) => {
    const err = await pg.query(sql, params as string[]).catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe(code);
    expect(err.message).toMatch(message);
    expect((await pg.query('SELECT 1 AS ok')).rows).toEqual([{ ok: '1' }]);
  });

  it('pipelines concurrent queries; one failing does not disturb the others', async () => {
    const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => pg.query(i == 25 ? 'SELECT 1/0' : 'SELECT $1::int * 2 AS v', i == 25 ? [] : [i])));
    results.forEach((r, i) => {
      if (i == 25) expect(r).toMatchObject({ status: 'rejected', reason: { code: '22012' } });
      else expect(r).toEqual({ status: 'fulfilled', value: { rows: [{ v: String(i * 2) }], command: 'SELECT 1' } });
    });
  });

  it('decodes results larger than one TCP chunk', async () => {
    const { rows } = await pg.query("SELECT g, repeat('é', 3000) AS pad FROM generate_series(1, 2000) g");
    expect(rows).toHaveLength(2000);
    expect(rows[1999]).toEqual({ g: '2000', pad: 'é'.repeat(3000) });
  });

  it('runs several statements with simpleQuery, atomically, ignoring notices', async () => {
    await pg.simpleQuery(`CREATE TABLE m1 (x int); INSERT INTO m1 VALUES (1), (2);
      DO $$ BEGIN RAISE NOTICE 'a notice the client must skip'; END $$; CREATE INDEX ON m1 (x);`);
    expect((await pg.query('SELECT count(*) AS n FROM m1')).rows).toEqual([{ n: '2' }]);
    // An error part-way rolls the whole string back (implicit transaction).
    await expect(pg.simpleQuery('CREATE TABLE m2 (x int); SELECT * FROM missing; CREATE TABLE m3 (x int)')).rejects.toMatchObject({ code: '42P01' });
    expect((await pg.query("SELECT to_regclass('m2') AS m2, to_regclass('m3') AS m3")).rows).toEqual([{ m2: null, m3: null }]);
    // Notices during an extended query are skipped too.
    await pg.simpleQuery("CREATE FUNCTION noisy() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RAISE NOTICE 'hi'; RETURN 7; END $$");
    expect((await pg.query('SELECT noisy() AS v')).rows).toEqual([{ v: '7' }]);
  });

  it('refuses queries after close()', async () => {
    const c = pgClient(optsOf(server));
    await expect(c.query('SELECT 1')).rejects.toThrow('postgres: connection closed');
    await c.connect();
    await c.close();
    expect(c.closed).toBe(true);
    await expect(c.query('SELECT 1')).rejects.toThrow('postgres: connection closed');
    await c.close(); // idempotent
  });

  it('rejects pending queries when the server terminates the connection', async () => {
    const c = pgClient(optsOf(server));
    await c.connect();
    const { rows } = await c.query('SELECT pg_backend_pid() AS pid');
    const sleeping = c.query('SELECT pg_sleep(10)');
    await pg.query('SELECT pg_terminate_backend($1)', [rows[0].pid]);
    await expect(sleeping).rejects.toMatchObject({ code: '57P01' });
    expect(c.closed).toBe(true);
  });

  it('times out a query that gets no answer and closes the connection', async () => {
    const c = pgClient(optsOf(server, { queryTimeoutMs: 200 }));
    await c.connect();
    await expect(c.query('SELECT pg_sleep(5)')).rejects.toThrow('postgres: no answer within 200 ms');
    expect(c.closed).toBe(true);
  });

  it('fails to connect to a port nobody listens on', async () => {
    await expect(pgClient({ ...optsOf(server), port: await freePort() }).connect()).rejects.toThrow(/ECONNREFUSED/);
  });

  it('refuses ssl against a server without TLS', async () => {
    await expect(pgClient(optsOf(server, { ssl: true })).connect()).rejects.toThrow(
      `postgres: 127.0.0.1:${server.port} refused TLS`,
    );
  });

  it('refuses authentication methods it does not implement (cleartext password)', async () => {
    await pg.simpleQuery("CREATE ROLE legacy LOGIN PASSWORD 'pw'");
    await expect(pgClient({ ...optsOf(server), user: 'legacy', password: 'pw' }).connect()).rejects.toThrow(
      'postgres: auth method 3 unsupported: use scram-sha-256',
    );
  });
});

describe('PgClient over TLS', () => {
  let server: PostgresServer;
  beforeAll(async () => {
    server = await startPostgres({ ssl: true });
  });
  afterAll(() => server.stop());

  const sslIn = async (c: PgClient) => (await c.query('SELECT ssl::text AS ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows[0];

  it('upgrades after SSLRequest and verifies the certificate against `ca`', async () => {
    const c = pgClient(optsOf(server, { ssl: true, ca: server.ca }));
    await c.connect();
    expect(await sslIn(c)).toEqual({ ssl: 'true', version: expect.stringMatching(/^TLSv1\.[23]$/) });
    await c.close();
  });

  it("encrypts without verification when no `ca` is given ('require')", async () => {
    const c = pgClient(optsOf(server, { ssl: 'require' }));
    await c.connect();
    expect((await sslIn(c)).ssl).toBe('true');
    await c.close();
  });

  it('refuses a certificate that does not verify against `ca`', async () => {
    const other = await startPostgres({ ssl: true });
    try {
      await expect(pgClient(optsOf(server, { ssl: true, ca: other.ca })).connect()).rejects.toThrow(/self.signed certificate|unable to verify/);
    } finally {
      await other.stop();
    }
  });

  it('stays plaintext when ssl is not set', async () => {
    const c = pgClient(optsOf(server));
    await c.connect();
    expect((await sslIn(c)).ssl).toBe('false');
    await c.close();
  });
});
