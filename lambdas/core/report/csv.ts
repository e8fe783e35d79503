/**
 * The report as CSV (RFC 4180: CRLF line ends, fields quoted when they hold a comma, a quote or a line break),
 * one row per flow under a stable header, for a spreadsheet or a script. Lists inside a field are joined with
 * `; ` (commands with line breaks).
 */
import { csvField } from './escape';
import type { Report, ReportFlow } from './model';
import { auditSummary, probeSummary } from './text';

/** The columns, in order; new columns are only ever added at the end. */
export const CSV_COLUMNS = [
  'check_id',
  'environment',
  'flow_id',
  'verdict',
  'class',
  'blocking',
  'optional',
  'direction',
  'source',
  'destination',
  'protocol',
  'ports',
  'requirements',
  'profiles',
  'vantages',
  'subnets',
  'cause',
  'probe',
  'audit',
  'rules_evaluated',
  'remediation_aws_cli',
  'on_prem_firewall',
  'services',
  'checked_at',
] as const;

function row(report: Report, f: ReportFlow): Record<(typeof CSV_COLUMNS)[number], string> {
  return {
    check_id: report.checkId,
    environment: report.environmentName,
    flow_id: f.flowId,
    verdict: f.verdict,
    class: f.class,
    blocking: String(f.blocking),
    optional: String(f.optional),
    direction: f.direction,
    source: f.source,
    destination: f.destination,
    protocol: f.protocol,
    ports: f.ports,
    requirements: f.requirements.join('; '),
    profiles: f.profiles.join('; '),
    vantages: f.vantages.join('; '),
    subnets: f.subnets.join('; '),
    cause: f.cause,
    probe: probeSummary(f.evidence) ?? '',
    audit: auditSummary(f.evidence) ?? '',
    rules_evaluated: (f.evidence.audit?.ends ?? [])
      .flatMap((e) => e.rules.map((r) => `${e.subnetId ?? `vantage ${e.vantage}`}: ${r}`))
      .join('; '),
    remediation_aws_cli: f.remediation.flatMap((r) => r.awsCli).join('\n'),
    on_prem_firewall: f.remediation
      .flatMap((r) => (r.onPremFirewall !== undefined ? [r.onPremFirewall] : []))
      .join('\n'),
    services: (f.evidence.services ?? []).join('; '),
    checked_at: f.evidence.checkedAt,
  };
}

/** Renders the report as CSV: a header line, then one line per flow in report order. */
export function renderCsv(report: Report): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const f of report.flows) {
    const r = row(report, f);
    lines.push(CSV_COLUMNS.map((c) => csvField(r[c])).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}
