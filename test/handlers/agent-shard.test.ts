import { SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoAgentJobStore } from '../../lambdas/aws/dynamo-agent-jobs';
import { StepFunctionsCallbacks } from '../../lambdas/aws/sfn-callbacks';
import { DynamoResultStore } from '../../lambdas/aws/dynamo-store';
import { DynamoRunData } from '../../lambdas/aws/dynamo-run-data';
import { type RunningDynalite, startDynalite } from '../../lambdas/aws/dynalite';
import { AGENT_JOB_FAILED, agentFailedReason } from '../../lambdas/core/agent/jobs';
import { queuedRun } from '../../lambdas/core/store';
import type { DeployedVantages } from '../../lambdas/handlers/settings';

// An on-prem vantage's shard as the state machine drives it in AWS (start → load → the callback task's `agent`
// step → the store step with the task's output or error), against the real embedded store: the wait is the
// environment's budget; a retried callback task makes no second job; a task that failed or timed out leaves the
// vantage's reason, except a job done after all, whose results are kept.

// The handler modules read their settings at import: set them first, then load the modules.
Object.assign(process.env, {
  AWS_REGION: 'eu-west-1',
  TABLE_NAME: 'not-used-by-these-tests',
  VANTAGES: '{}',
  ALLOWED_TARGET_CIDRS: '["10.0.0.0/8"]',
});
type StartModule = typeof import('../../lambdas/handlers/run/start');
type ShardModule = typeof import('../../lambdas/handlers/run/shard');

const SUBNET = 'subnet-0123456789abcdef0';
const SG = 'sg-0123456789abcdef0';
const deployed: DeployedVantages = { workers: { subnetIds: [SUBNET], securityGroupIds: [SG] } };
const DEPLOYMENT_BUDGET_MS = 240_000;
const overTheWire = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

let dyn: RunningDynalite;
let store: DynamoResultStore;
let data: DynamoRunData;
let jobs: DynamoAgentJobStore;
let start: StartModule['start'];
let shard: Pick<ShardModule, 'loadShard' | 'createAgentJob' | 'storeShard'>;

beforeAll(async () => {
  ({ start } = jest.requireActual<StartModule>('../../lambdas/handlers/run/start'));
  shard = jest.requireActual<ShardModule>('../../lambdas/handlers/run/shard');
  dyn = await startDynalite();
  store = new DynamoResultStore(dyn.client, { tableName: dyn.tableName });
  data = new DynamoRunData(dyn.client, { tableName: dyn.tableName });
  jobs = new DynamoAgentJobStore(dyn.client, { tableName: dyn.tableName });
});
afterAll(() => dyn.close());

const sfn = mockClient(SFNClient);
beforeEach(() => sfn.reset());
const callbacks = new StepFunctionsCallbacks(new SFNClient({ region: 'eu-west-1' }));
const agents = () => ({
  jobs,
  policy: { mode: 'aws' as const, allowedTargetCidrs: ['10.0.0.0/8'] },
  callbacks,
});

/**
 * Starts a run of an environment with an on-prem vantage (dc1 unless said; budget 20 s) and loads its shard. (A
 * test whose agent takes a job has a vantage of its own: an agent takes its vantage's oldest job.)
 */
async function agentShard(name: string, vantage = 'dc1') {
  const environment = {
    name,
    vantages: [
      { name: 'workers', roles: ['target-worker'], subnetIds: [SUBNET], securityGroupIds: [SG] },
      { name: vantage, placement: 'on-prem', roles: ['migration-appliance'], addresses: ['192.168.10.5'] },
    ],
    flows: [{ name: 'in', from: vantage, to: ['10.20.0.40'], ports: '443', placement: 'cloud' }],
    probe: { budgetSeconds: 20 },
  };
  const run = await store.createRun(queuedRun(name, 'api'));
  const out = await start(
    overTheWire({ checkId: run.checkId, environmentName: name, environment, trigger: 'api' }),
    { store, data, deployed, budgetMs: DEPLOYMENT_BUDGET_MS },
  );
  for (const n of out.shards) {
    const job = overTheWire(await shard.loadShard({ checkId: out.checkId, shard: n }, { data }));
    if (job.agent) return job;
  }
  throw new Error('no agent shard');
}

const storeWith = (job: object, outcome: object) =>
  shard.storeShard(overTheWire({ ...job, ...outcome }), { data, agents: agents() });

async function reasonOf(checkId: string, vantage: string) {
  const outcome = (await data.listShardOutcomes(checkId)).find((o) => o.vantage === vantage);
  return outcome && 'error' in outcome ? outcome.error : undefined;
}

describe("an on-prem vantage's shard in AWS", () => {
  it("waits the environment's budget: the item carries it for HeartbeatSecondsPath and TimeoutSecondsPath", async () => {
    // Act
    const job = await agentShard('cb-budget');
    const created = await shard.createAgentJob(job, 'token-1', { data, agents: agents() });
    // Assert: 20 s (the environment's), not the deployment's 240 s; the job's deadline is the shard's.
    expect(job).toMatchObject({ agent: true, agentWaitSeconds: 20, agentTimeoutSeconds: 80 });
    const stored = await jobs.get('dc1', created.jobId);
    expect(Date.parse(stored.deadline)).toBe(job.deadline);
  });

  it('makes one job when its callback task is retried; the job waits for the new token', async () => {
    // Arrange
    const job = await agentShard('cb-retry', 'dc-retry');
    // Act
    const first = await shard.createAgentJob(job, 'token-1', { data, agents: agents() });
    const again = await shard.createAgentJob(job, 'token-2', { data, agents: agents() });
    const taken = await jobs.take('dc-retry', 'agent-a', new Date(), 30_000);
    // Assert
    expect(again.jobId).toBe(first.jobId);
    expect(taken).toMatchObject({ jobId: first.jobId, taskToken: 'token-2' });
    expect(await jobs.take('dc-retry', 'agent-b', new Date(), 30_000)).toBeUndefined();
  });

  it("names the environment's seconds when the task times out, and closes the job", async () => {
    // Arrange
    const job = await agentShard('cb-timeout');
    const created = await shard.createAgentJob(job, 'token-1', { data, agents: agents() });
    // Act
    const summary = await storeWith(job, { error: { Error: 'States.HeartbeatTimeout', Cause: 'late' } });
    // Assert
    expect(summary.error).toBe('no agent for vantage dc1 reported within 20 s');
    expect(await reasonOf(job.checkId, 'dc1')).toBe('no agent for vantage dc1 reported within 20 s');
    expect((await jobs.get('dc1', created.jobId)).status).toBe('expired');
  });

  it('keeps the results of a job done after all when its task timed out (its completion reached no live task)', async () => {
    // Arrange: the agent completed the job before the retried task's token was stored.
    const job = await agentShard('cb-done-late', 'dc-late');
    const created = await shard.createAgentJob(job, 'token-1', { data, agents: agents() });
    await jobs.take('dc-late', 'agent-a', new Date(), 30_000);
    const open = { host: '10.20.0.40', port: 443, state: 'open' as const, latencyMs: 1, attempts: 1 };
    await jobs.putResults('dc-late', created.jobId, 'agent-a', 0, [open], new Date());
    await jobs.complete('dc-late', created.jobId, 'agent-a', 1, new Date());
    await shard.createAgentJob(job, 'token-2', { data, agents: agents() });
    // Act
    const summary = await storeWith(job, { error: { Error: 'States.HeartbeatTimeout' } });
    // Assert
    expect(summary.error).toBeUndefined();
    const outcome = (await data.listShardOutcomes(job.checkId)).find((o) => o.vantage === 'dc-late');
    expect(outcome && 'output' in outcome ? outcome.output.results : []).toEqual([open]);
  });

  it("keeps the agent's reason of a job failed before a retried task's token when that task times out", async () => {
    // Arrange
    const job = await agentShard('cb-failed-late', 'dc-failed');
    const created = await shard.createAgentJob(job, 'token-1', { data, agents: agents() });
    await jobs.take('dc-failed', 'agent-a', new Date(), 30_000);
    await jobs.fail('dc-failed', created.jobId, 'agent-a', 'every target is outside', new Date());
    await shard.createAgentJob(job, 'token-2', { data, agents: agents() });
    // Act
    const summary = await storeWith(job, { error: { Error: 'States.HeartbeatTimeout' } });
    // Assert
    expect(summary.error).toBe(agentFailedReason('dc-failed', 'every target is outside'));
  });

  it("turns the agent's SendTaskFailure into the vantage's reason", async () => {
    // Arrange
    const job = await agentShard('cb-failed');
    await shard.createAgentJob(job, 'token-1', { data, agents: agents() });
    const why = 'the probe engine failed: EMFILE: too many open files';
    // Act
    const summary = await storeWith(job, { error: { Error: AGENT_JOB_FAILED, Cause: why } });
    // Assert
    expect(summary.error).toBe(agentFailedReason('dc1', why));
    expect(await reasonOf(job.checkId, 'dc1')).toBe(
      'the agent for vantage dc1 could not run the job: the probe engine failed: EMFILE: too many open files',
    );
  });

  it('ends a retried task at once when its job was done or failed before the new token (mocked Step Functions)', async () => {
    // Arrange: one job done, one failed, each before its task's retry stored the new token.
    sfn.on(SendTaskSuccessCommand).resolves({});
    sfn.on(SendTaskFailureCommand).resolves({});
    const doneJob = await agentShard('cb-retry-done', 'dc-retry-done');
    const done = await shard.createAgentJob(doneJob, 'token-1', { data, agents: agents() });
    await jobs.take('dc-retry-done', 'agent-a', new Date(), 30_000);
    await jobs.complete('dc-retry-done', done.jobId, 'agent-a', 0, new Date());
    const failedJob = await agentShard('cb-retry-failed', 'dc-retry-failed');
    const failed = await shard.createAgentJob(failedJob, 'token-3', { data, agents: agents() });
    await jobs.take('dc-retry-failed', 'agent-b', new Date(), 30_000);
    await jobs.fail('dc-retry-failed', failed.jobId, 'agent-b', 'the probe engine failed', new Date());
    expect(sfn.calls()).toHaveLength(0);
    // Act
    await shard.createAgentJob(doneJob, 'token-2', { data, agents: agents() });
    await shard.createAgentJob(failedJob, 'token-4', { data, agents: agents() });
    // Assert: the live tasks' tokens, the same output and error the API would send.
    const successes = sfn.commandCalls(SendTaskSuccessCommand).map((c) => c.args[0].input);
    expect(successes).toEqual([{ taskToken: 'token-2', output: expect.any(String) }]);
    expect(JSON.parse(successes[0]!.output!)).toEqual({
      vantage: 'dc-retry-done',
      jobId: done.jobId,
      status: 'done',
      pages: 0,
    });
    expect(sfn.commandCalls(SendTaskFailureCommand).map((c) => c.args[0].input)).toEqual([
      { taskToken: 'token-4', error: AGENT_JOB_FAILED, cause: 'the probe engine failed' },
    ]);
  });

  it('sends nothing for a job still waiting when its task is retried', async () => {
    const job = await agentShard('cb-retry-quiet', 'dc-retry-quiet');
    await shard.createAgentJob(job, 'token-1', { data, agents: agents() });
    await shard.createAgentJob(job, 'token-2', { data, agents: agents() });
    expect(sfn.calls()).toHaveLength(0);
  });
});
