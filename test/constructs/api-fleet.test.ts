import { S3Bucket } from '@cdktf/provider-aws/lib/s3-bucket';
import { TerraformStack } from 'cdktf';
import { ApiFleet, ApiFleetProps, FleetIdentity } from '../../constructs/api-fleet';
import { USER_DATA_LIMIT_BYTES, UserData } from '../../constructs/user-data';
import { addressOf, NETWORK, newStack, resources, single, synth } from './fleet-fixtures';

const TARGET_GROUP = {
  arn: 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/api-abc/0123456789abcdef',
  arnSuffix: 'targetgroup/api-abc/0123456789abcdef',
  loadBalancerArnSuffix: 'app/alb-abc/fedcba9876543210',
};

function fleetIn(stack: TerraformStack, props: Partial<ApiFleetProps> = {}): ApiFleet {
  return new ApiFleet(stack, 'Fleet', { network: NETWORK, userData: UserData.forShellScript('echo ready'), ...props });
}

function synthFleet(props: Partial<ApiFleetProps> = {}, options: { attach?: boolean } = {}) {
  const stack = newStack();
  const fleet = fleetIn(stack, props);
  if (options.attach) fleet.attachToApplicationTargetGroup(TARGET_GROUP);
  return { fleet, stack, out: synth(stack) };
}

describe('ApiFleet launch template', () => {
  const { fleet, out } = synthFleet();
  const template = single(out, 'aws_launch_template');

  test('requires IMDSv2 with hop limit 1 and exposes instance tags in metadata', () => {
    expect(template.metadata_options).toEqual({
      http_endpoint: 'enabled',
      http_tokens: 'required',
      http_put_response_hop_limit: 1,
      instance_metadata_tags: 'enabled',
    });
  });

  test('root volume is encrypted gp3, deleted with the instance', () => {
    expect(template.block_device_mappings).toEqual([
      { device_name: '/dev/xvda', ebs: { volume_type: 'gp3', volume_size: 30, encrypted: 'true', delete_on_termination: 'true' } },
    ]);
  });

  test('no public IP, only the fleet security group, no key pair', () => {
    expect(template.network_interfaces).toEqual([{
      device_index: 0,
      associate_public_ip_address: 'false',
      delete_on_termination: 'true',
      security_groups: [`\${${addressOf(out, 'aws_security_group')}.id}`],
    }]);
    expect(template).not.toHaveProperty('key_name');
    expect(template).not.toHaveProperty('vpc_security_group_ids');
  });

  test('instance profile, detailed monitoring, default version follows the latest', () => {
    expect(template.iam_instance_profile).toEqual({ arn: `\${${addressOf(out, 'aws_iam_instance_profile')}.arn}` });
    expect(template.monitoring).toEqual({ enabled: true });
    expect(template.update_default_version).toBe(true);
  });

  test('tags instances, volumes and network interfaces', () => {
    expect(template.tag_specifications.map((spec: any) => spec.resource_type)).toEqual(['instance', 'volume', 'network-interface']);
    for (const spec of template.tag_specifications) expect(spec.tags).toEqual({ Name: 'test/Fleet' });
  });

  test('user data is the gzip-compressed document in base64', () => {
    expect(template.user_data).toBe(fleet.userData.base64);
    expect(Buffer.from(template.user_data, 'base64').subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
  });

  test('AMI comes from the public AL2023 SSM parameter, readable in plans', () => {
    const parameter = Object.entries(out.json.data!.aws_ssm_parameter);
    expect(parameter).toHaveLength(1);
    expect(parameter[0][1]).toEqual({ name: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64' });
    expect(template.image_id).toBe(`\${data.aws_ssm_parameter.${parameter[0][0]}.insecure_value}`);
  });
});

describe('ApiFleet AMI architecture', () => {
  test.each(['c7g.xlarge', 'm7g.large', 't4g.small', 'c6gn.2xlarge', 'm6gd.large', 'im4gn.large', 'g5g.xlarge', 'a1.large'])(
    '%s (Graviton) gets the arm64 AMI',
    (instanceType) => {
      expect(synthFleet({ instanceType }).fleet.amiParameterName).toBe('/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64');
    },
  );

  test.each(['c5.xlarge', 'm7i.large', 'm7i-flex.large', 'g4dn.xlarge', 'inf2.xlarge', 'c7i.metal-24xl'])('%s gets the x86_64 AMI', (instanceType) => {
    expect(synthFleet({ instanceType }).fleet.amiParameterName).toBe('/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64');
  });

  test('an explicit parameter for the right architecture is used as given', () => {
    const amiParameter = '/aws/service/ami-amazon-linux-latest/al2023-ami-minimal-kernel-default-arm64';
    const { out } = synthFleet({ instanceType: 'c7g.large', amiParameter });
    expect(Object.values(out.json.data!.aws_ssm_parameter)[0]).toEqual({ name: amiParameter });
  });
});

describe('ApiFleet Auto Scaling group', () => {
  const { fleet, out } = synthFleet();
  const group = single(out, 'aws_autoscaling_group');
  const template = addressOf(out, 'aws_launch_template');

  test('has a deterministic literal name and a literal readiness hook name', () => {
    expect(fleet.autoScalingGroupName).toBe('test-Fleet');
    expect(group.name).toBe('test-Fleet');
    expect(group.initial_lifecycle_hook).toEqual([{
      name: fleet.lifecycleHookName,
      lifecycle_transition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
      default_result: 'ABANDON',
      heartbeat_timeout: 600,
    }]);
  });

  test("pins the template's latest version, never $Latest, so template changes start an instance refresh", () => {
    expect(group.launch_template).toEqual({ id: `\${${template}.id}`, version: `\${${template}.latest_version}` });
    expect(JSON.stringify(group)).not.toMatch(/\$Latest|\$Default/);
    expect(group.instance_refresh).toEqual({
      strategy: 'Rolling',
      preferences: { min_healthy_percentage: 100, max_healthy_percentage: 200, auto_rollback: true, skip_matching: true, instance_warmup: '180' },
    });
  });

  test('leaves desired capacity to the scaling policies', () => {
    expect(group).not.toHaveProperty('desired_capacity');
    expect(group.lifecycle).toEqual({ ignore_changes: ['desired_capacity'] });
    expect(group).toMatchObject({ min_size: 2, max_size: 10 });
  });

  test('runs in the private subnets with ELB health checks, grace period and warmup', () => {
    expect(group.vpc_zone_identifier).toEqual(NETWORK.privateSubnetIds);
    expect(group).toMatchObject({ health_check_type: 'ELB', health_check_grace_period: 120, default_instance_warmup: 180 });
    expect(group.wait_for_capacity_timeout).toBe('17m');
    expect(group.instance_maintenance_policy).toEqual({ min_healthy_percentage: 100, max_healthy_percentage: 200 });
  });

  test('publishes group metrics and propagates tags to instances', () => {
    expect(group.enabled_metrics).toContain('GroupInServiceInstances');
    expect(group.metrics_granularity).toBe('1Minute');
    const tagged = synthFleet({ tags: { Team: 'ml-platform', CostCenter: 'inference' } }).out;
    expect(single(tagged, 'aws_autoscaling_group').tag).toEqual([
      { key: 'CostCenter', value: 'inference', propagate_at_launch: true },
      { key: 'Name', value: 'test/Fleet', propagate_at_launch: true },
      { key: 'Team', value: 'ml-platform', propagate_at_launch: true },
    ]);
    expect(single(tagged, 'aws_launch_template').tag_specifications[1].tags).toEqual({ Name: 'test/Fleet', Team: 'ml-platform', CostCenter: 'inference' });
  });

  test('has no target groups and no ELB capacity wait until attached', () => {
    expect(group).not.toHaveProperty('target_group_arns');
    expect(group).not.toHaveProperty('min_elb_capacity');
    expect(resources(out, 'aws_autoscaling_policy').map((p) => p.name)).toEqual(['cpu-target-tracking']);
  });

  test('creates no aws_autoscaling_attachment (inline target_group_arns only)', () => {
    const attached = synthFleet({}, { attach: true }).out;
    expect(attached.json.resource).not.toHaveProperty('aws_autoscaling_attachment');
    expect(attached.json.resource).not.toHaveProperty('aws_autoscaling_traffic_source_attachment');
  });
});

describe('ApiFleet scaling', () => {
  test('CPU target tracking holds the configured utilisation', () => {
    const { out } = synthFleet({ cpuTargetPercent: 45 });
    expect(single(out, 'aws_autoscaling_policy')).toEqual({
      name: 'cpu-target-tracking',
      autoscaling_group_name: `\${${addressOf(out, 'aws_autoscaling_group')}.name}`,
      policy_type: 'TargetTrackingScaling',
      target_tracking_configuration: { target_value: 45, predefined_metric_specification: { predefined_metric_type: 'ASGAverageCPUUtilization' } },
    });
  });

  test('attaching a target group adds its ARN to the group and tracks requests per target with the ALB resource label', () => {
    const { out } = synthFleet({ requestsPerTargetPerMinute: 900 }, { attach: true });
    const group = single(out, 'aws_autoscaling_group');
    expect(group.target_group_arns).toEqual([TARGET_GROUP.arn]);
    expect(group.min_elb_capacity).toBe(2);
    const policy = resources(out, 'aws_autoscaling_policy').find((p) => p.name === 'request-count-target-tracking');
    expect(policy.target_tracking_configuration).toEqual({
      target_value: 900,
      predefined_metric_specification: {
        predefined_metric_type: 'ALBRequestCountPerTarget',
        resource_label: 'app/alb-abc/fedcba9876543210/targetgroup/api-abc/0123456789abcdef',
      },
    });
  });

  test('the request-count policy waits for what the target group reference says (the listener)', () => {
    const stack = newStack();
    const fleet = fleetIn(stack);
    const listenerStandIn = new S3Bucket(stack, 'StandIn', {});
    fleet.attachToApplicationTargetGroup({ ...TARGET_GROUP, dependsOn: [listenerStandIn] });
    const out = synth(stack);
    const policy = resources(out, 'aws_autoscaling_policy').find((p) => p.name === 'request-count-target-tracking');
    expect(policy.depends_on).toEqual([addressOf(out, 'aws_s3_bucket')]);
  });
});

describe('ApiFleet IAM and dependencies', () => {
  test('grants CompleteLifecycleAction on this group only, by name (no wildcard action)', () => {
    const { out } = synthFleet();
    const policy = JSON.parse(single(out, 'aws_iam_role_policy').policy);
    expect(policy.Statement).toEqual([{
      Sid: 'CompleteLaunchLifecycleAction',
      Effect: 'Allow',
      Action: ['autoscaling:CompleteLifecycleAction'],
      Resource: [expect.stringMatching(/^arn:\$\{data\.aws_partition\.\w+\.partition\}:autoscaling:\$\{data\.aws_region\.\w+\.region\}:\$\{data\.aws_caller_identity\.\w+\.account_id\}:autoScalingGroup:\*:autoScalingGroupName\/test-Fleet$/)],
    }]);
  });

  test('the group waits for the role policies, so the first instances boot with their permissions', () => {
    const { out } = synthFleet();
    expect(single(out, 'aws_autoscaling_group').depends_on).toEqual([
      ...Object.keys(out.json.resource.aws_iam_role_policy_attachment).map((name) => `aws_iam_role_policy_attachment.${name}`),
      addressOf(out, 'aws_iam_role_policy'),
    ]);
  });

  test('addDependency adds a bare depends_on address once', () => {
    const stack = newStack();
    const fleet = fleetIn(stack);
    const parameter = new S3Bucket(stack, 'BootConfig', {});
    fleet.addDependency(parameter);
    fleet.addDependency(parameter);
    const out = synth(stack);
    const dependsOn: string[] = single(out, 'aws_autoscaling_group').depends_on;
    expect(dependsOn.filter((d) => d === addressOf(out, 'aws_s3_bucket'))).toHaveLength(1);
    expect(dependsOn.every((d) => !d.includes('${'))).toBe(true);
  });

  test('grants from other constructs land in the same role', () => {
    const stack = newStack();
    const fleet = fleetIn(stack);
    fleet.grantPrincipal.addToPolicy({ sid: 'ReadConfig', actions: ['ssm:GetParameter'], resources: ['arn:aws:ssm:eu-west-1:123456789012:parameter/x'] });
    const policy = JSON.parse(single(synth(stack), 'aws_iam_role_policy').policy);
    expect(policy.Statement.map((s: any) => s.Sid)).toEqual(['CompleteLaunchLifecycleAction', 'ReadConfig']);
  });
});

describe('ApiFleet security group', () => {
  test('described group; egress is HTTPS only and no ingress until something allows it', () => {
    const { fleet, out } = synthFleet();
    expect(single(out, 'aws_security_group').description).toBe('Instances of the API fleet test/Fleet');
    expect(out.json.resource).not.toHaveProperty('aws_vpc_security_group_ingress_rule');
    expect(single(out, 'aws_vpc_security_group_egress_rule')).toMatchObject({ cidr_ipv4: '0.0.0.0/0', ip_protocol: 'tcp', from_port: 443, to_port: 443 });
    expect(fleet.connections.defaultPort?.fromPort).toBe(8080);
  });

  test('allowAllOutbound opens all egress instead', () => {
    const { out } = synthFleet({ allowAllOutbound: true });
    expect(single(out, 'aws_vpc_security_group_egress_rule')).toMatchObject({ cidr_ipv4: '0.0.0.0/0', ip_protocol: '-1' });
  });
});

describe('ApiFleet user data', () => {
  test('the function form receives the literal group and hook names', () => {
    const seen: FleetIdentity[] = [];
    const { fleet } = synthFleet({
      userData: (identity) => {
        seen.push(identity);
        return UserData.forShellScript(`complete ${identity.autoScalingGroupName} ${identity.lifecycleHookName}`);
      },
    });
    expect(seen).toEqual([{ autoScalingGroupName: 'test-Fleet', lifecycleHookName: 'handler-ready' }]);
    expect(fleet.userData.document.toString()).toContain('complete test-Fleet handler-ready');
  });

  test("oversized user data fails synth naming EC2's limit and the actual size", () => {
    const oversized = UserData.custom(Buffer.alloc(20_000, 'x'), { gzip: false });
    expect(() => fleetIn(newStack(), { userData: oversized })).toThrow(
      `test/Fleet: user data is 20000 bytes (after gzip, before base64), over EC2's limit of ${USER_DATA_LIMIT_BYTES} bytes by 3616.`,
    );
  });

  test('user data exactly at the limit is accepted', () => {
    expect(() => fleetIn(newStack(), { userData: UserData.custom(Buffer.alloc(USER_DATA_LIMIT_BYTES, 'x'), { gzip: false }) })).not.toThrow();
  });
});

describe('ApiFleet prop validation', () => {
  const where = "ApiFleet 'test/Fleet'";
  test.each<[string, Partial<ApiFleetProps>, string]>([
    ['min above max', { minCapacity: 5, maxCapacity: 3 }, 'minCapacity = 5 is invalid. It exceeds maxCapacity (3); lower minCapacity or raise maxCapacity.'],
    ['min 0', { minCapacity: 0 }, 'minCapacity = 0 is invalid. Use a whole number from 1 to 1000.'],
    ['fractional min', { minCapacity: 1.5 }, 'minCapacity = 1.5 is invalid. Use a whole number from 1 to 1000.'],
    ['max too large', { maxCapacity: 5000 }, 'maxCapacity = 5000 is invalid. Use a whole number from 1 to 1000.'],
    ['privileged port', { port: 80 }, 'port = 80 is invalid. Use a whole number from 1024 to 65535.'],
    ['port out of range', { port: 70000 }, 'port = 70000 is invalid. Use a whole number from 1024 to 65535.'],
    ['upper-case type', { instanceType: 'C5.XLARGE' }, `instanceType = "C5.XLARGE" is invalid. Use an EC2 instance type such as 'c5.xlarge' or 'c7g.xlarge'.`],
    ['type without size', { instanceType: 'c5' }, 'instanceType = "c5" is invalid.'],
    ['one private subnet', { network: { ...NETWORK, privateSubnetIds: ['subnet-a'] } }, 'network.privateSubnetIds = ["subnet-a"] is invalid. Give at least 2 private subnets in different availability zones.'],
    ['duplicate subnets', { network: { ...NETWORK, privateSubnetIds: ['subnet-a', 'subnet-a'] } }, 'network.privateSubnetIds = ["subnet-a","subnet-a"] is invalid. Remove the duplicate ids.'],
    ['small root volume', { rootVolumeSize: 4 }, 'rootVolumeSize = 4 is invalid. Use a whole number from 8 to 16384.'],
    ['negative grace', { healthCheckGracePeriodSeconds: -1 }, 'healthCheckGracePeriodSeconds = -1 is invalid. Use a whole number from 0 to 3600.'],
    ['long warmup', { defaultInstanceWarmupSeconds: 3601 }, 'defaultInstanceWarmupSeconds = 3601 is invalid. Use a whole number from 0 to 3600.'],
    ['short readiness', { readinessTimeoutSeconds: 10 }, 'readinessTimeoutSeconds = 10 is invalid. Use a whole number from 30 to 7200.'],
    ['long readiness', { readinessTimeoutSeconds: 8000 }, 'readinessTimeoutSeconds = 8000 is invalid. Use a whole number from 30 to 7200.'],
    ['zero request target', { requestsPerTargetPerMinute: 0 }, 'requestsPerTargetPerMinute = 0 is invalid. Use a whole number from 1 to 1000000.'],
    ['cpu target 99', { cpuTargetPercent: 99 }, 'cpuTargetPercent = 99 is invalid. Use a whole number from 10 to 95.'],
    ['tag key with a slash', { tags: { 'team/name': 'x' } }, 'tags key = "team/name" is invalid. Instance metadata tags are enabled'],
    ['tag key with a space', { tags: { 'cost center': 'x' } }, 'tags key = "cost center" is invalid.'],
    ['reserved tag key', { tags: { 'aws:owner': 'x' } }, 'tags key = "aws:owner" is invalid.'],
    ['long tag value', { tags: { Team: 'x'.repeat(257) } }, 'tags.Team = "xxxx'],
    ['x86 parameter on Graviton', { instanceType: 'c7g.xlarge', amiParameter: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64' },
      'amiParameter = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64" is invalid. It names an AMI for x86_64, but c7g.xlarge is arm64; use the arm64 parameter or another instance type.'],
    ['arm parameter on x86', { amiParameter: '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64' }, 'amiParameter = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64" is invalid. It names an AMI for arm64, but c5.xlarge is x86_64;'],
    ['malformed parameter', { amiParameter: 'not a parameter' }, 'amiParameter = "not a parameter" is invalid. Use an SSM parameter name'],
  ])('%s', (_name, props, message) => {
    expect(() => fleetIn(newStack(), props)).toThrow(`${where}: ${message}`);
  });

  test('errors are PropErrors', () => {
    expect(() => fleetIn(newStack(), { minCapacity: 0 })).toThrow(expect.objectContaining({ name: 'PropError' }));
  });
});

test('snapshot: attached fleet with defaults', () => {
  const first = synthFleet({}, { attach: true }).out.text;
  expect(synthFleet({}, { attach: true }).out.text).toBe(first);
  expect(first).toMatchSnapshot();
});
