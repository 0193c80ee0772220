import { DynamodbTable } from '@cdktf/provider-aws/lib/dynamodb-table';
import { KmsKey } from '@cdktf/provider-aws/lib/kms-key';
import { Construct } from 'constructs';
import { JOB_TABLE_SCHEMA } from '../lambda-src/stores/prediction-store';
import { checkInteger, checkOneOf } from './errors';
import { IGrantable } from './instance-role';
import { sanitize } from './security-group';

export interface JobTableProps {
  /** Refuse DeleteTable (and `terraform destroy`) until turned off. @default true */
  readonly deletionProtection?: boolean;
  /**
   * Encryption key: a customer-managed KMS key with yearly rotation, whose use shows up in CloudTrail and is
   * granted per role, or the AWS-owned DynamoDB key (no key to manage or audit).
   * @default 'customer-managed'
   */
  readonly kmsKey?: 'customer-managed' | 'aws-owned';
  /** Continuous backups with point-in-time restore. @default true */
  readonly pointInTimeRecovery?: boolean;
  /** Days a deleted KMS key waits before it is gone (7 to 30); the table is unreadable without it. @default 30 */
  readonly keyDeletionWindowDays?: number;
}

const READ_ACTIONS = ['dynamodb:BatchGetItem', 'dynamodb:ConditionCheckItem', 'dynamodb:DescribeTable', 'dynamodb:GetItem', 'dynamodb:Query'];
const WRITE_ACTIONS = ['dynamodb:BatchWriteItem', 'dynamodb:DeleteItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'];

/**
 * The async-prediction job table: on demand, keys and the sparse lease index from `JOB_TABLE_SCHEMA`
 * (expired leases are a Query, never a Scan), TTL on finished jobs, point-in-time recovery, SSE with a
 * customer-managed KMS key and deletion protection. `grant…` methods scope grants to the table, its indexes and the key.
 */
export class JobTable extends Construct {
  /** The table's name: `sanitize(construct path)`, stable for a given path. */
  readonly tableName: string;
  readonly tableArn: string;
  readonly table: DynamodbTable;
  /** The customer-managed key, when `kmsKey` is 'customer-managed'. */
  readonly encryptionKey?: KmsKey;
  readonly kmsKeyArn?: string;

  constructor(scope: Construct, id: string, props: JobTableProps = {}) {
    super(scope, id);
    const keyChoice = props.kmsKey ?? 'customer-managed';
    checkOneOf(this, 'kmsKey', keyChoice, ['customer-managed', 'aws-owned']);
    checkInteger(this, 'keyDeletionWindowDays', props.keyDeletionWindowDays, 7, 30);

    if (keyChoice === 'customer-managed') {
      // No explicit policy: the default key policy delegates to IAM, so grants below are the only access.
      this.encryptionKey = new KmsKey(this, 'Key', {
        description: `Encrypts the DynamoDB job table ${this.node.path}`,
        enableKeyRotation: true,
        deletionWindowInDays: props.keyDeletionWindowDays ?? 30,
        tags: { Name: this.node.path },
      });
      this.kmsKeyArn = this.encryptionKey.arn;
    }

    const { hashKey, ttlAttribute, leaseIndex } = JOB_TABLE_SCHEMA;
    this.table = new DynamodbTable(this, 'Resource', {
      // DynamoDB has no name prefix; the path is unique per stack and never changes for a deployed table.
      name: sanitize(this.node.path),
      billingMode: 'PAY_PER_REQUEST',
      hashKey,
      // Types follow what PredictionStore writes: the shard is a string ('0'..'3'), the lease deadline epoch ms.
      attribute: [
        { name: hashKey, type: 'S' },
        { name: leaseIndex.hashKey, type: 'S' },
        { name: leaseIndex.rangeKey, type: 'N' },
      ],
      globalSecondaryIndex: [{ name: leaseIndex.name, hashKey: leaseIndex.hashKey, rangeKey: leaseIndex.rangeKey, projectionType: 'ALL' }],
      ttl: { attributeName: ttlAttribute, enabled: true },
      pointInTimeRecovery: { enabled: props.pointInTimeRecovery ?? true },
      // enabled = false is DynamoDB's AWS-owned key; true with a key ARN is the customer-managed key.
      serverSideEncryption: this.kmsKeyArn ? { enabled: true, kmsKeyArn: this.kmsKeyArn } : { enabled: false },
      deletionProtectionEnabled: props.deletionProtection ?? true,
      tags: { Name: this.node.path },
    });
    this.tableName = this.table.name;
    this.tableArn = this.table.arn;
  }

  /** Item reads and writes on the table and its indexes (no Scan, no table management), and use of the key. */
  grantReadWriteData(grantee: IGrantable): void {
    this.grant(grantee, 'ReadWrite', [...READ_ACTIONS, ...WRITE_ACTIONS], ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKey']);
  }

  /** Item reads on the table and its indexes (no Scan), and decryption with the key. */
  grantReadData(grantee: IGrantable): void {
    this.grant(grantee, 'Read', READ_ACTIONS, ['kms:Decrypt', 'kms:DescribeKey']);
  }

  private grant(grantee: IGrantable, level: string, actions: string[], keyActions: string[]): void {
    const sid = `${sanitize(this.node.path).replace(/-/g, '')}${level}`;
    grantee.grantPrincipal.addToPolicy({ sid: `${sid}Items`, actions, resources: [this.tableArn, `${this.tableArn}/index/*`] });
    if (this.kmsKeyArn) {
      grantee.grantPrincipal.addToPolicy({
        sid: `${sid}Key`,
        actions: keyActions,
        resources: [this.kmsKeyArn],
        // Only through DynamoDB: the role cannot use the key for anything else.
        conditions: [{ test: 'StringLike', variable: 'kms:ViaService', values: ['dynamodb.*'] }],
      });
    }
  }
}
