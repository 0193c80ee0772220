import { DynamoTable } from '../../../lambda-src/stores/dynamodb';
import { JOB_TABLE_SCHEMA, JobRecord, PredictionStore } from '../../../lambda-src/stores/prediction-store';
import { DynaliteServer, startDynalite } from '../../support/dynalite-server';

let db: DynaliteServer;
let store: PredictionStore;
let n = 0;

beforeAll(async () => {
  db = await startDynalite();
  await db.createJobTable('store-jobs');
  store = new PredictionStore(new DynamoTable('store-jobs', { endpoint: db.endpoint }));
});
afterAll(() => db.stop());

function job(over: Partial<JobRecord> = {}): JobRecord {
  return { id: `job-${++n}`, input: '{}', status: 'starting', created_at: new Date().toISOString(), active_shard: '1', owner: 'a', lease_expires_at: Date.now() + 60_000, attempt: 1, ...over };
}

it('exports the table contract the Terraform construct builds', () => {
  expect(JOB_TABLE_SCHEMA).toEqual({ hashKey: 'id', ttlAttribute: 'expires_at', leaseIndex: { name: 'active-lease-index', hashKey: 'active_shard', rangeKey: 'lease_expires_at' }, shards: 4 });
});

it('creates only once per id', async () => {
  const j = job();
  expect(await store.create(j)).toBe(true);
  expect(await store.create({ ...j, input: '{"other":1}' })).toBe(false);
  expect((await store.get(j.id))?.input).toBe('{}');
});

it('lets only the owner renew, and others claim only after the lease expired', async () => {
  const j = job();
  await store.create(j);
  expect(await store.claim(j.id, 'b', 60_000)).toBeUndefined();
  expect(await store.renew(j.id, 'b', 60_000)).toBeUndefined();
  expect(await store.renew(j.id, 'a', 60_000)).toMatchObject({ owner: 'a' });
  expect(await store.claim(j.id, 'a', 60_000)).toMatchObject({ owner: 'a', attempt: 2 }); // re-claim by the owner

  const expired = job({ lease_expires_at: Date.now() - 1 });
  await store.create(expired);
  expect(await store.claim(expired.id, 'b', 60_000, 'note\n')).toMatchObject({ owner: 'b', attempt: 2, logs: 'note\n' });
  expect(await store.renew(expired.id, 'a', 60_000)).toBeUndefined(); // the old owner lost it
});

it('finishes only from a non-terminal state and only by the owner; sets the TTL and leaves the index', async () => {
  const j = job();
  await store.create(j);
  expect(await store.finish(j.id, 'b', { status: 'succeeded' }, 3600)).toBeUndefined();
  const done = await store.finish(j.id, 'a', { status: 'succeeded', output: '1', error: undefined }, 3600);
  expect(done).toMatchObject({ status: 'succeeded', output: '1' });
  expect(done!.active_shard).toBeUndefined();
  expect(done!.expires_at).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000) + 3590);
  // Terminal: neither cancel (owner undefined), the owner again, nor a claim can touch it.
  expect(await store.finish(j.id, undefined, { status: 'canceled' }, 3600)).toBeUndefined();
  expect(await store.finish(j.id, 'a', { status: 'failed' }, 3600)).toBeUndefined();
  expect(await store.claim(j.id, 'a', 1000)).toBeUndefined();
  expect((await store.get(j.id))?.status).toBe('succeeded');
});

it('finds expired leases per shard through the index; release hands a job over at once', async () => {
  const live = job({ active_shard: '3' });
  const stale = job({ active_shard: '3', lease_expires_at: Date.now() - 5 });
  await Promise.all([store.create(live), store.create(stale)]);
  const ids = async () => (await store.expired(3, 25)).map((r) => r.id);
  expect(await ids()).toEqual([stale.id]);
  expect(await store.release(live.id, 'b')).toBe(false);
  expect(await store.release(live.id, 'a')).toBe(true);
  expect(await ids()).toEqual(expect.arrayContaining([stale.id, live.id]));
  expect((await store.get(live.id))?.attempt).toBe(0); // a graceful hand-over is not a failed attempt
  await store.finish(stale.id, undefined, { status: 'canceled' }, 60);
  expect(await ids()).toEqual([live.id]);
});
