/**
 * What a check run keeps between its steps in AWS, so that nothing that grows with hosts, ports or flows travels
 * in Step Functions' state (256 KB per state): the plan (the environment and each shard's job), each shard's
 * outcome, and the audit. The state machine passes only the run's id and shard numbers; each step reads what it
 * needs here. `lambdas/aws/dynamo-run-data.ts` implements it in the results table. No AWS SDK here.
 */
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
