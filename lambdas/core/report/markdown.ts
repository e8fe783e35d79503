/**
 * The report as Markdown (CommonMark with GFM tables): for a pull request, a ticket or a wiki page.
 */
import { changeSetMarkdown } from './change-set';
import { mdCode, mdText } from './escape';
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

const row = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;

function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  return [row(header), row(header.map(() => '---')), ...rows.map(row)].join('\n');
}

const tallyCells = (t: Tally) => [t.pass, t.warn, t.fail, t.other, t.blocking, t.total].map(String);
const TALLY_HEADER = ['Pass', 'Warn', 'Fail', 'Other', 'Blocking', 'Total'];

/** One flow in detail: cause, facts, evidence, rules evaluated, remediation. */
function flowDetail(f: ReportFlow, n: number): string {
  const out: string[] = [];
  out.push(`### ${n}. ${mdText(f.verdict)}: ${mdText(flowTitle(f))}`);
  out.push(`**Cause:** ${mdText(f.cause)}`);
  const probe = probeSummary(f.evidence);
  const audit = auditSummary(f.evidence);
  out.push(
    table(
      ['Evidence', ''],
      [
        ['Flow', `${mdText(f.flowId)} (${mdText(flowKind(f))})`],
        ['Requirements', mdText(f.requirements.join(', ')) || '—'],
        ['Profiles', mdText(f.profiles.join(', ')) || '—'],
        ['Vantage', mdText(f.vantages.join(', ')) || '— (outside the VPC)'],
        ['Subnet', mdText(f.subnets.join(', ')) || '—'],
        ['Checked', mdText(f.evidence.checkedAt)],
        ...(f.evidence.how !== undefined ? [['How', mdText(f.evidence.how)]] : []),
        ['Probe', probe !== undefined ? mdText(probe) : 'not probed'],
        ...(f.evidence.services ? [['Services', mdText(f.evidence.services.join('; '))]] : []),
        ['Audit', audit !== undefined ? mdText(audit) : 'not audited'],
      ],
    ),
  );
  const ends = f.evidence.audit?.ends.filter((e) => e.rules.length > 0 || e.unknown.length > 0) ?? [];
  for (const e of ends) {
    const where = [`vantage ${e.vantage}`, e.subnetId, e.securityGroupIds.join(', ')].filter(Boolean);
    out.push(
      [
        `Rules evaluated at ${mdText(where.join(', '))}${e.status !== undefined ? ` (${mdText(e.status)})` : ''}:`,
        '',
        ...e.rules.map((r) => `- ${mdText(r)}`),
        ...(e.unknown.length > 0 ? [`- the inventory lacks ${mdText(e.unknown.join(', '))}`] : []),
      ].join('\n'),
    );
  }
  for (const r of f.remediation) {
    const place = remediationPlace(r);
    out.push(`**Remediation**${place ? ` at ${mdText(place)}` : ''}:`);
    if (r.awsCli.length > 0) out.push(mdCode(r.awsCli.join('\n'), 'sh'));
    for (const snippet of r.cloudFormation) out.push(`CloudFormation:\n\n${mdCode(snippet, 'yaml')}`);
    for (const snippet of r.cdk) out.push(`CDK:\n\n${mdCode(snippet, 'ts')}`);
    for (const note of r.notes) out.push(`Note: ${mdText(note)}`);
    if (r.onPremFirewall !== undefined) out.push(`On-premises firewall request: ${mdText(r.onPremFirewall)}`);
  }
  return out.join('\n\n');
}

function flowTable(flows: readonly ReportFlow[]): string {
  return table(
    ['Verdict', 'From', 'To', 'Ports', 'Required', 'Profiles', 'Vantage', 'Probe', 'Audit', 'Cause'],
    flows.map((f) => [
      mdText(f.verdict),
      mdText(f.source),
      mdText(f.destination),
      mdText(`${f.protocol}/${f.ports}`),
      f.optional ? 'optional' : 'required',
      mdText(f.profiles.join(', ')),
      mdText(f.vantages.join(', ')) || '—',
      mdText(probeSummary(f.evidence) ?? '—'),
      mdText(auditSummary(f.evidence) ?? '—'),
      mdText(f.cause),
    ]),
  );
}

/** Renders the report as a Markdown document. */
export function renderMarkdown(report: Report): string {
  const out: string[] = [];
  out.push(`# Readiness report: ${mdText(report.environmentName)}`);
  out.push(`**${mdText(report.readiness.line)}**`);
  out.push(
    table(
      ['Run', ''],
      runFacts(report).map(([k, v]) => [k, mdText(v)]),
    ),
  );
  out.push('## Summary');
  out.push(
    table(
      ['Profile', ...TALLY_HEADER],
      report.profiles.map((p) => [`${mdText(p.name)} (${mdText(p.id)})`, ...tallyCells(p)]),
    ),
  );
  out.push(
    table(
      ['Vantage', ...TALLY_HEADER],
      report.vantages.map((v) => [mdText(v.vantage), ...tallyCells(v)]),
    ),
  );
  out.push(`Blocking: required flows whose verdict makes the wave NO-GO. Other: ${mdText(OTHER_MEANING)}.`);

  const failing = flowsOf(report, 'fail');
  out.push(`## ${SECTION_TITLE.fail} (${failing.length})`);
  if (failing.length === 0) out.push('No flow fails.');
  failing.forEach((f, i) => out.push(flowDetail(f, i + 1)));

  const warnings = flowsOf(report, 'warn');
  if (warnings.length > 0) {
    out.push(`## ${SECTION_TITLE.warn} (${warnings.length})`);
    warnings.forEach((f, i) => out.push(flowDetail(f, i + 1)));
  }
  const blockedUnchecked = flowsOf(report, 'other').filter((f) => f.blocking);
  if (blockedUnchecked.length > 0) {
    out.push(`## Required flows not checked (${blockedUnchecked.length})`);
    blockedUnchecked.forEach((f, i) => out.push(flowDetail(f, i + 1)));
  }

  out.push(changeSetMarkdown(report.changeSet));
  out.push(`## All flows (${report.flows.length})`);
  out.push(report.flows.length > 0 ? flowTable(report.flows) : 'The run has no findings.');
  return `${out.join('\n\n')}\n`;
}
