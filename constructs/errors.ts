import { Token } from 'cdktf';
import { Construct } from 'constructs';

/** Thrown at construction time for invalid props; the message names the construct, the prop, the value and the fix. */
export class PropError extends Error {
  constructor(scope: Construct, prop: string, value: unknown, fix: string) {
    super(`${scope.constructor.name} '${scope.node.path}': ${prop} = ${describe(value)} is invalid. ${fix}`);
    this.name = 'PropError';
  }
}

function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  const text = JSON.stringify(value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

/** Checks run only on concrete values: a token (an attribute of another resource) is resolved by Terraform. */
export function isConcrete(value: unknown): boolean {
  return value !== undefined && !Token.isUnresolved(value);
}

export function checkInteger(scope: Construct, prop: string, value: number | undefined, min: number, max: number): void {
  if (!isConcrete(value)) return;
  if (!Number.isInteger(value) || value! < min || value! > max) {
    throw new PropError(scope, prop, value, `Use a whole number from ${min} to ${max}.`);
  }
}

export function checkOneOf<T extends string>(scope: Construct, prop: string, value: T | undefined, allowed: readonly T[]): void {
  if (!isConcrete(value)) return;
  if (!allowed.includes(value!)) throw new PropError(scope, prop, value, `Use one of: ${allowed.join(', ')}.`);
}

export function checkPattern(scope: Construct, prop: string, value: string | undefined, pattern: RegExp, fix: string): void {
  if (!isConcrete(value)) return;
  if (!pattern.test(value!)) throw new PropError(scope, prop, value, fix);
}

/** At least `min` ids, no duplicates (two entries for one subnet would defeat the multi-AZ intent). */
export function checkIdList(scope: Construct, prop: string, ids: string[] | undefined, min: number, why: string): void {
  if (ids === undefined || Token.isUnresolved(ids)) return;
  if (ids.length < min) throw new PropError(scope, prop, ids, `Give at least ${min} ${why}.`);
  const concrete = ids.filter((id) => !Token.isUnresolved(id));
  if (new Set(concrete).size !== concrete.length) throw new PropError(scope, prop, ids, 'Remove the duplicate ids.');
}
