import { IConstruct } from 'constructs';
import { findRule, RULES } from './rules';

// A global symbol, not a module-level WeakMap, so two copies of this module (bundled app + library) agree.
const SUPPRESSIONS = Symbol.for('cdktf-inference-fleet.policy.suppressions');
const MIN_REASON_WORDS = 3;
const MIN_REASON_CHARS = 15;

type Carrier = IConstruct & { [SUPPRESSIONS]?: Map<string, string> };

/**
 * Accepts a policy finding for `scope` and everything below it (a construct or a whole stack), with the reason
 * recorded in the policy report. The reason must say why the rule does not apply or why the risk is accepted.
 */
export function suppress(scope: IConstruct, ruleId: string, reason: string): void {
  const where = `suppress('${scope.node.path}', '${ruleId}')`;
  if (!findRule(ruleId)) {
    throw new Error(`${where}: unknown policy rule id '${ruleId}'. Use one of: ${RULES.map((r) => r.id).join(', ')}.`);
  }
  const text = typeof reason === 'string' ? reason.trim().replace(/\s+/g, ' ') : '';
  if (text.split(' ').filter(Boolean).length < MIN_REASON_WORDS || text.length < MIN_REASON_CHARS) {
    throw new Error(
      `${where}: reason ${JSON.stringify(reason)} is too short. Give at least ${MIN_REASON_WORDS} words (${MIN_REASON_CHARS}+ characters) saying why the rule does not apply here or why the risk is accepted.`,
    );
  }
  const carrier = scope as Carrier;
  if (!carrier[SUPPRESSIONS]) Object.defineProperty(carrier, SUPPRESSIONS, { value: new Map<string, string>(), enumerable: false });
  const existing = carrier[SUPPRESSIONS]!.get(ruleId);
  if (existing !== undefined && existing !== text) {
    throw new Error(`${where}: already suppressed here with reason ${JSON.stringify(existing)}. Keep one reason per rule and construct.`);
  }
  carrier[SUPPRESSIONS]!.set(ruleId, text);
}

/** Suppressions declared directly on a construct (rule id → reason). */
export function suppressionsOn(construct: IConstruct): ReadonlyMap<string, string> | undefined {
  return (construct as Carrier)[SUPPRESSIONS];
}

/** The nearest suppression of `ruleId` on the construct or one of its scopes. */
export function findSuppression(construct: IConstruct, ruleId: string): { scope: IConstruct; reason: string } | undefined {
  const scopes = construct.node.scopes;
  for (let i = scopes.length - 1; i >= 0; i--) {
    const reason = suppressionsOn(scopes[i])?.get(ruleId);
    if (reason !== undefined) return { scope: scopes[i], reason };
  }
  return undefined;
}
