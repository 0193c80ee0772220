// The stack diagram: tiers, folded details, security-group edges with ports and the key wiring, on the mini
// fleet (in process) and on the reference dev stack (synthesized here, rendered by the CLI through Graphviz).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'cdktf';
import { ENVIRONMENTS } from '../../stacks/environments';
import { InferenceStack } from '../../stacks/inference-stack';
import { synthMiniFleet } from './fixtures/mini-fleet';
import { binDir, DIAGRAM, ROOT, runCli, scratch } from './support';

// scripts/diagram.js is plain CommonJS without type declarations.
const { buildGraph, toDot, TIERS } = require('../../scripts/diagram.js');

const TIER_LABELS: string[] = TIERS.filter((t: { id: string }) => t.id !== 'other').map((t: { label: string }) => t.label);
const miniOut = scratch('mini-');
synthMiniFleet(miniOut);
const miniJson = () => JSON.parse(readFileSync(join(miniOut, 'stacks', 'mini-dev', 'cdk.tf.json'), 'utf8'));
// Graphviz lives in the system bin folders.
const withDot = { bin: `${binDir([]).bin}:/usr/bin:/bin` };
const svgText = (text: string) => `>${text.replace(/&/g, '&amp;')}</text>`;

interface Node {
  id: string;
  type: string;
  name: string;
  members: unknown[];
  folded: number;
}
const tierTypes = (graph: any) => Object.fromEntries(graph.tiers.map((t: any) => [t.id, t.nodes.map((n: Node) => n.type).sort()]));
const edges = (list: any[]) => list.map((e) => `${e.from.label ?? e.from.name} -> ${e.to.name}: ${e.label}`).sort();

describe('buildGraph on the mini fleet', () => {
  const graph = buildGraph(miniJson(), 'mini-dev');

  it('puts every resource in its tier, by type first and construct path second', () => {
    expect(tierTypes(graph)).toEqual({
      edge: ['aws_lb', 'aws_lb_target_group', 'aws_s3_bucket', 'aws_security_group'],
      compute: ['aws_autoscaling_group', 'aws_launch_template', 'aws_security_group'],
      cache: ['aws_elasticache_replication_group', 'aws_security_group'],
      jobs: ['aws_dynamodb_table'],
      metrics: ['aws_ebs_volume', 'aws_instance', 'aws_security_group'],
      network: ['aws_flow_log', 'aws_internet_gateway', 'aws_nat_gateway', 'aws_route_table', 'aws_route_table', 'aws_subnet', 'aws_subnet', 'aws_vpc', 'aws_vpc_endpoint', 'aws_vpc_endpoint'],
      identity: ['aws_iam_role', 'aws_iam_role', 'aws_iam_role', 'aws_kms_key', 'aws_secretsmanager_secret'],
      observability: ['aws_cloudwatch_log_group', 'aws_cloudwatch_log_group', 'aws_cloudwatch_metric_alarm'],
    });
  });

  it('draws who may connect to whom from the ingress rules, with their ports', () => {
    expect(edges(graph.securityGroupEdges)).toEqual([
      'FleetGroup -> CacheGroup: tcp 6379',
      'FleetGroup -> MetricsGroup: tcp 5432',
      'Internet -> LoadBalancerGroup: tcp 443, tcp 80',
      'LoadBalancerGroup -> FleetGroup: tcp 8080',
    ]);
  });

  it('follows the key references: ALB → target group → Auto Scaling group → launch template, grants, logs', () => {
    const key = edges(graph.links.filter((l: any) => l.style !== 'member'));
    expect(key).toEqual(
      expect.arrayContaining([
        'LoadBalancer -> FleetTargets: forwards to',
        'FleetTargets -> FleetGroupAsg: targets',
        'FleetGroupAsg -> FleetTemplate: launches',
        'FleetTemplate -> FleetRole/Role: instance profile',
        'FleetRole/Role -> Jobs: grant',
        'FleetRole/Role -> CacheToken/Secret: grant',
        'LoadBalancer -> LoadBalancerLogs: access logs',
        'MetricsData -> MetricsHost: attached to',
        'Cache -> CacheSlowLog: logs to',
        'Jobs -> JobsKey: encrypted by',
      ]),
    );
    const members = edges(graph.links.filter((l: any) => l.style === 'member'));
    expect(members).toEqual(['Cache -> CacheGroup: ', 'FleetTemplate -> FleetGroup: ', 'LoadBalancer -> LoadBalancerGroup: ', 'MetricsHost -> MetricsGroup: ']);
  });

  it('folds detail resources into their parents and indexed siblings into one node', () => {
    const nodes: Node[] = graph.tiers.flatMap((t: any) => t.nodes);
    const node = (type: string, name: string) => nodes.find((n) => n.type === type && n.name === name)!;
    expect(node('aws_s3_bucket', 'LoadBalancerLogs').folded).toBe(3); // versioning, public access block, encryption
    expect(node('aws_secretsmanager_secret', 'CacheToken/Secret').folded).toBe(2); // version, generated password
    expect(node('aws_nat_gateway', 'Network/Nat0').folded).toBe(1); // its Elastic IP
    expect(node('aws_subnet', 'Network/Private').members).toHaveLength(2);
    expect(node('aws_autoscaling_group', 'FleetGroupAsg').folded).toBe(1); // the CPU policy
    const total = nodes.reduce((n, x) => n + x.members.length + x.folded, 0);
    const rules = Object.keys(miniJson().resource.aws_vpc_security_group_ingress_rule).length + Object.keys(miniJson().resource.aws_vpc_security_group_egress_rule ?? {}).length;
    expect(total + rules).toBe(graph.resourceCount);
  });

  it('writes the same DOT for the same stack', () => {
    const again = scratch('mini-');
    synthMiniFleet(again);
    const other = JSON.parse(readFileSync(join(again, 'stacks', 'mini-dev', 'cdk.tf.json'), 'utf8'));
    expect(toDot(buildGraph(other, 'mini-dev'))).toBe(toDot(graph));
  });
});

describe('npm run diagram', () => {
  it('renders SVG and PNG with Graphviz, and a Markdown summary with a Mermaid flow', async () => {
    const out = scratch('diagrams-');
    const summary = join(out, 'summary.md');
    const run = await runCli(DIAGRAM, ['--outdir', miniOut, '--out', out, '--summary', summary], { cwd: ROOT, bin: withDot.bin });
    expect(run.stderr).toContain(`${buildGraph(miniJson(), 'mini-dev').resourceCount} resources → 31 nodes in 8 tiers, 4 security-group edges`);
    expect(run.code).toBe(0);
    const svg = readFileSync(join(out, 'mini-dev.svg'), 'utf8');
    for (const label of TIER_LABELS) expect(svg).toContain(svgText(label));
    for (const port of ['tcp 443, tcp 80', 'tcp 8080', 'tcp 6379', 'tcp 5432']) expect(svg).toContain(svgText(port));
    expect(readFileSync(join(out, 'mini-dev.png')).subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(readFileSync(join(out, 'mini-dev.dot'), 'utf8')).toMatch(/^digraph "mini-dev" \{/);
    const markdown = readFileSync(summary, 'utf8');
    expect(markdown).toContain('### Diagram: mini-dev');
    expect(markdown).toMatch(/```mermaid\nflowchart LR\n[\s\S]*"Internet"\] -- "tcp 443, tcp 80" --> \w+\["Edge \/ load balancer: LoadBalancerGroup"\]/);
  });

  it('writes the DOT and says how to install Graphviz when dot is missing; --format dot needs none', async () => {
    const noDot = binDir([]);
    const out = scratch('diagrams-');
    const run = await runCli(DIAGRAM, ['mini-dev', '--outdir', miniOut, '--out', out], { cwd: ROOT, bin: noDot.bin });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`diagram: Graphviz \`dot\` is not on PATH, so only ${join(out, 'mini-dev.dot')} was written. Install Graphviz (Debian/Ubuntu: apt-get install graphviz`);
    expect(existsSync(join(out, 'mini-dev.dot'))).toBe(true);
    const dotOnly = await runCli(DIAGRAM, ['mini-dev', '--outdir', miniOut, '--out', out, '--format', 'dot'], { cwd: ROOT, bin: noDot.bin });
    expect(dotOnly.code).toBe(0);
  });

  it.each([
    [['--format', 'gif'], 'Unknown --format gif; use a comma-separated list of svg, png, dot.'],
    [['mini-prod'], "Unknown stack 'mini-prod'. Known stacks"],
    [['--out'], "Option '--out <value>' argument missing"],
  ])('%j exits 2: %s', async (args, message) => {
    const run = await runCli(DIAGRAM, ['--outdir', miniOut, ...args], { cwd: ROOT, bin: withDot.bin });
    expect(run.stderr).toContain(message);
    expect(run.code).toBe(2);
  });
});

describe('the reference dev stack', () => {
  it('renders with every tier named and labelled security-group edges', async () => {
    const outdir = scratch('reference-');
    const app = new App({ outdir });
    new InferenceStack(app, ENVIRONMENTS.find((e) => e.stackName === 'inference-dev')!, {});
    app.synth();
    const out = scratch('diagrams-');
    const run = await runCli(DIAGRAM, ['inference-dev', '--outdir', outdir, '--out', out], { cwd: ROOT, bin: withDot.bin });
    expect(run.stderr).toMatch(/in 8 tiers/);
    expect(run.code).toBe(0);
    const svg = readFileSync(join(out, 'inference-dev.svg'), 'utf8');
    for (const label of TIER_LABELS) expect(svg).toContain(svgText(label));
    const graph = buildGraph(JSON.parse(readFileSync(join(outdir, 'stacks', 'inference-dev', 'cdk.tf.json'), 'utf8')), 'inference-dev');
    expect(graph.tiers.map((t: any) => t.label)).toEqual(TIER_LABELS);
    const sg = edges(graph.securityGroupEdges);
    expect(sg).toEqual(expect.arrayContaining([expect.stringMatching(/^Internet -> LoadBalancer\/SecurityGroup: .*tcp 80/), 'LoadBalancer/SecurityGroup -> Fleet/SecurityGroup: tcp 8080', 'Fleet/SecurityGroup -> Cache/SecurityGroup: tcp 6379', 'Fleet/SecurityGroup -> Metrics/SecurityGroup: tcp 5432']));
    for (const e of graph.securityGroupEdges) expect(svg).toContain(svgText(e.ingress ? e.label : `egress ${e.label}`));
  });
});
