import { CloudwatchLogGroup } from '@cdktf/provider-aws/lib/cloudwatch-log-group';
import { DataAwsAvailabilityZones } from '@cdktf/provider-aws/lib/data-aws-availability-zones';
import { DataAwsIamPolicyDocument } from '@cdktf/provider-aws/lib/data-aws-iam-policy-document';
import { DataAwsRegion } from '@cdktf/provider-aws/lib/data-aws-region';
import { Eip } from '@cdktf/provider-aws/lib/eip';
import { FlowLog } from '@cdktf/provider-aws/lib/flow-log';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy';
import { InternetGateway } from '@cdktf/provider-aws/lib/internet-gateway';
import { NatGateway } from '@cdktf/provider-aws/lib/nat-gateway';
import { Route } from '@cdktf/provider-aws/lib/route';
import { RouteTable } from '@cdktf/provider-aws/lib/route-table';
import { RouteTableAssociation } from '@cdktf/provider-aws/lib/route-table-association';
import { Subnet } from '@cdktf/provider-aws/lib/subnet';
import { Vpc } from '@cdktf/provider-aws/lib/vpc';
import { VpcEndpoint } from '@cdktf/provider-aws/lib/vpc-endpoint';
import { Fn } from 'cdktf';
import { Construct } from 'constructs';
import { checkIdList, checkInteger, checkOneOf, PropError } from './errors';

/** The subnets and VPC every other construct needs; `Network` and existing VPCs both provide it. */
export interface INetwork {
  readonly vpcId: string;
  /** Subnets with a route to an internet gateway (load balancer). */
  readonly publicSubnetIds: string[];
  /** Subnets without public addresses (fleet, cache, database), in at least two AZs. */
  readonly privateSubnetIds: string[];
}

export interface ExistingNetwork extends INetwork {
  /**
   * Private route tables, so the construct can add a DynamoDB gateway endpoint to them.
   * @default - no endpoint is added
   */
  readonly privateRouteTableIds?: string[];
}

export interface NetworkProps {
  /**
   * Adopt an existing VPC instead of creating one. Every other prop is then ignored.
   * @default - a new VPC
   */
  readonly existing?: ExistingNetwork;
  /** IPv4 range of the new VPC, /16 to /24. @default '10.0.0.0/16' */
  readonly cidr?: string;
  /** Number of availability zones used, 2 to 6. @default 2 */
  readonly azCount?: number;
  /**
   * Explicit availability zone names; must be distinct and as many as `azCount`.
   * @default - the first `azCount` zones the region reports as available
   */
  readonly availabilityZones?: string[];
  /**
   * NAT gateways: one per AZ keeps egress up when a zone fails; one in total costs less.
   * @default 'per-az'
   */
  readonly natGateways?: 'per-az' | 'single';
  /** Keep VPC flow logs (all traffic) in CloudWatch Logs. @default true */
  readonly flowLogs?: boolean;
  /** Retention of the flow-log group in days. @default 90 */
  readonly flowLogRetentionDays?: number;
}

/**
 * A VPC with public and private subnets in ≥ 2 AZs, NAT for egress, gateway endpoints for DynamoDB and S3
 * (job-table traffic and package downloads stay off the NAT), and flow logs; or an adopted existing VPC.
 */
export class Network extends Construct implements INetwork {
  readonly vpcId: string;
  readonly publicSubnetIds: string[];
  readonly privateSubnetIds: string[];
  readonly privateRouteTableIds: string[];

  constructor(scope: Construct, id: string, props: NetworkProps = {}) {
    super(scope, id);
    const region = new DataAwsRegion(this, 'Region');
    if (props.existing) {
      const existing = props.existing;
      checkIdList(this, 'existing.privateSubnetIds', existing.privateSubnetIds, 2, 'private subnets in different availability zones');
      checkIdList(this, 'existing.publicSubnetIds', existing.publicSubnetIds, 2, 'public subnets in different availability zones (an ALB needs two)');
      this.vpcId = existing.vpcId;
      this.publicSubnetIds = existing.publicSubnetIds;
      this.privateSubnetIds = existing.privateSubnetIds;
      this.privateRouteTableIds = existing.privateRouteTableIds ?? [];
      this.addGatewayEndpoints(region.region);
      return;
    }

    const cidr = props.cidr ?? '10.0.0.0/16';
    const azCount = props.availabilityZones?.length ?? props.azCount ?? 2;
    const prefix = parseCidr(this, cidr);
    checkInteger(this, 'azCount', azCount, 2, 6);
    checkOneOf(this, 'natGateways', props.natGateways, ['per-az', 'single']);
    checkInteger(this, 'flowLogRetentionDays', props.flowLogRetentionDays, 1, 3653);
    if (props.availabilityZones) {
      checkIdList(this, 'availabilityZones', props.availabilityZones, 2, 'distinct availability zones');
      if (props.azCount !== undefined && props.azCount !== props.availabilityZones.length) {
        throw new PropError(this, 'azCount', props.azCount, `It must match availabilityZones (${props.availabilityZones.length}); drop one of the two.`);
      }
    }

    const zones = props.availabilityZones ?? (() => {
      const available = new DataAwsAvailabilityZones(this, 'Zones', { state: 'available', filter: [{ name: 'opt-in-status', values: ['opt-in-not-required'] }] });
      return Array.from({ length: azCount }, (_, i) => Fn.element(available.names, i));
    })();

    const vpc = new Vpc(this, 'Vpc', { cidrBlock: cidr, enableDnsHostnames: true, enableDnsSupport: true, tags: { Name: this.node.path } });
    this.vpcId = vpc.id;
    const igw = new InternetGateway(this, 'InternetGateway', { vpcId: vpc.id, tags: { Name: this.node.path } });

    // Subnets are /prefix+4 (16 slots): public in slots 0..5, private in 8..13, so the plan shows literal CIDRs.
    const subnetCidr = (slot: number) => carve(cidr, prefix, 4, slot);
    const publicRoutes = new RouteTable(this, 'PublicRoutes', { vpcId: vpc.id, tags: { Name: `${this.node.path}/public` } });
    new Route(this, 'PublicDefaultRoute', { routeTableId: publicRoutes.id, destinationCidrBlock: '0.0.0.0/0', gatewayId: igw.id });

    const nats: NatGateway[] = [];
    this.publicSubnetIds = [];
    this.privateSubnetIds = [];
    this.privateRouteTableIds = [];
    zones.forEach((zone, i) => {
      const pub = new Subnet(this, `Public${i}`, {
        vpcId: vpc.id, availabilityZone: zone, cidrBlock: subnetCidr(i), mapPublicIpOnLaunch: false,
        tags: { Name: `${this.node.path}/public-${i}`, Tier: 'public' },
      });
      new RouteTableAssociation(this, `Public${i}Routes`, { subnetId: pub.id, routeTableId: publicRoutes.id });
      this.publicSubnetIds.push(pub.id);
      if (props.natGateways !== 'single' || i === 0) {
        const eip = new Eip(this, `NatAddress${i}`, { domain: 'vpc', tags: { Name: `${this.node.path}/nat-${i}` } });
        nats.push(new NatGateway(this, `Nat${i}`, { allocationId: eip.id, subnetId: pub.id, tags: { Name: `${this.node.path}/nat-${i}` }, dependsOn: [igw] }));
      }
      const priv = new Subnet(this, `Private${i}`, {
        vpcId: vpc.id, availabilityZone: zone, cidrBlock: subnetCidr(8 + i),
        tags: { Name: `${this.node.path}/private-${i}`, Tier: 'private' },
      });
      const routes = new RouteTable(this, `PrivateRoutes${i}`, { vpcId: vpc.id, tags: { Name: `${this.node.path}/private-${i}` } });
      new Route(this, `Private${i}DefaultRoute`, { routeTableId: routes.id, destinationCidrBlock: '0.0.0.0/0', natGatewayId: nats[nats.length - 1].id });
      new RouteTableAssociation(this, `Private${i}Routes`, { subnetId: priv.id, routeTableId: routes.id });
      this.privateSubnetIds.push(priv.id);
      this.privateRouteTableIds.push(routes.id);
    });
    this.addGatewayEndpoints(region.region);

    if (props.flowLogs ?? true) this.addFlowLogs(vpc.id, props.flowLogRetentionDays ?? 90);
  }

  private addGatewayEndpoints(regionName: string): void {
    if (this.privateRouteTableIds.length === 0) return;
    for (const service of ['dynamodb', 's3']) {
      new VpcEndpoint(this, `${service}Endpoint`, {
        vpcId: this.vpcId,
        serviceName: `com.amazonaws.${regionName}.${service}`,
        vpcEndpointType: 'Gateway',
        routeTableIds: this.privateRouteTableIds,
        tags: { Name: `${this.node.path}/${service}` },
      });
    }
  }

  private addFlowLogs(vpcId: string, retentionDays: number): void {
    const group = new CloudwatchLogGroup(this, 'FlowLogGroup', { namePrefix: `/vpc/flow-logs/${this.node.path}/`, retentionInDays: retentionDays });
    const trust = new DataAwsIamPolicyDocument(this, 'FlowLogTrust', {
      statement: [{ effect: 'Allow', actions: ['sts:AssumeRole'], principals: [{ type: 'Service', identifiers: ['vpc-flow-logs.amazonaws.com'] }] }],
    });
    const role = new IamRole(this, 'FlowLogRole', { namePrefix: 'vpc-flow-logs-', description: `Delivers flow logs of ${this.node.path}`, assumeRolePolicy: trust.json });
    const access = new DataAwsIamPolicyDocument(this, 'FlowLogAccess', {
      statement: [{ effect: 'Allow', actions: ['logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents'], resources: [group.arn, `${group.arn}:*`] }],
    });
    new IamRolePolicy(this, 'FlowLogPolicy', { role: role.id, name: 'deliver-flow-logs', policy: access.json });
    new FlowLog(this, 'FlowLog', { vpcId, trafficType: 'ALL', logDestination: group.arn, iamRoleArn: role.arn, maxAggregationInterval: 60 });
  }
}

function parseCidr(scope: Construct, cidr: string): number {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  const prefix = match ? Number(match[5]) : NaN;
  if (!match || match.slice(1, 5).some((octet) => Number(octet) > 255) || prefix < 16 || prefix > 24) {
    throw new PropError(scope, 'cidr', cidr, "Use an IPv4 range from /16 to /24, e.g. '10.0.0.0/16'.");
  }
  const address = toInt(cidr.split('/')[0]);
  if ((address & mask(prefix)) >>> 0 !== address) {
    throw new PropError(scope, 'cidr', cidr, `The address has host bits set; use ${fromInt((address & mask(prefix)) >>> 0)}/${prefix}.`);
  }
  return prefix;
}

function carve(cidr: string, prefix: number, newBits: number, slot: number): string {
  const base = toInt(cidr.split('/')[0]);
  const size = 2 ** (32 - prefix - newBits);
  return `${fromInt((base + slot * size) >>> 0)}/${prefix + newBits}`;
}

const mask = (prefix: number) => (prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0);
const toInt = (ip: string) => ip.split('.').reduce((n, octet) => (n * 256 + Number(octet)) >>> 0, 0);
const fromInt = (n: number) => [24, 16, 8, 0].map((shift) => (n >>> shift) & 255).join('.');
