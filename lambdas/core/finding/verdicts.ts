/**
 * The verdict vocabulary: every verdict a finding can carry and, in one table, what it means. Local `check`,
 * `check --api`, `history`, the reports, the API and (through `GET /verdicts`) the dashboard read this table;
 * nothing else decides what a verdict means.
 */
import { z } from 'zod';

/**
 * A flow's combined verdict, from the best to the least checkable. Adding one is a change here only: the table
 * below is a `Record` over this enum, so a verdict does not compile until it is classified.
 */
export const verdictSchema = z.enum([
  'pass',
  'warn',
  'blocked-aws',
  'timeout-aws-allows',
  'timeout',
  'refused',
  'unreachable',
  'dns-error',
  'error',
  'skipped',
  'audited-only',
  'not-audited',
  'not-checkable',
]);
export type Verdict = z.infer<typeof verdictSchema>;

/**
 * `pass` works; `warn` works with a caveat; `fail` does not work; `not-verified`: nothing was learnt live about
 * the flow (it could not be probed, or was not), so it can neither pass nor fail.
 */
export const verdictClassSchema = z.enum(['pass', 'warn', 'fail', 'not-verified']);
export type VerdictClass = z.infer<typeof verdictClassSchema>;

/** How every surface shows and judges one verdict. */
export const verdictRuleSchema = z
  .object({
    verdict: z.string(),
    class: verdictClassSchema,
    /** A required flow with this verdict keeps the run from GO (NO-GO for `fail`, INCOMPLETE otherwise). */
    blocksGo: z.boolean(),
    /** A few words for people (`blocked by AWS`). */
    label: z.string(),
    /** One character, so that no reader depends on colour. */
    symbol: z.string(),
    /** What to do next; for a `not-verified` verdict, how to verify the flow live. */
    next: z.string(),
  })
  .strict();
export type VerdictRule = z.infer<typeof verdictRuleSchema>;

type Row = Omit<VerdictRule, 'verdict'>;

const fail = (label: string, symbol: string, next: string): Row => ({
  class: 'fail',
  blocksGo: true,
  label,
  symbol,
  next,
});
const notVerified = (label: string, symbol: string, next: string): Row => ({
  class: 'not-verified',
  blocksGo: true,
  label,
  symbol,
  next,
});

/** The table, in display order within each class. */
const TABLE: Readonly<Record<Verdict, Row>> = {
  pass: { class: 'pass', blocksGo: false, label: 'pass', symbol: '✓', next: '' },
  warn: {
    class: 'warn',
    blocksGo: false,
    label: 'warning',
    symbol: '!',
    next: 'The port is open but something other than the expected service answered: see the cause before the migration.',
  },
  'blocked-aws': fail(
    'blocked by AWS',
    'B',
    'Add the Security Group, network ACL or route rule shown under the remediation.',
  ),
  'timeout-aws-allows': fail(
    'timed out, AWS allows it',
    'F',
    'AWS lets it through: ask for the on-premises firewall rule, or check the VPN and the route back to the VPC.',
  ),
  timeout: fail(
    'timed out',
    'T',
    'Something drops the packets; audit the AWS side (an inventory, or the service) to tell AWS from on-premises.',
  ),
  refused: fail(
    'refused',
    'R',
    'The host answered but nothing listens on the port: start the service, correct the port, or run `preflight respond` there.',
  ),
  unreachable: fail('unreachable', 'U', 'A route is missing or a firewall rejects it (ICMP unreachable).'),
  'dns-error': fail(
    'DNS error',
    'D',
    'The name does not resolve from the vantage: fix the DNS record or the resolver (Route 53 Resolver rules).',
  ),
  error: fail('error', 'E', 'The probe failed; see the cause.'),
  skipped: notVerified(
    'not probed',
    'S',
    'Not probed (the time budget ran out, or the probe did not run): run the check again, with a longer timeout or fewer targets.',
  ),
  'audited-only': notVerified(
    'audited only',
    'A',
    'AWS allows it, but no packet was sent: probe it from where it starts (`preflight agent` on an on-premises vantage, or a vantage placed in the source subnet).',
  ),
  'not-audited': notVerified(
    'not audited',
    'Q',
    'Neither probed nor audited: give the audit an inventory (`--inventory`, or the service in AWS) and probe it from where it starts (`preflight agent`).',
  ),
  'not-checkable': notVerified(
    'not checkable',
    'N',
    'Both ends are outside the VPC: probe it with `preflight agent` on an on-premises vantage that holds the source, or by hand on-premises.',
  ),
};

/** Every verdict's rule, in display order: fail, not verified, warn, pass (what keeps a wave from GO first). */
export const CLASS_ORDER: readonly VerdictClass[] = ['fail', 'not-verified', 'warn', 'pass'];

/** The table as a list, worst class first, for the API (`GET /verdicts`) and legends. */
export const VERDICT_TABLE: readonly VerdictRule[] = CLASS_ORDER.flatMap((cls) =>
  verdictSchema.options.flatMap((verdict) => {
    const row = TABLE[verdict];
    return row.class === cls ? [{ verdict, ...row }] : [];
  }),
);

/**
 * A verdict a stored finding carries that this code does not know (a newer writer, an older record): nothing
 * can be vouched for, so it is not verified and keeps the run from GO; its own text is its label.
 */
export function unknownVerdictRule(verdict: string): VerdictRule {
  return {
    verdict,
    class: 'not-verified',
    blocksGo: true,
    label: verdict,
    symbol: '?',
    next: 'A verdict this version does not know: update preflight, or look at the cause.',
  };
}

const BY_VERDICT = new Map(VERDICT_TABLE.map((r) => [r.verdict, r]));

/** The rule of a verdict as stored (findings store verdicts as plain strings). */
export function ruleOf(verdict: string): VerdictRule {
  return BY_VERDICT.get(verdict) ?? unknownVerdictRule(verdict);
}

/** Whether `verdict` is in the vocabulary. */
export function isVerdict(verdict: string): verdict is Verdict {
  return BY_VERDICT.has(verdict);
}

const RANK = new Map(VERDICT_TABLE.map((r, i) => [r.verdict, i]));

/** Sort key of a verdict: the table's order, unknown verdicts at the end of their class (not verified). */
export function verdictRank(verdict: string): number {
  const known = RANK.get(verdict);
  if (known !== undefined) return known;
  const lastNotVerified = VERDICT_TABLE.findLastIndex((r) => r.class === 'not-verified');
  return lastNotVerified + 0.5;
}

/** Something with a verdict, a required/optional flag and ends, as every surface lists findings. */
export interface Listed {
  readonly verdict: string;
  readonly optional: boolean;
  readonly source: string;
  readonly destination: string;
  readonly ports: string;
  readonly flowId: string;
}

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Whether a finding keeps its run from GO: a required flow whose verdict blocks GO. */
export function blocksRun(f: Pick<Listed, 'verdict' | 'optional'>): boolean {
  return !f.optional && ruleOf(f.verdict).blocksGo;
}

/**
 * The order every surface lists findings in: what keeps the run from GO first, then the table's verdict order,
 * then required before optional, then by ends, ports and flow id (stable across runs).
 */
export function compareListed(a: Listed, b: Listed): number {
  return (
    Number(blocksRun(b)) - Number(blocksRun(a)) ||
    verdictRank(a.verdict) - verdictRank(b.verdict) ||
    Number(a.optional) - Number(b.optional) ||
    compareText(a.source, b.source) ||
    compareText(a.destination, b.destination) ||
    compareText(a.ports, b.ports) ||
    compareText(a.flowId, b.flowId)
  );
}
