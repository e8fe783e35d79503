/**
 * Environment schedules in AWS: one EventBridge Scheduler schedule per stored environment with a `schedule`, in
 * the stack's own schedule group, named after the environment, starting the check-run state machine with the
 * scheduler role (which may start only that machine). The schedule's input carries the schedule's invocation
 * (Scheduler fills in its ARN and the time it was due), from which the start step derives the run's id, so a
 * retried start finds its run (core/run/identity.ts).
 */
import {
  ConflictException,
  CreateScheduleCommand,
  type CreateScheduleCommandInput,
  DeleteScheduleCommand,
  ResourceNotFoundException,
  type SchedulerClient,
  UpdateScheduleCommand,
  ValidationException,
} from '@aws-sdk/client-scheduler';
import type { Environment } from '../core/environment';
import { scheduleInput } from '../core/run/identity';
import { EnvironmentScheduleError, type EnvironmentSchedules } from '../handlers/api/router';
import type { ExecutionInput } from './step-functions';

/** Where the schedules go and what they start. */
export interface SchedulerTarget {
  /** The stack's own schedule group; the API may touch schedules in this group only. */
  readonly groupName: string;
  readonly stateMachineArn: string;
  /** The scheduler role: may only start the state machine. */
  readonly roleArn: string;
}

/** Attempts of Scheduler when the state machine refuses to start (throttling); the start step finds its run. */
export const SCHEDULE_RETRY_ATTEMPTS = 2;

/** The {@link EnvironmentSchedules} of the deployed API: EventBridge Scheduler. */
export class SchedulerEnvironmentSchedules implements EnvironmentSchedules {
  constructor(
    private readonly scheduler: SchedulerClient,
    private readonly target: SchedulerTarget,
  ) {}

  /** The schedule of `environment` as CreateSchedule/UpdateSchedule take it (both replace every field). */
  scheduleOf(environment: Environment & { schedule: string }): CreateScheduleCommandInput {
    return {
      Name: environment.name,
      GroupName: this.target.groupName,
      Description: `preflight: check environment ${environment.name} on ${environment.schedule}`,
      ScheduleExpression: environment.schedule,
      FlexibleTimeWindow: { Mode: 'OFF' },
      State: 'ENABLED',
      Target: {
        Arn: this.target.stateMachineArn,
        RoleArn: this.target.roleArn,
        Input: JSON.stringify(scheduleInput(environment.name) satisfies ExecutionInput),
        RetryPolicy: { MaximumRetryAttempts: SCHEDULE_RETRY_ATTEMPTS },
      },
    };
  }

  async put(environment: Environment): Promise<void> {
    const { schedule } = environment;
    if (schedule === undefined) {
      await this.remove(environment.name);
      return;
    }
    const input = this.scheduleOf({ ...environment, schedule });
    await this.call('save', environment.name, async () => {
      try {
        await this.scheduler.send(new UpdateScheduleCommand(input));
      } catch (err) {
        if (!(err instanceof ResourceNotFoundException)) throw err;
        try {
          await this.scheduler.send(new CreateScheduleCommand(input));
        } catch (createErr) {
          // Created meanwhile by a concurrent PUT of the same environment: this PUT's definition wins.
          if (!(createErr instanceof ConflictException)) throw createErr;
          await this.scheduler.send(new UpdateScheduleCommand(input));
        }
      }
    });
  }

  async remove(name: string): Promise<void> {
    await this.call('delete', name, async () => {
      try {
        await this.scheduler.send(
          new DeleteScheduleCommand({ Name: name, GroupName: this.target.groupName }),
        );
      } catch (err) {
        if (!(err instanceof ResourceNotFoundException)) throw err; // no schedule: nothing to delete
      }
    });
  }

  /** Runs a Scheduler call, turning its failure into an {@link EnvironmentScheduleError} that says which. */
  private async call(verb: 'save' | 'delete', name: string, action: () => Promise<void>): Promise<void> {
    try {
      await action();
    } catch (err) {
      const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      throw new EnvironmentScheduleError(
        `EventBridge Scheduler could not ${verb} the schedule of environment ${JSON.stringify(name)} (group ${this.target.groupName}): ${message}`,
        err instanceof ValidationException,
      );
    }
  }
}
