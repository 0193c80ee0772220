import { PolicyRule } from './rule';
import { COMPUTE_RULES } from './rules-compute';
import { DATA_RULES } from './rules-data';
import { IAM_RULES } from './rules-iam';
import { NETWORK_RULES } from './rules-network';
import { SECRET_RULES } from './rules-secrets';

/** Every built-in rule, sorted by id. */
export const RULES: readonly PolicyRule[] = [...COMPUTE_RULES, ...NETWORK_RULES, ...DATA_RULES, ...IAM_RULES, ...SECRET_RULES].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

const BY_ID = new Map(RULES.map((r) => [r.id, r]));
if (BY_ID.size !== RULES.length) throw new Error('policy: duplicate rule ids');

export function findRule(id: string): PolicyRule | undefined {
  return BY_ID.get(id);
}
