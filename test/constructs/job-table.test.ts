import { TerraformOutput, Testing } from 'cdktf';
import { awsJson } from '../../lambda-src/stores/aws';
import { DynamoTable } from '../../lambda-src/stores/dynamodb';
import { JOB_TABLE_SCHEMA, PredictionStore } from '../../lambda-src/stores/prediction-store';
import { InstanceRole } from '../../constructs/instance-role';
import { JobTable, JobTableProps } from '../../constructs/job-table';
import { DynaliteServer, startDynalite } from '../support/dynalite-server';
import { only, resources, stackWithProvider, TerraformJson } from '../support/synth';

function build(props: JobTableProps = {}, grant?: (table: JobTable, role: InstanceRole) => void) {
  const stack = stackWithProvider();
  const table = new JobTable(stack, 'Jobs', props);
  if (grant) grant(table, new InstanceRole(stack, 'Role', { description: 'grantee' }));
  // Outputs show what the public attributes resolve to.
  new TerraformOutput(stack, 'tableName', { value: table.tableName });
  new TerraformOutput(stack, 'tableArn', { value: table.tableArn });
  if (table.kmsKeyArn) new TerraformOutput(stack, 'kmsKeyArn', { value: table.kmsKeyArn });
  return { table, json: JSON.parse(Testing.synth(stack)) as TerraformJson };
}

const ref = (json: TerraformJson, type: string, attr: string) => `\${${type}.${Object.keys(resources(json, type))[0]}.${attr}}`;
const statements = (json: TerraformJson) => JSON.parse(only(json, 'aws_iam_role_policy').policy).Statement;

describe('JobTable defaults', () => {
  const { json } = build();
  const t = only(json, 'aws_dynamodb_table');

  test('on demand, named after the construct path', () => {
    expect(t.billing_mode).toBe('PAY_PER_REQUEST');
    expect(t.name).toBe('test-Jobs');
    expect(json.output!.tableName.value).toBe(ref(json, 'aws_dynamodb_table', 'name')); // a reference: consumers depend on the table
    expect(json.output!.tableArn.value).toBe(ref(json, 'aws_dynamodb_table', 'arn'));
  });

  test('keys, TTL and the sparse lease index come from JOB_TABLE_SCHEMA', () => {
    const { hashKey, ttlAttribute, leaseIndex } = JOB_TABLE_SCHEMA;
    expect(t.hash_key).toBe(hashKey);
    expect(t).not.toHaveProperty('range_key');
    expect(t.attribute).toEqual([
      { name: 'id', type: 'S' },
      { name: 'active_shard', type: 'S' },
      { name: 'lease_expires_at', type: 'N' },
    ]);
    expect(t.global_secondary_index).toEqual([{ name: leaseIndex.name, hash_key: leaseIndex.hashKey, range_key: leaseIndex.rangeKey, projection_type: 'ALL' }]);
    expect(t.ttl).toEqual({ attribute_name: ttlAttribute, enabled: true });
  });

  test('point-in-time recovery, deletion protection, SSE with the customer-managed key', () => {
    expect(t.point_in_time_recovery).toEqual({ enabled: true });
    expect(t.deletion_protection_enabled).toBe(true);
    expect(t.server_side_encryption).toEqual({ enabled: true, kms_key_arn: ref(json, 'aws_kms_key', 'arn') });
    expect(json.output!.kmsKeyArn.value).toBe(ref(json, 'aws_kms_key', 'arn'));
  });

  test('the KMS key rotates yearly, waits 30 days before deletion, keeps the default (IAM-delegating) policy', () => {
    expect(only(json, 'aws_kms_key')).toEqual({
      description: 'Encrypts the DynamoDB job table test/Jobs',
      enable_key_rotation: true,
      deletion_window_in_days: 30,
      tags: { Name: 'test/Jobs' },
    });
  });

  test('synthesizes deterministically (snapshot)', () => {
    expect(JSON.stringify(build().json)).toBe(JSON.stringify(json));
    expect(json).toMatchSnapshot();
  });
});

describe('JobTable options', () => {
  test('AWS-owned key: SSE without a key ARN, no KMS key resource', () => {
    const { table, json } = build({ kmsKey: 'aws-owned' });
    expect(only(json, 'aws_dynamodb_table').server_side_encryption).toEqual({ enabled: false });
    expect(resources(json, 'aws_kms_key')).toEqual({});
    expect(table.kmsKeyArn).toBeUndefined();
  });

  test('deletion protection and PITR can be turned off; the key deletion window is configurable', () => {
    const { json } = build({ deletionProtection: false, pointInTimeRecovery: false, keyDeletionWindowDays: 7 });
    expect(only(json, 'aws_dynamodb_table')).toMatchObject({ deletion_protection_enabled: false, point_in_time_recovery: { enabled: false } });
    expect(only(json, 'aws_kms_key').deletion_window_in_days).toBe(7);
  });

  test.each([
    [{ kmsKey: 'aws-managed' as never }, `JobTable 'test/Jobs': kmsKey = "aws-managed" is invalid. Use one of: customer-managed, aws-owned.`],
    [{ keyDeletionWindowDays: 6 }, `JobTable 'test/Jobs': keyDeletionWindowDays = 6 is invalid. Use a whole number from 7 to 30.`],
    [{ keyDeletionWindowDays: 31 }, `JobTable 'test/Jobs': keyDeletionWindowDays = 31 is invalid. Use a whole number from 7 to 30.`],
  ])('rejects %j', (props, message) => {
    expect(() => build(props)).toThrow(message);
  });
});

describe('JobTable grants', () => {
  test('read/write: item actions on the table and its indexes, key use through DynamoDB only', () => {
    const { json } = build({}, (table, role) => table.grantReadWriteData(role));
    const arn = ref(json, 'aws_dynamodb_table', 'arn');
    expect(statements(json)).toEqual([
      {
        Sid: 'testJobsReadWriteItems',
        Effect: 'Allow',
        Action: ['dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem', 'dynamodb:ConditionCheckItem', 'dynamodb:DeleteItem', 'dynamodb:DescribeTable', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
        Resource: [arn, `${arn}/index/*`],
      },
      {
        Sid: 'testJobsReadWriteKey',
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey'],
        Resource: [ref(json, 'aws_kms_key', 'arn')],
        Condition: { StringLike: { 'kms:ViaService': ['dynamodb.*'] } },
      },
    ]);
  });

  test('read: no write actions, decrypt only', () => {
    const { json } = build({}, (table, role) => table.grantReadData(role));
    const [items, key] = statements(json);
    expect(items.Action).toEqual(['dynamodb:BatchGetItem', 'dynamodb:ConditionCheckItem', 'dynamodb:DescribeTable', 'dynamodb:GetItem', 'dynamodb:Query']);
    expect(key.Action).toEqual(['kms:Decrypt', 'kms:DescribeKey']);
    expect(statements(json)).toHaveLength(2);
  });

  test('with the AWS-owned key there is no KMS statement', () => {
    const { json } = build({ kmsKey: 'aws-owned' }, (table, role) => table.grantReadWriteData(role));
    expect(statements(json).map((s: { Sid: string }) => s.Sid)).toEqual(['testJobsReadWriteItems']);
  });

  test('no statement grants Scan or any table-management action', () => {
    const { json } = build({}, (table, role) => {
      table.grantReadWriteData(role);
      table.grantReadData(role);
    });
    const actions = statements(json).flatMap((s: { Action: string[] }) => s.Action);
    expect(actions.filter((a: string) => /Scan|CreateTable|DeleteTable|UpdateTable|\*/.test(a))).toEqual([]);
  });
});

describe('JobTable schema against the job store (dynalite)', () => {
  let db: DynaliteServer;
  beforeAll(async () => {
    db = await startDynalite();
  });
  afterAll(() => db.stop());

  /** CreateTable from the synthesized Terraform table, as AWS would build it. */
  async function createFromSynth(name: string, json: TerraformJson): Promise<void> {
    const t = only(json, 'aws_dynamodb_table');
    await awsJson('dynamodb', 'CreateTable', {
      TableName: name,
      BillingMode: t.billing_mode,
      AttributeDefinitions: t.attribute.map((a: { name: string; type: string }) => ({ AttributeName: a.name, AttributeType: a.type })),
      KeySchema: [{ AttributeName: t.hash_key, KeyType: 'HASH' }],
      GlobalSecondaryIndexes: t.global_secondary_index.map((g: any) => ({
        IndexName: g.name,
        KeySchema: [{ AttributeName: g.hash_key, KeyType: 'HASH' }, { AttributeName: g.range_key, KeyType: 'RANGE' }],
        Projection: { ProjectionType: g.projection_type },
      })),
    }, { endpoint: db.endpoint });
  }

  test('PredictionStore writes jobs and finds expired leases with a Query on the synthesized table', async () => {
    await createFromSynth('synth-jobs', build().json);
    const store = new PredictionStore(new DynamoTable('synth-jobs', { endpoint: db.endpoint }));
    const base = { input: '{}', status: 'starting' as const, created_at: new Date().toISOString(), owner: 'a', attempt: 1 };
    expect(await store.create({ ...base, id: 'expired', active_shard: '2', lease_expires_at: Date.now() - 1000 })).toBe(true);
    expect(await store.create({ ...base, id: 'live', active_shard: '2', lease_expires_at: Date.now() + 60_000 })).toBe(true);
    expect((await store.expired(2, 10)).map((j) => j.id)).toEqual(['expired']);
  });

  test('the check can fail: a numeric shard key (as the first contract draft said) rejects the store writes', async () => {
    const json = build().json;
    only(json, 'aws_dynamodb_table').attribute[1].type = 'N';
    await createFromSynth('numeric-shard', json);
    const store = new PredictionStore(new DynamoTable('numeric-shard', { endpoint: db.endpoint }));
    await expect(store.create({ id: 'x', input: '{}', status: 'starting', created_at: '', active_shard: '1', lease_expires_at: 0, attempt: 1 })).rejects.toThrow(/Type mismatch/);
  });
});
