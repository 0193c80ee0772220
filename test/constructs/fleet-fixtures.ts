import { Testing, TerraformStack } from 'cdktf';
import { INetwork } from '../../constructs/network';

/** Literal ids: the constructs only pass them through, and literals keep snapshots readable. */
export const NETWORK: INetwork = {
  vpcId: 'vpc-0123456789abcdef0',
  publicSubnetIds: ['subnet-0public0000000001', 'subnet-0public0000000002'],
  privateSubnetIds: ['subnet-0private000000001', 'subnet-0private000000002'],
};

export const CERTIFICATE_ARN = 'arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789';

export function newStack(): TerraformStack {
  return new TerraformStack(Testing.app(), 'test');
}

export interface Synthesized {
  text: string;
  json: { resource: Record<string, Record<string, any>>; data?: Record<string, Record<string, any>> };
}

export function synth(stack: TerraformStack): Synthesized {
  const text = Testing.synth(stack);
  return { text, json: JSON.parse(text) };
}

/** All resources of one type, in synthesis order. */
export function resources(out: Synthesized, type: string): any[] {
  return Object.values(out.json.resource[type] ?? {});
}

/** The only resource of one type; fails the test when there are none or several. */
export function single(out: Synthesized, type: string): any {
  const found = resources(out, type);
  if (found.length !== 1) throw new Error(`expected exactly one ${type}, found ${found.length}`);
  return found[0];
}

/** The synthesized address of a resource, as it appears in references: `${aws_x.Name.attr}`. */
export function addressOf(out: Synthesized, type: string, match: (r: any) => boolean = () => true): string {
  const entry = Object.entries(out.json.resource[type] ?? {}).find(([, r]) => match(r));
  if (!entry) throw new Error(`no ${type} matched`);
  return `${type}.${entry[0]}`;
}
