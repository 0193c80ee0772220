import { connect, createServer, Server, Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { RedisClient } from '../../../lambda-src/stores/redis';
import { RedisServer, startRedis } from '../../support/redis-server';
import { waitFor } from '../../support/wait';

/**
 * A TCP relay in front of the real server that re-chunks what Redis sends: 'split' delivers it one byte per
 * write, 'coalesce' holds it back and delivers everything received within 30 ms in one write.
 */
async function chunkingProxy(port: number, mode: 'split' | 'coalesce'): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const up = connect(port, '127.0.0.1');
    client.setNoDelay();
    sockets.add(client).add(up);
    client.pipe(up);
    let pending: Buffer[] = [];
    let chain = Promise.resolve();
    up.on('data', (d) => {
      if (mode == 'coalesce') {
        if (!pending.length) setTimeout(() => (client.write(Buffer.concat(pending)), (pending = [])), 30);
        pending.push(d);
      } else
        chain = chain.then(async () => {
          for (const byte of d) await new Promise<void>((r) => client.write(Buffer.from([byte]), () => setImmediate(r)));
        });
    });
    up.on('close', () => client.destroy());
    client.on('close', () => up.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((r) => (sockets.forEach((s) => s.destroy()), server.close(() => r()))),
  };
}

describe('RedisClient', () => {
  let server: RedisServer;
  let redis: RedisClient;

  beforeAll(async () => {
    server = await startRedis();
    redis = new RedisClient({ url: server.url });
  });
  afterAll(async () => {
    await redis.close();
    await server.stop();
  });

  it('decodes simple strings, integers, bulk strings, nulls and arrays', async () => {
    expect(await redis.command(['SET', 'k', 'v'])).toBe('OK');
    expect(await redis.command(['GET', 'k'])).toBe('v');
    expect(await redis.command(['GET', 'missing'])).toBeNull();
    expect(await redis.command(['INCRBY', 'n', 41])).toBe(41);
    expect(await redis.command(['RPUSH', 'l', 'a', 'b', ''])).toBe(3);
    expect(await redis.command(['LRANGE', 'l', 0, -1])).toEqual(['a', 'b', '']);
    expect(await redis.command(['HMGET', 'nohash', 'x', 'y'])).toEqual([null, null]);
    expect(await redis.command(['EVAL', 'return {1, {2, "x"}, false}', 0])).toEqual([1, [2, 'x'], null]);
  });

  it('round-trips multi-byte utf8 and values containing CRLF', async () => {
    const value = 'héllo\r\n$3\r\n*-1 — 日本語 🎉';
    await redis.command(['SET', 'u', value]);
    expect(await redis.command(['GET', 'u'])).toBe(value);
    expect(await redis.command(['STRLEN', 'u'])).toBe(Buffer.byteLength(value));
  });

  it('rejects a command with the Redis error message and keeps the connection usable', async () => {
    await redis.command(['SET', 's', 'text']);
    await expect(redis.command(['INCR', 's'])).rejects.toThrow('ERR value is not an integer or out of range');
    await expect(redis.command(['NOSUCHCOMMAND'])).rejects.toThrow(/^ERR unknown command 'NOSUCHCOMMAND'/);
    expect(await redis.command(['PING'])).toBe('PONG');
  });

  it('keeps an error nested in an array reply as an Error value', async () => {
    const reply = await redis.command(['EVAL', "return {1, redis.error_reply('BAD nested')}", 0]);
    expect(reply[0]).toBe(1);
    expect(reply[1]).toBeInstanceOf(Error);
    expect(reply[1].message).toBe('BAD nested');
  });

  it('pipelines 1000 concurrent INCRs on one connection, replies in order', async () => {
    const results = await Promise.all(Array.from({ length: 1000 }, () => redis.command(['INCR', 'counter'])));
    expect(results).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(await redis.command(['INFO', 'clients'])).toMatch(/connected_clients:1\r\n/);
  });

  it('handles a 2 MB reply arriving in many TCP chunks', async () => {
    const big = 'x'.repeat(2 * 1024 * 1024);
    await redis.command(['SET', 'big', big]);
    expect(await redis.command(['GET', 'big'])).toBe(big);
  });

  it.each(['split', 'coalesce'] as const)('reassembles replies when the stream is re-chunked (%s)', async (mode) => {
    const proxy = await chunkingProxy(server.port, mode);
    const client = new RedisClient({ url: proxy.url, commandTimeoutMs: 5000, connectTimeoutMs: 5000 });
    try {
      await redis.command(['DEL', 'pl']);
      await redis.command(['RPUSH', 'pl', 'é', '', 'abc\r\n']);
      const replies = await Promise.all([
        client.command(['LRANGE', 'pl', 0, -1]),
        client.command(['GET', 'missing']),
        client.command(['INCR', 'chunked']),
        client.command(['INCR', 'pl']).catch((e: Error) => e.message),
        client.command(['ECHO', 'hé']),
      ]);
      expect(replies).toEqual([['é', '', 'abc\r\n'], null, expect.any(Number), expect.stringMatching(/^WRONGTYPE/), 'hé']);
    } finally {
      await client.close();
      await proxy.close();
    }
  });

  it('times out a command, drops that connection and recovers on the next call', async () => {
    const other = new RedisClient({ url: server.url });
    const slow = new RedisClient({ url: server.url, commandTimeoutMs: 100 });
    try {
      await slow.command(['PING']);
      await other.command(['CLIENT', 'PAUSE', 400, 'ALL']);
      await expect(slow.command(['GET', 'k'])).rejects.toThrow('redis: no answer within 100 ms');
      await waitFor('pause to end', () => slow.command(['GET', 'k']).catch(() => undefined));
    } finally {
      await other.close();
      await slow.close();
    }
  });

  it('answers commands already sent before close() disconnects, and refuses new ones', async () => {
    const c = new RedisClient({ url: server.url });
    const pending = [c.command(['SET', 'closing', '1']), c.command(['GET', 'closing'])];
    await c.command(['PING']);
    const closing = c.close();
    expect(await Promise.all(pending)).toEqual(['OK', '1']);
    await closing;
    await expect(c.command(['PING'])).rejects.toThrow('redis: client closed');
  });

  it('refuses a malformed URL at construction', () => {
    expect(() => new RedisClient({ url: 'localhost:6379' })).toThrow('redis: url must be redis[s]://host:port');
    expect(() => new RedisClient({ url: 'redis//x' })).toThrow(/Invalid URL/);
  });
});

describe('RedisClient AUTH', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis({ password: 's3cr/t' });
  });
  afterAll(() => server.stop());

  const host = () => `127.0.0.1:${server.port}`;

  it('authenticates with the password', async () => {
    const c = new RedisClient({ url: `redis://${host()}`, password: 's3cr/t' });
    expect(await c.command(['PING'])).toBe('PONG');
    await c.close();
  });

  it('rejects a wrong password with the server message', async () => {
    const c = new RedisClient({ url: `redis://${host()}`, password: 'wrong' });
    await expect(c.command(['PING'])).rejects.toThrow(/^WRONGPASS invalid username-password pair/);
    await c.close();
  });

  it('surfaces NOAUTH when no password is configured', async () => {
    const c = new RedisClient({ url: `redis://${host()}` });
    await expect(c.command(['GET', 'x'])).rejects.toThrow(/^NOAUTH Authentication required/);
    await c.close();
  });
});

describe('RedisClient over TLS (rediss://)', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis({ tls: true, password: 'pw' });
  });
  afterAll(() => server.stop());

  it('connects and authenticates when the server certificate verifies against `ca`', async () => {
    expect(server.url).toMatch(/^rediss:/);
    const c = new RedisClient({ url: server.url, password: 'pw', ca: server.ca });
    expect(await c.command(['SET', 't', 'over tls'])).toBe('OK');
    expect(await c.command(['GET', 't'])).toBe('over tls');
    await c.close();
  });

  it('refuses a certificate it cannot verify', async () => {
    const c = new RedisClient({ url: server.url, password: 'pw' });
    await expect(c.command(['PING'])).rejects.toThrow(/self.signed certificate/);
    await c.close();
  });
});

describe('RedisClient when the server goes away', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(() => server.stop());

  it('reconnects after a server restart', async () => {
    const c = new RedisClient({ url: server.url });
    await c.command(['SET', 'before', '1']);
    await server.restart();
    // The first call may still hit the old, closing socket; a later one reconnects.
    await waitFor('a reconnect', () => c.command(['PING']).catch(() => undefined));
    expect(await c.command(['GET', 'before'])).toBeNull(); // a new server without persistence
    await c.close();
  });

  it('rejects in-flight commands when the connection drops, then fails fast while the server is down', async () => {
    const c = new RedisClient({ url: server.url, commandTimeoutMs: 5000 });
    await c.command(['PING']);
    const blocked = c.command(['BLPOP', 'never', 0]);
    await server.stop();
    await expect(blocked).rejects.toThrow('redis: connection closed');
    // Connection refused, not a timeout: the error comes straight from the socket...
    await expect(c.command(['PING'])).rejects.toThrow(/ECONNREFUSED/);
    // ...and during the backoff that follows, calls do not even try to connect.
    await expect(c.command(['PING'])).rejects.toThrow('redis: unreachable, backing off');
    await server.restart();
    await waitFor('the backoff to end', () => c.command(['PING']).catch(() => undefined));
    await c.close();
  });
});
