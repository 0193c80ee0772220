import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { LocalBackend, S3Backend, TerraformStack } from 'cdktf';
import { Construct } from 'constructs';
import { InferenceEndpoint } from '../constructs/inference-endpoint';
import { PolicyAspect, suppress } from '../constructs/policy';
import { EnvironmentConfig, validateEnvironment } from './environments';

/** State backend from the environment: S3 with locking when `TF_STATE_BUCKET` is set, a local file otherwise. */
export interface BackendSettings {
  readonly bucket?: string;
  readonly region?: string;
  /** DynamoDB lock table; without it, S3's native lock file (Terraform ≥ 1.10) is used. */
  readonly lockTable?: string;
  readonly keyPrefix?: string;
}

export function backendFromEnv(env: NodeJS.ProcessEnv = process.env): BackendSettings {
  return { bucket: env.TF_STATE_BUCKET || undefined, region: env.TF_STATE_REGION || undefined, lockTable: env.TF_STATE_LOCK_TABLE || undefined, keyPrefix: env.TF_STATE_KEY_PREFIX || undefined };
}

/** One environment of the reference app: provider, backend and the whole endpoint. */
export class InferenceStack extends TerraformStack {
  readonly endpoint: InferenceEndpoint;

  constructor(scope: Construct, config: EnvironmentConfig, backend: BackendSettings = {}) {
    super(scope, config.stackName);
    validateEnvironment(config);
    new AwsProvider(this, 'aws', {
      region: config.region,
      defaultTags: [{ tags: { Application: 'inference-fleet', Environment: config.profile, Stack: config.stackName, ManagedBy: 'cdktf' } }],
    });

    if (backend.bucket) {
      const s3 = new S3Backend(this, {
        bucket: backend.bucket,
        key: `${backend.keyPrefix ?? 'cdktf-inference-fleet'}/${config.stackName}.tfstate`,
        region: backend.region ?? config.region,
        encrypt: true,
        dynamodbTable: backend.lockTable,
      });
      if (!backend.lockTable) s3.addOverride('use_lockfile', true);
    } else {
      new LocalBackend(this, { path: `terraform.${config.stackName}.tfstate` });
    }

    this.endpoint = new InferenceEndpoint(this, 'endpoint', {
      network: { cidr: config.vpcCidr, natGateways: config.natGateways },
      fleet: config.fleet,
      cache: config.cache,
      metricsDatabase: config.metricsDatabase,
      deletionProtection: config.deletionProtection,
      certificateArn: config.certificateArn,
      upstreamUrls: config.upstreamUrls,
    });
    // Security and reliability rules on every synth; errors fail it, the report lands beside cdk.tf.json.
    PolicyAspect.applyTo(this, { profile: config.profile });
    suppress(this, 'CKV_AWS_149', 'The AWS-managed secretsmanager key encrypts both secrets; who can read them is decided by IAM grants scoped to each secret ARN, which a customer-managed key would not narrow.');
    suppress(this, 'CKV_AWS_158', 'Flow-log, slow-log and engine-log records carry no request content or credentials; the service-managed key encrypts them at rest.');
  }
}
