// The composition: wiring between the tiers, the handler's settings path, and the opt-in S3 delivery.
import { InferenceEndpoint, InferenceEndpointProps } from '../../constructs/inference-endpoint';
import { only, resources, synthesize, TerraformJson } from '../support/synth';

const entry = 'test/constructs/fixtures/tiny-handler.ts';
const build = (props: InferenceEndpointProps = {}): TerraformJson =>
  synthesize((stack) => new InferenceEndpoint(stack, 'endpoint', { handler: { entry }, deletionProtection: false, ...props }));
const policy = (json: TerraformJson) => JSON.parse(Object.values(resources(json, 'aws_iam_role_policy')).find((p) => p.policy.includes('ReadHandlerConfig')).policy);

describe('InferenceEndpoint', () => {
  const json = build();

  it('puts apply-time settings in one SSM parameter the fleet may read, created before the first instance', () => {
    const parameter = only(json, 'aws_ssm_parameter');
    expect(parameter.name).toBe('/test-endpoint/handler-config');
    const keys = parameter.value.split('\n').map((l: string) => l.slice(0, l.indexOf('=')));
    expect(keys).toEqual(['AWS_REGION', 'DYNAMODB_TABLE', 'REDIS_URL', 'REDIS_AUTH_SECRET_ARN', 'METRICS_DB_HOST', 'METRICS_DB_PASSWORD_SECRET_ARN', 'PUBLIC_BASE_URL', 'API_KEYS_SECRET_ARN']);
    expect(parameter.value).toMatch(/^REDIS_URL=rediss:\/\/\$\{aws_elasticache_replication_group\.\w+\.primary_endpoint_address\}:6379$/m);
    expect(parameter.value).not.toMatch(/random_password/);
    const asg = only(json, 'aws_autoscaling_group');
    expect(asg.depends_on).toContain(`aws_ssm_parameter.${Object.keys(resources(json, 'aws_ssm_parameter'))[0]}`);
    const statement = policy(json).Statement.find((s: any) => s.Sid === 'ReadHandlerConfig');
    expect(statement).toMatchObject({ Action: ['ssm:GetParameter'], Resource: [expect.stringMatching(/^\$\{aws_ssm_parameter\.\w+\.arn\}$/)] });
  });

  it('grants the fleet exactly its secrets: cache AUTH, database password and API keys', () => {
    const sids = policy(json).Statement.map((s: any) => s.Sid);
    expect(sids.filter((s: string) => s.startsWith('Read'))).toEqual(expect.arrayContaining(['ReadHandlerConfig']));
    expect(policy(json).Statement.filter((s: any) => s.Action.includes('secretsmanager:GetSecretValue'))).toHaveLength(3);
  });

  it('outputs what operators need', () => {
    expect(Object.keys(json.output!).map((k) => k.replace(/_[0-9A-F]{8}$/, '').replace(/^endpoint_/, '')).sort()).toEqual(
      ['alb_dns_name', 'api_keys_secret_arn', 'autoscaling_group_name', 'cache_endpoint', 'job_table_name', 'metrics_db_address', 'url', 'user_data_bytes'].sort(),
    );
  });

  it('serves without keys only when asked explicitly', () => {
    const open = build({ allowUnauthenticated: true });
    expect(only(open, 'aws_ssm_parameter').value).not.toContain('API_KEYS_SECRET_ARN');
    expect(Object.keys(resources(open, 'aws_secretsmanager_secret'))).toHaveLength(2);
  });

  it('delivers the bundle from a private S3 object when asked, naming the bucket through SSM', () => {
    const s3 = build({ handler: { entry, delivery: 's3' } });
    const object = only(s3, 'aws_s3_object');
    expect(object.key).toMatch(/^handler\/[0-9a-f]{64}\.js$/);
    expect(object.source).toMatch(/^assets\//);
    const blocks = Object.entries(resources(s3, 'aws_s3_bucket_public_access_block')).filter(([id]) => id.includes('HandlerDelivery'));
    expect(blocks.map(([, b]) => b)).toEqual([expect.objectContaining({ block_public_acls: true, block_public_policy: true, ignore_public_acls: true, restrict_public_buckets: true })]);
    expect(only(s3, 'aws_ssm_parameter').value).toMatch(/^HANDLER_BUNDLE_BUCKET=\$\{aws_s3_bucket\.\w+\.bucket\}$/m);
    const read = policy(s3).Statement.find((s: any) => s.Sid === 'ReadHandlerBundle');
    expect(read).toMatchObject({ Action: ['s3:GetObject'], Resource: [expect.stringMatching(/^\$\{aws_s3_bucket\.\w+\.arn\}\/handler\/[0-9a-f]{64}\.js$/)] });
  });

  it.each([
    [{ upstreamUrls: ['10.0.0.1:8000'] }, 'upstreamUrls = "10.0.0.1:8000" is invalid. Give http(s) base URLs'],
    [{ handler: { entry, environment: { DYNAMODB_TABLE: 'x' } } }, 'handler.environment = ["DYNAMODB_TABLE"] is invalid. These are set by the construct'],
    [{ handler: { entry, delivery: 'ftp' as any } }, 'handler.delivery = "ftp" is invalid. Use one of: user-data, s3.'],
    [{ port: 80 }, 'port = 80 is invalid. Use a whole number from 1024 to 65535.'],
    [{ deregistrationDelaySeconds: 5 }, 'deregistrationDelaySeconds = 5 is invalid. Use a whole number from 30 to 3600.'],
  ])('rejects %j with the prop, the value and the fix', (props, message) => {
    expect(() => build(props as InferenceEndpointProps)).toThrow(message);
  });
});
