// Security groups, instance role grants, generated secrets and user data: the pieces every construct builds on.
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { InstanceRole } from '../../constructs/instance-role';
import { GeneratedSecret } from '../../constructs/secret';
import { Peer, Port, SecurityGroup } from '../../constructs/security-group';
import { USER_DATA_LIMIT_BYTES, UserData } from '../../constructs/user-data';
import { only, resources, synthesize } from '../support/synth';

describe('SecurityGroup', () => {
  it('references groups, not CIDRs, and adds the matching egress only where egress is restricted', () => {
    const json = synthesize((stack) => {
      const alb = new SecurityGroup(stack, 'alb', { vpcId: 'vpc-1', description: 'Load balancer in front of the API' });
      const fleet = new SecurityGroup(stack, 'fleet', { vpcId: 'vpc-1', description: 'API fleet instances', allowAllOutbound: true, defaultPort: Port.tcp(8080) });
      fleet.connections.allowDefaultPortFrom(alb, 'ALB to the handler');
      fleet.connections.allowDefaultPortFrom(alb, 'added twice, kept once');
      alb.connections.allowFromPeer(Peer.anyIpv4(), Port.tcp(443), 'HTTPS from clients');
    });
    const ingress = Object.values(resources(json, 'aws_vpc_security_group_ingress_rule'));
    expect(ingress).toHaveLength(2);
    expect(ingress).toContainEqual(expect.objectContaining({ from_port: 8080, to_port: 8080, ip_protocol: 'tcp', description: 'ALB to the handler', referenced_security_group_id: expect.stringMatching(/^\$\{aws_security_group\.alb_/) }));
    expect(ingress).toContainEqual(expect.objectContaining({ cidr_ipv4: '0.0.0.0/0', from_port: 443, description: 'HTTPS from clients' }));
    const egress = Object.values(resources(json, 'aws_vpc_security_group_egress_rule'));
    // alb → fleet:8080 (alb restricts egress) and the fleet's allow-all rule.
    expect(egress.map((e) => [e.description, e.ip_protocol])).toEqual(expect.arrayContaining([['ALB to the handler', 'tcp'], ['All outbound IPv4 traffic (allowAllOutbound)', '-1']]));
    expect(egress).toHaveLength(2);
    for (const group of Object.values(resources(json, 'aws_security_group'))) {
      expect(group).toMatchObject({ revoke_rules_on_delete: true, lifecycle: { create_before_destroy: true } });
      expect(group.description.length).toBeGreaterThan(8);
    }
  });

  it('requires a description on groups and rules (CKV_AWS_23)', () => {
    expect(() => synthesize((stack) => new SecurityGroup(stack, 'sg', { vpcId: 'v', description: '' }))).toThrow("SecurityGroup 'test/sg': description = \"\" is invalid. Describe what the group protects");
    expect(() =>
      synthesize((stack) => new SecurityGroup(stack, 'sg', { vpcId: 'v', description: 'some group' }).connections.allowFromPeer(Peer.anyIpv4(), Port.tcp(1), ' ')),
    ).toThrow('every security-group rule needs a description');
  });

  it('explains a missing default port', () => {
    expect(() =>
      synthesize((stack) => {
        const a = new SecurityGroup(stack, 'a', { vpcId: 'v', description: 'group a here' });
        a.connections.allowDefaultPortFrom(new SecurityGroup(stack, 'b', { vpcId: 'v', description: 'group b here' }), 'x');
      }),
    ).toThrow('test/a has no default port; call allowFrom with an explicit Port.');
  });
});

describe('InstanceRole', () => {
  it('trusts EC2, attaches SSM and CloudWatch agent policies, and renders grants into one inline policy', () => {
    const json = synthesize((stack) => {
      const role = new InstanceRole(stack, 'role', { description: 'API fleet' });
      role.addToPolicy({ sid: 'Table', actions: ['dynamodb:PutItem', 'dynamodb:GetItem'], resources: ['arn:aws:dynamodb:us-east-1:1:table/t'] });
    });
    expect(Object.values(resources(json, 'aws_iam_role_policy_attachment')).map((a) => a.policy_arn)).toEqual([
      'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore',
      'arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy',
    ]);
    const inline = only(json, 'aws_iam_role_policy');
    expect(inline.count).toBe(1);
    expect(JSON.parse(inline.policy)).toEqual({
      Version: '2012-10-17',
      Statement: [{ Sid: 'Table', Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:PutItem'], Resource: ['arn:aws:dynamodb:us-east-1:1:table/t'] }],
    });
    expect(json.data!.aws_iam_policy_document).toBeDefined();
    expect(only(json, 'aws_iam_instance_profile').role).toMatch(/aws_iam_role\.role_Role_/);
  });

  it('creates no inline policy until something is granted (Terraform rejects empty policies)', () => {
    const json = synthesize((stack) => new InstanceRole(stack, 'role', { description: 'idle' }));
    expect(only(json, 'aws_iam_role_policy').count).toBe(0);
  });

  it('refuses wildcard actions and statements without resources', () => {
    const role = (stack: any) => new InstanceRole(stack, 'role', { description: 'x' });
    expect(() => synthesize((s) => role(s).addToPolicy({ sid: 'All', actions: ['s3:*'], resources: ['*'] }))).toThrow("test/role: statement 'All' uses the wildcard action 's3:*'. List the actions it needs.");
    expect(() => synthesize((s) => role(s).addToPolicy({ sid: 'None', actions: ['s3:GetObject'], resources: [] }))).toThrow("statement 'None' names no resource");
  });
});

describe('GeneratedSecret', () => {
  it('keeps the value out of the plan: a random_password reference stored in Secrets Manager, readable by grantees only', () => {
    const json = synthesize((stack) => {
      const secret = new GeneratedSecret(stack, 'token', { description: 'cache AUTH token' });
      secret.grantRead(new InstanceRole(stack, 'role', { description: 'reader' }));
    });
    expect(only(json, 'random_password')).toMatchObject({ length: 32, special: false });
    expect(only(json, 'aws_secretsmanager_secret_version').secret_string).toMatch(/^\$\{random_password\.token_Value_\w+\.result\}$/);
    expect(only(json, 'aws_secretsmanager_secret')).toMatchObject({ recovery_window_in_days: 7, description: 'cache AUTH token' });
    const statement = JSON.parse(only(json, 'aws_iam_role_policy').policy).Statement[0];
    expect(statement.Action).toEqual(['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue']);
    expect(statement.Resource).toEqual([expect.stringMatching(/^\$\{aws_secretsmanager_secret\.token_Secret_\w+\.arn\}$/)]);
    expect(json.provider.random).toBeDefined();
  });
});

describe('UserData', () => {
  it('is gzip with pinned header bytes, so equal input gives byte-identical output', () => {
    const a = UserData.forShellScript('echo hello');
    const b = UserData.forShellScript('#!/bin/bash\necho hello\n');
    expect(a.base64).toBe(b.base64);
    expect(a.raw[9]).toBe(3);
    expect(a.raw.readUInt32LE(4)).toBe(0); // mtime
    expect(gunzipSync(Buffer.from(a.base64, 'base64')).toString()).toBe('#!/bin/bash\necho hello\n');
  });

  it('fails with both numbers when EC2 would reject it', () => {
    // Hash-chained bytes: incompressible, yet the same on every run.
    const random = Buffer.concat(Array.from({ length: 600 }, (_, i) => createHash('sha256').update(String(i)).digest()));
    const big = UserData.custom(random.toString('base64'));
    expect(big.rawBytes).toBeGreaterThan(USER_DATA_LIMIT_BYTES);
    expect(() => big.assertWithinLimit('Fleet')).toThrow(new RegExp(`^Fleet: user data is ${big.rawBytes} bytes \\(after gzip, before base64\\), over EC2's limit of 16384 bytes by ${big.rawBytes - 16384}\\.`));
    expect(() => UserData.custom('x'.repeat(100_000)).assertWithinLimit('Fleet')).not.toThrow();
  });
});

describe('UserData and Terraform references', () => {
  it('refuses an attribute of another resource, which Terraform could never fill into compressed bytes', () => {
    const { Testing, TerraformStack } = require('cdktf');
    const { SsmParameter } = require('@cdktf/provider-aws/lib/ssm-parameter');
    const parameter = new SsmParameter(new TerraformStack(Testing.app(), 's'), 'p', { name: 'x', type: 'String', value: 'y' });
    expect(() => UserData.forShellScript(`aws ssm get-parameter --name ${parameter.name}`)).toThrow(
      /^User data contains the unresolved Terraform reference \$\{TfToken\[TOKEN\.\d+\]\}: its bytes are fixed at synth/,
    );
  });
});
