import { ArnFormat, Stack, TimeZone, Token, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { scheduleInput } from '../lambdas/core/run/identity';
import type { PreflightFunction } from './function';

/** One scheduled environment of the deployment config. */
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
  /** The deployment config's schedules (deployed with the stack, beside the environments' own). */
  readonly schedules: readonly CheckSchedule[];
}

/** The Scheduler actions the API needs on the environments' schedules (create, update, delete: nothing else). */
export const SCHEDULE_ACTIONS = [
  'scheduler:CreateSchedule',
  'scheduler:UpdateSchedule',
  'scheduler:DeleteSchedule',
] as const;

/**
 * The check schedules. Two schedule groups of the service's own: `EnvironmentGroup` holds one schedule per stored
 * environment with a `schedule`, which the API creates, updates and deletes (PUT and DELETE
 * /environments/{name}); `Group` holds the deployment config's `schedules`, deployed with the stack, which the API
 * cannot touch. Both start the check-run state machine through one scheduler role that may do nothing else, with
 * `{ environmentName, trigger: "schedule", invocation }`: Scheduler fills in the invocation (the schedule's ARN and
 * the time it was due), from which the start step derives the run's id, so a retried start finds its run.
 */
export class CheckSchedules extends Construct {
  /** The deployment config's schedules. */
  readonly group: scheduler.ScheduleGroup;
  /** The environments' own schedules, managed by the API. */
  readonly environmentGroup: scheduler.ScheduleGroup;
  /** The role Scheduler assumes: it may only start the state machine. */
  readonly role: iam.Role;
  readonly schedules: scheduler.Schedule[] = [];

  constructor(scope: Construct, id: string, props: CheckSchedulesProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.group = new scheduler.ScheduleGroup(this, 'Group', {});
    this.environmentGroup = new scheduler.ScheduleGroup(this, 'EnvironmentGroup', {});
    this.role = new iam.Role(this, 'SchedulerRole', {
      description: 'preflight: EventBridge Scheduler starts the check-run state machine (nothing else)',
      // Only schedules of the stack's own groups may assume it (confused-deputy guard).
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: {
          StringEquals: {
            'aws:SourceAccount': stack.account,
            'aws:SourceArn': [this.group.scheduleGroupArn, this.environmentGroup.scheduleGroupArn],
          },
        },
      }),
    });
    props.stateMachine.grantStartExecution(this.role);

    for (const s of props.schedules) {
      this.schedules.push(
        new scheduler.Schedule(this, `Check-${s.environment}`, {
          description: `preflight: check environment ${s.environment} on ${s.expression}`,
          scheduleGroup: this.group,
          schedule: scheduler.ScheduleExpression.expression(
            s.expression,
            s.timeZone ? TimeZone.of(s.timeZone) : undefined,
          ),
          target: new targets.StepFunctionsStartExecution(props.stateMachine, {
            input: scheduler.ScheduleTargetInput.fromObject(scheduleInput(s.environment)),
            role: this.role,
            retryAttempts: 2,
          }),
        }),
      );
    }
  }

  /** The ARN pattern of every schedule in `group`. */
  private schedulesIn(group: scheduler.ScheduleGroup): string {
    return Stack.of(this).formatArn({
      service: 'scheduler',
      resource: 'schedule',
      resourceName: `${group.scheduleGroupName}/*`,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });
  }

  /**
   * Lets `api` manage the environments' schedules: the Scheduler actions it needs on the schedules of
   * `EnvironmentGroup` only, `iam:PassRole` on the scheduler role only (and only to Scheduler), and the two
   * variables that name them.
   */
  bindApi(api: PreflightFunction): void {
    const resource = this.schedulesIn(this.environmentGroup);
    api.fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: [...SCHEDULE_ACTIONS], resources: [resource] }),
    );
    api.fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [this.role.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
      }),
    );
    api.fn.addEnvironment('SCHEDULE_GROUP', this.environmentGroup.scheduleGroupName);
    api.fn.addEnvironment('SCHEDULER_ROLE_ARN', this.role.roleArn);
    Validations.of(api.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagArn(Stack.of(this), `schedule/${this.environmentGroup.scheduleGroupName}/*`)}]`,
      reason:
        "the API creates one schedule per stored environment, named after it, so it needs the schedules of the service's own environment group (and no other group)",
    });
  }
}

/** A scheduler ARN as cdk-nag names it in a finding (unresolved partition, region and account as `<AWS::…>`). */
function nagArn(stack: Stack, resource: string): string {
  const part = (value: string, pseudo: string) => (Token.isUnresolved(value) ? `<AWS::${pseudo}>` : value);
  return `arn:<AWS::Partition>:scheduler:${part(stack.region, 'Region')}:${part(stack.account, 'AccountId')}:${resource}`;
}
