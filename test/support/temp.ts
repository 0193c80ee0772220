// Temp directories and servers for tests, cleaned up even when a test run dies before its afterAll.
// Jest gives each test file a copy of `process` whose 'exit' event never fires, so instead of an exit hook a
// detached watchdog shell waits for this process to disappear and then runs the cleanup.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Owner {
  uid: number;
  gid: number;
}

/** Runs the shell command `cleanup` once this process has exited (however it exited). */
export function cleanupAfterExit(cleanup: string): void {
  spawn('sh', ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 0.5; done; ${cleanup}`], { detached: true, stdio: 'ignore' }).unref();
}

/** A fresh temp dir, owned by `owner` when given (a server running as that user writes to it). */
export function tempDir(prefix: string, owner?: Owner): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (owner) chownSync(dir, owner.uid, owner.gid);
  return dir;
}

/**
 * A self-signed certificate for 127.0.0.1/localhost, written as cert.pem and key.pem (mode 0600, owned by
 * `owner`: PostgreSQL refuses a key others can read). Returns the certificate PEM, which doubles as the CA.
 */
export function selfSignedCert(dir: string, owner?: Owner): string {
  const cert = join(dir, 'cert.pem'), key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
    '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  for (const f of [cert, key]) {
    chmodSync(f, 0o600);
    if (owner) chownSync(f, owner.uid, owner.gid);
  }
  return readFileSync(cert, 'utf8');
}
