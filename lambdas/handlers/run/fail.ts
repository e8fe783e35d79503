/**
 * Closes a run that could not finish, with the reason — `partial` when findings were recorded before the failure
 * (they stay readable), else `failed` — and counts a failed run (the alarm on failed runs reads that metric).
 * Two callers: the state machine's `Catch` ("Record failure", with the error the failing state gave), and the
 * execution status rule (lib/run-closer.ts), with the "Step Functions Execution Status Change" event of an
 * execution that ended FAILED, TIMED_OUT or ABORTED where no `Catch` saw it (`States.DataLimitExceeded`, an
 * execution timeout, a stop by hand). Both may come for one run: the first closes it, the second leaves it.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { failStep } from '../../core/run/steps';
import { executionInputSchema } from '../../core/run/execution-input';
import { runIdOfExecution } from '../../core/run/identity';
import { isClosed, NotFoundError, type ResultStore } from '../../core/store';
import { resultStore } from '../clients';
import { instrument } from '../instrument';
import { instruments, logger, metrics } from '../observability';
import { readSettings } from '../settings';
import {
  errorReason,
  EXECUTION_STATUS_EVENT,
  type ExecutionStatusEvent,
  executionStatusEventSchema,
  failInputSchema,
} from './payloads';
import { parseWith } from './parse';

/** What the failure step did: the run it closed (or found closed) and the reason. */
export interface FailOutput {
  readonly checkId?: string;
  readonly status?: string;
  readonly reason: string;
  /** Set when the run was closed before this call (by the other caller, or by its own steps): nothing changed. */
  readonly alreadyClosed?: true;
}

const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;

/** The run and the reason an execution status event gives: the execution's error and cause, or its status. */
export function fromStatusEvent(event: ExecutionStatusEvent): { checkId?: string; reason: string } {
  const { name, status, error, cause, startDate, stopDate } = event.detail;
  let input: unknown;
  try {
    input = event.detail.input ? JSON.parse(event.detail.input) : {};
  } catch {
    input = {};
  }
  // Only what names the run is read: an input with fields of a newer state machine still names its run.
  const parsed = executionInputSchema.pick({ checkId: true, invocation: true }).loose().safeParse(input);
  const checkId = runIdOfExecution(parsed.success ? parsed.data : {}, name);
  const took =
    typeof startDate === 'number' && typeof stopDate === 'number'
      ? ` after ${seconds(stopDate - startDate)}`
      : '';
  const what = error ? errorReason({ Error: error, ...(cause ? { Cause: cause } : {}) }) : cause;
  const reason =
    status === 'TIMED_OUT'
      ? `the execution ${name} timed out${took}${what ? ` (${what})` : ''}`
      : status === 'ABORTED'
        ? `the execution ${name} was stopped${took}${what ? ` (${what})` : ''}`
        : `the execution ${name} failed${took}: ${what ?? 'no error was given'}`;
  return { ...(checkId !== undefined ? { checkId } : {}), reason };
}

/** The failure step with its store; the handler binds it. */
export async function fail(
  raw: unknown,
  deps: { store: ResultStore; now?: () => Date },
): Promise<FailOutput> {
  const fromRule =
    raw !== null &&
    typeof raw === 'object' &&
    (raw as { source?: unknown }).source === EXECUTION_STATUS_EVENT.source;
  const { checkId, reason } = fromRule
    ? fromStatusEvent(parseWith(executionStatusEventSchema, raw, 'the execution status event'))
    : (() => {
        const input = parseWith(failInputSchema, raw, 'the failure input');
        return { checkId: input.checkId, reason: errorReason(input.error) };
      })();
  if (!checkId) return { reason };
  try {
    const before = await deps.store.getRun(checkId);
    if (isClosed(before.status)) {
      return { checkId, status: before.status, reason: before.reason ?? reason, alreadyClosed: true };
    }
    const run = await failStep(deps, checkId, reason);
    return { checkId: run.checkId, status: run.status, reason: run.reason ?? reason };
  } catch (err) {
    // An execution started with the id of a run that is not in the table (started by hand, or expired): there is
    // nothing to close, and failing here would hide the reason the state machine caught.
    if (!(err instanceof NotFoundError)) throw err;
    return { checkId, reason: `${reason} (no run ${checkId} to close: ${err.message})` };
  }
}

const settings = readSettings(['TABLE_NAME', 'RETENTION_DAYS']);
const { store } = resultStore(settings);

export const handler = instrument('fail', instruments, async (event: unknown) => {
  const out = await fail(event, { store });
  if (out.alreadyClosed) {
    logger.info('run closed already', { ...out });
    return out;
  }
  // No run yet (the start step failed before creating one) counts as a failed run too.
  metrics.addMetric(out.status === 'partial' ? 'RunsPartial' : 'RunsFailed', MetricUnit.Count, 1);
  logger.warn('run closed after a failure', { ...out });
  return out;
});
