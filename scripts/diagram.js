#!/usr/bin/env node
// `npm run diagram -- [stack ...|all] [--out dir]`: draws a synthesized stack for review. Resources are grouped
// by tier, detail resources (bucket settings, routes, policies) fold into the node they configure, and edges
// show who may connect to whom (security-group rules with their ports) plus the key wiring (ALB → target group
// → Auto Scaling group). Writes <stack>.dot and renders SVG and PNG with Graphviz.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { CliError, parseOptions, readCdktfConfig, resolveOutdir, readManifest, selectStacks, which, reporter, appendSummary, runMain } = require('./lib/cli');

const USAGE = `Usage: npm run diagram -- [stack ...|all] [options]

Draws each synthesized stack (default: all) from <outdir>/stacks/<stack>/cdk.tf.json.

Options:
  --out <dir>         where to write <stack>.dot/.svg/.png (default: <outdir>/diagrams)
  --outdir <dir>      synthesized output (default: $CDKTF_OUTDIR, cdktf.json "output", or cdktf.out)
  --format <list>     comma-separated: svg, png, dot (default: svg,png; the .dot is always written)
  --summary <file>    append a Markdown overview with a Mermaid flow, e.g. --summary "$GITHUB_STEP_SUMMARY"
  -h, --help          show this help`;

const TIERS = [
  { id: 'edge', label: 'Edge / load balancer', fill: '#e8f0fe', line: '#4a72c4' },
  { id: 'compute', label: 'Compute fleet', fill: '#e6f4ea', line: '#3c8d50' },
  { id: 'cache', label: 'Cache', fill: '#fdecea', line: '#c0504d' },
  { id: 'jobs', label: 'Jobs (DynamoDB)', fill: '#fff4e0', line: '#d08a1f' },
  { id: 'metrics', label: 'Metrics database', fill: '#f3e8fd', line: '#8250c4' },
  { id: 'network', label: 'Network', fill: '#eef2f5', line: '#6b7c8c' },
  { id: 'identity', label: 'Identity & secrets', fill: '#fdf7e0', line: '#a68a1a' },
  { id: 'observability', label: 'Observability', fill: '#e6f6f7', line: '#2b8c94' },
  { id: 'other', label: 'Other', fill: '#f5f5f5', line: '#999999' },
];

// What a resource is decides its tier; resources that any tier may own (security groups, instances, volumes,
// buckets, parameters) go where their construct path says.
const TYPE_TIERS = [
  [/^aws_(lb|alb)(_|$)|^aws_acm_|^aws_wafv2_/, 'edge'],
  [/^aws_autoscaling_|^aws_launch_template$/, 'compute'],
  [/^aws_elasticache_/, 'cache'],
  [/^aws_dynamodb_/, 'jobs'],
  [/^aws_dlm_/, 'metrics'],
  [/^aws_(vpc|subnet|route|route_table|internet_gateway|egress_only_internet_gateway|nat_gateway|eip|vpc_endpoint|network_acl|flow_log|default_[a-z_]+)(_|$)/, 'network'],
  [/^aws_(iam|secretsmanager|kms)_|^random_/, 'identity'],
  [/^aws_(cloudwatch|sns)_/, 'observability'],
];
const PATH_TIERS = [
  [/load.?balancer|^alb$|^lb$|listener|^edge$/i, 'edge'],
  [/metric|timescale|database|^db$/i, 'metrics'],
  [/cache|redis|valkey/i, 'cache'],
  [/^jobs?$|table|dynamo/i, 'jobs'],
  [/fleet|^asg$|^api$|handler|launch/i, 'compute'],
  [/network|^vpc$|subnet/i, 'network'],
];

const TYPE_NAMES = {
  aws_lb: 'Application Load Balancer',
  aws_lb_listener: 'Listener',
  aws_lb_target_group: 'Target group',
  aws_autoscaling_group: 'Auto Scaling group',
  aws_launch_template: 'Launch template',
  aws_elasticache_replication_group: 'ElastiCache replication group',
  aws_elasticache_subnet_group: 'Cache subnet group',
  aws_elasticache_parameter_group: 'Cache parameter group',
  aws_dynamodb_table: 'DynamoDB table',
  aws_instance: 'EC2 instance',
  aws_ebs_volume: 'EBS volume',
  aws_dlm_lifecycle_policy: 'Snapshot policy (DLM)',
  aws_vpc: 'VPC',
  aws_subnet: 'Subnet',
  aws_route_table: 'Route table',
  aws_internet_gateway: 'Internet gateway',
  aws_nat_gateway: 'NAT gateway',
  aws_eip: 'Elastic IP',
  aws_vpc_endpoint: 'VPC endpoint',
  aws_flow_log: 'VPC flow log',
  aws_security_group: 'Security group',
  aws_iam_role: 'IAM role',
  aws_iam_instance_profile: 'Instance profile',
  aws_iam_policy: 'IAM policy',
  aws_secretsmanager_secret: 'Secret',
  aws_kms_key: 'KMS key',
  aws_cloudwatch_log_group: 'Log group',
  aws_cloudwatch_metric_alarm: 'Alarm',
  aws_s3_bucket: 'S3 bucket',
  aws_s3_object: 'S3 object',
  aws_ssm_parameter: 'SSM parameter',
  random_password: 'Generated password',
};

/** A literal detail worth a second line: instance type, capacities, engine, endpoint service. */
const DETAILS = {
  aws_lb: (r) => [r.internal === true ? 'internal' : 'internet-facing', r.load_balancer_type],
  aws_autoscaling_group: (r) => [num(r.min_size) !== undefined && num(r.max_size) !== undefined ? `${r.min_size}–${r.max_size} instances` : undefined],
  aws_launch_template: (r) => [r.instance_type],
  aws_instance: (r) => [r.instance_type],
  aws_elasticache_replication_group: (r) => [r.engine && `${r.engine} ${r.engine_version ?? ''}`.trim(), r.node_type],
  aws_dynamodb_table: (r) => [r.billing_mode === 'PAY_PER_REQUEST' ? 'on demand' : r.billing_mode],
  aws_ebs_volume: (r) => [num(r.size) !== undefined ? `${r.size} GiB ${r.type ?? ''}`.trim() : undefined],
  aws_vpc_endpoint: (r) => [typeof r.service_name === 'string' ? r.service_name.split('.').pop() : undefined],
  aws_vpc: (r) => [r.cidr_block],
  aws_lb_target_group: (r) => [r.protocol && r.port !== undefined ? `${r.protocol} ${r.port}` : undefined],
};

// Detail resources folded into the node they configure: by explicit parent type, by type prefix
// (aws_s3_bucket_versioning → aws_s3_bucket), or into the resource that references them (an EIP into its NAT).
const FOLD_INTO = {
  aws_route: ['aws_route_table'],
  aws_autoscaling_policy: ['aws_autoscaling_group'],
  aws_autoscaling_lifecycle_hook: ['aws_autoscaling_group'],
  aws_autoscaling_attachment: ['aws_autoscaling_group'],
  aws_autoscaling_traffic_source_attachment: ['aws_autoscaling_group'],
  aws_iam_instance_profile: ['aws_iam_role'],
  aws_kms_alias: ['aws_kms_key'],
  aws_volume_attachment: ['aws_ebs_volume'],
};
const FOLD_INTO_REFERRER = {
  aws_eip: ['aws_nat_gateway'],
  random_password: ['aws_secretsmanager_secret_version', 'aws_secretsmanager_secret'],
  aws_elasticache_subnet_group: ['aws_elasticache_replication_group'],
  aws_elasticache_parameter_group: ['aws_elasticache_replication_group'],
};
const NEVER_FOLD = new Set(['aws_vpc_endpoint', 'aws_lb_target_group', 'aws_security_group']);
const RULE_TYPES = new Set(['aws_vpc_security_group_ingress_rule', 'aws_vpc_security_group_egress_rule']);

// The wiring a reviewer follows, drawn when `from` references `to` (directly or through folded details).
const KEY_EDGES = [
  { from: 'aws_lb', to: ['aws_lb_target_group'], label: 'forwards to' },
  { from: 'aws_autoscaling_group', to: ['aws_lb_target_group'], label: 'targets', reverse: true },
  { from: 'aws_autoscaling_group', to: ['aws_launch_template'], label: 'launches' },
  { from: 'aws_launch_template', to: ['aws_iam_role'], label: 'instance profile' },
  { from: 'aws_instance', to: ['aws_iam_role'], label: 'instance profile' },
  { from: 'aws_ebs_volume', to: ['aws_instance'], label: 'attached to' },
  { from: 'aws_lb', to: ['aws_s3_bucket'], label: 'access logs' },
  { from: 'aws_elasticache_replication_group', to: ['aws_cloudwatch_log_group'], label: 'logs to' },
  { from: 'aws_cloudwatch_metric_alarm', to: ['aws_instance', 'aws_autoscaling_group', 'aws_lb', 'aws_lb_target_group'], label: 'watches' },
  { from: 'aws_dynamodb_table', to: ['aws_kms_key'], label: 'encrypted by' },
  { from: 'aws_route_table', to: ['aws_internet_gateway', 'aws_nat_gateway'], label: 'default route' },
  { from: 'aws_route_table', to: ['aws_subnet'], label: 'associated', reverse: true },
  { from: 'aws_nat_gateway', to: ['aws_subnet'], label: 'in' },
  { from: 'aws_internet_gateway', to: ['aws_vpc'], label: 'attached to' },
  { from: 'aws_vpc_endpoint', to: ['aws_route_table'], label: 'routes' },
  { from: 'aws_flow_log', to: ['aws_vpc'], label: 'records' },
  { from: 'aws_flow_log', to: ['aws_cloudwatch_log_group'], label: 'delivers to' },
  { from: 'aws_iam_role', to: ['aws_dynamodb_table', 'aws_secretsmanager_secret', 'aws_kms_key', 'aws_ssm_parameter', 'aws_s3_bucket', 'aws_s3_object'], label: 'grant', dashed: true },
];

const num = (v) => (typeof v === 'number' ? v : undefined);
const WORLD = new Set(['0.0.0.0/0', '::/0']);

/** Every `type.name` (or `data.type.name`) a value interpolates. */
function referencesIn(value, out = new Set()) {
  if (typeof value === 'string') {
    if (value.includes('${')) for (const m of value.matchAll(/((?:data\.)?[a-z][a-z0-9]*_[a-z0-9_]+)\.([A-Za-z_][\w-]*)/g)) out.add(`${m[1]}.${m[2]}`);
  } else if (Array.isArray(value)) {
    value.forEach((v) => referencesIn(v, out));
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) if (k !== '//') referencesIn(v, out);
  }
  return out;
}

function tierOf(type, relPath) {
  for (const [re, tier] of TYPE_TIERS) if (re.test(type)) return tier;
  for (const segment of relPath.split('/')) for (const [re, tier] of PATH_TIERS) if (re.test(segment)) return tier;
  return 'other';
}

function typeName(type) {
  if (TYPE_NAMES[type]) return TYPE_NAMES[type];
  const words = type.replace(/^aws_/, '').replace(/_/g, ' ');
  return words[0].toUpperCase() + words.slice(1);
}

function portLabel(rule) {
  const protocol = String(rule.ip_protocol ?? '');
  if (protocol === '-1' || protocol === 'all') return 'all traffic';
  const from = rule.from_port;
  const to = rule.to_port ?? from;
  if (from === undefined) return protocol;
  return from === to ? `${protocol} ${from}` : `${protocol} ${from}-${to}`;
}

/**
 * The picture of one stack as data: tiers with nodes, security-group edges, membership and key references.
 * `tf` is the parsed cdk.tf.json.
 */
function buildGraph(tf, stackName) {
  const resources = new Map();
  for (const [type, byName] of Object.entries(tf.resource ?? {})) {
    for (const [name, body] of Object.entries(byName)) {
      resources.set(`${type}.${name}`, { key: `${type}.${name}`, type, name, body, path: body['//']?.metadata?.path ?? `${stackName}/${name}` });
    }
  }
  const data = new Map();
  for (const [type, byName] of Object.entries(tf.data ?? {})) {
    for (const [name, body] of Object.entries(byName)) data.set(`data.${type}.${name}`, body);
  }

  // References to resources, looking through data sources (a policy document that names a table counts).
  const dataRefs = new Map();
  const viaData = (key, seen = new Set()) => {
    if (dataRefs.has(key)) return dataRefs.get(key);
    if (seen.has(key)) return new Set();
    seen.add(key);
    const out = new Set();
    for (const ref of referencesIn(data.get(key))) {
      if (resources.has(ref)) out.add(ref);
      else if (data.has(ref)) viaData(ref, seen).forEach((r) => out.add(r));
    }
    dataRefs.set(key, out);
    return out;
  };
  for (const res of resources.values()) {
    res.refs = new Set();
    for (const ref of referencesIn(res.body)) {
      if (resources.has(ref)) res.refs.add(ref);
      else if (data.has(ref)) viaData(ref).forEach((r) => res.refs.add(r));
    }
    res.refs.delete(res.key);
  }

  // Common leading path segments (stack, composition) say nothing: drop them from labels.
  const paths = [...resources.values()].map((r) => r.path.split('/'));
  let common = 0;
  while (paths.length && paths.every((p) => p.length > common + 1 && p[common] === paths[0][common])) common++;
  for (const res of resources.values()) {
    const segments = res.path.split('/').slice(Math.max(common, 1));
    if (segments.length > 1 && /^(Resource|Default)$/.test(segments[segments.length - 1])) segments.pop();
    res.relPath = segments.join('/');
  }

  // Fold details into their parents.
  const referrers = new Map();
  for (const res of resources.values()) for (const ref of res.refs) (referrers.get(ref) ?? referrers.set(ref, []).get(ref)).push(res);
  const directParent = (res) => {
    if (NEVER_FOLD.has(res.type) || RULE_TYPES.has(res.type)) return undefined;
    const refs = [...res.refs].map((k) => resources.get(k));
    const explicit = FOLD_INTO[res.type];
    if (explicit) return refs.find((r) => explicit.includes(r.type));
    const byPrefix = refs.filter((r) => res.type.startsWith(`${r.type}_`)).sort((a, b) => b.type.length - a.type.length)[0];
    if (byPrefix) return byPrefix;
    const reverse = FOLD_INTO_REFERRER[res.type];
    if (reverse) return reverse.map((t) => (referrers.get(res.key) ?? []).find((r) => r.type === t)).find(Boolean);
    return undefined;
  };
  const owner = (res, depth = 0) => {
    const parent = depth < 8 ? directParent(res) : undefined;
    return parent ? owner(parent, depth + 1) : res;
  };

  // Nodes: unfolded resources; siblings differing only by an index (Public0, Public1) share one node.
  const nodes = new Map();
  const nodeOf = new Map();
  for (const res of [...resources.values()].sort((a, b) => a.key.localeCompare(b.key))) {
    if (RULE_TYPES.has(res.type)) continue;
    const top = owner(res);
    if (top !== res) continue;
    const groupKey = `${res.type}|${res.relPath.replace(/\d+/g, '#')}`;
    let node = nodes.get(groupKey);
    if (!node) {
      node = { id: `n${nodes.size + 1}`, type: res.type, tier: tierOf(res.type, res.relPath), name: res.relPath.replace(/\d+(?!.*\d)/, ''), members: [], folded: 0, details: [] };
      nodes.set(groupKey, node);
    }
    node.members.push(res);
    node.details = (DETAILS[res.type]?.(res.body) ?? []).filter((d) => typeof d === 'string' && d && !d.includes('${'));
  }
  for (const node of nodes.values()) for (const res of node.members) nodeOf.set(res.key, node);
  for (const res of resources.values()) {
    if (RULE_TYPES.has(res.type) || nodeOf.has(res.key)) continue;
    const node = nodeOf.get(owner(res).key);
    nodeOf.set(res.key, node);
    node.folded++;
  }
  for (const node of nodes.values()) if (node.members.length === 1) node.name = node.members[0].relPath;

  // Security-group edges from the rules; peers outside the VPC's groups become nodes of their own.
  const peers = new Map();
  const peerNode = (id, label) => peers.get(id) ?? peers.set(id, { id: `p${peers.size + 1}`, label }).get(id);
  const sgEdges = new Map();
  const groupRef = (value) => [...referencesIn(value)].map((k) => nodeOf.get(k)).find((n) => n && n.type === 'aws_security_group');
  for (const res of resources.values()) {
    if (!RULE_TYPES.has(res.type)) continue;
    const ingress = res.type.endsWith('ingress_rule');
    const group = groupRef(res.body.security_group_id);
    if (!group) continue;
    const other = groupRef(res.body.referenced_security_group_id);
    if (!ingress && other) continue; // mirrors an ingress rule of the other group
    const cidr = res.body.cidr_ipv4 ?? res.body.cidr_ipv6;
    const peer = other ?? (cidr ? (WORLD.has(cidr) ? peerNode('internet', 'Internet') : peerNode(cidr, cidr)) : res.body.prefix_list_id ? peerNode(`pl:${res.body.prefix_list_id}`, 'Prefix list') : undefined);
    if (!peer) continue;
    const [from, to] = ingress ? [peer, group] : [group, peer];
    const key = `${from.id}>${to.id}>${ingress}`;
    const edge = sgEdges.get(key) ?? sgEdges.set(key, { from, to, ingress, ports: new Set(), descriptions: new Set() }).get(key);
    edge.ports.add(portLabel(res.body));
    if (res.body.description) edge.descriptions.add(res.body.description);
  }

  // Membership (who wears a group) and key references, both between nodes.
  const links = new Map();
  const link = (from, to, label, style) => {
    if (!from || !to || from === to) return;
    links.set(`${from.id}>${to.id}>${label}`, { from, to, label, style });
  };
  for (const res of resources.values()) {
    if (RULE_TYPES.has(res.type)) continue;
    const node = nodeOf.get(res.key);
    for (const ref of res.refs) {
      const target = nodeOf.get(ref);
      if (target?.type === 'aws_security_group' && node.type !== 'aws_security_group') link(node, target, '', 'member');
      for (const spec of KEY_EDGES) {
        if (node.type !== spec.from || !target || !spec.to.includes(target.type)) continue;
        if (spec.reverse) link(target, node, spec.label, 'key');
        else link(node, target, spec.label, spec.dashed ? 'grant' : 'key');
      }
    }
  }

  const sorted = (map) => [...map.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return {
    stack: stackName,
    resourceCount: resources.size,
    tiers: TIERS.map((t) => ({ ...t, nodes: [...nodes.values()].filter((n) => n.tier === t.id) })).filter((t) => t.nodes.length),
    peers: sorted(peers),
    securityGroupEdges: [...sgEdges.values()].map((e) => ({ ...e, label: [...e.ports].sort().join(', ') })).sort((a, b) => `${a.from.id}>${a.to.id}`.localeCompare(`${b.from.id}>${b.to.id}`)),
    links: [...links.values()].sort((a, b) => `${a.from.id}>${a.to.id}>${a.label}`.localeCompare(`${b.from.id}>${b.to.id}>${b.label}`)),
  };
}

const html = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const quote = (s) => `"${String(s).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

function nodeLabel(node) {
  const count = node.members.length > 1 ? ` ×${node.members.length}` : '';
  const lines = [`<b>${html(typeName(node.type))}${count}</b>`, html(node.name)];
  if (node.details.length) lines.push(`<font point-size="9">${html(node.details.join(' · '))}</font>`);
  if (node.folded) lines.push(`<font point-size="8" color="#666666">+${node.folded} setting${node.folded > 1 ? 's' : ''}</font>`);
  return `<${lines.join('<br/>')}>`;
}

/** Graphviz DOT text of a graph from buildGraph; stable for the same input. */
function toDot(graph) {
  const out = [];
  out.push(`digraph ${quote(graph.stack)} {`);
  out.push(`  graph [rankdir=LR, newrank=true, compound=true, fontname="Helvetica", fontsize=14, labelloc=t, nodesep=0.25, ranksep=0.8, pad=0.3, label=<<b>${html(graph.stack)}</b>: ${graph.resourceCount} resources, grouped by tier<br/><font point-size="10">red: security-group rules (who may connect, and on which ports) · grey: key references · dashed: IAM grants · dotted: group membership</font>>];`);
  out.push('  node [shape=box, style="rounded,filled", fillcolor=white, color="#555555", fontname="Helvetica", fontsize=10, margin="0.12,0.06"];');
  out.push('  edge [fontname="Helvetica", fontsize=9, color="#8a8a8a", fontcolor="#444444"];');
  for (const peer of graph.peers) out.push(`  ${peer.id} [label=<<b>${html(peer.label)}</b>>, shape=ellipse, fillcolor="#ffe9e6", color="#c0392b"];`);
  for (const tier of graph.tiers) {
    out.push(`  subgraph cluster_${tier.id} {`);
    out.push(`    label=<<b>${html(tier.label)}</b>>; style="rounded,filled"; fillcolor=${quote(tier.fill)}; color=${quote(tier.line)}; fontsize=12;`);
    for (const node of tier.nodes) out.push(`    ${node.id} [label=${nodeLabel(node)}${node.type === 'aws_security_group' ? ', shape=hexagon, color="#c0392b"' : ''}];`);
    out.push('  }');
  }
  for (const e of graph.securityGroupEdges) {
    const tooltip = [...e.descriptions].sort().join('; ');
    out.push(`  ${e.from.id} -> ${e.to.id} [label=${quote(e.ingress ? e.label : `egress ${e.label}`)}, color="#c0392b", fontcolor="#c0392b", penwidth=1.6${e.ingress ? '' : ', style=dashed'}${tooltip ? `, tooltip=${quote(tooltip)}` : ''}];`);
  }
  for (const l of graph.links) {
    const style = l.style === 'member' ? 'style=dotted, arrowhead=none' : l.style === 'grant' ? 'style=dashed' : 'penwidth=1.2';
    out.push(`  ${l.from.id} -> ${l.to.id} [${l.label ? `label=${quote(l.label)}, ` : ''}${style}];`);
  }
  out.push('}');
  return `${out.join('\n')}\n`;
}

/** Markdown overview for a job summary: tiers with counts and a Mermaid flow of the security-group edges. */
function toMarkdown(graph, files) {
  const rows = graph.tiers.map((t) => `| ${t.label} | ${t.nodes.reduce((n, node) => n + node.members.length + node.folded, 0)} | ${[...new Set(t.nodes.map((n) => typeName(n.type)))].join(', ')} |`);
  const tierOfNode = new Map(graph.tiers.flatMap((t) => t.nodes.map((n) => [n, t.label])));
  const mermaidName = (n) => (n.label ? n.label : `${tierOfNode.get(n)}: ${n.name}`).replace(/"/g, "'");
  const flow = graph.securityGroupEdges.map((e) => `  ${e.from.id}["${mermaidName(e.from)}"] -- "${e.ingress ? '' : 'egress '}${e.label}" --> ${e.to.id}["${mermaidName(e.to)}"]`);
  return [
    `### Diagram: ${graph.stack}`,
    '',
    `${graph.resourceCount} resources. Files: ${files.map((f) => `\`${path.basename(f)}\``).join(', ')}.`,
    '',
    '| tier | resources | kinds |',
    '|---|---|---|',
    ...rows,
    '',
    'Security-group flow (who may connect to whom):',
    '',
    '```mermaid',
    'flowchart LR',
    ...flow,
    '```',
  ].join('\n');
}

const FORMATS = ['svg', 'png', 'dot'];

function render(dotBin, dotFile, format) {
  const outFile = dotFile.replace(/\.dot$/, `.${format}`);
  const result = spawnSync(dotBin, [`-T${format}`, '-o', outFile, dotFile], { encoding: 'utf8' });
  if (result.status !== 0) throw new CliError(`Graphviz failed to render ${outFile} (exit ${result.status ?? result.signal}): ${(result.stderr || result.error?.message || '').trim()}`);
  return outFile;
}

const OPTIONS = {
  out: { type: 'string' },
  outdir: { type: 'string' },
  format: { type: 'string', default: 'svg,png' },
  summary: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
};

async function main(argv) {
  const { values, positionals } = parseOptions(argv, OPTIONS, 'npm run diagram --');
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const formats = values.format.split(',').map((f) => f.trim()).filter(Boolean);
  const bad = formats.filter((f) => !FORMATS.includes(f));
  if (bad.length || formats.length === 0) throw new CliError(`Unknown --format ${bad.join(', ') || '(empty)'}; use a comma-separated list of ${FORMATS.join(', ')}.`, 2);

  const root = process.cwd();
  const outdir = resolveOutdir(root, readCdktfConfig(root, false), values.outdir);
  const stacks = selectStacks(readManifest(outdir), positionals, outdir);
  const outDir = path.resolve(root, values.out ?? path.join(outdir, 'diagrams'));
  const renders = formats.filter((f) => f !== 'dot');
  const dotBin = renders.length ? which('dot') : undefined;
  const progress = reporter('diagram');
  fs.mkdirSync(outDir, { recursive: true });

  for (const stack of stacks) {
    await progress.step(`diagram ${stack.name}`, async () => {
      if (!fs.existsSync(stack.file)) throw new CliError(`${stack.file} does not exist: synthesize again (npm run fleet -- synth).`);
      const graph = buildGraph(JSON.parse(fs.readFileSync(stack.file, 'utf8')), stack.name);
      const dotFile = path.join(outDir, `${stack.name}.dot`);
      fs.writeFileSync(dotFile, toDot(graph));
      if (renders.length && !dotBin) {
        throw new CliError(`Graphviz \`dot\` is not on PATH, so only ${dotFile} was written. Install Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz), or pass --format dot.`);
      }
      const files = [dotFile, ...renders.map((f) => render(dotBin, dotFile, f))];
      const nodes = graph.tiers.reduce((n, t) => n + t.nodes.length, 0);
      const shown = files.map((f) => (path.relative(root, f).startsWith('..') ? f : path.relative(root, f)));
      progress.info(`  ${graph.resourceCount} resources → ${nodes} nodes in ${graph.tiers.length} tiers, ${graph.securityGroupEdges.length} security-group edges: ${shown.join(', ')}`);
      appendSummary(values.summary, toMarkdown(graph, files));
    });
  }
  return 0;
}

module.exports = { buildGraph, toDot, toMarkdown, TIERS, OPTIONS };

if (require.main === module) runMain('diagram', main);
