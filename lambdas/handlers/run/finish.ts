/**
 * The state machine's last step: combines the probes and the audit into findings, records them, compares with
 * the previous run, emits one "Preflight Check State Changed" event per changed flow and closes the run
 * (`succeeded`, or `partial` naming what failed: a vantage's probe, the audit, the comparison or the events).
 */
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { EventBridgeSink } from '../../aws/event-bus';
import { defaultCatalog } from '../../core/catalog';
import { parseEnvironment } from '../../core/environment';
import { plan } from '../../core/plan';
import type { ProbeResult } from '../../core/probe';
import type { AuditOutcome } from '../../core/run/combine';
import { type EventSink, finishStep, type ProbeStepOutput } from '../../core/run/steps';
import { type CheckRun, isClosed, type ResultStore } from '../../core/store';
import type { FlowAudit } from '../../core/audit/plan-audit';
import { resultStore } from '../clients';
import { instrument } from '../instrument';
import { instruments, metrics, tracer } from '../observability';
import { readSettings } from '../settings';
import { errorReason, finishInputSchema } from './payloads';
import { parseWith } from './parse';

/** The finish step with its dependencies; the handler binds them. */
export async function finish(
  raw: unknown,
  deps: { store: ResultStore; events: EventSink; now?: () => Date },
): Promise<CheckRun> {
  const input = parseWith(finishInputSchema, raw, 'the finish input');
  const catalog = defaultCatalog();
  const environment = parseEnvironment(input.environment, catalog, 'environment');
  const probes: ProbeStepOutput[] = [];
  const probeFailures = [...input.probeFailures];
  for (const item of input.probes) {
    if ('error' in item) probeFailures.push({ vantage: item.vantage, reason: errorReason(item.error) });
    else probes.push({ ...item, results: item.results as unknown as ProbeResult[] });
  }
  const problems: string[] = [];
  let audit: AuditOutcome;
  if (input.auditError || !input.audit) {
    const reason = `the audit failed: ${input.auditError ? errorReason(input.auditError) : 'no output'}`;
    problems.push(reason);
    audit = { audits: [], skipped: reason };
  } else {
    audit = {
      audits: input.audit.audits as FlowAudit[],
      ...(input.audit.skipped !== undefined ? { skipped: input.audit.skipped } : {}),
    };
  }
  const run = await deps.store.getRun(input.checkId);
  // A retried finish (its first answer lost) finds the run closed: recording and emitting again would send every
  // "state changed" event twice.
  if (isClosed(run.status)) return run;
  return finishStep(deps, run, { plan: plan(environment, catalog), probes, probeFailures, audit, problems });
}

const settings = readSettings(['TABLE_NAME', 'RETENTION_DAYS', 'EVENT_BUS_NAME']);
const { store } = resultStore(settings);
const events = new EventBridgeSink(
  tracer.captureAWSv3Client(new EventBridgeClient({})),
  settings.EVENT_BUS_NAME,
);

export const handler = instrument('finish', instruments, async (event: unknown) => {
  const run = await finish(event, { store, events });
  metrics.addMetric(run.status === 'succeeded' ? 'RunsSucceeded' : 'RunsPartial', MetricUnit.Count, 1);
  metrics.addMetric('VerdictChanges', MetricUnit.Count, run.changes?.length ?? 0);
  return { checkId: run.checkId, status: run.status, ...(run.reason ? { reason: run.reason } : {}) };
});
