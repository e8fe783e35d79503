/**
 * The state machine's last step: reads the plan, the shards' outcomes and the audit from the store (none of them
 * travels in the state), combines them into findings, records them, compares with
 * the previous run, emits one "Preflight Check State Changed" event per changed flow and closes the run
 * (`succeeded`, or `partial` naming what failed: a vantage's probe, the audit, the comparison or the events).
 */
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { EventBridgeSink } from '../../aws/event-bus';
import { defaultCatalog } from '../../core/catalog';
import { isOnPrem, parseEnvironment } from '../../core/environment';
import { plan } from '../../core/plan';
import type { AuditOutcome } from '../../core/run/combine';
import type { RunData } from '../../core/run/run-data';
import { finishFromStore } from '../../core/run/sharded';
import type { EventSink } from '../../core/run/steps';
import { type CheckRun, isClosed, type ResultStore } from '../../core/store';
import { resultStore, runData } from '../clients';
import { instrument } from '../instrument';
import { instruments, metrics, tracer } from '../observability';
import { readSettings } from '../settings';
import { errorReason, finishInputSchema } from './payloads';
import { parseWith } from './parse';

/** The finish step with its dependencies; the handler binds them. */
export async function finish(
  raw: unknown,
  deps: { store: ResultStore; data: RunData; events: EventSink; now?: () => Date },
): Promise<CheckRun> {
  const input = parseWith(finishInputSchema, raw, 'the finish input');
  const run = await deps.store.getRun(input.checkId);
  // A retried finish (its first answer lost) finds the run closed: recording and emitting again would send every
  // "state changed" event twice.
  if (isClosed(run.status)) return run;
  const catalog = defaultCatalog();
  const stored = await deps.data.getPlan(input.checkId);
  const environment = parseEnvironment(stored.environment, catalog, 'environment');
  const problems: string[] = [];
  let audit: AuditOutcome;
  const storedAudit = input.auditError ? undefined : await deps.data.getAudit(input.checkId);
  if (!storedAudit) {
    const reason = `the audit failed: ${input.auditError ? errorReason(input.auditError) : 'it stored no output'}`;
    problems.push(reason);
    audit = { audits: [], skipped: reason };
  } else {
    audit = storedAudit;
  }
  // An on-prem vantage whose agent never reported: its flows are `skipped` with that reason, as locally.
  const agentVantages = new Set(environment.vantages.filter(isOnPrem).map((v) => v.name));
  return finishFromStore(deps, run, { plan: plan(environment, catalog), audit, problems, agentVantages });
}

const settings = readSettings(['TABLE_NAME', 'RETENTION_DAYS', 'EVENT_BUS_NAME']);
const { store, client } = resultStore(settings);
const data = runData(settings, client);
const events = new EventBridgeSink(
  tracer.captureAWSv3Client(new EventBridgeClient({})),
  settings.EVENT_BUS_NAME,
);

export const handler = instrument('finish', instruments, async (event: unknown) => {
  const run = await finish(event, { store, data, events });
  metrics.addMetric(run.status === 'succeeded' ? 'RunsSucceeded' : 'RunsPartial', MetricUnit.Count, 1);
  metrics.addMetric('VerdictChanges', MetricUnit.Count, run.changes?.length ?? 0);
  return { checkId: run.checkId, status: run.status, ...(run.reason ? { reason: run.reason } : {}) };
});
