import { Duration, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { ENDED_BADLY, EXECUTION_STATUS_EVENT } from '../lambdas/handlers/run/payloads';
import type { PreflightFunction } from './function';

/** Props of {@link RunCloser}. */
export interface RunCloserProps {
  readonly stateMachine: sfn.IStateMachine;
  /** The failure step (lambdas/handlers/run/fail.ts): closes the run with the reason. */
  readonly fail: PreflightFunction;
  /** Where the alarm on undelivered status events goes. */
  readonly topic: sns.ITopic;
}

/**
 * Every run is closed, whatever happens: an EventBridge rule on the state machine's executions that end FAILED,
 * TIMED_OUT or ABORTED ("Step Functions Execution Status Change" events, on the default bus) invokes the failure
 * step, which closes the run (`partial` with what was stored, or `failed`) with the execution's error and cause
 * as the reason. It covers what no `Catch` sees — `States.DataLimitExceeded`, `States.Runtime`, the execution's
 * own timeout, a stop by hand — and is idempotent with the state machine's "Record failure" path (a closed run is
 * left as it is). Events that cannot be delivered after the retries go to a dead-letter queue, with an alarm.
 */
export class RunCloser extends Construct {
  readonly rule: events.Rule;
  readonly deadLetters: sqs.Queue;

  constructor(scope: Construct, id: string, props: RunCloserProps) {
    super(scope, id);
    this.deadLetters = new sqs.Queue(this, 'DeadLetters', {
      enforceSSL: true,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetters).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        "this queue is the dead-letter queue of the status rule's target: it has none of its own, and its messages are alarmed on",
    });
    this.rule = new events.Rule(this, 'ExecutionEndedBadly', {
      description: 'preflight: close the run of a check-run execution that failed, timed out or was stopped',
      eventPattern: {
        source: [EXECUTION_STATUS_EVENT.source],
        detailType: [EXECUTION_STATUS_EVENT.detailType],
        detail: { stateMachineArn: [props.stateMachine.stateMachineArn], status: [...ENDED_BADLY] },
      },
      targets: [
        new targets.LambdaFunction(props.fail.fn, {
          retryAttempts: 8,
          maxEventAge: Duration.hours(24),
          deadLetterQueue: this.deadLetters,
        }),
      ],
    });
    const alarm = new cloudwatch.Alarm(this, 'Undelivered', {
      metric: this.deadLetters.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
        statistic: 'Maximum',
      }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription:
        'preflight: an execution status event could not be delivered to the failure step: its run may still be open (see the dead-letter queue)',
    });
    alarm.addAlarmAction(new actions.SnsAction(props.topic));
  }
}
