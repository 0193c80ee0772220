import { brotliCompressSync, constants } from 'node:zlib';
import { HandlerBundle } from './handler-bundle';
import { UserData } from './user-data';

/** Where the handler lives on an instance; the e2e test and the docs read the same constants. */
export const HANDLER_PATHS = {
  dir: '/opt/inference-gateway',
  bundle: '/opt/inference-gateway/main.js',
  /** The bundle as carried in user data: brotli, unpacked and checksum-verified by the boot script. */
  compressedBundle: '/opt/inference-gateway/main.js.br',
  node: '/opt/inference-gateway/node',
  boot: '/opt/inference-gateway/boot.sh',
  staticEnv: '/etc/inference-gateway/static.env',
  stackEnv: '/etc/inference-gateway/stack.env',
  unit: '/etc/systemd/system/inference-gateway.service',
  log: '/var/log/inference-gateway-boot.log',
  user: 'gateway',
  service: 'inference-gateway',
} as const;

export interface HandlerUserDataProps {
  /** The bundled handler (see `bundleHandler`). */
  readonly bundle: HandlerBundle;
  /** Settings known at synth time, written into the user data. Values must not be secrets. */
  readonly environment: Record<string, string>;
  /**
   * SSM parameter (String) with `KEY=value` lines known only at apply time (table name, endpoints, secret ARNs),
   * fetched at boot with the instance role.
   * @default - none
   */
  readonly configParameterName?: string;
  /** Port the handler listens on. */
  readonly port: number;
  /** Completes this launch lifecycle hook once `/readyz` answers (ABANDON if it never does). @default - no hook */
  readonly readinessGate?: { readonly hookName: string; readonly autoScalingGroupName: string; readonly timeoutSeconds?: number };
  /** systemd's stop bound; keep it below the target group's deregistration delay. */
  readonly stopTimeoutSeconds: number;
  /** Major version of the AL2023 `nodejs<N>` package. @default 22 */
  readonly nodeMajor?: number;
  /**
   * Fetch the bundle from S3 instead of carrying it (for handlers that outgrow user data); checked against its SHA-256.
   * The bucket name is known only at apply time, so it comes from the config parameter's `HANDLER_BUNDLE_BUCKET`.
   * @default - the bundle rides inside the user data
   */
  readonly s3Delivery?: { readonly key: string };
}

/**
 * Cloud-config that installs Node.js from the distribution, writes the bundle, environment and a hardened
 * systemd unit, starts the service and gates the launch lifecycle hook on readiness. Gzip-compressed by UserData.
 */
export function handlerUserData(props: HandlerUserDataProps): UserData {
  const p = HANDLER_PATHS;
  if (props.s3Delivery && !props.configParameterName) {
    throw new Error('Handler user data: s3Delivery needs configParameterName, whose HANDLER_BUNDLE_BUCKET names the bucket at boot.');
  }
  for (const [key, value] of Object.entries(props.environment)) {
    if (!/^[A-Z][A-Z0-9_]*$/.test(key)) throw new Error(`Handler environment: '${key}' is not a valid variable name (A-Z, 0-9, _).`);
    if (/[\n\r]/.test(value)) throw new Error(`Handler environment: ${key} contains a line break; values must be single-line.`);
  }
  const files: CloudFile[] = [
    { path: p.staticEnv, permissions: '0600', content: envFile(props.environment) },
    { path: p.unit, permissions: '0644', content: unit(props) },
    { path: p.boot, permissions: '0755', content: bootScript(props) },
  ];
  if (!props.s3Delivery) files.unshift({ path: p.compressedBundle, permissions: '0644', encoding: 'b64', content: compressBundle(props.bundle.code).toString('base64') });
  return UserData.custom(cloudConfig(files, [['bash', p.boot]]));
}

interface CloudFile {
  path: string;
  permissions: string;
  /** cloud-init's write_files encoding; `b64` content is decoded before it is written. */
  encoding?: 'b64';
  content: string;
}

/**
 * Brotli at its densest setting packs minified JavaScript ~9 % tighter than gzip -9, and the base64 it travels as
 * costs almost nothing once cloud-init's outer gzip has run over it. Deterministic: same code, same bytes.
 */
export function compressBundle(code: string): Buffer {
  const cached = compressed.get(code);
  if (cached) return cached;
  const packed = brotliCompressSync(code, {
    params: {
      [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_LGWIN]: constants.BROTLI_MAX_WINDOW_BITS,
      [constants.BROTLI_PARAM_SIZE_HINT]: Buffer.byteLength(code),
    },
  });
  compressed.set(code, packed);
  return packed;
}

/** Densest brotli costs ~50 ms; every stack of an app carries the same bundle. */
const compressed = new Map<string, Buffer>();

function envFile(environment: Record<string, string>): string {
  const lines = Object.keys(environment).sort().map((key) => `${key}=${environment[key]}`);
  return `${lines.join('\n')}\n`;
}

function unit(props: HandlerUserDataProps): string {
  const p = HANDLER_PATHS;
  return `[Unit]
Description=Inference gateway (OpenAI-compatible handler, ${props.bundle.sha256.slice(0, 12)})
After=network-online.target
Wants=network-online.target

[Service]
User=${p.user}
Group=${p.user}
EnvironmentFile=${p.staticEnv}
EnvironmentFile=-${p.stackEnv}
ExecStart=${p.node} ${p.bundle}
Restart=always
RestartSec=2
KillMode=mixed
TimeoutStopSec=${props.stopTimeoutSeconds}
LimitNOFILE=65536
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
CapabilityBoundingSet=
LockPersonality=yes

[Install]
WantedBy=multi-user.target
`;
}

function bootScript(props: HandlerUserDataProps): string {
  const p = HANDLER_PATHS;
  const node = props.nodeMajor ?? 22;
  const lines = [
    '#!/bin/bash',
    'set -euo pipefail',
    `exec >>${p.log} 2>&1`,
    'imds() {',
    '  local token',
    "  token=$(curl -fsS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' http://169.254.169.254/latest/api/token)",
    '  curl -fsS -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"',
    '}',
    'retry() { local n; for n in 1 2 3 4 5 6; do "$@" && return 0; sleep $((n * 5)); done; return 1; }',
    'INSTANCE_ID=$(imds instance-id)',
    'REGION=$(imds placement/region)',
    `retry dnf install -y nodejs${node}`,
    `ln -sfn /usr/bin/node-${node} ${p.node}`,
    `id ${p.user} >/dev/null 2>&1 || useradd --system --no-create-home --shell /sbin/nologin ${p.user}`,
  ];
  if (props.configParameterName) {
    lines.push(
      `retry aws ssm get-parameter --region "$REGION" --name '${props.configParameterName}' --query Parameter.Value --output text >${p.stackEnv}.tmp`,
      `chmod 0600 ${p.stackEnv}.tmp && mv ${p.stackEnv}.tmp ${p.stackEnv}`,
    );
  }
  if (props.s3Delivery) {
    lines.push(
      `bucket=$(sed -n 's/^HANDLER_BUNDLE_BUCKET=//p' ${p.stackEnv})`,
      `retry aws s3 cp --region "$REGION" "s3://$bucket/${props.s3Delivery.key}" ${p.bundle}`,
    );
  } else {
    lines.push(
      `${p.node} -e 'const fs=require("fs");fs.writeFileSync(process.argv[1],require("zlib").brotliDecompressSync(fs.readFileSync(process.argv[2])))' ${p.bundle} ${p.compressedBundle}`,
      `rm -f ${p.compressedBundle}`,
    );
  }
  // Whichever way it came, the bundle runs only if it is byte for byte the one synthesized.
  lines.push(`echo '${props.bundle.sha256}  ${p.bundle}' | sha256sum -c -`, `chmod 0644 ${p.bundle}`);
  lines.push('systemctl daemon-reload', `systemctl enable --now ${p.service}`);
  const gate = props.readinessGate;
  if (gate) {
    const attempts = Math.max(1, Math.floor((gate.timeoutSeconds ?? 540) / 5));
    lines.push(
      'result=ABANDON',
      `for _ in $(seq ${attempts}); do`,
      `  if curl -fsS -m 2 http://127.0.0.1:${props.port}/readyz >/dev/null; then result=CONTINUE; break; fi`,
      '  sleep 5',
      'done',
      'echo "readiness: $result"',
      `retry aws autoscaling complete-lifecycle-action --region "$REGION" --lifecycle-action-result "$result" --instance-id "$INSTANCE_ID" --lifecycle-hook-name '${gate.hookName}' --auto-scaling-group-name '${gate.autoScalingGroupName}'`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** A minimal cloud-config emitter: file contents as YAML literal blocks, readable when the user data is decoded. */
function cloudConfig(files: CloudFile[], runcmd: string[][]): string {
  const out = ['#cloud-config', 'write_files:'];
  for (const file of files) {
    if (/[\x00-\x08\x0b-\x1f\x7f]/.test(file.content)) throw new Error(`User data: ${file.path} contains control characters that YAML cannot carry.`);
    if (/^[ \t]/.test(file.content)) throw new Error(`User data: ${file.path} starts with white space, which a YAML literal block cannot carry.`);
    out.push(`- path: ${file.path}`, `  permissions: '${file.permissions}'`, '  owner: root:root', ...(file.encoding ? [`  encoding: ${file.encoding}`] : []), '  content: |');
    for (const line of file.content.replace(/\n$/, '').split('\n')) out.push(line ? `    ${line}` : '');
  }
  out.push('runcmd:', ...runcmd.map((cmd) => `- [${cmd.map((c) => JSON.stringify(c)).join(', ')}]`));
  return `${out.join('\n')}\n`;
}
