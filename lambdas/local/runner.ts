/**
 * The in-process runner: runs the steps of a check run one after another in this process (local mode), the
 * way the state machine runs them as Lambdas in AWS. A run that fails halfway keeps what it has and ends
 * `partial` or `failed` with the reason; nothing is left `running`.
 */
import type { Inventory } from '../core/audit/types';
import type { Catalog } from '../core/catalog';
import type { Environment } from '../core/environment';
import type { probe } from '../core/probe';
import { LOCAL_ALLOWED_TARGET_CIDRS, type Resolver, type TargetPolicy } from '../core/target-policy';
import { type CheckRun, queuedRun, type ResultStore, type Trigger } from '../core/store';
import {
  auditStep,
  type AuditStepOutput,
  beginStep,
  closeRun,
  type EventSink,
  failStep,
  probeStep,
  SHUTDOWN_REASON,
} from '../core/run/steps';
import type { Resolve } from '../core/audit/plan-audit';
import { agentFailedReason, type AgentJobStore, awaitAgentJob, noAgentReason } from '../core/agent/jobs';
import { agentTargets } from '../core/plan';
import type { RunData } from '../core/run/run-data';
import { finishFromStore, runBudgetMs, runShards, shardJobs } from '../core/run/sharded';

/** Options of {@link createRunner}. */
export interface RunnerOptions {
  readonly store: ResultStore;
  readonly catalog: Catalog;
  /** The AWS inventory to audit an environment against. @default - none: the audit is skipped and says so */
  readonly inventoryFor?: (environment: Environment) => Promise<Inventory | undefined>;
  readonly events: EventSink;
  /**
   * `here` (local mode): probe every vantage's targets once, from this process. `vantage`: one probe job per
   * vantage (still in-process here). @default 'vantage'
   */
  readonly probeFrom?: 'vantage' | 'here';
  /** @default - the system clock */
  readonly now?: () => Date;
  /** Time budget of the probe step of a run, in ms. @default 300000 */
  readonly budgetMs?: number;
  /** The probe engine. @default - `probe` from the engine */
  readonly probeEngine?: typeof probe;
  /** Resolves hostnames for the audit. @default - `dns.promises.lookup` */
  readonly resolve?: Resolve;
  /**
   * The target policy every probe of every run goes through right before it connects, whatever started the
   * run (the API, a schedule, a retry): `serve` passes its `--allow`. @default - local mode, loopback and the
   * private ranges
   */
  readonly policy?: TargetPolicy;
  /** Resolves the host names the policy checks (and the probe then connects to). @default - the system resolver */
  readonly resolveTarget?: Resolver;
  /**
   * Where on-prem vantages' jobs go: the run creates one per vantage and waits for its agent up to the probe
   * budget. @default - none: the flows of on-prem vantages are `skipped` (no agent service)
   */
  readonly agentJobs?: AgentJobStore;
  /**
   * Where each run keeps its plan and its shards' outcomes between the probe and the finish (as in AWS):
   * `serve` passes a `DynamoRunData` on its store, so a run's results are written as each shard completes
   * rather than held whole.
   */
  readonly runData: RunData;
  /**
   * Shards probed at once. Each shard keeps up to the environment's `probe.concurrency` sockets open, so
   * the sockets in flight are at most this times that. @default 1
   */
  readonly shardConcurrency?: number;
}

/** What {@link Runner.start} takes. */
export interface StartRunInput {
  readonly environment: Environment;
  readonly trigger: Trigger;
}

export interface Runner {
  /** Creates the run `queued` and runs it in the background; resolves with the run as created. */
  start(input: StartRunInput): Promise<CheckRun>;
  /** The run once it is closed (or as stored, when this process is not running it). */
  wait(checkId: string): Promise<CheckRun>;
  /**
   * Stops taking runs; in-flight runs get `graceMs` to finish, then are aborted and closed `partial` with
   * reason `shutdown`, keeping the findings they recorded.
   */
  shutdown(graceMs: number): Promise<void>;
  /**
   * Closes runs left `queued`/`running` by a process that died, created before `olderThan`: `partial` with the
   * findings it stored (counts matching them), `failed` when it stored none.
   */
  recoverStale(olderThan: Date): Promise<number>;
}

/** Raised by {@link Runner.start} once the runner is shutting down. */
export class RunnerStoppedError extends Error {
  override readonly name = 'RunnerStoppedError';
  constructor() {
    super('the runner is shutting down and takes no new runs: retry against the restarted service');
  }
}

/** The reason a run closed by {@link Runner.shutdown} carries. */
export { SHUTDOWN_REASON } from '../core/run/steps';
/** The reason a run closed by {@link Runner.recoverStale} carries. */
export const STALE_REASON =
  'the process running it stopped before it finished; closed when the service restarted (run the check again)';

interface InFlight {
  readonly done: Promise<void>;
  readonly abort: AbortController;
}

const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Creates the in-process runner. */
export function createRunner(options: RunnerOptions): Runner {
  const { store, catalog, events } = options;
  const now = options.now ?? (() => new Date());
  const budgetMs = options.budgetMs ?? 300_000;
  const policy: TargetPolicy = options.policy ?? {
    mode: 'local',
    allowedTargetCidrs: LOCAL_ALLOWED_TARGET_CIDRS,
  };
  const { runData } = options;
  const shardConcurrency = options.shardConcurrency ?? 1;
  const inFlight = new Map<string, InFlight>();
  let stopping = false;

  const deps = { store, events, now };

  const execute = async (created: CheckRun, environment: Environment, signal: AbortSignal) => {
    let step = 'start';
    const problems: string[] = [];
    try {
      step = 'plan';
      const { run, plan, probeJobs } = await beginStep(
        deps,
        created,
        environment,
        catalog,
        options.probeFrom ?? 'vantage',
      );

      step = 'probe';
      const runBudget = runBudgetMs(environment, budgetMs);
      const deadline = Date.now() + runBudget;
      // The cloud-side probe in shards, as the state machine runs it: each shard's outcome goes to the store as it
      // completes and is dropped here, so memory holds at most `shardConcurrency` shards' results whatever the
      // run's size. Every shard shares the run's one deadline.
      const shards = shardJobs(probeJobs, environment, runBudget);
      await runData.putPlan(
        run.checkId,
        { environment, shardCount: shards.length, probeFailures: [] },
        shards,
      );
      // Each on-prem vantage's job waits for its agent while the cloud vantages probe.
      const agentWork = Promise.all(
        agentTargets(plan).map(async (job) => {
          if (!options.agentJobs) {
            return { missing: { vantage: job.vantage, reason: 'no agent service runs with this runner' } };
          }
          try {
            const startedAt = Date.now();
            const created = await options.agentJobs.create(
              {
                checkId: run.checkId,
                vantage: job.vantage,
                environmentName: environment.name,
                targets: job.targets,
                probe: {
                  timeoutMs: environment.probe.timeoutMs,
                  concurrency: environment.probe.concurrency,
                  retries: environment.probe.retries,
                },
                // The agent applies the same policy again before it connects.
                policy,
                deadline: new Date(deadline).toISOString(),
              },
              now(),
            );
            const waited = await awaitAgentJob(options.agentJobs, created, deadline, { signal });
            if ('failed' in waited)
              return {
                missing: { vantage: job.vantage, reason: agentFailedReason(job.vantage, waited.failed) },
              };
            if ('timedOut' in waited)
              return { missing: { vantage: job.vantage, reason: noAgentReason(job.vantage, runBudget) } };
            return {
              ok: { vantage: job.vantage, results: waited.results, durationMs: Date.now() - startedAt },
            };
          } catch (err) {
            return { failed: { vantage: job.vantage, reason: messageOf(err) } };
          }
        }),
      );
      await runShards(runData, run.checkId, shards.length, {
        concurrency: shardConcurrency,
        signal,
        probe: (job) =>
          probeStep(
            {
              vantage: job.vantage,
              targets: job.targets.map((t) => ({ host: t.host, ports: [...t.ports] })),
              timeoutMs: job.timeoutMs,
              concurrency: job.concurrency,
              retries: job.retries,
              deadline,
            },
            {
              signal,
              policy,
              ...(options.resolveTarget ? { resolve: options.resolveTarget } : {}),
              ...(options.probeEngine ? { engine: options.probeEngine } : {}),
            },
          ),
      });

      const agents = await agentWork;

      step = 'audit';
      let audit: AuditStepOutput;
      try {
        const inventory = options.inventoryFor ? await options.inventoryFor(environment) : undefined;
        audit = await auditStep(
          { plan, environment, ...(inventory ? { inventory } : {}) },
          ...(options.resolve ? [options.resolve] : []),
        );
      } catch (err) {
        problems.push(`the audit failed: ${messageOf(err)}`);
        audit = { audits: [], skipped: `the audit failed: ${messageOf(err)}` };
      }

      step = 'record';
      await finishFromStore(
        { ...deps, data: runData },
        run,
        {
          plan,
          probes: agents.flatMap((s) => (s.ok ? [s.ok] : [])),
          probeFailures: agents.flatMap((s) => (s.failed ? [s.failed] : [])),
          notProbed: agents.flatMap((s) => (s.missing ? [s.missing] : [])),
          audit,
          problems,
        },
        signal,
      );
    } catch (err) {
      const reason = signal.aborted
        ? SHUTDOWN_REASON
        : [...problems, `the ${step} step failed: ${messageOf(err)}`].join('; ');
      await failStep(deps, created.checkId, reason).catch(() => undefined);
    }
  };

  return {
    async start({ environment, trigger }) {
      if (stopping) throw new RunnerStoppedError();
      const at = now();
      const run = await store.createRun(queuedRun(environment.name, trigger, at, environment.profiles));
      const abort = new AbortController();
      const done = execute(run, environment, abort.signal).finally(() => inFlight.delete(run.checkId));
      inFlight.set(run.checkId, { done, abort });
      return run;
    },

    async wait(checkId) {
      await inFlight.get(checkId)?.done;
      return store.getRun(checkId);
    },

    async shutdown(graceMs) {
      stopping = true;
      const running = [...inFlight.entries()];
      if (running.length === 0) return;
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, Math.max(0, graceMs));
      });
      await Promise.race([Promise.all(running.map(([, r]) => r.done)), grace]);
      clearTimeout(timer);
      const left = [...inFlight.entries()];
      for (const [, r] of left) r.abort.abort();
      // Aborted runs record what they have and close themselves; a step stuck past that is closed here.
      const settle = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 2000);
      });
      await Promise.race([Promise.all(left.map(([, r]) => r.done)), settle]);
      clearTimeout(timer);
      await Promise.all(
        left.map(([checkId]) =>
          closeRun(deps, checkId, { status: 'partial', reason: SHUTDOWN_REASON }).catch(() => undefined),
        ),
      );
    },

    async recoverStale(olderThan) {
      const stale = await store.listStaleRuns(olderThan.toISOString());
      let closed = 0;
      for (const run of stale) {
        if (inFlight.has(run.checkId)) continue;
        // Partial with what it stored (a crash while writing the results), failed when nothing was.
        const after = await failStep(deps, run.checkId, STALE_REASON);
        if (after.reason === STALE_REASON) closed++;
      }
      return closed;
    },
  };
}
