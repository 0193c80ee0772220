/** Everything that differs between the reference app's environments, in one typed place. */
export interface EnvironmentConfig {
  /** Stack name; also the prefix of resource names and the `Environment` tag. */
  readonly stackName: string;
  readonly profile: 'dev' | 'prod';
  readonly region: string;
  readonly vpcCidr: string;
  /** One NAT gateway per AZ keeps egress alive through an AZ outage; dev saves the cost. */
  readonly natGateways: 'per-az' | 'single';
  readonly fleet: { readonly instanceType: string; readonly minCapacity: number; readonly maxCapacity: number };
  readonly cache: { readonly nodeType: string; readonly replicas: number };
  readonly metricsDatabase: { readonly instanceType: string; readonly dataVolumeSize: number };
  /** Deletion protection on the ALB and the job table, and `apply_immediately = false` on the cache. */
  readonly deletionProtection: boolean;
  /** ACM certificate for the HTTPS listener. Required in prod; dev serves plain HTTP with a warning. */
  readonly certificateArn?: string;
  /** OpenAI-compatible model servers the handler fronts; empty runs the labelled simulator. */
  readonly upstreamUrls: string[];
}

const env = process.env;
const list = (value: string | undefined) => (value ? value.split(',').map((s) => s.trim()).filter(Boolean) : []);

/** Per-account values, from INFERENCE_<NAME>_REGION, _CERTIFICATE_ARN and _UPSTREAM_URLS (empty counts as unset). */
const fromEnv = (name: 'DEV' | 'PROD') => ({
  region: env[`INFERENCE_${name}_REGION`] || 'us-east-1',
  certificateArn: env[`INFERENCE_${name}_CERTIFICATE_ARN`] || undefined,
  upstreamUrls: list(env[`INFERENCE_${name}_UPSTREAM_URLS`]),
});
const dev = fromEnv('DEV');
const prod = fromEnv('PROD');

/**
 * The reference environments. Values a team changes per account come from environment variables so CI can
 * set them without editing code; the defaults synthesize on any machine.
 */
export const ENVIRONMENTS: readonly EnvironmentConfig[] = [
  {
    stackName: 'inference-dev',
    profile: 'dev',
    ...dev,
    vpcCidr: '10.20.0.0/16',
    natGateways: 'single',
    fleet: { instanceType: 'c5.xlarge', minCapacity: 2, maxCapacity: 4 },
    cache: { nodeType: 'cache.t4g.small', replicas: 1 },
    metricsDatabase: { instanceType: 'm7i.large', dataVolumeSize: 50 },
    deletionProtection: false,
  },
  {
    stackName: 'inference-prod',
    profile: 'prod',
    ...prod,
    vpcCidr: '10.30.0.0/16',
    natGateways: 'per-az',
    fleet: { instanceType: 'c5.xlarge', minCapacity: 2, maxCapacity: 10 },
    cache: { nodeType: 'cache.r7g.large', replicas: 1 },
    metricsDatabase: { instanceType: 'm7i.xlarge', dataVolumeSize: 200 },
    deletionProtection: true,
    // The example account's ARN (AWS documentation's 123456789012) keeps synth working anywhere; CI sets the real one.
    certificateArn: prod.certificateArn ?? 'arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000',
  },
];

/** Validates one environment before any construct is created; messages name the environment and the field. */
export function validateEnvironment(config: EnvironmentConfig): void {
  const where = `environment '${config.stackName}'`;
  if (config.profile === 'prod' && !config.certificateArn) {
    throw new Error(`${where}: certificateArn is required in prod (HTTPS only). Set INFERENCE_PROD_CERTIFICATE_ARN to an ACM certificate ARN in ${config.region}.`);
  }
  if (config.certificateArn && !/^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[0-9a-f-]+$/.test(config.certificateArn)) {
    throw new Error(`${where}: certificateArn '${config.certificateArn}' is not an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>).`);
  }
  if (!/^[a-z]{2}(-gov)?-[a-z]+-\d$/.test(config.region)) {
    throw new Error(`${where}: region '${config.region}' is not an AWS region name such as us-east-1.`);
  }
  for (const url of config.upstreamUrls) {
    if (!/^https?:\/\/[^\s/]+/.test(url)) throw new Error(`${where}: upstream URL '${url}' must be an http(s) URL such as http://10.0.5.10:8000.`);
  }
}
