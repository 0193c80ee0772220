import { DataAwsCallerIdentity } from '@cdktf/provider-aws/lib/data-aws-caller-identity';
import { DataAwsIamPolicyDocument } from '@cdktf/provider-aws/lib/data-aws-iam-policy-document';
import { DataAwsPartition } from '@cdktf/provider-aws/lib/data-aws-partition';
import { DataAwsRegion } from '@cdktf/provider-aws/lib/data-aws-region';
import { Lb } from '@cdktf/provider-aws/lib/lb';
import { LbListener } from '@cdktf/provider-aws/lib/lb-listener';
import { LbTargetGroup } from '@cdktf/provider-aws/lib/lb-target-group';
import { S3Bucket } from '@cdktf/provider-aws/lib/s3-bucket';
import { S3BucketLifecycleConfiguration } from '@cdktf/provider-aws/lib/s3-bucket-lifecycle-configuration';
import { S3BucketOwnershipControls } from '@cdktf/provider-aws/lib/s3-bucket-ownership-controls';
import { S3BucketPolicy } from '@cdktf/provider-aws/lib/s3-bucket-policy';
import { S3BucketPublicAccessBlock } from '@cdktf/provider-aws/lib/s3-bucket-public-access-block';
import { S3BucketServerSideEncryptionConfigurationA } from '@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration';
import { S3BucketVersioningA } from '@cdktf/provider-aws/lib/s3-bucket-versioning';
import { Annotations, Fn, ITerraformDependable } from 'cdktf';
import { Construct } from 'constructs';
import type { IApplicationLoadBalancerTarget } from './api-fleet';
import { checkIdList, checkInteger, checkPattern, PropError } from './errors';
import { INetwork } from './network';
import { Connections, IConnectable, Peer, Port, SecurityGroup, sanitize } from './security-group';

export interface LoadBalancerProps {
  /** Network whose public subnets (private ones when `internal`) host the load balancer; at least two. */
  readonly network: INetwork;
  /**
   * ACM certificate for the HTTPS listener.
   * @default - none: a plain HTTP listener and a synth-time warning (dev only)
   */
  readonly certificateArn?: string;
  /** TLS policy of the HTTPS listener; must offer TLS 1.3 with TLS 1.2 as the floor or higher. @default 'ELBSecurityPolicy-TLS13-1-2-2021-06' */
  readonly sslPolicy?: string;
  /**
   * Redirect HTTP (port 80) to HTTPS with a 301. Only with a certificate; false closes port 80 entirely.
   * @default true
   */
  readonly redirectHttp?: boolean;
  /**
   * Seconds an idle connection stays open; streamed completions pause between tokens. Keep the handler's
   * keep-alive timeout above it, or the ALB reuses connections the handler already closed (intermittent 502s).
   * @default 300
   */
  readonly idleTimeoutSeconds?: number;
  /** Permit an idle timeout below 300 s, which cuts long streamed completions. @default false */
  readonly allowShortIdleTimeout?: boolean;
  /** Refuse to delete the load balancer through the API. @default true */
  readonly deletionProtection?: boolean;
  /** Write access logs to an S3 bucket created here. @default true */
  readonly accessLogs?: boolean;
  /** Days access logs are kept. @default 90 */
  readonly accessLogRetentionDays?: number;
  /**
   * IPv4 ranges allowed to reach the listeners (80/443 only). The load balancer is IPv4-only, so no `::/0`.
   * @default ['0.0.0.0/0']
   */
  readonly ingressCidrs?: string[];
  /** An internal load balancer in the private subnets instead of an internet-facing one. @default false */
  readonly internal?: boolean;
  /**
   * Host name clients use, matching the certificate (a CNAME or alias to `dnsName` is created elsewhere); it makes `url`.
   * @default - the load balancer's own DNS name
   */
  readonly domainName?: string;
  /** Tags for the load balancer, its target groups and the log bucket. @default {} */
  readonly tags?: Record<string, string>;
}

export interface AddTargetsProps {
  /** The fleet to forward to; its `port` is the target group's port. */
  readonly target: IApplicationLoadBalancerTarget & { readonly port: number };
  /** Liveness path; it must answer 200 without calling the model or a database. @default '/healthz' */
  readonly healthCheckPath?: string;
  /** Seconds a deregistering target keeps serving in-flight requests (longest normal stream). @default 120 */
  readonly deregistrationDelaySeconds?: number;
}

const DEFAULT_SSL_POLICY = 'ELBSecurityPolicy-TLS13-1-2-2021-06';
const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4_CIDR = new RegExp(`^(${OCTET}\\.){3}${OCTET}\\/(\\d|[12]\\d|3[0-2])$`);
// Regions older than August 2022 deliver access logs from a regional ELB account (the service principal covers the
// newer ones). Public values from the ELB docs; the same table terraform-provider-aws' aws_elb_service_account uses,
// which errors in newer regions instead of falling back.
const LEGACY_ELB_ACCOUNTS: Record<string, string> = {
  'af-south-1': '098369216593', 'ap-east-1': '754344448648', 'ap-northeast-1': '582318560864',
  'ap-northeast-2': '600734575887', 'ap-northeast-3': '383597477331', 'ap-south-1': '718504428378',
  'ap-southeast-1': '114774131450', 'ap-southeast-2': '783225319266', 'ap-southeast-3': '589379963580',
  'ca-central-1': '985666609251', 'cn-north-1': '638102146993', 'cn-northwest-1': '037604701340',
  'eu-central-1': '054676820928', 'eu-north-1': '897822967062', 'eu-south-1': '635631232127',
  'eu-west-1': '156460612806', 'eu-west-2': '652711504416', 'eu-west-3': '009996457667',
  'me-south-1': '076674570225', 'sa-east-1': '507241528517', 'us-east-1': '127311923021',
  'us-east-2': '033677994240', 'us-gov-east-1': '190560391635', 'us-gov-west-1': '048591011584',
  'us-west-1': '027434742980', 'us-west-2': '797873946194',
};

/**
 * An Application Load Balancer: HTTPS with a TLS 1.2/1.3 policy and an HTTP → HTTPS redirect, invalid headers
 * dropped, defensive desync mitigation, a long idle timeout for streams, deletion protection and access logs to an
 * encrypted, private, expiring bucket. `addTargets` wires a fleet in one call.
 */
export class LoadBalancer extends Construct implements IConnectable {
  readonly connections: Connections;
  readonly securityGroup: SecurityGroup;
  readonly loadBalancer: Lb;
  /** The listener clients use (HTTPS with a certificate, HTTP without). */
  readonly listener: LbListener;
  readonly dnsName: string;
  readonly arn: string;
  readonly arnSuffix: string;
  readonly zoneId: string;
  /** 'https://<domainName or DNS name>' with a certificate, 'http://…' without. */
  readonly url: string;
  readonly accessLogBucket?: S3Bucket;
  private readonly network: INetwork;
  private readonly tags: Record<string, string>;
  private targetGroup?: LbTargetGroup;

  constructor(scope: Construct, id: string, props: LoadBalancerProps) {
    super(scope, id);
    this.network = props.network;
    this.tags = { Name: this.node.path, ...props.tags };
    const internal = props.internal ?? false;
    const subnetProp = internal ? 'network.privateSubnetIds' : 'network.publicSubnetIds';
    const subnets = internal ? props.network.privateSubnetIds : props.network.publicSubnetIds;
    const idleTimeout = props.idleTimeoutSeconds ?? 300;
    const retention = props.accessLogRetentionDays ?? 90;
    const ingressCidrs = props.ingressCidrs ?? ['0.0.0.0/0'];
    const sslPolicy = props.sslPolicy ?? DEFAULT_SSL_POLICY;

    checkIdList(this, subnetProp, subnets, 2, 'subnets in different availability zones (an ALB needs two)');
    checkPattern(this, 'certificateArn', props.certificateArn, /^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[0-9a-f-]{36}$/,
      "Use the ARN of an ACM certificate in the load balancer's region, e.g. arn:aws:acm:eu-west-1:123456789012:certificate/<uuid>.");
    checkPattern(this, 'sslPolicy', sslPolicy, /^ELBSecurityPolicy-TLS13-1-[23]-/,
      `Use a policy with TLS 1.3 and at least TLS 1.2, e.g. '${DEFAULT_SSL_POLICY}' or 'ELBSecurityPolicy-TLS13-1-3-2021-06'.`);
    checkPattern(this, 'domainName', props.domainName, /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/,
      "Use a lower-case host name such as 'api.example.com' (no scheme, no path).");
    checkInteger(this, 'idleTimeoutSeconds', idleTimeout, 1, 4000);
    if (idleTimeout < 300 && !props.allowShortIdleTimeout) {
      throw new PropError(this, 'idleTimeoutSeconds', idleTimeout, 'Streamed completions need at least 300; set allowShortIdleTimeout: true to accept cut streams.');
    }
    checkInteger(this, 'accessLogRetentionDays', retention, 1, 3650);
    ingressCidrs.forEach((cidr, i) => checkPattern(this, `ingressCidrs[${i}]`, cidr, IPV4_CIDR, "Use an IPv4 CIDR such as '203.0.113.0/24' (the load balancer is IPv4-only)."));

    this.securityGroup = new SecurityGroup(this, 'SecurityGroup', {
      vpcId: props.network.vpcId,
      description: `Load balancer ${this.node.path}: clients in, targets out`,
    });
    this.connections = this.securityGroup.connections;
    const https = props.certificateArn !== undefined;
    const redirect = https && (props.redirectHttp ?? true);
    for (const cidr of ingressCidrs) {
      const peer = cidr === '0.0.0.0/0' ? Peer.anyIpv4() : Peer.ipv4(cidr);
      if (https) this.connections.allowFromPeer(peer, Port.tcp(443), `HTTPS from clients (${cidr})`);
      if (redirect) this.connections.allowFromPeer(peer, Port.tcp(80), `HTTP from clients (${cidr}), answered with a redirect to HTTPS`);
      if (!https) this.connections.allowFromPeer(peer, Port.tcp(80), `HTTP from clients (${cidr}), dev only: no certificate`);
    }

    const logs = props.accessLogs ?? true ? this.createAccessLogBucket(retention) : undefined;
    this.accessLogBucket = logs?.bucket;

    this.loadBalancer = new Lb(this, 'Resource', {
      namePrefix: namePrefix(this.node.id, 'alb'),
      loadBalancerType: 'application',
      internal,
      subnets,
      securityGroups: [this.securityGroup.securityGroupId],
      dropInvalidHeaderFields: true,
      desyncMitigationMode: 'defensive',
      idleTimeout,
      enableDeletionProtection: props.deletionProtection ?? true,
      accessLogs: this.accessLogBucket ? { bucket: this.accessLogBucket.id, enabled: true } : undefined,
      tags: this.tags,
      // The ALB checks its write access when logging is enabled: the bucket policy must exist first.
      dependsOn: logs?.ready,
    });
    this.arn = this.loadBalancer.arn;
    this.arnSuffix = this.loadBalancer.arnSuffix;
    this.dnsName = this.loadBalancer.dnsName;
    this.zoneId = this.loadBalancer.zoneId;
    this.url = `${https ? 'https' : 'http'}://${props.domainName ?? this.dnsName}`;

    // Until addTargets, the listener answers 503 rather than forwarding nowhere.
    const noTargets = [{ type: 'fixed-response', fixedResponse: { contentType: 'text/plain', statusCode: '503', messageBody: 'No targets registered' } }];
    if (https) {
      this.listener = new LbListener(this, 'Https', {
        loadBalancerArn: this.arn,
        port: 443,
        protocol: 'HTTPS',
        certificateArn: props.certificateArn,
        sslPolicy,
        defaultAction: noTargets,
        tags: this.tags,
      });
      if (redirect) {
        new LbListener(this, 'HttpRedirect', {
          loadBalancerArn: this.arn,
          port: 80,
          protocol: 'HTTP',
          defaultAction: [{ type: 'redirect', redirect: { protocol: 'HTTPS', port: '443', statusCode: 'HTTP_301' } }],
          tags: this.tags,
        });
      }
    } else {
      this.listener = new LbListener(this, 'Http', { loadBalancerArn: this.arn, port: 80, protocol: 'HTTP', defaultAction: noTargets, tags: this.tags });
      Annotations.of(this).addWarning(
        `No certificateArn: ${this.node.path} serves the API over plain HTTP on port 80. This is for development only; ` +
          'set certificateArn to an ACM certificate for HTTPS (TLS 1.2/1.3) with an HTTP → HTTPS redirect.',
      );
    }
  }

  /**
   * One call: a target group on the target's port (name_prefix + create_before_destroy), the ALB → target
   * security-group rule, the listener's default action and the target's registration (and its request-count scaling).
   */
  addTargets(id: string, props: AddTargetsProps): LbTargetGroup {
    if (this.targetGroup) {
      throw new Error(`${this.node.path}: addTargets('${id}'): the listener already forwards to '${this.targetGroup.node.id}'. ` +
        'A LoadBalancer serves one target group; put another fleet behind its own LoadBalancer.');
    }
    const deregistrationDelay = props.deregistrationDelaySeconds ?? 120;
    const healthCheckPath = props.healthCheckPath ?? '/healthz';
    checkInteger(this, 'target.port', props.target.port, 1, 65535);
    checkInteger(this, 'deregistrationDelaySeconds', deregistrationDelay, 0, 3600);
    checkPattern(this, 'healthCheckPath', healthCheckPath, /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]{0,1023}$/, "Use an absolute path such as '/healthz'.");

    const targetGroup = new LbTargetGroup(this, id, {
      namePrefix: namePrefix(id, 'tg'),
      port: props.target.port,
      protocol: 'HTTP',
      targetType: 'instance',
      vpcId: this.network.vpcId,
      // Streams differ wildly in length: route to the target with the fewest in flight. AWS rejects slow start with it.
      loadBalancingAlgorithmType: 'least_outstanding_requests',
      deregistrationDelay: `${deregistrationDelay}`,
      healthCheck: {
        enabled: true,
        path: healthCheckPath,
        protocol: 'HTTP',
        port: 'traffic-port',
        matcher: '200',
        interval: 15,
        timeout: 5,
        healthyThreshold: 2,
        unhealthyThreshold: 3,
      },
      stickiness: { type: 'lb_cookie', enabled: false },
      tags: { ...this.tags, Name: `${this.node.path}/${id}` },
      lifecycle: { createBeforeDestroy: true },
    });
    this.targetGroup = targetGroup;
    this.listener.putDefaultAction([{ type: 'forward', targetGroupArn: targetGroup.arn }]);
    props.target.connections.allowFrom(this, Port.tcp(props.target.port), `Load balancer ${this.node.path} to targets (traffic and health checks)`);
    props.target.attachToApplicationTargetGroup({
      arn: targetGroup.arn,
      arnSuffix: targetGroup.arnSuffix,
      loadBalancerArnSuffix: this.arnSuffix,
      dependsOn: [this.listener],
    });
    return targetGroup;
  }

  /** SSE-S3 (ALB log delivery rejects KMS), private, owner-enforced, versioned, expiring; writable only by ELB over TLS. */
  private createAccessLogBucket(retentionDays: number): { bucket: S3Bucket; ready: ITerraformDependable[] } {
    const bucket = new S3Bucket(this, 'AccessLogs', {
      bucketPrefix: `${sanitize(this.node.path).toLowerCase().slice(0, 26).replace(/-+$/, '')}-logs-`,
      tags: { ...this.tags, Name: `${this.node.path}/access-logs` },
    });
    const publicAccess = new S3BucketPublicAccessBlock(this, 'AccessLogsPublicAccess', {
      bucket: bucket.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true,
    });
    const encryption = new S3BucketServerSideEncryptionConfigurationA(this, 'AccessLogsEncryption', {
      bucket: bucket.id,
      rule: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: 'AES256' } }],
    });
    const ownership = new S3BucketOwnershipControls(this, 'AccessLogsOwnership', { bucket: bucket.id, rule: { objectOwnership: 'BucketOwnerEnforced' } });
    new S3BucketVersioningA(this, 'AccessLogsVersioning', { bucket: bucket.id, versioningConfiguration: { status: 'Enabled' } });
    new S3BucketLifecycleConfiguration(this, 'AccessLogsLifecycle', {
      bucket: bucket.id,
      rule: [{
        id: 'expire-access-logs',
        status: 'Enabled',
        filter: [{}],
        expiration: [{ days: retentionDays }],
        noncurrentVersionExpiration: [{ noncurrentDays: 1 }],
        abortIncompleteMultipartUpload: [{ daysAfterInitiation: 1 }],
      }],
    });

    const partition = new DataAwsPartition(this, 'Partition');
    const region = new DataAwsRegion(this, 'Region');
    const account = new DataAwsCallerIdentity(this, 'Account');
    const logObjects = `${bucket.arn}/AWSLogs/${account.accountId}/*`;
    // In regions without a legacy ELB account the lookup falls back to this account, which grants nothing new.
    const legacyAccount = Fn.lookup(LEGACY_ELB_ACCOUNTS, region.region, account.accountId);
    const policy = new DataAwsIamPolicyDocument(this, 'AccessLogsPolicyDocument', {
      statement: [
        {
          sid: 'ElbLogDelivery',
          effect: 'Allow',
          principals: [{ type: 'Service', identifiers: ['logdelivery.elasticloadbalancing.amazonaws.com'] }],
          actions: ['s3:PutObject'],
          resources: [logObjects],
        },
        {
          sid: 'ElbLogDeliveryLegacyRegions',
          effect: 'Allow',
          principals: [{ type: 'AWS', identifiers: [`arn:${partition.partition}:iam::${legacyAccount}:root`] }],
          actions: ['s3:PutObject'],
          resources: [logObjects],
        },
        {
          sid: 'DenyInsecureTransport',
          effect: 'Deny',
          principals: [{ type: '*', identifiers: ['*'] }],
          actions: ['s3:*'],
          resources: [bucket.arn, `${bucket.arn}/*`],
          condition: [{ test: 'Bool', variable: 'aws:SecureTransport', values: ['false'] }],
        },
      ],
    });
    // S3 rejects concurrent configuration calls on one bucket ("conflicting conditional operation"): policy after the block.
    const bucketPolicy = new S3BucketPolicy(this, 'AccessLogsPolicy', { bucket: bucket.id, policy: policy.json, dependsOn: [publicAccess] });
    return { bucket, ready: [bucketPolicy, encryption, ownership, publicAccess] };
  }
}

/** ALB and target-group name prefixes are limited to 6 characters; Terraform appends a unique suffix. */
function namePrefix(id: string, fallback: string): string {
  return `${sanitize(id).toLowerCase().slice(0, 5).replace(/-+$/, '') || fallback}-`;
}
