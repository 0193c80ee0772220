import { httpError } from '../http/errors';
import type { Routes } from '../http/router';
import { render } from '../metrics/registry';
import type { Deps } from '../app';

/** Prometheus text of every worker's counters and histograms (summed by the cluster primary). */
export const metricsRoutes = (d: Deps): Routes => [
  [
    '/metrics',
    {
      GET: async (c) => {
        // The ALB adds X-Forwarded-For: metrics go to direct scrapes on the private network, not to the internet.
        if (c.req.headers['x-forwarded-for']) throw httpError(403, '/metrics is served to direct scrapes only, not through the load balancer', 'forbidden');
        c.res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(render(await d.collect()));
      },
    },
  ],
];
