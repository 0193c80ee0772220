import { CloudwatchLogGroup } from '@cdktf/provider-aws/lib/cloudwatch-log-group';
import { ElasticacheParameterGroup } from '@cdktf/provider-aws/lib/elasticache-parameter-group';
import { ElasticacheReplicationGroup } from '@cdktf/provider-aws/lib/elasticache-replication-group';
import { ElasticacheSubnetGroup } from '@cdktf/provider-aws/lib/elasticache-subnet-group';
import { Annotations } from 'cdktf';
import { Construct } from 'constructs';
import { createHash } from 'node:crypto';
import { checkIdList, checkInteger, checkOneOf, checkPattern, PropError } from './errors';
import { IGrantable } from './instance-role';
import { INetwork } from './network';
import { GeneratedSecret } from './secret';
import { Connections, IConnectable, Port, sanitize, SecurityGroup } from './security-group';

/** Retention values CloudWatch Logs accepts. */
export const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;

const MAXMEMORY_POLICIES = ['volatile-lru', 'allkeys-lru', 'volatile-lfu', 'allkeys-lfu', 'volatile-random', 'allkeys-random', 'volatile-ttl', 'noeviction'] as const;
const DEFAULT_VERSION = { valkey: '8.0', redis: '7.1' } as const;
const CACHE_PORT = 6379;
const HH_MM = '([01]\\d|2[0-3]):[0-5]\\d';
const DAY = '(mon|tue|wed|thu|fri|sat|sun)';

export interface ResponseCacheProps {
  /** VPC and private subnets the cache nodes are placed in (one node per subnet's AZ, up to the node count). */
  readonly network: INetwork;
  /** Cache engine. @default 'valkey' */
  readonly engine?: 'valkey' | 'redis';
  /**
   * Pinned `major.minor` engine version (Valkey 7.2 or 8.x, Redis 7.x); ElastiCache rejects Valkey without one.
   * @default '8.0' for valkey, '7.1' for redis
   */
  readonly engineVersion?: string;
  /** Node type, e.g. 'cache.r7g.large'. @default 'cache.t4g.small' */
  readonly nodeType?: string;
  /**
   * Read replicas besides the primary, 0 to 5. With ≥ 1 the group is multi-AZ with automatic failover;
   * 0 (a single node) is allowed for development and produces a synth warning.
   * @default 1
   */
  readonly replicas?: number;
  /** Days automatic snapshots are kept, 0 (none) to 35. @default 7 */
  readonly snapshotRetentionDays?: number;
  /** Daily UTC snapshot window 'HH:MM-HH:MM'; must not overlap the maintenance window. @default '03:00-04:00' */
  readonly snapshotWindow?: string;
  /** Weekly UTC maintenance window 'ddd:HH:MM-ddd:HH:MM'. @default 'sun:05:00-sun:06:00' */
  readonly maintenanceWindow?: string;
  /** Apply modifications now instead of in the maintenance window (may restart nodes). @default false */
  readonly applyImmediately?: boolean;
  /** Retention of the slow-log and engine-log groups, a CloudWatch Logs value (1, 3, 5, 7, 14, 30, 60, 90, ...). @default 30 */
  readonly logRetentionDays?: number;
  /**
   * Eviction policy. 'volatile-lru' evicts only keys that carry a TTL, least recently used first: cached responses
   * (always written with a TTL) make room, while hot rate-limit counters stay; keys without a TTL are never evicted.
   * @default 'volatile-lru'
   */
  readonly maxmemoryPolicy?: string;
}

/**
 * An ElastiCache (Valkey or Redis 7) replication group for response caching and shared rate limits:
 * private subnets, TLS required, encryption at rest, an AUTH token generated into Secrets Manager
 * (the plan carries only a reference), multi-AZ failover with ≥ 1 replica, snapshots, and slow/engine logs
 * in CloudWatch Logs. `grantConnect(fleet)` opens the port and lets the fleet read the token.
 */
export class ResponseCache extends Construct implements IConnectable {
  readonly connections: Connections;
  readonly securityGroup: SecurityGroup;
  /** AUTH token in Secrets Manager (letters and digits, 64 characters). */
  readonly authToken: GeneratedSecret;
  readonly primaryEndpointAddress: string;
  /** Endpoint that spreads reads over the replicas. */
  readonly readerEndpointAddress: string;
  readonly port: number = CACHE_PORT;
  readonly engine: 'valkey' | 'redis';
  readonly engineVersion: string;
  readonly replicationGroup: ElasticacheReplicationGroup;

  constructor(scope: Construct, id: string, props: ResponseCacheProps) {
    super(scope, id);
    const engine = props.engine ?? 'valkey';
    checkOneOf(this, 'engine', engine, ['valkey', 'redis']);
    const version = props.engineVersion ?? DEFAULT_VERSION[engine];
    const versions = engine === 'valkey' ? /^(7\.2|[89]\.\d)$/ : /^7\.\d$/;
    checkPattern(this, 'engineVersion', version, versions, `Pin a supported ${engine} major.minor version, e.g. '${DEFAULT_VERSION[engine]}'${engine === 'valkey' ? " (7.2 or 8.x)" : ' (7.x)'}.`);
    const nodeType = props.nodeType ?? 'cache.t4g.small';
    checkPattern(this, 'nodeType', nodeType, /^cache\.[a-z0-9]+\.[a-z0-9]+$/, "Use an ElastiCache node type such as 'cache.t4g.small' or 'cache.r7g.large'.");
    const replicas = props.replicas ?? 1;
    checkInteger(this, 'replicas', replicas, 0, 5);
    checkInteger(this, 'snapshotRetentionDays', props.snapshotRetentionDays, 0, 35);
    const snapshotWindow = props.snapshotWindow ?? '03:00-04:00';
    checkPattern(this, 'snapshotWindow', snapshotWindow, new RegExp(`^${HH_MM}-${HH_MM}$`), "Use a UTC range 'HH:MM-HH:MM', e.g. '03:00-04:00'.");
    const maintenanceWindow = props.maintenanceWindow ?? 'sun:05:00-sun:06:00';
    checkPattern(this, 'maintenanceWindow', maintenanceWindow, new RegExp(`^${DAY}:${HH_MM}-${DAY}:${HH_MM}$`), "Use a UTC range 'ddd:HH:MM-ddd:HH:MM', e.g. 'sun:05:00-sun:06:00'.");
    const logRetentionDays = props.logRetentionDays ?? 30;
    checkLogRetention(this, 'logRetentionDays', logRetentionDays);
    const maxmemoryPolicy = props.maxmemoryPolicy ?? 'volatile-lru';
    checkOneOf(this, 'maxmemoryPolicy', maxmemoryPolicy, MAXMEMORY_POLICIES);
    checkIdList(this, 'network.privateSubnetIds', props.network.privateSubnetIds, replicas > 0 ? 2 : 1, 'private subnets in different availability zones (multi-AZ needs two)');
    if (replicas === 0) {
      Annotations.of(this).addWarning(`${this.node.path}: replicas = 0 runs a single cache node without automatic failover or multi-AZ; a node failure loses the cache and the rate-limit counters. Use replicas >= 1 in production.`);
    }
    this.engine = engine;
    this.engineVersion = version;

    const name = elasticacheName(this.node.path);
    const family = `${engine}${version.split('.')[0]}`;
    this.securityGroup = new SecurityGroup(this, 'SecurityGroup', {
      vpcId: props.network.vpcId,
      description: `ElastiCache ${engine} response cache ${this.node.path}: TLS clients on ${CACHE_PORT} only`,
      defaultPort: Port.tcp(CACHE_PORT),
    });
    this.connections = this.securityGroup.connections;

    const subnets = new ElasticacheSubnetGroup(this, 'SubnetGroup', {
      name,
      description: `Private subnets of ${this.node.path}`,
      subnetIds: props.network.privateSubnetIds,
    });
    // The family is part of the name, so an engine upgrade creates the new group before the old one goes.
    const parameters = new ElasticacheParameterGroup(this, 'Parameters', {
      name: `${name}-${family}`,
      family,
      description: `Eviction policy of ${this.node.path}`,
      parameter: [{ name: 'maxmemory-policy', value: maxmemoryPolicy }],
      lifecycle: { createBeforeDestroy: true },
    });
    // ElastiCache AUTH accepts printable ASCII except a few; letters and digits are always safe.
    this.authToken = new GeneratedSecret(this, 'AuthToken', { description: `AUTH token of the ${engine} cache ${this.node.path}`, length: 64 });

    const logs = (['slow-log', 'engine-log'] as const).map((logType) => {
      const group = new CloudwatchLogGroup(this, logType === 'slow-log' ? 'SlowLog' : 'EngineLog', {
        namePrefix: `/elasticache/${name}/${logType}-`,
        retentionInDays: logRetentionDays,
      });
      return { destination: group.name, destinationType: 'cloudwatch-logs', logFormat: 'json', logType };
    });

    const failover = replicas >= 1;
    this.replicationGroup = new ElasticacheReplicationGroup(this, 'Resource', {
      replicationGroupId: name,
      description: `Response cache and rate limits (${this.node.path})`,
      engine,
      engineVersion: version,
      nodeType,
      port: CACHE_PORT,
      clusterMode: 'disabled',
      numCacheClusters: 1 + replicas,
      automaticFailoverEnabled: failover,
      multiAzEnabled: failover,
      parameterGroupName: parameters.name,
      subnetGroupName: subnets.name,
      securityGroupIds: [this.securityGroup.securityGroupId],
      atRestEncryptionEnabled: 'true',
      transitEncryptionEnabled: true,
      // 'required' refuses plaintext; the mode and ROTATE strategy can change later without replacing the group.
      transitEncryptionMode: 'required',
      authToken: this.authToken.value,
      authTokenUpdateStrategy: 'ROTATE',
      autoMinorVersionUpgrade: 'true',
      snapshotRetentionLimit: props.snapshotRetentionDays ?? 7,
      snapshotWindow,
      maintenanceWindow,
      applyImmediately: props.applyImmediately ?? false,
      logDeliveryConfiguration: logs,
      tags: { Name: this.node.path },
    });
    this.primaryEndpointAddress = this.replicationGroup.primaryEndpointAddress;
    this.readerEndpointAddress = this.replicationGroup.readerEndpointAddress;
  }

  /** Opens the client's SG to the cache port and grants read on the AUTH secret. */
  grantConnect(client: IConnectable & IGrantable): void {
    this.connections.allowDefaultPortFrom(client, `${this.engine} over TLS to the response cache ${this.node.path}`);
    this.authToken.grantRead(client);
  }
}

/**
 * ElastiCache ids: lowercase letters, digits and single hyphens, starting with a letter, at most 40 characters.
 * Long paths keep a readable head and a hash of the whole path, so the id stays unique and stable.
 */
function elasticacheName(path: string): string {
  let name = sanitize(path).toLowerCase().replace(/-{2,}/g, '-');
  if (!/^[a-z]/.test(name)) name = `c-${name}`;
  if (name.length > 40) name = `${name.slice(0, 31).replace(/-+$/, '')}-${createHash('sha256').update(path).digest('hex').slice(0, 8)}`;
  return name;
}

/** CloudWatch Logs accepts only a fixed set of retention periods. */
export function checkLogRetention(scope: Construct, prop: string, days: number): void {
  if (!(LOG_RETENTION_DAYS as readonly number[]).includes(days)) {
    throw new PropError(scope, prop, days, `CloudWatch Logs accepts only ${LOG_RETENTION_DAYS.join(', ')} days.`);
  }
}
