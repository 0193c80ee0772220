import { Attrs, decodeUserData, isRef, PlanElement, referencedAddresses, visitStrings } from './plan';
import { always, PolicyRule, problems } from './rule';

/** Names whose values are credentials; a literal value would sit in the plan, the state and every CI log. */
const SECRET_NAME = /(^|_)(password|passwd|auth_token|secret|secret_string|secret_key|secret_access_key|private_key|client_secret|access_key|api_key|passwords)$/i;
/** Names that merely point at a secret (an ARN, a file, a parameter) or describe one. */
const POINTER_NAME = /(_ENCRYPTION|_POLICY|_HASH|_ALGORITHM|_METHOD|_MODE|_FORMAT|_PROMPT|_DIR|_ENABLED|_REQUIRED|_ARN|_ID|_NAME|_FILE|_PATH|_PARAM|_PARAMETER|_URL|_URI|_HEADER|_TTL|_SECONDS|_LENGTH|_BYTES|_ENDPOINT|_TYPE|_REGION|_VERSION|_KEY_ID)$/i;
const KEYWORD = '(?:PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY)';
/** `export DB_PASSWORD=hunter22` and `PASSWORD='x'` in scripts and env files. */
const SHELL_ASSIGNMENT = new RegExp(`(?:^|[\\s;])(?:export\\s+)?([A-Z][A-Z0-9_]*${KEYWORD}[A-Z0-9_]*)=(["']?)([^\\s"'\`$]{6,})\\2`, 'gm');
/** `"password": "x"`, `password: 'x'`, `token = "x"` in JSON, YAML and code (not psql's `PASSWORD :'var'`). */
const QUOTED_PAIR = new RegExp(`["']?([A-Za-z0-9_]*${KEYWORD}[A-Za-z0-9_]*)["']?(?:\\s*=\\s*|:\\s*)["']([^"'\\s$\`{}]{8,})["']`, 'gi');
/** `password: x` in YAML (cloud-config `plain_text_passwd`). */
const YAML_PAIR = new RegExp(`^\\s*([A-Za-z0-9_]*${KEYWORD}[A-Za-z0-9_]*):[ \\t]+([^\\s#'"$.,;(){}[\\]]{6,})[ \\t]*$`, 'gim');

/** Values that are identifiers, paths or addresses rather than credentials. */
function looksLikeCredential(value: string): boolean {
  if (/^(arn:|\/|https?:|s3:|file:|\{\{|<)/.test(value)) return false;
  if (/^\d+(\.\d+)?[a-z]{0,3}$/i.test(value)) return false; // counts and durations (MAX_TOKENS=4096, TOKEN_TTL=30s)
  if (/^[a-z][a-z0-9]*(_[a-z0-9]+)+$/.test(value) || /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/.test(value)) return false; // snake_case / CONSTANT
  if (/^[a-z]+([A-Z][a-z0-9]*)+$/.test(value)) return false; // camelCase identifier
  // Generated and typed secrets mix cases, digits or symbols; a lone word is a type, keyword or placeholder.
  return /[^A-Za-z]/.test(value) || (/[a-z]/.test(value) && /[A-Z]/.test(value));
}

export type SecretKind = 'access-key' | 'private-key' | 'keyword';
const ALL_KINDS: ReadonlySet<SecretKind> = new Set(['access-key', 'private-key', 'keyword']);

/** Describes the first secret-looking literal in a text (never quoting the secret), or undefined. */
export function findSecretLiteral(text: string, kinds: ReadonlySet<SecretKind> = ALL_KINDS): string | undefined {
  if (kinds.has('access-key')) {
    const key = /\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b/.exec(text);
    if (key) return `an AWS access key id (${key[0].slice(0, 8)}…)`;
  }
  if (kinds.has('private-key') && /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/.test(text)) return 'a PEM private key';
  if (kinds.has('keyword')) {
    for (const re of [SHELL_ASSIGNMENT, QUOTED_PAIR, YAML_PAIR]) {
      for (const m of text.matchAll(re)) {
        const [, name, ...rest] = m;
        const value = rest[rest.length - 1];
        if (!POINTER_NAME.test(name.replace(/([a-z0-9])([A-Z])/g, '$1_$2')) && looksLikeCredential(value)) return `a literal value for ${name}`;
      }
    }
  }
  return undefined;
}

const USER_DATA_KEYS = new Set(['user_data', 'user_data_base64']);

/** Scans every string of an element except user data (CKV_AWS_46 decodes and scans that). */
function scanPlanStrings(element: PlanElement, kind: SecretKind): string | undefined {
  let found: string | undefined;
  const kinds = new Set([kind]);
  visitStrings(element.attrs, (text, path) => {
    if (found || USER_DATA_KEYS.has(path) || path === 'description' || path === 'tags' || path.startsWith('tags.')) return;
    const what = findSecretLiteral(text, kinds);
    if (what) found = `${path} contains ${what}`;
  });
  return found;
}

/** Literal values of credential-named attributes (`auth_token`, `password`, `secret_string`, ...). */
function literalSecretAttributes(attrs: Attrs): string[] {
  const out: string[] = [];
  visitStrings(attrs, (text, path) => {
    const name = path.split('.').pop()!.replace(/\[\d+\]$/, '');
    if (SECRET_NAME.test(name) && text !== '' && !isRef(text)) out.push(path);
  });
  return out;
}

/** `random_password` resources referenced from credential-named attributes. */
function generatedSecretRefs(attrs: Attrs): string[] {
  const out = new Set<string>();
  visitStrings(attrs, (text, path) => {
    const name = path.split('.').pop()!.replace(/\[\d+\]$/, '');
    if (SECRET_NAME.test(name)) for (const a of referencedAddresses(text)) if (a.startsWith('random_password.')) out.add(a);
  });
  return [...out];
}

export const SECRET_RULES: PolicyRule[] = [
  {
    id: 'CKV_AWS_46',
    title: 'No secrets in EC2 user data',
    level: always('error'),
    appliesTo: ['aws_launch_template', 'aws_instance'],
    check: ({ type, attrs }) => {
      const texts: [string, string][] = [];
      if (typeof attrs.user_data === 'string') texts.push(['user_data', decodeUserData(attrs.user_data, type === 'aws_launch_template')]);
      if (typeof attrs.user_data_base64 === 'string') texts.push(['user_data_base64', decodeUserData(attrs.user_data_base64, true)]);
      return problems(texts.map(([key, text]) => {
        const what = findSecretLiteral(text);
        return what && `${key} (decoded) contains ${what}`;
      }));
    },
    fix: 'Keep the value in Secrets Manager (GeneratedSecret) and fetch it at boot with the instance role (grantRead); pass only its ARN in user data.',
  },
  {
    id: 'CKV_AWS_41',
    title: 'No hard-coded AWS credentials in the provider',
    level: always('error'),
    appliesTo: ['provider.aws'],
    check: ({ attrs }) => problems(['access_key', 'secret_key', 'token'].map((k) => typeof attrs[k] === 'string' && attrs[k] !== '' && !isRef(attrs[k]) && `${k} is a literal`)),
    fix: 'Remove access_key/secret_key/token from the provider; use the environment, a profile or assume_role.',
  },
  {
    id: 'CKV_SECRET_2',
    title: 'No AWS access keys anywhere in the plan',
    level: always('error'),
    appliesTo: ['*'],
    check: (el) => scanPlanStrings(el, 'access-key'),
    fix: 'Remove the key from the configuration, rotate it, and give the workload an IAM role instead.',
  },
  {
    id: 'CKV_SECRET_13',
    title: 'No private keys anywhere in the plan',
    level: always('error'),
    appliesTo: ['*'],
    check: (el) => scanPlanStrings(el, 'private-key'),
    fix: 'Store the key in Secrets Manager (or generate it with tls_private_key and store it there) and reference it.',
  },
  {
    id: 'CKV_SECRET_10',
    title: 'No literal passwords or tokens in configuration values',
    level: always('error'),
    appliesTo: ['*'],
    check: (el) => scanPlanStrings(el, 'keyword'),
    fix: 'Replace the literal with a reference to a generated secret (GeneratedSecret.value) or its Secrets Manager ARN.',
  },
  {
    id: 'IFL_SECRET_REFERENCE',
    title: 'Credential attributes are references to generated values, never literals',
    level: always('error'),
    appliesTo: ['*'],
    applies: (el) => el.kind !== 'provider',
    check: ({ type, attrs }) => {
      const literal = literalSecretAttributes(attrs);
      if (type === 'aws_ssm_parameter' && attrs.type === 'SecureString' && typeof attrs.value === 'string' && !isRef(attrs.value)) literal.push('value');
      return literal.length ? `${literal.join(', ')} ${literal.length > 1 ? 'are' : 'is a'} literal${literal.length > 1 ? 's' : ''}` : undefined;
    },
    fix: 'Generate the value (GeneratedSecret, random_password) and pass its reference; the plan then carries `${random_password.x.result}`, never the value.',
    related: ['CKV_AWS_31'],
  },
  {
    id: 'IFL_SECRET_STORED',
    title: 'Generated credentials are stored in Secrets Manager',
    level: always('error'),
    appliesTo: ['*'],
    applies: (el) => el.kind === 'resource' && generatedSecretRefs(el.attrs).length > 0,
    check: ({ attrs }, ctx) => {
      const stores = [
        ...ctx.ofType('aws_secretsmanager_secret_version').map((v) => v.attrs.secret_string),
        ...ctx.ofType('aws_ssm_parameter').filter((p) => p.attrs.type === 'SecureString').map((p) => p.attrs.value),
      ];
      const stored = new Set(stores.flatMap((s) => referencedAddresses(s)));
      const missing = generatedSecretRefs(attrs).filter((a) => !stored.has(a));
      return missing.length ? `${missing.join(', ')} is used as a credential but no aws_secretsmanager_secret_version stores it, so clients cannot read it` : undefined;
    },
    fix: 'Create the value with GeneratedSecret (random_password + Secrets Manager secret) and grantRead it to the clients.',
  },
];
