import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import YAML from 'yaml';
import { bundleHandler } from '../../constructs/handler-bundle';
import { compressBundle, HANDLER_PATHS, handlerUserData, HandlerUserDataProps } from '../../constructs/handler-user-data';
import { unpackBundle, writeFiles } from '../support/cloud-init';

const bundle = bundleHandler({ entry: 'test/constructs/fixtures/tiny-handler.ts' });
const base: HandlerUserDataProps = {
  bundle,
  environment: { PORT: '8080', METRICS_DB_SSL: 'require' },
  configParameterName: '/test/handler-config',
  port: 8080,
  readinessGate: { hookName: 'launch-readiness', autoScalingGroupName: 'test-fleet', timeoutSeconds: 300 },
  stopTimeoutSeconds: 110,
};

function decode(props: HandlerUserDataProps) {
  const userData = handlerUserData(props);
  const document = gunzipSync(userData.raw).toString();
  const config = YAML.parse(document);
  const files = Object.fromEntries((config.write_files as any[]).map((f) => [f.path, f]));
  return { userData, document, config, files };
}

describe('handlerUserData', () => {
  it('bundles a team-supplied entry file with the same minifier', () => {
    expect(bundle.entry).toBe('test/constructs/fixtures/tiny-handler.ts');
    expect(bundle.code).toContain('createServer');
    expect(bundle.code.split('\n').length).toBeLessThanOrEqual(2);
    expect(bundle.gzipBytes).toBeGreaterThan(0);
    expect(bundle.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('is a cloud-config document cloud-init accepts: files, a systemd unit and one boot command', () => {
    const { document, config, files } = decode(base);
    expect(document.startsWith('#cloud-config\n')).toBe(true);
    expect(Object.keys(config).sort()).toEqual(['runcmd', 'write_files']);
    expect(Object.keys(files).sort()).toEqual([HANDLER_PATHS.boot, HANDLER_PATHS.compressedBundle, HANDLER_PATHS.staticEnv, HANDLER_PATHS.unit].sort());
    for (const file of Object.values(files) as any[]) {
      expect(file.owner).toBe('root:root');
      expect(file.permissions).toMatch(/^0[0-7]{3}$/);
      expect(typeof file.content).toBe('string');
    }
    expect(files[HANDLER_PATHS.compressedBundle].encoding).toBe('b64');
    expect(brotliDecompressSync(Buffer.from(files[HANDLER_PATHS.compressedBundle].content, 'base64')).toString()).toBe(bundle.code);
    expect(files[HANDLER_PATHS.staticEnv]).toMatchObject({ permissions: '0600' });
    expect(files[HANDLER_PATHS.staticEnv].content).toContain('METRICS_DB_SSL=require\nPORT=8080\n');
    expect(files[HANDLER_PATHS.boot].permissions).toBe('0755');
    expect(config.runcmd).toEqual([['bash', HANDLER_PATHS.boot]]);
  });

  it('installs a hardened unit that restarts always and stops within the bound', () => {
    const unit: string = decode(base).files[HANDLER_PATHS.unit].content;
    for (const line of [
      `User=${HANDLER_PATHS.user}`,
      `EnvironmentFile=${HANDLER_PATHS.staticEnv}`,
      `EnvironmentFile=-${HANDLER_PATHS.stackEnv}`,
      `ExecStart=${HANDLER_PATHS.node} ${HANDLER_PATHS.bundle}`,
      'Restart=always',
      'TimeoutStopSec=110',
      'NoNewPrivileges=yes',
      'WantedBy=multi-user.target',
    ]) {
      expect(unit.split('\n')).toContain(line);
    }
    expect(unit).toContain(bundle.sha256.slice(0, 12));
  });

  it('boots with a script bash accepts: Node.js from dnf, settings from SSM, the verified bundle, the service, then the readiness-gated hook', () => {
    const boot: string = decode(base).files[HANDLER_PATHS.boot].content;
    execFileSync('bash', ['-n'], { input: boot });
    const order = ['dnf install -y nodejs22', 'useradd --system', "aws ssm get-parameter --region \"$REGION\" --name '/test/handler-config'", 'brotliDecompressSync', `echo '${bundle.sha256}  ${HANDLER_PATHS.bundle}' | sha256sum -c -`, `systemctl enable --now ${HANDLER_PATHS.service}`, '/readyz', 'complete-lifecycle-action'];
    const positions = order.map((needle) => boot.indexOf(needle));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    expect(boot).toContain("--lifecycle-hook-name 'launch-readiness' --auto-scaling-group-name 'test-fleet'");
    expect(boot).toContain('for _ in $(seq 60); do');
  });

  it('fetches and verifies the bundle from S3 when delivery is s3, instead of carrying it', () => {
    const { files, userData } = decode({ ...base, s3Delivery: { key: `handler/${bundle.sha256}.js` } });
    expect(files[HANDLER_PATHS.bundle]).toBeUndefined();
    expect(files[HANDLER_PATHS.compressedBundle]).toBeUndefined();
    const boot: string = files[HANDLER_PATHS.boot].content;
    // The bucket is named at apply time, so it comes from the SSM settings, fetched first.
    expect(boot.indexOf('aws ssm get-parameter')).toBeLessThan(boot.indexOf('HANDLER_BUNDLE_BUCKET'));
    expect(boot).toContain(`aws s3 cp --region "$REGION" "s3://$bucket/handler/${bundle.sha256}.js" ${HANDLER_PATHS.bundle}`);
    expect(() => handlerUserData({ ...base, configParameterName: undefined, s3Delivery: { key: 'k' } })).toThrow('s3Delivery needs configParameterName');
    expect(boot).toContain(`echo '${bundle.sha256}  ${HANDLER_PATHS.bundle}' | sha256sum -c -`);
    expect(boot).not.toContain('brotliDecompressSync');
    expect(userData.rawBytes).toBeLessThan(handlerUserData(base).rawBytes + 200);
  });

  it('is byte-identical for the same input, and changes with the handler code', () => {
    expect(handlerUserData(base).base64).toBe(handlerUserData(base).base64);
    const other = { ...bundle, code: `${bundle.code};0`, sha256: 'f'.repeat(64) };
    expect(handlerUserData({ ...base, bundle: other }).base64).not.toBe(handlerUserData(base).base64);
  });

  it.each([
    [{ 'lower-case': 'x' }, "Handler environment: 'lower-case' is not a valid variable name (A-Z, 0-9, _)."],
    [{ OK: 'two\nlines' }, 'Handler environment: OK contains a line break; values must be single-line.'],
  ])('rejects environment %j', (environment, message) => {
    expect(() => handlerUserData({ ...base, environment })).toThrow(message);
  });

  it('rejects an entry file that does not exist', () => {
    expect(() => bundleHandler({ entry: 'src/nope.ts' })).toThrow("Handler entry 'src/nope.ts' does not exist. Pass the path of your handler's entry file");
  });
});

describe('the boot script’s unpack step', () => {
  it('restores the exact bundle and refuses one that does not match the synthesized checksum', () => {
    const { files, config } = decode(base);
    const root = mkdtempSync(join(tmpdir(), 'unpack-'));
    try {
      writeFiles(root, config.write_files);
      expect(readFileSync(unpackBundle(root, files[HANDLER_PATHS.boot].content), 'utf8')).toBe(bundle.code);

      rmSync(join(root, HANDLER_PATHS.node));
      writeFileSync(join(root, HANDLER_PATHS.compressedBundle), compressBundle(`${bundle.code}/*tampered*/`));
      expect(() => unpackBundle(root, files[HANDLER_PATHS.boot].content)).toThrow(/checksum did NOT match/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
