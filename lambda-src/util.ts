// Helpers shared across the handler.
import { createHash } from 'node:crypto';

/** SHA-256 of text or bytes: raw, or as hex. */
export function sha(data: string | Buffer): Buffer;
export function sha(data: string | Buffer, enc: 'hex'): string;
export function sha(data: string | Buffer, enc?: 'hex'): Buffer | string {
  return createHash('sha256').update(data).digest(enc!);
}

/** The value with object keys sorted at every depth: JSON.stringify of it is canonical (key order never matters). */
export const canon = (v: any): unknown =>
  Array.isArray(v) ? v.map(canon) : v && typeof v == 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])])) : v;

/** Settles like `p`, or resolves undefined once `ms` pass (p keeps running); leaves no timer behind. */
export function within<T>(p: Promise<T>, ms: number): Promise<T | void> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<void>((r) => (t = setTimeout(r, ms)))]).finally(() => clearTimeout(t));
}

/** JSON.parse, or undefined for text that is not JSON. */
export function tryJson(text: string): any {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
