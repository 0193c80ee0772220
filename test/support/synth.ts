// Synthesizes constructs in a throwaway stack and returns the Terraform JSON as an object.
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { App, Testing, TerraformStack } from 'cdktf';

export interface TerraformJson {
  resource: Record<string, Record<string, any>>;
  data?: Record<string, Record<string, any>>;
  output?: Record<string, any>;
  [key: string]: any;
}

export function stackWithProvider(app: App = Testing.app()): TerraformStack {
  const stack = new TerraformStack(app, 'test');
  new AwsProvider(stack, 'aws', { region: 'us-east-1' });
  return stack;
}

export function synthesize(build: (stack: TerraformStack) => void): TerraformJson {
  const stack = stackWithProvider();
  build(stack);
  return JSON.parse(Testing.synth(stack));
}

/** All resources of one type, keyed by their logical id. */
export function resources(json: TerraformJson, type: string): Record<string, any> {
  return json.resource?.[type] ?? {};
}

export function only(json: TerraformJson, type: string): any {
  const all = Object.values(resources(json, type));
  if (all.length !== 1) throw new Error(`expected one ${type}, found ${all.length}`);
  return all[0];
}
