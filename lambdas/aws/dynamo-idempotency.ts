import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { IdempotencyCache, IdempotentEntry } from '../handlers/api/router';
import { ConflictError } from '../core/store';

/**
 * `Idempotency-Key`s in the results table, so that every process and Lambda container behind the API
 * agrees on which run a key started.
 *
 * Item: `PK = IDEM#<key>`, `SK = #IDEM`, with `state` (`pending` while the run is being created, then
 * `done`), `checkId`, `fingerprint` and the TTL attribute `expiresAt` (a key is remembered for a day). A
 * request first claims the key with a conditional put, so two concurrent retries never start two runs;
 * the loser waits for the winner's result.
 */
export class DynamoIdempotencyCache implements IdempotencyCache {
  private readonly tableName: string;
  private readonly ttlSeconds: number;
  private readonly waitMs: number;

  constructor(
    private readonly client: DynamoDBDocumentClient,
    options: { tableName: string; ttlSeconds?: number; waitMs?: number },
  ) {
    this.tableName = options.tableName;
    this.ttlSeconds = options.ttlSeconds ?? 86_400;
    this.waitMs = options.waitMs ?? 5_000;
  }

  private key(key: string) {
    return { PK: `IDEM#${key}`, SK: '#IDEM' };
  }

  async getOrCreate(
    key: string,
    create: () => Promise<IdempotentEntry>,
  ): Promise<{ entry: IdempotentEntry; created: boolean }> {
    const expiresAt = Math.floor(Date.now() / 1000) + this.ttlSeconds;
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...this.key(key), state: 'pending', expiresAt },
          ConditionExpression: 'attribute_not_exists(PK)',
        }),
      );
    } catch (err) {
      if (
        !(err instanceof ConditionalCheckFailedException) &&
        (err as Error).name !== 'ConditionalCheckFailedException'
      ) {
        throw err;
      }
      return { entry: await this.awaitEntry(key), created: false };
    }
    let entry: IdempotentEntry;
    try {
      entry = await create();
    } catch (err) {
      // A failed creation frees the key, so that the client's retry can succeed.
      await this.client.send(new DeleteCommand({ TableName: this.tableName, Key: this.key(key) }));
      throw err;
    }
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: this.key(key),
        UpdateExpression: 'SET #state = :done, checkId = :checkId, fingerprint = :fingerprint',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: {
          ':done': 'done',
          ':checkId': entry.checkId,
          ':fingerprint': entry.fingerprint,
        },
      }),
    );
    return { entry, created: true };
  }

  /** The entry another request claimed, once it is done; a ConflictError if it stays pending. */
  private async awaitEntry(key: string): Promise<IdempotentEntry> {
    const until = Date.now() + this.waitMs;
    for (;;) {
      const { Item } = await this.client.send(
        new GetCommand({ TableName: this.tableName, Key: this.key(key), ConsistentRead: true }),
      );
      if (Item?.state === 'done')
        return { checkId: String(Item.checkId), fingerprint: String(Item.fingerprint) };
      if (Item === undefined) {
        throw new ConflictError(
          'the first request with this Idempotency-Key failed; retry it with the same key',
        );
      }
      if (Date.now() >= until) {
        throw new ConflictError(
          'a request with this Idempotency-Key is still being processed; retry shortly',
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
