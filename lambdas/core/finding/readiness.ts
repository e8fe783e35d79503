/**
 * Readiness: the one answer for a run, computed here and only here.
 *
 * - **GO**: the run `succeeded`, has findings, and every required flow was verified live and passes (or warns).
 * - **NO-GO**: a required flow fails.
 * - **INCOMPLETE**: nothing required fails, but required flows were not verified live (each listed with why and
 *   how to verify it), or the run did not succeed, or it has no findings.
 *
 * Only GO exits 0 by default; `--accept-incomplete` lets a user accept INCOMPLETE explicitly ({@link exitCodeOf}).
 */
import { z } from 'zod';
import { ruleOf, type VerdictClass } from './verdicts';

export const readinessDecisionSchema = z.enum(['GO', 'NO-GO', 'INCOMPLETE']);
export type ReadinessDecision = z.infer<typeof readinessDecisionSchema>;

const countSchema = z.number().int().nonnegative();

/** A required flow that keeps the run from GO. */
/** Flows by class (required and optional); `blocking` counts the required flows that keep the run from GO. */
export const tallySchema = z
  .object({
    pass: countSchema,
    warn: countSchema,
    fail: countSchema,
    notVerified: countSchema,
    blocking: countSchema,
    total: countSchema,
  })
  .strict();
export type Tally = z.infer<typeof tallySchema>;

export const blockingFlowSchema = z
  .object({
    verdict: z.string(),
    flowId: z.string().optional(),
    source: z.string().optional(),
    destination: z.string().optional(),
    protocol: z.string().optional(),
    ports: z.string().optional(),
    /** Why it has this verdict (the finding's cause). */
    why: z.string().optional(),
    /** What to do: for a failing flow the fix to look for, for a not-verified one how to verify it live. */
    next: z.string(),
  })
  .strict();
export type BlockingFlow = z.infer<typeof blockingFlowSchema>;

export const readinessSchema = z
  .object({
    decision: readinessDecisionSchema,
    /** The one line every surface prints, e.g. `NO-GO: 2 required flows fail (…)`. */
    line: z.string(),
    /** Why it is not GO, one reason each; empty for GO. */
    reasons: z.array(z.string()),
    /** Flows by class (required and optional), and how many keep the run from GO. */
    counts: tallySchema,
    /** The required flows that fail (NO-GO). */
    failing: z.array(blockingFlowSchema),
    /** The required flows that were not verified live (INCOMPLETE), with why and how to verify each. */
    notVerified: z.array(blockingFlowSchema),
  })
  .strict();
export type Readiness = z.infer<typeof readinessSchema>;

/** What readiness needs of a run. */
export interface RunState {
  readonly status: string;
  readonly reason?: string | undefined;
}

/** What readiness needs of a finding; the ends and cause only make the lists more useful. */
export interface ReadinessFinding {
  readonly verdict: string;
  readonly optional: boolean;
  readonly flowId?: string;
  readonly source?: string;
  readonly destination?: string;
  readonly protocol?: string;
  readonly ports?: string;
  readonly cause?: string;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

const COUNT_KEY: Record<VerdictClass, 'pass' | 'warn' | 'fail' | 'notVerified'> = {
  pass: 'pass',
  warn: 'warn',
  fail: 'fail',
  'not-verified': 'notVerified',
};

function listed(f: ReadinessFinding, next: string): BlockingFlow {
  return {
    verdict: f.verdict,
    ...(f.flowId !== undefined ? { flowId: f.flowId } : {}),
    ...(f.source !== undefined ? { source: f.source } : {}),
    ...(f.destination !== undefined ? { destination: f.destination } : {}),
    ...(f.protocol !== undefined ? { protocol: f.protocol } : {}),
    ...(f.ports !== undefined ? { ports: f.ports } : {}),
    ...(f.cause !== undefined ? { why: f.cause } : {}),
    next,
  };
}

/**
 * The readiness of a run from its status and every one of its findings (all pages). Pure: the same inputs give
 * the same answer on every surface.
 */
export function readiness(run: RunState, findings: readonly ReadinessFinding[]): Readiness {
  const counts = { pass: 0, warn: 0, fail: 0, notVerified: 0, blocking: 0, total: 0 };
  const failing: BlockingFlow[] = [];
  const notVerified: BlockingFlow[] = [];
  for (const f of findings) {
    const rule = ruleOf(f.verdict);
    counts[COUNT_KEY[rule.class]]++;
    counts.total++;
    if (f.optional || !rule.blocksGo) continue;
    counts.blocking++;
    if (rule.class === 'fail') failing.push(listed(f, rule.next));
    else notVerified.push(listed(f, rule.next));
  }

  const reasons: string[] = [];
  if (failing.length > 0)
    reasons.push(`${plural(failing.length, 'required flow')} ${failing.length === 1 ? 'fails' : 'fail'}`);
  const why = run.reason ? `: ${run.reason}` : '';
  switch (run.status) {
    case 'succeeded':
      break;
    case 'queued':
    case 'running':
      reasons.push(`the run is still ${run.status}`);
      break;
    default:
      reasons.push(`the run is ${run.status}${why}`);
  }
  if (findings.length === 0) reasons.push('the run has no findings: nothing was verified');
  if (notVerified.length > 0) {
    const byVerdict = new Map<string, number>();
    for (const f of notVerified) byVerdict.set(f.verdict, (byVerdict.get(f.verdict) ?? 0) + 1);
    reasons.push(
      `${plural(notVerified.length, 'required flow')} not verified live (${[...byVerdict]
        .map(([v, n]) => `${n} ${ruleOf(v).label}`)
        .join(', ')})`,
    );
  }

  const summary = [
    `${counts.pass} pass`,
    ...(counts.warn > 0 ? [`${counts.warn} warn`] : []),
    `${counts.fail} fail`,
    ...(counts.notVerified > 0 ? [`${counts.notVerified} not verified`] : []),
  ].join(', ');

  if (failing.length > 0)
    return {
      decision: 'NO-GO',
      line: `NO-GO: ${reasons.join('; ')} (${summary})`,
      reasons,
      counts,
      failing,
      notVerified,
    };
  if (reasons.length > 0)
    return {
      decision: 'INCOMPLETE',
      line: `INCOMPLETE: nothing required fails, but ${reasons.join('; ')} (${summary})`,
      reasons,
      counts,
      failing,
      notVerified,
    };
  const optionalFailing = counts.fail;
  const caveats = [
    ...(counts.warn > 0 ? [`${plural(counts.warn, 'warning')} to review`] : []),
    ...(optionalFailing > 0 ? [`${plural(optionalFailing, 'optional flow')} failing`] : []),
  ];
  return {
    decision: 'GO',
    line: `GO: every required flow was verified live and passes (${summary})${caveats.length > 0 ? `; ${caveats.join(', ')}` : ''}`,
    reasons: [],
    counts,
    failing,
    notVerified,
  };
}

/** A run record's verdict counts: all flows, and the required ones (absent on runs recorded before it). */
export interface RunCounts extends RunState {
  readonly counts: Readonly<Record<string, number>>;
  readonly requiredCounts?: Readonly<Record<string, number>> | undefined;
}

/**
 * The readiness of a run from its record alone (the runs list, `history`): the same function over the run's
 * counts. A run recorded before required flows were counted apart has every flow taken as required, so its
 * answer is never more optimistic than the findings'.
 */
export function runReadiness(run: RunCounts): Readiness {
  const findings: ReadinessFinding[] = [];
  for (const [verdict, n] of Object.entries(run.counts)) {
    const required = run.requiredCounts === undefined ? n : (run.requiredCounts[verdict] ?? 0);
    for (let i = 0; i < n; i++) findings.push({ verdict, optional: i >= required });
  }
  return readiness(run, findings);
}

/** Options of {@link exitCodeOf}. */
export interface ExitOptions {
  /** Exit 0 on INCOMPLETE too: the user accepts flows that were not verified live. */
  readonly acceptIncomplete?: boolean;
}

/** The exit status of a command that reports readiness: 0 only for GO (or INCOMPLETE when accepted), else 1. */
export function exitCodeOf(decision: ReadinessDecision, options: ExitOptions = {}): 0 | 1 {
  if (decision === 'GO') return 0;
  if (decision === 'INCOMPLETE' && options.acceptIncomplete === true) return 0;
  return 1;
}
