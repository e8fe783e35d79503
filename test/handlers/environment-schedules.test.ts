import {
  CreateScheduleCommand,
  DeleteScheduleCommand,
  ResourceNotFoundException,
  SchedulerClient,
  ThrottlingException,
  UpdateScheduleCommand,
  ValidationException,
} from '@aws-sdk/client-scheduler';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoResultStore } from '../../lambdas/aws/dynamo-store';
import { type RunningDynalite, startDynalite } from '../../lambdas/aws/dynalite';
import { SchedulerEnvironmentSchedules } from '../../lambdas/aws/scheduler';
import { defaultCatalog } from '../../lambdas/core/catalog';
import { parseEnvironment } from '../../lambdas/core/environment';
import { executionInputSchema } from '../../lambdas/core/run/execution-input';
import { type ApiDeps, handleRequest } from '../../lambdas/handlers/api/router';
import type { ApiResponse } from '../../lambdas/core/service';
import { localSchedules, startScheduler } from '../../lambdas/local/scheduler';

// PUT and DELETE /environments/{name} keep the environment's EventBridge Scheduler schedule: the router as the API
// Lambda runs it, the Scheduler adapter over a mocked SchedulerClient (aws-sdk-client-mock), the real embedded
// store, so that "nothing half-written" is read back from the store itself.

const GROUP = 'preflight-environments';
const MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:CheckRun';
const ROLE = 'arn:aws:iam::123456789012:role/preflight-scheduler';
const SUBNET = 'subnet-0123456789abcdef0';
const SG = 'sg-0123456789abcdef0';

const scheduler = mockClient(SchedulerClient);
let dyn: RunningDynalite;
let store: DynamoResultStore;
let deps: ApiDeps;

beforeAll(async () => {
  dyn = await startDynalite();
  store = new DynamoResultStore(dyn.client, { tableName: dyn.tableName });
  deps = {
    store,
    catalog: defaultCatalog(),
    starter: {
      start: () => Promise.reject(new Error('no check is started by these tests')),
    },
    mode: 'aws',
    allowedTargetCidrs: ['10.0.0.0/8'],
    schedules: new SchedulerEnvironmentSchedules(new SchedulerClient({ region: 'eu-west-1' }), {
      groupName: GROUP,
      stateMachineArn: MACHINE,
      roleArn: ROLE,
    }),
  };
});
afterAll(async () => {
  await dyn.close();
});
beforeEach(() => {
  scheduler.reset();
});

function environment(name: string, schedule?: string) {
  return {
    name,
    vantages: [{ name: 'workers', roles: ['target-worker'], subnetIds: [SUBNET], securityGroupIds: [SG] }],
    flows: [{ name: 'db', to: ['10.20.0.40'], ports: '1433' }],
    ...(schedule !== undefined ? { schedule } : {}),
  };
}

const call = (method: string, path: string, body?: unknown, d: ApiDeps = deps): Promise<ApiResponse> =>
  handleRequest(
    {
      method,
      path,
      query: {},
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    },
    d,
    (err) => {
      throw err;
    },
  );

/** The schedule definition CreateSchedule and UpdateSchedule are sent for an environment. */
function expectedSchedule(name: string, expression: string) {
  return {
    Name: name,
    GroupName: GROUP,
    Description: `preflight: check environment ${name} on ${expression}`,
    ScheduleExpression: expression,
    FlexibleTimeWindow: { Mode: 'OFF' },
    State: 'ENABLED',
    Target: {
      Arn: MACHINE,
      RoleArn: ROLE,
      Input: JSON.stringify({
        environmentName: name,
        trigger: 'schedule',
        invocation: {
          scheduleArn: '<aws.scheduler.schedule-arn>',
          scheduledTime: '<aws.scheduler.scheduled-time>',
        },
      }),
      RetryPolicy: { MaximumRetryAttempts: 2 },
    },
  };
}

const notFound = () =>
  new ResourceNotFoundException({
    message: 'Schedule does not exist.',
    Message: 'Schedule does not exist.',
    $metadata: {},
  });

describe('PUT /environments/{name} with a schedule', () => {
  it('creates the schedule of a new environment in the group, starting the state machine with the scheduler role', async () => {
    // Arrange
    scheduler.on(UpdateScheduleCommand).rejects(notFound());
    scheduler.on(CreateScheduleCommand).resolves({ ScheduleArn: `arn:…:schedule/${GROUP}/sched-new` });

    // Act
    const res = await call('PUT', '/environments/sched-new', environment('sched-new', 'rate(1 hour)'));

    // Assert
    expect(res.status).toBe(200);
    const created = scheduler.commandCalls(CreateScheduleCommand);
    expect(created).toHaveLength(1);
    expect(created[0]!.args[0].input).toEqual(expectedSchedule('sched-new', 'rate(1 hour)'));
    expect((await store.getEnvironment('sched-new')).environment.schedule).toBe('rate(1 hour)');
  });

  it('gives the scheduler an input the start step takes once Scheduler has filled in the invocation', async () => {
    // Arrange
    scheduler.on(UpdateScheduleCommand).resolves({});

    // Act
    await call('PUT', '/environments/sched-input', environment('sched-input', 'rate(5 minutes)'));

    // Assert: what Scheduler sends after replacing its context attributes
    const sent = scheduler.commandCalls(UpdateScheduleCommand)[0]!.args[0].input.Target!.Input!;
    const filled = sent
      .replace(
        '<aws.scheduler.schedule-arn>',
        `arn:aws:scheduler:eu-west-1:123456789012:schedule/${GROUP}/sched-input`,
      )
      .replace('<aws.scheduler.scheduled-time>', '2026-11-27T18:05:00Z');
    expect(executionInputSchema.safeParse(JSON.parse(filled)).success).toBe(true);
  });

  it('updates the schedule of an environment that has one, with the new expression', async () => {
    // Arrange
    scheduler.on(UpdateScheduleCommand).resolves({ ScheduleArn: `arn:…:schedule/${GROUP}/sched-change` });
    await store.putEnvironment(
      parseEnvironment(environment('sched-change', 'rate(1 hour)'), defaultCatalog()),
    );

    // Act
    const res = await call(
      'PUT',
      '/environments/sched-change',
      environment('sched-change', 'cron(0 6 ? * MON-FRI *)'),
    );

    // Assert
    expect(res.status).toBe(200);
    expect(scheduler.commandCalls(UpdateScheduleCommand).map((c) => c.args[0].input)).toEqual([
      expectedSchedule('sched-change', 'cron(0 6 ? * MON-FRI *)'),
    ]);
    expect(scheduler.commandCalls(CreateScheduleCommand)).toHaveLength(0);
  });

  it('deletes the schedule when the environment no longer has one, and takes "no schedule" as done', async () => {
    // Arrange
    scheduler.on(DeleteScheduleCommand).rejectsOnce(notFound()).resolves({});

    // Act
    const first = await call('PUT', '/environments/sched-none', environment('sched-none'));
    const second = await call('PUT', '/environments/sched-none', environment('sched-none'));

    // Assert
    expect([first.status, second.status]).toEqual([200, 200]);
    expect(scheduler.commandCalls(DeleteScheduleCommand).map((c) => c.args[0].input)).toEqual([
      { Name: 'sched-none', GroupName: GROUP },
      { Name: 'sched-none', GroupName: GROUP },
    ]);
    expect(scheduler.commandCalls(CreateScheduleCommand)).toHaveLength(0);
  });
});

describe('DELETE /environments/{name}', () => {
  it('deletes the environment and its schedule', async () => {
    // Arrange
    scheduler.on(UpdateScheduleCommand).resolves({});
    scheduler.on(DeleteScheduleCommand).resolves({});
    await call('PUT', '/environments/sched-delete', environment('sched-delete', 'rate(1 hour)'));

    // Act
    const res = await call('DELETE', '/environments/sched-delete');

    // Assert
    expect(res.status).toBe(204);
    expect(scheduler.commandCalls(DeleteScheduleCommand).map((c) => c.args[0].input)).toEqual([
      { Name: 'sched-delete', GroupName: GROUP },
    ]);
    expect((await call('GET', '/environments/sched-delete')).status).toBe(404);
  });

  it('answers 404 for an environment that does not exist, touching no schedule', async () => {
    // Act
    const res = await call('DELETE', '/environments/sched-never');

    // Assert
    expect(res.status).toBe(404);
    expect(scheduler.calls()).toHaveLength(0);
  });
});

describe('a Scheduler failure', () => {
  it('leaves a new environment unstored and says so (502, naming the Scheduler error)', async () => {
    // Arrange
    scheduler.on(UpdateScheduleCommand).rejects(notFound());
    scheduler
      .on(CreateScheduleCommand)
      .rejects(
        new ThrottlingException({ message: 'Rate exceeded', Message: 'Rate exceeded', $metadata: {} }),
      );

    // Act
    const res = await call(
      'PUT',
      '/environments/sched-throttled',
      environment('sched-throttled', 'rate(1 hour)'),
    );

    // Assert
    expect(res.status).toBe(502);
    expect(res.headers['content-type']).toBe('application/problem+json');
    const body = JSON.parse(res.body) as { detail: string };
    expect(body.detail).toBe(
      `EventBridge Scheduler could not save the schedule of environment "sched-throttled" (group ${GROUP}): ThrottlingException: Rate exceeded; environment sched-throttled was not stored; try again`,
    );
    expect((await call('GET', '/environments/sched-throttled')).status).toBe(404);
  });

  it('leaves an existing environment as it was, schedule included', async () => {
    // Arrange
    scheduler.on(UpdateScheduleCommand).resolves({});
    await call('PUT', '/environments/sched-keep', environment('sched-keep', 'rate(1 hour)'));
    scheduler.reset();
    scheduler.on(UpdateScheduleCommand).rejects(new Error('socket hang up'));

    // Act
    const res = await call('PUT', '/environments/sched-keep', environment('sched-keep', 'rate(5 minutes)'));

    // Assert
    expect(res.status).toBe(502);
    expect(res.body).toContain('environment sched-keep was left as it was');
    expect((await store.getEnvironment('sched-keep')).environment.schedule).toBe('rate(1 hour)');
  });

  it('answers 422 naming the schedule field when Scheduler refuses the definition', async () => {
    // Arrange
    scheduler.on(UpdateScheduleCommand).rejects(
      new ValidationException({
        message: 'Invalid Schedule Expression at(2020-01-01T00:00:00).',
        Message: 'Invalid Schedule Expression at(2020-01-01T00:00:00).',
        $metadata: {},
      }),
    );

    // Act
    const res = await call(
      'PUT',
      '/environments/sched-past',
      environment('sched-past', 'at(2020-01-01T00:00:00)'),
    );

    // Assert
    expect(res.status).toBe(422);
    const body = JSON.parse(res.body) as { errors: Array<{ path: string; message: string }> };
    expect(body.errors).toEqual([
      {
        path: 'schedule',
        message: `EventBridge Scheduler could not save the schedule of environment "sched-past" (group ${GROUP}): ValidationException: Invalid Schedule Expression at(2020-01-01T00:00:00).`,
      },
    ]);
    expect((await call('GET', '/environments/sched-past')).status).toBe(404);
  });

  it('on DELETE keeps the environment (its schedule would otherwise start runs of nothing)', async () => {
    // Arrange
    scheduler.on(UpdateScheduleCommand).resolves({});
    await call('PUT', '/environments/sched-stays', environment('sched-stays', 'rate(1 hour)'));
    scheduler.on(DeleteScheduleCommand).rejects(new Error('AccessDeniedException: not authorized'));

    // Act
    const res = await call('DELETE', '/environments/sched-stays');

    // Assert
    expect(res.status).toBe(502);
    expect(res.body).toContain('environment sched-stays was not deleted');
    expect((await store.getEnvironment('sched-stays')).environment.schedule).toBe('rate(1 hour)');
  });
});

describe('a Scheduler failure and a store failure together', () => {
  it('says that the environment could not be put back, and what to do', async () => {
    // Arrange: the store refuses the undo (a new environment would be deleted again)
    scheduler.on(UpdateScheduleCommand).rejects(new Error('socket hang up'));
    const failingUndo: ApiDeps = {
      ...deps,
      store: Object.assign(Object.create(store) as DynamoResultStore, {
        deleteEnvironment: () => Promise.reject(new Error('ProvisionedThroughputExceededException')),
      }),
    };

    // Act
    const res = await call(
      'PUT',
      '/environments/sched-stuck',
      environment('sched-stuck', 'rate(1 hour)'),
      failingUndo,
    );

    // Assert
    expect(res.status).toBe(502);
    expect(JSON.parse(res.body).detail).toBe(
      `EventBridge Scheduler could not save the schedule of environment "sched-stuck" (group ${GROUP}): Error: socket hang up; ` +
        'the environment could not be put back as it was either (ProvisionedThroughputExceededException): PUT or DELETE it again; try again',
    );
  });
});

describe('local mode', () => {
  it('arms the in-process scheduler before PUT answers, and disarms it on DELETE', async () => {
    // Arrange: a refresh period far longer than the test, so only the API's call can make it read again
    const logs: string[] = [];
    const local = startScheduler({
      store,
      starter: { start: () => Promise.reject(new Error('not in this test')) },
      refreshMs: 3_600_000,
      log: (m) => logs.push(m),
    });
    await local.refresh();
    const localDeps: ApiDeps = { ...deps, mode: 'local', schedules: localSchedules(local) };

    try {
      // Act
      const put = await call(
        'PUT',
        '/environments/sched-local',
        environment('sched-local', 'rate(1 hour)'),
        localDeps,
      );
      const armed = [...logs];
      const del = await call('DELETE', '/environments/sched-local', undefined, localDeps);

      // Assert
      expect([put.status, del.status]).toEqual([200, 204]);
      expect(armed.some((m) => m.startsWith('environment sched-local: rate(1 hour), next run at'))).toBe(
        true,
      );
      expect(logs.at(-1)).toBe('environment sched-local: no longer scheduled');
      expect(scheduler.calls()).toHaveLength(0);
    } finally {
      await local.stop();
    }
  });
});
