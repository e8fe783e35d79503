import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  type BatchWriteCommandInput,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import {
  BATCH_SIZE,
  DynamoResultStore,
  TABLE_DEFINITION,
  TTL_ATTRIBUTE,
} from '../../lambdas/aws/dynamo-store';
import { environmentSchema } from '../../lambdas/core/environment';
import { type CheckRun, type FindingRecord, newCheckId, StoreError } from '../../lambdas/core/store';

const TABLE = 'preflight-test';
const CREATED = '2026-03-01T00:00:00.000Z';

const ddb = mockClient(DynamoDBDocumentClient);
const client = DynamoDBDocumentClient.from(
  new DynamoDBClient({ region: 'eu-west-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } }),
);

const RUN: CheckRun = {
  checkId: newCheckId(new Date(CREATED)),
  environmentName: 'wave-1',
  trigger: 'schedule',
  status: 'running',
  createdAt: CREATED,
  counts: {},
  flowCount: 0,
};

function findings(n: number): FindingRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    checkId: RUN.checkId,
    environmentName: RUN.environmentName,
    flowId: `f-${i.toString(16).padStart(12, '0')}`,
    createdAt: CREATED,
    verdict: 'pass',
    cause: 'every port accepted a connection',
    direction: 'egress',
    source: 'vantage workers',
    destination: '10.20.0.15',
    protocol: 'tcp',
    ports: '443',
    requirements: ['rivermeadow-os/https'],
    optional: false,
  }));
}

/** A store whose waits are recorded, not slept. */
function storeWithRecordedWaits(maxAttempts = 4, retentionDays?: number) {
  const delays: number[] = [];
  const store = new DynamoResultStore(client, {
    tableName: TABLE,
    ...(retentionDays !== undefined ? { retentionDays } : {}),
    retry: {
      maxAttempts,
      baseDelayMs: 100,
      random: () => 0,
      sleep: async (ms) => {
        delays.push(ms);
      },
    },
  });
  return { store, delays };
}

type WriteRequests = NonNullable<BatchWriteCommandInput['RequestItems']>[string];
const requestsOf = (i: number): WriteRequests =>
  (ddb.commandCalls(BatchWriteCommand)[i]?.args[0].input.RequestItems?.[TABLE] ?? []) as WriteRequests;

beforeEach(() => {
  ddb.reset();
  ddb.on(GetCommand).resolves({ Item: { ...RUN, PK: `RUN#${RUN.checkId}`, SK: '#RUN', type: 'run' } });
  ddb.on(QueryCommand).resolves({ Items: [] });
  ddb.on(PutCommand).resolves({});
  ddb.on(DeleteCommand).resolves({});
  ddb.on(UpdateCommand).callsFake((input: { Key: { PK: string } }) =>
    input.Key.PK.startsWith('ENV#')
      ? {
          Attributes: {
            name: 'wave-1',
            environment: environment(),
            createdAt: CREATED,
            updatedAt: CREATED,
          },
        }
      : { Attributes: { ...RUN, status: 'succeeded' } },
  );
  ddb.on(BatchWriteCommand).resolves({});
});

function environment() {
  return environmentSchema.parse({
    name: 'wave-1',
    vantages: [{ name: 'workers', roles: ['target-worker'] }],
  });
}

describe('DynamoResultStore access patterns', () => {
  it('never sends a Scan: every listing is a Query with a key condition', async () => {
    // Arrange
    const { store } = storeWithRecordedWaits();

    // Act: every method of the interface.
    await store.putEnvironment(environment());
    await store.getEnvironment('wave-1').catch(() => undefined);
    await store.deleteEnvironment('wave-1');
    await store.listEnvironments();
    await store.createRun({ ...RUN, status: 'queued' });
    await store.updateRun(RUN.checkId, { status: 'succeeded' });
    await store.getRun(RUN.checkId);
    await store.putFindings(RUN.checkId, findings(3));
    await store.listFindings(RUN.checkId);
    await store.listRuns('wave-1');
    await store.listRuns('wave-1', { status: 'failed', since: CREATED });
    await store.flowHistory('wave-1', 'f-000000000001');
    await store.listStaleRuns(CREATED);

    // Assert
    expect(ddb.commandCalls(ScanCommand)).toHaveLength(0);
    const sent = new Set(ddb.calls().map((c) => (c.args[0] as object).constructor.name));
    expect([...sent].sort()).toEqual(
      [
        'BatchWriteCommand',
        'DeleteCommand',
        'GetCommand',
        'PutCommand',
        'QueryCommand',
        'UpdateCommand',
      ].sort(),
    );
    const queries = ddb.commandCalls(QueryCommand).map((c) => c.args[0].input as QueryCommandInput);
    expect(queries).toHaveLength(6);
    for (const q of queries) {
      expect(q.KeyConditionExpression).toMatch(/^#pk = :pk/);
      expect(q.FilterExpression).toBeUndefined();
      expect(q.TableName).toBe(TABLE);
    }
    expect(queries.map((q) => q.IndexName)).toEqual(['GSI1', undefined, 'GSI1', 'GSI2', 'GSI1', 'GSI3']);
    expect(queries.map((q) => q.ExpressionAttributeValues?.[':pk'])).toEqual([
      'ENVS',
      `RUN#${RUN.checkId}`,
      'ENV#wave-1#RUNS',
      'ENV#wave-1#STATUS#failed',
      'ENV#wave-1#FLOW#f-000000000001',
      'OPEN',
    ]);
  });

  it('puts an expiresAt (epoch seconds) on runs and findings for the TTL', async () => {
    const { store } = storeWithRecordedWaits(4, 7);

    await store.createRun({ ...RUN, status: 'queued' });
    await store.putFindings(RUN.checkId, findings(1));

    const expected = Date.parse(CREATED) / 1000 + 7 * 86_400;
    expect(ddb.commandCalls(PutCommand)[0]?.args[0].input.Item?.[TTL_ATTRIBUTE]).toBe(expected);
    expect(requestsOf(0)[0]?.PutRequest?.Item?.[TTL_ATTRIBUTE]).toBe(expected);
  });

  it('closing a run removes it from the sparse stale-run index and moves it to its new status', async () => {
    const { store } = storeWithRecordedWaits();

    await store.updateRun(RUN.checkId, { status: 'failed', reason: 'the auditor failed' });

    const input = ddb.commandCalls(UpdateCommand)[0]?.args[0].input;
    expect(input?.UpdateExpression).toMatch(/REMOVE GSI3PK, GSI3SK$/);
    expect(input?.ConditionExpression).toBe('attribute_exists(PK) AND #status = :current');
    expect(input?.ExpressionAttributeValues).toMatchObject({
      ':current': 'running',
      ':g2pk': 'ENV#wave-1#STATUS#failed',
    });
  });

  it('exports one table definition with the three indexes the queries use', () => {
    expect(TABLE_DEFINITION.KeySchema).toEqual([
      { AttributeName: 'PK', KeyType: 'HASH' },
      { AttributeName: 'SK', KeyType: 'RANGE' },
    ]);
    expect(TABLE_DEFINITION.GlobalSecondaryIndexes?.map((g) => g.IndexName)).toEqual([
      'GSI1',
      'GSI2',
      'GSI3',
    ]);
    expect(TABLE_DEFINITION.AttributeDefinitions?.every((a) => a.AttributeType === 'S')).toBe(true);
  });
});

describe('DynamoResultStore batch writes', () => {
  it(`writes findings in batches of ${BATCH_SIZE}`, async () => {
    const { store } = storeWithRecordedWaits();

    await store.putFindings(RUN.checkId, findings(60));

    const sizes = ddb
      .commandCalls(BatchWriteCommand)
      .map((c) => c.args[0].input.RequestItems?.[TABLE]?.length);
    expect(sizes.sort()).toEqual([10, 25, 25]);
  });

  it('retries UnprocessedItems with growing waits until none is left', async () => {
    // Arrange: DynamoDB leaves 5 items, then 2, then writes the rest.
    const { store, delays } = storeWithRecordedWaits(6);
    const all = findings(20);
    ddb
      .on(BatchWriteCommand)
      .resolvesOnce({ UnprocessedItems: { [TABLE]: unprocessed(all.slice(0, 5)) } })
      .resolvesOnce({ UnprocessedItems: { [TABLE]: unprocessed(all.slice(0, 2)) } })
      .resolves({ UnprocessedItems: {} });

    // Act
    await store.putFindings(RUN.checkId, all);

    // Assert
    expect(ddb.commandCalls(BatchWriteCommand)).toHaveLength(3);
    expect(requestsOf(0)).toHaveLength(20);
    expect(requestsOf(1).map((r) => r.PutRequest?.Item?.flowId)).toEqual(
      all.slice(0, 5).map((f) => f.flowId),
    );
    expect(requestsOf(2)).toHaveLength(2);
    expect(delays).toEqual([50, 100]);
  });

  it('retries a throttled batch, then succeeds', async () => {
    const { store, delays } = storeWithRecordedWaits();
    ddb
      .on(BatchWriteCommand)
      .rejectsOnce(
        Object.assign(new Error('Rate of requests exceeds the allowed throughput.'), {
          name: 'ProvisionedThroughputExceededException',
        }),
      )
      .resolves({});

    await store.putFindings(RUN.checkId, findings(3));

    expect(ddb.commandCalls(BatchWriteCommand)).toHaveLength(2);
    expect(delays).toEqual([50]);
  });

  it('gives up with a clear error after the last attempt', async () => {
    // Arrange: two items are never processed.
    const { store, delays } = storeWithRecordedWaits(4);
    const all = findings(25);
    ddb.on(BatchWriteCommand).resolves({ UnprocessedItems: { [TABLE]: unprocessed(all.slice(0, 2)) } });

    // Act
    const result = store.putFindings(RUN.checkId, all);

    // Assert
    await expect(result).rejects.toThrow(StoreError);
    await expect(result).rejects.toThrow(
      new RegExp(
        `BatchWriteItem left 2 of 25 items \\(findings of run ${RUN.checkId}\\) unprocessed after 4 attempts`,
      ),
    );
    expect(ddb.commandCalls(BatchWriteCommand)).toHaveLength(4);
    expect(delays).toEqual([50, 100, 200]);
  });

  it('does not retry other errors, and names the table when it is missing', async () => {
    const { store } = storeWithRecordedWaits();
    ddb
      .on(BatchWriteCommand)
      .rejects(
        Object.assign(new Error('Requested resource not found'), { name: 'ResourceNotFoundException' }),
      );

    await expect(store.putFindings(RUN.checkId, findings(1))).rejects.toThrow(
      /the table preflight-test does not exist/,
    );
    expect(ddb.commandCalls(BatchWriteCommand)).toHaveLength(1);
  });
});

function unprocessed(items: FindingRecord[]) {
  return items.map((f) => ({
    PutRequest: { Item: { ...f, PK: `RUN#${f.checkId}`, SK: `FLOW#${f.flowId}` } },
  }));
}
