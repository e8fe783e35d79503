/**
 * The state machine's first step: takes the queued run the API created (or creates one for a schedule), marks it
 * running, plans it, and splits each vantage's targets into shards (each sized to finish inside one prober
 * invocation, see core/run/shards.ts) — only for vantages a prober is deployed for, in the same subnets and
 * Security Groups; any other vantage's flows are reported, not silently dropped. The plan and the shards go to the
 * store; the state carries only the run's id and the shard numbers.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { defaultCatalog } from '../../core/catalog';
import { type Environment, parseEnvironment } from '../../core/environment';
import { runIdOfExecution } from '../../core/run/identity';
import { beginStep, failStep, planStep } from '../../core/run/steps';
import { type CheckRun, ConflictError, queuedRun, type ResultStore } from '../../core/store';
import { resultStore, runData } from '../clients';
import { instrument } from '../instrument';
import { instruments, metrics } from '../observability';
import { type DeployedVantages, readSettings } from '../settings';
import type { RunData } from '../../core/run/run-data';
import { agentShardJobs, shardJobs } from '../../core/run/sharded';
import { executionInputSchema } from '../../core/run/execution-input';
import { parseWith } from './parse';

/** What the start step hands the state machine: small whatever the wave's size. */
export interface StartOutput {
  readonly checkId: string;
  /**
   * The shards' numbers (1 … n), the Map's items: the one list in the state that grows with the wave, at most
   * `MAX_SHARDS` numbers (about 5 KB).
   */
  readonly shards: number[];
}

const sameSet = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && [...a].sort().join() === [...b].sort().join();

/** Why a vantage cannot be probed by the deployed probers, or undefined when its prober matches it. */
export function proberMismatch(
  environment: Environment,
  vantage: string,
  deployed: DeployedVantages,
): string | undefined {
  const prober = deployed[vantage];
  const names = Object.keys(deployed).sort();
  if (!prober) {
    return `no prober is deployed for vantage ${JSON.stringify(vantage)} (deployed: ${names.join(', ') || 'none'}); add it to the deployment config's vantages and deploy`;
  }
  const declared = environment.vantages.find((v) => v.name === vantage);
  if (!declared) return undefined;
  if (
    !sameSet(declared.subnetIds, prober.subnetIds) ||
    !sameSet(declared.securityGroupIds, prober.securityGroupIds)
  ) {
    return `the prober of vantage ${JSON.stringify(vantage)} runs in subnets ${prober.subnetIds.join(', ')} with groups ${prober.securityGroupIds.join(', ')}, but the environment declares subnets ${declared.subnetIds.join(', ')} with groups ${declared.securityGroupIds.join(', ')}: its packets would not take the path of the migration's own workers, so it was not probed (make the deployment config and the environment agree)`;
  }
  return undefined;
}

/** The start step with its dependencies; the handler below binds them. */
export async function start(
  raw: unknown,
  deps: {
    store: ResultStore;
    data: RunData;
    deployed: DeployedVantages;
    /** One shard's budget in ms (its prober's deadline from when it starts). */
    budgetMs: number;
    now?: () => Date;
  },
): Promise<StartOutput> {
  const input = parseWith(executionInputSchema, raw, 'the execution input');
  const catalog = defaultCatalog();
  const environment =
    input.environment !== undefined
      ? parseEnvironment(input.environment, catalog, 'environment')
      : (await deps.store.getEnvironment(input.environmentName)).environment;
  const now = deps.now ?? (() => new Date());
  const runId = runIdOfExecution(input);
  let created: CheckRun;
  if (input.checkId !== undefined) created = await deps.store.getRun(input.checkId);
  else if (input.invocation !== undefined && runId !== undefined) {
    // A schedule's run: its id and creation time come from the invocation, so a retried attempt finds it.
    const at = new Date(input.invocation.scheduledTime);
    try {
      created = await deps.store.createRun({
        ...queuedRun(environment.name, input.trigger, at, environment.profiles),
        checkId: runId,
      });
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      created = await deps.store.getRun(runId);
    }
  } else
    created = await deps.store.createRun(
      queuedRun(environment.name, input.trigger, now(), environment.profiles),
    );
  try {
    // The run's id comes from the execution (its input names the run, or its schedule invocation does), so a run
    // that is running already was taken by an earlier attempt of this very step (a Lambda retry after a lost
    // answer): plan it again rather than fail it.
    const { plan, probeJobs } =
      runId !== undefined && created.status === 'running'
        ? await planStep({ environment }, catalog)
        : await beginStep({ store: deps.store, now }, created, environment, catalog);
    const probed: typeof probeJobs = [];
    const probeFailures: Array<{ vantage: string; reason: string }> = [];
    for (const job of probeJobs) {
      const reason = proberMismatch(environment, job.vantage, deps.deployed);
      if (reason) probeFailures.push({ vantage: job.vantage, reason });
      else probed.push(job);
    }
    const shards = [
      ...shardJobs(probed, environment, deps.budgetMs),
      ...agentShardJobs(plan, environment, deps.budgetMs),
    ];
    await deps.data.putPlan(
      created.checkId,
      { environment, shardCount: shards.length, probeFailures },
      shards,
    );
    return { checkId: created.checkId, shards: shards.map((_, i) => i + 1) };
  } catch (err) {
    // The run exists now: close it with the reason rather than leave it queued.
    await failStep(
      { store: deps.store, now },
      created.checkId,
      `the start step failed: ${(err as Error).message}`,
    );
    throw err;
  }
}

const settings = readSettings(['TABLE_NAME', 'RETENTION_DAYS', 'VANTAGES', 'PROBE_BUDGET_MS']);
const { store, client } = resultStore(settings);
const data = runData(settings, client);

export const handler = instrument('start', instruments, async (event: unknown) => {
  const out = await start(event, {
    store,
    data,
    deployed: settings.VANTAGES,
    budgetMs: settings.PROBE_BUDGET_MS,
  });
  metrics.addMetric('RunsStarted', MetricUnit.Count, 1);
  return out;
});
