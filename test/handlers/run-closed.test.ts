import { DynamoResultStore } from '../../lambdas/aws/dynamo-store';
import { DynamoRunData } from '../../lambdas/aws/dynamo-run-data';
import { type RunningDynalite, startDynalite } from '../../lambdas/aws/dynalite';
import { defaultCatalog } from '../../lambdas/core/catalog';
import { parseEnvironment } from '../../lambdas/core/environment';
import { scheduledRunId } from '../../lambdas/core/run/identity';
import { combineStep, planStep, recordStep } from '../../lambdas/core/run/steps';
import { queuedRun } from '../../lambdas/core/store';
import type { DeployedVantages } from '../../lambdas/handlers/settings';

// Every run is closed, whatever happens: the schedule path's start finds its run again when retried, and the
// failure handler closes a run from the "Step Functions Execution Status Change" event of an execution that ended
// FAILED, TIMED_OUT or ABORTED where no Catch saw it. On the real embedded store; nothing is probed.

Object.assign(process.env, {
  AWS_REGION: 'eu-west-1',
  TABLE_NAME: 'not-used-by-these-tests',
  VANTAGES: '{}',
});
type StartModule = typeof import('../../lambdas/handlers/run/start');
type FailModule = typeof import('../../lambdas/handlers/run/fail');
type ParseModule = typeof import('../../lambdas/handlers/run/parse');
let start: StartModule['start'];
let fail: FailModule['fail'];
let StepInputError: ParseModule['StepInputError'];

const SUBNET = 'subnet-0123456789abcdef0';
const SG = 'sg-0123456789abcdef0';
const BUDGET_MS = 240_000;
const SCHEDULE = 'arn:aws:scheduler:eu-west-1:123456789012:schedule/preflight-environments';
const MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:CheckRun';
const deployed: DeployedVantages = { workers: { subnetIds: [SUBNET], securityGroupIds: [SG] } };

function environmentJson(name: string) {
  return {
    name,
    vantages: [{ name: 'workers', roles: ['target-worker'], subnetIds: [SUBNET], securityGroupIds: [SG] }],
    flows: [
      { name: 'db', from: 'workers', to: ['10.20.0.40'], ports: '1433' },
      { name: 'web', from: 'workers', to: ['10.20.0.41'], ports: '443' },
    ],
  };
}

/** A clock that moves one second per reading. */
function steppingClock(from = Date.UTC(2026, 10, 27, 18)): () => Date {
  let t = from;
  return () => new Date((t += 1000));
}

/** The event EventBridge delivers to the status rule's target (the shape Step Functions documents). */
function statusEvent(detail: {
  name: string;
  status: string;
  input?: unknown;
  error?: string | null;
  cause?: string | null;
  startDate?: number;
  stopDate?: number | null;
}) {
  return {
    version: '0',
    id: '315c1398-40ff-a850-213b-158f73e60175',
    'detail-type': 'Step Functions Execution Status Change',
    source: 'aws.states',
    account: '123456789012',
    time: '2026-11-27T18:20:00Z',
    region: 'eu-west-1',
    resources: [`${MACHINE.replace(':stateMachine:', ':execution:')}:${detail.name}`],
    detail: {
      executionArn: `${MACHINE.replace(':stateMachine:', ':execution:')}:${detail.name}`,
      stateMachineArn: MACHINE,
      name: detail.name,
      status: detail.status,
      startDate: detail.startDate ?? Date.UTC(2026, 10, 27, 18),
      stopDate: detail.stopDate === undefined ? Date.UTC(2026, 10, 27, 18, 19) : detail.stopDate,
      input: detail.input === undefined ? null : JSON.stringify(detail.input),
      inputDetails: { included: detail.input !== undefined },
      output: null,
      outputDetails: null,
      error: detail.error ?? null,
      cause: detail.cause ?? null,
    },
  };
}

let dyn: RunningDynalite;
let store: DynamoResultStore;
let data: DynamoRunData;

beforeAll(async () => {
  ({ start } = jest.requireActual<StartModule>('../../lambdas/handlers/run/start'));
  ({ fail } = jest.requireActual<FailModule>('../../lambdas/handlers/run/fail'));
  ({ StepInputError } = jest.requireActual<ParseModule>('../../lambdas/handlers/run/parse'));
  dyn = await startDynalite();
  store = new DynamoResultStore(dyn.client, { tableName: dyn.tableName });
  data = new DynamoRunData(dyn.client, { tableName: dyn.tableName });
});
afterAll(async () => {
  await dyn.close();
});

async function storedEnvironment(name: string) {
  await store.putEnvironment(parseEnvironment(environmentJson(name), defaultCatalog(), 'environment'));
}

/** The schedule path's execution input, as EventBridge Scheduler fills it in. */
const scheduledInput = (environmentName: string, scheduledTime: string) => ({
  environmentName,
  trigger: 'schedule',
  invocation: { scheduleArn: `${SCHEDULE}/${environmentName}`, scheduledTime },
});

describe('a retried start on the schedule path', () => {
  it('finds the run of its invocation instead of creating a second one', async () => {
    // Arrange
    const now = steppingClock();
    await storedEnvironment('closed-retry');
    const input = scheduledInput('closed-retry', '2026-11-27T18:00:00Z');

    // Act: the first attempt's answer was lost; Step Functions retries the task with the same input
    const first = await start(input, { store, data, deployed, budgetMs: BUDGET_MS, now });
    const second = await start(input, { store, data, deployed, budgetMs: BUDGET_MS, now });

    // Assert
    expect(second.checkId).toBe(first.checkId);
    expect(first.checkId).toBe(scheduledRunId(input.invocation));
    // The same shards, planned again (each shard's deadline is set only when it starts).
    expect(second).toEqual(first);
    const runs = await store.listRuns('closed-retry', { limit: 10 });
    expect(runs.items).toHaveLength(1);
    expect(runs.items[0]).toMatchObject({
      checkId: first.checkId,
      trigger: 'schedule',
      status: 'running',
      createdAt: '2026-11-27T18:00:00.000Z',
    });
  });

  it('creates one run per invocation: the next firing is another run', async () => {
    // Arrange
    const now = steppingClock();
    await storedEnvironment('closed-next');

    // Act
    const a = await start(scheduledInput('closed-next', '2026-11-27T18:00:00Z'), {
      store,
      data,
      deployed,
      budgetMs: BUDGET_MS,
      now,
    });
    const b = await start(scheduledInput('closed-next', '2026-11-27T19:00:00Z'), {
      store,
      data,
      deployed,
      budgetMs: BUDGET_MS,
      now,
    });

    // Assert
    expect(a.checkId).not.toBe(b.checkId);
    expect((await store.listRuns('closed-next', { limit: 10 })).items).toHaveLength(2);
  });
});

describe('the failure handler on an execution status event', () => {
  it('closes a running run failed with the execution error no Catch saw (States.DataLimitExceeded)', async () => {
    // Arrange: the API path; the execution is named after the run
    const now = steppingClock();
    const env = environmentJson('closed-limit');
    const run = await store.createRun(queuedRun(env.name, 'api', now()));
    const input = { checkId: run.checkId, environmentName: env.name, environment: env, trigger: 'api' };
    await start(input, { store, data, deployed, budgetMs: BUDGET_MS, now });
    const cause =
      "The state/task 'Probe workers' returned a result with a size exceeding the maximum number of bytes service limit.";

    // Act
    const out = await fail(
      statusEvent({ name: run.checkId, status: 'FAILED', input, error: 'States.DataLimitExceeded', cause }),
      { store, now },
    );

    // Assert
    const reason = `the execution ${run.checkId} failed after 1140 s: States.DataLimitExceeded: ${cause}`;
    expect(out).toEqual({ checkId: run.checkId, status: 'failed', reason });
    expect(await store.getRun(run.checkId)).toMatchObject({
      status: 'failed',
      reason,
      finishedAt: expect.any(String),
    });
  });

  it('closes a run partial, keeping its findings, when findings were stored before the execution failed', async () => {
    // Arrange
    const now = steppingClock();
    const env = environmentJson('closed-partial');
    const run = await store.createRun(queuedRun(env.name, 'api', now()));
    const input = { checkId: run.checkId, environmentName: env.name, environment: env, trigger: 'api' };
    const s = await start(input, { store, data, deployed, budgetMs: BUDGET_MS, now });
    const { plan } = await planStep(
      { environment: parseEnvironment((await data.getPlan(s.checkId)).environment, defaultCatalog()) },
      defaultCatalog(),
    );
    const findings = await combineStep({ plan, probes: [], audit: { audits: [] } });
    await recordStep(store, await store.getRun(run.checkId), findings);

    // Act
    const out = await fail(
      statusEvent({ name: run.checkId, status: 'FAILED', input, error: 'States.Runtime', cause: 'bad path' }),
      { store, now },
    );

    // Assert
    expect(out.status).toBe('partial');
    expect((await store.getRun(run.checkId)).reason).toContain('States.Runtime: bad path');
    expect((await store.listFindings(run.checkId, { limit: 10 })).items).toHaveLength(2);
  });

  it('finds the run of a scheduled execution from its input and closes it when the execution timed out', async () => {
    // Arrange: the scheduler names its executions itself; the run id comes from the invocation in the input
    const now = steppingClock();
    await storedEnvironment('closed-timeout');
    const input = scheduledInput('closed-timeout', '2026-11-27T18:00:00Z');
    const s = await start(input, { store, data, deployed, budgetMs: BUDGET_MS, now });

    // Act
    const out = await fail(
      statusEvent({
        name: '6f0c1b2e-scheduler-named',
        status: 'TIMED_OUT',
        input: { ...input, addedByANewerMachine: true },
        stopDate: Date.UTC(2026, 10, 27, 18, 19),
      }),
      { store, now },
    );

    // Assert
    expect(out).toEqual({
      checkId: s.checkId,
      status: 'failed',
      reason: 'the execution 6f0c1b2e-scheduler-named timed out after 1140 s',
    });
    expect((await store.getRun(s.checkId)).status).toBe('failed');
  });

  it('closes the run of an execution stopped by hand, by its name when the input was too large to include', async () => {
    // Arrange
    const now = steppingClock();
    const env = environmentJson('closed-aborted');
    const run = await store.createRun(queuedRun(env.name, 'api', now()));
    await start(
      { checkId: run.checkId, environmentName: env.name, environment: env, trigger: 'api' },
      { store, data, deployed, budgetMs: BUDGET_MS, now },
    );

    // Act: no input in the event (inputDetails.included false)
    const out = await fail(
      statusEvent({
        name: run.checkId,
        status: 'ABORTED',
        cause: 'stopped from the console',
        stopDate: null,
      }),
      { store, now },
    );

    // Assert
    expect(out).toEqual({
      checkId: run.checkId,
      status: 'failed',
      reason: `the execution ${run.checkId} was stopped (stopped from the console)`,
    });
  });

  it('leaves the run as the state machine\'s own "Record failure" closed it (both callers, one close)', async () => {
    // Arrange: the Catch path ran first, then the execution ended FAILED on its Fail state
    const now = steppingClock();
    const env = environmentJson('closed-twice');
    const run = await store.createRun(queuedRun(env.name, 'api', now()));
    const input = { checkId: run.checkId, environmentName: env.name, environment: env, trigger: 'api' };
    await start(input, { store, data, deployed, budgetMs: BUDGET_MS, now });
    const caught = await fail(
      {
        checkId: run.checkId,
        error: { Error: 'Lambda.Unknown', Cause: '{"errorMessage":"the finish died"}' },
      },
      { store, now },
    );
    const before = await store.getRun(run.checkId);

    // Act
    const out = await fail(
      statusEvent({
        name: run.checkId,
        status: 'FAILED',
        input,
        error: 'CheckRunFailed',
        cause: 'see the run in the API: its reason says why',
      }),
      { store, now },
    );

    // Assert
    expect(caught).toEqual({ checkId: run.checkId, status: 'failed', reason: 'the finish died' });
    expect(out).toEqual({
      checkId: run.checkId,
      status: 'failed',
      reason: 'the finish died',
      alreadyClosed: true,
    });
    expect(await store.getRun(run.checkId)).toEqual(before);
  });

  it('answers with the reason alone when the execution names no run (started by hand, no checkId)', async () => {
    // Act
    const out = await fail(
      statusEvent({
        name: 'by-hand',
        status: 'FAILED',
        input: { environmentName: 'gone', trigger: 'schedule' },
        error: 'NotFoundError',
        cause: '{"errorMessage":"no environment named \\"gone\\": PUT it first","errorType":"NotFoundError"}',
      }),
      { store },
    );

    // Assert
    expect(out).toEqual({
      reason:
        'the execution by-hand failed after 1140 s: NotFoundError: no environment named "gone": PUT it first',
    });
  });

  it('refuses an event of another status, naming the field and the value', async () => {
    // Act
    const err = await fail(statusEvent({ name: 'x', status: 'SUCCEEDED' }), { store }).catch(
      (e: unknown) => e,
    );

    // Assert
    expect(err).toBeInstanceOf(StepInputError);
    expect((err as Error).message).toContain('detail.status');
    expect((err as Error).message).toContain('"SUCCEEDED"');
  });
});
