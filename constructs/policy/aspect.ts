import * as fs from 'node:fs';
import * as path from 'node:path';
import { Annotations, Aspects, IAspect, IStackSynthesizer, ISynthesisSession, TerraformElement, TerraformStack } from 'cdktf';
import { IConstruct } from 'constructs';
import { constructKeys, PlanElement, planElements } from './plan';
import { PolicyFinding, PolicyReport, PolicyRuleResult, PolicySuppressionEntry, reportJson, reportMarkdown } from './report';
import { PolicyRule, Profile, RuleContext } from './rule';
import { RULES } from './rules';
import { findSuppression, suppressionsOn } from './suppress';

export interface PolicyOptions {
  /**
   * Which rule set applies: 'prod' makes deletion protection, failover, backups and HTTPS errors; 'dev' relaxes
   * them to warnings or skips them.
   * @default 'prod'
   */
  readonly profile?: Profile;
  /**
   * Run the checks. The synth benchmark sets INFERENCE_POLICY=off to measure their cost.
   * @default true unless the environment sets INFERENCE_POLICY=off
   */
  readonly enabled?: boolean;
  /**
   * Write policy-report.json and policy-report.md beside the stack's cdk.tf.json.
   * @default true
   */
  readonly writeReport?: boolean;
}

export const REPORT_JSON = 'policy-report.json';
export const REPORT_MARKDOWN = 'policy-report.md';

/**
 * Checks every resource, data source and provider of a stack against the policy rules at synth time.
 *
 * The aspect records the stack's elements while aspects run; the checks run once, after all aspects, as a stack
 * validation, on the stack's synthesized JSON (the same object cdktf then writes to cdk.tf.json, so the stack is
 * resolved once, with Lazy values final and overrides merged). Failures become annotations: errors fail synth with
 * the rule id, construct path, problem and fix; warnings are printed. A wrapper around the stack's synthesizer
 * writes the report beside cdk.tf.json.
 */
export class PolicyAspect implements IAspect {
  /** Adds the policy checks to a stack; call once per stack. */
  static applyTo(stack: TerraformStack, options: PolicyOptions = {}): PolicyAspect {
    if (PolicyAspect.of(stack)) throw new Error(`PolicyAspect.applyTo('${stack.node.path}'): the stack already has policy checks; apply them once.`);
    const aspect = new PolicyAspect(stack, options);
    if (!aspect.enabled) return aspect;
    Aspects.of(stack).add(aspect);
    stack.node.addValidation({ validate: () => (aspect.evaluate(true), []) });
    stack.synthesizer = new PolicySynthesizer(stack.synthesizer, aspect);
    // The checks resolve the stack once; the synthesizer's own toTerraform() call right after takes that result
    // instead of resolving everything a second time (about half of a synth's resolve cost).
    stack.toTerraform = () => aspect.takeJson() ?? aspect.synthesizeJson();
    return aspect;
  }

  /** The policy checks applied to a stack, if any. */
  static of(stack: TerraformStack): PolicyAspect | undefined {
    return Aspects.of(stack).all.find((a): a is PolicyAspect => a instanceof PolicyAspect);
  }

  readonly profile: Profile;
  readonly enabled: boolean;
  readonly writeReport: boolean;
  /** Declaring constructs by path (and providers by `provider.<type>[.<alias>]`), recorded during the aspect walk. */
  private constructs?: Map<string, IConstruct>;
  private result?: PolicyReport;
  /** The stack JSON the checks ran on, handed once to the synthesizer's toTerraform() call. */
  private pendingJson?: any;
  /** The stack's own toTerraform(). */
  private readonly synthesizeJson: () => any;
  /** Whether this run's checks ran before cdktf collected annotations (false when validations are skipped). */
  private annotatedInTime = false;

  private constructor(
    readonly stack: TerraformStack,
    options: PolicyOptions,
  ) {
    this.profile = options.profile ?? 'prod';
    if (this.profile !== 'dev' && this.profile !== 'prod') throw new Error(`PolicyAspect.applyTo('${stack.node.path}'): profile ${JSON.stringify(this.profile)} is invalid. Use 'dev' or 'prod'.`);
    this.enabled = options.enabled ?? process.env.INFERENCE_POLICY !== 'off';
    this.writeReport = options.writeReport ?? true;
    this.synthesizeJson = stack.toTerraform.bind(stack);
  }

  visit(node: IConstruct): void {
    if (node === this.stack) {
      // A new synth: start over, the tree may have changed since the last one.
      this.constructs = new Map();
      this.result = undefined;
      this.pendingJson = undefined;
      this.annotatedInTime = false;
    }
    if (this.constructs) record(this.constructs, node);
  }

  /** The findings of the last synth (or of the stack as it is now, if it was not synthesized yet). */
  report(): PolicyReport {
    if (!this.enabled) throw new Error(`Policy checks on '${this.stack.node.path}' are off (INFERENCE_POLICY=off or enabled: false); there is no report.`);
    return this.evaluate(false);
  }

  /** @internal */
  evaluate(beforeAnnotations: boolean): PolicyReport {
    if (this.result) return this.result;
    if (!this.constructs) {
      // Not synthesized yet: index the tree as it is now.
      this.constructs = new Map();
      for (const node of this.stack.node.findAll()) record(this.constructs, node);
    }
    const json = this.synthesizeJson();
    if (beforeAnnotations) this.pendingJson = json;
    this.result = evaluate(this.stack, this.profile, planElements(json, this.constructs, this.stack));
    this.annotatedInTime = beforeAnnotations;
    return this.result;
  }

  /** @internal */
  takeJson(): any {
    const json = this.pendingJson;
    this.pendingJson = undefined;
    return json;
  }

  /** @internal Called by the synthesizer wrapper after cdktf wrote (or refused to write) cdk.tf.json. */
  finish(session: ISynthesisSession, synthFailed: boolean): void {
    this.pendingJson = undefined;
    if (synthFailed && !this.result) return;
    const report = this.evaluate(false);
    if (this.writeReport) {
      const dir = path.join(session.outdir, session.manifest.forStack(this.stack).workingDirectory);
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, REPORT_JSON), reportJson(report));
      fs.writeFileSync(path.join(dir, REPORT_MARKDOWN), reportMarkdown(report));
    }
    // With validations skipped the error annotations came too late for cdktf to stop the synth: stop it here.
    if (!synthFailed && !this.annotatedInTime && report.summary.errors > 0) {
      const errors = report.findings.filter((f) => f.status === 'failed' && f.severity === 'error');
      throw new Error(`Policy errors in stack '${this.stack.node.id}':\n${errors.map((f) => `[${f.path}] ${annotation(f)}`).join('\n')}`);
    }
  }
}

/** Delegates to the stack's own synthesizer, then writes the policy report into the stack's output directory. */
class PolicySynthesizer implements IStackSynthesizer {
  constructor(
    private readonly inner: IStackSynthesizer,
    private readonly aspect: PolicyAspect,
  ) {}

  synthesize(session: ISynthesisSession): void {
    try {
      this.inner.synthesize(session);
    } catch (error) {
      this.aspect.finish(session, true);
      throw error;
    }
    this.aspect.finish(session, false);
  }
}

function record(constructs: Map<string, IConstruct>, node: IConstruct): void {
  if (TerraformElement.isTerraformElement(node)) for (const key of constructKeys(node)) constructs.set(key, node);
}

function annotation(f: PolicyFinding): string {
  return `${f.ruleId} (${f.severity}) ${f.title}: ${f.address}: ${f.message}. Fix: ${f.fix} To accept it instead: suppress(scope, '${f.ruleId}', '<reason>').`;
}

function addOnce(construct: IConstruct, level: 'error' | 'warning', message: string): void {
  const type = level === 'error' ? '@cdktf/error' : '@cdktf/warn';
  if (construct.node.metadata.some((m) => m.type === type && m.data === message)) return;
  if (level === 'error') Annotations.of(construct).addError(message);
  else Annotations.of(construct).addWarning(message);
}

function evaluate(stack: TerraformStack, profile: Profile, plan: readonly PlanElement[]): PolicyReport {
  const byKey = new Map<string, PlanElement[]>();
  for (const e of plan) byKey.set(e.key, [...(byKey.get(e.key) ?? []), e]);
  const ctx: RuleContext = { profile, ofType: (key) => byKey.get(key) ?? [] };

  const active = RULES.filter((r) => r.level[profile] !== 'off');
  const rulesFor = new Map<string, PolicyRule[]>();
  for (const rule of active) for (const key of rule.appliesTo) rulesFor.set(key, [...(rulesFor.get(key) ?? []), rule]);
  const everywhere = rulesFor.get('*') ?? [];

  const stats = new Map(RULES.map((r) => [r.id, { checked: 0, passed: 0, failed: 0, suppressed: 0 }]));
  const findings: PolicyFinding[] = [];
  const matched = new Map<IConstruct, Map<string, number>>();

  for (const element of plan) {
    for (const rule of [...(rulesFor.get(element.key) ?? []), ...everywhere]) {
      const stat = stats.get(rule.id)!;
      let message: string | undefined;
      try {
        if (rule.applies && !rule.applies(element, ctx)) continue;
        message = rule.check(element, ctx);
      } catch (error) {
        throw new Error(`Policy rule ${rule.id} could not check ${element.address} (${element.path}): ${(error as Error).message}`);
      }
      stat.checked++;
      if (message === undefined) {
        stat.passed++;
        continue;
      }
      const severity = rule.level[profile] as 'error' | 'warning';
      const suppression = findSuppression(element.construct, rule.id);
      const finding: PolicyFinding = {
        ruleId: rule.id,
        title: rule.title,
        severity,
        status: suppression ? 'suppressed' : 'failed',
        path: element.path,
        address: element.address,
        message,
        fix: rule.fix,
        ...(suppression ? { suppression: { path: suppression.scope.node.path, reason: suppression.reason } } : {}),
      };
      findings.push(finding);
      if (suppression) {
        stat.suppressed++;
        const counts = matched.get(suppression.scope) ?? new Map<string, number>();
        counts.set(rule.id, (counts.get(rule.id) ?? 0) + 1);
        matched.set(suppression.scope, counts);
      } else {
        stat.failed++;
        addOnce(element.construct, severity, annotation(finding));
      }
    }
  }

  const suppressions: PolicySuppressionEntry[] = [];
  for (const construct of stack.node.findAll()) {
    for (const [ruleId, reason] of suppressionsOn(construct) ?? []) {
      const count = matched.get(construct)?.get(ruleId) ?? 0;
      suppressions.push({ ruleId, path: construct.node.path, reason, matched: count });
      if (count === 0 && active.some((r) => r.id === ruleId)) {
        addOnce(construct, 'warning', `Suppression of ${ruleId} here matched no finding in this subtree; remove it so it cannot hide a future problem.`);
      }
    }
  }

  const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  findings.sort((a, b) => byText(a.ruleId, b.ruleId) || byText(a.path, b.path) || byText(a.address, b.address));
  suppressions.sort((a, b) => byText(a.ruleId, b.ruleId) || byText(a.path, b.path));
  const rules: PolicyRuleResult[] = RULES.map((r) => ({ id: r.id, title: r.title, severity: r.level[profile], ...stats.get(r.id)! }));
  const failed = findings.filter((f) => f.status === 'failed');
  return {
    stack: stack.node.id,
    profile,
    summary: {
      rules: active.length,
      elements: plan.length,
      checks: rules.reduce((n, r) => n + r.checked, 0),
      passed: rules.reduce((n, r) => n + r.passed, 0),
      errors: failed.filter((f) => f.severity === 'error').length,
      warnings: failed.filter((f) => f.severity === 'warning').length,
      suppressed: findings.length - failed.length,
      unusedSuppressions: suppressions.filter((s) => s.matched === 0).length,
    },
    rules,
    findings,
    suppressions,
  };
}
