/**
 * How a report reads each combined verdict: its class (pass, warn, fail or other) and whether a required flow
 * with that verdict stops a migration wave (NO-GO). The table is a `Record` over {@link CombinedVerdict}, so a
 * new verdict does not compile until it is classified here.
 */
import type { CombinedVerdict } from '../run/combine';

/** `pass` works; `warn` works with a caveat; `fail` does not work; `other` was not (or cannot be) checked live. */
export type VerdictClass = 'pass' | 'warn' | 'fail' | 'other';

export interface VerdictRule {
  readonly class: VerdictClass;
  /** A required (non-optional) flow with this verdict makes the run NO-GO. */
  readonly blocksGo: boolean;
}

/**
 * Every combined verdict's class. `skipped` is `other` (nothing was learnt) but blocks: a required flow that
 * should have been probed and was not is no evidence of readiness. `audited-only` and `not-checkable` are
 * flows the VPC cannot probe, as `preflight check --api` counts them: they do not block.
 */
export const VERDICT_RULES: Readonly<Record<CombinedVerdict, VerdictRule>> = {
  pass: { class: 'pass', blocksGo: false },
  warn: { class: 'warn', blocksGo: false },
  'blocked-aws': { class: 'fail', blocksGo: true },
  'timeout-aws-allows': { class: 'fail', blocksGo: true },
  timeout: { class: 'fail', blocksGo: true },
  refused: { class: 'fail', blocksGo: true },
  unreachable: { class: 'fail', blocksGo: true },
  'dns-error': { class: 'fail', blocksGo: true },
  error: { class: 'fail', blocksGo: true },
  'audited-only': { class: 'other', blocksGo: false },
  'not-checkable': { class: 'other', blocksGo: false },
  skipped: { class: 'other', blocksGo: true },
};

/**
 * A verdict a stored finding carries that this code does not know (a newer writer, an older record) is
 * `other` and blocks: the report cannot vouch for it.
 */
export const UNKNOWN_VERDICT_RULE: VerdictRule = { class: 'other', blocksGo: true };

/** The rule of a stored verdict (findings store verdicts as plain strings). */
export function ruleOf(verdict: string): VerdictRule {
  return Object.hasOwn(VERDICT_RULES, verdict)
    ? VERDICT_RULES[verdict as CombinedVerdict]
    : UNKNOWN_VERDICT_RULE;
}

/** Classes from the worst to the best, the order reports list flows in. */
export const CLASS_ORDER: readonly VerdictClass[] = ['fail', 'warn', 'other', 'pass'];
