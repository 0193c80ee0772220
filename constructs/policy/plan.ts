import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { TerraformElement, TerraformProvider } from 'cdktf';
import { IConstruct } from 'constructs';

/** Attributes of one block as they appear in cdk.tf.json (snake_case, overrides applied, tokens resolved). */
export type Attrs = Record<string, any>;

/** One resource, data source or provider of the synthesized plan, with the construct that declared it. */
export interface PlanElement {
  readonly kind: 'resource' | 'data' | 'provider';
  /** Terraform type, e.g. `aws_lb`, `aws_iam_policy_document` (data source) or `aws` (provider). */
  readonly type: string;
  /** What rules list in `appliesTo`: `aws_lb`, `data.aws_iam_policy_document`, `provider.aws`. */
  readonly key: string;
  /** Terraform address, e.g. `aws_lb.endpoint_lb_1A2B3C4D` or `data.aws_iam_policy_document.x`. */
  readonly address: string;
  /** Construct path (node.path). */
  readonly path: string;
  readonly construct: IConstruct;
  readonly attrs: Attrs;
}

/**
 * The plan's resources, data sources and providers from the stack's synthesized JSON (`stack.toTerraform()`):
 * exactly what cdk.tf.json will hold, Lazy values produced, element and stack overrides merged, references
 * rendered as `${type.name.attr}`. Elements with `count = 0` are not in the plan. `constructs` maps construct
 * paths (resources carry theirs in `//`) and `provider.<type>[.<alias>]` keys to the declaring constructs.
 */
export function planElements(tf: Attrs, constructs: ReadonlyMap<string, IConstruct>, fallback: IConstruct): PlanElement[] {
  const out: PlanElement[] = [];
  for (const kind of ['resource', 'data'] as const) {
    for (const [type, byName] of Object.entries<Record<string, Attrs>>(tf[kind] ?? {})) {
      for (const [name, raw] of Object.entries(byName)) {
        if (raw.count === 0) continue;
        const { ['//']: metadata, ...attrs } = raw;
        const path: string = metadata?.metadata?.path ?? `${fallback.node.path}/${name}`;
        const prefix = kind === 'data' ? 'data.' : '';
        out.push({ kind, type, key: `${prefix}${type}`, address: `${prefix}${type}.${name}`, path, construct: constructs.get(path) ?? fallback, attrs });
      }
    }
  }
  for (const [type, configs] of Object.entries<Attrs[]>(tf.provider ?? {})) {
    for (const attrs of configs) {
      const address = attrs.alias ? `provider.${type}.${attrs.alias}` : `provider.${type}`;
      const construct = constructs.get(address) ?? fallback;
      out.push({ kind: 'provider', type, key: `provider.${type}`, address, path: construct.node.path, construct, attrs });
    }
  }
  return out;
}

/** Keys under which `planElements` finds the construct that declared an element. */
export function constructKeys(element: TerraformElement): string[] {
  if (!TerraformProvider.isTerraformProvider(element)) return [element.node.path];
  const alias = element.alias;
  return [alias ? `provider.${element.terraformResourceType}.${alias}` : `provider.${element.terraformResourceType}`];
}

/** A value Terraform computes at apply time (a reference or function call): unknown at synth, never a literal. */
export function isRef(value: unknown): boolean {
  return typeof value === 'string' && value.includes('${');
}

/** Literal true (booleans may arrive as strings from overrides or string-typed provider arguments). */
export function isTrue(value: unknown): boolean {
  return value === true || value === 'true';
}

/** Literal false, or unset when the provider's default is off. References are not literal false. */
export function isFalseOrUnset(value: unknown): boolean {
  return value === undefined || value === null || value === false || value === 'false';
}

/** A nested block as an object: cdktf renders single blocks as objects, overrides may render lists. */
export function block(value: unknown): Attrs | undefined {
  if (Array.isArray(value)) return value[0];
  return value && typeof value === 'object' ? (value as Attrs) : undefined;
}

/** A repeated block (or a single one) as a list. */
export function blocks(value: unknown): Attrs[] {
  if (Array.isArray(value)) return value.filter((v) => v && typeof v === 'object');
  return value && typeof value === 'object' ? [value as Attrs] : [];
}

/** A scalar-or-list attribute as a list. */
export function list<T = unknown>(value: T | T[] | undefined | null): T[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

const ADDRESS = /\b((?:data\.)?aws_[a-z0-9_]+|random_[a-z0-9_]+)\.([A-Za-z0-9_-]+)/g;

/** Addresses (`aws_x.name`, `data.aws_y.name`) referenced anywhere inside `${...}` expressions of a value. */
export function referencedAddresses(value: unknown): string[] {
  const out: string[] = [];
  visitStrings(value, (text) => {
    if (!text.includes('${')) return;
    for (const expr of text.match(/\$\{[^}]*\}/g) ?? []) {
      for (const m of expr.matchAll(ADDRESS)) out.push(`${m[1]}.${m[2]}`);
    }
  });
  return out;
}

/** Calls `fn` for every string inside a value, with its dotted attribute path. */
export function visitStrings(value: unknown, fn: (text: string, path: string) => void, path = ''): void {
  if (typeof value === 'string') fn(value, path);
  else if (Array.isArray(value)) value.forEach((v, i) => visitStrings(v, fn, `${path}[${i}]`));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) if (k !== '//') visitStrings(v, fn, path ? `${path}.${k}` : k);
  }
}

/** Short rendering of a value for messages. */
export function show(value: unknown): string {
  if (value === undefined) return 'unset';
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * User data as text: base64 decoded when it is base64, then gunzipped when it is gzip (cloud-init accepts both).
 * Values containing Terraform expressions cannot be decoded and are scanned as they are.
 */
export function decodeUserData(value: string, base64: boolean): string {
  if (isRef(value)) return value;
  let bytes = base64 && /^[A-Za-z0-9+/]+={0,2}$/.test(value.replace(/\s+/g, '')) ? Buffer.from(value, 'base64') : Buffer.from(value, 'utf8');
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch {
      return value;
    }
  }
  const text = bytes.toString('utf8');
  // Files a cloud-config carries brotli-compressed (the handler bundle) are scanned as their unpacked text too.
  const packed = [...text.matchAll(/^- path: \S+\.br\n(?: {2}\S.*\n)*? {2}content: \|\n {4}([A-Za-z0-9+/=]+)$/gm)].map((m) => {
    try {
      return brotliDecompressSync(Buffer.from(m[1], 'base64')).toString('utf8');
    } catch {
      return '';
    }
  });
  return [text, ...packed].join('\n');
}

/** One IAM statement, normalized from policy JSON or from an `aws_iam_policy_document` data source. */
export interface Statement {
  readonly sid?: string;
  readonly effect: 'Allow' | 'Deny';
  readonly actions: string[];
  readonly notActions: string[];
  readonly resources: string[];
  /** Principals as `Type:identifier` (`AWS:*`, `Service:ec2.amazonaws.com`), `*` for `"Principal": "*"`. */
  readonly principals: string[];
  readonly hasCondition: boolean;
}

/** Statements of a policy JSON string; undefined when it is not literal JSON (e.g. a data source reference). */
export function parsePolicyJson(value: unknown): Statement[] | undefined {
  if (typeof value !== 'string' || !value.trim().startsWith('{')) return undefined;
  let doc: Attrs;
  try {
    doc = JSON.parse(value);
  } catch {
    return undefined;
  }
  return list<Attrs>(doc.Statement).map((s) => ({
    sid: s.Sid,
    effect: s.Effect === 'Deny' ? 'Deny' : 'Allow',
    actions: list<string>(s.Action),
    notActions: list<string>(s.NotAction),
    resources: list<string>(s.Resource),
    principals: principalsOf(s.Principal),
    hasCondition: Boolean(s.Condition && Object.keys(s.Condition).length),
  }));
}

function principalsOf(principal: unknown): string[] {
  if (principal === undefined) return [];
  if (typeof principal === 'string') return [principal === '*' ? '*' : `AWS:${principal}`];
  return Object.entries(principal as Record<string, unknown>).flatMap(([type, ids]) => list<string>(ids as string[]).map((id) => `${type}:${id}`));
}

/** Statements of an `aws_iam_policy_document` data source. */
export function dataDocumentStatements(attrs: Attrs): Statement[] {
  return blocks(attrs.statement).map((s) => ({
    sid: s.sid,
    effect: s.effect === 'Deny' ? 'Deny' : 'Allow',
    actions: list<string>(s.actions),
    notActions: list<string>(s.not_actions),
    resources: list<string>(s.resources),
    principals: blocks(s.principals).flatMap((p) => list<string>(p.identifiers).map((id) => (p.type === '*' ? '*' : `${p.type}:${id}`))),
    hasCondition: blocks(s.condition).length > 0,
  }));
}
