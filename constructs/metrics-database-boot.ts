import { metricsSchemaSql } from '../lambda-src/stores/metrics-schema';
import { UserData } from './user-data';

/**
 * Instance tags the bootstrap reads through IMDS. Values known only after apply (volume id, secret ARN) travel
 * as tags, so the user data stays a static, deterministic, size-checked document that never holds a secret.
 */
export const METRICS_DB_TAGS = { dataVolumeId: 'DataVolumeId', passwordSecretArn: 'PasswordSecretArn' } as const;

/** Where the bootstrap mounts the data volume: PostgreSQL's data and cluster configuration both live there. */
export const METRICS_DB_VOLUME_ROOT = '/var/lib/postgresql';

/**
 * Prints a Secrets Manager secret's value (argv[1] = ARN) with the instance role: IMDSv2 credentials and SigV4
 * from python3's standard library, since Ubuntu 24.04 has no AWS CLI package and python3 is always there.
 * The two endpoint variables are the AWS SDKs' standard overrides (tests point them at local servers).
 */
export const SECRET_FETCHER_PY = String.raw`import datetime, hashlib, hmac, json, os, sys, urllib.request

IMDS = os.environ.get('AWS_EC2_METADATA_SERVICE_ENDPOINT', 'http://169.254.169.254').rstrip('/')


def call(url, method='GET', headers=None, body=None):
    with urllib.request.urlopen(urllib.request.Request(url, body, headers or {}, method=method), timeout=10) as res:
        return res.read().decode()


arn = sys.argv[1]
region = arn.split(':')[3]
token = call(IMDS + '/latest/api/token', 'PUT', {'X-aws-ec2-metadata-token-ttl-seconds': '60'})
meta = lambda path: call(IMDS + '/latest/meta-data/' + path, headers={'X-aws-ec2-metadata-token': token})
role = meta('iam/security-credentials/').split()[0]
creds = json.loads(meta('iam/security-credentials/' + role))
host = 'secretsmanager.%s.%s' % (region, meta('services/domain'))
endpoint = os.environ.get('AWS_ENDPOINT_URL_SECRETS_MANAGER', 'https://' + host).rstrip('/')
body = json.dumps({'SecretId': arn}).encode()
amz_date = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%M%SZ')
headers = {
    'content-type': 'application/x-amz-json-1.1',
    'host': host,
    'x-amz-date': amz_date,
    'x-amz-security-token': creds['Token'],
    'x-amz-target': 'secretsmanager.GetSecretValue',
}
signed = ';'.join(sorted(headers))
canonical = '\n'.join(['POST', '/', ''] + ['%s:%s' % (k, headers[k]) for k in sorted(headers)] + ['', signed, hashlib.sha256(body).hexdigest()])
scope = '%s/%s/secretsmanager/aws4_request' % (amz_date[:8], region)
to_sign = '\n'.join(['AWS4-HMAC-SHA256', amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
key = ('AWS4' + creds['SecretAccessKey']).encode()
for part in (amz_date[:8], region, 'secretsmanager', 'aws4_request'):
    key = hmac.new(key, part.encode(), hashlib.sha256).digest()
signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
headers['authorization'] = 'AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s' % (creds['AccessKeyId'], scope, signed, signature)
print(json.loads(call(endpoint + '/', 'POST', headers, body))['SecretString'])
`;

/**
 * Creates or updates the application role and database; safe to run any number of times. Run by the
 * `postgres` superuser with psql variables `user` and `db`, and the password in METRICS_DB_PASSWORD
 * (environment, not argv, so it never shows in the process list).
 */
export const BOOTSTRAP_SQL = String.raw`\set ON_ERROR_STOP on
\getenv password METRICS_DB_PASSWORD
SET password_encryption = 'scram-sha-256';
SELECT format('CREATE ROLE %I', :'user') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') \gexec
ALTER ROLE :"user" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'password';
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
`;

export interface MetricsDatabaseBootOptions {
  readonly postgresVersion: number;
  readonly databaseName: string;
  readonly username: string;
  /** Days TimescaleDB keeps per-request rows. */
  readonly retentionDays: number;
}

/**
 * First-boot script of the TimescaleDB host (Ubuntu 24.04). Every step is idempotent, so a replacement host
 * adopts the same data volume, cluster and role instead of starting over.
 */
export function metricsDatabaseUserData(o: MetricsDatabaseBootOptions): UserData {
  const tags = METRICS_DB_TAGS;
  return UserData.forShellScript(`#!/bin/bash
# TimescaleDB host bootstrap (MetricsDatabase). Output: /var/log/cloud-init-output.log
set -euo pipefail
PG=${o.postgresVersion}
DB=${o.databaseName}
DB_USER=${o.username}
ROOT=${METRICS_DB_VOLUME_ROOT}
export DEBIAN_FRONTEND=noninteractive
fail() { echo "metrics-db bootstrap: $*" >&2; exit 1; }
token=$(curl -fsS --retry 5 --retry-connrefused -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 3600' http://169.254.169.254/latest/api/token)
imds() { curl -fsS --retry 5 --retry-connrefused -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"; }
volume_id=$(imds tags/instance/${tags.dataVolumeId})
secret_arn=$(imds tags/instance/${tags.passwordSecretArn})

# Data volume: attached after the instance runs. Nitro exposes it as NVMe, named after the volume id
# (not /dev/sdf); Xen instances keep /dev/xvdf.
device=
for _ in $(seq 120); do
  for candidate in "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_\${volume_id//-/}" /dev/xvdf /dev/sdf; do
    if [ -b "$candidate" ]; then device=$(readlink -f "$candidate"); break 2; fi
  done
  sleep 5
done
[ -n "$device" ] || fail "data volume $volume_id is not attached after 10 minutes"
# blkid exits 2 when it finds no signature at all: only then is the volume blank and formatted.
probe=0; blkid -p "$device" >/dev/null || probe=$?
if [ "$probe" -eq 2 ]; then mkfs.ext4 -q -L pgdata "$device"
elif [ "$probe" -ne 0 ]; then fail "cannot probe $device (blkid exit $probe); not formatting it"; fi
uuid=$(blkid -s UUID -o value "$device")
mkdir -p "$ROOT"
grep -q "^UUID=$uuid " /etc/fstab || echo "UUID=$uuid $ROOT ext4 defaults,noatime,nofail 0 2" >> /etc/fstab
systemctl daemon-reload
mountpoint -q "$ROOT" || mount "$ROOT"

# Cluster configuration lives on the volume as well (/etc/postgresql -> $ROOT/etc).
install -d -m 0755 "$ROOT/etc"
if [ ! -L /etc/postgresql ]; then
  [ ! -e /etc/postgresql ] || rmdir /etc/postgresql
  ln -s "$ROOT/etc" /etc/postgresql
fi
for existing in $(ls "$ROOT/etc"); do
  [ "$existing" = "$PG" ] || fail "the data volume holds a PostgreSQL $existing cluster but postgresVersion is $PG; upgrade it with pg_upgradecluster first"
done

# Packages: PostgreSQL from PGDG, TimescaleDB from Timescale's packagecloud repository; each key signs only its repository.
apt_get() { apt-get -q -y -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@"; }
. /etc/os-release
install -d -m 0755 /etc/apt/keyrings
curl -fsSL https://www.postgresql.org/media/keys/ACCC4CF8.asc -o /etc/apt/keyrings/pgdg.asc
curl -fsSL https://packagecloud.io/timescale/timescaledb/gpgkey -o /etc/apt/keyrings/timescaledb.asc
echo "deb [signed-by=/etc/apt/keyrings/pgdg.asc] https://apt.postgresql.org/pub/repos/apt $VERSION_CODENAME-pgdg main" > /etc/apt/sources.list.d/pgdg.list
echo "deb [signed-by=/etc/apt/keyrings/timescaledb.asc] https://packagecloud.io/timescale/timescaledb/ubuntu/ $VERSION_CODENAME main" > /etc/apt/sources.list.d/timescaledb.list
apt_get update
apt_get install postgresql-common
# The cluster is created below, on the volume and with explicit options, not by the server package.
sed -ri 's/^#?[[:space:]]*create_main_cluster[[:space:]]*=.*/create_main_cluster = false/' /etc/postgresql-common/createcluster.conf
apt_get install "postgresql-$PG" "timescaledb-2-postgresql-$PG" timescaledb-tools
chown postgres:postgres "$ROOT"
if [ ! -f "/etc/postgresql/$PG/main/postgresql.conf" ]; then
  pg_createcluster --encoding=UTF8 --locale=C.UTF-8 "$PG" main -- --data-checksums
elif [ "$(stat -c %u "$ROOT/$PG/main")" != "$(id -u postgres)" ]; then
  chown -R postgres:postgres "$ROOT/$PG" "$ROOT/etc/$PG"   # adopted from a host whose postgres uid differed
fi

conf=/etc/postgresql/$PG/main
timescaledb-tune --quiet --yes --conf-path="$conf/postgresql.conf" --pg-config="/usr/lib/postgresql/$PG/bin/pg_config"
# conf.d is included after postgresql.conf, so these win over the defaults and the tuner.
install -d -o postgres -g postgres "$conf/conf.d"
cat > "$conf/conf.d/90-metrics-database.conf" <<'CONF'
listen_addresses = '*'
password_encryption = 'scram-sha-256'
ssl = on
ssl_cert_file = '/etc/ssl/certs/ssl-cert-snakeoil.pem'
ssl_key_file = '/etc/ssl/private/ssl-cert-snakeoil.key'
ssl_min_protocol_version = 'TLSv1.2'
shared_preload_libraries = 'timescaledb'
timescaledb.telemetry_level = off
CONF
# Who may reach 5432 is decided by the security group (the fleet's group only); this file demands TLS and
# SCRAM for the application role on its database from the VPC, and peer auth locally. Nothing else.
cidrs=$(imds "network/interfaces/macs/$(imds mac)/vpc-ipv4-cidr-blocks")
{
  echo "local all postgres peer"
  echo "local all all peer"
  for cidr in $cidrs; do echo "hostssl $DB $DB_USER $cidr scram-sha-256"; done
} > "$conf/pg_hba.conf"
systemctl enable postgresql
systemctl restart "postgresql@$PG-main"
for _ in $(seq 60); do pg_isready -q && break; sleep 2; done
pg_isready -q || fail "PostgreSQL did not start; see journalctl -u postgresql@$PG-main"

# Role and database from the generated secret, read with the instance role (never part of the user data).
install -d -m 0700 /usr/local/lib/metrics-db
cat > /usr/local/lib/metrics-db/get-secret.py <<'PY'
${SECRET_FETCHER_PY}PY
password=
for _ in $(seq 30); do   # a fresh role's grants take a while to reach IAM
  password=$(python3 /usr/local/lib/metrics-db/get-secret.py "$secret_arn") && break
  sleep 10
done
[ -n "$password" ] || fail "cannot read the password secret $secret_arn"
METRICS_DB_PASSWORD=$password runuser -u postgres -- psql -X -q -v user="$DB_USER" -v db="$DB" <<'SQL'
${BOOTSTRAP_SQL}SQL
unset password
runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c 'CREATE EXTENSION IF NOT EXISTS timescaledb;'
# The schema belongs to the host, not the gateway: its role may only write rows (no DDL on these tables).
runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 --single-transaction -d "$DB" <<'SQL'
${metricsSchemaSql({ timescale: true, retentionDays: o.retentionDays, grantTo: o.username })}SQL
echo "metrics-db bootstrap: PostgreSQL $PG + TimescaleDB ready, database $DB"
`);
}
