/**
 * Plain-text phrases the renderers share, so that every format says the same thing the same way.
 */
import type { Evidence, Report, ReportFlow, Tally } from './model';
import type { VerdictClass } from '../finding/verdicts';

/** The headings of the sections, by class. */
export const SECTION_TITLE: Record<VerdictClass, string> = {
  fail: 'Failing flows',
  warn: 'Warnings',
  'not-verified': 'Not verified live',
  pass: 'Passing flows',
};

/** What the `not-verified` class holds, for the reader of a report. */
export const NOT_VERIFIED_MEANING =
  'no packet verified the flow: audited only, not audited, not checkable from the VPC, not probed, or a verdict this version does not know';

/** The legend under the tallies, the same in every format. */
export const TALLY_LEGEND = `Blocking: required flows that keep the wave from GO (NO-GO when they fail, INCOMPLETE when not verified). Not verified: ${NOT_VERIFIED_MEANING}.`;

/** `open 443; filtered 8000-8010`, or undefined when the flow was not probed. */
export function probeSummary(e: Evidence): string | undefined {
  if (!e.probe) return undefined;
  const ports = Object.entries(e.probe.ports).map(([state, list]) => `${state} ${list}`);
  return ports.length > 0 ? ports.join('; ') : (e.probe.cause ?? e.probe.verdict);
}

/** `blocked`, `allowed`, `not audited: no AWS inventory…`, or undefined when the flow was not audited. */
export function auditSummary(e: Evidence): string | undefined {
  if (!e.audit) return undefined;
  if (e.audit.skipped !== undefined) return `not audited: ${e.audit.skipped}`;
  const problems = e.audit.ends.flatMap((end) => (end.problem !== undefined ? [end.problem] : []));
  return [e.audit.status ?? 'no result', ...problems].join('; ');
}

/** Required or optional, and the direction. */
export function flowKind(f: ReportFlow): string {
  return `${f.direction}, ${f.optional ? 'optional' : 'required'}${f.blocking ? ', keeps the wave from GO' : ''}`;
}

/** `12 pass, 1 warn, 2 fail, 3 not verified` for a tally. */
export function tallyLine(t: Tally): string {
  return `${t.pass} pass, ${t.warn} warn, ${t.fail} fail, ${t.notVerified} not verified`;
}

/** `10 pass, 2 refused` in a stable order (by count, then name). */
export function verdictLine(report: Report): string {
  return Object.entries(report.verdicts)
    .sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1))
    .map(([v, n]) => `${n} ${v}`)
    .join(', ');
}

/** The flows of one class, in report order. */
export function flowsOf(report: Report, cls: VerdictClass): ReportFlow[] {
  return report.flows.filter((f) => f.class === cls);
}

/** Where a remediation applies: `vantage workers, subnet-…`. */
export function remediationPlace(r: { vantage?: string; subnetIds: readonly string[] }): string {
  return [...(r.vantage !== undefined ? [`vantage ${r.vantage}`] : []), ...r.subnetIds].join(', ');
}

/** The run's facts as label/value pairs, for the header of the documents. */
export function runFacts(report: Report): Array<[string, string]> {
  return [
    ['Check run', report.checkId],
    ['Environment', report.environmentName],
    ['Status', report.status + (report.reason !== undefined ? ` (${report.reason})` : '')],
    ['Trigger', report.trigger],
    ['Created', report.createdAt],
    ...(report.startedAt !== undefined ? [['Started', report.startedAt] as [string, string]] : []),
    ...(report.finishedAt !== undefined ? [['Finished', report.finishedAt] as [string, string]] : []),
    ['Flows', `${report.totals.total} (${verdictLine(report) || 'none'})`],
  ];
}
