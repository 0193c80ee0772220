import { AutoscalingGroup } from '@cdktf/provider-aws/lib/autoscaling-group';
import { AutoscalingPolicy } from '@cdktf/provider-aws/lib/autoscaling-policy';
import { DataAwsCallerIdentity } from '@cdktf/provider-aws/lib/data-aws-caller-identity';
import { DataAwsPartition } from '@cdktf/provider-aws/lib/data-aws-partition';
import { DataAwsRegion } from '@cdktf/provider-aws/lib/data-aws-region';
import { DataAwsSsmParameter } from '@cdktf/provider-aws/lib/data-aws-ssm-parameter';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy';
import { IamRolePolicyAttachment } from '@cdktf/provider-aws/lib/iam-role-policy-attachment';
import { LaunchTemplate } from '@cdktf/provider-aws/lib/launch-template';
import { IResolveContext, ITerraformDependable, Lazy, Token } from 'cdktf';
import { Construct } from 'constructs';
import { checkIdList, checkInteger, checkPattern, isConcrete, PropError } from './errors';
import { isGravitonInstanceType } from './instance-types';
import { IGrantable, InstanceRole } from './instance-role';
import { INetwork } from './network';
import { Connections, IConnectable, Peer, Port, SecurityGroup, sanitize } from './security-group';
import { UserData } from './user-data';

/** The names user data needs to complete the launch lifecycle hook; known at synth time. */
export interface FleetIdentity {
  readonly autoScalingGroupName: string;
  readonly lifecycleHookName: string;
}

/** What a load balancer hands its target when it registers it. */
export interface ApplicationTargetGroupRef {
  readonly arn: string;
  readonly arnSuffix: string;
  readonly loadBalancerArnSuffix: string;
  /**
   * Resources that must exist before scaling on this target group, i.e. the listener that routes to it:
   * AWS rejects an ALBRequestCountPerTarget policy for a group no load balancer uses yet.
   * @default - none
   */
  readonly dependsOn?: ITerraformDependable[];
}

/** A group of instances an Application Load Balancer can forward to. */
export interface IApplicationLoadBalancerTarget extends IConnectable {
  /** Registers the group's targets; called by LoadBalancer.addTargets. */
  attachToApplicationTargetGroup(targetGroup: ApplicationTargetGroupRef): void;
}

export interface ApiFleetProps {
  /** Network whose private subnets (at least two, in different AZs) host the instances. */
  readonly network: INetwork;
  /**
   * User data the instances boot with. The function form receives the Auto Scaling group and lifecycle hook
   * names so the user data can complete the readiness hook.
   */
  readonly userData: UserData | ((fleet: FleetIdentity) => UserData);
  /** Port the handler listens on; unprivileged, since the handler runs as a non-root user. @default 8080 */
  readonly port?: number;
  /** EC2 instance type; Graviton types (c7g, m7g, t4g, …) get the arm64 AMI. @default 'c5.xlarge' */
  readonly instanceType?: string;
  /** Smallest fleet size; at least 1 so request-count scaling always has a target to measure. @default 2 */
  readonly minCapacity?: number;
  /** Largest fleet size. @default 10 */
  readonly maxCapacity?: number;
  /** Root volume size in GiB (gp3, encrypted). @default 30 */
  readonly rootVolumeSize?: number;
  /**
   * Seconds after the readiness hook completes before load-balancer health checks can replace an instance.
   * @default 120
   */
  readonly healthCheckGracePeriodSeconds?: number;
  /** Seconds a new instance is excluded from scaling metrics and instance-refresh progress. @default 180 */
  readonly defaultInstanceWarmupSeconds?: number;
  /**
   * ALBRequestCountPerTarget target, in requests per instance per minute. 600 (10 req/s) keeps about 200
   * concurrent 20-second completion streams per c5.xlarge, far below Node's socket capacity; the CPU policy
   * is the backstop for compute-heavy traffic, and scale-in waits until both policies agree.
   * @default 600
   */
  readonly requestsPerTargetPerMinute?: number;
  /** Average CPU utilisation the CPU target-tracking policy holds. @default 60 */
  readonly cpuTargetPercent?: number;
  /**
   * Seconds the launch lifecycle hook waits for the user data to report readiness; an instance that never
   * does is abandoned (terminated) instead of joining the fleet.
   * @default 600
   */
  readonly readinessTimeoutSeconds?: number;
  /**
   * Public SSM parameter holding the AMI id.
   * @default '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64' (the arm64 parameter for Graviton types)
   */
  readonly amiParameter?: string;
  /**
   * Allow every outbound connection. By default the fleet may reach HTTPS anywhere (AWS APIs, package
   * repositories, upstream model APIs) plus whatever other constructs open with `connections`.
   * @default false
   */
  readonly allowAllOutbound?: boolean;
  /**
   * Tags for the instances, volumes, network interfaces and the group. Instance metadata tags are enabled,
   * so keys may only use letters, digits and `+ - = . , _ : @`.
   * @default {}
   */
  readonly tags?: Record<string, string>;
}

const AL2023_PARAMETER = '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-';
const LIFECYCLE_HOOK_NAME = 'handler-ready';
const ENABLED_METRICS = [
  'GroupDesiredCapacity', 'GroupInServiceInstances', 'GroupMaxSize', 'GroupMinSize',
  'GroupPendingInstances', 'GroupStandbyInstances', 'GroupTerminatingInstances', 'GroupTotalInstances',
];

/**
 * Launch template + Auto Scaling group of API servers in private subnets: AL2023, IMDSv2 only, encrypted gp3,
 * no public IP or SSH key, a readiness lifecycle hook completed by the user data, instance refresh pinned to the
 * template's latest version, and target tracking on requests per target (once attached to a load balancer) and CPU.
 */
export class ApiFleet extends Construct implements IApplicationLoadBalancerTarget, IGrantable {
  readonly role: InstanceRole;
  readonly grantPrincipal: InstanceRole;
  readonly connections: Connections;
  readonly securityGroup: SecurityGroup;
  readonly port: number;
  /** Literal name, so user data can address the group before Terraform knows its ARN. */
  readonly autoScalingGroupName: string;
  readonly lifecycleHookName: string;
  readonly launchTemplate: LaunchTemplate;
  readonly autoScalingGroup: AutoscalingGroup;
  readonly userData: UserData;
  /** SSM parameter the AMI id is read from at plan time; a newly published AMI rolls the fleet through the instance refresh. */
  readonly amiParameterName: string;
  private readonly targetGroups: ApplicationTargetGroupRef[] = [];
  private readonly dependencies = new Set<ITerraformDependable>();
  private readonly requestsPerTarget: number;
  private readonly minCapacity: number;

  constructor(scope: Construct, id: string, props: ApiFleetProps) {
    super(scope, id);
    this.port = props.port ?? 8080;
    const instanceType = props.instanceType ?? 'c5.xlarge';
    this.minCapacity = props.minCapacity ?? 2;
    const maxCapacity = props.maxCapacity ?? 10;
    const grace = props.healthCheckGracePeriodSeconds ?? 120;
    const warmup = props.defaultInstanceWarmupSeconds ?? 180;
    const readiness = props.readinessTimeoutSeconds ?? 600;
    this.requestsPerTarget = props.requestsPerTargetPerMinute ?? 600;
    const tags = { Name: this.node.path, ...props.tags };

    checkIdList(this, 'network.privateSubnetIds', props.network.privateSubnetIds, 2, 'private subnets in different availability zones');
    checkInteger(this, 'port', this.port, 1024, 65535);
    checkPattern(this, 'instanceType', instanceType, /^[a-z][a-z0-9-]*\.[a-z0-9-]+$/, "Use an EC2 instance type such as 'c5.xlarge' or 'c7g.xlarge'.");
    checkInteger(this, 'minCapacity', this.minCapacity, 1, 1000);
    checkInteger(this, 'maxCapacity', maxCapacity, 1, 1000);
    if (isConcrete(this.minCapacity) && isConcrete(maxCapacity) && this.minCapacity > maxCapacity) {
      throw new PropError(this, 'minCapacity', this.minCapacity, `It exceeds maxCapacity (${maxCapacity}); lower minCapacity or raise maxCapacity.`);
    }
    checkInteger(this, 'rootVolumeSize', props.rootVolumeSize, 8, 16384);
    checkInteger(this, 'healthCheckGracePeriodSeconds', grace, 0, 3600);
    checkInteger(this, 'defaultInstanceWarmupSeconds', warmup, 0, 3600);
    checkInteger(this, 'readinessTimeoutSeconds', readiness, 30, 7200);
    checkInteger(this, 'requestsPerTargetPerMinute', this.requestsPerTarget, 1, 1_000_000);
    checkInteger(this, 'cpuTargetPercent', props.cpuTargetPercent, 10, 95);
    for (const [key, value] of Object.entries(props.tags ?? {})) {
      checkPattern(this, 'tags key', key, /^(?!aws:)(?!\.{1,2}$)(?!_index$)[A-Za-z0-9+\-=.,_:@]{1,128}$/,
        'Instance metadata tags are enabled: keys take letters, digits and + - = . , _ : @ only (no spaces or /), up to 128, not aws:*.');
      if (value.length > 256) throw new PropError(this, `tags.${key}`, value, 'Tag values are at most 256 characters.');
    }
    const arch = isGravitonInstanceType(instanceType) ? 'arm64' : 'x86_64';
    checkPattern(this, 'amiParameter', props.amiParameter, /^\/?[A-Za-z0-9_.\-/]+$/, "Use an SSM parameter name such as '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64'.");
    this.amiParameterName = props.amiParameter ?? `${AL2023_PARAMETER}${arch}`;
    const parameterArch = /arm64|aarch64/.test(this.amiParameterName) ? 'arm64' : /x86_64|amd64/.test(this.amiParameterName) ? 'x86_64' : arch;
    if (parameterArch !== arch) {
      throw new PropError(this, 'amiParameter', this.amiParameterName, `It names an AMI for ${parameterArch}, but ${instanceType} is ${arch}; use the ${arch} parameter or another instance type.`);
    }

    this.autoScalingGroupName = sanitize(this.node.path);
    this.lifecycleHookName = LIFECYCLE_HOOK_NAME;
    const identity: FleetIdentity = { autoScalingGroupName: this.autoScalingGroupName, lifecycleHookName: this.lifecycleHookName };
    this.userData = typeof props.userData === 'function' ? props.userData(identity) : props.userData;
    this.userData.assertWithinLimit(this.node.path);

    this.securityGroup = new SecurityGroup(this, 'SecurityGroup', {
      vpcId: props.network.vpcId,
      description: `Instances of the API fleet ${this.node.path}`,
      allowAllOutbound: props.allowAllOutbound ?? false,
      defaultPort: Port.tcp(this.port),
    });
    this.connections = this.securityGroup.connections;
    this.connections.allowToPeer(Peer.anyIpv4(), Port.tcp(443), 'HTTPS to AWS APIs, package repositories and upstream model APIs');

    this.role = new InstanceRole(this, 'InstanceRole', { description: `Instances of the API fleet ${this.node.path}` });
    this.grantPrincipal = this.role;
    this.grantCompleteLifecycleAction();

    const ami = new DataAwsSsmParameter(this, 'Ami', { name: this.amiParameterName });
    const tagSpecification = (resourceType: string) => ({ resourceType, tags });
    this.launchTemplate = new LaunchTemplate(this, 'LaunchTemplate', {
      namePrefix: `${this.autoScalingGroupName}-`,
      description: `API fleet ${this.node.path}`,
      // The public AMI parameter is not a secret; its insecure_value keeps the AMI id readable in plans.
      imageId: ami.insecureValue,
      instanceType,
      userData: this.userData.base64,
      updateDefaultVersion: true,
      iamInstanceProfile: { arn: this.role.instanceProfile.arn },
      metadataOptions: { httpEndpoint: 'enabled', httpTokens: 'required', httpPutResponseHopLimit: 1, instanceMetadataTags: 'enabled' },
      blockDeviceMappings: [{
        deviceName: '/dev/xvda',
        ebs: { volumeType: 'gp3', volumeSize: props.rootVolumeSize ?? 30, encrypted: 'true', deleteOnTermination: 'true' },
      }],
      networkInterfaces: [{ deviceIndex: 0, associatePublicIpAddress: 'false', deleteOnTermination: 'true', securityGroups: [this.securityGroup.securityGroupId] }],
      monitoring: { enabled: true },
      tagSpecifications: ['instance', 'volume', 'network-interface'].map(tagSpecification),
      tags,
    });

    // Boot, the readiness hook and the first load-balancer health checks, with margin.
    const waitMinutes = Math.ceil((readiness + grace + 300) / 60);
    this.autoScalingGroup = new AutoscalingGroup(this, 'Group', {
      name: this.autoScalingGroupName,
      minSize: this.minCapacity,
      maxSize: maxCapacity,
      vpcZoneIdentifier: props.network.privateSubnetIds,
      // Pinning the version (never $Latest) is what lets a template change start an instance refresh.
      launchTemplate: { id: this.launchTemplate.id, version: `${this.launchTemplate.latestVersion}` },
      healthCheckType: 'ELB',
      healthCheckGracePeriod: grace,
      defaultInstanceWarmup: warmup,
      targetGroupArns: Lazy.listValue({ produce: () => (this.targetGroups.length ? this.targetGroups.map((tg) => tg.arn) : undefined) }),
      // On creation, wait until the first instances pass the load balancer's health check too.
      minElbCapacity: Lazy.numberValue({ produce: () => (this.targetGroups.length ? this.minCapacity : undefined) }),
      waitForCapacityTimeout: `${waitMinutes}m`,
      initialLifecycleHook: [{
        name: this.lifecycleHookName,
        lifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
        defaultResult: 'ABANDON',
        heartbeatTimeout: readiness,
      }],
      instanceRefresh: {
        strategy: 'Rolling',
        preferences: {
          minHealthyPercentage: 100,
          maxHealthyPercentage: 200,
          autoRollback: true,
          skipMatching: true,
          instanceWarmup: `${warmup}`,
        },
      },
      // Health replacements and rebalancing also launch before they terminate.
      instanceMaintenancePolicy: { minHealthyPercentage: 100, maxHealthyPercentage: 200 },
      enabledMetrics: ENABLED_METRICS,
      metricsGranularity: '1Minute',
      tag: Object.keys(tags).sort().map((key) => ({ key, value: tags[key as keyof typeof tags]!, propagateAtLaunch: true })),
      // desired_capacity is left unset and ignored: scaling policies own it, a deploy must not reset it.
      lifecycle: { ignoreChanges: ['desired_capacity'] },
    });
    // Instances call AWS at boot (SSM, the lifecycle hook): their permissions must exist before the first launch.
    this.role.node.children
      .filter((child): child is IamRolePolicy | IamRolePolicyAttachment => child instanceof IamRolePolicy || child instanceof IamRolePolicyAttachment)
      .forEach((resource) => this.addDependency(resource));

    new AutoscalingPolicy(this, 'CpuTracking', {
      name: 'cpu-target-tracking',
      autoscalingGroupName: this.autoScalingGroup.name,
      policyType: 'TargetTrackingScaling',
      targetTrackingConfiguration: {
        targetValue: props.cpuTargetPercent ?? 60,
        predefinedMetricSpecification: { predefinedMetricType: 'ASGAverageCPUUtilization' },
      },
    });
  }

  /**
   * Adds the target group to the group's `target_group_arns` (one attachment mechanism, no
   * `aws_autoscaling_attachment`) and scales on its ALBRequestCountPerTarget.
   */
  attachToApplicationTargetGroup(targetGroup: ApplicationTargetGroupRef): void {
    this.targetGroups.push(targetGroup);
    const n = this.targetGroups.length;
    new AutoscalingPolicy(this, n === 1 ? 'RequestCountTracking' : `RequestCountTracking${n}`, {
      name: n === 1 ? 'request-count-target-tracking' : `request-count-target-tracking-${n}`,
      autoscalingGroupName: this.autoScalingGroup.name,
      policyType: 'TargetTrackingScaling',
      targetTrackingConfiguration: {
        targetValue: this.requestsPerTarget,
        predefinedMetricSpecification: {
          predefinedMetricType: 'ALBRequestCountPerTarget',
          resourceLabel: `${targetGroup.loadBalancerArnSuffix}/${targetGroup.arnSuffix}`,
        },
      },
      dependsOn: targetGroup.dependsOn,
    });
  }

  /** Lets the ASG depend on resources the instances read at boot (e.g. the SSM config parameter). */
  addDependency(dependable: ITerraformDependable): void {
    if (this.dependencies.has(dependable)) return;
    this.dependencies.add(dependable);
    // depends_on takes a bare address, not an interpolation: resolve the fqn with braces suppressed, as cdktf does for `dependsOn` config.
    const address = Token.asString({ creationStack: [], resolve: (context: IResolveContext) => ((context.suppressBraces = true), dependable.fqn) });
    this.autoScalingGroup.dependsOn = [...(this.autoScalingGroup.dependsOn ?? []), address];
  }

  /**
   * The user data completes the readiness hook. The ARN is built from the literal group name: referencing the
   * group's own ARN would make the policy wait for the group, which waits for the hook — a deadlock on first deploy.
   * The `*` stands only for the group's generated UUID.
   */
  private grantCompleteLifecycleAction(): void {
    const partition = new DataAwsPartition(this, 'Partition');
    const region = new DataAwsRegion(this, 'Region');
    const account = new DataAwsCallerIdentity(this, 'Account');
    this.role.addToPolicy({
      sid: 'CompleteLaunchLifecycleAction',
      actions: ['autoscaling:CompleteLifecycleAction'],
      resources: [
        `arn:${partition.partition}:autoscaling:${region.region}:${account.accountId}:autoScalingGroup:*:autoScalingGroupName/${this.autoScalingGroupName}`,
      ],
    });
  }
}
