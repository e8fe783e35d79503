import { startDynalite, type RunningDynalite } from '../../lambdas/aws/dynalite';
import { DynamoAgentJobStore } from '../../lambdas/aws/dynamo-agent-jobs';
import { agentJobId, awaitAgentJob, type NewAgentJob } from '../../lambdas/core/agent/jobs';
import { checkIdSchema } from '../../lambdas/core/store';
import { ConflictError, NotFoundError } from '../../lambdas/core/store';

// The agent job store against the embedded DynamoDB: leases, takeover after a missed heartbeat, release,
// expiry racing completion, results in pages.

let db: RunningDynalite;
let jobs: DynamoAgentJobStore;

beforeAll(async () => {
  db = await startDynalite();
  jobs = new DynamoAgentJobStore(db.client, { tableName: db.tableName });
});
afterAll(() => db.close());

const T0 = new Date('2026-11-27T12:00:00.000Z');
const at = (s: number) => new Date(T0.getTime() + s * 1000);

function newJob(vantage: string, deadline = at(120)): NewAgentJob {
  return {
    checkId: '01M8F0000000000000000000AA',
    vantage,
    environmentName: 'wave',
    targets: [{ host: '10.20.0.5', ports: [22, 443] }],
    probe: { timeoutMs: 1000, concurrency: 16, retries: 1 },
    policy: { mode: 'aws', allowedTargetCidrs: ['10.20.0.0/16'] },
    deadline: deadline.toISOString(),
  };
}

const result = (port: number) => ({
  host: '10.20.0.5',
  port,
  state: 'open' as const,
  latencyMs: 1,
  attempts: 1,
});

describe('DynamoAgentJobStore', () => {
  it('leases a job to one agent; after a missed heartbeat another agent takes it and the first is refused', async () => {
    // Arrange
    const job = await jobs.create(newJob('lease'), at(0));
    // Act
    const a = await jobs.take('lease', 'agent-a', at(1), 30_000);
    const none = await jobs.take('lease', 'agent-b', at(10), 30_000);
    const b = await jobs.take('lease', 'agent-b', at(32), 30_000);
    // Assert
    expect(a).toMatchObject({ jobId: job.jobId, status: 'taken', agentId: 'agent-a' });
    expect(none).toBeUndefined();
    expect(b).toMatchObject({ jobId: job.jobId, agentId: 'agent-b' });
    await expect(jobs.heartbeat('lease', job.jobId, 'agent-a', at(33), 30_000)).rejects.toThrow(
      ConflictError,
    );
    await expect(jobs.putResults('lease', job.jobId, 'agent-a', 0, [result(22)], at(33))).rejects.toThrow(
      ConflictError,
    );
  });

  it('gives a released job to the next agent, never one past its deadline, never another vantage', async () => {
    // Arrange
    const job = await jobs.create(newJob('release'), at(0));
    // Created later (the oldest job is taken first), and due before the next agent comes.
    await jobs.create(newJob('release', at(5)), at(0.5));
    await jobs.take('release', 'agent-a', at(1), 30_000);
    // Act
    await jobs.release('release', job.jobId, 'agent-a');
    const other = await jobs.take('release-x', 'agent-x', at(2), 30_000);
    const next = await jobs.take('release', 'agent-b', at(10), 30_000);
    const late = await jobs.take('release', 'agent-c', at(10), 30_000);
    // Assert
    expect(other).toBeUndefined();
    expect(next).toMatchObject({ jobId: job.jobId, agentId: 'agent-b' });
    expect(late).toBeUndefined();
    await expect(jobs.get('release-x', job.jobId)).rejects.toThrow(NotFoundError);
  });

  it('keeps the results of a completed job in page order; expiring it then changes nothing', async () => {
    // Arrange
    const job = await jobs.create(newJob('pages'), at(0));
    await jobs.take('pages', 'agent-a', at(1), 30_000);
    // Act
    await jobs.putResults('pages', job.jobId, 'agent-a', 1, [result(443)], at(2));
    await jobs.putResults('pages', job.jobId, 'agent-a', 0, [result(22)], at(2));
    const done = await jobs.complete('pages', job.jobId, 'agent-a', 2, at(3));
    const expired = await jobs.expire('pages', job.jobId);
    // Assert
    expect(done).toMatchObject({ status: 'done', pages: 2 });
    expect(expired.status).toBe('done');
    expect((await jobs.results('pages', job.jobId, 2)).map((r) => r.port)).toEqual([22, 443]);
  });

  it('a run waiting for a job nobody takes expires it at the deadline, after which no agent can take it', async () => {
    // Arrange
    const job = await jobs.create(newJob('nobody', new Date(Date.now() + 60_000)), new Date());
    // Act
    const results = await awaitAgentJob(jobs, job, Date.now() + 300, { pollMs: 50 });
    const taken = await jobs.take('nobody', 'agent-late', new Date(), 30_000);
    // Assert
    expect(results).toEqual({ timedOut: true });
    expect((await jobs.get('nobody', job.jobId)).status).toBe('expired');
    expect(taken).toBeUndefined();
  });
});

describe('a run waiting for a job an agent holds at the deadline', () => {
  it('takes the pages the agent posts in the minute after it', async () => {
    // Arrange: the job's deadline is 300 ms away; its agent takes it and posts after the deadline.
    const deadline = Date.now() + 300;
    const job = await jobs.create(newJob('late-pages', new Date(deadline)), new Date());
    await jobs.take('late-pages', 'agent-a', new Date(), 30_000);
    // Act
    const waiting = awaitAgentJob(jobs, job, deadline, { pollMs: 50 });
    await new Promise((resolve) => setTimeout(resolve, 800));
    await jobs.putResults('late-pages', job.jobId, 'agent-a', 0, [result(22)], new Date());
    await jobs.complete('late-pages', job.jobId, 'agent-a', 1, new Date());
    const waited = await waiting;
    // Assert
    expect(waited).toEqual({ results: [result(22)] });
  });
});

describe('a job its agent cannot run', () => {
  it('is closed failed with the reason, which the waiting run gets at once; it can no longer expire', async () => {
    // Arrange
    const job = await jobs.create(newJob('cannot', new Date(Date.now() + 60_000)), new Date());
    await jobs.take('cannot', 'agent-a', new Date(), 30_000);
    // Act
    const failed = await jobs.fail('cannot', job.jobId, 'agent-a', 'every target is outside', new Date());
    const started = Date.now();
    const waited = await awaitAgentJob(jobs, job, Date.now() + 30_000, { pollMs: 50 });
    // Assert
    expect(failed).toMatchObject({ status: 'failed', error: 'every target is outside' });
    expect(waited).toEqual({ failed: 'every target is outside' });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await jobs.expire('cannot', job.jobId)).status).toBe('failed');
    await expect(jobs.fail('cannot', job.jobId, 'agent-a', 'again', new Date())).rejects.toThrow(
      ConflictError,
    );
  });
});

describe('a job created again with its id (a retried callback task, an invoke delivered again)', () => {
  const CHECK = '01M8F0000000000000000000AA';
  const retried = (vantage: string, taskToken: string): NewAgentJob => ({
    ...newJob(vantage),
    jobId: agentJobId(CHECK, vantage, 3),
    taskToken,
  });

  it('derives one job id per run, vantage and shard, in the shape of every job id', () => {
    const id = agentJobId(CHECK, 'dc1', 3);
    expect(agentJobId(CHECK, 'dc1', 3)).toBe(id);
    expect(checkIdSchema.safeParse(id).success).toBe(true);
    expect(id.slice(0, 10)).toBe(CHECK.slice(0, 10));
    expect(new Set([id, agentJobId(CHECK, 'dc2', 3), agentJobId(CHECK, 'dc1', 4)]).size).toBe(3);
  });

  it('makes no second job: the pending one waits for the new token', async () => {
    // Arrange
    const first = await jobs.create(retried('retry-pending', 'token-1'), at(0));
    // Act
    const second = await jobs.create(retried('retry-pending', 'token-2'), at(5));
    const taken = await jobs.take('retry-pending', 'agent-a', at(6), 30_000);
    const another = await jobs.take('retry-pending', 'agent-b', at(6), 30_000);
    // Assert: one job, created once, now with the live task's token.
    expect(second).toMatchObject({ jobId: first.jobId, status: 'pending', taskToken: 'token-2' });
    expect(second.createdAt).toBe(first.createdAt);
    expect(taken).toMatchObject({ jobId: first.jobId, taskToken: 'token-2' });
    expect(another).toBeUndefined();
  });

  it('leaves a taken job with its agent, whose heartbeat and completion then carry the new token', async () => {
    // Arrange
    const job = await jobs.create(retried('retry-taken', 'token-1'), at(0));
    await jobs.take('retry-taken', 'agent-a', at(1), 30_000);
    // Act
    const renewed = await jobs.create(retried('retry-taken', 'token-2'), at(2));
    const beat = await jobs.heartbeat('retry-taken', job.jobId, 'agent-a', at(3), 30_000);
    await jobs.putResults('retry-taken', job.jobId, 'agent-a', 0, [result(22)], at(4));
    const done = await jobs.complete('retry-taken', job.jobId, 'agent-a', 1, at(4));
    // Assert
    expect(renewed).toMatchObject({ status: 'taken', agentId: 'agent-a', taskToken: 'token-2' });
    expect(beat.taskToken).toBe('token-2');
    expect(done).toMatchObject({ status: 'done', taskToken: 'token-2' });
  });

  it('returns a job already done as it is', async () => {
    // Arrange
    const job = await jobs.create(retried('retry-done', 'token-1'), at(0));
    await jobs.take('retry-done', 'agent-a', at(1), 30_000);
    await jobs.complete('retry-done', job.jobId, 'agent-a', 0, at(2));
    // Act
    const again = await jobs.create(retried('retry-done', 'token-2'), at(3));
    // Assert
    expect(again).toMatchObject({ jobId: job.jobId, status: 'done', taskToken: 'token-1' });
  });
});
