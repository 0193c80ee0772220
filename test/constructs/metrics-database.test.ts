import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { TerraformOutput, Testing } from 'cdktf';
import { execa } from 'execa';
import { sign } from '../../lambda-src/stores/aws';
import { InstanceRole } from '../../constructs/instance-role';
import { BOOTSTRAP_SQL, METRICS_DB_TAGS, SECRET_FETCHER_PY } from '../../constructs/metrics-database-boot';
import { MetricsDatabase, MetricsDatabaseProps, SNAPSHOT_TAG } from '../../constructs/metrics-database';
import { SecurityGroup } from '../../constructs/security-group';
import { USER_DATA_LIMIT_BYTES } from '../../constructs/user-data';
import { startPostgres } from '../support/postgres-server';
import { metricsSchemaSql } from '../../lambda-src/stores/metrics-schema';
import { only, resources, stackWithProvider, TerraformJson } from '../support/synth';
import { NETWORK } from './fleet-fixtures';

function build(props: Partial<MetricsDatabaseProps> = {}) {
  const stack = stackWithProvider();
  const db = new MetricsDatabase(stack, 'Metrics', { network: NETWORK, ...props });
  new TerraformOutput(stack, 'address', { value: db.address });
  return { db, stack, json: JSON.parse(Testing.synth(stack)) as TerraformJson };
}

const key = (json: TerraformJson, type: string, match: (r: any) => boolean = () => true) => {
  const entry = Object.entries(resources(json, type)).find(([, r]) => match(r));
  if (!entry) throw new Error(`no ${type} matched`);
  return entry[0];
};
const ref = (json: TerraformJson, type: string, attr: string, match?: (r: any) => boolean) => `\${${type}.${key(json, type, match)}.${attr}}`;
const dataRef = (json: TerraformJson, type: string, attr: string) => `\${data.${type}.${Object.keys(json.data![type])[0]}.${attr}}`;
const script = (json: TerraformJson) => gunzipSync(Buffer.from(only(json, 'aws_instance').user_data_base64, 'base64')).toString('utf8');

describe('MetricsDatabase host', () => {
  const { json } = build();
  const instance = only(json, 'aws_instance');

  test('Ubuntu 24.04 LTS (amd64) from the public SSM parameter; a new AMI never replaces the host', () => {
    expect(Object.values(json.data!.aws_ssm_parameter)).toEqual([{ name: '/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id' }]);
    expect(instance.ami).toBe(dataRef(json, 'aws_ssm_parameter', 'insecure_value'));
    expect(instance.lifecycle).toEqual({ ignore_changes: ['ami', 'user_data_base64'] });
    expect(instance.user_data_replace_on_change).toBe(false);
    expect(instance.instance_type).toBe('m7i.large');
  });

  test('first private subnet, no public IP, only its own security group and instance profile', () => {
    expect(instance.subnet_id).toBe(NETWORK.privateSubnetIds[0]);
    expect(instance.associate_public_ip_address).toBe(false);
    expect(instance.vpc_security_group_ids).toEqual([ref(json, 'aws_security_group', 'id')]);
    expect(instance.iam_instance_profile).toBe(ref(json, 'aws_iam_instance_profile', 'name'));
    expect(instance).not.toHaveProperty('key_name');
    expect(json.output!.address.value).toBe(ref(json, 'aws_instance', 'private_ip'));
  });

  test('IMDSv2 required with hop limit 1; instance tags readable for the bootstrap', () => {
    expect(instance.metadata_options).toEqual({ http_endpoint: 'enabled', http_tokens: 'required', http_put_response_hop_limit: 1, instance_metadata_tags: 'enabled' });
  });

  test('encrypted gp3 root volume, default auto-recovery', () => {
    expect(instance.root_block_device).toEqual({ volume_type: 'gp3', volume_size: 30, encrypted: true, delete_on_termination: true, tags: { Name: 'test/Metrics/root' } });
    expect(instance.maintenance_options).toEqual({ auto_recovery: 'default' });
  });

  test('apply-time values reach the bootstrap as instance tags: the volume id and the secret ARN, not the password', () => {
    expect(instance.tags).toEqual({
      Name: 'test/Metrics',
      [METRICS_DB_TAGS.dataVolumeId]: ref(json, 'aws_ebs_volume', 'id'),
      [METRICS_DB_TAGS.passwordSecretArn]: ref(json, 'aws_secretsmanager_secret', 'arn'),
    });
    expect(JSON.stringify(instance)).not.toMatch(/random_password/);
  });

  test('synthesizes deterministically (snapshot)', () => {
    expect(JSON.stringify(build().json)).toBe(JSON.stringify(json));
    expect(json).toMatchSnapshot();
  });
});

describe('MetricsDatabase data volume', () => {
  const { json } = build({ dataVolumeSize: 200, dataVolumeIops: 6000, dataVolumeThroughput: 250 });
  const volume = only(json, 'aws_ebs_volume');

  test('encrypted gp3 with IOPS and throughput, in the instance subnet AZ, protected from destroy', () => {
    expect(volume).toMatchObject({ type: 'gp3', size: 200, iops: 6000, throughput: 250, encrypted: true, final_snapshot: true });
    expect(volume.availability_zone).toBe(dataRef(json, 'aws_subnet', 'availability_zone'));
    expect(Object.values(json.data!.aws_subnet)).toEqual([{ id: NETWORK.privateSubnetIds[0] }]);
    expect(volume.lifecycle).toEqual({ prevent_destroy: true });
    expect(volume.tags).toEqual({ Name: 'test/Metrics/data', [SNAPSHOT_TAG]: 'test-Metrics' });
  });

  test('attached as /dev/sdf; the instance stops before a detach', () => {
    expect(only(json, 'aws_volume_attachment')).toEqual({
      device_name: '/dev/sdf',
      volume_id: ref(json, 'aws_ebs_volume', 'id'),
      instance_id: ref(json, 'aws_instance', 'id'),
      stop_instance_before_detaching: true,
    });
  });

  test('Data Lifecycle Manager snapshots the tagged volume daily and keeps the configured count', () => {
    const policy = only(json, 'aws_dlm_lifecycle_policy');
    expect(policy).toMatchObject({ state: 'ENABLED', execution_role_arn: ref(json, 'aws_iam_role', 'arn', (r) => r.name_prefix.includes('-dlm-')) });
    expect(policy.description).toMatch(/^[0-9A-Za-z _-]+$/);
    expect(policy.policy_details).toEqual({
      resource_types: ['VOLUME'],
      target_tags: { [SNAPSHOT_TAG]: volume.tags[SNAPSHOT_TAG] },
      schedule: [{
        name: 'daily-keep-14',
        create_rule: { interval: 24, interval_unit: 'HOURS', times: ['03:00'] },
        retain_rule: { count: 14 },
        copy_tags: true,
        tags_to_add: { SnapshotCreator: 'dlm' },
      }],
    });
    const roleKey = key(json, 'aws_iam_role', (r) => r.name_prefix.includes('-dlm-'));
    expect(Object.values(resources(json, 'aws_iam_role_policy_attachment')).filter((a) => a.role === `\${aws_iam_role.${roleKey}.name}`)).toEqual([
      { role: `\${aws_iam_role.${roleKey}.name}`, policy_arn: `arn:${dataRef(json, 'aws_partition', 'partition')}:iam::aws:policy/service-role/AWSDataLifecycleManagerServiceRole` },
    ]);
    const trust = Object.values(json.data!.aws_iam_policy_document).find((d: any) => d.statement[0].principals[0].identifiers[0] === 'dlm.amazonaws.com');
    expect(trust).toBeDefined();
  });

  test('a CloudWatch alarm recovers the instance when the system status check fails', () => {
    expect(only(json, 'aws_cloudwatch_metric_alarm')).toMatchObject({
      alarm_name: 'test-Metrics-auto-recover',
      namespace: 'AWS/EC2',
      metric_name: 'StatusCheckFailed_System',
      dimensions: { InstanceId: ref(json, 'aws_instance', 'id') },
      statistic: 'Maximum',
      period: 60,
      evaluation_periods: 2,
      threshold: 1,
      comparison_operator: 'GreaterThanOrEqualToThreshold',
      alarm_actions: [`arn:${dataRef(json, 'aws_partition', 'partition')}:automate:${dataRef(json, 'aws_region', 'region')}:ec2:recover`],
    });
  });
});

describe('MetricsDatabase network and grants', () => {
  const stack = stackWithProvider();
  const db = new MetricsDatabase(stack, 'Metrics', { network: NETWORK });
  const group = new SecurityGroup(stack, 'Fleet', { vpcId: NETWORK.vpcId, description: 'Metrics client under test' });
  const role = new InstanceRole(stack, 'FleetRole', { description: 'client' });
  db.grantConnect({ connections: group.connections, grantPrincipal: role });
  const json: TerraformJson = JSON.parse(Testing.synth(stack));
  const sg = (prefix: string) => ref(json, 'aws_security_group', 'id', (g) => g.name_prefix.startsWith(prefix));
  const policyOf = (roleKey: string) =>
    JSON.parse(Object.values(resources(json, 'aws_iam_role_policy')).find((p) => p.role === `\${aws_iam_role.${roleKey}.id}`).policy);
  const secretArn = ref(json, 'aws_secretsmanager_secret', 'arn');

  test('PostgreSQL is reachable only from granted security groups', () => {
    const description = 'PostgreSQL (TLS, SCRAM) to the TimescaleDB host test/Metrics';
    expect(Object.values(resources(json, 'aws_vpc_security_group_ingress_rule'))).toEqual([
      { security_group_id: sg('test-Metrics-SecurityGroup'), referenced_security_group_id: sg('test-Fleet'), ip_protocol: 'tcp', from_port: 5432, to_port: 5432, description },
    ]);
    expect(db.port).toBe(5432);
  });

  test('host egress is HTTPS and HTTP only, each rule described; the client gets egress to 5432', () => {
    const egress = Object.values(resources(json, 'aws_vpc_security_group_egress_rule'));
    expect(egress.filter((r) => r.security_group_id === sg('test-Metrics-SecurityGroup'))).toEqual([
      { security_group_id: sg('test-Metrics-SecurityGroup'), cidr_ipv4: '0.0.0.0/0', ip_protocol: 'tcp', from_port: 443, to_port: 443, description: 'HTTPS: PGDG and Timescale apt repositories, Secrets Manager, SSM' },
      { security_group_id: sg('test-Metrics-SecurityGroup'), cidr_ipv4: '0.0.0.0/0', ip_protocol: 'tcp', from_port: 80, to_port: 80, description: 'HTTP: Ubuntu archive mirrors (apt verifies package signatures)' },
    ]);
    expect(egress.filter((r) => r.security_group_id === sg('test-Fleet')).map((r) => [r.referenced_security_group_id, r.from_port])).toEqual([[sg('test-Metrics-SecurityGroup'), 5432]]);
  });

  test('the host role reads its password secret and nothing else; SSM and CloudWatch agent are managed policies', () => {
    const hostRole = key(json, 'aws_iam_role', (r) => r.name_prefix.startsWith('test-Metrics-Role'));
    expect(policyOf(hostRole).Statement).toEqual([
      { Sid: 'ReadtestMetricsPassword', Effect: 'Allow', Action: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'], Resource: [secretArn] },
    ]);
    const managed = Object.values(resources(json, 'aws_iam_role_policy_attachment')).filter((a) => a.role === `\${aws_iam_role.${hostRole}.name}`).map((a) => a.policy_arn);
    expect(managed).toEqual(['arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore', 'arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy']);
  });

  test('grantConnect lets the client read the password secret only', () => {
    const clientRole = key(json, 'aws_iam_role', (r) => r.name_prefix.startsWith('test-FleetRole'));
    expect(policyOf(clientRole).Statement).toEqual([
      { Sid: 'ReadtestMetricsPassword', Effect: 'Allow', Action: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'], Resource: [secretArn] },
    ]);
  });

  test('the password is 32 letters and digits, generated by Terraform', () => {
    expect(only(json, 'random_password')).toEqual({ length: 32, special: false });
  });
});

describe('MetricsDatabase user data', () => {
  const { db, json } = build({ postgresVersion: 17, databaseName: 'metrics', username: 'writer' });
  const text = script(json);

  test('is a base64 gzip literal within EC2 limits, holding no secret and no Terraform reference', () => {
    expect(only(json, 'aws_instance').user_data_base64).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(db.userData.rawBytes).toBeLessThan(USER_DATA_LIMIT_BYTES);
    expect(text).not.toMatch(/\$\{(random_password|aws_|data\.)|TfToken/);
    expect(text).not.toMatch(/PASSWORD\s*=\s*['"]?[A-Za-z0-9]{16,}/);
  });

  test('applies the metrics schema as the superuser, granting the gateway role rows only, with the retention asked for', () => {
    const schema = metricsSchemaSql({ timescale: true, retentionDays: 30, grantTo: 'writer' });
    expect(text).toContain(`runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 --single-transaction -d "$DB" <<'SQL'\n${schema}SQL\n`);
    expect(schema).toContain('GRANT INSERT ON request_metrics TO writer;');
    expect(script(build({ metricsRetentionDays: 7 }).json)).toContain("INTERVAL '7 days'");
    expect(() => build({ metricsRetentionDays: 0 })).toThrow('metricsRetentionDays = 0 is invalid. Use a whole number from 1 to 3650.');
  });

  test('reads the secret ARN and volume id from instance tags and fetches the password with the instance role', () => {
    expect(text).toContain(`secret_arn=$(imds tags/instance/${METRICS_DB_TAGS.passwordSecretArn})`);
    expect(text).toContain('python3 /usr/local/lib/metrics-db/get-secret.py "$secret_arn"');
    expect(text).toContain(SECRET_FETCHER_PY);
    expect(text).toContain(`volume_id=$(imds tags/instance/${METRICS_DB_TAGS.dataVolumeId})`);
  });

  test('is valid bash', () => {
    expect(() => execFileSync('bash', ['-n'], { input: text })).not.toThrow();
    expect(text.startsWith('#!/bin/bash\n')).toBe(true);
    expect(text).toContain('set -euo pipefail');
  });

  test('finds the NVMe device by volume id, formats only a blank volume, mounts by UUID with nofail', () => {
    expect(text).toContain('/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${volume_id//-/}');
    expect(text).toMatch(/if \[ "\$probe" -eq 2 \]; then mkfs\.ext4 /);
    expect(text.match(/mkfs/g)).toHaveLength(1);
    expect(text).toContain('echo "UUID=$uuid $ROOT ext4 defaults,noatime,nofail 0 2" >> /etc/fstab');
    expect(text).toContain('ROOT=/var/lib/postgresql');
  });

  test('installs PostgreSQL from PGDG and TimescaleDB from packagecloud with signed-by keyrings, then tunes', () => {
    expect(text).toContain('deb [signed-by=/etc/apt/keyrings/pgdg.asc] https://apt.postgresql.org/pub/repos/apt $VERSION_CODENAME-pgdg main');
    expect(text).toContain('deb [signed-by=/etc/apt/keyrings/timescaledb.asc] https://packagecloud.io/timescale/timescaledb/ubuntu/ $VERSION_CODENAME main');
    expect(text).toContain('apt_get install "postgresql-$PG" "timescaledb-2-postgresql-$PG" timescaledb-tools');
    expect(text).toContain('PG=17\nDB=metrics\nDB_USER=writer\n');
    expect(text).toContain('timescaledb-tune --quiet --yes');
  });

  test('SCRAM, TLS and listen settings; pg_hba allows only hostssl for the app role and database', () => {
    for (const line of ["listen_addresses = '*'", "password_encryption = 'scram-sha-256'", 'ssl = on', "shared_preload_libraries = 'timescaledb'"]) expect(text).toContain(line);
    const hba = text.slice(text.indexOf('cidrs=$('), text.indexOf('} > "$conf/pg_hba.conf"'));
    expect(hba.match(/echo "[^"]*"/g)).toEqual([
      'echo "local all postgres peer"',
      'echo "local all all peer"',
      'echo "hostssl $DB $DB_USER $cidr scram-sha-256"',
    ]);
  });

  test('creates the role, database and extension idempotently', () => {
    expect(text).toContain(BOOTSTRAP_SQL);
    expect(text).toContain("CREATE EXTENSION IF NOT EXISTS timescaledb;");
  });

  test('Graviton types get the arm64 AMI; an explicit parameter wins', () => {
    const param = (props: Partial<MetricsDatabaseProps>) => Object.values(build(props).json.data!.aws_ssm_parameter)[0].name;
    expect(param({ instanceType: 'm7g.large' })).toBe('/aws/service/canonical/ubuntu/server/24.04/stable/current/arm64/hvm/ebs-gp3/ami-id');
    expect(param({ instanceType: 'm7g.large', amiParameter: '/team/ami/timescale' })).toBe('/team/ami/timescale');
  });
});

describe('SECRET_FETCHER_PY (python3, against local IMDS and Secrets Manager endpoints)', () => {
  const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:test-Metrics-Password-a1b2c3';
  const CREDS = { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'role-secret-key', sessionToken: 'session-token' };

  /** IMDSv2 (token required) plus a Secrets Manager that checks the SigV4 signature with the handler's signer. */
  async function fakeAws(verifyWith: typeof CREDS) {
    const seen: string[] = [];
    const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
      let body = '';
      for await (const chunk of req) body += chunk;
      seen.push(`${req.method} ${req.url}`);
      const send = (status: number, text: string) => res.writeHead(status).end(text);
      if (req.url === '/latest/api/token') return req.method === 'PUT' && req.headers['x-aws-ec2-metadata-token-ttl-seconds'] ? send(200, 'imds-token') : send(400, '');
      if (req.url!.startsWith('/latest/meta-data/')) {
        if (req.headers['x-aws-ec2-metadata-token'] !== 'imds-token') return send(401, '');
        const path = req.url!.slice('/latest/meta-data/'.length);
        if (path === 'iam/security-credentials/') return send(200, 'metrics-db-role');
        if (path === 'iam/security-credentials/metrics-db-role') return send(200, JSON.stringify({ AccessKeyId: CREDS.accessKeyId, SecretAccessKey: CREDS.secretAccessKey, Token: CREDS.sessionToken }));
        if (path === 'services/domain') return send(200, 'amazonaws.com');
        return send(404, '');
      }
      const h = req.headers as Record<string, string>;
      const d = h['x-amz-date'];
      const at = new Date(`${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}T${d.slice(9, 11)}:${d.slice(11, 13)}:${d.slice(13, 15)}Z`);
      const expected = sign('POST', new URL(`https://${h.host}/`), { 'content-type': h['content-type'], 'x-amz-target': h['x-amz-target'] }, body, verifyWith, 'eu-west-1', 'secretsmanager', at);
      const valid = h.host === 'secretsmanager.eu-west-1.amazonaws.com' && h['x-amz-target'] === 'secretsmanager.GetSecretValue' && JSON.parse(body).SecretId === ARN && h.authorization === expected.authorization;
      return valid ? send(200, JSON.stringify({ ARN, SecretString: 'Pa55wordFromSecretsManager' })) : send(403, '{"__type":"InvalidSignatureException"}');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const run = () => execa('python3', ['-c', SECRET_FETCHER_PY, ARN], {
      env: { AWS_EC2_METADATA_SERVICE_ENDPOINT: endpoint, AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoint },
      reject: false,
      timeout: 20_000,
    });
    return { run, seen, close: () => new Promise((r) => server.close(r)) };
  }

  test('prints the secret value, signed with the instance-role credentials for the region in the ARN', async () => {
    const aws = await fakeAws(CREDS);
    try {
      const result = await aws.run();
      expect(result.stderr).toBe('');
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toBe('Pa55wordFromSecretsManager');
      expect(aws.seen).toEqual([
        'PUT /latest/api/token',
        'GET /latest/meta-data/iam/security-credentials/',
        'GET /latest/meta-data/iam/security-credentials/metrics-db-role',
        'GET /latest/meta-data/services/domain',
        'POST /',
      ]);
    } finally {
      await aws.close();
    }
  });

  test('fails (non-zero, nothing on stdout) when the signature does not verify', async () => {
    const aws = await fakeAws({ ...CREDS, secretAccessKey: 'another-key' });
    try {
      const result = await aws.run();
      expect(result.exitCode).not.toBe(0);
      expect(result.stdout).toBe('');
    } finally {
      await aws.close();
    }
  });
});

describe('BOOTSTRAP_SQL (real PostgreSQL 15)', () => {
  let pg: Awaited<ReturnType<typeof startPostgres>>;
  beforeAll(async () => {
    pg = await startPostgres();
  });
  afterAll(() => pg.stop());

  const psql = (user: string, password: string, database: string, args: string[], input?: string, env: Record<string, string> = {}) =>
    execa('/usr/lib/postgresql/15/bin/psql', ['-X', '-q', '-h', pg.host, '-p', String(pg.port), '-U', user, '-d', database, ...args], {
      env: { PGPASSWORD: password, PGCONNECT_TIMEOUT: '5', ...env },
      extendEnv: false,
      input,
      reject: false,
    });
  const bootstrap = (password?: string) =>
    psql(pg.user, pg.password, 'postgres', ['-v', 'user=writer', '-v', 'db=metrics'], BOOTSTRAP_SQL, password ? { METRICS_DB_PASSWORD: password } : {});

  test('creates a SCRAM login role owning the database, and is idempotent (second run rotates the password)', async () => {
    expect((await bootstrap('firstPassword1')).exitCode).toBe(0);
    const second = await bootstrap('secondPassword2');
    expect(second.stderr).toBe('');
    expect(second.exitCode).toBe(0);

    const login = await psql('writer', 'secondPassword2', 'metrics', ['-At', '-c', 'SELECT current_user, pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()']);
    expect(login.stdout).toBe('writer|writer');
    expect((await psql('writer', 'firstPassword1', 'metrics', ['-c', 'SELECT 1'])).exitCode).not.toBe(0);

    const role = await psql(pg.user, pg.password, 'postgres', ['-At', '-c', "SELECT rolpassword LIKE 'SCRAM-SHA-256$%', rolsuper, rolcreatedb, rolcreaterole FROM pg_authid WHERE rolname = 'writer'"]);
    expect(role.stdout).toBe('t|f|f|f');
  });

  test('stops with an error, changing nothing, when the password variable is missing', async () => {
    const run = await bootstrap();
    expect(run.exitCode).not.toBe(0);
    expect((await psql('writer', 'secondPassword2', 'metrics', ['-c', 'SELECT 1'])).exitCode).toBe(0);
  });
});

describe('MetricsDatabase prop validation', () => {
  const cases: [string, Partial<MetricsDatabaseProps>, string][] = [
    ['instance type', { instanceType: 'large' }, `instanceType = "large" is invalid. Use an EC2 instance type such as 'm7i.large' or 'r7g.xlarge'.`],
    ['volume too small', { dataVolumeSize: 0 }, 'dataVolumeSize = 0 is invalid. Use a whole number from 1 to 65536.'],
    ['volume too large', { dataVolumeSize: 65537 }, 'dataVolumeSize = 65537 is invalid. Use a whole number from 1 to 65536.'],
    ['IOPS too low', { dataVolumeIops: 2999 }, 'dataVolumeIops = 2999 is invalid. Use a whole number from 3000 to 80000.'],
    ['IOPS too high', { dataVolumeIops: 80001 }, 'dataVolumeIops = 80001 is invalid. Use a whole number from 3000 to 80000.'],
    ['throughput too low', { dataVolumeThroughput: 124 }, 'dataVolumeThroughput = 124 is invalid. Use a whole number from 125 to 2000.'],
    ['throughput too high', { dataVolumeThroughput: 2001 }, 'dataVolumeThroughput = 2001 is invalid. Use a whole number from 125 to 2000.'],
    ['IOPS per GiB', { dataVolumeSize: 10, dataVolumeIops: 6000 }, 'dataVolumeIops = 6000 is invalid. gp3 allows at most 500 IOPS per GiB: raise dataVolumeSize to 12 or lower the IOPS to 5000.'],
    ['throughput per IOPS', { dataVolumeThroughput: 1000 }, 'dataVolumeThroughput = 1000 is invalid. gp3 allows at most 0.25 MiB/s per IOPS: raise dataVolumeIops to 4000 or lower the throughput to 750.'],
    ['old PostgreSQL', { postgresVersion: 14 }, 'postgresVersion = 14 is invalid. Use a whole number from 15 to 17.'],
    ['new PostgreSQL', { postgresVersion: 18 }, 'postgresVersion = 18 is invalid. Use a whole number from 15 to 17.'],
    ['database name', { databaseName: 'Metrics-DB' }, 'databaseName = "Metrics-DB" is invalid. Use a lowercase identifier: a-z, 0-9 and _, starting with a letter or _, at most 63 characters.'],
    ['system database', { databaseName: 'template1' }, 'databaseName = "template1" is invalid. That database belongs to PostgreSQL; choose another name.'],
    ['username', { username: '1writer' }, 'username = "1writer" is invalid. Use a lowercase identifier: a-z, 0-9 and _, starting with a letter or _, at most 63 characters.'],
    ['superuser name', { username: 'postgres' }, `username = "postgres" is invalid. 'postgres' and 'pg_…' roles are reserved; the application needs an unprivileged role such as 'gateway'.`],
    ['reserved prefix', { username: 'pg_writer' }, `username = "pg_writer" is invalid. 'postgres' and 'pg_…' roles are reserved; the application needs an unprivileged role such as 'gateway'.`],
    ['no snapshots', { snapshotRetentionCount: 0 }, 'snapshotRetentionCount = 0 is invalid. Use a whole number from 1 to 1000.'],
    ['too many snapshots', { snapshotRetentionCount: 1001 }, 'snapshotRetentionCount = 1001 is invalid. Use a whole number from 1 to 1000.'],
    ['AMI parameter', { amiParameter: 'ami-0123456789abcdef0' }, `amiParameter = "ami-0123456789abcdef0" is invalid. Give an SSM parameter name starting with '/', e.g. the Ubuntu 24.04 public parameter.`],
    ['no private subnet', { network: { ...NETWORK, privateSubnetIds: [] } }, 'network.privateSubnetIds = [] is invalid. Give at least 1 private subnet.'],
  ];
  test.each(cases)('%s', (_name, props, message) => {
    expect(() => build(props)).toThrow(`MetricsDatabase 'test/Metrics': ${message}`);
  });
});
