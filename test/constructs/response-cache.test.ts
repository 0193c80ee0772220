import { TerraformStack, Testing } from 'cdktf';
import { Construct } from 'constructs';
import { InstanceRole } from '../../constructs/instance-role';
import { ResponseCache, ResponseCacheProps } from '../../constructs/response-cache';
import { SecurityGroup } from '../../constructs/security-group';
import { only, resources, stackWithProvider, TerraformJson } from '../support/synth';
import { NETWORK } from './fleet-fixtures';

function build(props: Partial<ResponseCacheProps> = {}, scope?: (stack: TerraformStack) => Construct) {
  const stack = stackWithProvider();
  const cache = new ResponseCache(scope ? scope(stack) : stack, 'Cache', { network: NETWORK, ...props });
  return { stack, cache, json: JSON.parse(Testing.synth(stack)) as TerraformJson };
}

const ref = (json: TerraformJson, type: string, attr: string) => `\${${type}.${Object.keys(resources(json, type))[0]}.${attr}}`;
const warningsOf = (stack: TerraformStack) =>
  stack.node.findAll().flatMap((c) => c.node.metadata.filter((m) => m.type === '@cdktf/warn').map((m) => String(m.data)));

/** A fleet stand-in: its own security group and role, like ApiFleet. */
function client(scope: Construct) {
  const group = new SecurityGroup(scope, 'ClientGroup', { vpcId: NETWORK.vpcId, description: 'Cache client under test' });
  return { connections: group.connections, grantPrincipal: new InstanceRole(scope, 'ClientRole', { description: 'client' }), group };
}

describe('ResponseCache defaults', () => {
  const { json } = build();
  const group = only(json, 'aws_elasticache_replication_group');

  test('Valkey 8.0 pinned, one primary + one replica across AZs with automatic failover', () => {
    expect(group).toMatchObject({
      replication_group_id: 'test-cache',
      engine: 'valkey',
      engine_version: '8.0',
      node_type: 'cache.t4g.small',
      cluster_mode: 'disabled',
      port: 6379,
      num_cache_clusters: 2,
      automatic_failover_enabled: true,
      multi_az_enabled: true,
    });
    expect(group.description).toBe('Response cache and rate limits (test/Cache)');
  });

  test('encrypted at rest and in transit (TLS required), AUTH token rotated in place', () => {
    expect(group.at_rest_encryption_enabled).toBe('true');
    expect(group.transit_encryption_enabled).toBe(true);
    expect(group.transit_encryption_mode).toBe('required');
    expect(group.auth_token_update_strategy).toBe('ROTATE');
  });

  test('the AUTH token in the plan is a reference to the generated password, never a literal', () => {
    expect(group.auth_token).toBe(ref(json, 'random_password', 'result'));
    expect(only(json, 'random_password')).toEqual({ length: 64, special: false });
    expect(only(json, 'aws_secretsmanager_secret_version').secret_string).toBe(group.auth_token);
  });

  test('snapshots kept 7 days, windows set, changes wait for the maintenance window', () => {
    expect(group).toMatchObject({ snapshot_retention_limit: 7, snapshot_window: '03:00-04:00', maintenance_window: 'sun:05:00-sun:06:00', apply_immediately: false });
    expect(group.auto_minor_version_upgrade).toBe('true');
  });

  test('private subnet group, own security group, parameter group with volatile-lru', () => {
    expect(only(json, 'aws_elasticache_subnet_group')).toMatchObject({ name: 'test-cache', subnet_ids: NETWORK.privateSubnetIds });
    expect(group.subnet_group_name).toBe(ref(json, 'aws_elasticache_subnet_group', 'name'));
    expect(group.security_group_ids).toEqual([ref(json, 'aws_security_group', 'id')]);
    expect(only(json, 'aws_elasticache_parameter_group')).toMatchObject({
      name: 'test-cache-valkey8',
      family: 'valkey8',
      parameter: [{ name: 'maxmemory-policy', value: 'volatile-lru' }],
      lifecycle: { create_before_destroy: true },
    });
    expect(group.parameter_group_name).toBe(ref(json, 'aws_elasticache_parameter_group', 'name'));
  });

  test('the cache group opens nothing by itself: no ingress, no egress', () => {
    expect(only(json, 'aws_security_group')).toMatchObject({ vpc_id: NETWORK.vpcId, description: 'ElastiCache valkey response cache test/Cache: TLS clients on 6379 only' });
    expect(resources(json, 'aws_vpc_security_group_ingress_rule')).toEqual({});
    expect(resources(json, 'aws_vpc_security_group_egress_rule')).toEqual({});
  });

  test('slow log and engine log go to CloudWatch log groups with retention, as JSON', () => {
    const groups = resources(json, 'aws_cloudwatch_log_group');
    expect(Object.keys(groups)).toHaveLength(2);
    expect(group.log_delivery_configuration.map((d: any) => d.log_type)).toEqual(['slow-log', 'engine-log']);
    for (const delivery of group.log_delivery_configuration) {
      const id = /^\$\{aws_cloudwatch_log_group\.(.+)\.name\}$/.exec(delivery.destination)![1];
      expect(delivery).toMatchObject({ destination_type: 'cloudwatch-logs', log_format: 'json' });
      expect(groups[id]).toEqual({ name_prefix: `/elasticache/test-cache/${delivery.log_type}-`, retention_in_days: 30 });
    }
  });

  test('synthesizes deterministically (snapshot)', () => {
    const again = JSON.stringify(build().json);
    expect(again).toBe(JSON.stringify(json));
    expect(json).toMatchSnapshot();
  });
});

describe('ResponseCache options', () => {
  test('Redis 7.1 uses the redis7 parameter family', () => {
    const { json } = build({ engine: 'redis' });
    expect(only(json, 'aws_elasticache_replication_group')).toMatchObject({ engine: 'redis', engine_version: '7.1' });
    expect(only(json, 'aws_elasticache_parameter_group')).toMatchObject({ family: 'redis7', name: 'test-cache-redis7' });
  });

  test('replicas = 0: one node, no failover or multi-AZ, and a warning', () => {
    const { stack, json } = build({ replicas: 0 });
    expect(only(json, 'aws_elasticache_replication_group')).toMatchObject({ num_cache_clusters: 1, automatic_failover_enabled: false, multi_az_enabled: false });
    expect(warningsOf(stack)).toEqual([
      'test/Cache: replicas = 0 runs a single cache node without automatic failover or multi-AZ; a node failure loses the cache and the rate-limit counters. Use replicas >= 1 in production.',
    ]);
  });

  test('replicas >= 1 gives no warning; replicas = 5 is six nodes', () => {
    const { stack, json } = build({ replicas: 5 });
    expect(only(json, 'aws_elasticache_replication_group').num_cache_clusters).toBe(6);
    expect(warningsOf(stack)).toEqual([]);
  });

  test('a single private subnet is enough without replicas', () => {
    expect(() => build({ replicas: 0, network: { ...NETWORK, privateSubnetIds: ['subnet-a'] } })).not.toThrow();
  });

  test('explicit retention, windows, eviction policy and apply_immediately are passed through', () => {
    const { json } = build({ snapshotRetentionDays: 0, snapshotWindow: '22:00-23:00', maintenanceWindow: 'wed:01:00-wed:02:00', maxmemoryPolicy: 'allkeys-lfu', applyImmediately: true, logRetentionDays: 365, engineVersion: '7.2' });
    expect(only(json, 'aws_elasticache_replication_group')).toMatchObject({ snapshot_retention_limit: 0, snapshot_window: '22:00-23:00', maintenance_window: 'wed:01:00-wed:02:00', apply_immediately: true, engine_version: '7.2' });
    expect(only(json, 'aws_elasticache_parameter_group')).toMatchObject({ family: 'valkey7', parameter: [{ name: 'maxmemory-policy', value: 'allkeys-lfu' }] });
    expect(Object.values(resources(json, 'aws_cloudwatch_log_group')).map((g) => g.retention_in_days)).toEqual([365, 365]);
  });

  test('long construct paths give a valid, stable, unique ElastiCache id of at most 40 characters', () => {
    const nest = (name: string) => (stack: TerraformStack) => new Construct(new Construct(stack, 'InferenceEndpointProduction'), name);
    const a = only(build({}, nest('ResponseCacheForTheStreamingGateway')).json, 'aws_elasticache_replication_group').replication_group_id;
    const b = only(build({}, nest('ResponseCacheForTheStreamingGatewayTwo')).json, 'aws_elasticache_replication_group').replication_group_id;
    expect(a).toMatch(/^[a-z](?!.*--)[a-z0-9-]{0,38}[a-z0-9]$/);
    expect(a.length).toBeLessThanOrEqual(40);
    expect(a).not.toBe(b);
    expect(only(build({}, nest('ResponseCacheForTheStreamingGateway')).json, 'aws_elasticache_replication_group').replication_group_id).toBe(a);
  });
});

describe('ResponseCache.grantConnect', () => {
  const stack = stackWithProvider();
  new ResponseCache(stack, 'Cache', { network: NETWORK }).grantConnect(client(stack));
  const json: TerraformJson = JSON.parse(Testing.synth(stack));
  const groupId = (path: string) => `\${aws_security_group.${Object.keys(resources(json, 'aws_security_group')).find((k) => k.startsWith(path))}.id}`;

  test('opens 6379 on the cache group from the client group, and the matching egress on the client', () => {
    const description = 'valkey over TLS to the response cache test/Cache';
    expect(Object.values(resources(json, 'aws_vpc_security_group_ingress_rule'))).toEqual([
      { security_group_id: groupId('Cache_SecurityGroup'), referenced_security_group_id: groupId('ClientGroup'), ip_protocol: 'tcp', from_port: 6379, to_port: 6379, description },
    ]);
    expect(Object.values(resources(json, 'aws_vpc_security_group_egress_rule'))).toEqual([
      { security_group_id: groupId('ClientGroup'), referenced_security_group_id: groupId('Cache_SecurityGroup'), ip_protocol: 'tcp', from_port: 6379, to_port: 6379, description },
    ]);
  });

  test('grants read on the AUTH token secret only', () => {
    const policy = JSON.parse(only(json, 'aws_iam_role_policy').policy);
    expect(policy.Statement).toEqual([
      { Sid: 'ReadtestCacheAuthToken', Effect: 'Allow', Action: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'], Resource: [ref(json, 'aws_secretsmanager_secret', 'arn')] },
    ]);
  });
});

describe('ResponseCache prop validation', () => {
  const cases: [string, Partial<ResponseCacheProps>, string][] = [
    ['engine', { engine: 'memcached' as never }, 'engine = "memcached" is invalid. Use one of: valkey, redis.'],
    ['valkey version', { engineVersion: '8' }, `engineVersion = "8" is invalid. Pin a supported valkey major.minor version, e.g. '8.0' (7.2 or 8.x).`],
    ['redis version', { engine: 'redis', engineVersion: '6.2' }, `engineVersion = "6.2" is invalid. Pin a supported redis major.minor version, e.g. '7.1' (7.x).`],
    ['node type', { nodeType: 'r7g.large' }, `nodeType = "r7g.large" is invalid. Use an ElastiCache node type such as 'cache.t4g.small' or 'cache.r7g.large'.`],
    ['too many replicas', { replicas: 6 }, 'replicas = 6 is invalid. Use a whole number from 0 to 5.'],
    ['negative replicas', { replicas: -1 }, 'replicas = -1 is invalid. Use a whole number from 0 to 5.'],
    ['fractional replicas', { replicas: 1.5 }, 'replicas = 1.5 is invalid. Use a whole number from 0 to 5.'],
    ['snapshot retention', { snapshotRetentionDays: 36 }, 'snapshotRetentionDays = 36 is invalid. Use a whole number from 0 to 35.'],
    ['snapshot window', { snapshotWindow: '3-4' }, `snapshotWindow = "3-4" is invalid. Use a UTC range 'HH:MM-HH:MM', e.g. '03:00-04:00'.`],
    ['maintenance window', { maintenanceWindow: 'sunday 05:00' }, `maintenanceWindow = "sunday 05:00" is invalid. Use a UTC range 'ddd:HH:MM-ddd:HH:MM', e.g. 'sun:05:00-sun:06:00'.`],
    ['log retention', { logRetentionDays: 10 }, 'logRetentionDays = 10 is invalid. CloudWatch Logs accepts only 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653 days.'],
    ['eviction policy', { maxmemoryPolicy: 'lru' }, 'maxmemoryPolicy = "lru" is invalid. Use one of: volatile-lru, allkeys-lru, volatile-lfu, allkeys-lfu, volatile-random, allkeys-random, volatile-ttl, noeviction.'],
    ['one subnet with replicas', { network: { ...NETWORK, privateSubnetIds: ['subnet-a'] } }, 'network.privateSubnetIds = ["subnet-a"] is invalid. Give at least 2 private subnets in different availability zones (multi-AZ needs two).'],
  ];
  test.each(cases)('%s', (_name, props, message) => {
    expect(() => build(props)).toThrow(`ResponseCache 'test/Cache': ${message}`);
  });
});
