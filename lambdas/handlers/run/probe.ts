/**
 * The prober: runs inside the VPC, in one vantage's subnets with its Security Groups, so its packets take the
 * path the migration's own workers will take; one invocation per shard, before the shard's own deadline. It makes
 * no AWS API call — it returns its shard's results (at most `MAX_SHARD_PAIRS` ports, so they fit in a state) to
 * the state machine, whose store step writes them to the table — so it works in isolated subnets with no NAT and
 * no endpoints. Before it connects it applies the
 * deployment's target policy again (allowed CIDRs; never link-local, metadata or loopback), resolving each name
 * once and connecting to the address it checked.
 *
 * It must stay small (it is the one function that scales with vantages and starts cold most): no zod, no AWS
 * SDK, no Powertools Tracer; its input is checked by hand.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { ProbeTarget } from '../../core/probe';
import {
  probeStep,
  type ProbeStepDeps,
  type ProbeStepInput,
  type ProbeStepOutput,
} from '../../core/run/probe-step';
import { parseAllowedCidrs, type Resolver, type TargetPolicy } from '../../core/target-policy';
import { instrument, METRICS_NAMESPACE, SERVICE_NAME } from '../instrument';

/** Raised when the job is not what the state machine sends; names the field and the value. */
export class ProbeJobError extends Error {
  override readonly name = 'ProbeJobError';
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const shown = (v: unknown) => JSON.stringify(v)?.slice(0, 80) ?? String(v);

function optionalNumber(job: Record<string, unknown>, key: string): number | undefined {
  const v = job[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new ProbeJobError(`${key}: ${shown(v)} is not a number`);
  return v;
}

/** Checks the probe job by hand (the prober carries no zod). */
export function parseProbeJob(raw: unknown): ProbeStepInput {
  if (!isObject(raw)) throw new ProbeJobError(`the probe job is not an object: ${shown(raw)}`);
  if (typeof raw.vantage !== 'string' || raw.vantage === '')
    throw new ProbeJobError(`vantage: ${shown(raw.vantage)} is not a vantage name`);
  if (!Array.isArray(raw.targets)) throw new ProbeJobError(`targets: ${shown(raw.targets)} is not a list`);
  const targets: ProbeTarget[] = raw.targets.map((t: unknown, i) => {
    if (!isObject(t) || typeof t.host !== 'string' || t.host === '')
      throw new ProbeJobError(`targets[${i}].host: ${shown(isObject(t) ? t.host : t)} is not a host`);
    if (!Array.isArray(t.ports) || !t.ports.every((p) => Number.isInteger(p) && p >= 1 && p <= 65535))
      throw new ProbeJobError(`targets[${i}].ports: ${shown(t.ports)} is not a list of ports (1-65535)`);
    return { host: t.host, ports: t.ports as number[] };
  });
  const job: ProbeStepInput = { vantage: raw.vantage, targets };
  const timeoutMs = optionalNumber(raw, 'timeoutMs');
  const concurrency = optionalNumber(raw, 'concurrency');
  const retries = optionalNumber(raw, 'retries');
  const deadline = optionalNumber(raw, 'deadline');
  return {
    ...job,
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(concurrency !== undefined ? { concurrency } : {}),
    ...(retries !== undefined ? { retries } : {}),
    ...(deadline !== undefined ? { deadline } : {}),
  };
}

/** Reads the policy from `ALLOWED_TARGET_CIDRS` (a JSON array the CDK app writes); fails naming the value. */
export function policyFromEnv(env: NodeJS.ProcessEnv = process.env): TargetPolicy {
  const text = env.ALLOWED_TARGET_CIDRS;
  let cidrs: unknown;
  try {
    cidrs = JSON.parse(text ?? '');
  } catch {
    cidrs = undefined;
  }
  if (!Array.isArray(cidrs) || !cidrs.every((c) => typeof c === 'string'))
    throw new ProbeJobError(
      `ALLOWED_TARGET_CIDRS: ${shown(text)} is not a JSON array of CIDR blocks (redeploy the stack)`,
    );
  parseAllowedCidrs(cidrs);
  return { mode: 'aws', allowedTargetCidrs: cidrs };
}

/** The prober's work with its dependencies; the handler binds them. */
export async function probeJob(
  raw: unknown,
  deps: { policy: TargetPolicy; resolve?: Resolver; engine?: ProbeStepDeps['engine'] },
): Promise<ProbeStepOutput> {
  const job = parseProbeJob(raw);
  return probeStep(job, {
    policy: deps.policy,
    ...(deps.resolve ? { resolve: deps.resolve } : {}),
    ...(deps.engine ? { engine: deps.engine } : {}),
  });
}

const logger = new Logger({ serviceName: SERVICE_NAME });
const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME });
const policy = policyFromEnv();

export const handler = instrument('probe', { logger, metrics }, async (event: unknown) => {
  const out = await probeJob(event, { policy });
  const states: Record<string, number> = {};
  for (const r of out.results) states[r.state] = (states[r.state] ?? 0) + 1;
  metrics.addMetric('PortsProbed', MetricUnit.Count, out.results.length);
  logger.info('probed', { vantage: out.vantage, durationMs: out.durationMs, states, refusals: out.refusals });
  return out;
});
