/**
 * The run's data between its steps, in the results table on real dynalite: plans with their shards, shard outcomes
 * and audits of any size (split into parts), never mixed with the run's findings.
 */
import { randomBytes } from 'node:crypto';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoResultStore } from '../../lambdas/aws/dynamo-store';
import { DynamoRunData, PART_BYTES } from '../../lambdas/aws/dynamo-run-data';
import { type RunningDynalite, startDynalite } from '../../lambdas/aws/dynalite';
import type { ShardJob } from '../../lambdas/core/run/run-data';
import { RunDataMissingError } from '../../lambdas/core/run/run-data';
import { queuedRun } from '../../lambdas/core/store';

let db: RunningDynalite;
let data: DynamoRunData;
beforeAll(async () => {
  db = await startDynalite();
  data = new DynamoRunData(db.client, { tableName: db.tableName, retentionDays: 1 });
});
afterAll(() => db.close());

const job = (vantage: string, n: number): ShardJob => ({
  vantage,
  targets: [{ host: `10.0.0.${n}`, ports: [22, 443] }],
  timeoutMs: 3000,
  concurrency: 256,
  retries: 2,
  budgetMs: 120_000,
});

describe('DynamoRunData', () => {
  it('keeps a plan and each of its shards, numbered from 1', async () => {
    // Arrange
    const checkId = queuedRun('wave', 'api').checkId;
    const shards = Array.from({ length: 30 }, (_, i) => job(i < 20 ? 'a' : 'b', i + 1));

    // Act
    await data.putPlan(checkId, { environment: { name: 'wave' }, shardCount: 30, probeFailures: [] }, shards);

    // Assert
    expect(await data.getPlan(checkId)).toEqual({
      environment: { name: 'wave' },
      shardCount: 30,
      probeFailures: [],
    });
    expect(await data.getShard(checkId, 1)).toEqual(shards[0]);
    expect(await data.getShard(checkId, 30)).toEqual(shards[29]);
    await expect(data.getShard(checkId, 31)).rejects.toThrow(RunDataMissingError);
    await expect(data.getPlan(queuedRun('wave', 'api').checkId)).rejects.toThrow(/has no stored plan/);
  });

  it('stores a value larger than one item in parts and reads it back whole', async () => {
    // Arrange: an audit whose compressed JSON is over two parts (random text does not compress).
    const checkId = queuedRun('wave', 'api').checkId;
    const audits = Array.from({ length: 900 }, (_, i) => ({
      flowId: `f-${i}`,
      note: randomBytes(600).toString('base64'),
    }));

    // Act
    await data.putAudit(checkId, { audits: audits as never });
    const page = await db.client.send(
      new QueryCommand({
        TableName: db.tableName,
        KeyConditionExpression: 'PK = :pk',
        ExpressionAttributeValues: { ':pk': `RUN#${checkId}` },
      }),
    );

    // Assert
    expect(page.Items!.length).toBeGreaterThanOrEqual(2);
    for (const item of page.Items!) expect((item.data as Uint8Array).length).toBeLessThanOrEqual(PART_BYTES);
    expect((await data.getAudit(checkId))?.audits).toEqual(audits);
    expect(await data.getAudit(queuedRun('wave', 'api').checkId)).toBeUndefined();
  });

  it('lists shard outcomes by shard, a retried store replacing the first, and never shows them as findings', async () => {
    // Arrange
    const store = new DynamoResultStore(db.client, { tableName: db.tableName });
    const run = await store.createRun(queuedRun('wave', 'api'));
    const output = (host: string) => ({
      vantage: 'a',
      durationMs: 5,
      results: [{ host, port: 22, state: 'filtered' as const, latencyMs: 1000, attempts: 2 }],
    });

    // Act
    await data.putShardOutcome(run.checkId, { shard: 2, vantage: 'a', error: 'Sandbox.Timedout' });
    await data.putShardOutcome(run.checkId, { shard: 1, vantage: 'a', output: output('10.0.0.1') });
    await data.putShardOutcome(run.checkId, { shard: 1, vantage: 'a', output: output('10.0.0.9') });

    // Assert
    expect(await data.listShardOutcomes(run.checkId)).toEqual([
      { shard: 1, vantage: 'a', output: output('10.0.0.9') },
      { shard: 2, vantage: 'a', error: 'Sandbox.Timedout' },
    ]);
    expect((await store.listFindings(run.checkId)).items).toEqual([]);
    expect((await store.getRun(run.checkId)).status).toBe('queued');
  });
});
