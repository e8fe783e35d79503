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
 * `done`), `checkId`, `fingerprint`, the TTL attribute `expiresAt` (a key is remembered for a day) and, while
 * pending, `leaseUntil` (epoch ms). A request first claims the key with a conditional put, so two concurrent
 * retries never start two runs; the loser waits for the winner's result.
 *
 * `expiresAt` is honoured when the key is claimed, not left to the TTL sweep (which runs up to two days late in
 * DynamoDB and never in dynalite): an expired key is claimed afresh. A pending key whose lease lapsed belongs to
 * a request whose process died while it created the run: it is released and claimed by the retry.
 */
export class DynamoIdempotencyCache implements IdempotencyCache {
  private readonly tableName: string;
  private readonly ttlSeconds: number;
  private readonly waitMs: number;
  private readonly leaseMs: number;

  constructor(
    private readonly client: DynamoDBDocumentClient,
    options: {
      tableName: string;
      ttlSeconds?: number;
      waitMs?: number;
      /** How long a pending claim holds the key before it counts as abandoned. @default 60000 */
      leaseMs?: number;
    },
  ) {
    this.tableName = options.tableName;
    this.ttlSeconds = options.ttlSeconds ?? 86_400;
    this.waitMs = options.waitMs ?? 5_000;
    this.leaseMs = options.leaseMs ?? 60_000;
  }

  /** Claims the key: free, expired, or pending past its lease. False when someone else holds it. */
  private async claim(key: string): Promise<boolean> {
    const now = Date.now();
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...this.key(key),
            state: 'pending',
            expiresAt: Math.floor(now / 1000) + this.ttlSeconds,
            leaseUntil: now + this.leaseMs,
          },
          ConditionExpression:
            'attribute_not_exists(PK) OR expiresAt < :nowSeconds OR ' +
            '(#state = :pending AND (attribute_not_exists(leaseUntil) OR leaseUntil < :now))',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: {
            ':nowSeconds': Math.floor(now / 1000),
            ':now': now,
            ':pending': 'pending',
          },
        }),
      );
      return true;
    } catch (err) {
      if (
        !(err instanceof ConditionalCheckFailedException) &&
        (err as Error).name !== 'ConditionalCheckFailedException'
      ) {
        throw err;
      }
      return false;
    }
  }

  private key(key: string) {
    return { PK: `IDEM#${key}`, SK: '#IDEM' };
  }

  async getOrCreate(
    key: string,
    create: () => Promise<IdempotentEntry>,
  ): Promise<{ entry: IdempotentEntry; created: boolean }> {
    if (!(await this.claim(key))) {
      const held = await this.awaitEntry(key);
      // Expired or abandoned while we waited: claim it afresh (once; a second loser gets the conflict).
      if (held !== 'released') return { entry: held, created: false };
      if (!(await this.claim(key))) {
        const again = await this.awaitEntry(key);
        if (again === 'released')
          throw new ConflictError(
            'a request with this Idempotency-Key is being retried elsewhere; retry shortly',
          );
        return { entry: again, created: false };
      }
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
        UpdateExpression:
          'SET #state = :done, checkId = :checkId, fingerprint = :fingerprint REMOVE leaseUntil',
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

  /**
   * The entry another request claimed, once it is done; `released` when it expired or its claim was abandoned
   * (the key may be claimed again); a ConflictError if it stays pending.
   */
  private async awaitEntry(key: string): Promise<IdempotentEntry | 'released'> {
    const until = Date.now() + this.waitMs;
    for (;;) {
      const { Item } = await this.client.send(
        new GetCommand({ TableName: this.tableName, Key: this.key(key), ConsistentRead: true }),
      );
      const now = Date.now();
      if (Item !== undefined && typeof Item.expiresAt === 'number' && Item.expiresAt < Math.floor(now / 1000))
        return 'released';
      if (Item?.state === 'pending' && (typeof Item.leaseUntil !== 'number' || Item.leaseUntil < now))
        return 'released';
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
