// Helpers shared across the handler.
import type { Cluster } from 'node:cluster';

// Node built-ins as plain requires, in one place: esbuild's per-module import interop would cost user-data bytes.
export const { createHash, createHmac, pbkdf2Sync, randomBytes, randomUUID, timingSafeEqual }: typeof import('node:crypto') = require('node:crypto');
export const sleep: typeof import('node:timers/promises').setTimeout = require('node:timers/promises').setTimeout;
export const cluster: Cluster = require('node:cluster');
export const { availableParallelism, hostname }: typeof import('node:os') = require('node:os');
export const { createServer, STATUS_CODES }: typeof import('node:http') = require('node:http');

/** SHA-256 of text or bytes: raw, or as hex. */
export function sha(data: string | Buffer): Buffer;
export function sha(data: string | Buffer, enc: 'hex'): string;
export function sha(data: string | Buffer, enc?: 'hex'): Buffer | string {
  return createHash('sha256').update(data).digest(enc!);
}

/** HMAC-SHA256 (SigV4 and SCRAM). */
export const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest();

/** The value with object keys sorted at every depth: JSON.stringify of it is canonical (key order never matters). */
export const canon = (v: any): unknown =>
  Array.isArray(v) ? v.map(canon) : v && typeof v == 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])])) : v;

/** Settles like `p`, or resolves undefined once `ms` pass (p keeps running); leaves no timer behind. */
export function within<T>(p: Promise<T>, ms: number): Promise<T | void> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<void>((r) => (t = setTimeout(r, ms)))]).finally(() => clearTimeout(t));
}

/** Rejects with the signal's reason once it aborts (for racing work that ignores its signal). */
export const aborted = (signal?: AbortSignal) => new Promise<never>((_, no) => signal?.addEventListener('abort', () => no(signal.reason)));

/** JSON.parse, or undefined for text that is not JSON. */
export function tryJson(text: string): any {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
