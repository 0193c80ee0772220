import { conditionFailed, DynamoTable, marshall, unmarshall } from '../../../lambda-src/stores/dynamodb';
import { JOB_TABLE_SCHEMA } from '../../../lambda-src/stores/prediction-store';
import { DynaliteServer, startDynalite } from '../../support/dynalite-server';

describe('marshall / unmarshall', () => {
  it('round-trips strings, numbers and lists, the types the job table uses', () => {
    const value = { s: 'héllo', empty: '', n: -12.5, zero: 0, big: 1e21, l: ['a', 'b'], nested: [1, ['x']], none: [] };
    const item = marshall(value);
    expect(item.n).toEqual({ N: '-12.5' });
    expect(item.nested).toEqual({ L: [{ N: '1' }, { L: [{ S: 'x' }] }] });
    expect(unmarshall(item)).toEqual(value);
  });

  it('drops undefined fields', () => {
    expect(marshall({ a: undefined, b: 'x' })).toEqual({ b: { S: 'x' } });
  });
});

describe('DynamoTable on dynalite', () => {
  let db: DynaliteServer;
  let table: DynamoTable;
  const { name: index } = JOB_TABLE_SCHEMA.leaseIndex;

  beforeAll(async () => {
    db = await startDynalite();
    await db.createJobTable('jobs');
    table = new DynamoTable('jobs', { endpoint: db.endpoint });
  });
  afterAll(() => db.stop());

  it('puts, gets and updates plain objects, with reserved-word attribute names', async () => {
    await table.call('PutItem', { Item: { id: 'a', status: 'starting', input: '{}', owner: 'i-1' } });
    expect((await table.call('GetItem', { Key: { id: 'a' } })).Item).toEqual({ id: 'a', status: 'starting', input: '{}', owner: 'i-1' });
    const updated = await table.call('UpdateItem', { Key: { id: 'a' }, UpdateExpression: 'SET #status = :s ADD #n :one', ConditionExpression: '#owner = :me', ReturnValues: 'ALL_NEW' }, { s: 'processing', one: 1, me: 'i-1' });
    expect(updated.Attributes).toMatchObject({ status: 'processing', n: 1 });
    expect((await table.call('GetItem', { Key: { id: 'missing' } })).Item).toBeUndefined();
  });

  it('reports a failed condition as ConditionalCheckFailedException', async () => {
    const put = () => table.call('PutItem', { Item: { id: 'c' }, ConditionExpression: 'attribute_not_exists(#id)' });
    await put();
    const err = await put().catch((e) => e);
    expect(err).toMatchObject({ code: 'ConditionalCheckFailedException', status: 400 });
    expect(conditionFailed(err)).toBe(true);
  });

  it('queries the sparse lease index by shard and expiry, up to a limit', async () => {
    for (let i = 0; i < 5; i++) await table.call('PutItem', { Item: { id: `q${i}`, active_shard: '2', lease_expires_at: 1000 + i } });
    await table.call('PutItem', { Item: { id: 'q-done', lease_expires_at: 1 } }); // no active_shard: not in the index
    const query = (t: number, Limit?: number) => table.call('Query', { IndexName: index, KeyConditionExpression: '#active_shard = :s AND #lease_expires_at < :t', Limit }, { s: '2', t });
    expect((await query(1003)).Items.map((r: any) => r.id)).toEqual(['q0', 'q1', 'q2']);
    expect((await query(9999, 2)).Items).toHaveLength(2);
  });

  it('surfaces validation errors with the service message', async () => {
    const err = await table.call('PutItem', { Item: { other: 'no key' } }).catch((e) => e);
    expect(err).toMatchObject({ code: 'ValidationException', status: 400 });
    expect(err.message).toMatch(/^dynamodb PutItem: ValidationException: .*key/i);
  });
});
