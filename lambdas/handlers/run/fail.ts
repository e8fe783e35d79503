/**
 * The state machine's `Catch`: closes the run with the reason the failing state gave — `partial` when findings
 * were recorded before the failure (they stay readable), else `failed` — and counts a failed run (the alarm on
 * failed runs reads that metric).
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { failStep } from '../../core/run/steps';
import { NotFoundError, type ResultStore } from '../../core/store';
import { resultStore } from '../clients';
import { instrument } from '../instrument';
import { instruments, logger, metrics } from '../observability';
import { readSettings } from '../settings';
import { errorReason, failInputSchema } from './payloads';
import { parseWith } from './parse';

/** The failure step with its store; the handler binds it. */
export async function fail(
  raw: unknown,
  deps: { store: ResultStore; now?: () => Date },
): Promise<{ checkId?: string; status?: string; reason: string }> {
  const input = parseWith(failInputSchema, raw, 'the failure input');
  const reason = errorReason(input.error);
  if (!input.checkId) return { reason };
  try {
    const run = await failStep(deps, input.checkId, reason);
    return { checkId: run.checkId, status: run.status, reason: run.reason ?? reason };
  } catch (err) {
    // An execution started with the id of a run that is not in the table (started by hand, or expired): there is
    // nothing to close, and failing here would hide the reason the state machine caught.
    if (!(err instanceof NotFoundError)) throw err;
    return { checkId: input.checkId, reason: `${reason} (no run ${input.checkId} to close: ${err.message})` };
  }
}

const settings = readSettings(['TABLE_NAME', 'RETENTION_DAYS']);
const { store } = resultStore(settings);

export const handler = instrument('fail', instruments, async (event: unknown) => {
  const out = await fail(event, { store });
  // No run yet (the start step failed before creating one) counts as a failed run too.
  metrics.addMetric(out.status === 'partial' ? 'RunsPartial' : 'RunsFailed', MetricUnit.Count, 1);
  logger.warn('run closed after a failure', out);
  return out;
});
