// Cog/Replicate-style predictions over PredictionService (DynamoDB): synchronous by default (bounded by
// PREDICTION_WAIT_MS), `Prefer: respond-async` → 202 at once; PUT creates idempotently with the client's id.
import { randomBytes } from 'node:crypto';
import { readJson } from '../http/body';
import { httpError, send } from '../http/errors';
import type { Ctx, Routes } from '../http/router';
import type { PredictionService } from '../predictions/service';
import type { Deps } from '../app';

export function predictionRoutes(d: Deps): Routes {
  const service = (): PredictionService => {
    if (!d.predictions) throw httpError(404, 'predictions are off: DYNAMODB_TABLE is not set', 'not_found');
    return d.predictions;
  };

  async function create(c: Ctx, id?: string, async = /respond-async/.test(c.req.headers.prefer + '')) {
    const s = service();
    const body = await readJson(c.req, d.cfg.MAX_BODY_BYTES);
    await d.limit(c, 0);
    body.id = id ?? body.id ?? randomBytes(15).toString('base64url');
    const created = s.create(body as any, { wait: !async });
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([created, new Promise<void>((ok) => (timer = setTimeout(ok, d.cfg.PREDICTION_WAIT_MS)))]).finally(() => clearTimeout(timer));
    created.catch(() => 0);
    // Still running after the wait: answer with its current state (the record is written before the run starts).
    const p = r ? r.prediction : ((await s.get(body.id).catch(() => undefined)) ?? (await created).prediction);
    c.m.model = p.model;
    send(c.res, /^(succeeded|failed|canceled)$/.test(p.status) ? 200 : 202, p);
  }

  return [
    ['/predictions', { POST: (c) => create(c) }],
    ['/predictions/{id}', { PUT: (c) => create(c, c.params[0]), GET: async (c) => send(c.res, 200, await service().get(c.params[0])) }],
    ['/predictions/{id}/cancel', { POST: async (c) => send(c.res, 200, await service().cancel(c.params[0])) }],
    // The original design's endpoint: always asynchronous.
    ['/predict', { POST: (c) => create(c, undefined, true) }],
  ];
}
