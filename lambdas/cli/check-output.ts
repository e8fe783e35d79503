/**
 * The one renderer of a check's findings and readiness, for local `check` and `check --api` alike: the same
 * order (the verdict table's), the same columns, the same summary and the same readiness line.
 */
import type { FindingDetail } from '../core/finding/detail';
import { printable } from '../core/printable';
import type { Readiness, ReadinessDecision } from '../core/finding/readiness';
import { compareListed, ruleOf, VERDICT_TABLE, type VerdictClass } from '../core/finding/verdicts';
import { type Paint, table } from './output';

/** A finding as the renderer needs it (a stored record, or one combined locally). */
export interface ShownFinding {
  readonly flowId: string;
  readonly verdict: string;
  readonly optional: boolean;
  readonly source: string;
  readonly destination: string;
  readonly protocol: string;
  readonly ports: string;
  readonly cause: string;
  readonly detail?: FindingDetail | undefined;
}

const CLASS_COLOUR: Record<VerdictClass, Parameters<Paint>[0]> = {
  pass: 'green',
  warn: 'yellow',
  fail: 'red',
  'not-verified': 'blue',
};

const DECISION_COLOUR: Record<ReadinessDecision, Parameters<Paint>[0]> = {
  GO: 'green',
  'NO-GO': 'red',
  INCOMPLETE: 'yellow',
};

/** `3 pass, 1 refused, 2 audited only` in the verdict table's order (unknown verdicts last). */
export function verdictSummary(findings: ReadonlyArray<{ readonly verdict: string }>): string {
  const counts = new Map<string, number>();
  for (const f of findings) counts.set(f.verdict, (counts.get(f.verdict) ?? 0) + 1);
  const known = VERDICT_TABLE.map((r) => r.verdict);
  return [...counts]
    .sort(([a], [b]) => {
      const ia = known.indexOf(a);
      const ib = known.indexOf(b);
      return (ia === -1 ? known.length : ia) - (ib === -1 ? known.length : ib);
    })
    .map(([v, n]) => `${n} ${ruleOf(v).label}`)
    .join(', ');
}

/** The findings, worst first (the order every surface uses). */
export function sortFindings<T extends ShownFinding>(findings: readonly T[]): T[] {
  return [...findings].sort(compareListed);
}

/** The text of a check: heading lines, the table, warnings, flows to verify, summary and readiness. */
export function renderCheck(
  heading: readonly string[],
  findings: readonly ShownFinding[],
  readiness: Readiness,
  notes: readonly string[],
  paint: Paint,
): string {
  const sorted = sortFindings(findings);
  const lines = [...heading, ''];
  lines.push(
    table(
      [
        ['VERDICT', 'FROM', 'TO', 'PORTS', 'CAUSE'].map((h) => paint('bold', h)),
        ...sorted.map((f) => {
          const rule = ruleOf(f.verdict);
          const answered = printable(f.detail?.answered?.join('; ') ?? '');
          return [
            paint(CLASS_COLOUR[rule.class], `${rule.symbol} ${printable(f.verdict)}`) +
              (f.optional ? paint('grey', ' (optional)') : ''),
            printable(f.source),
            printable(f.destination),
            printable(`${f.ports}/${f.protocol}`),
            rule.class === 'pass'
              ? paint('grey', answered)
              : rule.class === 'not-verified'
                ? paint('grey', printable(f.cause))
                : printable(f.cause),
          ];
        }),
      ],
      '  ',
    ),
  );
  for (const note of notes) lines.push('', note);
  const warned = sorted.filter((f) => ruleOf(f.verdict).class === 'warn');
  if (warned.length > 0) {
    lines.push(
      '',
      paint(
        'yellow',
        `WARN: ${warned.length} flow${warned.length === 1 ? '' : 's'} connect${warned.length === 1 ? 's' : ''}, but the answer on some port deserves a look (not NO-GO; look before the migration):`,
      ),
      ...warned.map((f) =>
        printable(`  ${f.source} -> ${f.destination} ${f.ports}/${f.protocol}: ${f.cause}`),
      ),
    );
  }
  if (readiness.notVerified.length > 0) {
    lines.push(
      '',
      paint(
        'yellow',
        `NOT VERIFIED: ${readiness.notVerified.length} required flow${readiness.notVerified.length === 1 ? '' : 's'} not verified live; how to verify each:`,
      ),
      ...readiness.notVerified.map((f) =>
        printable(
          `  ${f.source ?? '?'} -> ${f.destination ?? '?'} ${f.ports ?? ''}/${f.protocol ?? ''} (${ruleOf(f.verdict).label}): ${f.next}`,
        ),
      ),
    );
  }
  lines.push(
    '',
    printable(verdictSummary(findings)) || 'no findings',
    paint(DECISION_COLOUR[readiness.decision], printable(readiness.line)),
  );
  return `${lines.join('\n')}\n`;
}
