import { CloudwatchMetricAlarm } from '@cdktf/provider-aws/lib/cloudwatch-metric-alarm';
import { DataAwsIamPolicyDocument } from '@cdktf/provider-aws/lib/data-aws-iam-policy-document';
import { DataAwsPartition } from '@cdktf/provider-aws/lib/data-aws-partition';
import { DataAwsRegion } from '@cdktf/provider-aws/lib/data-aws-region';
import { DataAwsSsmParameter } from '@cdktf/provider-aws/lib/data-aws-ssm-parameter';
import { DataAwsSubnet } from '@cdktf/provider-aws/lib/data-aws-subnet';
import { DlmLifecyclePolicy } from '@cdktf/provider-aws/lib/dlm-lifecycle-policy';
import { EbsVolume } from '@cdktf/provider-aws/lib/ebs-volume';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role';
import { IamRolePolicyAttachment } from '@cdktf/provider-aws/lib/iam-role-policy-attachment';
import { Instance } from '@cdktf/provider-aws/lib/instance';
import { VolumeAttachment } from '@cdktf/provider-aws/lib/volume-attachment';
import { Construct } from 'constructs';
import { checkIdList, checkInteger, checkPattern, isConcrete, PropError } from './errors';
import { IGrantable, InstanceRole } from './instance-role';
import { isGravitonInstanceType } from './instance-types';
import { METRICS_DB_TAGS, metricsDatabaseUserData } from './metrics-database-boot';
import { INetwork } from './network';
import { GeneratedSecret } from './secret';
import { Connections, IConnectable, Peer, Port, sanitize, SecurityGroup } from './security-group';
import { UserData } from './user-data';

const POSTGRES_PORT = 5432;
const UBUNTU_AMI = (arch: 'amd64' | 'arm64') => `/aws/service/canonical/ubuntu/server/24.04/stable/current/${arch}/hvm/ebs-gp3/ami-id`;
const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;
/** Tag key the Data Lifecycle Manager policy selects volumes by; the value is this construct's path. */
export const SNAPSHOT_TAG = 'MetricsDbSnapshots';

export interface MetricsDatabaseProps {
  /** The host goes into the first private subnet; its data volume into that subnet's AZ. */
  readonly network: INetwork;
  /**
   * EC2 instance type, EBS-only (the CloudWatch recover action rejects instance-store types such as m6id).
   * Graviton types ('m7g.large') get the arm64 AMI.
   * @default 'm7i.large'
   */
  readonly instanceType?: string;
  /** Data volume size in GiB (gp3, 1 to 65536). @default 100 */
  readonly dataVolumeSize?: number;
  /** Data volume IOPS (gp3, 3000 to 80000, at most 500 per GiB). @default 3000 */
  readonly dataVolumeIops?: number;
  /** Data volume throughput in MiB/s (gp3, 125 to 2000, at most IOPS / 4). @default 125 */
  readonly dataVolumeThroughput?: number;
  /**
   * PostgreSQL major version (15 to 17, all supported by TimescaleDB 2.x). Applies to a new host only; an existing
   * cluster must be upgraded with pg_upgradecluster (the bootstrap refuses to start a mismatched one).
   * @default 16
   */
  readonly postgresVersion?: number;
  /** Database the application uses (lowercase identifier). @default 'inference_metrics' */
  readonly databaseName?: string;
  /** Application role, owner of the database (lowercase identifier, not 'postgres' or 'pg_…'). @default 'gateway' */
  readonly username?: string;
  /** Daily data-volume snapshots kept by Data Lifecycle Manager (1 to 1000). @default 14 */
  readonly snapshotRetentionCount?: number;
  /** Days the per-request metrics hypertable keeps rows (TimescaleDB retention policy; 1 to 3650). @default 30 */
  readonly metricsRetentionDays?: number;
  /**
   * SSM parameter holding the AMI id.
   * @default Ubuntu 24.04 LTS: '/aws/service/canonical/ubuntu/server/24.04/stable/current/{amd64|arm64}/hvm/ebs-gp3/ami-id'
   */
  readonly amiParameter?: string;
}

/**
 * Self-hosted TimescaleDB (no managed AWS database runs the extension) on one Ubuntu 24.04 instance in a private
 * subnet. Data and cluster configuration live on a separate encrypted gp3 volume with `prevent_destroy`, snapshotted
 * daily by Data Lifecycle Manager; a CloudWatch alarm recovers the instance on a failed system status check.
 * The password is generated into Secrets Manager and read at boot with the instance role; clients connect with TLS
 * and SCRAM, and only from security groups opened with `grantConnect`.
 *
 * The instance ignores later AMI and user-data changes: a new Ubuntu image or bootstrap must not replace or restart
 * the database host during an unrelated deploy. Roll one out deliberately with `terraform apply -replace=<instance>`;
 * the replacement adopts the same volume, cluster and role.
 */
export class MetricsDatabase extends Construct implements IConnectable {
  readonly connections: Connections;
  readonly securityGroup: SecurityGroup;
  readonly role: InstanceRole;
  readonly password: GeneratedSecret;
  /** Private IPv4 address of the host (kept across auto-recovery). */
  readonly address: string;
  readonly port: number = POSTGRES_PORT;
  readonly databaseName: string;
  readonly username: string;
  readonly instance: Instance;
  readonly dataVolume: EbsVolume;
  readonly userData: UserData;

  constructor(scope: Construct, id: string, props: MetricsDatabaseProps) {
    super(scope, id);
    const instanceType = props.instanceType ?? 'm7i.large';
    checkPattern(this, 'instanceType', instanceType, /^[a-z][a-z0-9-]*\.[a-z0-9]+$/, "Use an EC2 instance type such as 'm7i.large' or 'r7g.xlarge'.");
    const size = props.dataVolumeSize ?? 100;
    const iops = props.dataVolumeIops ?? 3000;
    const throughput = props.dataVolumeThroughput ?? 125;
    checkInteger(this, 'dataVolumeSize', size, 1, 65536);
    checkInteger(this, 'dataVolumeIops', iops, 3000, 80000);
    checkInteger(this, 'dataVolumeThroughput', throughput, 125, 2000);
    if (isConcrete(size) && isConcrete(iops) && iops > size * 500) {
      throw new PropError(this, 'dataVolumeIops', iops, `gp3 allows at most 500 IOPS per GiB: raise dataVolumeSize to ${Math.ceil(iops / 500)} or lower the IOPS to ${size * 500}.`);
    }
    if (isConcrete(iops) && isConcrete(throughput) && throughput > iops / 4) {
      throw new PropError(this, 'dataVolumeThroughput', throughput, `gp3 allows at most 0.25 MiB/s per IOPS: raise dataVolumeIops to ${throughput * 4} or lower the throughput to ${Math.floor(iops / 4)}.`);
    }
    const postgresVersion = props.postgresVersion ?? 16;
    checkInteger(this, 'postgresVersion', postgresVersion, 15, 17);
    this.databaseName = props.databaseName ?? 'inference_metrics';
    this.username = props.username ?? 'gateway';
    checkPattern(this, 'databaseName', this.databaseName, IDENTIFIER, 'Use a lowercase identifier: a-z, 0-9 and _, starting with a letter or _, at most 63 characters.');
    if (['postgres', 'template0', 'template1'].includes(this.databaseName)) {
      throw new PropError(this, 'databaseName', this.databaseName, 'That database belongs to PostgreSQL; choose another name.');
    }
    checkPattern(this, 'username', this.username, IDENTIFIER, 'Use a lowercase identifier: a-z, 0-9 and _, starting with a letter or _, at most 63 characters.');
    if (this.username === 'postgres' || this.username.startsWith('pg_')) {
      throw new PropError(this, 'username', this.username, "'postgres' and 'pg_…' roles are reserved; the application needs an unprivileged role such as 'gateway'.");
    }
    const retain = props.snapshotRetentionCount ?? 14;
    checkInteger(this, 'snapshotRetentionCount', retain, 1, 1000);
    const amiParameter = props.amiParameter ?? UBUNTU_AMI(isGravitonInstanceType(instanceType) ? 'arm64' : 'amd64');
    checkPattern(this, 'amiParameter', amiParameter, /^\/[A-Za-z0-9_.\/-]+$/, "Give an SSM parameter name starting with '/', e.g. the Ubuntu 24.04 public parameter.");
    checkIdList(this, 'network.privateSubnetIds', props.network.privateSubnetIds, 1, 'private subnet');

    const path = this.node.path;
    const name = sanitize(path);
    const partition = new DataAwsPartition(this, 'Partition');
    const region = new DataAwsRegion(this, 'Region');

    this.securityGroup = new SecurityGroup(this, 'SecurityGroup', {
      vpcId: props.network.vpcId,
      description: `TimescaleDB host ${path}: PostgreSQL on ${POSTGRES_PORT} from granted clients only`,
      defaultPort: Port.tcp(POSTGRES_PORT),
    });
    this.connections = this.securityGroup.connections;
    // Egress is HTTP(S) only. DNS, NTP and IMDS use link-local/VPC resolvers that security groups do not filter.
    this.connections.allowToPeer(Peer.anyIpv4(), Port.tcp(443), 'HTTPS: PGDG and Timescale apt repositories, Secrets Manager, SSM');
    this.connections.allowToPeer(Peer.anyIpv4(), Port.tcp(80), 'HTTP: Ubuntu archive mirrors (apt verifies package signatures)');

    this.password = new GeneratedSecret(this, 'Password', { description: `Password of role ${this.username} on the TimescaleDB host ${path}` });
    this.role = new InstanceRole(this, 'Role', { description: `TimescaleDB host ${path}: SSM Session Manager, CloudWatch agent, its password secret` });
    this.password.grantRead(this.role);

    const subnetId = props.network.privateSubnetIds[0];
    // The subnet's AZ is known at plan time, so the volume never depends on (or is replaced with) the instance.
    const subnet = new DataAwsSubnet(this, 'Subnet', { id: subnetId });
    const snapshotTarget = { [SNAPSHOT_TAG]: name };
    this.dataVolume = new EbsVolume(this, 'DataVolume', {
      availabilityZone: subnet.availabilityZone,
      type: 'gp3',
      size,
      iops,
      throughput,
      encrypted: true,
      finalSnapshot: true,
      tags: { Name: `${path}/data`, ...snapshotTarget },
      lifecycle: { preventDestroy: true },
    });

    const retentionDays = props.metricsRetentionDays ?? 30;
    checkInteger(this, 'metricsRetentionDays', retentionDays, 1, 3650);
    this.userData = metricsDatabaseUserData({ postgresVersion, databaseName: this.databaseName, username: this.username, retentionDays });
    this.userData.assertWithinLimit(path);
    const ami = new DataAwsSsmParameter(this, 'Ami', { name: amiParameter });
    this.instance = new Instance(this, 'Instance', {
      ami: ami.insecureValue,
      instanceType,
      subnetId,
      vpcSecurityGroupIds: [this.securityGroup.securityGroupId],
      iamInstanceProfile: this.role.instanceProfile.name,
      associatePublicIpAddress: false,
      metadataOptions: { httpEndpoint: 'enabled', httpTokens: 'required', httpPutResponseHopLimit: 1, instanceMetadataTags: 'enabled' },
      rootBlockDevice: { volumeType: 'gp3', volumeSize: 30, encrypted: true, deleteOnTermination: true, tags: { Name: `${path}/root` } },
      maintenanceOptions: { autoRecovery: 'default' },
      userDataBase64: this.userData.base64,
      userDataReplaceOnChange: false,
      // The bootstrap reads these through IMDS: apply-time values without putting them (or any secret) in user data.
      tags: { Name: path, [METRICS_DB_TAGS.dataVolumeId]: this.dataVolume.id, [METRICS_DB_TAGS.passwordSecretArn]: this.password.secretArn },
      // cloud-init runs user data once per instance, so a changed script would only restart the database for nothing.
      lifecycle: { ignoreChanges: ['ami', 'user_data_base64'] },
    });
    // Stopping first unmounts cleanly; a detach under a running PostgreSQL would be a crash.
    new VolumeAttachment(this, 'DataVolumeAttachment', {
      deviceName: '/dev/sdf',
      volumeId: this.dataVolume.id,
      instanceId: this.instance.id,
      stopInstanceBeforeDetaching: true,
    });
    this.address = this.instance.privateIp;

    this.addSnapshots(partition.partition, snapshotTarget, retain);
    new CloudwatchMetricAlarm(this, 'AutoRecover', {
      alarmName: `${name}-auto-recover`,
      alarmDescription: `Recovers the TimescaleDB host ${path} (same id, IP and volumes) when the system status check fails`,
      namespace: 'AWS/EC2',
      metricName: 'StatusCheckFailed_System',
      dimensions: { InstanceId: this.instance.id },
      statistic: 'Maximum',
      period: 60,
      evaluationPeriods: 2,
      threshold: 1,
      comparisonOperator: 'GreaterThanOrEqualToThreshold',
      alarmActions: [`arn:${partition.partition}:automate:${region.region}:ec2:recover`],
    });
  }

  /** Opens the client's SG to 5432 and grants read on the password secret. */
  grantConnect(client: IConnectable & IGrantable): void {
    this.connections.allowDefaultPortFrom(client, `PostgreSQL (TLS, SCRAM) to the TimescaleDB host ${this.node.path}`);
    this.password.grantRead(client);
  }

  /** Daily crash-consistent snapshots: data and WAL share the volume, so PostgreSQL recovers from any of them. */
  private addSnapshots(partition: string, targetTags: Record<string, string>, retain: number): void {
    const trust = new DataAwsIamPolicyDocument(this, 'SnapshotTrust', {
      statement: [{ effect: 'Allow', actions: ['sts:AssumeRole'], principals: [{ type: 'Service', identifiers: ['dlm.amazonaws.com'] }] }],
    });
    const role = new IamRole(this, 'SnapshotRole', {
      namePrefix: `${sanitize(this.node.path).slice(0, 33)}-dlm-`,
      description: `Data Lifecycle Manager snapshots of ${this.node.path}`,
      assumeRolePolicy: trust.json,
    });
    new IamRolePolicyAttachment(this, 'SnapshotRolePolicy', {
      role: role.name,
      policyArn: `arn:${partition}:iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole`,
    });
    new DlmLifecyclePolicy(this, 'Snapshots', {
      // DLM descriptions allow only letters, digits, spaces, '-' and '_'.
      description: `Daily snapshots of ${sanitize(this.node.path)} data volume`,
      executionRoleArn: role.arn,
      state: 'ENABLED',
      policyDetails: {
        resourceTypes: ['VOLUME'],
        targetTags,
        schedule: [{
          name: `daily-keep-${retain}`,
          createRule: { interval: 24, intervalUnit: 'HOURS', times: ['03:00'] },
          retainRule: { count: retain },
          copyTags: true,
          tagsToAdd: { SnapshotCreator: 'dlm' },
        }],
      },
      tags: { Name: this.node.path },
    });
  }
}
