// The library's constructs with their default props pass the policy with zero errors in both profiles.
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { TerraformStack, Testing } from 'cdktf';
import { ApiFleet } from '../../../constructs/api-fleet';
import { JobTable } from '../../../constructs/job-table';
import { LoadBalancer } from '../../../constructs/load-balancer';
import { MetricsDatabase } from '../../../constructs/metrics-database';
import { Network } from '../../../constructs/network';
import { PolicyAspect, Profile } from '../../../constructs/policy';
import { ResponseCache } from '../../../constructs/response-cache';
import { UserData } from '../../../constructs/user-data';
import { CERTIFICATE_ARN, failed } from './fixture';

/** Advisory rules the defaults knowingly leave to the deployer (AWS-managed keys on logs and secrets, plain HTTP in dev). */
const ACCEPTED_WARNINGS: Record<Profile, string[]> = { dev: ['CKV_AWS_2'], prod: ['CKV_AWS_149', 'CKV_AWS_158'] };

function endpointParts(profile: Profile) {
  const stack = new TerraformStack(Testing.app(), profile);
  new AwsProvider(stack, 'aws', { region: 'us-east-1' });
  const network = new Network(stack, 'Network');
  const fleet = new ApiFleet(stack, 'Fleet', { network, userData: UserData.forShellScript('exec /opt/app/start') });
  const lb = new LoadBalancer(stack, 'Lb', { network, certificateArn: profile === 'prod' ? CERTIFICATE_ARN : undefined });
  lb.addTargets('Api', { target: fleet });
  const cache = new ResponseCache(stack, 'Cache', { network });
  cache.grantConnect(fleet);
  const table = new JobTable(stack, 'Jobs');
  table.grantReadWriteData(fleet);
  const database = new MetricsDatabase(stack, 'Metrics', { network });
  database.grantConnect(fleet);
  const policy = PolicyAspect.applyTo(stack, { profile, writeReport: false });
  Testing.synth(stack, true);
  return policy.report();
}

describe.each(['dev', 'prod'] as const)('default constructs in %s', (profile) => {
  const report = endpointParts(profile);

  test('pass with zero errors', () => {
    expect(failed(report).filter((f) => f.severity === 'error').map((f) => `${f.ruleId} ${f.path}: ${f.message}`)).toEqual([]);
  });

  test('raise only the accepted advisory warnings', () => {
    expect(failed(report).filter((f) => !ACCEPTED_WARNINGS[profile].includes(f.ruleId)).map((f) => `${f.ruleId} ${f.path}`)).toEqual([]);
  });

  test('are actually checked by the rules that concern them', () => {
    const concern = ['CKV_AWS_79', 'CKV_AWS_8', 'CKV_AWS_46', 'IFL_ASG_TEMPLATE_VERSION', 'CKV2_AWS_15', 'CKV_AWS_131', 'IFL_ALB_IDLE_TIMEOUT', 'CKV_AWS_30', 'CKV_AWS_28', 'CKV_AWS_3', 'CKV_AWS_63', 'IFL_SECRET_STORED', 'AVD-AWS-0107'];
    expect(concern.filter((id) => report.rules.find((r) => r.id === id)!.checked === 0)).toEqual([]);
  });
});
