import { Attrs, block, blocks, isRef, isTrue, list, PlanElement, referencedAddresses, show } from './plan';
import { always, PolicyRule, prodError, problems, RuleContext } from './rule';

function metadataOptions(attrs: Attrs): Attrs {
  return block(attrs.metadata_options) ?? {};
}

function imdsDisabled(attrs: Attrs): boolean {
  return metadataOptions(attrs).http_endpoint === 'disabled';
}

/** The launch template an ASG launches from, directly or through a mixed instances policy. */
function asgTemplate(attrs: Attrs): Attrs | undefined {
  const mixed = block(block(block(attrs.mixed_instances_policy)?.launch_template)?.launch_template_specification);
  return block(attrs.launch_template) ?? mixed;
}

function asgAttached(el: PlanElement, ctx: RuleContext): boolean {
  const { attrs, address } = el;
  if (isRef(attrs.target_group_arns) || list(attrs.target_group_arns).length > 0) return true;
  if (list(attrs.load_balancers).length > 0 || blocks(attrs.traffic_source).length > 0) return true;
  return [...ctx.ofType('aws_autoscaling_attachment'), ...ctx.ofType('aws_autoscaling_traffic_source_attachment')].some((a) =>
    referencedAddresses(a.attrs.autoscaling_group_name).includes(address),
  );
}

export const COMPUTE_RULES: PolicyRule[] = [
  {
    id: 'CKV_AWS_79',
    title: 'Instance metadata requires IMDSv2 session tokens',
    level: always('error'),
    appliesTo: ['aws_launch_template', 'aws_instance'],
    check: ({ attrs }) => {
      const tokens = metadataOptions(attrs).http_tokens;
      if (imdsDisabled(attrs) || tokens === 'required' || isRef(tokens)) return undefined;
      return `metadata_options.http_tokens is ${show(tokens)}, so IMDSv1 (no session token) stays reachable`;
    },
    fix: 'Set metadata_options { http_tokens = "required" }.',
  },
  {
    id: 'CKV_AWS_341',
    title: 'Instance metadata hop limit is 1',
    level: always('error'),
    appliesTo: ['aws_launch_template', 'aws_instance'],
    check: ({ attrs }) => {
      const hops = metadataOptions(attrs).http_put_response_hop_limit;
      if (imdsDisabled(attrs) || Number(hops) === 1 || isRef(hops)) return undefined;
      // Unset is not enough: AL2023 AMIs register hop limit 2, which lets containers on the host reach the role.
      return `metadata_options.http_put_response_hop_limit is ${show(hops)}${hops === undefined ? ' (AL2023 AMIs then default to 2)' : ''}`;
    },
    fix: 'Set metadata_options { http_put_response_hop_limit = 1 }.',
  },
  {
    id: 'CKV_AWS_88',
    title: 'Instances get no public IP address',
    level: always('error'),
    appliesTo: ['aws_launch_template', 'aws_instance'],
    check: ({ type, attrs }) => {
      if (type === 'aws_instance') return isTrue(attrs.associate_public_ip_address) ? 'associate_public_ip_address is true' : undefined;
      const i = blocks(attrs.network_interfaces).findIndex((n) => isTrue(n.associate_public_ip_address));
      return i >= 0 ? `network_interfaces[${i}].associate_public_ip_address is true` : undefined;
    },
    fix: 'Launch into private subnets without associate_public_ip_address; reach instances through the load balancer and SSM.',
  },
  {
    id: 'CKV_AWS_8',
    title: 'Instance and launch-template EBS volumes are encrypted',
    level: always('error'),
    appliesTo: ['aws_launch_template', 'aws_instance'],
    check: ({ type, attrs }) => {
      const unencrypted = (ebs: Attrs | undefined) => ebs !== undefined && !isTrue(ebs.encrypted) && !isRef(ebs.encrypted);
      if (type === 'aws_instance') {
        return problems([
          unencrypted(block(attrs.root_block_device) ?? {}) && `root_block_device.encrypted is ${show(block(attrs.root_block_device)?.encrypted)}`,
          ...blocks(attrs.ebs_block_device).map((d, i) => unencrypted(d) && `ebs_block_device[${i}].encrypted is ${show(d.encrypted)}`),
        ]);
      }
      const mappings = blocks(attrs.block_device_mappings).filter((m) => !m.virtual_name && !m.no_device);
      if (mappings.length === 0) return 'no block_device_mappings: root volume encryption is left to the AMI and the account default';
      return problems(mappings.map((m, i) => unencrypted(block(m.ebs) ?? {}) && `block_device_mappings[${i}] (${m.device_name ?? 'no device'}) ebs.encrypted is ${show(block(m.ebs)?.encrypted)}`));
    },
    fix: 'Declare the root device (and every data device) with ebs { encrypted = true } (root_block_device { encrypted = true } on aws_instance).',
  },
  {
    id: 'CKV_AWS_3',
    title: 'EBS volumes are encrypted',
    level: always('error'),
    appliesTo: ['aws_ebs_volume'],
    check: ({ attrs }) => (isTrue(attrs.encrypted) || isRef(attrs.encrypted) ? undefined : `encrypted is ${show(attrs.encrypted)}`),
    fix: 'Set encrypted = true (and kms_key_id for a customer-managed key).',
  },
  {
    id: 'IFL_EBS_PREVENT_DESTROY',
    title: 'Standalone EBS data volumes cannot be destroyed by a plan',
    level: prodError,
    appliesTo: ['aws_ebs_volume'],
    check: ({ attrs }) => (isTrue(block(attrs.lifecycle)?.prevent_destroy) ? undefined : 'lifecycle.prevent_destroy is not set: a replacement or destroy deletes the data'),
    fix: 'Set lifecycle { prevent_destroy = true } on data volumes (MetricsDatabase does); remove it deliberately before retiring the data.',
  },
  {
    id: 'CKV2_AWS_41',
    title: 'Instances run with an IAM instance profile',
    level: always('warning'),
    appliesTo: ['aws_launch_template', 'aws_instance'],
    check: ({ type, attrs }) => {
      const profile = type === 'aws_instance' ? attrs.iam_instance_profile : block(attrs.iam_instance_profile);
      return profile ? undefined : 'no iam_instance_profile: the instance cannot use SSM or read its secrets without stored keys';
    },
    fix: 'Attach an InstanceRole (iam_instance_profile { arn = ... }).',
  },
  {
    id: 'CKV_AWS_315',
    title: 'Auto Scaling groups launch from a launch template',
    level: always('error'),
    appliesTo: ['aws_autoscaling_group'],
    check: ({ attrs }) => (asgTemplate(attrs) ? undefined : `no launch_template${attrs.launch_configuration ? ` (uses launch_configuration ${show(attrs.launch_configuration)})` : ''}`),
    fix: 'Use launch_template { id, version } (ApiFleet does); launch configurations get no new instance types or features.',
  },
  {
    id: 'IFL_ASG_TEMPLATE_VERSION',
    title: 'Auto Scaling groups pin the launch template version so changes trigger an instance refresh',
    level: always('error'),
    appliesTo: ['aws_autoscaling_group'],
    applies: ({ attrs }) => asgTemplate(attrs) !== undefined,
    check: ({ attrs }) => {
      const version = asgTemplate(attrs)!.version;
      if (version === undefined) return 'launch_template.version is unset ($Default): template changes never reach running instances';
      if (version === '$Latest' || version === '$Default') return `launch_template.version is "${version}": Terraform sees no change to the group, so instance refresh never starts`;
      return undefined;
    },
    fix: 'Set launch_template { version = aws_launch_template.x.latest_version } (ApiFleet does).',
  },
  {
    id: 'IFL_ASG_DESIRED_CAPACITY',
    title: 'Auto Scaling groups leave desired capacity to scaling policies',
    level: always('error'),
    appliesTo: ['aws_autoscaling_group'],
    check: ({ attrs }) => {
      if (attrs.desired_capacity === undefined) return undefined;
      const ignored = list<string>(block(attrs.lifecycle)?.ignore_changes);
      if (ignored.includes('desired_capacity') || (block(attrs.lifecycle)?.ignore_changes as unknown) === 'all') return undefined;
      return `desired_capacity = ${show(attrs.desired_capacity)} is re-applied on every apply, undoing scale-out`;
    },
    fix: 'Leave desired_capacity unset (min_size applies at creation) or add it to lifecycle.ignore_changes.',
  },
  {
    id: 'CKV2_AWS_15',
    title: 'Auto Scaling groups behind a load balancer use ELB health checks',
    level: always('error'),
    appliesTo: ['aws_autoscaling_group'],
    applies: asgAttached,
    check: ({ attrs }) => (attrs.health_check_type === 'ELB' || isRef(attrs.health_check_type) ? undefined : `health_check_type is ${show(attrs.health_check_type ?? 'EC2')}: instances failing the target group's check are never replaced`),
    fix: 'Set health_check_type = "ELB" with a health_check_grace_period covering boot.',
  },
];
