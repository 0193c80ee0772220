import { S3Bucket } from '@cdktf/provider-aws/lib/s3-bucket';
import { S3BucketPublicAccessBlock } from '@cdktf/provider-aws/lib/s3-bucket-public-access-block';
import { S3BucketServerSideEncryptionConfigurationA } from '@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration';
import { SecurityGroup } from '@cdktf/provider-aws/lib/security-group';
import { SecurityGroupRule } from '@cdktf/provider-aws/lib/security-group-rule';
import { VpcSecurityGroupIngressRule } from '@cdktf/provider-aws/lib/vpc-security-group-ingress-rule';
import { Password } from '@cdktf/provider-random/lib/password';
import { Profile, RULES, Severity } from '../../../constructs/policy';
import { handlerUserData } from '../../../constructs/handler-user-data';
import { UserData } from '../../../constructs/user-data';
import { evaluatePlan, failed, Plan } from './fixture';

interface Case {
  readonly rule: string;
  readonly name: string;
  readonly mutate: (plan: Plan) => void;
  readonly message: RegExp;
  /** Other rules the same breakage legitimately fails. */
  readonly also?: string[];
  readonly profile?: Profile;
  readonly severity?: Severity;
}

const fakeBundle = (code: string) => ({ code, bytes: code.length, gzipBytes: code.length, sha256: '0'.repeat(64), entry: 'handler.ts' });
const policy = (...statements: object[]) => JSON.stringify({ Version: '2012-10-17', Statement: statements });
const worldIngress = (plan: Plan, id: string, port: number, group = plan.appGroup.id) =>
  new VpcSecurityGroupIngressRule(plan.stack, id, { securityGroupId: group, cidrIpv4: '0.0.0.0/0', ipProtocol: 'tcp', fromPort: port, toPort: port, description: `port ${port} from anywhere` });

const CASES: Case[] = [
  // EC2: launch templates, instances, volumes
  { rule: 'CKV_AWS_79', name: 'launch template allows IMDSv1', mutate: (p) => p.launchTemplate.addOverride('metadata_options.http_tokens', 'optional'), message: /http_tokens is "optional"/ },
  { rule: 'CKV_AWS_79', name: 'instance leaves http_tokens unset', mutate: (p) => p.instance.addOverride('metadata_options.http_tokens', undefined), message: /http_tokens is unset/ },
  { rule: 'CKV_AWS_341', name: 'hop limit 2', mutate: (p) => p.launchTemplate.addOverride('metadata_options.http_put_response_hop_limit', 2), message: /http_put_response_hop_limit is 2/ },
  { rule: 'CKV_AWS_341', name: 'hop limit unset', mutate: (p) => p.instance.addOverride('metadata_options.http_put_response_hop_limit', undefined), message: /unset \(AL2023 AMIs then default to 2\)/ },
  { rule: 'CKV_AWS_88', name: 'launch template public IP', mutate: (p) => p.launchTemplate.addOverride('network_interfaces', [{ device_index: 0, associate_public_ip_address: 'true' }]), message: /network_interfaces\[0\]\.associate_public_ip_address is true/ },
  { rule: 'CKV_AWS_88', name: 'instance public IP', mutate: (p) => p.instance.addOverride('associate_public_ip_address', true), message: /associate_public_ip_address is true/ },
  { rule: 'CKV_AWS_8', name: 'unencrypted launch template device', mutate: (p) => p.launchTemplate.addOverride('block_device_mappings.0.ebs.encrypted', 'false'), message: /block_device_mappings\[0\] \(\/dev\/xvda\) ebs.encrypted is "false"/ },
  { rule: 'CKV_AWS_8', name: 'launch template without block devices', mutate: (p) => p.launchTemplate.addOverride('block_device_mappings', undefined), message: /no block_device_mappings/ },
  { rule: 'CKV_AWS_8', name: 'unencrypted instance root volume', mutate: (p) => p.instance.addOverride('root_block_device.encrypted', false), message: /root_block_device.encrypted is false/ },
  { rule: 'CKV_AWS_3', name: 'unencrypted EBS volume', mutate: (p) => p.volume.addOverride('encrypted', false), message: /encrypted is false/ },
  { rule: 'IFL_EBS_PREVENT_DESTROY', name: 'data volume without prevent_destroy', mutate: (p) => p.volume.addOverride('lifecycle.prevent_destroy', false), message: /prevent_destroy is not set/ },
  { rule: 'IFL_EBS_PREVENT_DESTROY', name: 'is a warning in dev', mutate: (p) => p.volume.addOverride('lifecycle.prevent_destroy', false), message: /prevent_destroy/, profile: 'dev', severity: 'warning' },
  { rule: 'CKV2_AWS_41', name: 'instance without a profile', mutate: (p) => p.instance.addOverride('iam_instance_profile', undefined), message: /no iam_instance_profile/, severity: 'warning' },
  { rule: 'CKV_AWS_46', name: 'password in gzipped launch template user data', mutate: (p) => p.launchTemplate.addOverride('user_data', UserData.forShellScript('export DB_PASSWORD=hunter2hunter2').base64), message: /user_data \(decoded\) contains a literal value for DB_PASSWORD/ },
  { rule: 'CKV_AWS_46', name: 'access key in instance user data', mutate: (p) => p.instance.addOverride('user_data', 'aws configure set aws_access_key_id AKIAIOSFODNN7EXAMPLE'), message: /an AWS access key id \(AKIAIOSF…\)/ },
  {
    rule: 'CKV_AWS_46',
    name: 'access key inside the brotli-packed handler bundle',
    mutate: (p) => p.launchTemplate.addOverride('user_data', handlerUserData({ bundle: fakeBundle("const key='AKIAIOSFODNN7EXAMPLE';"), environment: {}, port: 8080, stopTimeoutSeconds: 60 }).base64),
    message: /an AWS access key id \(AKIAIOSF…\)/,
  },
  { rule: 'CKV_AWS_46', name: 'private key in cloud-config', mutate: (p) => p.instance.addOverride('user_data', '#cloud-config\nwrite_files:\n  - content: |\n      -----BEGIN OPENSSH PRIVATE KEY-----\n'), message: /a PEM private key/ },
  // Auto Scaling
  { rule: 'CKV_AWS_315', name: 'launch configuration', mutate: (p) => { p.group.addOverride('launch_template', undefined); p.group.addOverride('launch_configuration', 'legacy'); }, message: /no launch_template \(uses launch_configuration "legacy"\)/ },
  { rule: 'IFL_ASG_TEMPLATE_VERSION', name: '$Latest', mutate: (p) => p.group.addOverride('launch_template.version', '$Latest'), message: /"\$Latest": Terraform sees no change/ },
  { rule: 'IFL_ASG_TEMPLATE_VERSION', name: 'version unset', mutate: (p) => p.group.addOverride('launch_template.version', undefined), message: /unset \(\$Default\)/ },
  { rule: 'IFL_ASG_DESIRED_CAPACITY', name: 'desired capacity managed', mutate: (p) => p.group.addOverride('desired_capacity', 3), message: /desired_capacity = 3 is re-applied on every apply/ },
  { rule: 'CKV2_AWS_15', name: 'EC2 health checks behind a target group', mutate: (p) => p.group.addOverride('health_check_type', 'EC2'), message: /health_check_type is "EC2"/ },
  // Load balancer
  { rule: 'CKV_AWS_91', name: 'access logs off', mutate: (p) => p.lb.addOverride('access_logs.enabled', false), message: /access_logs enabled is false/ },
  { rule: 'CKV_AWS_91', name: 'is a warning in dev', mutate: (p) => p.lb.addOverride('access_logs', undefined), message: /access_logs is not configured/, profile: 'dev', severity: 'warning' },
  { rule: 'CKV_AWS_131', name: 'invalid headers forwarded', mutate: (p) => p.lb.addOverride('drop_invalid_header_fields', undefined), message: /drop_invalid_header_fields is unset/ },
  { rule: 'CKV_AWS_328', name: 'desync monitor mode', mutate: (p) => p.lb.addOverride('desync_mitigation_mode', 'monitor'), message: /desync_mitigation_mode is "monitor"/ },
  { rule: 'CKV_AWS_150', name: 'no deletion protection in prod', mutate: (p) => p.lb.addOverride('enable_deletion_protection', false), message: /enable_deletion_protection is false/ },
  { rule: 'IFL_ALB_IDLE_TIMEOUT', name: 'default idle timeout', mutate: (p) => p.lb.addOverride('idle_timeout', undefined), message: /idle_timeout is unset \(60 s\)/ },
  { rule: 'IFL_ALB_IDLE_TIMEOUT', name: 'short idle timeout', mutate: (p) => p.lb.addOverride('idle_timeout', 120), message: /idle_timeout is 120 s/ },
  { rule: 'CKV_AWS_2', name: 'HTTP forward in prod', mutate: (p) => p.http.addOverride('default_action.0.type', 'forward'), message: /port 80 serves plain HTTP \(default_action forward\)/ },
  { rule: 'CKV_AWS_2', name: 'HTTP forward in dev is a warning', mutate: (p) => p.http.addOverride('default_action.0.type', 'forward'), message: /plain HTTP/, profile: 'dev', severity: 'warning' },
  { rule: 'CKV_AWS_103', name: 'TLS 1.0 policy', mutate: (p) => p.https.addOverride('ssl_policy', 'ELBSecurityPolicy-2016-08'), message: /ssl_policy is "ELBSecurityPolicy-2016-08"/, also: ['CKV2_AWS_74'] },
  { rule: 'CKV_AWS_103', name: 'policy unset', mutate: (p) => p.https.addOverride('ssl_policy', undefined), message: /unset \(ELBSecurityPolicy-2016-08, TLS 1.0\)/, also: ['CKV2_AWS_74'] },
  { rule: 'CKV2_AWS_74', name: 'TLS 1.2 without forward secrecy', mutate: (p) => p.https.addOverride('ssl_policy', 'ELBSecurityPolicy-TLS-1-2-2017-01'), message: /ssl_policy is "ELBSecurityPolicy-TLS-1-2-2017-01"/, severity: 'warning' },
  { rule: 'CKV_AWS_261', name: 'no health check', mutate: (p) => p.targetGroup.addOverride('health_check', undefined), message: /no health_check block/ },
  { rule: 'CKV_AWS_261', name: 'health check without path', mutate: (p) => p.targetGroup.addOverride('health_check.path', undefined), message: /health_check.path is unset/ },
  // Security groups
  { rule: 'CKV_AWS_23', name: 'default group description', mutate: (p) => p.appGroup.addOverride('description', undefined), message: /description is "unset \(\\"Managed by Terraform\\"\)"/ },
  { rule: 'CKV_AWS_23', name: 'rule without description', mutate: (p) => p.appIn.addOverride('description', ''), message: /description is empty/ },
  { rule: 'CKV_AWS_23', name: 'legacy rule without description', mutate: (p) => p.legacyRule.addOverride('description', undefined), message: /description is empty/ },
  { rule: 'CKV_AWS_24', name: 'SSH from anywhere', mutate: (p) => worldIngress(p, 'Ssh', 22), message: /rule opens SSH \(port 22\) to 0.0.0.0\/0/, also: ['AVD-AWS-0107'] },
  {
    rule: 'CKV_AWS_25',
    name: 'RDP from anywhere in an inline rule',
    mutate: (p) => new SecurityGroup(p.stack, 'Windows', { description: 'Windows bastion', vpcId: 'vpc-1', ingress: [{ fromPort: 3389, toPort: 3389, protocol: 'tcp', cidrBlocks: ['0.0.0.0/0'], description: 'RDP' }] }),
    message: /ingress\[0\] opens RDP \(port 3389\) to 0.0.0.0\/0/,
    also: ['AVD-AWS-0107'],
  },
  { rule: 'AVD-AWS-0107', name: 'HTTPS from anywhere to an instance group', mutate: (p) => worldIngress(p, 'Direct', 443), message: /opens tcp\/443 to 0.0.0.0\/0 on a group no application load balancer uses/ },
  { rule: 'AVD-AWS-0107', name: 'app port from anywhere to the load balancer group', mutate: (p) => worldIngress(p, 'Wide', 8080, p.lbGroup.id), message: /opens tcp\/8080 to 0.0.0.0\/0/ },
  {
    rule: 'AVD-AWS-0107',
    name: 'all traffic from anywhere in a legacy rule',
    mutate: (p) => new SecurityGroupRule(p.stack, 'Everything', { type: 'ingress', securityGroupId: p.appGroup.id, cidrBlocks: ['0.0.0.0/0'], protocol: '-1', fromPort: 0, toPort: 0, description: 'debugging' }),
    message: /opens all traffic to 0.0.0.0\/0/,
    also: ['CKV_AWS_24', 'CKV_AWS_25'],
  },
  // ElastiCache
  { rule: 'CKV_AWS_29', name: 'no encryption at rest', mutate: (p) => p.cache.addOverride('at_rest_encryption_enabled', 'false'), message: /at_rest_encryption_enabled is "false"/ },
  { rule: 'CKV_AWS_30', name: 'transit encryption preferred', mutate: (p) => p.cache.addOverride('transit_encryption_mode', 'preferred'), message: /transit_encryption_mode is "preferred"/ },
  { rule: 'CKV_AWS_30', name: 'no transit encryption', mutate: (p) => p.cache.addOverride('transit_encryption_enabled', false), message: /transit_encryption_enabled is false/ },
  { rule: 'CKV_AWS_31', name: 'no AUTH', mutate: (p) => p.cache.addOverride('auth_token', undefined), message: /neither auth_token nor user_group_ids/ },
  { rule: 'CKV2_AWS_50', name: 'no failover in prod', mutate: (p) => { p.cache.addOverride('automatic_failover_enabled', false); p.cache.addOverride('multi_az_enabled', undefined); }, message: /automatic_failover_enabled is false; multi_az_enabled is unset/ },
  { rule: 'CKV2_AWS_50', name: 'single node in dev is a warning', mutate: (p) => p.cache.addOverride('multi_az_enabled', false), message: /multi_az_enabled is false/, profile: 'dev', severity: 'warning' },
  { rule: 'CKV_AWS_134', name: 'no snapshots', mutate: (p) => p.cache.addOverride('snapshot_retention_limit', 0), message: /snapshot_retention_limit is 0/ },
  // DynamoDB
  { rule: 'CKV_AWS_28', name: 'no PITR', mutate: (p) => p.table.addOverride('point_in_time_recovery.enabled', false), message: /point_in_time_recovery.enabled is not true/ },
  { rule: 'CKV_AWS_119', name: 'AWS-owned key', mutate: (p) => p.table.addOverride('server_side_encryption', undefined), message: /server_side_encryption is not configured/ },
  { rule: 'IFL_DYNAMODB_TTL', name: 'no TTL', mutate: (p) => p.table.addOverride('ttl', undefined), message: /no enabled ttl/ },
  { rule: 'IFL_DYNAMODB_DELETION_PROTECTION', name: 'no deletion protection in prod', mutate: (p) => p.table.addOverride('deletion_protection_enabled', false), message: /deletion_protection_enabled is false/ },
  // S3
  ...(['block_public_acls', 'block_public_policy', 'ignore_public_acls', 'restrict_public_buckets'] as const).map((flag, i): Case => ({
    rule: `CKV_AWS_5${3 + i}`,
    name: `${flag} off`,
    mutate: (p) => p.publicAccessBlock.addOverride(flag, false),
    message: new RegExp(`${flag} is false`),
  })),
  {
    rule: 'CKV2_AWS_6',
    name: 'bucket without a public access block',
    mutate: (p) => {
      const bucket = new S3Bucket(p.stack, 'Open', { bucketPrefix: 'open-' });
      new S3BucketServerSideEncryptionConfigurationA(p.stack, 'OpenSse', { bucket: bucket.id, rule: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: 'AES256' } }] });
    },
    message: /no aws_s3_bucket_public_access_block refers to this bucket/,
  },
  {
    rule: 'CKV_AWS_19',
    name: 'bucket without an encryption configuration',
    mutate: (p) => {
      const bucket = new S3Bucket(p.stack, 'Plain', { bucketPrefix: 'plain-' });
      new S3BucketPublicAccessBlock(p.stack, 'PlainBlock', { bucket: bucket.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true });
    },
    message: /no aws_s3_bucket_server_side_encryption_configuration/,
    severity: 'warning',
  },
  // KMS, logs, secrets
  { rule: 'CKV_AWS_7', name: 'no key rotation', mutate: (p) => p.key.addOverride('enable_key_rotation', undefined), message: /enable_key_rotation is unset/ },
  { rule: 'CKV_AWS_66', name: 'logs kept forever', mutate: (p) => p.logGroup.addOverride('retention_in_days', undefined), message: /retention_in_days is 0 \(never expire\)/ },
  { rule: 'CKV_AWS_158', name: 'log group with the service key', mutate: (p) => p.logGroup.addOverride('kms_key_id', undefined), message: /kms_key_id is unset/, severity: 'warning' },
  { rule: 'CKV_AWS_149', name: 'secret with the AWS-managed key', mutate: (p) => p.secret.addOverride('kms_key_id', undefined), message: /aws\/secretsmanager key/, severity: 'warning' },
  // IAM
  { rule: 'CKV_AWS_63', name: 'service wildcard', mutate: (p) => p.grants.addOverride('policy', policy({ Sid: 'All', Effect: 'Allow', Action: ['s3:*'], Resource: 'arn:aws:s3:::b/*' })), message: /policy Statement\[0\] \(All\) allows "s3:\*"/ },
  { rule: 'CKV_AWS_63', name: 'NotAction allow', mutate: (p) => p.managedPolicy.addOverride('policy', policy({ Effect: 'Allow', NotAction: 'iam:*', Resource: 'arn:aws:s3:::b' })), message: /allows everything except iam:\* \(NotAction\)/ },
  { rule: 'CKV_AWS_63', name: 'wildcard in a policy document', mutate: (p) => p.trust.addOverride('statement.1', { actions: ['ec2:Describe*'], resources: ['*'] }), message: /statement\[1\] allows "ec2:Describe\*"/ },
  { rule: 'CKV_AWS_111', name: 'write on every resource', mutate: (p) => p.grants.addOverride('policy', policy({ Effect: 'Allow', Action: ['dynamodb:DeleteTable', 'dynamodb:DescribeTable'], Resource: '*' })), message: /allows dynamodb:DeleteTable on "\*"/ },
  { rule: 'CKV_AWS_60', name: 'anyone may assume the role', mutate: (p) => { p.trust.addOverride('statement.0.principals.0.type', 'AWS'); p.trust.addOverride('statement.0.principals.0.identifiers.0', '*'); }, message: /statement\[0\] allows any principal \("\*"\) without a condition/ },
  { rule: 'CKV_AWS_274', name: 'AdministratorAccess', mutate: (p) => p.attachment.addOverride('policy_arn', 'arn:aws:iam::aws:policy/AdministratorAccess'), message: /attaches arn:aws:iam::aws:policy\/AdministratorAccess/ },
  // Secrets anywhere in the plan
  { rule: 'CKV_AWS_41', name: 'provider secret key', mutate: (p) => p.provider.addOverride('secret_key', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'), message: /secret_key is a literal/ },
  { rule: 'CKV_SECRET_2', name: 'access key in a parameter', mutate: (p) => p.parameter.addOverride('value', 'AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE'), message: /value contains an AWS access key id/ },
  { rule: 'CKV_SECRET_13', name: 'private key in a parameter', mutate: (p) => p.parameter.addOverride('value', '-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----'), message: /value contains a PEM private key/ },
  { rule: 'CKV_SECRET_10', name: 'password in a parameter', mutate: (p) => p.parameter.addOverride('value', 'DB_HOST=db\nDB_PASSWORD=hunter2hunter2'), message: /value contains a literal value for DB_PASSWORD/ },
  { rule: 'IFL_SECRET_REFERENCE', name: 'literal AUTH token', mutate: (p) => p.cache.addOverride('auth_token', 'Sup3rSecretLiteralToken'), message: /auth_token is a literal/ },
  { rule: 'IFL_SECRET_REFERENCE', name: 'literal secret string', mutate: (p) => p.secretVersion.addOverride('secret_string', 'hunter2hunter2'), message: /secret_string is a literal/, also: ['IFL_SECRET_STORED'] },
  {
    rule: 'IFL_SECRET_STORED',
    name: 'generated AUTH token kept nowhere',
    mutate: (p) => p.cache.addOverride('auth_token', new Password(p.stack, 'Unstored', { length: 64, special: false }).result),
    message: /random_password.Unstored is used as a credential but no aws_secretsmanager_secret_version stores it/,
  },
];

describe('policy rules', () => {
  test.each(['prod', 'dev'] as const)('the compliant plan passes every rule in %s', (profile) => {
    const { report } = evaluatePlan(() => {}, { profile });
    expect(report.findings).toEqual([]);
    const unchecked = report.rules.filter((r) => r.severity !== 'off' && r.checked === 0).map((r) => r.id);
    expect(unchecked).toEqual([]); // so every rule's "pass" above is a real evaluation
  });

  test('every rule has a failing case', () => {
    const covered = new Set(CASES.map((c) => c.rule));
    expect(RULES.map((r) => r.id).filter((id) => !covered.has(id))).toEqual([]);
  });

  test.each(CASES)('$rule fails: $name', ({ rule, mutate, message, also = [], profile = 'prod', severity }) => {
    const { report } = evaluatePlan(mutate, { profile });
    const found = failed(report);
    expect([...new Set(found.map((f) => f.ruleId))].sort()).toEqual([...new Set([rule, ...also])].sort());
    const finding = found.find((f) => f.ruleId === rule)!;
    expect(finding.message).toMatch(message);
    expect(finding.severity).toBe(severity ?? RULES.find((r) => r.id === rule)!.level[profile]);
    expect(finding.fix.length).toBeGreaterThan(10);
  });

  test.each([
    ['CKV_AWS_150', (p: Plan) => p.lb.addOverride('enable_deletion_protection', false)],
    ['IFL_DYNAMODB_DELETION_PROTECTION', (p: Plan) => p.table.addOverride('deletion_protection_enabled', false)],
    ['CKV_AWS_158', (p: Plan) => p.logGroup.addOverride('kms_key_id', undefined)],
    ['CKV_AWS_149', (p: Plan) => p.secret.addOverride('kms_key_id', undefined)],
  ])('%s is not checked in dev', (rule, mutate) => {
    const { report } = evaluatePlan(mutate, { profile: 'dev' });
    expect(report.findings).toEqual([]);
    expect(report.rules.find((r) => r.id === rule)).toMatchObject({ severity: 'off', checked: 0 });
  });

  test.each([
    ['desired capacity ignored after creation', (p: Plan) => { p.group.addOverride('desired_capacity', 2); p.group.addOverride('lifecycle.ignore_changes', ['desired_capacity']); }],
    ['IMDS switched off entirely', (p: Plan) => { p.instance.addOverride('metadata_options', undefined); p.instance.addOverride('metadata_options.http_endpoint', 'disabled'); }],
    ['a pinned numeric template version', (p: Plan) => p.group.addOverride('launch_template.version', '3')],
    ['an internal NLB listener on TCP', (p: Plan) => { p.http.addOverride('protocol', 'TCP'); p.http.addOverride('default_action.0.type', 'forward'); }],
    ['an ASG that no load balancer uses, with EC2 checks', (p: Plan) => { p.group.addOverride('target_group_arns', undefined); p.group.addOverride('health_check_type', 'EC2'); }],
    ['a write action on "*" constrained by a condition', (p: Plan) => p.grants.addOverride('policy', policy({ Effect: 'Allow', Action: 'logs:PutLogEvents', Resource: '*', Condition: { StringEquals: { 'aws:RequestedRegion': 'us-east-1' } } }))],
    ['a key policy granting kms:* to the account root', (p: Plan) => p.key.addOverride('policy', policy({ Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::123456789012:root' }, Action: 'kms:*', Resource: '*' }))],
    ['a policy document that Terraform renders (unknown at synth)', (p: Plan) => p.managedPolicy.addOverride('policy', '${data.aws_iam_policy_document.LogDelivery.json}')],
    ['secret ARNs and names in configuration', (p: Plan) => p.parameter.addOverride('value', 'DB_PASSWORD_SECRET_ARN=arn:aws:secretsmanager:us-east-1:1:secret:x\nAPI_TOKEN_HEADER=x-api-token\n"passwordSecretArn": "PasswordSecretArn"')],
  ])('passes: %s', (_name, mutate) => {
    expect(evaluatePlan(mutate).report.findings).toEqual([]);
  });
});
