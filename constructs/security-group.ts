import { SecurityGroup as TfSecurityGroup } from '@cdktf/provider-aws/lib/security-group';
import { VpcSecurityGroupEgressRule } from '@cdktf/provider-aws/lib/vpc-security-group-egress-rule';
import { VpcSecurityGroupIngressRule } from '@cdktf/provider-aws/lib/vpc-security-group-ingress-rule';
import { Construct } from 'constructs';
import { PropError } from './errors';

/** A protocol and port range for a security-group rule. */
export class Port {
  static tcp(port: number): Port {
    return new Port('tcp', port, port, `tcp ${port}`);
  }
  static tcpRange(from: number, to: number): Port {
    return new Port('tcp', from, to, `tcp ${from}-${to}`);
  }
  static allTcp(): Port {
    return new Port('tcp', 0, 65535, 'all tcp');
  }
  static allTraffic(): Port {
    return new Port('-1', undefined, undefined, 'all traffic');
  }
  private constructor(
    readonly protocol: string,
    readonly fromPort: number | undefined,
    readonly toPort: number | undefined,
    readonly label: string,
  ) {}
  /** Stable fragment for construct ids. */
  get id(): string {
    return this.protocol === '-1' ? 'all' : this.fromPort === this.toPort ? `${this.protocol}${this.fromPort}` : `${this.protocol}${this.fromPort}-${this.toPort}`;
  }
}

/** Anything that has security groups: a fleet, a cache, a database, a load balancer. */
export interface IConnectable {
  readonly connections: Connections;
}

/** A peer outside the VPC's security groups: an IPv4 or IPv6 range. */
export class Peer {
  static anyIpv4(): Peer {
    return new Peer({ cidrIpv4: '0.0.0.0/0' }, 'anywhere-ipv4');
  }
  static anyIpv6(): Peer {
    return new Peer({ cidrIpv6: '::/0' }, 'anywhere-ipv6');
  }
  static ipv4(cidr: string): Peer {
    return new Peer({ cidrIpv4: cidr }, cidr.replace(/[./]/g, '-'));
  }
  static prefixList(id: string): Peer {
    return new Peer({ prefixListId: id }, id);
  }
  private constructor(
    readonly target: { cidrIpv4?: string; cidrIpv6?: string; prefixListId?: string },
    readonly id: string,
  ) {}
}

/**
 * The security-group side of a construct. As in AWS CDK, `a.connections.allowFrom(b, port)` opens
 * ingress on a's group from b's group and the matching egress on b's group (when b restricts egress),
 * so internal tiers reference each other's groups and never CIDRs.
 */
export class Connections {
  /** The port other constructs reach this one on, for `allowDefaultPortFrom`. */
  readonly defaultPort?: Port;
  constructor(
    private readonly group: SecurityGroup,
    defaultPort?: Port,
  ) {
    this.defaultPort = defaultPort;
  }

  get securityGroupId(): string {
    return this.group.securityGroupId;
  }

  allowFrom(other: IConnectable, port: Port, description: string): void {
    this.group.addIngress({ group: other.connections.group }, port, description);
    other.connections.group.addEgress({ group: this.group }, port, description);
  }

  allowTo(other: IConnectable, port: Port, description: string): void {
    other.connections.allowFrom({ connections: this }, port, description);
  }

  allowDefaultPortFrom(other: IConnectable, description: string): void {
    if (!this.defaultPort) throw new Error(`${this.group.node.path} has no default port; call allowFrom with an explicit Port.`);
    this.allowFrom(other, this.defaultPort, description);
  }

  /** Ingress from a CIDR or prefix list: only for tiers that face clients (the load balancer). */
  allowFromPeer(peer: Peer, port: Port, description: string): void {
    this.group.addIngress({ peer }, port, description);
  }

  allowToPeer(peer: Peer, port: Port, description: string): void {
    this.group.addEgress({ peer }, port, description);
  }
}

export interface SecurityGroupProps {
  /** VPC the group belongs to. */
  readonly vpcId: string;
  /** What the group protects; required because reviewers and scanners (CKV_AWS_23) read it. */
  readonly description: string;
  /**
   * Allow every outbound connection. When false, egress is only what `allowTo` / `allowFrom` open.
   * @default false
   */
  readonly allowAllOutbound?: boolean;
  /** Port other tiers use to reach this group's members. @default - none */
  readonly defaultPort?: Port;
  /** Tags for the group. @default {} */
  readonly tags?: Record<string, string>;
}

type RulePeer = { group: SecurityGroup } | { peer: Peer };

/** A VPC security group whose rules are separate `aws_vpc_security_group_*_rule` resources, each described. */
export class SecurityGroup extends Construct implements IConnectable {
  /** Adopt a group created elsewhere; rules added through its connections are managed here. */
  static fromSecurityGroupId(scope: Construct, id: string, securityGroupId: string, options: { allowAllOutbound?: boolean; defaultPort?: Port } = {}): SecurityGroup {
    return new SecurityGroup(scope, id, { existingId: securityGroupId, allowAllOutbound: options.allowAllOutbound ?? true, defaultPort: options.defaultPort });
  }

  readonly securityGroupId: string;
  readonly connections: Connections;
  readonly allowAllOutbound: boolean;
  private readonly ruleIds = new Set<string>();

  constructor(scope: Construct, id: string, props: SecurityGroupProps | { existingId: string; allowAllOutbound: boolean; defaultPort?: Port }) {
    super(scope, id);
    this.allowAllOutbound = props.allowAllOutbound ?? false;
    if ('existingId' in props) {
      this.securityGroupId = props.existingId;
    } else {
      if (!props.description || props.description.trim().length < 8) {
        throw new PropError(this, 'description', props.description, 'Describe what the group protects in a few words (CKV_AWS_23).');
      }
      const group = new TfSecurityGroup(this, 'Resource', {
        namePrefix: `${sanitize(this.node.path)}-`,
        description: props.description,
        vpcId: props.vpcId,
        revokeRulesOnDelete: true,
        tags: { Name: this.node.path, ...props.tags },
        lifecycle: { createBeforeDestroy: true },
      });
      this.securityGroupId = group.id;
      if (this.allowAllOutbound) {
        this.addEgress({ peer: Peer.anyIpv4() }, Port.allTraffic(), 'All outbound IPv4 traffic (allowAllOutbound)');
      }
    }
    this.connections = new Connections(this, props.defaultPort);
  }

  /** @internal */
  addIngress(from: RulePeer, port: Port, description: string): void {
    this.addRule('Ingress', from, port, description);
  }

  /** @internal */
  addEgress(to: RulePeer, port: Port, description: string): void {
    // An egress rule inside "all outbound" would only be noise in the plan.
    if (this.allowAllOutbound && !(('peer' in to) && to.peer.id === 'anywhere-ipv4' && port.protocol === '-1')) return;
    this.addRule('Egress', to, port, description);
  }

  private addRule(direction: 'Ingress' | 'Egress', other: RulePeer, port: Port, description: string): void {
    if (!description.trim()) throw new Error(`${this.node.path}: every security-group rule needs a description (CKV_AWS_23).`);
    const otherId = 'group' in other ? sanitize(other.group.node.path) : other.peer.id;
    const id = `${direction}-${port.id}-${direction === 'Ingress' ? 'from' : 'to'}-${otherId}`;
    if (this.ruleIds.has(id)) return;
    this.ruleIds.add(id);
    const config = {
      securityGroupId: this.securityGroupId,
      description,
      ipProtocol: port.protocol,
      fromPort: port.fromPort,
      toPort: port.toPort,
      referencedSecurityGroupId: 'group' in other ? other.group.securityGroupId : undefined,
      ...('peer' in other ? other.peer.target : {}),
    };
    if (direction === 'Ingress') new VpcSecurityGroupIngressRule(this, id, config);
    else new VpcSecurityGroupEgressRule(this, id, config);
  }
}

/** Construct paths make readable, stable resource name prefixes. */
export function sanitize(path: string): string {
  return path.replace(/[^A-Za-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 60);
}
