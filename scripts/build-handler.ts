// `npm run build:handler`: bundles lambda-src/main.ts exactly as synth does (constructs/handler-bundle.ts) into
// dist/handler/main.js and prints the sizes that matter: the bundle raw and gzip -9, and the whole user data a
// fleet instance receives (brotli bundle inside gzip cloud-config), against EC2's 16,384-byte limit.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { bundleHandler, packageRoot } from '../constructs/handler-bundle';
import { handlerUserData } from '../constructs/handler-user-data';
import { USER_DATA_LIMIT_BYTES } from '../constructs/user-data';

/** Left free for longer stack names and settings (the synth guard itself allows up to the limit). */
const HEADROOM_BYTES = 200;

const root = packageRoot();
const bundle = bundleHandler({ entry: process.argv[2] });
const out = join(root, 'dist', 'handler', 'main.js');
mkdirSync(join(root, 'dist', 'handler'), { recursive: true });
writeFileSync(out, bundle.code);
// The reference dev stack's settings; the synthesized launch template carries the same document.
const userData = handlerUserData({
  bundle,
  environment: { METRICS_DB_NAME: 'inference_metrics', METRICS_DB_PORT: '5432', METRICS_DB_SSL: 'require', METRICS_DB_USER: 'gateway', PORT: '8080', SHUTDOWN_TIMEOUT_MS: '100000' },
  configParameterName: '/inference-dev-endpoint/handler-config',
  port: 8080,
  readinessGate: { hookName: 'handler-ready', autoScalingGroupName: 'inference-dev-endpoint-Fleet' },
  stopTimeoutSeconds: 110,
});
const budget = USER_DATA_LIMIT_BYTES - HEADROOM_BYTES;
console.log(`${relative(root, out)} from ${bundle.entry} (sha256 ${bundle.sha256.slice(0, 16)})`);
console.log(`  bundle:     ${bundle.bytes} bytes raw, ${bundle.gzipBytes} gzip -9`);
console.log(`  user data:  ${userData.rawBytes} of ${USER_DATA_LIMIT_BYTES} bytes (${USER_DATA_LIMIT_BYTES - userData.rawBytes} free; budget ${budget} keeps ${HEADROOM_BYTES} spare)`);
if (userData.rawBytes > budget) {
  console.error(`The handler leaves user data ${userData.rawBytes - budget} bytes over budget: trim lambda-src/ or deliver it from S3.`);
  process.exit(1);
}
