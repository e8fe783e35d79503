/**
 * The jobs of on-prem vantages ({@link AgentJobStore}) in the results table.
 *
 * | item         | PK                   | SK                | attributes                                              |
 * | ------------ | -------------------- | ----------------- | ------------------------------------------------------- |
 * | job          | `AGENT#<vantage>`    | `JOB#<jobId>`     | the job (`status`, `agentId`, `leaseUntil`, `pages`, …) |
 * | results page | `AGENTJOB#<jobId>`   | `PAGE#<000000n>`  | `data`: the page's results, compressed JSON (packed-json) |
 *
 * A vantage's jobs are one partition: an agent's poll is a Query of its own vantage's partition, so it can
 * never see another vantage's jobs, and every other call is keyed by vantage and job id. Taking a job is a
 * conditional update (still pending, or its lease expired), so two agents never hold the same job; heartbeats,
 * results and completion are conditional on the caller holding the lease. Items carry the TTL attribute.
 */
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { type AgentJob, type AgentJobStore, type NewAgentJob, newJobId } from '../core/agent/jobs';
import type { ProbeResult } from '../core/probe';
import { ConflictError, NotFoundError } from '../core/store';
import { TTL_ATTRIBUTE } from './dynamo-store';
import { packJson, unpackJson } from './packed-json';

const jobKey = (vantage: string, jobId: string) => ({ PK: `AGENT#${vantage}`, SK: `JOB#${jobId}` });
const pageKey = (jobId: string, page: number) => ({
  PK: `AGENTJOB#${jobId}`,
  SK: `PAGE#${String(page).padStart(7, '0')}`,
});

const isConditionFailure = (err: unknown) => (err as Error).name === 'ConditionalCheckFailedException';

function toJob(item: Record<string, unknown>): AgentJob {
  const { PK: _pk, SK: _sk, [TTL_ATTRIBUTE]: _ttl, ...job } = item;
  return job as unknown as AgentJob;
}

export class DynamoAgentJobStore implements AgentJobStore {
  private readonly tableName: string;
  /** Held polls of this process, woken when a job of their vantage is created or released here. */
  private readonly waiting = new Map<string, Set<() => void>>();
  private readonly ttlSeconds: number;

  constructor(
    private readonly client: DynamoDBDocumentClient,
    options: { tableName: string; ttlDays?: number },
  ) {
    this.tableName = options.tableName;
    this.ttlSeconds = (options.ttlDays ?? 7) * 86_400;
  }

  private expiresAt(now: Date) {
    return Math.floor(now.getTime() / 1000) + this.ttlSeconds;
  }

  async create(job: NewAgentJob, now: Date): Promise<AgentJob> {
    const created: AgentJob = {
      ...job,
      jobId: job.jobId ?? newJobId(now),
      status: 'pending',
      createdAt: now.toISOString(),
      pages: 0,
    };
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...jobKey(job.vantage, created.jobId), ...created, [TTL_ATTRIBUTE]: this.expiresAt(now) },
          ConditionExpression: 'attribute_not_exists(PK)',
        }),
      );
    } catch (err) {
      if (!isConditionFailure(err) || job.jobId === undefined) throw err;
      return this.renew(job.vantage, job.jobId, job.taskToken);
    }
    this.wake(job.vantage);
    return created;
  }

  /** The job exists already (created again with its id): it waits for the new task token, unless it is closed. */
  private async renew(vantage: string, jobId: string, taskToken: string | undefined): Promise<AgentJob> {
    if (taskToken === undefined) return this.get(vantage, jobId);
    try {
      const out = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: jobKey(vantage, jobId),
          UpdateExpression: 'SET taskToken = :token',
          ConditionExpression: '#status IN (:pending, :taken)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':token': taskToken, ':pending': 'pending', ':taken': 'taken' },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toJob(out.Attributes ?? {});
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
      return this.get(vantage, jobId);
    }
  }

  private wake(vantage: string): void {
    for (const w of this.waiting.get(vantage) ?? []) w();
  }

  waitForChange(vantage: string, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const set = this.waiting.get(vantage) ?? new Set<() => void>();
      this.waiting.set(vantage, set);
      const done = () => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0) this.waiting.delete(vantage);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  async get(vantage: string, jobId: string): Promise<AgentJob> {
    const out = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: jobKey(vantage, jobId), ConsistentRead: true }),
    );
    if (!out.Item) throw new NotFoundError(`no job ${jobId} for vantage ${vantage}`);
    return toJob(out.Item);
  }

  async take(vantage: string, agentId: string, now: Date, leaseMs: number): Promise<AgentJob | undefined> {
    const at = now.toISOString();
    let cursor: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'PK = :pk AND begins_with(SK, :job)',
          FilterExpression:
            '(#status = :pending OR (#status = :taken AND leaseUntil < :now)) AND deadline > :now',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':pk': `AGENT#${vantage}`,
            ':job': 'JOB#',
            ':pending': 'pending',
            ':taken': 'taken',
            ':now': at,
          },
          ConsistentRead: true,
          ...(cursor ? { ExclusiveStartKey: cursor } : {}),
        }),
      );
      for (const item of page.Items ?? []) {
        const job = toJob(item);
        try {
          const out = await this.client.send(
            new UpdateCommand({
              TableName: this.tableName,
              Key: jobKey(vantage, job.jobId),
              UpdateExpression: 'SET #status = :taken, agentId = :agent, leaseUntil = :lease',
              ConditionExpression:
                '(#status = :pending OR (#status = :taken AND leaseUntil < :now)) AND deadline > :now',
              ExpressionAttributeNames: { '#status': 'status' },
              ExpressionAttributeValues: {
                ':pending': 'pending',
                ':taken': 'taken',
                ':now': at,
                ':agent': agentId,
                ':lease': new Date(now.getTime() + leaseMs).toISOString(),
              },
              ReturnValues: 'ALL_NEW',
            }),
          );
          return toJob(out.Attributes ?? {});
        } catch (err) {
          // Another agent took it between the query and the update: try the next one.
          if (!isConditionFailure(err)) throw err;
        }
      }
      cursor = page.LastEvaluatedKey;
    } while (cursor);
    return undefined;
  }

  /** Updates a job the caller holds; a job that is gone or not the caller's is a NotFound or a Conflict. */
  private async held(
    vantage: string,
    jobId: string,
    agentId: string,
    update: string,
    values: Record<string, unknown>,
    names: Record<string, string> = {},
  ): Promise<AgentJob> {
    try {
      const out = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: jobKey(vantage, jobId),
          UpdateExpression: update,
          ConditionExpression: 'attribute_exists(PK) AND #status = :taken AND agentId = :agent',
          ExpressionAttributeNames: { '#status': 'status', ...names },
          ExpressionAttributeValues: { ':taken': 'taken', ':agent': agentId, ...values },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toJob(out.Attributes ?? {});
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
      const job = await this.get(vantage, jobId);
      throw new ConflictError(
        job.status === 'taken'
          ? `job ${jobId} is held by another agent (its lease moved on)`
          : `job ${jobId} is ${job.status}, not held by agent ${agentId}`,
      );
    }
  }

  heartbeat(vantage: string, jobId: string, agentId: string, now: Date, leaseMs: number): Promise<AgentJob> {
    return this.held(vantage, jobId, agentId, 'SET leaseUntil = :lease', {
      ':lease': new Date(now.getTime() + leaseMs).toISOString(),
    });
  }

  async putResults(
    vantage: string,
    jobId: string,
    agentId: string,
    page: number,
    results: readonly ProbeResult[],
    now: Date,
  ): Promise<void> {
    const job = await this.get(vantage, jobId);
    if (job.status !== 'taken' || job.agentId !== agentId) {
      throw new ConflictError(`job ${jobId} is ${job.status}, not held by agent ${agentId}`);
    }
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...pageKey(jobId, page), data: packJson(results), [TTL_ATTRIBUTE]: this.expiresAt(now) },
      }),
    );
  }

  complete(vantage: string, jobId: string, agentId: string, pages: number, now: Date): Promise<AgentJob> {
    return this.held(vantage, jobId, agentId, 'SET #status = :done, pages = :pages, completedAt = :now', {
      ':done': 'done',
      ':pages': pages,
      ':now': now.toISOString(),
    });
  }

  fail(vantage: string, jobId: string, agentId: string, reason: string, now: Date): Promise<AgentJob> {
    return this.held(
      vantage,
      jobId,
      agentId,
      'SET #status = :failed, #error = :reason, completedAt = :now',
      { ':failed': 'failed', ':reason': reason, ':now': now.toISOString() },
      { '#error': 'error' },
    );
  }

  async release(vantage: string, jobId: string, agentId: string): Promise<AgentJob> {
    const job = await this.held(
      vantage,
      jobId,
      agentId,
      'SET #status = :pending REMOVE agentId, leaseUntil',
      {
        ':pending': 'pending',
      },
    );
    this.wake(vantage);
    return job;
  }

  async expire(vantage: string, jobId: string): Promise<AgentJob> {
    try {
      const out = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: jobKey(vantage, jobId),
          UpdateExpression: 'SET #status = :expired',
          ConditionExpression: 'attribute_exists(PK) AND NOT (#status IN (:done, :failed))',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':expired': 'expired', ':done': 'done', ':failed': 'failed' },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toJob(out.Attributes ?? {});
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
      return this.get(vantage, jobId);
    }
  }

  async results(_vantage: string, jobId: string, pages: number): Promise<ProbeResult[]> {
    const out: ProbeResult[] = [];
    for (let page = 0; page < pages; page++) {
      const item = await this.client.send(
        new GetCommand({ TableName: this.tableName, Key: pageKey(jobId, page), ConsistentRead: true }),
      );
      const data = item.Item?.data as Uint8Array | undefined;
      if (data) out.push(...unpackJson<ProbeResult[]>(data));
    }
    return out;
  }
}
