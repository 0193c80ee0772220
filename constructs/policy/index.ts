// Policy checks at synth time: `PolicyAspect.applyTo(stack, { profile })`, `suppress(scope, ruleId, reason)`.
export { PolicyAspect, REPORT_JSON, REPORT_MARKDOWN } from './aspect';
export type { PolicyOptions } from './aspect';
export { reportJson, reportMarkdown } from './report';
export type { PolicyFinding, PolicyReport, PolicyRuleResult, PolicySuppressionEntry } from './report';
export type { Level, PolicyRule, Profile, RuleContext, Severity } from './rule';
export { findRule, RULES } from './rules';
export { suppress } from './suppress';
export type { PlanElement } from './plan';
