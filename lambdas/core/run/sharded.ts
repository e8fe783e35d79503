/**
 * The sharded probe of a run, one answer for both modes: the start step splits each vantage's targets into shards
 * ({@link shardJobs}), each shard's outcome goes to the run's store as it completes (in AWS the Distributed Map's
 * shard step; locally {@link runShards}), and the finish reads them back from the store ({@link finishFromStore}).
 * Nothing here holds more than the shards in flight until the finish.
 */
import { SERVICE_PORTS } from '../identify';
import { PROBE_DEFAULTS } from '../probe';
import { type Environment, MAX_PROBE_BUDGET_SECONDS } from '../environment';
import { agentTargets, type Plan, type VantageTargets } from '../plan';
import type { CheckRun } from '../store';
import type { AuditOutcome } from './combine';
import type { ProbeStepOutput } from './probe-step';
import { mergeShards, type RunData, type ShardJob, type ShardOutcome } from './run-data';
import { planShards } from './shards';
import { finishStep, type RunDeps } from './steps';

/**
 * Splits the probe jobs into shards sized to finish inside `budgetMs` each (see core/run/shards.ts), carrying the
 * environment's probe settings.
 * @throws ShardPlanError when the run needs more shards than one run may have.
 */
export function shardJobs(
  probeJobs: readonly VantageTargets[],
  environment: Environment,
  budgetMs: number,
): ShardJob[] {
  const settings = probeSettingsOf(environment);
  // Open ports of identified services (HTTP, TLS, SSH, SMB) hold their socket through the identification.
  const identifies = probeJobs.some((j) => j.targets.some((t) => t.ports.some((p) => p in SERVICE_PORTS)));
  const sizing = { ...settings, budgetMs, identifyMs: identifies ? PROBE_DEFAULTS.identifyTimeoutMs : 0 };
  return planShards(probeJobs, sizing).map((s) => shardJobOf(s, environment, budgetMs));
}

/**
 * A run's probe budget, in ms: the environment's `probe.budgetSeconds`, else the service's (`serviceBudgetMs`: the
 * deployment's `probeBudgetSeconds` in AWS, 300 s locally), and never more than {@link MAX_PROBE_BUDGET_SECONDS}.
 * It is how long the run waits for each on-prem vantage's agent, locally and in AWS.
 */
export function runBudgetMs(environment: Pick<Environment, 'probe'>, serviceBudgetMs: number): number {
  const seconds = environment.probe.budgetSeconds;
  return Math.min(seconds !== undefined ? seconds * 1000 : serviceBudgetMs, MAX_PROBE_BUDGET_SECONDS * 1000);
}

/**
 * One shard per on-prem vantage with flows to probe: its agent's job, whole (the agent bounds its own work), with
 * the run's budget ({@link runBudgetMs}) as its own: in AWS its callback task waits that long for the agent
 * (HeartbeatSecondsPath, from the shard's job as the load step gives it).
 */
export function agentShardJobs(p: Plan, environment: Environment, serviceBudgetMs: number): ShardJob[] {
  const budgetMs = runBudgetMs(environment, serviceBudgetMs);
  return agentTargets(p).map((job) => ({ ...shardJobOf(job, environment, budgetMs), agent: true }));
}

function probeSettingsOf(environment: Environment) {
  const { timeoutMs, concurrency, retries } = environment.probe;
  return { timeoutMs, concurrency, retries };
}

function shardJobOf(
  job: {
    readonly vantage: string;
    readonly targets: ReadonlyArray<{ host: string; ports: Iterable<number> }>;
  },
  environment: Environment,
  budgetMs: number,
): ShardJob {
  return {
    vantage: job.vantage,
    targets: job.targets.map((t) => ({ host: t.host, ports: [...t.ports] })),
    ...probeSettingsOf(environment),
    budgetMs,
  };
}

/**
 * Runs shards 1 … `shardCount` of a stored plan, at most `concurrency` at a time, storing each one's outcome (or
 * the error it failed with) as soon as it completes and keeping nothing of it: the local counterpart of the state
 * machine's Distributed Map. Stops starting shards once `signal` is aborted; those have no outcome, and the finish
 * counts them as failed.
 */
export async function runShards(
  data: RunData,
  checkId: string,
  shardCount: number,
  options: {
    readonly concurrency: number;
    readonly probe: (job: ShardJob, shard: number) => Promise<ProbeStepOutput>;
    readonly signal?: AbortSignal;
  },
): Promise<void> {
  let next = 1;
  const worker = async () => {
    while (next <= shardCount && !options.signal?.aborted) {
      const shard = next++;
      const job = await data.getShard(checkId, shard);
      let outcome: ShardOutcome;
      try {
        outcome = { shard, vantage: job.vantage, output: await options.probe(job, shard) };
      } catch (err) {
        outcome = { shard, vantage: job.vantage, error: err instanceof Error ? err.message : String(err) };
      }
      await data.putShardOutcome(checkId, outcome);
    }
  };
  const workers = Math.max(1, Math.min(options.concurrency, shardCount));
  await Promise.all(Array.from({ length: shardCount > 0 ? workers : 0 }, worker));
}

/** What {@link finishFromStore} takes beside what the store holds. */
export interface StoredFinishInput {
  readonly plan: Plan;
  readonly audit: AuditOutcome;
  /** Problems of the earlier steps (an audit that failed, say). */
  readonly problems?: readonly string[];
  /** Outputs that did not go through shards (an on-prem agent's results). */
  readonly probes?: readonly ProbeStepOutput[];
  readonly probeFailures?: ReadonlyArray<{ readonly vantage: string; readonly reason: string }>;
  readonly notProbed?: ReadonlyArray<{ readonly vantage: string; readonly reason: string }>;
  /**
   * On-prem vantages whose agent's job is a shard (in AWS, a callback task): a failed one is `notProbed` (its flows
   * `skipped` with the reason, "no agent for vantage dc1 reported…"), as the local runner reports a missing agent.
   */
  readonly agentVantages?: ReadonlySet<string>;
}

/**
 * Reads the run's stored plan and shard outcomes, merges them per vantage (a shard with no outcome counts as
 * failed, its ports `skipped`) and finishes the run with {@link finishStep}.
 */
export async function finishFromStore(
  deps: RunDeps & { readonly data: RunData },
  run: CheckRun,
  input: StoredFinishInput,
  signal?: AbortSignal,
): Promise<CheckRun> {
  const stored = await deps.data.getPlan(run.checkId);
  const outcomes = await deps.data.listShardOutcomes(run.checkId);
  const returned = new Set(outcomes.flatMap((o) => ('output' in o ? [o.shard] : [])));
  const jobs = new Map<number, ShardJob>();
  for (let shard = 1; shard <= stored.shardCount; shard++)
    if (!returned.has(shard)) jobs.set(shard, await deps.data.getShard(run.checkId, shard));
  const merged = mergeShards(stored.shardCount, outcomes, jobs);
  return finishStep(
    deps,
    run,
    {
      plan: input.plan,
      probes: [...merged.probes, ...(input.probes ?? [])],
      probeFailures: [
        ...stored.probeFailures,
        ...merged.probeFailures.filter((f) => !input.agentVantages?.has(f.vantage)),
        ...(input.probeFailures ?? []),
      ],
      notProbed: [
        ...merged.probeFailures.filter((f) => input.agentVantages?.has(f.vantage)),
        ...(input.notProbed ?? []),
      ],
      audit: input.audit,
      problems: [...merged.problems, ...(input.problems ?? [])],
    },
    signal,
  );
}
