// Request bodies: strict UTF-8 JSON objects within a size limit, and their field types.
import type { IncomingMessage } from 'node:http';
import { httpError } from './errors';

// fatal: malformed UTF-8 is an error instead of silently becoming U+FFFD.
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Reads the body (413 past `max` bytes) as a strict UTF-8 JSON object (400 otherwise). */
export async function readJson(req: IncomingMessage, max: number): Promise<Record<string, any>> {
  const big = httpError(413, `request body exceeds MAX_BODY_BYTES (${max})`, 'request_too_large', undefined, { connection: 'close' });
  if (+req.headers['content-length']! > max) throw big;
  const buf = await new Promise<Buffer>((ok, fail) => {
    const parts: Buffer[] = [];
    let n = 0;
    const onData = (c: Buffer) => {
      if ((n += c.length) <= max) parts.push(c);
      // Keep draining (and discarding) so the 413 can still be written on this connection.
      else req.off('data', onData).resume(), fail(big);
    };
    req.on('data', onData).on('end', () => ok(Buffer.concat(parts))).on('error', fail);
  });
  let v: any;
  try {
    v = JSON.parse(utf8.decode(buf));
  } catch (e) {
    throw httpError(400, e instanceof SyntaxError ? 'invalid JSON: ' + e.message : 'request body is not valid UTF-8', 'invalid_body');
  }
  if (!v || typeof v != 'object' || Array.isArray(v)) throw httpError(400, 'request body must be a JSON object', 'invalid_body');
  return v;
}

/**
 * Checks the JSON types of `body`'s fields (`types`: field → e.g. 'string|array'). `null` counts as absent;
 * absent is fine unless the field is `required`. Throws `status` with code invalid_type and the field as param.
 */
export function checkTypes(body: Record<string, any>, types: Record<string, string>, required: string[], status = 400): void {
  for (const k in types) {
    const v = body[k];
    const kind = v === undefined ? 'missing' : v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
    if (v == null ? required.includes(k) : !types[k].includes(kind)) throw httpError(status, `'${k}' must be ${types[k].replace('|', ' or ')}, got ${kind}`, 'invalid_type', k);
  }
}
