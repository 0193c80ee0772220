import { Attrs, block, blocks, isRef, isTrue, list, PlanElement, referencedAddresses, show } from './plan';
import { always, PolicyRule, prodError, prodOnly, problems, RuleContext } from './rule';

const isApplicationLb = (el: PlanElement) => el.attrs.load_balancer_type === undefined || el.attrs.load_balancer_type === 'application';
const listenerProtocol = (attrs: Attrs): string => String(attrs.protocol ?? 'HTTP').toUpperCase();

/** TLS 1.2 or newer only. */
const TLS12_POLICY = /^ELBSecurityPolicy-(TLS13-|TLS-1-2-|FS-1-2-)/;
/** TLS 1.2+ with forward-secret AEAD ciphers only (the TLS13 family and the FS "Res" policies). */
const STRONG_POLICY = /^ELBSecurityPolicy-(TLS13-|FS-1-2-Res-)/;
/** Streamed completions hold a connection idle between tokens and before the first one. */
export const MIN_IDLE_TIMEOUT_SECONDS = 300;

/** One ingress permission, from an inline block or a rule resource. */
interface Ingress {
  readonly where: string;
  readonly world: string | undefined;
  readonly protocol: string;
  readonly from: number;
  readonly to: number;
  /** Addresses of the security groups the permission applies to. */
  readonly groups: string[];
}

const WORLD_V4 = '0.0.0.0/0';
const WORLD_V6 = '::/0';

function portRange(protocol: string, from: unknown, to: unknown): [number, number] {
  if (protocol === '-1' || protocol === 'all' || from === undefined) return [0, 65535];
  return [Number(from), Number(to ?? from)];
}

function ingressOf(el: PlanElement): Ingress[] {
  const { type, attrs, address } = el;
  const make = (where: string, cidrs: unknown[], protocol: unknown, from: unknown, to: unknown, groups: string[]): Ingress => {
    const p = String(protocol ?? '-1').toLowerCase();
    const [lo, hi] = portRange(p, from, to);
    return { where, world: cidrs.find((c) => c === WORLD_V4 || c === WORLD_V6) as string | undefined, protocol: p, from: lo, to: hi, groups };
  };
  if (type === 'aws_security_group') {
    return blocks(attrs.ingress).map((r, i) => make(`ingress[${i}]`, [...list(r.cidr_blocks), ...list(r.ipv6_cidr_blocks)], r.protocol, r.from_port, r.to_port, [address]));
  }
  if (type === 'aws_security_group_rule') {
    if (attrs.type !== 'ingress') return [];
    return [make('rule', [...list(attrs.cidr_blocks), ...list(attrs.ipv6_cidr_blocks)], attrs.protocol, attrs.from_port, attrs.to_port, referencedAddresses(attrs.security_group_id))];
  }
  return [make('rule', [attrs.cidr_ipv4, attrs.cidr_ipv6], attrs.ip_protocol, attrs.from_port, attrs.to_port, referencedAddresses(attrs.security_group_id))];
}

const LB_TYPES = ['aws_lb', 'aws_alb'];
const LISTENER_TYPES = ['aws_lb_listener', 'aws_alb_listener'];
const INGRESS_TYPES = ['aws_security_group', 'aws_security_group_rule', 'aws_vpc_security_group_ingress_rule'];
const hasIngress = (el: PlanElement) => ingressOf(el).length > 0;

function worldOpenTo(port: number, name: string) {
  return (el: PlanElement) =>
    problems(ingressOf(el).map((r) => r.world && r.from <= port && port <= r.to && `${r.where} opens ${name} (port ${port}) to ${r.world}`));
}

function describePorts(r: Ingress): string {
  return r.protocol === '-1' || r.protocol === 'all' ? 'all traffic' : r.from === r.to ? `${r.protocol}/${r.from}` : `${r.protocol}/${r.from}-${r.to}`;
}

/** Security groups attached to an application load balancer. */
function loadBalancerGroups(ctx: RuleContext): Set<string> {
  return new Set(LB_TYPES.flatMap((t) => ctx.ofType(t)).filter(isApplicationLb).flatMap((lb) => referencedAddresses(lb.attrs.security_groups)));
}

export const NETWORK_RULES: PolicyRule[] = [
  {
    id: 'CKV_AWS_91',
    title: 'Load balancer access logs are enabled',
    level: prodError,
    appliesTo: LB_TYPES,
    applies: isApplicationLb,
    check: ({ attrs }) => {
      const logs = block(attrs.access_logs);
      return logs && isTrue(logs.enabled) && logs.bucket ? undefined : `access_logs ${logs ? `enabled is ${show(logs.enabled)} (the provider defaults to false)` : 'is not configured'}`;
    },
    fix: 'Set access_logs { bucket = ..., enabled = true } (LoadBalancer accessLogs, the default).',
  },
  {
    id: 'CKV_AWS_131',
    title: 'Application load balancers drop invalid HTTP header fields',
    level: always('error'),
    appliesTo: LB_TYPES,
    applies: isApplicationLb,
    check: ({ attrs }) => (isTrue(attrs.drop_invalid_header_fields) ? undefined : `drop_invalid_header_fields is ${show(attrs.drop_invalid_header_fields)}`),
    fix: 'Set drop_invalid_header_fields = true.',
  },
  {
    id: 'CKV_AWS_328',
    title: 'Application load balancers mitigate HTTP desync',
    level: always('error'),
    appliesTo: LB_TYPES,
    applies: isApplicationLb,
    check: ({ attrs }) => {
      const mode = attrs.desync_mitigation_mode;
      return mode === undefined || mode === 'defensive' || mode === 'strictest' || isRef(mode) ? undefined : `desync_mitigation_mode is ${show(mode)}`;
    },
    fix: 'Set desync_mitigation_mode = "defensive" (the default) or "strictest".',
  },
  {
    id: 'CKV_AWS_150',
    title: 'Load balancers have deletion protection',
    level: prodOnly,
    appliesTo: LB_TYPES,
    check: ({ attrs }) => (isTrue(attrs.enable_deletion_protection) ? undefined : `enable_deletion_protection is ${show(attrs.enable_deletion_protection)}`),
    fix: 'Set enable_deletion_protection = true (LoadBalancer deletionProtection, the default).',
  },
  {
    id: 'IFL_ALB_IDLE_TIMEOUT',
    title: `Application load balancer idle timeout survives streamed completions (>= ${MIN_IDLE_TIMEOUT_SECONDS} s)`,
    level: always('error'),
    appliesTo: LB_TYPES,
    applies: isApplicationLb,
    check: ({ attrs }) => {
      const t = attrs.idle_timeout;
      if (isRef(t) || Number(t) >= MIN_IDLE_TIMEOUT_SECONDS) return undefined;
      return `idle_timeout is ${t === undefined ? 'unset (60 s)' : `${t} s`}: a model that thinks longer than that before the next token gets its stream cut with a 504`;
    },
    fix: `Set idle_timeout >= ${MIN_IDLE_TIMEOUT_SECONDS} (LoadBalancer idleTimeoutSeconds, default 300) and keep the handler's keep-alive timeout above it.`,
  },
  {
    id: 'CKV_AWS_2',
    title: 'Load balancer listeners serve HTTPS or redirect HTTP to HTTPS',
    level: prodError,
    appliesTo: LISTENER_TYPES,
    applies: ({ attrs }) => ['HTTP', 'HTTPS'].includes(listenerProtocol(attrs)),
    check: ({ attrs }) => {
      if (listenerProtocol(attrs) === 'HTTPS') return undefined;
      const actions = blocks(attrs.default_action);
      const redirects = actions.length > 0 && actions.every((a) => a.type === 'redirect' && String(block(a.redirect)?.protocol).toUpperCase() === 'HTTPS');
      return redirects ? undefined : `port ${show(attrs.port)} serves plain HTTP (default_action ${actions.map((a) => a.type).join(', ') || 'none'})`;
    },
    fix: 'Give the load balancer a certificate (LoadBalancer certificateArn): HTTPS on 443 and an HTTP listener whose default action redirects to HTTPS (status HTTP_301).',
    related: ['CKV2_AWS_20'],
  },
  {
    id: 'CKV_AWS_103',
    title: 'TLS listeners accept TLS 1.2 or newer only',
    level: always('error'),
    appliesTo: LISTENER_TYPES,
    applies: ({ attrs }) => ['HTTPS', 'TLS'].includes(listenerProtocol(attrs)),
    check: ({ attrs }) => {
      const policy = attrs.ssl_policy;
      if (isRef(policy) || (typeof policy === 'string' && TLS12_POLICY.test(policy))) return undefined;
      return `ssl_policy is ${policy === undefined ? 'unset (ELBSecurityPolicy-2016-08, TLS 1.0)' : show(policy)}`;
    },
    fix: 'Set ssl_policy = "ELBSecurityPolicy-TLS13-1-2-2021-06" (LoadBalancer sslPolicy default) or another TLS13-/TLS-1-2-/FS-1-2- policy.',
  },
  {
    id: 'CKV2_AWS_74',
    title: 'TLS listeners use forward-secret ciphers',
    level: always('warning'),
    appliesTo: LISTENER_TYPES,
    applies: ({ attrs }) => ['HTTPS', 'TLS'].includes(listenerProtocol(attrs)),
    check: ({ attrs }) => {
      const policy = attrs.ssl_policy;
      return isRef(policy) || (typeof policy === 'string' && STRONG_POLICY.test(policy)) ? undefined : `ssl_policy is ${show(policy ?? 'ELBSecurityPolicy-2016-08')}`;
    },
    fix: 'Use a TLS13 policy (e.g. ELBSecurityPolicy-TLS13-1-2-2021-06) or an FS-1-2-Res policy.',
  },
  {
    id: 'CKV_AWS_261',
    title: 'HTTP target groups define a health-check path',
    level: always('error'),
    appliesTo: ['aws_lb_target_group', 'aws_alb_target_group'],
    applies: ({ attrs }) => attrs.target_type !== 'lambda' && attrs.target_type !== 'alb' && ['HTTP', 'HTTPS'].includes(String(attrs.protocol ?? 'HTTP').toUpperCase()),
    check: ({ attrs }) => {
      const hc = block(attrs.health_check);
      if (!hc) return 'no health_check block: the default "/" may call the model or a database';
      if (hc.enabled === false) return 'health_check.enabled is false';
      return hc.path ? undefined : 'health_check.path is unset';
    },
    fix: 'Set health_check { path = "/healthz" } on a liveness path that calls no dependency (LoadBalancer.addTargets healthCheckPath).',
  },
  {
    id: 'CKV_AWS_23',
    title: 'Security groups and their rules are described',
    level: always('error'),
    appliesTo: ['aws_security_group', 'aws_security_group_rule', 'aws_vpc_security_group_ingress_rule', 'aws_vpc_security_group_egress_rule'],
    check: ({ type, attrs }) => {
      const blank = (d: unknown) => typeof d !== 'string' || d.trim() === '';
      if (type !== 'aws_security_group') return blank(attrs.description) ? 'description is empty' : undefined;
      return problems([
        (blank(attrs.description) || attrs.description === 'Managed by Terraform') && `description is ${show(attrs.description ?? 'unset ("Managed by Terraform")')}`,
        ...['ingress', 'egress'].flatMap((dir) => blocks(attrs[dir]).map((r, i) => blank(r.description) && `${dir}[${i}] has no description`)),
      ]);
    },
    fix: 'Describe what the group protects and why each rule exists (SecurityGroup and Connections require it).',
  },
  {
    id: 'CKV_AWS_24',
    title: 'No ingress from the internet to SSH (22)',
    level: always('error'),
    appliesTo: INGRESS_TYPES,
    applies: hasIngress,
    check: worldOpenTo(22, 'SSH'),
    fix: 'Remove the rule; use SSM Session Manager (the instance roles include AmazonSSMManagedInstanceCore).',
  },
  {
    id: 'CKV_AWS_25',
    title: 'No ingress from the internet to RDP (3389)',
    level: always('error'),
    appliesTo: INGRESS_TYPES,
    applies: hasIngress,
    check: worldOpenTo(3389, 'RDP'),
    fix: 'Remove the rule; use SSM Session Manager or Fleet Manager.',
  },
  {
    id: 'AVD-AWS-0107',
    title: "No ingress from the internet except HTTP/HTTPS to a load balancer's security group",
    level: always('error'),
    appliesTo: INGRESS_TYPES,
    applies: hasIngress,
    check: (el, ctx) => {
      const open = ingressOf(el).filter((r) => r.world);
      if (open.length === 0) return undefined;
      const lbGroups = loadBalancerGroups(ctx);
      return problems(open.map((r) => {
        const web = (r.protocol === 'tcp' || r.protocol === '6') && r.from === r.to && (r.from === 80 || r.from === 443);
        if (web && r.groups.length > 0 && r.groups.every((g) => lbGroups.has(g))) return undefined;
        return `${r.where} opens ${describePorts(r)} to ${r.world}${web ? ' on a group no application load balancer uses' : ''}`;
      }));
    },
    fix: 'Reach internal tiers through security-group references (connections.allowFrom); only the load balancer group may accept 80/443 from the internet.',
    related: ['CKV_AWS_260', 'CKV_AWS_277'],
  },
];
