import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  ExecutionAlreadyExists,
  SFNClient,
  SFNServiceException,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoResultStore } from '../../lambdas/aws/dynamo-store';
import { type RunningDynalite, startDynalite } from '../../lambdas/aws/dynalite';
import { EventBridgeSink, EventDeliveryError } from '../../lambdas/aws/event-bus';
import { type ExecutionInput, StepFunctionsStarter } from '../../lambdas/aws/step-functions';
import { defaultCatalog } from '../../lambdas/core/catalog';
import { type Environment, parseEnvironment } from '../../lambdas/core/environment';
import { EVENT_SOURCE, STATE_CHANGED, type StateChangedDetail } from '../../lambdas/core/run/steps';

// The two AWS adapters of a check run's edges: starting the state machine (with the run created first in the real
// embedded store) and putting the "state changed" event on the bus. The AWS clients are aws-sdk-client-mock.

const STATE_MACHINE_ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:preflight-check-run';
const BUS = 'preflight-events';

const sfn = mockClient(SFNClient);
const events = mockClient(EventBridgeClient);

let dyn: RunningDynalite;
let store: DynamoResultStore;

beforeAll(async () => {
  dyn = await startDynalite();
  store = new DynamoResultStore(dyn.client, { tableName: dyn.tableName });
});
afterAll(async () => {
  await dyn.close();
});
beforeEach(() => {
  sfn.reset();
  events.reset();
});

function environment(name: string): Environment {
  return parseEnvironment(
    {
      name,
      vantages: [{ name: 'workers', roles: ['target-worker'], securityGroupIds: ['sg-0123456789abcdef0'] }],
      flows: [{ name: 'db', to: ['10.20.0.40'], ports: '1433' }],
    },
    defaultCatalog(),
    'environment',
  );
}

function sfnError(name: string, message: string): SFNServiceException {
  return new SFNServiceException({ name, message, $fault: 'client', $metadata: { httpStatusCode: 400 } });
}

/** The rejection of `promise`, failing the test if it resolves. */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

const at = new Date(Date.UTC(2025, 5, 1, 12));

describe('StepFunctionsStarter', () => {
  it('creates the run queued, then starts one execution named after the check id with the run as input', async () => {
    // Arrange
    sfn.on(StartExecutionCommand).resolves({ executionArn: 'arn:aws:states:…:execution:x', startDate: at });
    const env = environment('sfn-start');
    const starter = new StepFunctionsStarter(
      new SFNClient({ region: 'eu-west-1' }),
      store,
      STATE_MACHINE_ARN,
    );

    // Act
    const run = await starter.start({ environment: env, trigger: 'api' });

    // Assert
    expect(run).toMatchObject({ environmentName: 'sfn-start', trigger: 'api', status: 'queued' });
    expect(await store.getRun(run.checkId)).toMatchObject({ status: 'queued' });
    const calls = sfn.commandCalls(StartExecutionCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0]!.args[0].input;
    expect(input.stateMachineArn).toBe(STATE_MACHINE_ARN);
    expect(input.name).toBe(run.checkId);
    const execution = JSON.parse(input.input!) as ExecutionInput;
    expect(execution).toEqual({
      checkId: run.checkId,
      environmentName: 'sfn-start',
      environment: JSON.parse(JSON.stringify(env)),
      trigger: 'api',
    });
    // The environment travels as the environment schema reads it back.
    expect(parseEnvironment(execution.environment, defaultCatalog(), 'environment')).toEqual(env);
  });

  it('closes the run failed with the reason and rethrows when the execution cannot be started', async () => {
    // Arrange
    sfn
      .on(StartExecutionCommand)
      .rejects(sfnError('AccessDeniedException', 'not authorized to perform: states:StartExecution'));
    const starter = new StepFunctionsStarter(
      new SFNClient({ region: 'eu-west-1' }),
      store,
      STATE_MACHINE_ARN,
    );

    // Act
    const err = await rejection(starter.start({ environment: environment('sfn-denied'), trigger: 'api' }));

    // Assert
    expect(err.name).toBe('AccessDeniedException');
    const runs = (await store.listRuns('sfn-denied', { limit: 10 })).items;
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({
      status: 'failed',
      reason: 'the check could not be started: not authorized to perform: states:StartExecution',
      finishedAt: expect.any(String),
    });
  });

  it('tolerates ExecutionAlreadyExists (a start retried after its answer was lost) and leaves the run queued', async () => {
    // Arrange
    sfn
      .on(StartExecutionCommand)
      .rejects(new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} }));
    const starter = new StepFunctionsStarter(
      new SFNClient({ region: 'eu-west-1' }),
      store,
      STATE_MACHINE_ARN,
    );

    // Act
    const run = await starter.start({ environment: environment('sfn-exists'), trigger: 'schedule' });

    // Assert
    expect(run.status).toBe('queued');
    expect(await store.getRun(run.checkId)).toMatchObject({ status: 'queued', trigger: 'schedule' });
  });
});

describe('EventBridgeSink', () => {
  const detail: StateChangedDetail = {
    checkId: '01J9ZK3V8Q4W5X6Y7Z8A9B0C1D',
    previousCheckId: '01J9ZK3V8Q4W5X6Y7Z8A9B0C1C',
    environmentName: 'wave-1',
    flowId: 'f-0123abcd',
    from: 'pass',
    to: 'refused',
    cause: 'refused: nothing listens',
  };

  it('puts one event on the bus with the service source and the detail as JSON', async () => {
    // Arrange
    events.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
    const sink = new EventBridgeSink(new EventBridgeClient({ region: 'eu-west-1' }), BUS);

    // Act
    await sink.emit(STATE_CHANGED, detail);

    // Assert
    const calls = events.commandCalls(PutEventsCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input).toEqual({
      Entries: [
        {
          EventBusName: BUS,
          Source: EVENT_SOURCE,
          DetailType: 'Preflight Check State Changed',
          Detail: JSON.stringify(detail),
          Resources: [],
        },
      ],
    });
    expect(EVENT_SOURCE).toBe('preflight');
  });

  it('raises EventDeliveryError with the code when EventBridge did not take the event', async () => {
    // Arrange
    events.on(PutEventsCommand).resolves({
      FailedEntryCount: 1,
      Entries: [{ ErrorCode: 'InternalFailure', ErrorMessage: 'try again later' }],
    });
    const sink = new EventBridgeSink(new EventBridgeClient({ region: 'eu-west-1' }), BUS);

    // Act
    const err = await rejection(sink.emit(STATE_CHANGED, detail));

    // Assert
    expect(err).toBeInstanceOf(EventDeliveryError);
    expect(err.name).toBe('EventDeliveryError');
    expect(err.message).toBe(
      `EventBridge refused the event for flow f-0123abcd on bus ${BUS}: InternalFailure try again later`,
    );
  });

  it('passes on an error of the call itself', async () => {
    // Arrange
    events.on(PutEventsCommand).rejects(new Error('socket hang up'));
    const sink = new EventBridgeSink(new EventBridgeClient({ region: 'eu-west-1' }), BUS);

    // Act
    const err = await rejection(sink.emit(STATE_CHANGED, detail));

    // Assert
    expect(err.message).toBe('socket hang up');
  });
});
