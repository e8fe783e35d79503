/**
 * The report as JUnit XML, so that a CI pipeline can gate a migration wave on it: one testcase per flow (a
 * `failure` for a failing required flow; `skipped` for a flow that was not verified live or is optional and
 * failing), plus a `readiness` suite with one go/no-go testcase that fails exactly when the report is NO-GO,
 * so that "no failures" means GO even when the run itself was partial or a required flow went unprobed.
 */
import { xmlAttr as a, xmlText as t } from './escape';
import { flowTitle, type Report, type ReportFlow } from './model';
import { auditSummary, probeSummary, remediationPlace } from './text';

/** JUnit timestamps are ISO 8601 without a zone (the schema's pattern); ours are UTC. */
const timestamp = (iso: string) => iso.replace(/\.\d+Z$|Z$/, '');

function seconds(from: string | undefined, to: string | undefined): string {
  if (from === undefined || to === undefined) return '0';
  const ms = Date.parse(to) - Date.parse(from);
  return Number.isFinite(ms) && ms > 0 ? (ms / 1000).toFixed(3) : '0';
}

/** The body of a failure or skip: everything a person needs to act, as plain text. */
function details(f: ReportFlow): string {
  const lines = [
    `${f.verdict}: ${f.cause}`,
    `flow ${f.flowId} (${f.direction}, ${f.optional ? 'optional' : 'required'}): ${flowTitle(f)}`,
    `requirements: ${f.requirements.join(', ')}`,
    `profiles: ${f.profiles.join(', ')}`,
    `vantage: ${f.vantages.join(', ') || '(outside the VPC)'}; subnet: ${f.subnets.join(', ') || '-'}`,
    `checked: ${f.evidence.checkedAt}`,
    `probe: ${probeSummary(f.evidence) ?? 'not probed'}`,
    `audit: ${auditSummary(f.evidence) ?? 'not audited'}`,
    ...(f.evidence.services ?? []).map((line) => `service: ${line}`),
  ];
  for (const e of f.evidence.audit?.ends ?? [])
    for (const r of e.rules) lines.push(`rule at ${e.subnetId ?? `vantage ${e.vantage}`}: ${r}`);
  for (const r of f.remediation) {
    const place = remediationPlace(r);
    lines.push(`remediation${place ? ` at ${place}` : ''}:`, ...r.awsCli.map((c) => `  ${c}`));
    for (const note of r.notes) lines.push(`  note: ${note}`);
    if (r.onPremFirewall !== undefined) lines.push(`  on-premises firewall: ${r.onPremFirewall}`);
  }
  return lines.join('\n');
}

function testcase(report: Report, f: ReportFlow): string {
  const open = `    <testcase classname="${a(`preflight.${report.environmentName}.${f.direction}`)}" name="${a(`${flowTitle(f)} [${f.flowId}]`)}" time="0"`;
  const message = `${f.verdict}: ${f.cause}`;
  if (f.class === 'fail' && !f.optional) {
    return `${open}>\n      <failure type="${a(f.verdict)}" message="${a(message)}">${t(details(f))}</failure>\n    </testcase>`;
  }
  if (f.class === 'fail') {
    return `${open}>\n      <skipped message="${a(`optional flow, does not gate the wave: ${message}`)}"/>\n      <system-out>${t(details(f))}</system-out>\n    </testcase>`;
  }
  if (f.class === 'not-verified') {
    return `${open}>\n      <skipped message="${a(message)}"/>\n      <system-out>${t(details(f))}</system-out>\n    </testcase>`;
  }
  if (f.class === 'warn') {
    return `${open}>\n      <system-out>${t(`WARNING ${details(f)}`)}</system-out>\n    </testcase>`;
  }
  return `${open}/>`;
}

/** Renders the report as a JUnit XML document (`testsuites` → `testsuite` → `testcase`). */
export function renderJunit(report: Report): string {
  const flows = report.flows;
  const failures = flows.filter((f) => f.class === 'fail' && !f.optional).length;
  const skipped = flows.filter(
    (f) => f.class === 'not-verified' || (f.class === 'fail' && f.optional),
  ).length;
  const go = report.readiness.decision === 'GO';
  const time = seconds(report.startedAt, report.finishedAt);
  const stamp = timestamp(report.startedAt ?? report.createdAt);
  const properties = [
    ['checkId', report.checkId],
    ['environment', report.environmentName],
    ['status', report.status],
    ['readiness', report.readiness.decision],
    ['createdAt', report.createdAt],
    ...(report.finishedAt !== undefined ? [['finishedAt', report.finishedAt]] : []),
  ]
    .map(([k, v]) => `      <property name="${a(k as string)}" value="${a(v as string)}"/>`)
    .join('\n');
  const suiteName = `preflight ${report.environmentName} ${report.checkId}`;
  const readinessCase = go
    ? `    <testcase classname="${a(`preflight.${report.environmentName}`)}" name="go/no-go" time="0"/>`
    : `    <testcase classname="${a(`preflight.${report.environmentName}`)}" name="go/no-go" time="0">\n      <failure type="${a(report.readiness.decision)}" message="${a(report.readiness.line)}">${t(report.readiness.reasons.join('\n'))}</failure>\n    </testcase>`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="${a(suiteName)}" tests="${flows.length + 1}" failures="${failures + (go ? 0 : 1)}" errors="0" skipped="${skipped}" time="${time}">
  <testsuite name="${a(`${report.environmentName} flows`)}" tests="${flows.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${time}" timestamp="${a(stamp)}">
    <properties>
${properties}
    </properties>
${flows.map((f) => testcase(report, f)).join('\n')}
  </testsuite>
  <testsuite name="${a(`${report.environmentName} readiness`)}" tests="1" failures="${go ? 0 : 1}" errors="0" skipped="0" time="0" timestamp="${a(stamp)}">
${readinessCase}
  </testsuite>
</testsuites>
`;
}
