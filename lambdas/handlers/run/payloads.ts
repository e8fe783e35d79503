/**
 * The payloads the check-run state machine passes between its Lambdas (lib/orchestration.ts builds the states
 * that carry them). Each handler parses its input with these schemas; the prober, which must not carry zod,
 * checks its own small input by hand.
 */
import { z } from 'zod';
import { scheduleInvocationSchema } from '../../core/run/identity';
import { checkIdSchema, environmentNameSchema, triggerSchema } from '../../core/store';

/** A Step Functions `Catch` result: the error name and its cause (for a Lambda error, JSON with errorMessage). */
export const stepErrorSchema = z.object({ Error: z.string(), Cause: z.string().optional() }).loose();
export type StepError = z.infer<typeof stepErrorSchema>;

/** What a failed state says, in one line: the Lambda's own message when the cause carries one. */
export function errorReason(error: StepError): string {
  if (error.Cause) {
    try {
      const cause = JSON.parse(error.Cause) as { errorMessage?: unknown; errorType?: unknown };
      if (typeof cause.errorMessage === 'string') {
        return typeof cause.errorType === 'string' && cause.errorType !== 'Error'
          ? `${cause.errorType}: ${cause.errorMessage}`
          : cause.errorMessage;
      }
    } catch {
      // not JSON: the cause is the text
    }
    return `${error.Error}: ${error.Cause}`;
  }
  return error.Error;
}

/**
 * The state machine's input: from the API (a queued run) or from a schedule (no run yet; the schedule's
 * invocation, from which the run id is derived, see core/run/identity.ts).
 */
export const startInputSchema = z
  .object({
    checkId: checkIdSchema.optional(),
    environmentName: environmentNameSchema,
    environment: z.unknown().optional(),
    trigger: triggerSchema,
    invocation: scheduleInvocationSchema.optional(),
  })
  .strict();

/** One probe job of the Map: a vantage's targets and the probe settings, with the run's deadline. */
export const probeJobSchema = z.object({
  vantage: z.string(),
  targets: z.array(z.object({ host: z.string(), ports: z.array(z.number().int()) })),
  timeoutMs: z.number().optional(),
  concurrency: z.number().optional(),
  retries: z.number().optional(),
  deadline: z.number().optional(),
});
export type ProbeJob = z.infer<typeof probeJobSchema>;

const probeFailureSchema = z.object({ vantage: z.string(), reason: z.string() });

/** One item of the probe Map's output: the prober's output, or the error its `Catch` caught. */
export const probeItemSchema = z.union([
  z.object({
    vantage: z.string(),
    results: z.array(z.object({ host: z.string(), port: z.number(), state: z.string() }).loose()),
    durationMs: z.number(),
    refusals: z.array(z.string()).optional(),
  }),
  z.object({ vantage: z.string(), error: stepErrorSchema }),
]);

/**
 * The finish step's input: the state as the state machine has it by then — the run, its environment, the start
 * step's `probeFailures`, the probe Map's items, and the audit's output (`audit`) or the error its `Catch` put in
 * `auditError`. Other fields (the jobs) are ignored.
 */
export const finishInputSchema = z
  .object({
    checkId: checkIdSchema,
    environment: z.unknown(),
    probeFailures: z.array(probeFailureSchema).default([]),
    probes: z.array(probeItemSchema).default([]),
    audit: z
      .object({ audits: z.array(z.unknown()), skipped: z.string().optional() })
      .loose()
      .optional(),
    auditError: stepErrorSchema.optional(),
  })
  .loose()
  .refine((input) => input.audit !== undefined || input.auditError !== undefined, {
    error: 'give the audit output ("audit") or the error the audit failed with ("auditError")',
  });

/** The failure handler's input: the run (when one was created) and the error the state machine caught. */
export const failInputSchema = z
  .object({ checkId: checkIdSchema.optional(), error: stepErrorSchema })
  .loose();

/** The execution statuses the status rule sends to the failure handler: the run must be closed. */
export const ENDED_BADLY = ['FAILED', 'TIMED_OUT', 'ABORTED'] as const;

/** The EventBridge source and detail-type of Step Functions' execution status events. */
export const EXECUTION_STATUS_EVENT = {
  source: 'aws.states',
  detailType: 'Step Functions Execution Status Change',
} as const;

/**
 * An execution status event as EventBridge delivers it to the failure handler (the status rule's target): the
 * execution's name, status, input (a JSON string, absent when it was too large to include) and error and cause.
 */
export const executionStatusEventSchema = z
  .object({
    source: z.literal(EXECUTION_STATUS_EVENT.source),
    'detail-type': z.literal(EXECUTION_STATUS_EVENT.detailType),
    detail: z
      .object({
        executionArn: z.string(),
        name: z.string(),
        status: z.enum(ENDED_BADLY),
        startDate: z.number().nullish(),
        stopDate: z.number().nullish(),
        input: z.string().nullish(),
        error: z.string().nullish(),
        cause: z.string().nullish(),
      })
      .loose(),
  })
  .loose();
export type ExecutionStatusEvent = z.infer<typeof executionStatusEventSchema>;

/** The auditor's input. */
export const auditInputSchema = z.object({ environment: z.unknown() }).loose();
