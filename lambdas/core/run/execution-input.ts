/**
 * The input of an execution of the check-run state machine, as one schema: the Step Functions starter and the
 * Scheduler adapter (lambdas/aws) write it, the start step (lambdas/handlers/run/start.ts) parses it, and the type
 * both sides use is derived from it.
 */
import { z } from 'zod';
import { checkIdSchema, environmentNameSchema, triggerSchema } from '../store';
import { scheduleInvocationSchema } from './identity';

/**
 * From the API (a queued run, `checkId`, with the environment inline or by name) or from a schedule (no run yet;
 * the schedule's invocation, from which the run id is derived, see ./identity.ts).
 */
export const executionInputSchema = z
  .object({
    /** The queued run to execute; absent when a schedule starts the machine (the first step creates the run). */
    checkId: checkIdSchema.optional(),
    /** The environment by name (stored through the API), when `environment` is absent. */
    environmentName: environmentNameSchema,
    /** The environment itself, for an inline check (`POST /checks` with `environment`); parsed by the start step. */
    environment: z.unknown().optional(),
    trigger: triggerSchema,
    /** The schedule's invocation (EventBridge Scheduler fills it in): the run id derives from it. */
    invocation: scheduleInvocationSchema.optional(),
  })
  .strict();

/** The input of an execution of the check-run state machine. */
export type ExecutionInput = z.infer<typeof executionInputSchema>;
