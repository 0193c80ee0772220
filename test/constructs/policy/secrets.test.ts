import { findSecretLiteral } from '../../../constructs/policy/rules-secrets';

describe('secret literal detection', () => {
  test.each([
    ['an access key id', 'aws_access_key_id = AKIAIOSFODNN7EXAMPLE', 'an AWS access key id (AKIAIOSF…)'],
    ['a session key id', 'ASIAY34FZKBOKMUTVV7A', 'an AWS access key id (ASIAY34F…)'],
    ['a PEM private key', '-----BEGIN EC PRIVATE KEY-----\nMHc', 'a PEM private key'],
    ['a shell assignment', 'export DB_PASSWORD=hunter2hunter2', 'a literal value for DB_PASSWORD'],
    ['an env file line', 'API_KEY="sk-live-0123456789"', 'a literal value for API_KEY'],
    ['a JSON pair', '{"password": "Tr0ub4dor&3"}', 'a literal value for password'],
    ['a code assignment', 'const authToken = "8f14e45fceea167a"', 'a literal value for authToken'],
    ['a cloud-config key', '#cloud-config\nusers:\n  - name: app\n    plain_text_passwd: Sup3rSecret', 'a literal value for plain_text_passwd'],
  ])('finds %s, without quoting it', (_name, text, expected) => {
    expect(findSecretLiteral(text)).toBe(expected);
  });

  test.each([
    ['a value read at boot', 'DB_PASSWORD=$(aws secretsmanager get-secret-value --secret-id "$arn")'],
    ['a pointer to a secret', 'export DB_PASSWORD_SECRET_ARN=arn:aws:secretsmanager:us-east-1:123456789012:secret:db'],
    ['a camelCase pointer', '{ passwordSecretArn: "PasswordSecretArn" }'],
    ['a PostgreSQL setting', "SET password_encryption = 'scram-sha-256';\npassword_encryption = 'scram-sha-256'"],
    ["psql's variable syntax", "ALTER ROLE :\"user\" WITH LOGIN PASSWORD :'password';"],
    ['LLM token counts and durations', 'MAX_TOKENS=100000\nTOKEN_REFRESH=30s\n"max_tokens": "4096"'],
    ['TypeScript fields', 'interface Creds {\n  secretAccessKey: string;\n  sessionToken: string\n}'],
    ['code reading a value', 'return { apiKey: cfg.UPSTREAM_API_KEY, authToken: this.authToken.value };'],
    ['an identifier value', '"token_type": "refresh_token"'],
    ['an empty assignment', 'password=\nPASSWORD=""'],
  ])('ignores %s', (_name, text) => {
    expect(findSecretLiteral(text)).toBeUndefined();
  });
});
