import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { EC2Client } from '@aws-sdk/client-ec2';
import { DynamoIdempotencyCache } from '../../lambdas/aws/dynamo-idempotency';
import { DynamoAgentJobStore } from '../../lambdas/aws/dynamo-agent-jobs';
import { DynamoRunData } from '../../lambdas/aws/dynamo-run-data';
import { mockTheVpc } from '../support/ec2-vpc';
import { DynamoResultStore } from '../../lambdas/aws/dynamo-store';
import { type RunningDynalite, startDynalite } from '../../lambdas/aws/dynalite';
import { StepFunctionsStarter } from '../../lambdas/aws/step-functions';
import { defaultCatalog } from '../../lambdas/core/catalog';
import { parseEnvironment } from '../../lambdas/core/environment';
import { queuedRun } from '../../lambdas/core/store';
import { handleRequest } from '../../lambdas/handlers/api/router';
import { TABLE_ACCESS } from '../../lib/function';

// Issue 11 item 10: each function is granted exactly the DynamoDB actions its code sends. The code of each
// function runs here against the real embedded store through a client that records every command it sends; what
// it sent must equal the grant of lib/function.ts's TABLE_ACCESS (a missing grant, or one the code never uses,
// fails).

Object.assign(process.env, {
  AWS_REGION: 'eu-west-1',
  TABLE_NAME: 'not-used-by-these-tests',
  VANTAGES: '{}',
  ALLOWED_TARGET_CIDRS: '["10.0.0.0/8"]',
  EVENT_BUS_NAME: 'not-used-by-these-tests',
});
type StartModule = typeof import('../../lambdas/handlers/run/start');
type FinishModule = typeof import('../../lambdas/handlers/run/finish');
type FailModule = typeof import('../../lambdas/handlers/run/fail');
type ShardModule = typeof import('../../lambdas/handlers/run/shard');
type AuditModule = typeof import('../../lambdas/handlers/run/audit');

let dyn: RunningDynalite;
const SUBNET = 'subnet-0a1b2c3d4e5f60001'; // the fixture VPC's (test/support/ec2-vpc.ts)
const SG = 'sg-0a1b2c3d4e5f60aa1';
const deployed = { workers: { subnetIds: [SUBNET], securityGroupIds: [SG] } };

/** A store (and idempotency cache) whose every DynamoDB command is recorded as its IAM action. */
function recording() {
  const sent = new Set<string>();
  const base = new DynamoDBClient({
    endpoint: dyn.endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  base.middlewareStack.add(
    (next, context) => async (args) => {
      sent.add(`dynamodb:${String(context.commandName).replace(/Command$/, '')}`);
      return next(args);
    },
    { step: 'initialize', name: 'recordAction' },
  );
  const client = DynamoDBDocumentClient.from(base, { marshallOptions: { removeUndefinedValues: true } });
  return {
    sent,
    client,
    store: new DynamoResultStore(client, { tableName: dyn.tableName }),
    data: new DynamoRunData(client, { tableName: dyn.tableName }),
    actions: () => [...sent].sort(),
  };
}

const environment = (name: string) => ({
  name,
  vantages: [
    { name: 'workers', roles: ['target-worker'], subnetIds: [SUBNET], securityGroupIds: [SG] },
    { name: 'dc1', placement: 'on-prem', roles: ['migration-appliance'], addresses: ['192.168.10.5'] },
  ],
  flows: [
    { name: 'db', from: 'workers', to: ['10.20.0.40'], ports: '1433' },
    { name: 'in', from: 'dc1', to: ['10.20.0.40'], ports: '443', placement: 'cloud' },
  ],
});

beforeAll(async () => {
  dyn = await startDynalite();
});
afterAll(async () => {
  await dyn.close();
});

const plain = () => new DynamoResultStore(dyn.client, { tableName: dyn.tableName });
const granted = (fn: keyof typeof TABLE_ACCESS) => [...TABLE_ACCESS[fn]].sort();

describe('the DynamoDB actions each function really sends', () => {
  it('api: every route, the Step Functions starter (including a failed start) and Idempotency-Keys', async () => {
    // Arrange
    const rec = recording();
    const sfn = mockClient(SFNClient);
    sfn.on(StartExecutionCommand).resolvesOnce({}).rejects(new Error('throttled'));
    const deps = {
      store: rec.store,
      catalog: defaultCatalog(),
      starter: new StepFunctionsStarter(
        new SFNClient({ region: 'eu-west-1' }),
        rec.store,
        'arn:aws:states:eu-west-1:123456789012:stateMachine:x',
      ),
      mode: 'aws' as const,
      allowedTargetCidrs: ['10.0.0.0/8'],
      idempotency: new DynamoIdempotencyCache(rec.client, { tableName: dyn.tableName }),
      resolve: async () => ['10.20.0.40'],
    };
    const call = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
      handleRequest(
        {
          method,
          path: path.split('?')[0] as string,
          query: Object.fromEntries(new URLSearchParams(path.split('?')[1] ?? '')),
          headers: { 'content-type': 'application/json', ...headers },
          body: body === undefined ? undefined : JSON.stringify(body),
        },
        deps,
        () => undefined, // the failed start's 500 is expected here
      );

    // Act
    expect((await call('PUT', '/environments/acc-api', environment('acc-api'))).status).toBe(200);
    expect((await call('GET', '/environments/acc-api')).status).toBe(200);
    expect((await call('GET', '/environments')).status).toBe(200);
    const started = await call(
      'POST',
      '/checks',
      { environmentName: 'acc-api' },
      { 'idempotency-key': 'k1' },
    );
    expect(started.status).toBe(202);
    const checkId = (JSON.parse(started.body) as { checkId: string }).checkId;
    expect(
      (await call('POST', '/checks', { environmentName: 'acc-api' }, { 'idempotency-key': 'k2' })).status,
    ).toBe(500);
    expect((await call('GET', `/checks/${checkId}`)).status).toBe(200);
    expect((await call('GET', '/checks?environment=acc-api')).status).toBe(200);
    expect((await call('GET', `/checks/${checkId}/report?format=json`)).status).toBe(200);
    expect((await call('GET', '/environments/acc-api/flows/f-0000000000000000/history')).status).toBe(200);
    expect((await call('DELETE', '/environments/acc-api')).status).toBe(204);
    sfn.restore();

    // Assert
    expect(rec.actions()).toEqual(granted('api'));
  });

  it('start, shard, audit, finish and fail: both start paths, a retried start, every shard, two finishes (compared) and a fail', async () => {
    // Arrange
    const { start } = jest.requireActual<StartModule>('../../lambdas/handlers/run/start');
    const { loadShard, storeShard, createAgentJob } = jest.requireActual<ShardModule>(
      '../../lambdas/handlers/run/shard',
    );
    const { audit } = jest.requireActual<AuditModule>('../../lambdas/handlers/run/audit');
    const { finish } = jest.requireActual<FinishModule>('../../lambdas/handlers/run/finish');
    const { fail } = jest.requireActual<FailModule>('../../lambdas/handlers/run/fail');
    const starting = recording();
    const sharding = recording();
    const auditing = recording();
    const finishing = recording();
    const failing = recording();
    mockTheVpc(mockClient(EC2Client));
    const ec2 = new EC2Client({ region: 'eu-west-1' });
    await plain().putEnvironment(parseEnvironment(environment('acc-run'), defaultCatalog()));
    const events = { emit: () => undefined };
    // The on-prem vantage's shard: its callback task stores the agent's job; the agent (through the API, its own
    // table access) completes it on the first run; on the second no agent comes and the task times out.
    const agentsOfShard = {
      jobs: new DynamoAgentJobStore(sharding.client, { tableName: dyn.tableName }),
      policy: { mode: 'aws' as const, allowedTargetCidrs: ['10.0.0.0/8'] },
    };
    const api = new DynamoAgentJobStore(dyn.client, { tableName: dyn.tableName });
    let agentComes = true;
    const runOnce = async () => {
      const queued = await plain().createRun(queuedRun('acc-run', 'api', new Date()));
      const input = {
        checkId: queued.checkId,
        environmentName: 'acc-run',
        environment: environment('acc-run'),
        trigger: 'api',
      };
      const out = await start(input, {
        store: starting.store,
        data: starting.data,
        deployed,
        budgetMs: 60_000,
      });
      for (const shard of out.shards) {
        const job = await loadShard({ checkId: out.checkId, shard }, { data: sharding.data });
        if (job.agent) {
          const created = await createAgentJob(job, 'token', { data: sharding.data, agents: agentsOfShard });
          // A retried callback task: the same job, waiting for the new token.
          await createAgentJob(job, 'token-2', { data: sharding.data, agents: agentsOfShard });
          if (agentComes) {
            await api.take(created.vantage, 'agent-1', new Date(), 30_000);
            await api.putResults(
              created.vantage,
              created.jobId,
              'agent-1',
              0,
              [{ host: '10.20.0.40', port: 443, state: 'open', latencyMs: 1, attempts: 1 }],
              new Date(),
            );
            await api.complete(created.vantage, created.jobId, 'agent-1', 1, new Date());
          }
          const outcome = agentComes
            ? { agentJob: { ...created, status: 'done', pages: 1 } }
            : { error: { Error: 'States.HeartbeatTimeout' } };
          await storeShard(JSON.parse(JSON.stringify({ ...job, ...outcome })), {
            data: sharding.data,
            agents: agentsOfShard,
          });
          continue;
        }
        const results = job.targets.flatMap((t) =>
          t.ports.map((port) => ({
            host: t.host,
            address: t.host,
            port,
            state: 'open',
            latencyMs: 1,
            attempts: 1,
          })),
        );
        await storeShard(
          JSON.parse(JSON.stringify({ ...job, probe: { vantage: job.vantage, durationMs: 1, results } })),
          { data: sharding.data },
        );
      }
      const audited = await audit({ checkId: out.checkId }, { ec2, data: auditing.data });
      await finish({ ...out, audit: audited }, { store: finishing.store, data: finishing.data, events });
      return out.checkId;
    };

    // Act
    const first = await runOnce();
    agentComes = false;
    await runOnce();
    // the schedule path creates its run; a start of a closed run fails and closes it through failStep
    await start(
      { environmentName: 'acc-run', trigger: 'schedule' },
      { store: starting.store, data: starting.data, deployed, budgetMs: 60_000 },
    );
    await expect(
      start(
        { checkId: first, environmentName: 'acc-run', trigger: 'api' },
        { store: starting.store, data: starting.data, deployed, budgetMs: 60_000 },
      ),
    ).rejects.toThrow();
    const open = await plain().createRun(queuedRun('acc-run', 'api', new Date()));
    await fail(
      { checkId: open.checkId, error: { Error: 'States.Timeout', Cause: 'too slow' } },
      { store: failing.store },
    );

    // Assert
    expect(starting.actions()).toEqual(granted('start'));
    expect(sharding.actions()).toEqual(granted('shard'));
    expect(auditing.actions()).toEqual(granted('audit'));
    expect(finishing.actions()).toEqual(granted('finish'));
    expect(failing.actions()).toEqual(granted('fail'));
  });
});
