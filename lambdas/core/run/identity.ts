/**
 * Which run an execution of the check-run state machine works on. The API creates its run first and names the
 * execution after it (`checkId` in the input); a schedule has no run yet, so its run id is derived from the
 * schedule's invocation (the schedule and the time it was due, which EventBridge Scheduler puts in the input):
 * a retried start step, or a second execution of the same invocation, finds the same run instead of creating
 * another, and the execution-status rule's handler can name the run of an execution that ended badly.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { formatIssues } from '../errors';
import { type CheckId, checkIdSchema, isoTimeSchema, newCheckId } from '../store';

/**
 * The invocation of a schedule that started an execution: EventBridge Scheduler replaces
 * {@link SCHEDULER_CONTEXT} in the schedule's input with these values when it starts the state machine.
 */
export const scheduleInvocationSchema = z
  .object({ scheduleArn: z.string().min(1), scheduledTime: isoTimeSchema })
  .strict();
export type ScheduleInvocation = z.infer<typeof scheduleInvocationSchema>;

/** The schedule's input fields EventBridge Scheduler fills in (its context attributes). */
export const SCHEDULER_CONTEXT = {
  scheduleArn: '<aws.scheduler.schedule-arn>',
  scheduledTime: '<aws.scheduler.scheduled-time>',
} as const;

/**
 * The state machine's input of a schedule (an environment's own, or one of the deployment config): the
 * environment by name, and the invocation EventBridge Scheduler fills in when it starts the machine.
 */
export function scheduleInput(environmentName: string): {
  environmentName: string;
  trigger: 'schedule';
  invocation: { scheduleArn: string; scheduledTime: string };
} {
  return { environmentName, trigger: 'schedule', invocation: { ...SCHEDULER_CONTEXT } };
}

/**
 * The run id of a schedule's invocation: a check id whose time is the time the schedule was due and whose other
 * 80 bits come from a hash of the schedule and that time, so the same invocation always gives the same id.
 */
export function scheduledRunId(invocation: ScheduleInvocation): CheckId {
  const parsed = scheduleInvocationSchema.safeParse(invocation);
  if (!parsed.success) {
    throw new RangeError(
      `not a schedule invocation: ${formatIssues(parsed.error.issues as z.core.$ZodIssue[], invocation).join('; ')}`,
    );
  }
  const at = parsed.data.scheduledTime;
  const digest = createHash('sha256').update(`${invocation.scheduleArn}\n${at}`).digest();
  return newCheckId(new Date(at), (bytes) => digest.subarray(0, bytes));
}

/**
 * The run of an execution: the `checkId` of its input (the API path), the id derived from its schedule
 * invocation (the schedule path), else its name when that is a check id (the API names executions after their
 * run); undefined when none says (an execution started by hand with no run yet).
 */
export function runIdOfExecution(
  input: { readonly checkId?: string | undefined; readonly invocation?: ScheduleInvocation | undefined },
  executionName?: string,
): CheckId | undefined {
  if (input.checkId !== undefined) return input.checkId;
  if (input.invocation !== undefined) return scheduledRunId(input.invocation);
  if (executionName !== undefined && checkIdSchema.safeParse(executionName).success) return executionName;
  return undefined;
}
