import { startDynalite, type RunningDynalite } from '../../lambdas/aws/dynalite';
import { DynamoAgentJobStore } from '../../lambdas/aws/dynamo-agent-jobs';
import { awaitAgentJob, type NewAgentJob } from '../../lambdas/core/agent/jobs';
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
    expect(results).toBeUndefined();
    expect((await jobs.get('nobody', job.jobId)).status).toBe('expired');
    expect(taken).toBeUndefined();
  });
});
