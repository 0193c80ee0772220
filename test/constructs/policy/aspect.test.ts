import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Lazy, TerraformStack, Testing } from 'cdktf';
import { PolicyAspect, REPORT_JSON, REPORT_MARKDOWN, suppress } from '../../../constructs/policy';
import { compliantPlan, evaluatePlan, failed, Plan, tempApp } from './fixture';

const REASON = 'Batch-only API: it serves no streamed completions';

function synthApp(build: (plan: Plan) => void, options: { profile?: 'dev' | 'prod'; skipValidation?: boolean } = {}) {
  const app = tempApp({ skipValidation: options.skipValidation });
  const stack = new TerraformStack(app, 'web');
  const plan = compliantPlan(stack);
  build(plan);
  const policy = PolicyAspect.applyTo(stack, { profile: options.profile ?? 'prod' });
  const dir = join(app.outdir, 'stacks', 'web');
  return { app, stack, plan, policy, dir, read: (file: string) => readFileSync(join(dir, file), 'utf8') };
}

describe('suppressions', () => {
  test('a suppression with a reason turns the failure into a reported exception', () => {
    const { report } = evaluatePlan((p) => {
      p.lb.addOverride('idle_timeout', 60);
      suppress(p.lb, 'IFL_ALB_IDLE_TIMEOUT', REASON);
    });
    expect(failed(report)).toEqual([]);
    expect(report.findings).toEqual([
      expect.objectContaining({ ruleId: 'IFL_ALB_IDLE_TIMEOUT', status: 'suppressed', path: 'test/Lb', suppression: { path: 'test/Lb', reason: REASON } }),
    ]);
    expect(report.suppressions).toEqual([{ ruleId: 'IFL_ALB_IDLE_TIMEOUT', path: 'test/Lb', reason: REASON, matched: 1 }]);
    expect(report.summary).toMatchObject({ errors: 0, warnings: 0, suppressed: 1, unusedSuppressions: 0 });
    expect(report.rules.find((r) => r.id === 'IFL_ALB_IDLE_TIMEOUT')).toMatchObject({ checked: 1, passed: 0, failed: 0, suppressed: 1 });
  });

  test('a suppression on the stack covers every construct below it', () => {
    const { report } = evaluatePlan((p) => {
      p.appGroup.addOverride('description', '');
      p.appIn.addOverride('description', '');
      suppress(p.stack, 'CKV_AWS_23', 'Imported legacy groups; descriptions are managed by the network team');
    });
    expect(report.findings.map((f) => [f.status, f.path, f.suppression?.path])).toEqual([
      ['suppressed', 'test/AppGroup', 'test'],
      ['suppressed', 'test/AppIn', 'test'],
    ]);
    expect(report.suppressions).toEqual([expect.objectContaining({ path: 'test', matched: 2 })]);
  });

  test('the nearest suppression gives the reason', () => {
    const { report } = evaluatePlan((p) => {
      p.lb.addOverride('idle_timeout', 60);
      suppress(p.stack, 'IFL_ALB_IDLE_TIMEOUT', 'Stack-wide reason that should not be used');
      suppress(p.lb, 'IFL_ALB_IDLE_TIMEOUT', REASON);
    });
    expect(report.findings[0].suppression).toEqual({ path: 'test/Lb', reason: REASON });
    expect(report.suppressions.map((s) => [s.path, s.matched])).toEqual([['test', 0], ['test/Lb', 1]]);
  });

  test.each([[''], ['   '], ['not needed'], ['because'], [undefined as unknown as string]])('a reason of %j is refused', (reason) => {
    const stack = new TerraformStack(Testing.app(), 'test');
    expect(() => suppress(stack, 'CKV_AWS_79', reason)).toThrow(
      /suppress\('test', 'CKV_AWS_79'\): reason .* is too short\. Give at least 3 words \(15\+ characters\) saying why the rule does not apply here or why the risk is accepted\./,
    );
  });

  test('unknown rule ids are refused with the list of known ones', () => {
    const stack = new TerraformStack(Testing.app(), 'test');
    expect(() => suppress(stack, 'CKV_AWS_9999', REASON)).toThrow(/unknown policy rule id 'CKV_AWS_9999'\. Use one of: AVD-AWS-0107, .*CKV_AWS_79, .*IFL_SECRET_STORED\./);
  });

  test('a second, different reason for the same rule and construct is refused', () => {
    const stack = new TerraformStack(Testing.app(), 'test');
    suppress(stack, 'CKV_AWS_79', REASON);
    suppress(stack, 'CKV_AWS_79', REASON); // the same reason again is harmless
    expect(() => suppress(stack, 'CKV_AWS_79', 'Another reason entirely, also long')).toThrow(/already suppressed here with reason/);
  });

  test('a suppression that matches nothing is reported and warned about', () => {
    const { report, plan } = evaluatePlan((p) => suppress(p.lb, 'CKV_AWS_131', 'Upstream proxy normalizes headers already'));
    expect(report.suppressions).toEqual([expect.objectContaining({ ruleId: 'CKV_AWS_131', matched: 0 })]);
    expect(report.summary.unusedSuppressions).toBe(1);
    expect(plan.lb.node.metadata.filter((m) => m.type === '@cdktf/warn').map((m) => m.data)).toEqual([
      'Suppression of CKV_AWS_131 here matched no finding in this subtree; remove it so it cannot hide a future problem.',
    ]);
  });
});

describe('synthesis', () => {
  test('errors fail synth naming the rule, the construct path, the problem and the fix; the report is still written', () => {
    const { app, dir, read } = synthApp((p) => p.launchTemplate.addOverride('metadata_options.http_tokens', 'optional'));
    expect(() => app.synth()).toThrow(
      /\[web\/Template\] CKV_AWS_79 \(error\) Instance metadata requires IMDSv2 session tokens: aws_launch_template\.Template: metadata_options\.http_tokens is "optional".* Fix: Set metadata_options \{ http_tokens = "required" \}\./,
    );
    expect(existsSync(join(dir, 'cdk.tf.json'))).toBe(false);
    expect(JSON.parse(read(REPORT_JSON)).summary).toMatchObject({ errors: 1, warnings: 0 });
    expect(read(REPORT_MARKDOWN)).toContain('| CKV_AWS_79 | error | `web/Template` | metadata_options.http_tokens is "optional"');
  });

  test('warnings become annotations in the manifest and do not fail synth', () => {
    const stack = new TerraformStack(Testing.app(), 'test');
    const plan = compliantPlan(stack);
    plan.http.addOverride('default_action.0.type', 'forward');
    PolicyAspect.applyTo(stack, { profile: 'dev' });
    const outdir = Testing.fullSynth(stack);
    const manifest = JSON.parse(readFileSync(join(outdir, 'manifest.json'), 'utf8'));
    expect(manifest.stacks.test.annotations).toEqual([
      expect.objectContaining({ constructPath: 'test/Http', level: '@cdktf/warn', message: expect.stringMatching(/^CKV_AWS_2 \(warning\) .*port 80 serves plain HTTP.*Fix: /) }),
    ]);
    expect(existsSync(join(outdir, 'stacks', 'test', 'cdk.tf.json'))).toBe(true);
    expect(JSON.parse(readFileSync(join(outdir, 'stacks', 'test', REPORT_JSON), 'utf8')).summary).toMatchObject({ errors: 0, warnings: 1 });
  });

  test('the report is deterministic: same plan, same bytes, across apps and repeated synths', () => {
    const build = (p: Plan) => {
      p.https.addOverride('ssl_policy', 'ELBSecurityPolicy-TLS-1-2-2017-01'); // a warning
      p.lb.addOverride('idle_timeout', 60);
      suppress(p.lb, 'IFL_ALB_IDLE_TIMEOUT', REASON);
    };
    const first = synthApp(build);
    const second = synthApp(build);
    first.app.synth();
    second.app.synth();
    const files = (s: typeof first) => [s.read(REPORT_JSON), s.read(REPORT_MARKDOWN)];
    expect(files(second)).toEqual(files(first));
    const again = readFileSync(join(Testing.fullSynth(first.stack), 'stacks', 'web', REPORT_JSON), 'utf8');
    expect(again).toBe(first.read(REPORT_JSON));
    // Re-synthesizing does not repeat annotations.
    expect(first.plan.https.node.metadata.filter((m) => m.type === '@cdktf/warn')).toHaveLength(1);
    const { rules, checks, passed } = JSON.parse(first.read(REPORT_JSON)).summary;
    expect(first.read(REPORT_MARKDOWN)).toBe(
      [
        '# Policy report: web (profile prod)',
        '',
        `${rules} rules over 36 plan elements: ${checks} checks, ${passed} passed, 0 errors, 1 warnings, 1 suppressed.`,
        '',
        '## Failures',
        '',
        '| Rule | Severity | Resource | Problem | Fix |',
        '| --- | --- | --- | --- | --- |',
        '| CKV2_AWS_74 | warning | `web/Https` | ssl_policy is "ELBSecurityPolicy-TLS-1-2-2017-01" | Use a TLS13 policy (e.g. ELBSecurityPolicy-TLS13-1-2-2021-06) or an FS-1-2-Res policy. |',
        '',
        '## Suppressions',
        '',
        '| Rule | Scope | Findings | Reason |',
        '| --- | --- | --- | --- |',
        `| IFL_ALB_IDLE_TIMEOUT | \`web/Lb\` | 1 | ${REASON} |`,
        '',
      ].join('\n'),
    );
  });

  test('checks the JSON cdktf writes, including stack-level overrides, and resolves the stack only once', () => {
    let produced = 0;
    const stack = new TerraformStack(Testing.app(), 'web');
    const plan = compliantPlan(stack);
    plan.lb.addOverride('name_prefix', Lazy.stringValue({ produce: () => `lb${++produced}` }));
    stack.addOverride('resource.aws_lb.Lb.idle_timeout', 60);
    suppress(plan.lb, 'IFL_ALB_IDLE_TIMEOUT', REASON);
    PolicyAspect.applyTo(stack);
    const dir = join(Testing.fullSynth(stack), 'stacks', 'web');
    expect(produced).toBe(1); // the synthesizer reused the JSON the checks ran on
    expect(JSON.parse(readFileSync(join(dir, 'cdk.tf.json'), 'utf8')).resource.aws_lb.Lb).toMatchObject({ name_prefix: 'lb1', idle_timeout: 60 });
    expect(JSON.parse(readFileSync(join(dir, REPORT_JSON), 'utf8')).findings).toEqual([
      expect.objectContaining({ ruleId: 'IFL_ALB_IDLE_TIMEOUT', message: 'idle_timeout is 60 s: a model that thinks longer than that before the next token gets its stream cut with a 504' }),
    ]);
  });

  test('cdk.tf.json is the same with and without the checks', () => {
    const withPolicy = synthApp(() => {});
    withPolicy.app.synth();
    process.env.INFERENCE_POLICY = 'off';
    try {
      const without = synthApp(() => {});
      without.app.synth();
      expect(withPolicy.read('cdk.tf.json')).toBe(without.read('cdk.tf.json'));
    } finally {
      delete process.env.INFERENCE_POLICY;
    }
  });

  test('with validations skipped, policy errors still fail synth', () => {
    const { app, read } = synthApp((p) => p.volume.addOverride('encrypted', false), { skipValidation: true });
    expect(() => app.synth()).toThrow(/Policy errors in stack 'web':\n\[web\/Data\] CKV_AWS_3 \(error\) EBS volumes are encrypted: aws_ebs_volume\.Data: encrypted is false\. Fix: Set encrypted = true/);
    expect(JSON.parse(read(REPORT_JSON)).summary.errors).toBe(1);
  });

  test('report() before any synth evaluates the stack as it is', () => {
    const stack = new TerraformStack(Testing.app(), 'test');
    const plan = compliantPlan(stack);
    plan.table.addOverride('ttl', undefined);
    const policy = PolicyAspect.applyTo(stack, { profile: 'prod' });
    expect(failed(policy.report()).map((f) => f.ruleId)).toEqual(['IFL_DYNAMODB_TTL']);
  });

  test('INFERENCE_POLICY=off (the benchmark baseline) turns the checks off', () => {
    process.env.INFERENCE_POLICY = 'off';
    try {
      const { app, dir, policy } = synthApp((p) => p.volume.addOverride('encrypted', false));
      app.synth();
      expect(existsSync(join(dir, 'cdk.tf.json'))).toBe(true);
      expect(existsSync(join(dir, REPORT_JSON))).toBe(false);
      expect(() => policy.report()).toThrow(/are off \(INFERENCE_POLICY=off or enabled: false\)/);
    } finally {
      delete process.env.INFERENCE_POLICY;
    }
  });

  test('applyTo refuses a second application and an unknown profile', () => {
    const stack = new TerraformStack(Testing.app(), 'test');
    PolicyAspect.applyTo(stack);
    expect(() => PolicyAspect.applyTo(stack)).toThrow(/already has policy checks; apply them once/);
    const other = new TerraformStack(Testing.app(), 'other');
    expect(() => PolicyAspect.applyTo(other, { profile: 'staging' as 'dev' })).toThrow(/profile "staging" is invalid\. Use 'dev' or 'prod'\./);
  });
});
