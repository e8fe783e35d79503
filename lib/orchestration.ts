import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import type { Auditor } from './auditor';
import { PreflightFunction, TABLE_ACCESS, wildcardFinding } from './function';
import type { Prober } from './prober';

/** Props of {@link CheckRunStateMachine}. */
export interface CheckRunStateMachineProps {
  readonly table: dynamodb.ITableV2;
  readonly eventBus: events.IEventBus;
  /** One per vantage; the probe Map sends each job to its vantage's prober. */
  readonly probers: readonly Prober[];
  readonly auditor: Auditor;
  /** The probe budget of one run (each job's deadline). */
  readonly probeBudget: Duration;
  /** Days a run and its findings are kept. */
  readonly retentionDays: number;
  /** @default 30 */
  readonly logRetentionDays?: number;
  /**
   * How many vantages are probed at once.
   * @default 10
   */
  readonly maxConcurrentProbes?: number;
}

/** The state names of the check-run state machine (the infra tests and the docs use them). */
export const STATES = {
  start: 'Start run',
  probe: 'Probe vantages',
  route: 'Which vantage',
  probeFailed: 'Probe failed',
  noProber: 'No prober for vantage',
  audit: 'Audit AWS configuration',
  finish: 'Record and compare',
  recordFailure: 'Record failure',
  failed: 'Check run failed',
  done: 'Done',
} as const;

/** Transient Lambda errors worth retrying (throttling included), with backoff. */
const TRANSIENT = [
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
];

const retryTransient = (task: tasks.LambdaInvoke, maxAttempts = 4) =>
  task.addRetry({
    errors: TRANSIENT,
    interval: Duration.seconds(2),
    backoffRate: 2,
    maxAttempts,
    jitterStrategy: sfn.JitterType.FULL,
  });

/**
 * The state machine that runs a check: start (create or take the run, plan it) → probe (a Map over the vantages,
 * each job sent to its vantage's prober; a failed prober leaves its flows `skipped` and the run `partial`) →
 * audit (a failed audit leaves the run `partial`) → record and compare (findings, events). Any other failure is
 * caught and the run closed `partial` or `failed` with the reason. Logging (ALL) and X-Ray tracing are on.
 */
export class CheckRunStateMachine extends Construct {
  readonly stateMachine: sfn.StateMachine;
  /** The Lambdas of the run's own steps (the probers and the auditor are passed in). */
  readonly functions: {
    readonly start: PreflightFunction;
    readonly finish: PreflightFunction;
    readonly fail: PreflightFunction;
  };

  constructor(scope: Construct, id: string, props: CheckRunStateMachineProps) {
    super(scope, id);
    const common = props.logRetentionDays !== undefined ? { logRetentionDays: props.logRetentionDays } : {};
    const deployed = Object.fromEntries(
      props.probers.map((p) => [
        p.vantage,
        {
          subnetIds: p.subnets.map((s) => s.subnetId),
          securityGroupIds: p.securityGroups.map((g) => g.securityGroupId),
        },
      ]),
    );
    const start = new PreflightFunction(this, 'Start', {
      function: 'start',
      description: 'takes or creates the run, plans it and hands out the probe jobs',
      environment: {
        VANTAGES: Stack.of(this).toJsonString(deployed),
        PROBE_BUDGET_MS: String(props.probeBudget.toMilliseconds()),
      },
      ...common,
    }).bindTable({ table: props.table, access: TABLE_ACCESS.start, retentionDays: props.retentionDays });
    const finish = new PreflightFunction(this, 'Finish', {
      function: 'finish',
      description: 'combines, records and compares the findings and emits the changes',
      memorySize: 512,
      timeout: Duration.minutes(2),
      ...common,
    })
      .bindTable({ table: props.table, access: TABLE_ACCESS.finish, retentionDays: props.retentionDays })
      .bindEventBus(props.eventBus);
    const fail = new PreflightFunction(this, 'Fail', {
      function: 'fail',
      description: 'closes a run that could not finish, with the reason',
      ...common,
    }).bindTable({ table: props.table, access: TABLE_ACCESS.fail, retentionDays: props.retentionDays });
    this.functions = { start, finish, fail };

    const recordFailure = retryTransient(
      new tasks.LambdaInvoke(this, STATES.recordFailure, {
        lambdaFunction: fail.fn,
        payloadResponseOnly: true,
        resultPath: '$.closed',
        taskTimeout: sfn.Timeout.duration(Duration.seconds(60)),
      }),
      6,
    ).next(
      new sfn.Fail(this, STATES.failed, {
        error: 'CheckRunFailed',
        cause: 'see the run in the API: its reason says why',
      }),
    );
    const catchAll = { errors: [sfn.Errors.ALL], resultPath: '$.error' };

    const startTask = retryTransient(
      new tasks.LambdaInvoke(this, STATES.start, {
        lambdaFunction: start.fn,
        payloadResponseOnly: true,
        taskTimeout: sfn.Timeout.duration(Duration.seconds(60)),
      }),
    ).addCatch(recordFailure, catchAll);

    // The probe Map: each job goes to the prober of its vantage. A prober's failure becomes an item that names
    // the vantage and the error, so the other vantages' results are kept.
    const probeFailed = new sfn.Pass(this, STATES.probeFailed, {
      parameters: { 'vantage.$': '$.vantage', 'error.$': '$.error' },
    });
    const route = new sfn.Choice(this, STATES.route);
    for (const prober of props.probers) {
      const invoke = new tasks.LambdaInvoke(this, `Probe ${prober.vantage}`, {
        lambdaFunction: prober.function.fn,
        payloadResponseOnly: true,
        taskTimeout: sfn.Timeout.duration(props.probeBudget.plus(Duration.minutes(1))),
      });
      retryTransient(invoke, 3).addCatch(probeFailed, catchAll);
      route.when(sfn.Condition.stringEquals('$.vantage', prober.vantage), invoke);
    }
    route.otherwise(
      new sfn.Pass(this, STATES.noProber, {
        parameters: {
          'vantage.$': '$.vantage',
          error: { Error: 'NoProber', Cause: 'no prober is deployed for this vantage' },
        },
      }),
    );
    const probeMap = new sfn.Map(this, STATES.probe, {
      itemsPath: '$.jobs',
      resultPath: '$.probes',
      maxConcurrency: props.maxConcurrentProbes ?? 10,
    })
      .itemProcessor(route)
      .addCatch(recordFailure, catchAll);

    const auditTask = retryTransient(
      new tasks.LambdaInvoke(this, STATES.audit, {
        lambdaFunction: props.auditor.function.fn,
        payload: sfn.TaskInput.fromObject({ 'environment.$': '$.environment' }),
        payloadResponseOnly: true,
        resultPath: '$.audit',
        taskTimeout: sfn.Timeout.duration(Duration.minutes(3)),
      }),
    );
    const finishTask = retryTransient(
      new tasks.LambdaInvoke(this, STATES.finish, {
        lambdaFunction: finish.fn,
        payloadResponseOnly: true,
        taskTimeout: sfn.Timeout.duration(Duration.minutes(3)),
      }),
    ).addCatch(recordFailure, catchAll);
    // A failed audit does not stop the run: the finish step records the run `partial` with the audit's error.
    auditTask.addCatch(finishTask, { errors: [sfn.Errors.ALL], resultPath: '$.auditError' });

    const definition = startTask
      .next(probeMap)
      .next(auditTask)
      .next(finishTask)
      .next(new sfn.Succeed(this, STATES.done));

    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      definitionBody: sfn.DefinitionBody.fromChainable(definition),
      comment: 'preflight: one check run (plan, probe per vantage, audit, record and compare)',
      timeout: props.probeBudget.plus(Duration.minutes(15)),
      tracingEnabled: true,
      // ALL events but no payloads: the payloads carry the environment's addresses and results, which the API
      // already serves to those allowed to read them.
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
    });
    const invoked = [start, finish, fail, props.auditor.function, ...props.probers.map((p) => p.function)];
    Validations.of(this.stateMachine.role).acknowledge(
      ...invoked.map((f) => ({
        id: wildcardFinding(f.fn, ':*'),
        reason:
          "Step Functions' Lambda integration invokes the function's versions and aliases (ARN:*) as well as its ARN",
      })),
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          "X-Ray tracing and CloudWatch Logs delivery (logs:*LogDelivery*, DescribeResourcePolicies) accept no resource but '*'",
      },
    );
  }
}
