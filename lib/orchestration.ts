import { Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import type { Auditor } from './auditor';
import { PreflightFunction, TABLE_ACCESS, wildcardFinding } from './function';
import { AGENT_RESULTS_GRACE_SECONDS } from '../lambdas/core/agent/jobs';
import { MAX_PROBE_BUDGET_SECONDS } from '../lambdas/core/environment';
import { MAX_SHARDS } from '../lambdas/core/run/shards';
import type { Prober } from './prober';

/** Props of {@link CheckRunStateMachine}. */
export interface CheckRunStateMachineProps {
  readonly table: dynamodb.ITableV2;
  readonly eventBus: events.IEventBus;
  /** One per vantage; the probe Map sends each shard to its vantage's prober. */
  readonly probers: readonly Prober[];
  readonly auditor: Auditor;
  /**
   * One shard's probe budget: its prober's deadline counts from when the shard starts. (An on-prem vantage's
   * callback task waits instead for the environment's budget, `probe.budgetSeconds`, this one by default: see
   * `awaitAgent`.)
   */
  readonly probeBudget: Duration;
  /** The deployment's target policy, given to on-prem vantages' agents with their jobs. */
  readonly allowedTargetCidrs: readonly string[];
  /** Days a run and its findings are kept. */
  readonly retentionDays: number;
  /** @default 30 */
  readonly logRetentionDays?: number;
  /**
   * How many shards the Distributed Map probes at once (each is one prober invocation; mind the account's Lambda
   * concurrency).
   * @default 40
   */
  readonly maxConcurrentShards?: number;
}

/** The state names of the check-run state machine (the infra tests and the docs use them). */
export const STATES = {
  start: 'Start run',
  probe: 'Probe shards',
  loadShard: 'Load shard',
  route: 'Which vantage',
  noProber: 'No prober for vantage',
  awaitAgent: 'Wait for the agent',
  storeShard: 'Store shard',
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
 * The state machine that runs a check: start (create or take the run, plan it, split its targets into shards, all
 * stored) → probe (a Distributed Map over the shard numbers: load the shard's job and give it its own deadline →
 * its vantage's prober → store the outcome; a failed prober leaves its shard's ports `skipped` and the run
 * `partial`; an on-prem vantage's shard waits instead in a callback task for its agent, completed through the API) → audit (stores the audits; a failed audit leaves the run `partial`) → record and compare (reads
 * everything from the store: findings, events). No state carries results: each holds the run's id, the shard
 * numbers (at most `MAX_SHARDS`) and small summaries; a shard's own state holds its job and its prober's output,
 * bounded by `MAX_SHARD_PAIRS`. Any other failure is caught and the run closed `partial` or `failed` with the
 * reason. Logging (ALL) and X-Ray tracing are on.
 */
export class CheckRunStateMachine extends Construct {
  readonly stateMachine: sfn.StateMachine;
  /** The Lambdas of the run's own steps (the probers and the auditor are passed in). */
  readonly functions: {
    readonly start: PreflightFunction;
    readonly shard: PreflightFunction;
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
      description: 'takes or creates the run, plans it and stores its shards',
      environment: {
        VANTAGES: Stack.of(this).toJsonString(deployed),
        PROBE_BUDGET_MS: String(props.probeBudget.toMilliseconds()),
      },
      ...common,
    }).bindTable({ table: props.table, access: TABLE_ACCESS.start, retentionDays: props.retentionDays });
    const shard = new PreflightFunction(this, 'Shard', {
      function: 'shard',
      description: "loads a shard's job before its prober and stores the prober's outcome after it",
      environment: { ALLOWED_TARGET_CIDRS: JSON.stringify(props.allowedTargetCidrs) },
      ...common,
    }).bindTable({ table: props.table, access: TABLE_ACCESS.shard, retentionDays: props.retentionDays });
    // The auditor stores its audits with the run (they do not fit in a state).
    props.auditor.function.bindTable({
      table: props.table,
      access: TABLE_ACCESS.audit,
      retentionDays: props.retentionDays,
    });
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
    this.functions = { start, shard, finish, fail };

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

    // One shard: load its job (and its own deadline) → its vantage's prober → store the outcome. A prober's
    // failure is stored as the shard's outcome, so the other shards' results are kept.
    const storeShard = retryTransient(
      new tasks.LambdaInvoke(this, STATES.storeShard, {
        lambdaFunction: shard.fn,
        payload: sfn.TaskInput.fromObject({ step: 'store', 'item.$': '$' }),
        payloadResponseOnly: true,
        // A child execution's output is only its shard's number: the Map's output (discarded, but assembled
        // first) stays a few KB for 1,000 shards.
        outputPath: '$.shard',
        taskTimeout: sfn.Timeout.duration(Duration.seconds(60)),
      }),
      6,
    );
    const route = new sfn.Choice(this, STATES.route);
    // An on-prem vantage's shard: a callback task stores its agent's job with the task token; the API's result
    // route completes it (SendTaskSuccess), each heartbeat extends it (SendTaskHeartbeat), an agent that cannot run
    // the job fails it (SendTaskFailure). The wait is the environment's: the load step puts the shard's budget (the
    // environment's probe.budgetSeconds, at most MAX_PROBE_BUDGET_SECONDS) in the item. An agent that never takes
    // the job, or stops heartbeating, times the task out: the store step records the vantage's flows `skipped`
    // ("no agent for vantage X reported within N s") and the run goes on.
    const awaitAgent = new tasks.LambdaInvoke(this, STATES.awaitAgent, {
      lambdaFunction: shard.fn,
      integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
      payload: sfn.TaskInput.fromObject({ step: 'agent', 'item.$': '$', taskToken: sfn.JsonPath.taskToken }),
      resultPath: '$.agentJob',
      heartbeatTimeout: sfn.Timeout.at('$.agentWaitSeconds'),
      taskTimeout: sfn.Timeout.at('$.agentTimeoutSeconds'),
    });
    retryTransient(awaitAgent, 3).addCatch(storeShard, catchAll);
    route.when(sfn.Condition.isPresent('$.agent'), awaitAgent.next(storeShard));
    for (const prober of props.probers) {
      const invoke = new tasks.LambdaInvoke(this, `Probe ${prober.vantage}`, {
        lambdaFunction: prober.function.fn,
        payloadResponseOnly: true,
        resultPath: '$.probe',
        taskTimeout: sfn.Timeout.duration(props.probeBudget.plus(Duration.minutes(1))),
      });
      retryTransient(invoke, 3).addCatch(storeShard, catchAll);
      route.when(sfn.Condition.stringEquals('$.vantage', prober.vantage), invoke.next(storeShard));
    }
    route.otherwise(
      new sfn.Pass(this, STATES.noProber, {
        result: sfn.Result.fromObject({ Error: 'NoProber', Cause: 'no prober is deployed for this vantage' }),
        resultPath: '$.error',
      }).next(storeShard),
    );
    const loadShard = retryTransient(
      new tasks.LambdaInvoke(this, STATES.loadShard, {
        lambdaFunction: shard.fn,
        payload: sfn.TaskInput.fromObject({ step: 'load', 'item.$': '$' }),
        payloadResponseOnly: true,
        taskTimeout: sfn.Timeout.duration(Duration.seconds(60)),
      }),
      6,
    );
    const maxConcurrency = props.maxConcurrentShards ?? 40;
    const probeMap = new sfn.DistributedMap(this, STATES.probe, {
      itemsPath: '$.shards',
      itemSelector: { 'checkId.$': '$.checkId', 'shard.$': '$$.Map.Item.Value' },
      // The outcomes are in the store; the Map's own output (a summary per shard) is not kept in the state.
      resultPath: sfn.JsonPath.DISCARD,
      maxConcurrency,
      mapExecutionType: sfn.StateMachineType.STANDARD,
    })
      .itemProcessor(loadShard.next(route))
      .addCatch(recordFailure, catchAll);

    const auditTask = retryTransient(
      new tasks.LambdaInvoke(this, STATES.audit, {
        lambdaFunction: props.auditor.function.fn,
        payload: sfn.TaskInput.fromObject({ 'checkId.$': '$.checkId' }),
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
      comment: 'preflight: one check run (plan and shard, probe each shard, audit, record and compare)',
      // Every shard in waves of maxConcurrency, each at most its budget (a prober's, or the longest an agent's
      // callback task waits) and its task's minute, and 15 minutes for the rest.
      timeout: Duration.seconds(
        (Math.max(props.probeBudget.toSeconds(), MAX_PROBE_BUDGET_SECONDS) + AGENT_RESULTS_GRACE_SECONDS) *
          Math.ceil(MAX_SHARDS / maxConcurrency),
      ).plus(Duration.minutes(15)),
      tracingEnabled: true,
      // ALL events but no payloads: the payloads carry the environment's addresses and results, which the API
      // already serves to those allowed to read them.
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
    });
    // The Distributed Map runs each shard as a child execution of this state machine, which its role describes
    // and stops: the children's execution ARNs are named by Step Functions at run time, so only their prefix is known.
    const machine = Stack.of(this).resolve(
      (this.stateMachine.node.defaultChild as sfn.CfnStateMachine).logicalId,
    ) as string;
    const machineName = `{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${machine}"}]}]}`;
    const { region, account } = Stack.of(this);
    const where = `${Token.isUnresolved(region) ? '<AWS::Region>' : region}:${Token.isUnresolved(account) ? '<AWS::AccountId>' : account}`;
    Validations.of(this.stateMachine.node.findChild('DistributedMapPolicy')).acknowledge(
      ...[':*', '/*:*'].map((suffix) => ({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:${where}:execution:${machineName}${suffix}]`,
        reason:
          "the Distributed Map's child executions (one per shard) are named at run time: the role may describe and stop only this state machine's executions",
      })),
    );
    // A retried callback task whose agent's job closed before its token was stored is ended by the shard step
    // itself. A policy of its own: the function's default policy cannot name this state machine (which invokes
    // the function, so depends on it).
    new iam.Policy(this, 'ShardTaskResponse', {
      roles: [shard.fn.role!],
      statements: [
        new iam.PolicyStatement({
          actions: ['states:SendTaskSuccess', 'states:SendTaskFailure'],
          resources: [this.stateMachine.stateMachineArn],
        }),
      ],
    });
    const invoked = [
      start,
      shard,
      finish,
      fail,
      props.auditor.function,
      ...props.probers.map((p) => p.function),
    ];
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
