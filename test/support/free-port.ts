import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';

/** A loopback TCP port that was free a moment ago (the kernel picks it; we release it right away). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
      .once('error', reject)
      .listen(0, '127.0.0.1', () => {
        const { port } = srv.address() as AddressInfo;
        srv.close(() => resolve(port));
      });
  });
}
