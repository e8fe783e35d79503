/**
 * The steps of a check run. Each is a plain async function with JSON-serialisable input and output (except
 * where noted), so that Step Functions can later call each as a Lambda and the local runner calls them
 * in-process: plan → probe (per vantage) → audit → combine → record → compare → emit.
 */
import * as dns from 'node:dns';
import { auditPlan, type FlowAudit, type Resolve } from '../audit/plan-audit';
import { createAuditor } from '../audit/evaluate';
import type { Inventory } from '../audit/types';
import type { Catalog } from '../catalog';
import type { Environment } from '../environment';
import {
  isAgentVantage,
  type Plan,
  plan,
  probeTargets,
  probeTargetsFromHere,
  type VantageTargets,
} from '../plan';
import type { ProbeResult } from '../probe';
import type { ProbeStepOutput } from './probe-step';
import {
  type CheckRun,
  ConflictError,
  type FindingRecord,
  OPEN_STATUSES,
  type ResultStore,
  type RunPatch,
  type VerdictChange,
} from '../store';
import {
  type AuditOutcome,
  type CombinedFinding,
  combineFlow,
  countVerdicts,
  compareFindings,
  type ProbeOutcome,
} from './combine';

/** The EventBridge source of preflight's events. */
export const EVENT_SOURCE = 'preflight';
/** The detail-type of the event emitted for each flow whose verdict changed. */
export const STATE_CHANGED = 'Preflight Check State Changed';

/** The detail of a {@link STATE_CHANGED} event. */
export interface StateChangedDetail {
  readonly checkId: string;
  readonly environmentName: string;
  readonly previousCheckId?: string;
  readonly flowId: string;
  /** The verdict in the previous run; absent for a new flow. */
  readonly from?: string;
  /** The verdict in this run; absent for a flow that is gone. */
  readonly to?: string;
  readonly cause?: string;
}

/** Where events go (EventBridge `PutEvents` with source {@link EVENT_SOURCE} in AWS, a log or a list locally). */
export interface EventSink {
  emit(detailType: typeof STATE_CHANGED, detail: StateChangedDetail): Promise<void> | void;
}

/** The vantage name of a probe job that stands in for every vantage (local mode). */
export const ALL_VANTAGES = '*';

// ---------------------------------------------------------------------------------------------------------------
// plan

export interface PlanStepInput {
  readonly environment: Environment;
}
export interface PlanStepOutput {
  readonly plan: Plan;
  /** One job per vantage with probed flows, or one job for {@link ALL_VANTAGES} when probing from here. */
  readonly probeJobs: VantageTargets[];
}

/**
 * Plans the environment's flows and its probe jobs.
 * @param from - `vantage`: one job per vantage (each runs in its vantage's subnets); `here`: one job for every
 * target, probed from this process on behalf of all vantages.
 */
export async function planStep(
  input: PlanStepInput,
  catalog: Catalog,
  from: 'vantage' | 'here' = 'vantage',
): Promise<PlanStepOutput> {
  const p = plan(input.environment, catalog);
  const probeJobs =
    from === 'here'
      ? (() => {
          // On-prem vantages' flows are their agents' jobs, never probed from here.
          const targets = probeTargetsFromHere(p, 'cloud');
          return targets.length > 0 ? [{ vantage: ALL_VANTAGES, targets }] : [];
        })()
      : probeTargets(p);
  return { plan: p, probeJobs };
}

// ---------------------------------------------------------------------------------------------------------------
// probe

export {
  POLICY_REFUSED,
  probeStep,
  type ProbeStepDeps,
  type ProbeStepInput,
  type ProbeStepOutput,
} from './probe-step';

// ---------------------------------------------------------------------------------------------------------------
// audit

export interface AuditStepInput {
  readonly plan: Plan;
  readonly environment: Environment;
  /** Not JSON (it holds Maps): the auditor Lambda reads it itself with `ec2-inventory`. */
  readonly inventory?: Inventory;
}
export interface AuditStepOutput extends AuditOutcome {
  readonly audits: FlowAudit[];
}

const lookupAll: Resolve = async (host) =>
  (await dns.promises.lookup(host, { all: true })).map((a) => a.address);

/** Audits the plan against the inventory; without an inventory, the audit is skipped and says so. */
export async function auditStep(
  input: AuditStepInput,
  resolve: Resolve = lookupAll,
): Promise<AuditStepOutput> {
  if (!input.inventory) {
    return {
      audits: [],
      skipped:
        'no AWS inventory for this environment: Security Groups, network ACLs and routes were not audited',
    };
  }
  const audits = await auditPlan(
    input.plan,
    input.environment,
    input.inventory,
    createAuditor(input.inventory),
    resolve,
  );
  return { audits };
}

// ---------------------------------------------------------------------------------------------------------------
// combine

export interface CombineStepInput {
  readonly plan: Plan;
  readonly probes: readonly ProbeStepOutput[];
  /** Vantages whose probe failed, with the reason; their flows are `skipped` (or `blocked-aws`). */
  readonly probeFailures?: ReadonlyArray<{ readonly vantage: string; readonly reason: string }>;
  /**
   * On-prem vantages whose agent delivered nothing in time, with the reason ("no agent for vantage dc1 reported
   * within 120 s"): their flows are `skipped` with it (not verified), and the run is not made partial by it.
   */
  readonly notProbed?: ReadonlyArray<{ readonly vantage: string; readonly reason: string }>;
  readonly audit: AuditOutcome;
}

/** One combined finding per flow of the plan, in plan order. */
export async function combineStep(input: CombineStepInput): Promise<CombinedFinding[]> {
  const byVantage = new Map<string, Map<string, ProbeResult>>();
  for (const p of input.probes) {
    const map = byVantage.get(p.vantage) ?? new Map<string, ProbeResult>();
    for (const r of p.results) map.set(`${r.host}|${r.port}`, r);
    byVantage.set(p.vantage, map);
  }
  const failures = new Map((input.probeFailures ?? []).map((f) => [f.vantage, f.reason]));
  const notProbed = new Map((input.notProbed ?? []).map((f) => [f.vantage, f.reason]));
  const auditsByFlow = new Map<string, FlowAudit[]>();
  for (const a of input.audit.audits) {
    const list = auditsByFlow.get(a.flowId) ?? [];
    list.push(a);
    auditsByFlow.set(a.flowId, list);
  }
  return input.plan.flows.map((flow) => {
    let outcome: ProbeOutcome = { problem: 'no probe job ran for this flow' };
    if (flow.source.kind === 'vantage') {
      const v = flow.source.vantage;
      // An agent's flows are judged on its own results only: the probe from here stands in for cloud vantages.
      const agent = isAgentVantage(flow.source);
      const results = byVantage.get(v) ?? (agent ? undefined : byVantage.get(ALL_VANTAGES));
      const failure = failures.get(v) ?? (agent ? undefined : failures.get(ALL_VANTAGES));
      const missing = notProbed.get(v);
      if (missing !== undefined) outcome = { problem: missing };
      else if (failure !== undefined) outcome = { problem: `the probe of vantage ${v} failed: ${failure}` };
      else if (results) outcome = { results };
      else if (agent) outcome = { problem: `no agent job ran for on-prem vantage ${v}` };
    }
    return combineFlow(flow, outcome, auditsByFlow.get(flow.id) ?? [], input.audit);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// record, compare, emit

/** Stores the findings of a run (tied to the run's id, environment and creation time) and returns them. */
export async function recordStep(
  store: ResultStore,
  run: CheckRun,
  findings: readonly CombinedFinding[],
): Promise<FindingRecord[]> {
  const records: FindingRecord[] = findings.map((f) => ({
    ...f,
    checkId: run.checkId,
    environmentName: run.environmentName,
    createdAt: run.createdAt,
  }));
  await store.putFindings(run.checkId, records);
  return records;
}

async function allFindings(store: ResultStore, checkId: string): Promise<FindingRecord[]> {
  const out: FindingRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.listFindings(checkId, { limit: 100, ...(cursor ? { cursor } : {}) });
    out.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return out;
}

export interface CompareStepOutput {
  /** The run compared with: the newest earlier run of the environment that `succeeded` or is `partial`. */
  readonly previousCheckId?: string;
  readonly changes: VerdictChange[];
  /** This run's cause per changed flow id, for the events. */
  readonly causes: Record<string, string>;
}

/**
 * Compares the run's stored findings with those of the previous run of the same environment (the newest
 * earlier one that succeeded or is partial; failed runs are not a baseline). No previous run: no changes.
 */
export async function compareStep(store: ResultStore, run: CheckRun): Promise<CompareStepOutput> {
  let previous: CheckRun | undefined;
  let cursor: string | undefined;
  do {
    const page = await store.listRuns(run.environmentName, {
      until: run.createdAt,
      limit: 100,
      ...(cursor ? { cursor } : {}),
    });
    previous = page.items.find(
      (r) =>
        r.checkId !== run.checkId &&
        r.checkId < run.checkId &&
        (r.status === 'succeeded' || r.status === 'partial'),
    );
    cursor = previous ? undefined : page.nextCursor;
  } while (cursor);
  const current = await allFindings(store, run.checkId);
  if (!previous) return { changes: [], causes: {} };
  const changes = compareFindings(await allFindings(store, previous.checkId), current);
  const changed = new Set(changes.map((c) => c.flowId));
  const causes: Record<string, string> = {};
  for (const f of current) if (changed.has(f.flowId)) causes[f.flowId] = f.cause;
  return { previousCheckId: previous.checkId, changes, causes };
}

/** Emits one {@link STATE_CHANGED} event per changed flow; nothing when nothing changed. Returns the count. */
export async function emitStep(
  events: EventSink,
  run: CheckRun,
  comparison: CompareStepOutput,
): Promise<number> {
  for (const change of comparison.changes) {
    const cause = comparison.causes[change.flowId];
    await events.emit(STATE_CHANGED, {
      checkId: run.checkId,
      environmentName: run.environmentName,
      ...(comparison.previousCheckId ? { previousCheckId: comparison.previousCheckId } : {}),
      ...change,
      ...(cause !== undefined ? { cause } : {}),
    });
  }
  return comparison.changes.length;
}

// ---------------------------------------------------------------------------------------------------------------
// The life of a run: begin, finish, fail. The local runner and the state machine's Lambdas both go through these.

/** What the lifecycle steps need. */
export interface RunDeps {
  readonly store: ResultStore;
  readonly events: EventSink;
  /** @default - the system clock */
  readonly now?: () => Date;
}

const clock = (deps: { readonly now?: () => Date }) => (deps.now ?? (() => new Date()))();

/**
 * Marks a queued run `running` and plans it.
 * @throws ConflictError when the run is not `queued` (another execution took it).
 */
export async function beginStep(
  deps: Pick<RunDeps, 'store' | 'now'>,
  run: CheckRun,
  environment: Environment,
  catalog: Catalog,
  from: 'vantage' | 'here' = 'vantage',
): Promise<{ run: CheckRun } & PlanStepOutput> {
  const running = await deps.store.updateRun(
    run.checkId,
    { status: 'running', startedAt: clock(deps).toISOString() },
    { expectStatus: 'queued' },
  );
  return { run: running, ...(await planStep({ environment }, catalog, from)) };
}

/** Closes a run unless it is closed already (a shutdown or a retried Lambda may have closed it first). */
export async function closeRun(
  deps: Pick<RunDeps, 'store' | 'now'>,
  checkId: string,
  patch: RunPatch,
): Promise<void> {
  try {
    await deps.store.updateRun(
      checkId,
      { ...patch, finishedAt: clock(deps).toISOString() },
      { expectStatus: [...OPEN_STATUSES] },
    );
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
  }
}

/** What {@link finishStep} takes: everything the earlier steps produced. */
export interface FinishStepInput extends CombineStepInput {
  /** Problems of the earlier steps (an audit that failed, say); any makes the run `partial`. */
  readonly problems?: readonly string[];
}

/** The reason of a run closed because its process was told to stop. */
export const SHUTDOWN_REASON = 'shutdown';

/**
 * Combines, records, counts, compares with the previous run, emits one event per changed flow and closes the run:
 * `succeeded`, or `partial` with the reasons when a probe, the audit, the comparison or the events failed (or when
 * `signal` was aborted). Throws when the findings could not be recorded; {@link failStep} then closes the run.
 */
export async function finishStep(
  deps: RunDeps,
  run: CheckRun,
  input: FinishStepInput,
  signal?: AbortSignal,
): Promise<CheckRun> {
  const problems = [
    ...(input.problems ?? []),
    ...(input.probeFailures ?? []).map((f) => `the probe of vantage ${f.vantage} failed: ${f.reason}`),
    ...input.probes.flatMap((p) =>
      (p.refusals ?? []).map((r) => `vantage ${p.vantage} refused a target under its policy: ${r}`),
    ),
  ];
  const findings = await combineStep(input);
  await recordStep(deps.store, run, findings);
  await deps.store.updateRun(run.checkId, {
    counts: countVerdicts(findings),
    requiredCounts: countVerdicts(findings.filter((f) => !f.optional)),
    flowCount: findings.length,
  });

  let comparePatch: RunPatch = {};
  let step = 'compare';
  try {
    const comparison = await compareStep(deps.store, run);
    comparePatch = {
      changes: comparison.changes,
      ...(comparison.previousCheckId ? { previousCheckId: comparison.previousCheckId } : {}),
    };
    step = 'emit';
    await emitStep(deps.events, run, comparison);
  } catch (err) {
    problems.push(`the ${step} step failed: ${err instanceof Error ? err.message : String(err)}`);
  }

  if (signal?.aborted) {
    await closeRun(deps, run.checkId, { ...comparePatch, status: 'partial', reason: SHUTDOWN_REASON });
  } else if (problems.length > 0) {
    await closeRun(deps, run.checkId, { ...comparePatch, status: 'partial', reason: problems.join('; ') });
  } else {
    await closeRun(deps, run.checkId, { ...comparePatch, status: 'succeeded' });
  }
  return deps.store.getRun(run.checkId);
}

/**
 * Closes a run that could not finish (a failed step, or a process that died halfway through writing its
 * results): `partial` with what it has when some findings were recorded (they stay readable, and the run's
 * counts are those of the stored findings, so they always agree), else `failed`, with the reason. A run already
 * closed is left as it is.
 */
export async function failStep(
  deps: Pick<RunDeps, 'store' | 'now'>,
  checkId: string,
  reason: string,
): Promise<CheckRun> {
  const recorded = await allFindings(deps.store, checkId);
  await closeRun(
    deps,
    checkId,
    recorded.length > 0
      ? { status: 'partial', reason, counts: countVerdicts(recorded) }
      : { status: 'failed', reason },
  );
  return deps.store.getRun(checkId);
}
