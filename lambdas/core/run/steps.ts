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
import { type Plan, plan, probeTargets, probeTargetsFromHere, type VantageTargets } from '../plan';
import { probe, type ProbeResult, type ProbeTarget } from '../probe';
import type { CheckRun, FindingRecord, ResultStore, VerdictChange } from '../store';
import {
  type AuditOutcome,
  type CombinedFinding,
  combineFlow,
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
          const targets = probeTargetsFromHere(p);
          return targets.length > 0 ? [{ vantage: ALL_VANTAGES, targets }] : [];
        })()
      : probeTargets(p);
  return { plan: p, probeJobs };
}

// ---------------------------------------------------------------------------------------------------------------
// probe

export interface ProbeStepInput {
  readonly vantage: string;
  readonly targets: readonly ProbeTarget[];
  readonly timeoutMs?: number;
  readonly concurrency?: number;
  readonly retries?: number;
  /** Epoch ms; the step returns before it with what it has (the rest `skipped`). */
  readonly deadline?: number;
}
export interface ProbeStepOutput {
  readonly vantage: string;
  readonly results: ProbeResult[];
  readonly durationMs: number;
}

/** Dependencies of {@link probeStep}; tests and local shutdown inject them. */
export interface ProbeStepDeps {
  /** @default - the probe engine */
  readonly engine?: typeof probe;
  /** Aborting returns what was concluded, the rest `skipped`. */
  readonly signal?: AbortSignal;
}

/** Probes one vantage's targets with the engine, never past `deadline`. */
export async function probeStep(input: ProbeStepInput, deps: ProbeStepDeps = {}): Promise<ProbeStepOutput> {
  const engine = deps.engine ?? probe;
  const run = await engine(input.targets, {
    ...(input.timeoutMs !== undefined ? { timeoutMs: input.timeoutMs } : {}),
    ...(input.concurrency !== undefined ? { concurrency: input.concurrency } : {}),
    ...(input.retries !== undefined ? { retries: input.retries } : {}),
    ...(input.deadline !== undefined ? { deadline: input.deadline } : {}),
    ...(deps.signal ? { signal: deps.signal } : {}),
  });
  return { vantage: input.vantage, results: run.results, durationMs: run.durationMs };
}

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
      const results = byVantage.get(v) ?? byVantage.get(ALL_VANTAGES);
      const failure = failures.get(v) ?? failures.get(ALL_VANTAGES);
      if (failure !== undefined) outcome = { problem: `the probe of vantage ${v} failed: ${failure}` };
      else if (results) outcome = { results };
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
