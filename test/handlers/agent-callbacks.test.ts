import {
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  SFNClient,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { type RunningDynalite, startDynalite } from '../../lambdas/aws/dynalite';
import { DynamoAgentJobStore } from '../../lambdas/aws/dynamo-agent-jobs';
import { StepFunctionsCallbacks } from '../../lambdas/aws/sfn-callbacks';
import { ConflictError } from '../../lambdas/core/store';
import {
  AGENT_JOB_FAILED,
  AGENT_RESULTS_GRACE_SECONDS,
  type NewAgentJob,
} from '../../lambdas/core/agent/jobs';
import {
  type AgentApiDeps,
  type AgentRouteContext,
  failAgentJob,
  heartbeatAgentJob,
  pollAgentJob,
  postAgentResults,
  releaseAgentJob,
} from '../../lambdas/handlers/api/agent-routes';

// The agent routes as the deployed API wires them: the job store on the embedded DynamoDB and the callback
// adapter on a mocked Step Functions client (aws-sdk-client-mock). A job created with a task token completes
// its callback task on the last page and passes each heartbeat on; a job without one sends nothing.

const sfn = mockClient(SFNClient);
const T0 = new Date('2026-11-27T12:00:00.000Z');
const TOKEN = 'AQCEAAAAKgAAAAMAAAAAAAAAAeXample+token==';

let db: RunningDynalite;
let agents: AgentApiDeps;

beforeAll(async () => {
  db = await startDynalite();
  const callbacks = new StepFunctionsCallbacks(new SFNClient({ region: 'eu-west-1' }));
  agents = {
    jobs: new DynamoAgentJobStore(db.client, { tableName: db.tableName }),
    now: () => T0,
    onComplete: callbacks.onComplete,
    onHeartbeat: callbacks.onHeartbeat,
    onFail: callbacks.onFail,
  };
});
afterAll(() => db.close());
beforeEach(() => sfn.reset());

function newJob(vantage: string, taskToken?: string): NewAgentJob {
  return {
    checkId: '01M8F0000000000000000000AA',
    vantage,
    environmentName: 'wave',
    targets: [{ host: '10.20.0.5', ports: [22, 443] }],
    probe: { timeoutMs: 1000, concurrency: 16, retries: 1 },
    policy: { mode: 'aws', allowedTargetCidrs: ['10.20.0.0/16'] },
    deadline: new Date(T0.getTime() + 120_000).toISOString(),
    ...(taskToken ? { taskToken } : {}),
  };
}

const result = (port: number) => ({ host: '10.20.0.5', port, state: 'open', latencyMs: 1, attempts: 1 });

function ctx(vantage: string, jobId: string, body: unknown): AgentRouteContext {
  return {
    req: { query: {}, body: JSON.stringify(body) },
    params: { vantage, jobId },
    deps: { agents },
  };
}

async function takenJob(vantage: string, taskToken?: string) {
  const job = await agents.jobs.create(newJob(vantage, taskToken), T0);
  await agents.jobs.take(vantage, 'agent-1', T0, 30_000);
  return job;
}

describe('the agent routes in AWS (callback tasks)', () => {
  it("passes a heartbeat on to the job's callback task", async () => {
    // Arrange
    sfn.on(SendTaskHeartbeatCommand).resolves({});
    const job = await takenJob('hb', TOKEN);
    // Act
    const res = await heartbeatAgentJob(ctx('hb', job.jobId, { agent: 'agent-1' }));
    // Assert
    expect(res.status).toBe(200);
    expect(sfn.commandCalls(SendTaskHeartbeatCommand).map((c) => c.args[0].input)).toEqual([
      { taskToken: TOKEN },
    ]);
  });

  it('completes the callback task on the last page only, with where the results are', async () => {
    // Arrange
    sfn.on(SendTaskSuccessCommand).resolves({});
    const job = await takenJob('done', TOKEN);
    // Act
    const first = await postAgentResults(
      ctx('done', job.jobId, { agent: 'agent-1', page: 0, results: [result(22)], last: false }),
    );
    const callsAfterFirst = sfn.commandCalls(SendTaskSuccessCommand).length;
    const last = await postAgentResults(
      ctx('done', job.jobId, { agent: 'agent-1', page: 1, results: [result(443)], last: true }),
    );
    // Assert
    expect([first.status, last.status]).toEqual([200, 200]);
    expect(callsAfterFirst).toBe(0);
    const calls = sfn.commandCalls(SendTaskSuccessCommand).map((c) => c.args[0].input);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.taskToken).toBe(TOKEN);
    expect(JSON.parse(calls[0]!.output!)).toEqual({
      vantage: 'done',
      jobId: job.jobId,
      status: 'done',
      pages: 2,
    });
  });

  it('sends nothing for a job without a task token, nor on a release', async () => {
    // Arrange
    const local = await takenJob('local');
    const released = await takenJob('released', TOKEN);
    // Act
    await heartbeatAgentJob(ctx('local', local.jobId, { agent: 'agent-1' }));
    await postAgentResults(
      ctx('local', local.jobId, { agent: 'agent-1', page: 0, results: [result(22)], last: true }),
    );
    await releaseAgentJob(ctx('released', released.jobId, { agent: 'agent-1' }));
    // Assert
    expect(sfn.calls()).toHaveLength(0);
  });

  it('fails the callback task at once when the agent says it cannot run the job, with its reason as the cause', async () => {
    // Arrange
    sfn.on(SendTaskFailureCommand).resolves({});
    const job = await takenJob('cannot', TOKEN);
    const reason = 'the probe engine failed: EMFILE: too many open files';
    // Act
    const res = await failAgentJob(ctx('cannot', job.jobId, { agent: 'agent-1', reason }));
    // Assert
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ jobId: job.jobId, status: 'failed' });
    expect(sfn.commandCalls(SendTaskFailureCommand).map((c) => c.args[0].input)).toEqual([
      { taskToken: TOKEN, error: AGENT_JOB_FAILED, cause: reason },
    ]);
    expect(await agents.jobs.get('cannot', job.jobId)).toMatchObject({ status: 'failed', error: reason });
    // The job is closed: the agent can neither post to it nor fail it again, and nothing more is sent.
    await expect(failAgentJob(ctx('cannot', job.jobId, { agent: 'agent-1', reason }))).rejects.toThrow(
      ConflictError,
    );
    expect(sfn.commandCalls(SendTaskFailureCommand)).toHaveLength(1);
  });

  it('refuses a failure report without a reason, or from an agent that does not hold the job, naming what is wrong', async () => {
    // Arrange
    const job = await takenJob('cannot-bad', TOKEN);
    // Act
    const empty = await failAgentJob(
      ctx('cannot-bad', job.jobId, { agent: 'agent-1', reason: ' \u0007\t ' }),
    ).catch((err: { status: number; detail: string; errors: unknown }) => err);
    const other = failAgentJob(ctx('cannot-bad', job.jobId, { agent: 'agent-2', reason: 'no' }));
    // Assert
    expect(empty).toMatchObject({ status: 400 });
    expect(JSON.stringify(empty)).toContain('body.reason');
    await expect(other).rejects.toThrow(ConflictError);
    expect(sfn.calls()).toHaveLength(0);
  });

  it("asks for a heartbeat every third of the lease, or of the job's budget when shorter (the task's HeartbeatSeconds)", async () => {
    // Arrange: one job with the usual 120 s budget, one with 6 s.
    await agents.jobs.create(newJob('beat-long'), T0);
    await agents.jobs.create(
      { ...newJob('beat-short'), deadline: new Date(T0.getTime() + 6_000).toISOString() },
      T0,
    );
    const poll = (vantage: string) =>
      pollAgentJob({
        req: { query: { agent: 'agent-1', wait: '0' }, body: undefined },
        params: { vantage },
        deps: { agents },
      });
    // Act
    const long = JSON.parse((await poll('beat-long')).body) as { heartbeatMs: number; leaseMs: number };
    const short = JSON.parse((await poll('beat-short')).body) as { heartbeatMs: number };
    // Assert
    expect(long).toMatchObject({ leaseMs: 30_000, heartbeatMs: 10_000 });
    expect(short.heartbeatMs).toBe(2_000);
  });

  it('restarts the heartbeat clock when an agent takes the job', async () => {
    // Arrange
    sfn.on(SendTaskHeartbeatCommand).resolves({});
    await agents.jobs.create(newJob('taking', TOKEN), T0);
    // Act
    const res = await pollAgentJob({
      req: { query: { agent: 'agent-1', wait: '0' }, body: undefined },
      params: { vantage: 'taking' },
      deps: { agents },
    });
    // Assert
    expect(res.status).toBe(200);
    expect(sfn.commandCalls(SendTaskHeartbeatCommand).map((c) => c.args[0].input)).toEqual([
      { taskToken: TOKEN },
    ]);
  });

  it("takes the holder's results in the grace after the deadline, and refuses them after it", async () => {
    // Arrange: the job's deadline is T0 + 120 s.
    sfn.on(SendTaskSuccessCommand).resolves({});
    const inGrace = await takenJob('grace', TOKEN);
    const tooLate = await takenJob('grace-late', TOKEN);
    const at = (seconds: number) => ({ ...agents, now: () => new Date(T0.getTime() + seconds * 1000) });
    const post = (vantage: string, jobId: string, seconds: number) =>
      postAgentResults({
        ...ctx(vantage, jobId, { agent: 'agent-1', page: 0, results: [result(22)], last: true }),
        deps: { agents: at(seconds) },
      }).catch((err: { status: number; name: string }) => err);
    // Act
    const posted = await post('grace', inGrace.jobId, 120 + AGENT_RESULTS_GRACE_SECONDS - 1);
    const refused = await post('grace-late', tooLate.jobId, 120 + AGENT_RESULTS_GRACE_SECONDS + 1);
    // Assert
    expect(posted).toMatchObject({ status: 200 });
    expect(refused).toMatchObject({ status: 409 });
    expect(sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(1);
  });
});
