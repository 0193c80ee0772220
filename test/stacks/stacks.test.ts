// The reference app: both environments synthesize, are deterministic, and differ only where the config says.
import { createHash } from 'node:crypto';
import { AutoscalingGroup } from '@cdktf/provider-aws/lib/autoscaling-group';
import { DynamodbTable } from '@cdktf/provider-aws/lib/dynamodb-table';
import { EbsVolume } from '@cdktf/provider-aws/lib/ebs-volume';
import { ElasticacheReplicationGroup } from '@cdktf/provider-aws/lib/elasticache-replication-group';
import { LaunchTemplate } from '@cdktf/provider-aws/lib/launch-template';
import { Lb } from '@cdktf/provider-aws/lib/lb';
import { LbListener } from '@cdktf/provider-aws/lib/lb-listener';
import { Testing } from 'cdktf';
import { ENVIRONMENTS, EnvironmentConfig, validateEnvironment } from '../../stacks/environments';
import { backendFromEnv, InferenceStack } from '../../stacks/inference-stack';

const dev = ENVIRONMENTS.find((e) => e.stackName === 'inference-dev')!;
const prod = ENVIRONMENTS.find((e) => e.stackName === 'inference-prod')!;

function synth(config: EnvironmentConfig, backend = {}): string {
  return Testing.synth(new InferenceStack(Testing.app(), config, backend));
}

/** The plan as reviewers read it in a snapshot: user data replaced by its size and digest (tested elsewhere byte by byte). */
function reviewable(json: string): unknown {
  const plan = JSON.parse(json);
  for (const template of Object.values<any>(plan.resource.aws_launch_template ?? {})) {
    const raw = Buffer.from(template.user_data, 'base64');
    template.user_data = `<gzip cloud-config: ${raw.length} bytes, sha256 ${createHash('sha256').update(raw).digest('hex').slice(0, 16)}>`;
  }
  return plan;
}

describe('reference stacks', () => {
  it('carry the security-relevant settings (cdktf Testing matchers on the synthesized plan)', () => {
    const plan = synth(prod);
    expect(plan).toHaveResourceWithProperties(LaunchTemplate, {
      metadata_options: { http_tokens: 'required', http_put_response_hop_limit: 1, http_endpoint: 'enabled', instance_metadata_tags: 'enabled' },
    });
    expect(plan).toHaveResourceWithProperties(AutoscalingGroup, { health_check_type: 'ELB', lifecycle: { ignore_changes: ['desired_capacity'] } });
    expect(plan).toHaveResourceWithProperties(Lb, { drop_invalid_header_fields: true, desync_mitigation_mode: 'defensive', enable_deletion_protection: true, idle_timeout: 300 });
    expect(plan).toHaveResourceWithProperties(LbListener, { protocol: 'HTTPS', ssl_policy: 'ELBSecurityPolicy-TLS13-1-2-2021-06' });
    expect(plan).toHaveResourceWithProperties(ElasticacheReplicationGroup, {
      at_rest_encryption_enabled: 'true', transit_encryption_enabled: true, transit_encryption_mode: 'required', automatic_failover_enabled: true, multi_az_enabled: true,
    });
    expect(plan).toHaveResourceWithProperties(DynamodbTable, { billing_mode: 'PAY_PER_REQUEST', point_in_time_recovery: { enabled: true }, deletion_protection_enabled: true });
    expect(plan).toHaveResourceWithProperties(EbsVolume, { encrypted: true, type: 'gp3', lifecycle: { prevent_destroy: true } });
  });

  it.each([dev, prod])('$stackName synthesizes to the reviewed plan', (config) => {
    expect(reviewable(synth(config))).toMatchSnapshot();
  });

  it('is byte-identical when nothing changed', () => {
    expect(synth(dev)).toBe(synth(dev));
  });

  it('turns on the prod safeguards only in prod', () => {
    const plans = [dev, prod].map((c) => JSON.parse(synth(c)));
    const [d, p] = plans.map((plan) => ({
      albProtection: Object.values<any>(plan.resource.aws_lb)[0].enable_deletion_protection,
      tableProtection: Object.values<any>(plan.resource.aws_dynamodb_table)[0].deletion_protection_enabled,
      nats: Object.keys(plan.resource.aws_nat_gateway).length,
      listeners: Object.values<any>(plan.resource.aws_lb_listener).map((l) => l.protocol).sort(),
    }));
    expect(d).toEqual({ albProtection: false, tableProtection: false, nats: 1, listeners: ['HTTP'] });
    expect(p).toEqual({ albProtection: true, tableProtection: true, nats: 2, listeners: ['HTTP', 'HTTPS'] });
  });

  it('uses a local backend by default and S3 with locking when configured', () => {
    expect(JSON.parse(synth(dev)).terraform.backend).toEqual({ local: { path: 'terraform.inference-dev.tfstate' } });
    const s3 = JSON.parse(synth(dev, backendFromEnv({ TF_STATE_BUCKET: 'tf-state', TF_STATE_REGION: 'eu-west-1' }))).terraform.backend.s3;
    expect(s3).toEqual({ bucket: 'tf-state', key: 'cdktf-inference-fleet/inference-dev.tfstate', region: 'eu-west-1', encrypt: true, use_lockfile: true });
    const locked = JSON.parse(synth(dev, backendFromEnv({ TF_STATE_BUCKET: 'tf-state', TF_STATE_LOCK_TABLE: 'locks' }))).terraform.backend.s3;
    expect(locked).toMatchObject({ dynamodb_table: 'locks', region: 'us-east-1' });
    expect(locked.use_lockfile).toBeUndefined();
  });

  it.each([
    [{ ...prod, certificateArn: undefined }, "environment 'inference-prod': certificateArn is required in prod (HTTPS only). Set INFERENCE_PROD_CERTIFICATE_ARN"],
    [{ ...dev, certificateArn: 'arn:aws:iam::1:server-certificate/x' }, "certificateArn 'arn:aws:iam::1:server-certificate/x' is not an ACM certificate ARN"],
    [{ ...dev, region: 'Virginia' }, "region 'Virginia' is not an AWS region name such as us-east-1."],
    [{ ...dev, upstreamUrls: ['10.0.0.5:8000'] }, "upstream URL '10.0.0.5:8000' must be an http(s) URL"],
  ])('rejects a bad environment with a message naming it (%#)', (config, message) => {
    expect(() => validateEnvironment(config as EnvironmentConfig)).toThrow(message);
  });
});
