/**
 * The two steps around each shard's prober, outside the VPC with the run's table: `load` reads the shard's job
 * from the store and gives it its own deadline (the shard's start plus its budget); `store` writes the prober's
 * output (or the error it died with) to the store and returns a summary of a few numbers, so the Map's state never
 * holds results. The prober itself makes no AWS API call: it runs in isolated subnets with no NAT and no endpoints.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { ProbeResult } from '../../core/probe';
import { type RunData, type ShardOutcome, type ShardSummary, summarizeShard } from '../../core/run/run-data';
import { resultStore, runData } from '../clients';
import { instrument } from '../instrument';
import { instruments, logger, metrics } from '../observability';
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
  };
}

/** Stores a shard's outcome and returns its summary. */
export async function storeShard(raw: unknown, deps: { data: RunData }): Promise<ShardSummary> {
  const input = parseWith(storeShardInputSchema, raw, 'the shard outcome');
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

/** The shard Lambda: `{ step: 'load', item }` or `{ step: 'store', item }`. */
export async function shardStep(
  raw: unknown,
  deps: { data: RunData; now?: () => Date },
): Promise<ProbeJob | ShardSummary> {
  const input = parseWith(shardInputSchema, raw, 'the shard step input');
  return input.step === 'load' ? loadShard(input.item, deps) : storeShard(input.item, deps);
}

const settings = readSettings(['TABLE_NAME', 'RETENTION_DAYS']);
const { client } = resultStore(settings);
const data = runData(settings, client);

export const handler = instrument('shard', instruments, async (event: unknown) => {
  const out = await shardStep(event, { data });
  if ('ports' in out) {
    metrics.addMetric('ShardPortsProbed', MetricUnit.Count, out.ports);
    metrics.addMetric('ShardPortsSkipped', MetricUnit.Count, out.states.skipped ?? 0);
    if (out.error !== undefined) logger.warn('shard failed', { ...out });
  }
  return out;
});
