import { block, isRef, isTrue, list, PlanElement, referencedAddresses, show } from './plan';
import { always, PolicyRule, prodError, prodOnly, prodWarning, problems, RuleContext } from './rule';

const CACHE_TYPES = ['aws_elasticache_replication_group'];
const PUBLIC_ACCESS_FLAGS = [
  ['CKV_AWS_53', 'block_public_acls', 'S3 public access block blocks public ACLs'],
  ['CKV_AWS_54', 'block_public_policy', 'S3 public access block blocks public bucket policies'],
  ['CKV_AWS_55', 'ignore_public_acls', 'S3 public access block ignores public ACLs'],
  ['CKV_AWS_56', 'restrict_public_buckets', 'S3 public access block restricts public buckets'],
] as const;

const literalTrue = (v: unknown) => isTrue(v) || isRef(v);

/** Whether some element of `type` points at `bucket` through its `bucket` attribute. */
function bucketHas(ctx: RuleContext, type: string, bucket: PlanElement): boolean {
  return ctx.ofType(type).some((c) => referencedAddresses(c.attrs.bucket).includes(bucket.address) || (typeof bucket.attrs.bucket === 'string' && c.attrs.bucket === bucket.attrs.bucket));
}

export const DATA_RULES: PolicyRule[] = [
  {
    id: 'CKV_AWS_29',
    title: 'ElastiCache replication groups encrypt data at rest',
    level: always('error'),
    appliesTo: CACHE_TYPES,
    check: ({ attrs }) => (literalTrue(attrs.at_rest_encryption_enabled) ? undefined : `at_rest_encryption_enabled is ${show(attrs.at_rest_encryption_enabled)}`),
    fix: 'Set at_rest_encryption_enabled = true (replaces the group when changed: set it at creation).',
  },
  {
    id: 'CKV_AWS_30',
    title: 'ElastiCache replication groups require TLS in transit',
    level: always('error'),
    appliesTo: CACHE_TYPES,
    check: ({ attrs }) =>
      problems([
        !literalTrue(attrs.transit_encryption_enabled) && `transit_encryption_enabled is ${show(attrs.transit_encryption_enabled)}`,
        attrs.transit_encryption_mode === 'preferred' && 'transit_encryption_mode is "preferred" (plaintext clients still accepted)',
      ]),
    fix: 'Set transit_encryption_enabled = true and transit_encryption_mode = "required" (use "preferred" only while migrating clients).',
  },
  {
    id: 'CKV_AWS_31',
    title: 'ElastiCache replication groups require AUTH',
    level: always('error'),
    appliesTo: CACHE_TYPES,
    check: ({ attrs }) => (attrs.auth_token || list(attrs.user_group_ids).length > 0 || isRef(attrs.user_group_ids) ? undefined : 'neither auth_token nor user_group_ids is set: any client in the security group can read and write'),
    fix: 'Set auth_token from a GeneratedSecret (ResponseCache does) or attach an RBAC user group.',
  },
  {
    id: 'CKV2_AWS_50',
    title: 'ElastiCache replication groups fail over automatically across AZs',
    level: prodError,
    appliesTo: CACHE_TYPES,
    check: ({ attrs }) =>
      problems([
        !literalTrue(attrs.automatic_failover_enabled) && `automatic_failover_enabled is ${show(attrs.automatic_failover_enabled)}`,
        !literalTrue(attrs.multi_az_enabled) && `multi_az_enabled is ${show(attrs.multi_az_enabled)}`,
      ]),
    fix: 'Run at least one replica (ResponseCache replicas >= 1) with automatic_failover_enabled = true and multi_az_enabled = true.',
  },
  {
    id: 'CKV_AWS_134',
    title: 'ElastiCache keeps automatic snapshots',
    level: prodError,
    appliesTo: [...CACHE_TYPES, 'aws_elasticache_cluster'],
    applies: ({ type, attrs }) => type !== 'aws_elasticache_cluster' || attrs.engine !== 'memcached',
    check: ({ attrs }) => (isRef(attrs.snapshot_retention_limit) || Number(attrs.snapshot_retention_limit) > 0 ? undefined : `snapshot_retention_limit is ${show(attrs.snapshot_retention_limit ?? 0)}`),
    fix: 'Set snapshot_retention_limit >= 1 (ResponseCache snapshotRetentionDays, default 7).',
  },
  {
    id: 'CKV_AWS_28',
    title: 'DynamoDB tables have point-in-time recovery',
    level: always('error'),
    appliesTo: ['aws_dynamodb_table'],
    check: ({ attrs }) => (literalTrue(block(attrs.point_in_time_recovery)?.enabled) ? undefined : 'point_in_time_recovery.enabled is not true'),
    fix: 'Set point_in_time_recovery { enabled = true } (JobTable pointInTimeRecovery, the default).',
  },
  {
    id: 'CKV_AWS_119',
    title: 'DynamoDB tables are encrypted with a customer-managed KMS key',
    level: prodError,
    appliesTo: ['aws_dynamodb_table'],
    check: ({ attrs }) => {
      const sse = block(attrs.server_side_encryption);
      return sse && literalTrue(sse.enabled) && sse.kms_key_arn ? undefined : `server_side_encryption ${sse ? `kms_key_arn is ${show(sse.kms_key_arn)}` : 'is not configured'} (AWS-owned key: no key policy, no CloudTrail record of use)`;
    },
    fix: "Set server_side_encryption { enabled = true, kms_key_arn = <CMK with rotation> } (JobTable kmsKey: 'customer-managed', the default).",
  },
  {
    id: 'IFL_DYNAMODB_TTL',
    title: 'DynamoDB tables expire finished items with TTL',
    level: prodError,
    appliesTo: ['aws_dynamodb_table'],
    check: ({ attrs }) => {
      const ttl = block(attrs.ttl);
      return ttl && ttl.attribute_name && ttl.enabled !== false ? undefined : 'no enabled ttl: finished jobs accumulate forever';
    },
    fix: 'Set ttl { attribute_name = "expires_at", enabled = true } (JobTable does) and write the attribute on every item.',
  },
  {
    id: 'IFL_DYNAMODB_DELETION_PROTECTION',
    title: 'DynamoDB tables have deletion protection',
    level: prodOnly,
    appliesTo: ['aws_dynamodb_table'],
    check: ({ attrs }) => (literalTrue(attrs.deletion_protection_enabled) ? undefined : `deletion_protection_enabled is ${show(attrs.deletion_protection_enabled)}`),
    fix: 'Set deletion_protection_enabled = true (JobTable deletionProtection, the default).',
    related: ['AWS Security Hub DynamoDB.6'],
  },
  ...PUBLIC_ACCESS_FLAGS.map(([id, flag, title]): PolicyRule => ({
    id,
    title,
    level: always('error'),
    appliesTo: ['aws_s3_bucket_public_access_block'],
    check: ({ attrs }) => (literalTrue(attrs[flag]) ? undefined : `${flag} is ${show(attrs[flag])}`),
    fix: `Set ${flag} = true.`,
  })),
  {
    id: 'CKV2_AWS_6',
    title: 'S3 buckets have a public access block',
    level: always('error'),
    appliesTo: ['aws_s3_bucket'],
    check: (el, ctx) => (bucketHas(ctx, 'aws_s3_bucket_public_access_block', el) ? undefined : 'no aws_s3_bucket_public_access_block refers to this bucket'),
    fix: 'Add an aws_s3_bucket_public_access_block for the bucket with all four flags true.',
  },
  {
    id: 'CKV_AWS_19',
    title: 'S3 buckets declare server-side encryption',
    // S3 has encrypted every new object with SSE-S3 since January 2023; declaring it documents and pins the choice.
    level: always('warning'),
    appliesTo: ['aws_s3_bucket'],
    check: (el, ctx) => (el.attrs.server_side_encryption_configuration || bucketHas(ctx, 'aws_s3_bucket_server_side_encryption_configuration', el) ? undefined : 'no aws_s3_bucket_server_side_encryption_configuration refers to this bucket'),
    fix: 'Add aws_s3_bucket_server_side_encryption_configuration (AES256 for ALB log buckets: log delivery cannot use KMS).',
  },
  {
    id: 'CKV_AWS_7',
    title: 'Customer-managed KMS keys rotate',
    level: always('error'),
    appliesTo: ['aws_kms_key'],
    applies: ({ attrs }) => (attrs.key_usage ?? 'ENCRYPT_DECRYPT') === 'ENCRYPT_DECRYPT' && (attrs.customer_master_key_spec ?? 'SYMMETRIC_DEFAULT') === 'SYMMETRIC_DEFAULT',
    check: ({ attrs }) => (literalTrue(attrs.enable_key_rotation) ? undefined : `enable_key_rotation is ${show(attrs.enable_key_rotation)}`),
    fix: 'Set enable_key_rotation = true.',
  },
  {
    id: 'CKV_AWS_66',
    title: 'CloudWatch log groups have a retention period',
    level: always('error'),
    appliesTo: ['aws_cloudwatch_log_group'],
    // CKV_AWS_338 asks for >= 365 days; flow and request logs at fleet volume cost more than they are worth after
    // weeks, so any explicit, finite retention passes and the constructs expose it as a prop.
    check: ({ attrs }) => (isRef(attrs.retention_in_days) || Number(attrs.retention_in_days) > 0 ? undefined : `retention_in_days is ${show(attrs.retention_in_days ?? 0)} (never expire)`),
    fix: 'Set retention_in_days (e.g. 30 or 90; the constructs expose it as a *RetentionDays prop).',
    related: ['CKV_AWS_338'],
  },
  {
    id: 'CKV_AWS_158',
    title: 'CloudWatch log groups are encrypted with a customer-managed KMS key',
    // Log data is always encrypted at rest with a service key; a CMK adds key-policy control. Advisory in prod.
    level: prodWarning,
    appliesTo: ['aws_cloudwatch_log_group'],
    check: ({ attrs }) => (attrs.kms_key_id ? undefined : 'kms_key_id is unset (service-managed key)'),
    fix: 'Set kms_key_id to a CMK whose key policy allows logs.<region>.amazonaws.com, or suppress with the reason the logs hold no sensitive data.',
  },
  {
    id: 'CKV_AWS_149',
    title: 'Secrets Manager secrets are encrypted with a customer-managed KMS key',
    // Secrets are always encrypted (aws/secretsmanager); a CMK allows cross-account use and key-policy control.
    level: prodWarning,
    appliesTo: ['aws_secretsmanager_secret'],
    check: ({ attrs }) => (attrs.kms_key_id ? undefined : 'kms_key_id is unset (aws/secretsmanager key)'),
    fix: 'Set kms_key_id (GeneratedSecret kmsKeyId), or suppress with the reason the AWS-managed key suffices.',
  },
];
