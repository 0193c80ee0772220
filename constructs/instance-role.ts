import { DataAwsIamPolicyDocument } from '@cdktf/provider-aws/lib/data-aws-iam-policy-document';
import { IamInstanceProfile } from '@cdktf/provider-aws/lib/iam-instance-profile';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy';
import { IamRolePolicyAttachment } from '@cdktf/provider-aws/lib/iam-role-policy-attachment';
import { Lazy } from 'cdktf';
import { Construct } from 'constructs';
import { sanitize } from './security-group';

/** One IAM policy statement. Actions are explicit: wildcards are rejected. */
export interface PolicyStatement {
  /** Statement id; unique within the role. */
  readonly sid: string;
  readonly actions: string[];
  readonly resources: string[];
  /** IAM condition blocks, e.g. `[{ test: 'StringEquals', variable: 'kms:ViaService', values: [...] }]`. @default - none */
  readonly conditions?: { test: string; variable: string; values: string[] }[];
}

/** Something that can be granted permissions (AWS CDK's IGrantable, reduced to what Terraform needs). */
export interface IGrantable {
  readonly grantPrincipal: InstanceRole;
}

export interface InstanceRoleProps {
  /** What the role is for, shown in IAM. */
  readonly description: string;
  /**
   * AWS managed policies attached to the role.
   * @default SSM Session Manager core + CloudWatch agent server policies
   */
  readonly managedPolicyArns?: string[];
  /** IAM partition. @default 'aws' */
  readonly partition?: string;
}

/**
 * An EC2 instance role with its instance profile. Other constructs add least-privilege statements
 * through `addToPolicy` (their `grant…` methods); they are rendered into one inline policy at synth.
 */
export class InstanceRole extends Construct implements IGrantable {
  readonly role: IamRole;
  readonly instanceProfile: IamInstanceProfile;
  readonly grantPrincipal = this;
  private readonly statements = new Map<string, PolicyStatement>();

  constructor(scope: Construct, id: string, props: InstanceRoleProps) {
    super(scope, id);
    const partition = props.partition ?? 'aws';
    const name = sanitize(this.node.path);
    const trust = new DataAwsIamPolicyDocument(this, 'Trust', {
      statement: [{ effect: 'Allow', actions: ['sts:AssumeRole'], principals: [{ type: 'Service', identifiers: ['ec2.amazonaws.com'] }] }],
    });
    this.role = new IamRole(this, 'Role', {
      namePrefix: `${name.slice(0, 37)}-`,
      description: props.description,
      assumeRolePolicy: trust.json,
    });
    const managed = props.managedPolicyArns ?? [
      `arn:${partition}:iam::aws:policy/AmazonSSMManagedInstanceCore`,
      `arn:${partition}:iam::aws:policy/CloudWatchAgentServerPolicy`,
    ];
    managed.forEach((arn) => {
      new IamRolePolicyAttachment(this, `Managed-${arn.split('/').pop()}`, { role: this.role.name, policyArn: arn });
    });
    this.instanceProfile = new IamInstanceProfile(this, 'Profile', { namePrefix: `${name.slice(0, 37)}-`, role: this.role.name });

    const policy = new IamRolePolicy(this, 'Grants', {
      role: this.role.id,
      name: 'grants',
      // A JSON string whose ARNs are interpolations: Terraform fills them in, reviewers read plain IAM JSON.
      policy: Lazy.stringValue({ produce: () => JSON.stringify({ Version: '2012-10-17', Statement: [...this.statements.values()].map(render) }) }),
    });
    // Terraform rejects an empty policy document, so the inline policy exists only once something was granted.
    policy.count = Lazy.numberValue({ produce: () => (this.statements.size > 0 ? 1 : 0) });
  }

  get roleArn(): string {
    return this.role.arn;
  }

  /** Adds a statement; wildcard actions are refused so grants stay least-privilege (CKV_AWS_63). */
  addToPolicy(statement: PolicyStatement): void {
    const wild = statement.actions.find((action) => action.includes('*'));
    if (wild) throw new Error(`${this.node.path}: statement '${statement.sid}' uses the wildcard action '${wild}'. List the actions it needs.`);
    if (statement.resources.length === 0) throw new Error(`${this.node.path}: statement '${statement.sid}' names no resource.`);
    this.statements.set(statement.sid, statement);
  }
}

function render(statement: PolicyStatement) {
  return {
    Sid: statement.sid,
    Effect: 'Allow',
    Action: [...statement.actions].sort(),
    Resource: statement.resources,
    ...(statement.conditions?.length ? { Condition: renderConditions(statement.conditions) } : {}),
  };
}

function renderConditions(conditions: NonNullable<PolicyStatement['conditions']>) {
  const out: Record<string, Record<string, string[]>> = {};
  for (const c of conditions) (out[c.test] ??= {})[c.variable] = c.values;
  return out;
}
