import { Level, Profile, Severity } from './rule';

export interface PolicyFinding {
  readonly ruleId: string;
  readonly title: string;
  readonly severity: Severity;
  /** 'failed' findings are annotations (errors fail synth); 'suppressed' ones carry the suppression's reason. */
  readonly status: 'failed' | 'suppressed';
  /** Construct path of the resource. */
  readonly path: string;
  /** Terraform address in cdk.tf.json. */
  readonly address: string;
  readonly message: string;
  readonly fix: string;
  readonly suppression?: { readonly path: string; readonly reason: string };
}

export interface PolicyRuleResult {
  readonly id: string;
  readonly title: string;
  /** Severity in this report's profile ('off': not checked). */
  readonly severity: Level;
  readonly checked: number;
  readonly passed: number;
  readonly failed: number;
  readonly suppressed: number;
}

export interface PolicySuppressionEntry {
  readonly ruleId: string;
  /** Construct the suppression was declared on (it covers the subtree). */
  readonly path: string;
  readonly reason: string;
  /** Findings it suppressed; 0 means it is stale. */
  readonly matched: number;
}

export interface PolicyReport {
  readonly stack: string;
  readonly profile: Profile;
  readonly summary: {
    /** Rules checked in this profile. */
    readonly rules: number;
    /** Resources, data sources and providers in the plan. */
    readonly elements: number;
    /** Rule × element evaluations. */
    readonly checks: number;
    readonly passed: number;
    readonly errors: number;
    readonly warnings: number;
    readonly suppressed: number;
    readonly unusedSuppressions: number;
  };
  readonly rules: readonly PolicyRuleResult[];
  /** Failed and suppressed findings, sorted by rule id, path and address. */
  readonly findings: readonly PolicyFinding[];
  readonly suppressions: readonly PolicySuppressionEntry[];
}

/** The report file: stable key order, sorted lists, no timestamps, so identical stacks give identical bytes. */
export function reportJson(report: PolicyReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** A short readable summary for reviewers: counts, then tables of failures and suppressions. */
export function reportMarkdown(report: PolicyReport): string {
  const s = report.summary;
  const lines = [
    `# Policy report: ${report.stack} (profile ${report.profile})`,
    '',
    `${s.rules} rules over ${s.elements} plan elements: ${s.checks} checks, ${s.passed} passed, ${s.errors} errors, ${s.warnings} warnings, ${s.suppressed} suppressed` +
      (s.unusedSuppressions ? `, ${s.unusedSuppressions} unused suppressions.` : '.'),
  ];
  const failed = report.findings.filter((f) => f.status === 'failed');
  if (failed.length) {
    lines.push('', '## Failures', '', '| Rule | Severity | Resource | Problem | Fix |', '| --- | --- | --- | --- | --- |');
    for (const f of failed) lines.push(`| ${f.ruleId} | ${f.severity} | \`${cell(f.path)}\` | ${cell(f.message)} | ${cell(f.fix)} |`);
  }
  if (report.suppressions.length) {
    lines.push('', '## Suppressions', '', '| Rule | Scope | Findings | Reason |', '| --- | --- | --- | --- |');
    for (const x of report.suppressions) lines.push(`| ${x.ruleId} | \`${cell(x.path)}\` | ${x.matched} | ${cell(x.reason)} |`);
  }
  return `${lines.join('\n')}\n`;
}
