// The reference app: `npm run synth` (or `cdktf synth`) writes cdktf.out/stacks/<stack>/cdk.tf.json for every environment.
import { App } from 'cdktf';
import { USER_DATA_LIMIT_BYTES } from '../constructs/user-data';
import { ENVIRONMENTS } from './environments';
import { backendFromEnv, InferenceStack } from './inference-stack';

const started = performance.now();
const app = new App();
const backend = backendFromEnv();
const stacks = ENVIRONMENTS.map((config) => new InferenceStack(app, config, backend));
app.synth();
for (const stack of stacks) {
  const fleet = stack.endpoint.fleet;
  console.log(`synth: ${app.outdir}/stacks/${stack.node.id}/cdk.tf.json (user data ${fleet.userData.rawBytes} of ${USER_DATA_LIMIT_BYTES} bytes)`);
}
console.log(`synth: ${stacks.length} stacks in ${Math.round(performance.now() - started)} ms`);
