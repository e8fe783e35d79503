import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { TimeZone } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import type { ExecutionInput } from '../lambdas/aws/step-functions';

/** One scheduled environment. */
export interface CheckSchedule {
  /** An environment stored through the API (`PUT /environments/{name}`). */
  readonly environment: string;
  /** An EventBridge Scheduler expression: `rate(1 hour)`, `cron(0 6 ? * MON-FRI *)`, `at(2026-12-01T06:00:00)`. */
  readonly expression: string;
  /** @default - UTC */
  readonly timeZone?: string;
}

/** Props of {@link CheckSchedules}. */
export interface CheckSchedulesProps {
  readonly stateMachine: sfn.IStateMachine;
  readonly schedules: readonly CheckSchedule[];
}

/**
 * One EventBridge Scheduler schedule per scheduled environment, in a group of the service's own, each starting the
 * check-run state machine with `{ environmentName, trigger: "schedule" }` (the first step creates the run).
 */
export class CheckSchedules extends Construct {
  readonly group: scheduler.ScheduleGroup;
  readonly schedules: scheduler.Schedule[] = [];

  constructor(scope: Construct, id: string, props: CheckSchedulesProps) {
    super(scope, id);
    this.group = new scheduler.ScheduleGroup(this, 'Group', {});
    for (const s of props.schedules) {
      const input: ExecutionInput = { environmentName: s.environment, trigger: 'schedule' };
      this.schedules.push(
        new scheduler.Schedule(this, `Check-${s.environment}`, {
          description: `preflight: check environment ${s.environment} on ${s.expression}`,
          scheduleGroup: this.group,
          schedule: scheduler.ScheduleExpression.expression(
            s.expression,
            s.timeZone ? TimeZone.of(s.timeZone) : undefined,
          ),
          target: new targets.StepFunctionsStartExecution(props.stateMachine, {
            input: scheduler.ScheduleTargetInput.fromObject(input),
            retryAttempts: 2,
          }),
        }),
      );
    }
  }
}
