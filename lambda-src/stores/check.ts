/** Throws `where: name must be an integer in [min, max], got v` for a bad numeric option. */
export function checkInt(where: string, name: string, v: unknown, min: number, max = Infinity): void {
  if (!Number.isInteger(v) || (v as number) < min || (v as number) > max)
    throw new Error(`${where}: ${name} must be an integer >= ${min}${max < Infinity ? ` and <= ${max}` : ''}, got ${v}`);
}
