import { PlanElement } from './plan';

/** 'prod' makes reliability rules (deletion protection, failover, backups) errors; 'dev' relaxes them. */
export type Profile = 'dev' | 'prod';
export type Severity = 'error' | 'warning';
/** A rule's severity in one profile; 'off' means it is not checked there. */
export type Level = Severity | 'off';

/** What a rule's check sees besides the element itself: the rest of the plan. */
export interface RuleContext {
  readonly profile: Profile;
  /** Elements with a type key (`aws_lb`, `data.aws_iam_policy_document`), in construct order. */
  ofType(key: string): readonly PlanElement[];
}

export interface PolicyRule {
  /** Upstream id (checkov CKV_*, trivy AVD-AWS-*) where one exists, else `IFL_*`. */
  readonly id: string;
  readonly title: string;
  readonly level: { readonly dev: Level; readonly prod: Level };
  /** Type keys the rule inspects (`aws_lb`, `data.aws_iam_policy_document`, `provider.aws`), or `*` for all. */
  readonly appliesTo: readonly string[];
  /** Narrows the elements the rule counts as checked (e.g. only application load balancers). @default all */
  readonly applies?: (element: PlanElement, ctx: RuleContext) => boolean;
  /** What is wrong with the element, or undefined when it passes. */
  readonly check: (element: PlanElement, ctx: RuleContext) => string | undefined;
  /** How to fix it, in Terraform attribute terms and, where one exists, the construct prop. */
  readonly fix: string;
  /** Other upstream ids this rule covers. */
  readonly related?: readonly string[];
}

export const always = (severity: Severity) => ({ dev: severity, prod: severity }) as const;
/** Errors in prod, warnings in dev (dev may run a cheaper topology on purpose). */
export const prodError = { dev: 'warning', prod: 'error' } as const;
/** Errors in prod, unchecked in dev (dev stacks are meant to be torn down). */
export const prodOnly = { dev: 'off', prod: 'error' } as const;
export const prodWarning = { dev: 'off', prod: 'warning' } as const;

/** Joins the problems a check found into one message (undefined when there are none). */
export function problems(list: (string | false | undefined)[]): string | undefined {
  const found = list.filter((p): p is string => Boolean(p));
  return found.length ? found.join('; ') : undefined;
}
