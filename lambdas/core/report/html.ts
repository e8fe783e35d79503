/**
 * The report as one self-contained HTML page for a change board: inline CSS (with print rules), no scripts,
 * no external resources, every value escaped. It reads on screen and prints on A4 or Letter.
 */
import { changeSetHtml } from './change-set';
import { htmlText as h } from './escape';
import { flowTitle, type Report, type ReportFlow, type Tally } from './model';
import {
  auditSummary,
  flowKind,
  flowsOf,
  OTHER_MEANING,
  probeSummary,
  remediationPlace,
  runFacts,
  SECTION_TITLE,
} from './text';

const CSS = `
:root { --pass: #1a7f37; --warn: #9a6700; --fail: #cf222e; --other: #57606a; --line: #d0d7de; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #1f2328;
  margin: 2rem auto; max-width: 72rem; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin: 0 0 .5rem; }
h2 { font-size: 1.25rem; border-bottom: 1px solid var(--line); padding-bottom: .25rem; margin-top: 2rem; }
h3 { font-size: 1.05rem; margin: 0 0 .5rem; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; }
th, td { border: 1px solid var(--line); padding: .3rem .5rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.decision { font-size: 1.3rem; font-weight: 700; padding: .6rem .9rem; border: 3px solid; border-radius: 6px; }
.decision.go { color: var(--pass); border-color: var(--pass); }
.decision.no-go { color: var(--fail); border-color: var(--fail); }
.verdict { font-weight: 600; white-space: nowrap; }
.pass { color: var(--pass); } .warn { color: var(--warn); } .fail { color: var(--fail); } .other { color: var(--other); }
section.flow { border: 1px solid var(--line); border-left: 6px solid var(--other); border-radius: 4px;
  padding: .75rem 1rem; margin: 0 0 1rem; }
section.flow.fail { border-left-color: var(--fail); } section.flow.warn { border-left-color: var(--warn); }
pre { background: #f6f8fa; border: 1px solid var(--line); padding: .5rem; white-space: pre-wrap;
  word-break: break-all; font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.muted { color: var(--other); }
@page { size: auto; margin: 14mm; }
@media print {
  body { margin: 0; max-width: none; font-size: 10.5pt; }
  h2 { break-after: avoid; page-break-after: avoid; }
  section.flow, tr, pre { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  th { background: none; }
  pre { background: none; }
  .decision { border-width: 2pt; }
}
`;

const tallyCells = (t: Tally) =>
  [t.pass, t.warn, t.fail, t.other, t.blocking, t.total].map((n) => `<td class="n">${n}</td>`).join('');
const TALLY_HEADER = ['Pass', 'Warn', 'Fail', 'Other', 'Blocking', 'Total']
  .map((x) => `<th>${x}</th>`)
  .join('');

function facts(rows: ReadonlyArray<readonly [string, string]>): string {
  return `<table class="facts"><tbody>${rows
    .map(([k, v]) => `<tr><th scope="row">${h(k)}</th><td>${v}</td></tr>`)
    .join('')}</tbody></table>`;
}

function flowDetail(f: ReportFlow, n: number): string {
  const probe = probeSummary(f.evidence);
  const audit = auditSummary(f.evidence);
  const parts: string[] = [];
  parts.push(
    `<h3>${n}. <span class="verdict ${f.class}">${h(f.verdict)}</span>: ${h(flowTitle(f))}</h3>`,
    `<p><strong>Cause:</strong> ${h(f.cause)}</p>`,
    facts([
      ['Flow', `<code>${h(f.flowId)}</code> (${h(flowKind(f))})`],
      ['Requirements', h(f.requirements.join(', ')) || '—'],
      ['Profiles', h(f.profiles.join(', ')) || '—'],
      ['Vantage', h(f.vantages.join(', ')) || '— (outside the VPC)'],
      ['Subnet', h(f.subnets.join(', ')) || '—'],
      ['Checked', h(f.evidence.checkedAt)],
      ...(f.evidence.how !== undefined ? [['How', h(f.evidence.how)] as [string, string]] : []),
      ['Probe', probe !== undefined ? h(probe) : 'not probed'],
      ...(f.evidence.services ? [['Services', h(f.evidence.services.join('; '))] as [string, string]] : []),
      ['Audit', audit !== undefined ? h(audit) : 'not audited'],
    ]),
  );
  for (const e of f.evidence.audit?.ends ?? []) {
    if (e.rules.length === 0 && e.unknown.length === 0) continue;
    const where = [`vantage ${e.vantage}`, e.subnetId, e.securityGroupIds.join(', ')]
      .filter(Boolean)
      .join(', ');
    parts.push(
      `<p>Rules evaluated at ${h(where)}${e.status !== undefined ? ` (${h(e.status)})` : ''}:</p><ul>${[
        ...e.rules.map((r) => `<li>${h(r)}</li>`),
        ...(e.unknown.length > 0 ? [`<li>the inventory lacks ${h(e.unknown.join(', '))}</li>`] : []),
      ].join('')}</ul>`,
    );
  }
  for (const r of f.remediation) {
    const place = remediationPlace(r);
    parts.push(`<p><strong>Remediation</strong>${place ? ` at ${h(place)}` : ''}:</p>`);
    if (r.awsCli.length > 0) parts.push(`<pre>${h(r.awsCli.join('\n'))}</pre>`);
    for (const s of r.cloudFormation) parts.push(`<p>CloudFormation:</p><pre>${h(s)}</pre>`);
    for (const s of r.cdk) parts.push(`<p>CDK:</p><pre>${h(s)}</pre>`);
    for (const note of r.notes) parts.push(`<p>Note: ${h(note)}</p>`);
    if (r.onPremFirewall !== undefined)
      parts.push(`<p>On-premises firewall request: ${h(r.onPremFirewall)}</p>`);
  }
  return `<section class="flow ${f.class}">${parts.join('\n')}</section>`;
}

function flowTable(flows: readonly ReportFlow[]): string {
  const head = [
    'Verdict',
    'From',
    'To',
    'Ports',
    'Required',
    'Profiles',
    'Vantage',
    'Probe',
    'Audit',
    'Cause',
  ]
    .map((x) => `<th>${x}</th>`)
    .join('');
  const rows = flows.map(
    (f) =>
      `<tr><td class="verdict ${f.class}">${h(f.verdict)}</td><td>${h(f.source)}</td><td>${h(f.destination)}</td>` +
      `<td>${h(`${f.protocol}/${f.ports}`)}</td><td>${f.optional ? 'optional' : 'required'}</td>` +
      `<td>${h(f.profiles.join(', '))}</td><td>${h(f.vantages.join(', ')) || '—'}</td>` +
      `<td>${h(probeSummary(f.evidence) ?? '—')}</td><td>${h(auditSummary(f.evidence) ?? '—')}</td>` +
      `<td>${h(f.cause)}</td></tr>`,
  );
  return `<table><thead><tr>${head}</tr></thead><tbody>\n${rows.join('\n')}\n</tbody></table>`;
}

/** Renders the report as a self-contained HTML document. */
export function renderHtml(report: Report): string {
  const go = report.readiness.decision === 'GO';
  const body: string[] = [];
  body.push(`<h1>Readiness report: ${h(report.environmentName)}</h1>`);
  body.push(`<p class="decision ${go ? 'go' : 'no-go'}">${h(report.readiness.line)}</p>`);
  if (report.readiness.reasons.length > 0)
    body.push(`<ul>${report.readiness.reasons.map((r) => `<li>${h(r)}</li>`).join('')}</ul>`);
  body.push(facts(runFacts(report).map(([k, v]) => [k, h(v)] as const)));
  body.push('<h2>Summary</h2>');
  body.push(
    `<table><thead><tr><th>Profile</th>${TALLY_HEADER}</tr></thead><tbody>${report.profiles
      .map((p) => `<tr><td>${h(p.name)} <span class="muted">(${h(p.id)})</span></td>${tallyCells(p)}</tr>`)
      .join('')}</tbody></table>`,
  );
  body.push(
    `<table><thead><tr><th>Vantage</th>${TALLY_HEADER}</tr></thead><tbody>${report.vantages
      .map((v) => `<tr><td>${h(v.vantage)}</td>${tallyCells(v)}</tr>`)
      .join('')}</tbody></table>`,
  );
  body.push(
    `<p class="muted">Blocking: required flows whose verdict makes the wave NO-GO. Other: ${h(OTHER_MEANING)}.</p>`,
  );
  const failing = flowsOf(report, 'fail');
  body.push(`<h2>${SECTION_TITLE.fail} (${failing.length})</h2>`);
  if (failing.length === 0) body.push('<p>No flow fails.</p>');
  failing.forEach((f, i) => body.push(flowDetail(f, i + 1)));
  const warnings = flowsOf(report, 'warn');
  if (warnings.length > 0) {
    body.push(`<h2>${SECTION_TITLE.warn} (${warnings.length})</h2>`);
    warnings.forEach((f, i) => body.push(flowDetail(f, i + 1)));
  }
  const blockedUnchecked = flowsOf(report, 'other').filter((f) => f.blocking);
  if (blockedUnchecked.length > 0) {
    body.push(`<h2>Required flows not checked (${blockedUnchecked.length})</h2>`);
    blockedUnchecked.forEach((f, i) => body.push(flowDetail(f, i + 1)));
  }
  body.push(changeSetHtml(report.changeSet));
  body.push(`<h2>All flows (${report.flows.length})</h2>`);
  body.push(report.flows.length > 0 ? flowTable(report.flows) : '<p>The run has no findings.</p>');

  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>${h(`${report.readiness.decision} · ${report.environmentName} · ${report.checkId}`)}</title>
<style>${CSS}</style>
</head>
<body>
${body.join('\n')}
</body>
</html>
`;
}
