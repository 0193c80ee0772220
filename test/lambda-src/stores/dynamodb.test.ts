import { AwsError } from '../../../lambda-src/stores/aws';
import { conditionFailed, DynamoTable, marshall, unmarshall } from '../../../lambda-src/stores/dynamodb';
import { JOB_TABLE_SCHEMA } from '../../../lambda-src/stores/prediction-store';
import { DynaliteServer, startDynalite } from '../../support/dynalite-server';

describe('marshall / unmarshall', () => {
  it('round-trips strings, numbers, booleans, null, nested maps and lists', () => {
    const value = { s: 'héllo', n: -12.5, big: 1e21, t: true, f: false, z: null, m: { a: [1, 'x', { deep: [null] }], e: {} }, l: [] };
    const item = marshall(value);
    expect(item.n).toEqual({ N: '-12.5' });
    expect(item.m).toEqual({ M: { a: { L: [{ N: '1' }, { S: 'x' }, { M: { deep: { L: [{ NULL: true }] } } }] }, e: { M: {} } } });
    expect(unmarshall(item)).toEqual(value);
  });

  it('drops undefined fields and stores undefined list entries as NULL', () => {
    expect(marshall({ a: undefined, b: [undefined] })).toEqual({ b: { L: [{ NULL: true }] } });
  });

  it('names the path of a value DynamoDB cannot hold', () => {
    expect(() => marshall({ a: { b: [1, NaN] } })).toThrow(/^a\.b\[1\]: cannot store number NaN/);
    expect(() => marshall({ f: () => 1 })).toThrow(/^f: cannot store function/);
    expect(() => marshall({ big: 10n })).toThrow(/^big: cannot store bigint/);
  });

  it('rejects attribute types it does not model', () => {
    expect(() => unmarshall({ b: { B: 'AAE=' } as any })).toThrow('unsupported DynamoDB attribute type B');
  });
});

describe('DynamoTable on dynalite', () => {
  let db: DynaliteServer;
  let table: DynamoTable;

  beforeAll(async () => {
    db = await startDynalite();
    await db.createJobTable('jobs');
    table = new DynamoTable('jobs', { endpoint: db.endpoint });
  });
  afterAll(() => db.stop());

  it('puts, gets and updates with reserved-word attribute names', async () => {
    await table.put({ id: 'a', status: 'starting', input: '{}', owner: 'i-1' });
    expect(await table.get({ id: 'a' })).toEqual({ id: 'a', status: 'starting', input: '{}', owner: 'i-1' });
    const updated = await table.update({ id: 'a' }, 'SET #status = :s ADD #n :one', { condition: '#owner = :me', values: { s: 'processing', one: 1, me: 'i-1' } });
    expect(updated).toMatchObject({ status: 'processing', n: 1 });
    expect(await table.get({ id: 'missing' })).toBeUndefined();
  });

  it('reports a failed condition as ConditionalCheckFailedException', async () => {
    await table.put({ id: 'c' }, { condition: 'attribute_not_exists(#id)' });
    const err = await table.put({ id: 'c' }, { condition: 'attribute_not_exists(#id)' }).catch((e) => e);
    expect(err).toBeInstanceOf(AwsError);
    expect(err).toMatchObject({ code: 'ConditionalCheckFailedException', status: 400 });
    expect(conditionFailed(err)).toBe(true);
    await expect(table.update({ id: 'c' }, 'SET #x = :x', { condition: '#owner = :me', values: { x: 1, me: 'nobody' } })).rejects.toThrow(/ConditionalCheckFailedException/);
  });

  it('queries the sparse lease index by shard and expiry, up to a limit', async () => {
    const { name } = JOB_TABLE_SCHEMA.leaseIndex;
    for (let i = 0; i < 5; i++) await table.put({ id: `q${i}`, active_shard: '2', lease_expires_at: 1000 + i });
    await table.put({ id: 'q-done', lease_expires_at: 1 }); // no active_shard: not in the index
    const rows = await table.query('#active_shard = :s AND #lease_expires_at < :t', { index: name, values: { s: '2', t: 1003 } });
    expect(rows.map((r) => r.id)).toEqual(['q0', 'q1', 'q2']);
    const two = await table.query('#active_shard = :s AND #lease_expires_at < :t', { index: name, values: { s: '2', t: 9999 }, limit: 2 });
    expect(two).toHaveLength(2);
  });

  it('follows LastEvaluatedKey past the 1 MB page size', async () => {
    const blob = 'x'.repeat(300 * 1024);
    for (let i = 0; i < 5; i++) await table.put({ id: `p${i}`, active_shard: '3', lease_expires_at: i, blob });
    const rows = await table.query('#active_shard = :s AND #lease_expires_at < :t', { index: JOB_TABLE_SCHEMA.leaseIndex.name, values: { s: '3', t: 10 } });
    expect(rows.map((r) => r.id)).toEqual(['p0', 'p1', 'p2', 'p3', 'p4']);
  });

  it('surfaces validation errors with the service message', async () => {
    const err = await table.put({ other: 'no key' }).catch((e) => e);
    expect(err).toMatchObject({ code: 'ValidationException', status: 400 });
    expect(err.message).toMatch(/^dynamodb PutItem: ValidationException: .*key/i);
  });
});
