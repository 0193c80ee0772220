import { blocks, dataDocumentStatements, list, parsePolicyJson, PlanElement, Statement } from './plan';
import { always, PolicyRule, problems } from './rule';

/** Attributes that hold a policy document, per type. Key policies and bucket policies are resource policies. */
const POLICY_ATTRIBUTES: Record<string, string[]> = {
  aws_iam_policy: ['policy'],
  aws_iam_role_policy: ['policy'],
  aws_iam_user_policy: ['policy'],
  aws_iam_group_policy: ['policy'],
  aws_iam_role: ['assume_role_policy'],
  aws_s3_bucket_policy: ['policy'],
  aws_kms_key: ['policy'],
};
const POLICY_TYPES = [...Object.keys(POLICY_ATTRIBUTES), 'data.aws_iam_policy_document'];

/** Literal statements of an element, labelled for messages. Documents that are references are checked where they are defined. */
function statementsOf(el: PlanElement): [string, Statement][] {
  if (el.kind === 'data') return dataDocumentStatements(el.attrs).map((s, i) => [`statement[${i}]${s.sid ? ` (${s.sid})` : ''}`, s]);
  const docs = (POLICY_ATTRIBUTES[el.type] ?? []).map((attr) => [attr, el.attrs[attr]] as const);
  if (el.type === 'aws_iam_role') blocks(el.attrs.inline_policy).forEach((p, i) => docs.push([`inline_policy[${i}].policy`, p.policy]));
  return docs.flatMap(([attr, json]) => (parsePolicyJson(json) ?? []).map((s, i): [string, Statement] => [`${attr} Statement[${i}]${s.sid ? ` (${s.sid})` : ''}`, s]));
}

/** Identity statements (no principal): what a role, user or group may do. Trust and resource policies name principals. */
const identityAllows = (el: PlanElement) => statementsOf(el).filter(([, s]) => s.effect === 'Allow' && s.principals.length === 0);
const hasStatements = (el: PlanElement) => statementsOf(el).length > 0;

/** Read-only verbs by IAM naming convention; everything else (including kms:Decrypt) counts as write here. */
const READ_ONLY = /^[a-z0-9-]+:(Get|List|Describe|Head|Query|Scan|BatchGet|Search|Lookup|Select|View|Filter)[A-Za-z0-9*]*$/;

const ADMIN_POLICY = /^arn:aws[a-z-]*:iam::aws:policy\/AdministratorAccess$/;
const ATTACHMENT_TYPES = ['aws_iam_role_policy_attachment', 'aws_iam_policy_attachment', 'aws_iam_user_policy_attachment', 'aws_iam_group_policy_attachment', 'aws_iam_role', 'aws_iam_role_policy_attachments_exclusive'];

export const IAM_RULES: PolicyRule[] = [
  {
    id: 'CKV_AWS_63',
    title: 'IAM policies list their actions (no wildcards, no NotAction allows)',
    level: always('error'),
    appliesTo: POLICY_TYPES,
    applies: hasStatements,
    check: (el) =>
      problems(identityAllows(el).map(([where, s]) => {
        const wild = s.actions.filter((a) => a.includes('*'));
        if (wild.length) return `${where} allows ${wild.map((a) => `"${a}"`).join(', ')}`;
        return s.notActions.length > 0 && `${where} allows everything except ${s.notActions.join(', ')} (NotAction)`;
      })),
    fix: 'List the exact actions the workload calls (InstanceRole.addToPolicy refuses wildcards).',
    related: ['CKV_AWS_62', 'CKV_AWS_1', 'CKV_AWS_289'],
  },
  {
    id: 'CKV_AWS_111',
    title: 'IAM policies grant no write actions on Resource "*" without a condition',
    level: always('error'),
    appliesTo: POLICY_TYPES,
    applies: hasStatements,
    check: (el) =>
      problems(identityAllows(el).map(([where, s]) => {
        if (!s.resources.includes('*') || s.hasCondition) return undefined;
        const writes = s.actions.filter((a) => !READ_ONLY.test(a));
        return writes.length > 0 && `${where} allows ${writes.join(', ')} on "*"`;
      })),
    fix: 'Scope the statement to the ARNs it needs (grant* methods do), or constrain it with a Condition (e.g. cloudwatch:namespace for PutMetricData).',
    related: ['CKV_AWS_290', 'CKV_AWS_355'],
  },
  {
    id: 'CKV_AWS_60',
    title: 'Trust and resource policies name their principals',
    level: always('error'),
    appliesTo: POLICY_TYPES,
    applies: hasStatements,
    check: (el) =>
      problems(statementsOf(el).map(([where, s]) =>
        s.effect === 'Allow' && !s.hasCondition && s.principals.some((p) => p === '*' || p === 'AWS:*' || p === '*:*') && `${where} allows any principal ("*") without a condition`,
      )),
    fix: 'Name the service or account principals, or add a condition (aws:SourceArn, aws:PrincipalOrgID).',
  },
  {
    id: 'CKV_AWS_274',
    title: 'No AdministratorAccess attachments',
    level: always('error'),
    appliesTo: ATTACHMENT_TYPES,
    applies: ({ type, attrs }) => type !== 'aws_iam_role' || attrs.managed_policy_arns !== undefined,
    check: ({ attrs }) => {
      const arns = [attrs.policy_arn, ...list(attrs.managed_policy_arns), ...list(attrs.policy_arns)].filter((a): a is string => typeof a === 'string');
      const admin = arns.find((a) => ADMIN_POLICY.test(a));
      return admin ? `attaches ${admin}` : undefined;
    },
    fix: 'Attach least-privilege statements through grants instead of AdministratorAccess.',
  },
];
