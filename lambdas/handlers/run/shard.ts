/**
 * The two steps around each shard's prober, outside the VPC with the run's table: `load` reads the shard's job
 * from the store and gives it its own deadline (the shard's start plus its budget); `store` writes the prober's
 * output (or the error it died with) to the store and returns a summary of a few numbers, so the Map's state never
 * holds results. The prober itself makes no AWS API call: it runs in isolated subnets with no NAT and no endpoints.
 *
 * An on-prem vantage's shard has no prober: its state machine item is a callback task whose `agent` step stores the
 * agent's job with the task's token (its deadline the shard's); the API completes the task when the agent posts its
 * last page, and `store` then reads the agent's results from the job. A task that times out (no agent took the job,
 * or it stopped heartbeating) is stored as the vantage's flows `skipped`: "no agent for vantage X reported within
 * N s".
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoAgentJobStore } from '../../aws/dynamo-agent-jobs';
import { StepFunctionsCallbacks } from '../../aws/sfn-callbacks';
import {
  AGENT_JOB_FAILED,
  agentFailedReason,
  agentJobId,
  agentTaskWait,
  type AgentJobStore,
  noAgentReason,
} from '../../core/agent/jobs';
import { NotFoundError } from '../../core/store';
import type { SafetyMode } from '../../core/safety';
import type { ProbeResult } from '../../core/probe';
import { type RunData, type ShardOutcome, type ShardSummary, summarizeShard } from '../../core/run/run-data';
import { resultStore, runData } from '../clients';
import { instrument } from '../instrument';
import { instruments, logger, metrics, tracer } from '../observability';
import { readSettings } from '../settings';
import {
  errorReason,
  type ProbeJob,
  shardInputSchema,
  shardRefSchema,
  storeShardInputSchema,
} from './payloads';
import { parseWith } from './parse';

/** Reads a shard's job and sets its deadline. */
export async function loadShard(raw: unknown, deps: { data: RunData; now?: () => Date }): Promise<ProbeJob> {
  const ref = parseWith(shardRefSchema, raw, 'the shard to load');
  const job = await deps.data.getShard(ref.checkId, ref.shard);
  const now = (deps.now ?? (() => new Date()))().getTime();
  return {
    checkId: ref.checkId,
    shard: ref.shard,
    vantage: job.vantage,
    targets: job.targets.map((t) => ({ host: t.host, ports: [...t.ports] })),
    timeoutMs: job.timeoutMs,
    concurrency: job.concurrency,
    retries: job.retries,
    deadline: now + job.budgetMs,
    ...(job.agent ? { agent: true as const, ...agentTaskWait(job.budgetMs) } : {}),
  };
}

/** The errors with which a callback task ends when no agent completes it in time. */
export const AGENT_TIMEOUTS = ['States.Timeout', 'States.HeartbeatTimeout'];

/** What the `agent` and `store` steps need to reach the agents' jobs. */
export interface AgentDeps {
  readonly jobs: AgentJobStore;
  /**
   * Ends a retried callback task whose job is closed already (AWS: `SendTaskSuccess` / `SendTaskFailure` with the
   * new task's token). @default - none: such a task waits out its heartbeat, and the store step finds the job
   */
  readonly callbacks?: Pick<StepFunctionsCallbacks, 'onComplete' | 'onFail'>;
  /** The deployment's target policy, given to the agent with its job. */
  readonly policy: { readonly mode: SafetyMode; readonly allowedTargetCidrs: readonly string[] };
}

/**
 * The callback task's step: stores the agent's job of an on-prem vantage's shard with the task's token. The job's id
 * is derived from the run, the vantage and the shard, so that a retried task (its Retry, or an invoke delivered
 * again) makes no second job: the job waiting already gets the new token; an agent that took it keeps it, and its
 * heartbeats and last page reach the live task. A job already done (or failed) by then, whose completion reached
 * only the dead task, ends the new task at once: this step sends its `SendTaskSuccess` (or `SendTaskFailure`)
 * itself.
 */
export async function createAgentJob(
  raw: unknown,
  taskToken: string,
  deps: { data: RunData; agents: AgentDeps; now?: () => Date },
): Promise<{ vantage: string; jobId: string }> {
  const job = parseWith(shardRefSchema, raw, 'the shard of the agent job');
  const shard = await deps.data.getShard(job.checkId, job.shard);
  if (!shard.agent) throw new TypeError(`shard ${job.shard} of run ${job.checkId} is not an agent's`);
  const plan = await deps.data.getPlan(job.checkId);
  const now = (deps.now ?? (() => new Date()))();
  const deadline = typeof job.deadline === 'number' ? job.deadline : now.getTime() + shard.budgetMs;
  const created = await deps.agents.jobs.create(
    {
      jobId: agentJobId(job.checkId, shard.vantage, job.shard),
      checkId: job.checkId,
      vantage: shard.vantage,
      environmentName: (plan.environment as { name: string }).name,
      targets: shard.targets.map((t) => ({ host: t.host, ports: [...t.ports] })),
      probe: { timeoutMs: shard.timeoutMs, concurrency: shard.concurrency, retries: shard.retries },
      policy: {
        mode: deps.agents.policy.mode,
        allowedTargetCidrs: [...deps.agents.policy.allowedTargetCidrs],
      },
      deadline: new Date(deadline).toISOString(),
      taskToken,
    },
    now,
  );
  if (created.status === 'done') await deps.agents.callbacks?.onComplete({ ...created, taskToken });
  if (created.status === 'failed') await deps.agents.callbacks?.onFail({ ...created, taskToken });
  return { vantage: created.vantage, jobId: created.jobId };
}

/** Stores a shard's outcome and returns its summary. */
export async function storeShard(
  raw: unknown,
  deps: { data: RunData; agents?: AgentDeps },
): Promise<ShardSummary> {
  const input = parseWith(storeShardInputSchema, raw, 'the shard outcome');
  if (input.agentJob || (input.agent === true && input.error)) {
    return storeAgentShard(input as typeof input & { agent?: boolean }, deps);
  }
  const outcome: ShardOutcome = input.probe
    ? {
        shard: input.shard,
        vantage: input.vantage,
        output: {
          vantage: input.probe.vantage,
          results: input.probe.results as unknown as ProbeResult[],
          durationMs: input.probe.durationMs,
          ...(input.probe.refusals ? { refusals: input.probe.refusals } : {}),
        },
      }
    : { shard: input.shard, vantage: input.vantage, error: errorReason(input.error!) };
  await deps.data.putShardOutcome(input.checkId, outcome);
  return summarizeShard(outcome);
}

/**
 * An on-prem vantage's shard: its agent's results; or, when the task failed, the vantage's reason: the agent's own
 * when it said it could not run the job (`SendTaskFailure`, {@link AGENT_JOB_FAILED}), "no agent … reported within
 * N s" when the task timed out. A timed-out job is closed (`expired`, so that a late agent's results are refused),
 * unless it is closed already (its completion or failure reached no live task: it came before a retried task's
 * token, or at the last moment): its results, or its agent's reason, are then kept.
 */
async function storeAgentShard(
  input: { checkId: string; shard: number; vantage: string; agentJob?: { jobId: string; pages: number } } & {
    error?: Parameters<typeof errorReason>[0];
  },
  deps: { data: RunData; agents?: AgentDeps },
): Promise<ShardSummary> {
  const { checkId, shard, vantage } = input;
  const jobs = deps.agents?.jobs;
  if (!jobs) throw new TypeError('the shard step has no agent job store');
  const done = async (jobId: string, pages: number): Promise<ShardOutcome> => ({
    shard,
    vantage,
    // The agent does not report its own duration: the shard's is unknown here.
    output: { vantage, results: await jobs.results(vantage, jobId, pages), durationMs: 0 },
  });
  let outcome: ShardOutcome;
  if (input.agentJob) {
    const job = await jobs.get(vantage, input.agentJob.jobId);
    outcome = await done(job.jobId, job.pages ?? input.agentJob.pages);
  } else if (input.error!.Error === AGENT_JOB_FAILED) {
    outcome = { shard, vantage, error: agentFailedReason(vantage, input.error!.Cause ?? 'no reason given') };
  } else if (AGENT_TIMEOUTS.includes(input.error!.Error)) {
    const job = await deps.data.getShard(checkId, shard);
    const closed = await jobs.expire(vantage, agentJobId(checkId, vantage, shard)).catch((err: unknown) => {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    });
    if (closed?.status === 'done') outcome = await done(closed.jobId, closed.pages ?? 0);
    else if (closed?.status === 'failed')
      outcome = { shard, vantage, error: agentFailedReason(vantage, closed.error ?? 'no reason given') };
    else outcome = { shard, vantage, error: noAgentReason(vantage, job.budgetMs) };
  } else {
    outcome = { shard, vantage, error: errorReason(input.error!) };
  }
  await deps.data.putShardOutcome(checkId, outcome);
  return summarizeShard(outcome);
}

/** The shard Lambda: `{ step: 'load', item }`, `{ step: 'store', item }` or `{ step: 'agent', item, taskToken }`. */
export async function shardStep(
  raw: unknown,
  deps: { data: RunData; agents?: AgentDeps; now?: () => Date },
): Promise<ProbeJob | ShardSummary | { vantage: string; jobId: string }> {
  const input = parseWith(shardInputSchema, raw, 'the shard step input');
  if (input.step === 'load') return loadShard(input.item, deps);
  if (input.step === 'store') return storeShard(input.item, deps);
  if (!deps.agents) throw new TypeError('the shard step has no agent job store');
  return createAgentJob(input.item, input.taskToken, { ...deps, agents: deps.agents });
}

const settings = readSettings(['TABLE_NAME', 'RETENTION_DAYS', 'ALLOWED_TARGET_CIDRS']);
const { client } = resultStore(settings);
const data = runData(settings, client);
const agents: AgentDeps = {
  jobs: new DynamoAgentJobStore(client, { tableName: settings.TABLE_NAME }),
  callbacks: new StepFunctionsCallbacks(tracer.captureAWSv3Client(new SFNClient({}))),
  policy: { mode: 'aws', allowedTargetCidrs: settings.ALLOWED_TARGET_CIDRS },
};

export const handler = instrument('shard', instruments, async (event: unknown) => {
  const out = await shardStep(event, { data, agents });
  if ('ports' in out) {
    metrics.addMetric('ShardPortsProbed', MetricUnit.Count, out.ports);
    metrics.addMetric('ShardPortsSkipped', MetricUnit.Count, out.states.skipped ?? 0);
    if (out.error !== undefined) logger.warn('shard failed', { ...out });
  }
  return out;
});
