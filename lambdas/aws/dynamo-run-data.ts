/**
 * {@link RunData} in the results table (the same table as the runs and findings; see dynamo-store.ts for the rest
 * of the key design). Each value is JSON, gzip-compressed, split into parts of at most {@link PART_BYTES} (DynamoDB
 * items hold 400 KB), all under the run's partition:
 *
 * | value          | PK          | SK                          |
 * | -------------- | ----------- | --------------------------- |
 * | plan           | `RUN#<id>`  | `DATA#PLAN#<part>`          |
 * | a shard's job  | `RUN#<id>`  | `DATA#SHARD#<nnnnn>#<part>` |
 * | shard outcome  | `RUN#<id>`  | `DATA#OUT#<nnnnn>#<part>`   |
 * | audit          | `RUN#<id>`  | `DATA#AUDIT#<part>`         |
 *
 * Reads are a Query on `begins_with(SK, DATA#…)` (never a Scan); every item carries the run's `expiresAt`, so
 * DynamoDB's TTL removes them with the run. None of these sort keys begins with `FLOW#` or `#RUN`, so the store's
 * own queries never see them.
 */
import {
  type DynamoDBDocumentClient,
  PutCommand,
  QueryCommand,
  type QueryCommandOutput,
} from '@aws-sdk/lib-dynamodb';
import {
  type RunData,
  RunDataMissingError,
  type ShardJob,
  type ShardOutcome,
  type StoredPlan,
} from '../core/run/run-data';
import type { AuditStepOutput } from '../core/run/steps';
import { StoreError } from '../core/store';
import { TTL_ATTRIBUTE } from './dynamo-store';
import { packJson, unpackJson } from './packed-json';
import { type ThrottlingRetryOptions, withThrottlingRetry } from './throttling';

/** Compressed bytes per item at most: well below DynamoDB's 400 KB item limit, keys and attributes included. */
export const PART_BYTES = 350 * 1024;

/** Puts in flight at once when a plan stores its shards. */
const WRITE_CONCURRENCY = 8;

export interface DynamoRunDataOptions {
  readonly tableName: string;
  /** Days the data is kept (as the run). @default 90 */
  readonly retentionDays?: number;
  readonly retry?: ThrottlingRetryOptions;
  /** @default - the system clock */
  readonly now?: () => Date;
}

const shardKey = (n: number) => String(n).padStart(5, '0');

export class DynamoRunData implements RunData {
  private readonly retentionSeconds: number;
  private readonly now: () => Date;

  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly options: DynamoRunDataOptions,
  ) {
    this.retentionSeconds = (options.retentionDays ?? 90) * 86_400;
    this.now = options.now ?? (() => new Date());
  }

  async putPlan(checkId: string, plan: StoredPlan, shards: readonly ShardJob[]): Promise<void> {
    if (plan.shardCount !== shards.length)
      throw new RangeError(`the plan says ${plan.shardCount} shards but ${shards.length} were given`);
    const writes: Array<() => Promise<void>> = shards.map(
      (job, i) => () => this.put(checkId, `SHARD#${shardKey(i + 1)}`, job),
    );
    let next = 0;
    const worker = async () => {
      while (next < writes.length) await writes[next++]!();
    };
    await Promise.all(Array.from({ length: Math.min(WRITE_CONCURRENCY, writes.length) }, worker));
    // The plan last: a plan that is readable has all its shards.
    await this.put(checkId, 'PLAN', plan);
  }

  async getPlan(checkId: string): Promise<StoredPlan> {
    const plan = await this.get<StoredPlan>(checkId, 'PLAN');
    if (!plan)
      throw new RunDataMissingError(
        `run ${checkId} has no stored plan (it expired, or its start step did not finish)`,
      );
    return plan;
  }

  async getShard(checkId: string, shard: number): Promise<ShardJob> {
    const job = await this.get<ShardJob>(checkId, `SHARD#${shardKey(shard)}`);
    if (!job)
      throw new RunDataMissingError(
        `run ${checkId} has no shard ${shard} (its plan has fewer, or it expired)`,
      );
    return job;
  }

  async putShardOutcome(checkId: string, outcome: ShardOutcome): Promise<void> {
    await this.put(checkId, `OUT#${shardKey(outcome.shard)}`, outcome);
  }

  async listShardOutcomes(checkId: string): Promise<ShardOutcome[]> {
    const values = await this.list<ShardOutcome>(checkId, 'OUT#');
    return [...values.values()];
  }

  async putAudit(checkId: string, audit: AuditStepOutput): Promise<void> {
    await this.put(checkId, 'AUDIT', audit);
  }

  async getAudit(checkId: string): Promise<AuditStepOutput | undefined> {
    return this.get<AuditStepOutput>(checkId, 'AUDIT');
  }

  // -------------------------------------------------------------------------------------------------------------

  private async put(checkId: string, key: string, value: unknown): Promise<void> {
    const bytes = packJson(value);
    const parts = Math.max(1, Math.ceil(bytes.length / PART_BYTES));
    const expiresAt = Math.floor(this.now().getTime() / 1000) + this.retentionSeconds;
    for (let part = 0; part < parts; part++) {
      const Item = {
        PK: `RUN#${checkId}`,
        SK: `DATA#${key}#${String(part).padStart(3, '0')}`,
        type: 'run-data',
        parts,
        data: bytes.subarray(part * PART_BYTES, (part + 1) * PART_BYTES),
        [TTL_ATTRIBUTE]: expiresAt,
      };
      await this.call('PutItem', () =>
        this.client.send(new PutCommand({ TableName: this.options.tableName, Item })),
      );
    }
  }

  private async get<T>(checkId: string, key: string): Promise<T | undefined> {
    return (await this.list<T>(checkId, `${key}#`)).get(key);
  }

  /** Every value whose key begins with `prefix`, by key (parts joined, decompressed, parsed). */
  private async list<T>(checkId: string, prefix: string): Promise<Map<string, T>> {
    const parts = new Map<string, { count: number; chunks: Uint8Array[] }>();
    let start: Record<string, unknown> | undefined;
    do {
      const page: QueryCommandOutput = await this.call('Query', () =>
        this.client.send(
          new QueryCommand({
            TableName: this.options.tableName,
            KeyConditionExpression: 'PK = :pk AND begins_with(SK, :prefix)',
            ExpressionAttributeValues: { ':pk': `RUN#${checkId}`, ':prefix': `DATA#${prefix}` },
            ConsistentRead: true,
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        ),
      );
      for (const item of page.Items ?? []) {
        const sk = String(item.SK);
        const key = sk.slice('DATA#'.length, sk.lastIndexOf('#'));
        const entry = parts.get(key) ?? { count: Number(item.parts), chunks: [] };
        entry.chunks.push(item.data as Uint8Array);
        parts.set(key, entry);
      }
      start = page.LastEvaluatedKey;
    } while (start);
    const out = new Map<string, T>();
    for (const [key, entry] of parts) {
      // A value being rewritten with fewer parts, or read half-written: refuse rather than parse a fragment.
      if (entry.chunks.length !== entry.count)
        throw new StoreError(
          `run ${checkId}'s ${key} has ${entry.chunks.length} of its ${entry.count} parts in ${this.options.tableName}`,
        );
      out.set(key, unpackJson<T>(entry.chunks));
    }
    return out;
  }

  private async call<O>(operation: string, send: () => Promise<O>): Promise<O> {
    try {
      return await withThrottlingRetry(`DynamoDB ${operation}`, send, this.options.retry);
    } catch (err) {
      const e = err as { name?: string; message?: string };
      throw new StoreError(
        `DynamoDB ${operation} on ${this.options.tableName} failed (${e.name ?? 'Error'}: ${e.message ?? String(err)})`,
        { cause: err },
      );
    }
  }
}
