import { send } from '../http/errors';
import type { Routes } from '../http/router';
import type { Deps } from '../app';

export const healthRoutes = (d: Deps): Routes => [
  // Liveness: the process answers; no dependency is called.
  ['/healthz', { GET: (c) => send(c.res, 200, { status: 'ok' }) }],
  // Readiness: an upstream lists its models and the cache answers.
  [
    '/readyz',
    {
      GET: async (c) => {
        const [upstream, cache] = await Promise.all([d.pool.models(true).then(() => true, () => false), d.cache.ping()]);
        send(c.res, upstream && cache ? 200 : 503, { status: upstream && cache ? 'ready' : 'unavailable', upstream, cache });
      },
    },
  ],
];
