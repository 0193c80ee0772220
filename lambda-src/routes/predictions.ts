// Cog/Replicate-style predictions over the prediction service (DynamoDB): synchronous by default (bounded by
// PREDICTION_WAIT_MS), `Prefer: respond-async` → 202 at once; PUT creates idempotently with the client's id.
import { readJson } from '../http/body';
import { httpError, send } from '../http/errors';
import type { Ctx, Routes } from '../http/router';
import type { CreatePredictionRequest } from '../predictions/service';
import type { Deps } from '../app';

export function predictionRoutes(d: Deps): Routes {
  const service = () => {
    if (!d.predictions) throw httpError(404, 'predictions are off: DYNAMODB_TABLE is not set', 'not_found');
    return d.predictions;
  };

  async function create(c: Ctx, id?: string, wait = !/respond-async/.test(c.req.headers.prefer + '')) {
    const s = service();
    const body = await readJson(c.req, d.cfg.MAX_BODY_BYTES);
    await d.limit(c, 0);
    if (id) body.id = id;
    const p = await s.create(body as CreatePredictionRequest, wait ? d.cfg.PREDICTION_WAIT_MS : 0);
    c.m.model = p.model;
    // Terminal (completed_at set): 200; still running: 202.
    send(c.res, p.completed_at ? 200 : 202, p);
  }

  return [
    ['/predictions', { POST: (c) => create(c) }],
    ['/predictions/{id}', { PUT: (c) => create(c, c.params[0]), GET: async (c) => send(c.res, 200, await service().get(c.params[0])) }],
    ['/predictions/{id}/cancel', { POST: async (c) => send(c.res, 200, await service().cancel(c.params[0])) }],
    // The original design's endpoint: always asynchronous.
    ['/predict', { POST: (c) => create(c, undefined, false) }],
  ];
}
