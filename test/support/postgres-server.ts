// A real PostgreSQL 15 cluster in a temp dir on a free loopback port. PostgreSQL refuses to run as root, so
// under root every server binary runs as the `postgres` OS user, which then owns the directory.
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './free-port';
import { cleanupAfterExit, selfSignedCert, tempDir } from './temp';

const BIN = '/usr/lib/postgresql/15/bin';
const run = promisify(execFile);

export interface PostgresServer {
  host: string;
  port: number;
  database: string;
  /** Superuser, password-authenticated with SCRAM-SHA-256 over TCP. */
  user: string;
  password: string;
  /** A login role pg_hba.conf trusts without a password (to test the `trust` path). */
  trustedUser: string;
  /** With `ssl`: the server certificate PEM, which is also the CA to verify it with. */
  ca?: string;
  /** Fast shutdown (clients are disconnected); start() brings it back on the same port. The temp dir is
   *  removed (and a still-running server stopped) once the test process exits. */
  stop(): Promise<void>;
  start(): Promise<void>;
}

const owner = () => {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }));
  return { uid: id('-u'), gid: id('-g') };
};

/** Starts a cluster; `ssl` turns TLS on (plain TCP is still accepted, so a test can check which one it got). */
export async function startPostgres(opts: { ssl?: boolean } = {}): Promise<PostgresServer> {
  const as = owner();
  const dir = tempDir('pg-', as);
  const data = join(dir, 'data'), port = await freePort(), password = randomBytes(12).toString('hex');
  const user = 'fleet', database = 'fleet', trustedUser = 'trusted';
  // [file, args] of a server binary, run as the postgres user when we are root.
  const cmd = (bin: string, args: string[]): [string, string[]] =>
    as ? ['runuser', ['-u', 'postgres', '--', join(BIN, bin), ...args]] : [join(BIN, bin), args];
  const pg = (bin: string, args: string[]) => run(...cmd(bin, args));

  writeFileSync(join(dir, 'pwfile'), password);
  if (as) chownSync(join(dir, 'pwfile'), as.uid, as.gid);
  await pg('initdb', ['-D', data, '-U', user, `--pwfile=${join(dir, 'pwfile')}`, '-E', 'UTF8', '--no-sync', '--no-instructions']);
  writeFileSync(
    join(data, 'pg_hba.conf'),
    // `legacy` (a role a test may create) gets cleartext password auth, which clients should refuse.
    `local all all trust\nhost all ${trustedUser} 127.0.0.1/32 trust\nhost all legacy 127.0.0.1/32 password\nhost all all 127.0.0.1/32 scram-sha-256\n`,
  );
  const ca = opts.ssl ? selfSignedCert(data, as) : undefined;
  const settings = [`-p ${port}`, '-c listen_addresses=127.0.0.1', `-c unix_socket_directories=${dir}`, '-c fsync=off', '-c password_encryption=scram-sha-256'];
  if (ca) settings.push('-c ssl=on', '-c ssl_cert_file=cert.pem', '-c ssl_key_file=key.pem');

  const pgCtl = (...args: string[]) => pg('pg_ctl', ['-D', data, '-w', '-t', '30', ...args]);
  const start = () => pgCtl('-l', join(dir, 'log'), '-o', settings.join(' '), 'start').then(() => {});
  const stop = () => pgCtl('-m', 'fast', 'stop').then(() => {});
  cleanupAfterExit(`${cmd('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']).flat().join(' ')} >/dev/null 2>&1; rm -rf ${dir}`);
  await start();
  await run(join(BIN, 'psql'), ['-h', dir, '-p', String(port), '-U', user, '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-q',
    '-c', `CREATE DATABASE ${database}`, '-c', `CREATE ROLE ${trustedUser} LOGIN`, '-c', `GRANT ALL ON DATABASE ${database} TO ${trustedUser}`]);
  return {
    host: '127.0.0.1', port, database, user, password, trustedUser, ca, start, stop,
  };
}
