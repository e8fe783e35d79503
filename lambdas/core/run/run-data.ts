/**
 * What a check run keeps between its steps in AWS, so that nothing that grows with hosts, ports or flows travels
 * in Step Functions' state (256 KB per state): the plan (the environment and each shard's job), each shard's
 * outcome, and the audit. The state machine passes only the run's id and shard numbers; each step reads what it
 * needs here. `lambdas/aws/dynamo-run-data.ts` implements it in the results table. No AWS SDK here.
 */
import type { ProbeResult } from '../probe';
import type { ProbeStepOutput } from './probe-step';
import type { AuditStepOutput } from './steps';

/** One shard's job as the start step planned it; its deadline is set when the shard starts. */
export interface ShardJob {
  readonly vantage: string;
  readonly targets: ReadonlyArray<{ readonly host: string; readonly ports: readonly number[] }>;
  readonly timeoutMs: number;
  readonly concurrency: number;
  readonly retries: number;
  /** The shard's own budget in ms: its deadline is its start plus this. */
  readonly budgetMs: number;
  /**
   * True for an on-prem vantage's shard (one per such vantage): its agent probes it, and the state machine waits
   * for it in a callback task instead of invoking a prober.
   */
  readonly agent?: boolean;
}

/** What the start step planned for a run. */
export interface StoredPlan {
  /** The environment as the run checks it (parsed), whether it came inline or by name. */
  readonly environment: unknown;
  /** Shards numbered 1 … shardCount. */
  readonly shardCount: number;
  /** Vantages with flows to probe but no matching prober: their flows end `skipped` with this reason. */
  readonly probeFailures: ReadonlyArray<{ readonly vantage: string; readonly reason: string }>;
}

/** How one shard ended: its prober's output, or why it has none. */
export type ShardOutcome =
  | { readonly shard: number; readonly vantage: string; readonly output: ProbeStepOutput }
  | { readonly shard: number; readonly vantage: string; readonly error: string };

/** Where a run's plan, shard outcomes and audit are kept between its steps. */
export interface RunData {
  /** Stores the plan and every shard's job (shards numbered from 1 in the order given). */
  putPlan(checkId: string, plan: StoredPlan, shards: readonly ShardJob[]): Promise<void>;
  /** @throws RunDataMissingError */
  getPlan(checkId: string): Promise<StoredPlan>;
  /** @throws RunDataMissingError */
  getShard(checkId: string, shard: number): Promise<ShardJob>;
  /** Stores a shard's outcome; a retried store replaces it. */
  putShardOutcome(checkId: string, outcome: ShardOutcome): Promise<void>;
  /** Every stored shard outcome of the run, by shard number. */
  listShardOutcomes(checkId: string): Promise<ShardOutcome[]>;
  putAudit(checkId: string, audit: AuditStepOutput): Promise<void>;
  /** The stored audit, or undefined when the audit stored none. */
  getAudit(checkId: string): Promise<AuditStepOutput | undefined>;
}

/** Raised when a run's plan or shard is not in the store (the run expired, or the start step never stored it). */
export class RunDataMissingError extends Error {
  override readonly name = 'RunDataMissingError';
}

/** A short summary of a shard's outcome: what the state machine carries instead of the results. */
export interface ShardSummary {
  readonly shard: number;
  readonly vantage: string;
  readonly ports: number;
  /** Ports by probe state. */
  readonly states: Record<string, number>;
  readonly durationMs?: number;
  readonly error?: string;
}

/** The summary of an outcome (bounded: a handful of numbers and at most one error message). */
export function summarizeShard(outcome: ShardOutcome): ShardSummary {
  if ('error' in outcome) {
    return { shard: outcome.shard, vantage: outcome.vantage, ports: 0, states: {}, error: outcome.error };
  }
  const states: Record<string, number> = {};
  for (const r of outcome.output.results) states[r.state] = (states[r.state] ?? 0) + 1;
  return {
    shard: outcome.shard,
    vantage: outcome.vantage,
    ports: outcome.output.results.length,
    states,
    durationMs: outcome.output.durationMs,
  };
}

/** The shards' outcomes as the finish step combines them. */
export interface MergedShards {
  /** One output per vantage with at least one shard that returned. */
  readonly probes: ProbeStepOutput[];
  /** Vantages none of whose shards returned, with why: their flows end `skipped` with the reason. */
  readonly probeFailures: Array<{ vantage: string; reason: string }>;
  /** Shards that failed beside others of their vantage that returned: their ports are `skipped`. */
  readonly problems: string[];
}

/**
 * Merges the shards' outcomes per vantage. A shard with no stored outcome counts as failed. A vantage whose every
 * shard failed is a probe failure (as when its one prober died); a vantage with some shards failed keeps what the
 * others found, the failed shards' ports are `skipped`, and the run says which shards failed and why.
 * @param jobs - the job of every shard that failed or has no outcome (its vantage and targets).
 */
export function mergeShards(
  shardCount: number,
  outcomes: readonly ShardOutcome[],
  jobs: ReadonlyMap<number, ShardJob>,
): MergedShards {
  const byShard = new Map(outcomes.map((o) => [o.shard, o]));
  const perVantage = new Map<
    string,
    { outputs: ProbeStepOutput[]; failed: Array<{ shard: number; reason: string; job?: ShardJob }> }
  >();
  const entry = (vantage: string) => {
    const e = perVantage.get(vantage) ?? { outputs: [], failed: [] };
    perVantage.set(vantage, e);
    return e;
  };
  for (let shard = 1; shard <= shardCount; shard++) {
    const outcome = byShard.get(shard);
    const job = jobs.get(shard);
    if (outcome && 'output' in outcome) entry(outcome.vantage).outputs.push(outcome.output);
    else if (outcome)
      entry(outcome.vantage).failed.push({ shard, reason: outcome.error, ...(job ? { job } : {}) });
    else if (job) entry(job.vantage).failed.push({ shard, reason: 'its prober returned no outcome', job });
    else throw new RunDataMissingError(`shard ${shard} has neither an outcome nor a job in the store`);
  }
  const out: MergedShards = { probes: [], probeFailures: [], problems: [] };
  for (const [vantage, { outputs, failed }] of perVantage) {
    const reasons = [...new Set(failed.map((f) => f.reason))].join('; ');
    if (outputs.length === 0) {
      out.probeFailures.push({ vantage, reason: reasons });
      continue;
    }
    const skipped: ProbeResult[] = failed.flatMap((f) =>
      (f.job?.targets ?? []).flatMap((t) =>
        t.ports.map((port) => ({
          host: t.host,
          port,
          state: 'skipped' as const,
          latencyMs: null,
          attempts: 0,
        })),
      ),
    );
    const refusals = [...new Set(outputs.flatMap((o) => o.refusals ?? []))].sort();
    out.probes.push({
      vantage,
      results: [...outputs.flatMap((o) => o.results), ...skipped],
      durationMs: Math.max(...outputs.map((o) => o.durationMs)),
      ...(refusals.length > 0 ? { refusals } : {}),
    });
    if (failed.length > 0) {
      out.problems.push(
        `the probe of vantage ${vantage} failed in ${failed.length} of its ${failed.length + outputs.length} shards (${skipped.length} ports skipped): ${reasons}`,
      );
    }
  }
  return out;
}
