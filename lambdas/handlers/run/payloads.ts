/**
 * The payloads the check-run state machine passes between its Lambdas (lib/orchestration.ts builds the states
 * that carry them). Each handler parses its input with these schemas; the prober, which must not carry zod,
 * checks its own small input by hand.
 */
import { z } from 'zod';
import { checkIdSchema } from '../../core/store';

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

const shardNumberSchema = z
  .number()
  .int()
  .min(1, { error: (iss) => `${JSON.stringify(iss.input)} is not a shard number (1 or more)` });

/** One shard of the Map, as the state machine names it: the run and the shard's number. */
export const shardRefSchema = z.object({ checkId: checkIdSchema, shard: shardNumberSchema }).loose();

/** The job the load step hands the prober: the shard's vantage, targets, probe settings and its own deadline. */
export interface ProbeJob {
  readonly checkId: string;
  readonly shard: number;
  readonly vantage: string;
  readonly targets: Array<{ host: string; ports: number[] }>;
  readonly timeoutMs: number;
  readonly concurrency: number;
  readonly retries: number;
  /** Epoch ms: the shard's start plus its budget. */
  readonly deadline: number;
  /** Set (true) for an on-prem vantage's shard only: the state machine's Choice sends it to its callback task. */
  readonly agent?: true;
  /**
   * An on-prem vantage's shard only: how long its callback task waits for the agent's heartbeat (the shard's budget,
   * the environment's `probe.budgetSeconds`), its `HeartbeatSecondsPath`.
   */
  readonly agentWaitSeconds?: number;
  /** An on-prem vantage's shard only: the callback task's whole wait (its `TimeoutSecondsPath`), the grace included. */
  readonly agentTimeoutSeconds?: number;
}

/** What the callback task of an on-prem vantage's shard outputs (its `SendTaskSuccess`): where the results are. */
export const agentTaskOutputSchema = z
  .object({ vantage: z.string().min(1), jobId: z.string().min(1), pages: z.number().int().min(0) })
  .loose();

/**
 * The store step's input: the shard's state after its prober — the job with the prober's output in `probe`, or
 * the error its `Catch` put in `error` (a prober that died, or no prober for the vantage).
 */
export const storeShardInputSchema = z
  .object({
    checkId: checkIdSchema,
    shard: shardNumberSchema,
    vantage: z.string().min(1),
    probe: z
      .object({
        vantage: z.string(),
        results: z.array(z.object({ host: z.string(), port: z.number(), state: z.string() }).loose()),
        durationMs: z.number(),
        refusals: z.array(z.string()).optional(),
      })
      .optional(),
    error: stepErrorSchema.optional(),
    /** An on-prem vantage's shard: its agent's job as the callback task's output names it. */
    agentJob: agentTaskOutputSchema.optional(),
  })
  .loose()
  .refine((input) => input.probe !== undefined || input.error !== undefined || input.agentJob !== undefined, {
    error:
      'give the prober\'s output ("probe"), the agent\'s job ("agentJob") or the error it failed with ("error")',
  });

/** The shard Lambda's input: `load` a shard's job, or `store` its outcome. */
export const shardInputSchema = z.discriminatedUnion('step', [
  z.object({ step: z.literal('load'), item: shardRefSchema }).strict(),
  z.object({ step: z.literal('store'), item: z.unknown() }).strict(),
  // The callback task of an on-prem vantage's shard: creates its agent's job with the task's token.
  z.object({ step: z.literal('agent'), item: z.unknown(), taskToken: z.string().min(1) }).strict(),
]);

/**
 * The finish step's input: the run, and the error the audit's `Catch` put in `auditError` when the audit failed.
 * The plan, the shards' outcomes and the audit are read from the store; other fields are ignored.
 */
export const finishInputSchema = z
  .object({ checkId: checkIdSchema, auditError: stepErrorSchema.optional() })
  .loose();

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

/** The auditor's input: the run whose stored plan it audits. */
export const auditInputSchema = z.object({ checkId: checkIdSchema }).loose();
