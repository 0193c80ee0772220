// A small plan built from raw provider resources that passes every policy rule in the prod profile; each rule's
// test breaks one attribute of it (with addOverride) and expects that rule, and only that rule, to fail.
import { AutoscalingGroup } from '@cdktf/provider-aws/lib/autoscaling-group';
import { CloudwatchLogGroup } from '@cdktf/provider-aws/lib/cloudwatch-log-group';
import { DataAwsIamPolicyDocument } from '@cdktf/provider-aws/lib/data-aws-iam-policy-document';
import { DynamodbTable } from '@cdktf/provider-aws/lib/dynamodb-table';
import { EbsVolume } from '@cdktf/provider-aws/lib/ebs-volume';
import { ElasticacheReplicationGroup } from '@cdktf/provider-aws/lib/elasticache-replication-group';
import { IamInstanceProfile } from '@cdktf/provider-aws/lib/iam-instance-profile';
import { IamPolicy } from '@cdktf/provider-aws/lib/iam-policy';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy';
import { IamRolePolicyAttachment } from '@cdktf/provider-aws/lib/iam-role-policy-attachment';
import { Instance } from '@cdktf/provider-aws/lib/instance';
import { KmsKey } from '@cdktf/provider-aws/lib/kms-key';
import { LaunchTemplate } from '@cdktf/provider-aws/lib/launch-template';
import { Lb } from '@cdktf/provider-aws/lib/lb';
import { LbListener } from '@cdktf/provider-aws/lib/lb-listener';
import { LbTargetGroup } from '@cdktf/provider-aws/lib/lb-target-group';
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { S3Bucket } from '@cdktf/provider-aws/lib/s3-bucket';
import { S3BucketPolicy } from '@cdktf/provider-aws/lib/s3-bucket-policy';
import { S3BucketPublicAccessBlock } from '@cdktf/provider-aws/lib/s3-bucket-public-access-block';
import { S3BucketServerSideEncryptionConfigurationA } from '@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration';
import { SecretsmanagerSecret } from '@cdktf/provider-aws/lib/secretsmanager-secret';
import { SecretsmanagerSecretVersion } from '@cdktf/provider-aws/lib/secretsmanager-secret-version';
import { SecurityGroup } from '@cdktf/provider-aws/lib/security-group';
import { SecurityGroupRule } from '@cdktf/provider-aws/lib/security-group-rule';
import { SsmParameter } from '@cdktf/provider-aws/lib/ssm-parameter';
import { VpcSecurityGroupEgressRule } from '@cdktf/provider-aws/lib/vpc-security-group-egress-rule';
import { VpcSecurityGroupIngressRule } from '@cdktf/provider-aws/lib/vpc-security-group-ingress-rule';
import { Password } from '@cdktf/provider-random/lib/password';
import { RandomProvider } from '@cdktf/provider-random/lib/provider';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, TerraformStack, Testing } from 'cdktf';
import { PolicyAspect, PolicyFinding, PolicyOptions, PolicyReport } from '../../../constructs/policy';
import { UserData } from '../../../constructs/user-data';

export const CERTIFICATE_ARN = 'arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000';
const SUBNETS = ['subnet-0private000000001', 'subnet-0private000000002'];
const BOOT_SCRIPT = [
  'secret_arn="$(cat /etc/app/secret-arn)"',
  'DB_PASSWORD=$(aws secretsmanager get-secret-value --secret-id "$secret_arn" --query SecretString --output text)',
  'export DB_PASSWORD_SECRET_ARN=arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf',
].join('\n');

export function compliantPlan(stack: TerraformStack) {
  const provider = new AwsProvider(stack, 'aws', { region: 'us-east-1' });
  new RandomProvider(stack, 'random');
  const key = new KmsKey(stack, 'Key', { description: 'Data key', enableKeyRotation: true });
  const logGroup = new CloudwatchLogGroup(stack, 'Logs', { namePrefix: 'app-', retentionInDays: 30, kmsKeyId: key.arn });

  const authToken = new Password(stack, 'AuthToken', { length: 64, special: false });
  const secret = new SecretsmanagerSecret(stack, 'Secret', { namePrefix: 'auth-', kmsKeyId: key.arn });
  const secretVersion = new SecretsmanagerSecretVersion(stack, 'SecretVersion', { secretId: secret.id, secretString: authToken.result });
  const parameter = new SsmParameter(stack, 'Config', { name: '/app/config', type: 'String', value: `AUTH_TOKEN_SECRET_ARN=${secret.arn}\nPORT=8080` });

  const lbGroup = new SecurityGroup(stack, 'LbGroup', { namePrefix: 'lb-', description: 'Load balancer: HTTP/HTTPS from clients', vpcId: 'vpc-1' });
  const appGroup = new SecurityGroup(stack, 'AppGroup', { namePrefix: 'app-', description: 'API instances: traffic from the load balancer', vpcId: 'vpc-1' });
  const httpsIn = new VpcSecurityGroupIngressRule(stack, 'HttpsIn', { securityGroupId: lbGroup.id, cidrIpv4: '0.0.0.0/0', ipProtocol: 'tcp', fromPort: 443, toPort: 443, description: 'HTTPS from clients' });
  new VpcSecurityGroupIngressRule(stack, 'HttpIn', { securityGroupId: lbGroup.id, cidrIpv6: '::/0', ipProtocol: 'tcp', fromPort: 80, toPort: 80, description: 'HTTP from clients (redirected)' });
  const appIn = new VpcSecurityGroupIngressRule(stack, 'AppIn', { securityGroupId: appGroup.id, referencedSecurityGroupId: lbGroup.id, ipProtocol: 'tcp', fromPort: 8080, toPort: 8080, description: 'API from the load balancer' });
  const lbOut = new VpcSecurityGroupEgressRule(stack, 'LbOut', { securityGroupId: lbGroup.id, referencedSecurityGroupId: appGroup.id, ipProtocol: 'tcp', fromPort: 8080, toPort: 8080, description: 'To the API instances' });
  const legacyRule = new SecurityGroupRule(stack, 'MetricsIn', { type: 'ingress', securityGroupId: appGroup.id, sourceSecurityGroupId: lbGroup.id, protocol: 'tcp', fromPort: 9100, toPort: 9100, description: 'Metrics scrape' });

  const logBucket = new S3Bucket(stack, 'LogBucket', { bucketPrefix: 'alb-logs-' });
  const publicAccessBlock = new S3BucketPublicAccessBlock(stack, 'LogBucketBlock', { bucket: logBucket.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true });
  new S3BucketServerSideEncryptionConfigurationA(stack, 'LogBucketSse', { bucket: logBucket.id, rule: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: 'AES256' } }] });
  const logDelivery = new DataAwsIamPolicyDocument(stack, 'LogDelivery', {
    statement: [{ actions: ['s3:PutObject'], resources: [`${logBucket.arn}/*`], principals: [{ type: 'Service', identifiers: ['logdelivery.elasticloadbalancing.amazonaws.com'] }] }],
  });
  new S3BucketPolicy(stack, 'LogBucketPolicy', { bucket: logBucket.id, policy: logDelivery.json });

  const lb = new Lb(stack, 'Lb', {
    securityGroups: [lbGroup.id],
    subnets: SUBNETS,
    dropInvalidHeaderFields: true,
    idleTimeout: 300,
    enableDeletionProtection: true,
    accessLogs: { bucket: logBucket.id, enabled: true },
  });
  const targetGroup = new LbTargetGroup(stack, 'Targets', { namePrefix: 'api-', port: 8080, protocol: 'HTTP', vpcId: 'vpc-1', healthCheck: { path: '/healthz' } });
  const https = new LbListener(stack, 'Https', {
    loadBalancerArn: lb.arn,
    port: 443,
    protocol: 'HTTPS',
    sslPolicy: 'ELBSecurityPolicy-TLS13-1-2-2021-06',
    certificateArn: CERTIFICATE_ARN,
    defaultAction: [{ type: 'forward', targetGroupArn: targetGroup.arn }],
  });
  const http = new LbListener(stack, 'Http', {
    loadBalancerArn: lb.arn,
    port: 80,
    protocol: 'HTTP',
    defaultAction: [{ type: 'redirect', redirect: { protocol: 'HTTPS', port: '443', statusCode: 'HTTP_301' } }],
  });

  const table = new DynamodbTable(stack, 'Jobs', {
    name: 'jobs',
    billingMode: 'PAY_PER_REQUEST',
    hashKey: 'id',
    attribute: [{ name: 'id', type: 'S' }],
    pointInTimeRecovery: { enabled: true },
    serverSideEncryption: { enabled: true, kmsKeyArn: key.arn },
    ttl: { attributeName: 'expires_at', enabled: true },
    deletionProtectionEnabled: true,
  });

  const trust = new DataAwsIamPolicyDocument(stack, 'Trust', {
    statement: [{ actions: ['sts:AssumeRole'], principals: [{ type: 'Service', identifiers: ['ec2.amazonaws.com'] }] }],
  });
  const role = new IamRole(stack, 'Role', { namePrefix: 'api-', assumeRolePolicy: trust.json });
  const grants = new IamRolePolicy(stack, 'Grants', {
    role: role.id,
    policy: JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Sid: 'Jobs', Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:PutItem'], Resource: [table.arn] },
        { Sid: 'Metrics', Effect: 'Allow', Action: 'cloudwatch:PutMetricData', Resource: '*', Condition: { StringEquals: { 'cloudwatch:namespace': 'Inference' } } },
        { Sid: 'Discover', Effect: 'Allow', Action: ['ec2:DescribeInstances'], Resource: '*' },
      ],
    }),
  });
  const managedPolicy = new IamPolicy(stack, 'ReadSecret', {
    namePrefix: 'read-secret-',
    policy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['secretsmanager:GetSecretValue'], Resource: secret.arn }] }),
  });
  const attachment = new IamRolePolicyAttachment(stack, 'Ssm', { role: role.name, policyArn: 'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore' });
  const profile = new IamInstanceProfile(stack, 'Profile', { namePrefix: 'api-', role: role.name });

  const metadataOptions = { httpEndpoint: 'enabled', httpTokens: 'required', httpPutResponseHopLimit: 1 };
  const launchTemplate = new LaunchTemplate(stack, 'Template', {
    namePrefix: 'api-',
    imageId: 'ami-0123456789abcdef0',
    instanceType: 'c5.xlarge',
    userData: UserData.forShellScript(BOOT_SCRIPT).base64,
    iamInstanceProfile: { arn: profile.arn },
    metadataOptions,
    blockDeviceMappings: [{ deviceName: '/dev/xvda', ebs: { encrypted: 'true', volumeSize: 30, volumeType: 'gp3' } }],
    vpcSecurityGroupIds: [appGroup.id],
  });
  const group = new AutoscalingGroup(stack, 'Fleet', {
    minSize: 2,
    maxSize: 4,
    vpcZoneIdentifier: SUBNETS,
    launchTemplate: { id: launchTemplate.id, version: `${launchTemplate.latestVersion}` },
    healthCheckType: 'ELB',
    targetGroupArns: [targetGroup.arn],
  });

  const instance = new Instance(stack, 'Database', {
    ami: 'ami-0123456789abcdef0',
    instanceType: 'm7i.large',
    subnetId: SUBNETS[0],
    iamInstanceProfile: profile.name,
    metadataOptions,
    rootBlockDevice: { encrypted: true, volumeSize: 20, volumeType: 'gp3' },
    userData: BOOT_SCRIPT,
  });
  const volume = new EbsVolume(stack, 'Data', { availabilityZone: 'us-east-1a', size: 100, type: 'gp3', encrypted: true, kmsKeyId: key.arn, lifecycle: { preventDestroy: true } });

  const cache = new ElasticacheReplicationGroup(stack, 'Cache', {
    replicationGroupId: 'responses',
    description: 'Response cache',
    engine: 'valkey',
    engineVersion: '8.0',
    nodeType: 'cache.t4g.small',
    numCacheClusters: 2,
    atRestEncryptionEnabled: 'true',
    transitEncryptionEnabled: true,
    transitEncryptionMode: 'required',
    authToken: authToken.result,
    automaticFailoverEnabled: true,
    multiAzEnabled: true,
    snapshotRetentionLimit: 7,
    subnetGroupName: 'cache-subnets',
    securityGroupIds: [appGroup.id],
  });

  return {
    stack, provider, key, logGroup, authToken, secret, secretVersion, parameter, lbGroup, appGroup, httpsIn, appIn, lbOut, legacyRule,
    logBucket, publicAccessBlock, logDelivery, lb, targetGroup, https, http, table, trust, role, grants, managedPolicy, attachment,
    profile, launchTemplate, group, instance, volume, cache,
  };
}
export type Plan = ReturnType<typeof compliantPlan>;

/** Builds the compliant plan in a fresh stack, lets `mutate` break it, synthesizes, and returns the report. */
export function evaluatePlan(mutate: (plan: Plan) => void = () => {}, options: PolicyOptions = {}): { plan: Plan; report: PolicyReport; policy: PolicyAspect } {
  const stack = new TerraformStack(Testing.app(), 'test');
  const plan = compliantPlan(stack);
  mutate(plan);
  const policy = PolicyAspect.applyTo(stack, { profile: 'prod', writeReport: false, ...options });
  Testing.synth(stack, true); // runs aspects and validations, where the checks run
  return { plan, report: policy.report(), policy };
}

export const failed = (report: PolicyReport): PolicyFinding[] => report.findings.filter((f) => f.status === 'failed');

/** An App whose output goes to a fresh temporary directory. */
export function tempApp(options: { skipValidation?: boolean } = {}): App {
  return new App({ outdir: mkdtempSync(join(tmpdir(), 'policy-')), ...options });
}
