// OpenAI-shaped errors: every failure a client sees is `{error:{message,type,param,code}}`.
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';

/** An error that becomes the response (status, OpenAI code and param, extra headers). AWS errors have this shape too. */
export interface HttpError extends Error {
  status: number;
  code?: string | null;
  param?: string | null;
  headers?: OutgoingHttpHeaders;
}

export const httpError = (status: number, message: string, code?: string | null, param?: string, headers?: OutgoingHttpHeaders): HttpError =>
  Object.assign(Error(message), { status, code, param, headers });

export const errorBody = ({ status, message, code = null, param = null }: HttpError) => ({
  error: { message, type: status == 401 ? 'authentication_error' : status == 429 ? 'rate_limit_error' : status > 499 ? 'server_error' : 'invalid_request_error', param, code },
});

/** Sends a JSON body (an object, or JSON text as is). */
export function send(res: ServerResponse, status: number, body: unknown, headers?: OutgoingHttpHeaders): void {
  const text = typeof body == 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers }).end(text);
}
