import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { TerraformOutput, TerraformStack, Testing } from 'cdktf';
import { ApiFleet } from '../../constructs/api-fleet';
import { LoadBalancer, LoadBalancerProps } from '../../constructs/load-balancer';
import { UserData } from '../../constructs/user-data';
import { addressOf, CERTIFICATE_ARN, NETWORK, newStack, resources, single, synth, Synthesized } from './fleet-fixtures';

function balancerIn(stack: TerraformStack, props: Partial<LoadBalancerProps> = {}): LoadBalancer {
  return new LoadBalancer(stack, 'LoadBalancer', { network: NETWORK, certificateArn: CERTIFICATE_ARN, ...props });
}

/** A load balancer with the API fleet behind it, as the composition wires them. */
function wired(props: Partial<LoadBalancerProps> = {}) {
  const stack = newStack();
  const lb = balancerIn(stack, props);
  const fleet = new ApiFleet(stack, 'Fleet', { network: NETWORK, userData: UserData.forShellScript('echo ready') });
  const targetGroup = lb.addTargets('Api', { target: fleet, healthCheckPath: '/healthz', deregistrationDelaySeconds: 150 });
  return { stack, lb, fleet, targetGroup, out: synth(stack) };
}

const listeners = (out: Synthesized) => resources(out, 'aws_lb_listener');
const listenerOn = (out: Synthesized, port: number) => listeners(out).find((l) => l.port === port);
const ingress = (out: Synthesized) => resources(out, 'aws_vpc_security_group_ingress_rule');

/** Annotations as the cdktf CLI sees them: from the manifest a full synth writes. */
function warnings(stack: TerraformStack): { constructPath: string; level: string; message: string }[] {
  new AwsProvider(stack, 'aws', { region: 'eu-west-1' }); // a full synth validates that every resource has its provider
  const outdir = Testing.fullSynth(stack);
  try {
    const manifest = JSON.parse(readFileSync(join(outdir, 'manifest.json'), 'utf8'));
    return manifest.stacks.test.annotations.filter((a: { level: string }) => a.level.includes('warn'));
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

describe('LoadBalancer', () => {
  const { lb, out } = wired();
  const alb = single(out, 'aws_lb');


  test('is an internet-facing application load balancer in the public subnets with its own security group', () => {
    expect(alb).toMatchObject({
      load_balancer_type: 'application',
      internal: false,
      subnets: NETWORK.publicSubnetIds,
      security_groups: [`\${${addressOf(out, 'aws_security_group', (g) => g.name_prefix.includes('LoadBalancer'))}.id}`],
    });
    expect(alb.name_prefix.length).toBeLessThanOrEqual(6);
  });

  test('drops invalid headers, mitigates desync defensively, keeps streams open 300 s, is deletion protected', () => {
    expect(alb).toMatchObject({
      drop_invalid_header_fields: true,
      desync_mitigation_mode: 'defensive',
      idle_timeout: 300,
      enable_deletion_protection: true,
    });
  });

  test('logs to the bucket created here, only once the bucket policy and encryption exist', () => {
    expect(alb.access_logs).toEqual({ bucket: `\${${addressOf(out, 'aws_s3_bucket')}.id}`, enabled: true });
    expect(alb.depends_on).toEqual(expect.arrayContaining([
      addressOf(out, 'aws_s3_bucket_policy'),
      addressOf(out, 'aws_s3_bucket_server_side_encryption_configuration'),
      addressOf(out, 'aws_s3_bucket_ownership_controls'),
    ]));
    expect(lb.accessLogBucket).toBeDefined();
  });

  test('url, dns name and zone resolve to the load balancer', () => {
    const stack = newStack();
    const probe = balancerIn(stack, { accessLogs: false });
    new TerraformOutput(stack, 'url', { value: probe.url });
    new TerraformOutput(stack, 'zone', { value: probe.zoneId });
    new TerraformOutput(stack, 'suffix', { value: probe.arnSuffix });
    const outputs = JSON.parse(Testing.synth(stack)).output;
    const address = addressOf(synth(stack), 'aws_lb');
    expect(outputs.url.value).toBe(`https://\${${address}.dns_name}`);
    expect(outputs.zone.value).toBe(`\${${address}.zone_id}`);
    expect(outputs.suffix.value).toBe(`\${${address}.arn_suffix}`);
  });

  test('url uses domainName when given (the certificate names it, not the ALB)', () => {
    expect(balancerIn(newStack(), { domainName: 'api.example.com' }).url).toBe('https://api.example.com');
  });
});

describe('LoadBalancer access log bucket', () => {
  const { out } = wired({ accessLogRetentionDays: 30 });
  const bucket = addressOf(out, 'aws_s3_bucket');

  test('is private: all four public access blocks, ACLs disabled', () => {
    expect(single(out, 'aws_s3_bucket_public_access_block')).toEqual({
      bucket: `\${${bucket}.id}`, block_public_acls: true, block_public_policy: true, ignore_public_acls: true, restrict_public_buckets: true,
    });
    expect(single(out, 'aws_s3_bucket_ownership_controls').rule).toEqual({ object_ownership: 'BucketOwnerEnforced' });
    expect(single(out, 'aws_s3_bucket').bucket_prefix).toBe('test-loadbalancer-logs-');
  });

  test('is encrypted with SSE-S3 (ALB log delivery rejects KMS) and versioned', () => {
    expect(single(out, 'aws_s3_bucket_server_side_encryption_configuration').rule).toEqual([
      { apply_server_side_encryption_by_default: { sse_algorithm: 'AES256' } },
    ]);
    expect(single(out, 'aws_s3_bucket_versioning').versioning_configuration).toEqual({ status: 'Enabled' });
  });

  test('expires logs after accessLogRetentionDays', () => {
    const [rule] = single(out, 'aws_s3_bucket_lifecycle_configuration').rule;
    expect(rule).toMatchObject({ status: 'Enabled', expiration: [{ days: 30 }], noncurrent_version_expiration: [{ noncurrent_days: 1 }] });
    const defaults = wired().out;
    expect(single(defaults, 'aws_s3_bucket_lifecycle_configuration').rule[0].expiration).toEqual([{ days: 90 }]);
  });

  test('policy lets ELB log delivery write under AWSLogs/<account>/ and denies plain HTTP', () => {
    const document = Object.values(out.json.data!.aws_iam_policy_document).find((d: any) => d.statement.some((s: any) => s.sid === 'ElbLogDelivery')) as any;
    const [service, legacy, tls] = document.statement;
    const logObjects = expect.stringMatching(/^\$\{aws_s3_bucket\.\w+\.arn\}\/AWSLogs\/\$\{data\.aws_caller_identity\.\w+\.account_id\}\/\*$/);
    expect(service).toEqual({
      sid: 'ElbLogDelivery', effect: 'Allow', actions: ['s3:PutObject'], resources: [logObjects],
      principals: [{ type: 'Service', identifiers: ['logdelivery.elasticloadbalancing.amazonaws.com'] }],
    });
    expect(legacy).toMatchObject({ sid: 'ElbLogDeliveryLegacyRegions', effect: 'Allow', actions: ['s3:PutObject'], resources: [logObjects] });
    // Older regions' ELB accounts via lookup, falling back to this account where none exists.
    expect(legacy.principals[0].type).toBe('AWS');
    expect(legacy.principals[0].identifiers[0]).toMatch(/:iam::\$\{lookup\(\{.*"us-east-1" = "127311923021".*\}, data\.aws_region\.\w+\.region, data\.aws_caller_identity\.\w+\.account_id\)\}:root$/);
    expect(tls).toEqual({
      sid: 'DenyInsecureTransport', effect: 'Deny', actions: ['s3:*'],
      principals: [{ type: '*', identifiers: ['*'] }],
      resources: [`\${${bucket}.arn}`, `\${${bucket}.arn}/*`],
      condition: [{ test: 'Bool', variable: 'aws:SecureTransport', values: ['false'] }],
    });
    expect(single(out, 'aws_s3_bucket_policy').depends_on).toEqual([addressOf(out, 'aws_s3_bucket_public_access_block')]);
  });

  test('accessLogs: false creates no bucket and no logging', () => {
    const plain = wired({ accessLogs: false }).out;
    expect(plain.json.resource).not.toHaveProperty('aws_s3_bucket');
    expect(single(plain, 'aws_lb')).not.toHaveProperty('access_logs');
    expect(single(plain, 'aws_lb')).not.toHaveProperty('depends_on');
  });
});

describe('LoadBalancer listeners', () => {
  test('HTTPS with the certificate and a TLS 1.3/1.2 policy forwards to the target group', () => {
    const { out } = wired();
    const https = listenerOn(out, 443);
    expect(https).toMatchObject({
      protocol: 'HTTPS',
      certificate_arn: CERTIFICATE_ARN,
      ssl_policy: 'ELBSecurityPolicy-TLS13-1-2-2021-06',
      default_action: [{ type: 'forward', target_group_arn: `\${${addressOf(out, 'aws_lb_target_group')}.arn}` }],
    });
  });

  test('HTTP answers with a 301 to HTTPS', () => {
    const { out } = wired();
    expect(listenerOn(out, 80)).toMatchObject({
      protocol: 'HTTP',
      default_action: [{ type: 'redirect', redirect: { protocol: 'HTTPS', port: '443', status_code: 'HTTP_301' } }],
    });
    expect(listeners(out)).toHaveLength(2);
  });

  test('redirectHttp: false closes port 80 entirely', () => {
    const { out } = wired({ redirectHttp: false });
    expect(listeners(out).map((l) => l.port)).toEqual([443]);
    expect(ingress(out).filter((r) => r.from_port === 80)).toEqual([]);
  });

  test('before addTargets the listener answers 503 instead of forwarding nowhere', () => {
    const stack = newStack();
    balancerIn(stack);
    expect(listenerOn(synth(stack), 443).default_action).toEqual([
      { type: 'fixed-response', fixed_response: { content_type: 'text/plain', status_code: '503', message_body: 'No targets registered' } },
    ]);
  });

  test('an explicit TLS 1.3-only policy is accepted', () => {
    const { out } = wired({ sslPolicy: 'ELBSecurityPolicy-TLS13-1-3-2021-06' });
    expect(listenerOn(out, 443).ssl_policy).toBe('ELBSecurityPolicy-TLS13-1-3-2021-06');
  });

  test('without a certificate: one HTTP listener that forwards, an http url and a dev-only warning', () => {
    const { stack, lb, out } = wired({ certificateArn: undefined });
    expect(listeners(out)).toHaveLength(1);
    expect(listenerOn(out, 80)).toMatchObject({
      protocol: 'HTTP',
      default_action: [{ type: 'forward', target_group_arn: `\${${addressOf(out, 'aws_lb_target_group')}.arn}` }],
    });
    expect(listenerOn(out, 80)).not.toHaveProperty('certificate_arn');
    expect(lb.url.startsWith('http://')).toBe(true);
    expect(ingress(out).filter((r) => r.security_group_id.includes('LoadBalancer')).map((r) => r.from_port)).toEqual([80]);
    const [warning, ...others] = warnings(stack);
    expect(others).toEqual([]);
    expect(warning.constructPath).toBe('test/LoadBalancer');
    expect(warning.message).toMatch(/No certificateArn: test\/LoadBalancer serves the API over plain HTTP on port 80\. This is for development only/);
  });

  test('with a certificate there is no warning', () => {
    expect(warnings(wired().stack)).toEqual([]);
  });
});

describe('LoadBalancer ingress', () => {
  test('clients reach 443 and 80 (redirect) only, each rule described', () => {
    const { out } = wired();
    const lbRules = ingress(out).filter((r) => r.security_group_id.includes('LoadBalancer'));
    expect(lbRules.map((r) => [r.cidr_ipv4, r.from_port, r.to_port])).toEqual([['0.0.0.0/0', 443, 443], ['0.0.0.0/0', 80, 80]]);
    for (const rule of lbRules) expect(rule.description).toMatch(/from clients/);
  });

  test('ingressCidrs restrict the client ranges', () => {
    const { out } = wired({ ingressCidrs: ['203.0.113.0/24', '198.51.100.0/24'] });
    const cidrs = ingress(out).filter((r) => r.security_group_id.includes('LoadBalancer')).map((r) => `${r.cidr_ipv4}:${r.from_port}`);
    expect(cidrs.sort()).toEqual(['198.51.100.0/24:443', '198.51.100.0/24:80', '203.0.113.0/24:443', '203.0.113.0/24:80']);
  });

  test('internal load balancers use the private subnets', () => {
    const { out } = wired({ internal: true });
    expect(single(out, 'aws_lb')).toMatchObject({ internal: true, subnets: NETWORK.privateSubnetIds });
  });
});

describe('LoadBalancer.addTargets', () => {
  const { out, fleet } = wired();
  const group = single(out, 'aws_lb_target_group');
  const tgArn = `\${${addressOf(out, 'aws_lb_target_group')}.arn}`;

  test('target group: name prefix within 6 characters, replaced before destroyed', () => {
    expect(group.name_prefix).toBe('api-');
    expect(group.name_prefix.length).toBeLessThanOrEqual(6);
    expect(group).not.toHaveProperty('name');
    expect(group.lifecycle).toEqual({ create_before_destroy: true });
  });

  test('target group: HTTP to instances on the handler port, least outstanding requests, no slow start, no stickiness', () => {
    expect(group).toMatchObject({
      port: fleet.port,
      protocol: 'HTTP',
      target_type: 'instance',
      vpc_id: NETWORK.vpcId,
      load_balancing_algorithm_type: 'least_outstanding_requests',
      deregistration_delay: '150',
      stickiness: { type: 'lb_cookie', enabled: false },
    });
    expect(group).not.toHaveProperty('slow_start');
  });

  test('health check on the liveness path expecting 200', () => {
    expect(group.health_check).toEqual({
      enabled: true, path: '/healthz', protocol: 'HTTP', port: 'traffic-port', matcher: '200',
      interval: 15, timeout: 5, healthy_threshold: 2, unhealthy_threshold: 3,
    });
  });

  test('opens the fleet to the load balancer by security-group reference, never a CIDR', () => {
    const lbGroup = `\${${addressOf(out, 'aws_security_group', (g) => g.name_prefix.includes('LoadBalancer'))}.id}`;
    const fleetGroup = `\${${addressOf(out, 'aws_security_group', (g) => g.name_prefix.includes('Fleet'))}.id}`;
    const toFleet = ingress(out).filter((r) => r.security_group_id === fleetGroup);
    expect(toFleet).toEqual([expect.objectContaining({ referenced_security_group_id: lbGroup, from_port: 8080, to_port: 8080, ip_protocol: 'tcp' })]);
    expect(toFleet[0]).not.toHaveProperty('cidr_ipv4');
    expect(toFleet[0].description).toMatch(/Load balancer test\/LoadBalancer to targets/);
    const lbEgress = resources(out, 'aws_vpc_security_group_egress_rule').filter((r) => r.security_group_id === lbGroup);
    expect(lbEgress).toEqual([expect.objectContaining({ referenced_security_group_id: fleetGroup, from_port: 8080, to_port: 8080 })]);
  });

  test("registers the fleet: the group's target_group_arns holds the target group", () => {
    expect(single(out, 'aws_autoscaling_group').target_group_arns).toEqual([tgArn]);
    expect(out.json.resource).not.toHaveProperty('aws_autoscaling_attachment');
  });

  test('request-count scaling uses "<lb arn suffix>/<tg arn suffix>" and waits for the listener', () => {
    const policy = resources(out, 'aws_autoscaling_policy').find((p) => p.name === 'request-count-target-tracking');
    expect(policy.target_tracking_configuration.predefined_metric_specification).toEqual({
      predefined_metric_type: 'ALBRequestCountPerTarget',
      resource_label: `\${${addressOf(out, 'aws_lb')}.arn_suffix}/\${${addressOf(out, 'aws_lb_target_group')}.arn_suffix}`,
    });
    expect(policy.depends_on).toEqual([addressOf(out, 'aws_lb_listener', (l) => l.port === 443)]);
  });

  test('a second target group is refused', () => {
    const { lb, fleet: target } = wired();
    expect(() => lb.addTargets('Other', { target })).toThrow(
      "test/LoadBalancer: addTargets('Other'): the listener already forwards to 'Api'. A LoadBalancer serves one target group; put another fleet behind its own LoadBalancer.",
    );
  });
});

describe('LoadBalancer prop validation', () => {
  const where = "LoadBalancer 'test/LoadBalancer'";
  test.each<[string, Partial<LoadBalancerProps>, string]>([
    ['one public subnet', { network: { ...NETWORK, publicSubnetIds: ['subnet-p'] } }, 'network.publicSubnetIds = ["subnet-p"] is invalid. Give at least 2 subnets in different availability zones (an ALB needs two).'],
    ['internal with one private subnet', { internal: true, network: { ...NETWORK, privateSubnetIds: ['subnet-a'] } }, 'network.privateSubnetIds = ["subnet-a"] is invalid.'],
    ['certificate name instead of ARN', { certificateArn: 'api.example.com' }, 'certificateArn = "api.example.com" is invalid. Use the ARN of an ACM certificate'],
    ['certificate ARN without UUID', { certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/abc' }, 'certificateArn = "arn:aws:acm:eu-west-1:123456789012:certificate/abc" is invalid.'],
    ['TLS 1.0 policy', { sslPolicy: 'ELBSecurityPolicy-2016-08' }, `sslPolicy = "ELBSecurityPolicy-2016-08" is invalid. Use a policy with TLS 1.3 and at least TLS 1.2`],
    ['TLS 1.1 floor', { sslPolicy: 'ELBSecurityPolicy-TLS13-1-1-2021-06' }, 'sslPolicy = "ELBSecurityPolicy-TLS13-1-1-2021-06" is invalid.'],
    ['short idle timeout', { idleTimeoutSeconds: 60 }, 'idleTimeoutSeconds = 60 is invalid. Streamed completions need at least 300; set allowShortIdleTimeout: true to accept cut streams.'],
    ['idle timeout above 4000', { idleTimeoutSeconds: 5000 }, 'idleTimeoutSeconds = 5000 is invalid. Use a whole number from 1 to 4000.'],
    ['domain name with scheme', { domainName: 'https://api.example.com' }, `domainName = "https://api.example.com" is invalid. Use a lower-case host name such as 'api.example.com' (no scheme, no path).`],
    ['zero retention', { accessLogRetentionDays: 0 }, 'accessLogRetentionDays = 0 is invalid. Use a whole number from 1 to 3650.'],
    ['retention too long', { accessLogRetentionDays: 4000 }, 'accessLogRetentionDays = 4000 is invalid. Use a whole number from 1 to 3650.'],
    ['IPv6 ingress', { ingressCidrs: ['::/0'] }, `ingressCidrs[0] = "::/0" is invalid. Use an IPv4 CIDR such as '203.0.113.0/24' (the load balancer is IPv4-only).`],
    ['bad octet', { ingressCidrs: ['10.0.0.0/8', '300.1.1.1/32'] }, 'ingressCidrs[1] = "300.1.1.1/32" is invalid.'],
    ['address without prefix', { ingressCidrs: ['10.0.0.1'] }, 'ingressCidrs[0] = "10.0.0.1" is invalid.'],
  ])('%s', (_name, props, message) => {
    expect(() => balancerIn(newStack(), props)).toThrow(`${where}: ${message}`);
  });

  test('a short idle timeout is accepted with the explicit escape hatch', () => {
    const { out } = wired({ idleTimeoutSeconds: 60, allowShortIdleTimeout: true });
    expect(single(out, 'aws_lb').idle_timeout).toBe(60);
  });

  test.each<[string, object, string]>([
    ['relative health check path', { healthCheckPath: 'healthz' }, `healthCheckPath = "healthz" is invalid. Use an absolute path such as '/healthz'.`],
    ['deregistration delay above 3600', { deregistrationDelaySeconds: 4000 }, 'deregistrationDelaySeconds = 4000 is invalid. Use a whole number from 0 to 3600.'],
  ])('addTargets: %s', (_name, props, message) => {
    const stack = newStack();
    const lb = balancerIn(stack);
    const target = new ApiFleet(stack, 'Fleet', { network: NETWORK, userData: UserData.forShellScript('echo ready') });
    expect(() => lb.addTargets('Api', { target, ...props })).toThrow(`${where}: ${message}`);
  });
});

test('snapshot: HTTPS load balancer with the fleet attached', () => {
  const first = wired().out.text;
  expect(wired().out.text).toBe(first);
  expect(first).toMatchSnapshot();
});
