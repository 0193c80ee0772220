import type { IncomingMessage, ServerResponse } from 'node:http';
import { httpError } from './errors';
import type { RequestMetric } from '../stores/metrics-store';

/** One request. Handlers fill in `m`, which becomes the log line, the metric row and the Prometheus labels. */
export interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  /** performance.now() at arrival. */
  t0: number;
  params: string[];
  m: RequestMetric;
}
export type Handler = (c: Ctx) => unknown;
/** Path pattern (`{name}` matches one segment) → handlers by method. */
export type Routes = [string, Record<string, Handler>][];

/** Resolves method + path to a handler; 404 for unknown paths, 405 (with Allow) for unknown methods. */
export function router(routes: Routes) {
  const table = routes.map(([p, m]) => [RegExp(`^${p.replace(/{\w+}/g, '([^/]+)')}$`), p, m] as const);
  return (method: string, path: string) => {
    for (const [re, route, methods] of table) {
      const m = re.exec(path);
      if (!m) continue;
      const allow = Object.keys(methods).join(', ');
      if (!methods[method]) throw httpError(405, `${method} ${route}: use ${allow}`, 'method_not_allowed', undefined, { allow });
      return { route, handler: methods[method], params: m.slice(1) };
    }
    throw httpError(404, `no route ${method} ${path}`, 'not_found');
  };
}
