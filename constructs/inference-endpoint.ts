import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import { DataAwsRegion } from '@cdktf/provider-aws/lib/data-aws-region';
import { S3Bucket } from '@cdktf/provider-aws/lib/s3-bucket';
import { S3BucketPublicAccessBlock } from '@cdktf/provider-aws/lib/s3-bucket-public-access-block';
import { S3BucketServerSideEncryptionConfigurationA } from '@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration';
import { S3BucketOwnershipControls } from '@cdktf/provider-aws/lib/s3-bucket-ownership-controls';
import { S3Object } from '@cdktf/provider-aws/lib/s3-object';
import { SsmParameter } from '@cdktf/provider-aws/lib/ssm-parameter';
import { AssetType, TerraformAsset, TerraformOutput } from 'cdktf';
import { Construct } from 'constructs';
import { ApiFleet, ApiFleetProps } from './api-fleet';
import { checkInteger, checkOneOf, PropError } from './errors';
import { bundleHandler, HandlerBundle, HandlerBundleOptions } from './handler-bundle';
import { handlerUserData } from './handler-user-data';
import { JobTable, JobTableProps } from './job-table';
import { LoadBalancer, LoadBalancerProps } from './load-balancer';
import { MetricsDatabase, MetricsDatabaseProps } from './metrics-database';
import { INetwork, Network, NetworkProps } from './network';
import { ResponseCache, ResponseCacheProps } from './response-cache';
import { GeneratedSecret } from './secret';
import { sanitize } from './security-group';

/** How the handler bundle reaches the instances. */
export type HandlerDelivery = 'user-data' | 's3';

export interface HandlerOptions extends HandlerBundleOptions {
  /**
   * `user-data` carries the bundle inside the launch template (one apply ships code and infrastructure);
   * `s3` uploads it as an object the instances fetch and verify by SHA-256, for handlers that outgrow 16 KB.
   * @default 'user-data'
   */
  readonly delivery?: HandlerDelivery;
  /**
   * Extra handler settings (see the README's handler table), e.g. `{ MODEL_VERSIONS: 'llama-3-8b=2024-06' }`.
   * They are written into the user data, so never put secrets here.
   * @default {}
   */
  readonly environment?: Record<string, string>;
  /** Node.js major version installed from the AL2023 `nodejs<N>` package. @default 22 */
  readonly nodeMajor?: number;
}

export interface InferenceEndpointProps {
  /**
   * The network: a new VPC, or `{ existing: { vpcId, publicSubnetIds, privateSubnetIds } }` to adopt one.
   * @default - a new VPC with two AZs and one NAT gateway per AZ
   */
  readonly network?: NetworkProps;
  /** API fleet settings (instance type, capacities, scaling targets). @default - ApiFleet's defaults */
  readonly fleet?: Omit<ApiFleetProps, 'network' | 'userData' | 'port'>;
  /** Port the handler listens on behind the load balancer. @default 8080 */
  readonly port?: number;
  /** Load balancer settings beyond the certificate and deletion protection. @default - LoadBalancer's defaults */
  readonly loadBalancer?: Omit<LoadBalancerProps, 'network' | 'certificateArn' | 'deletionProtection'>;
  /**
   * ACM certificate for the HTTPS listener.
   * @default - none: the load balancer serves plain HTTP and synth warns (dev only)
   */
  readonly certificateArn?: string;
  /** Deletion protection on the load balancer and the job table; `apply_immediately = false` on the cache. @default true */
  readonly deletionProtection?: boolean;
  /** Response cache and rate-limit store. @default - ResponseCache's defaults (Valkey, one replica) */
  readonly cache?: Omit<ResponseCacheProps, 'network'>;
  /** Async prediction job table. @default - JobTable's defaults, with `deletionProtection` from this construct */
  readonly jobTable?: Omit<JobTableProps, 'deletionProtection'>;
  /** Self-hosted TimescaleDB for per-request metrics. @default - MetricsDatabase's defaults */
  readonly metricsDatabase?: Omit<MetricsDatabaseProps, 'network'>;
  /**
   * OpenAI-compatible model servers the handler fronts (vLLM, TGI, llama.cpp, Ollama).
   * @default [] - the handler runs its labelled simulator
   */
  readonly upstreamUrls?: string[];
  /** Handler bundling, delivery and extra settings. @default - this package's handler in user data */
  readonly handler?: HandlerOptions;
  /** Target group deregistration delay; the handler's graceful stop is bounded below it. @default 120 */
  readonly deregistrationDelaySeconds?: number;
  /**
   * Serve the API without bearer keys. Only for endpoints that are private by other means.
   * @default false - a client key is generated into Secrets Manager (output `api_keys_secret_arn`); store more
   * keys in that secret, comma-separated, to add clients
   */
  readonly allowUnauthenticated?: boolean;
}

/**
 * The whole inference fleet in one construct: network, load balancer, API fleet carrying the handler,
 * response cache, job table and metrics database, wired through security-group references and grants.
 *
 * Settings known at synth time ride in the user data; values known only at apply time (table name,
 * endpoints, secret ARNs) go into one SSM parameter the instances read at boot, so the user data stays
 * byte-identical between synths and secrets never enter the plan.
 */
export class InferenceEndpoint extends Construct {
  readonly network: INetwork;
  readonly loadBalancer: LoadBalancer;
  readonly fleet: ApiFleet;
  readonly cache: ResponseCache;
  readonly jobTable: JobTable;
  readonly metricsDatabase: MetricsDatabase;
  readonly handlerBundle: HandlerBundle;
  /** SSM parameter with the apply-time handler settings. */
  readonly configParameter: SsmParameter;
  /** Client API keys (bearer tokens), read by the handler at start; undefined with `allowUnauthenticated`. */
  readonly apiKeys?: GeneratedSecret;

  constructor(scope: Construct, id: string, props: InferenceEndpointProps = {}) {
    super(scope, id);
    const port = props.port ?? 8080;
    const deregistrationDelay = props.deregistrationDelaySeconds ?? 120;
    const deletionProtection = props.deletionProtection ?? true;
    const delivery = props.handler?.delivery ?? 'user-data';
    checkInteger(this, 'port', port, 1024, 65535);
    checkInteger(this, 'deregistrationDelaySeconds', deregistrationDelay, 30, 3600);
    checkOneOf(this, 'handler.delivery', delivery, ['user-data', 's3'] as const);
    for (const url of props.upstreamUrls ?? []) {
      if (!/^https?:\/\/[^\s/,]+[^\s,]*$/.test(url)) throw new PropError(this, 'upstreamUrls', url, 'Give http(s) base URLs such as http://10.0.5.10:8000 (no commas or spaces).');
    }
    const reserved = Object.keys(props.handler?.environment ?? {}).filter((k) => RESERVED_ENV.includes(k));
    if (reserved.length) throw new PropError(this, 'handler.environment', reserved, `These are set by the construct from its resources; use the matching props instead.`);

    const network = new Network(this, 'Network', props.network);
    this.network = network;
    this.loadBalancer = new LoadBalancer(this, 'LoadBalancer', {
      ...props.loadBalancer,
      network,
      certificateArn: props.certificateArn,
      deletionProtection,
    });
    this.cache = new ResponseCache(this, 'Cache', { applyImmediately: !deletionProtection, ...props.cache, network });
    this.jobTable = new JobTable(this, 'Jobs', { ...props.jobTable, deletionProtection });
    this.metricsDatabase = new MetricsDatabase(this, 'Metrics', { ...props.metricsDatabase, network });

    if (!props.allowUnauthenticated) {
      this.apiKeys = new GeneratedSecret(this, 'ApiKeys', { description: 'Bearer API keys of the inference endpoint (comma-separated; the gateway accepts any of them).', length: 48 });
    }
    this.handlerBundle = bundleHandler(props.handler);
    const s3Delivery = delivery === 's3' ? this.deliverFromS3(this.handlerBundle) : undefined;
    const region = new DataAwsRegion(this, 'Region');
    const db = this.metricsDatabase;
    // Apply-time settings; the handler reads them from stack.env at boot (see handler-user-data.ts).
    const configParameterName = `/${sanitize(this.node.path)}/handler-config`;
    this.configParameter = new SsmParameter(this, 'HandlerConfig', {
      name: configParameterName,
      description: 'Apply-time settings of the inference gateway (resource names, endpoints, secret ARNs; no secret values).',
      type: 'String',
      tier: 'Standard',
      value: [
        `AWS_REGION=${region.region}`,
        `DYNAMODB_TABLE=${this.jobTable.tableName}`,
        `REDIS_URL=rediss://${this.cache.primaryEndpointAddress}:${this.cache.port}`,
        `REDIS_AUTH_SECRET_ARN=${this.cache.authToken.secretArn}`,
        `METRICS_DB_HOST=${db.address}`,
        `METRICS_DB_PASSWORD_SECRET_ARN=${db.password.secretArn}`,
        `PUBLIC_BASE_URL=${this.loadBalancer.url}`,
        ...(this.apiKeys ? [`API_KEYS_SECRET_ARN=${this.apiKeys.secretArn}`] : []),
        ...(s3Delivery ? [`HANDLER_BUNDLE_BUCKET=${s3Delivery.bucket.bucket}`] : []),
      ].join('\n'),
    });


    const environment: Record<string, string> = {
      PORT: String(port),
      UPSTREAM_URLS: (props.upstreamUrls ?? []).join(','),
      METRICS_DB_PORT: String(db.port),
      METRICS_DB_NAME: db.databaseName,
      METRICS_DB_USER: db.username,
      METRICS_DB_SSL: 'require',
      AUTH: props.allowUnauthenticated ? 'disabled' : 'required',
      // Drain in-flight streams before the target group finishes deregistering the instance.
      SHUTDOWN_TIMEOUT_MS: String((deregistrationDelay - 20) * 1000),
      ...props.handler?.environment,
    };
    if (!environment.UPSTREAM_URLS) delete environment.UPSTREAM_URLS;

    this.fleet = new ApiFleet(this, 'Fleet', {
      ...props.fleet,
      network,
      port,
      userData: (fleet) =>
        handlerUserData({
          bundle: this.handlerBundle,
          environment,
          configParameterName, // the literal: user data is built before Terraform resolves anything
          port,
          readinessGate: { hookName: fleet.lifecycleHookName, autoScalingGroupName: fleet.autoScalingGroupName, timeoutSeconds: props.fleet?.readinessTimeoutSeconds },
          stopTimeoutSeconds: deregistrationDelay - 10,
          nodeMajor: props.handler?.nodeMajor,
          s3Delivery: s3Delivery && { key: s3Delivery.key },
        }),
    });
    // Instances read the parameter at boot, so it must exist before the first one launches.
    this.fleet.addDependency(this.configParameter);
    this.fleet.role.addToPolicy({ sid: 'ReadHandlerConfig', actions: ['ssm:GetParameter'], resources: [this.configParameter.arn] });
    if (s3Delivery) {
      this.fleet.addDependency(s3Delivery.object);
      this.fleet.role.addToPolicy({ sid: 'ReadHandlerBundle', actions: ['s3:GetObject'], resources: [`${s3Delivery.bucket.arn}/${s3Delivery.key}`] });
    }

    this.loadBalancer.addTargets('Api', { target: this.fleet, healthCheckPath: '/healthz', deregistrationDelaySeconds: deregistrationDelay });
    this.cache.grantConnect(this.fleet);
    this.metricsDatabase.grantConnect(this.fleet);
    this.jobTable.grantReadWriteData(this.fleet);
    this.apiKeys?.grantRead(this.fleet);

    const output = (name: string, value: string | number, description: string) => new TerraformOutput(this, name, { value, description });
    output('url', this.loadBalancer.url, 'Base URL of the OpenAI-compatible API.');
    output('alb_dns_name', this.loadBalancer.dnsName, 'DNS name of the load balancer (point a CNAME or alias here).');
    output('job_table_name', this.jobTable.tableName, 'DynamoDB table of async prediction jobs.');
    output('cache_endpoint', this.cache.primaryEndpointAddress, 'Primary endpoint of the response cache (TLS, AUTH).');
    output('metrics_db_address', db.address, 'Private address of the TimescaleDB metrics database.');
    output('autoscaling_group_name', this.fleet.autoScalingGroupName, 'Auto Scaling group of the API fleet.');
    if (this.apiKeys) output('api_keys_secret_arn', this.apiKeys.secretArn, 'Secrets Manager secret holding the client API keys (aws secretsmanager get-secret-value).');
    output('user_data_bytes', this.fleet.userData.rawBytes, "Raw user data size (after gzip, before base64); EC2's limit is 16384.");
  }

  /** A private, encrypted bucket holding the bundle as a content-addressed object. */
  private deliverFromS3(bundle: HandlerBundle): { bucket: S3Bucket; object: S3Object; key: string } {
    // Content-addressed and a literal: the boot script and the grant name it before Terraform resolves anything.
    const key = `handler/${bundle.sha256}.js`;
    const scope = new Construct(this, 'HandlerDelivery');
    const dir = join(tmpdir(), 'cdktf-inference-fleet', bundle.sha256);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'main.js'), bundle.code);
    const asset = new TerraformAsset(scope, 'Bundle', { path: join(dir, 'main.js'), type: AssetType.FILE });
    const bucket = new S3Bucket(scope, 'Bucket', { bucketPrefix: `${sanitize(this.node.path).toLowerCase().slice(0, 24)}-handler-`, forceDestroy: true });
    new S3BucketPublicAccessBlock(scope, 'PublicAccessBlock', { bucket: bucket.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true });
    new S3BucketOwnershipControls(scope, 'Ownership', { bucket: bucket.id, rule: { objectOwnership: 'BucketOwnerEnforced' } });
    new S3BucketServerSideEncryptionConfigurationA(scope, 'Encryption', {
      bucket: bucket.id,
      rule: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: 'AES256' } }],
    });
    const object = new S3Object(scope, 'Object', {
      bucket: bucket.id,
      key,
      source: asset.path,
      sourceHash: bundle.sha256,
      contentType: 'application/javascript',
      serverSideEncryption: 'AES256',
    });
    return { bucket, object, key };
  }
}

/** Handler settings the composition derives from its own resources. */
const RESERVED_ENV = ['AUTH', 'API_KEYS_SECRET_ARN', 'PORT', 'UPSTREAM_URLS', 'AWS_REGION', 'DYNAMODB_TABLE', 'REDIS_URL', 'REDIS_AUTH_SECRET_ARN', 'METRICS_DB_HOST', 'METRICS_DB_PASSWORD_SECRET_ARN', 'METRICS_DB_PORT', 'METRICS_DB_NAME', 'METRICS_DB_USER'];
