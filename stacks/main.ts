// The reference app: `npm run synth` (or `cdktf synth`) writes cdktf.out/stacks/<stack>/cdk.tf.json for every environment.
import { App } from 'cdktf';
import { ENVIRONMENTS } from './environments';
import { backendFromEnv, InferenceStack } from './inference-stack';

const app = new App();
const backend = backendFromEnv();
for (const config of ENVIRONMENTS) new InferenceStack(app, config, backend);
app.synth();
