import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE, SERVICE_NAME } from '../lambdas/handlers/instrument';
import type { PreflightFunction } from './function';

/** Props of {@link Alarms}. */
export interface AlarmsProps {
  readonly topic: sns.ITopic;
  readonly stateMachine: sfn.IStateMachine;
  /** Every function of the service, by a readable name. */
  readonly functions: Readonly<Record<string, PreflightFunction>>;
}

/**
 * Alarms, sent to the notification topic: failed check runs (the handlers' `RunsFailed` metric and the state
 * machine's failed executions), and errors and throttles of every function.
 */
export class Alarms extends Construct {
  readonly alarms: cloudwatch.Alarm[] = [];

  constructor(scope: Construct, id: string, props: AlarmsProps) {
    super(scope, id);
    const add = (alarmId: string, metric: cloudwatch.IMetric, description: string) => {
      const alarm = new cloudwatch.Alarm(this, alarmId, {
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: `preflight: ${description}`,
      });
      alarm.addAlarmAction(new actions.SnsAction(props.topic));
      this.alarms.push(alarm);
    };
    const period = Duration.minutes(5);
    add(
      'RunsFailed',
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName: 'RunsFailed',
        dimensionsMap: { service: SERVICE_NAME },
        statistic: 'Sum',
        period,
      }),
      'a check run failed (nothing could be recorded); its reason is in the API',
    );
    add(
      'ExecutionsFailed',
      props.stateMachine.metricFailed({ period, statistic: 'Sum' }),
      'a check-run state machine execution failed',
    );
    for (const [name, f] of Object.entries(props.functions)) {
      add(`${name}Errors`, f.fn.metricErrors({ period, statistic: 'Sum' }), `the ${name} function failed`);
      add(
        `${name}Throttles`,
        f.fn.metricThrottles({ period, statistic: 'Sum' }),
        `the ${name} function was throttled`,
      );
    }
  }
}
