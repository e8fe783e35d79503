/**
 * The results store over one DynamoDB table, through `@aws-sdk/lib-dynamodb` (DynamoDB in AWS, dynalite locally).
 *
 * ## Key design (single table)
 *
 * Every key is a string. `<name>` is an environment name (`[a-z0-9-]`), `<id>` a check id (ULID, sorts by time),
 * `<flowId>` `f-…`, `<createdAt>` an ISO time normalised to `YYYY-MM-DDTHH:MM:SS.mmmZ` (sorts as a string).
 * No value can contain `#`, so the prefixes below never collide.
 *
 * | item        | PK            | SK             | GSI1PK / GSI1SK                          | GSI2PK / GSI2SK                           | GSI3PK / GSI3SK (sparse) |
 * | ----------- | ------------- | -------------- | ---------------------------------------- | ----------------------------------------- | ------------------------ |
 * | environment | `ENV#<name>`  | `#ENV`         | `ENVS` / `<name>`                        | –                                         | –                        |
 * | check run   | `RUN#<id>`    | `#RUN`         | `ENV#<name>#RUNS` / `<createdAt>#<id>`    | `ENV#<name>#STATUS#<status>` / `<createdAt>#<id>` | `OPEN` / `<createdAt>#<id>` while queued or running |
 * | finding     | `RUN#<id>`    | `FLOW#<flowId>`| `ENV#<name>#FLOW#<flowId>` / `<createdAt>#<id>` | –                                  | –                        |
 *
 * All three GSIs project ALL attributes. Access patterns, every one a GetItem or a Query (never a Scan):
 *
 * - a run by id: GetItem `PK = RUN#<id>, SK = #RUN` (strongly consistent);
 * - a run's findings: Query table `PK = RUN#<id> AND begins_with(SK, FLOW#)`, by flow id;
 * - an environment's runs newest first: Query GSI1 `GSI1PK = ENV#<name>#RUNS`, ScanIndexForward false;
 *   between two times: the same with `GSI1SK BETWEEN <since> AND <until>#~` (`~` sorts after every id character);
 * - by status (with or without times): Query GSI2 `GSI2PK = ENV#<name>#STATUS#<status>`, same sort key. A status
 *   change rewrites GSI2PK, so a run is found under its current status only (no FilterExpression, so pages are full);
 * - one flow's history across runs newest first: Query GSI1 `GSI1PK = ENV#<name>#FLOW#<flowId>`, ScanIndexForward
 *   false (findings carry their run's createdAt);
 * - an environment by name: GetItem `PK = ENV#<name>, SK = #ENV`; all environments by name: Query GSI1
 *   `GSI1PK = ENVS` (environments are few: tens to hundreds);
 * - stale runs: Query GSI3 `GSI3PK = OPEN AND GSI3SK < <olderThan>`. GSI3 is sparse: its keys are set only while a
 *   run is queued or running and removed when it closes, so the partition holds only the runs in flight.
 *
 * ## Retention
 *
 * Runs and findings carry `expiresAt` (epoch seconds: the run's createdAt + `retentionDays`), which DynamoDB's TTL
 * deletes once the CDK table enables TTL on {@link TTL_ATTRIBUTE}. dynalite supports neither UpdateTimeToLive nor
 * expiry: locally, items are never removed. Environments do not expire.
 *
 * ## Cursors
 *
 * A `nextCursor` is `base64url(JSON {v, q, k}) . base64url(HMAC-SHA256)`: `k` is the key of the last item
 * returned, `q` a hash of the query it belongs to (index, partition, time range), and the HMAC (keyed with
 * `cursorSecret`) makes any altered or foreign cursor a {@link CursorError}, never a DynamoDB error.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  type BatchWriteCommandOutput,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { environmentSchema, type Environment } from '../core/environment';
import { formatIssues } from '../core/errors';
import {
  type CheckRun,
  checkIdSchema,
  checkRunSchema,
  ConflictError,
  CursorError,
  environmentNameSchema,
  type EnvironmentRecord,
  environmentRecordSchema,
  type FindingRecord,
  findingRecordSchema,
  flowIdSchema,
  isClosed,
  isoTimeSchema,
  type ListRunsOptions,
  listRunsOptionsSchema,
  NotFoundError,
  type Page,
  type PageOptions,
  pageOptionsSchema,
  type ResultStore,
  type RunPatch,
  runPatchSchema,
  statusesBefore,
  StoreError,
  StoreValidationError,
  type UpdateRunOptions,
} from '../core/store';
import { throttlingCode, type ThrottlingRetryOptions } from './throttling';

/** The attribute DynamoDB's TTL reads (epoch seconds); the CDK table enables TTL on it. */
export const TTL_ATTRIBUTE = 'expiresAt';

type KeyAttribute = 'PK' | 'SK' | 'GSI1PK' | 'GSI1SK' | 'GSI2PK' | 'GSI2SK' | 'GSI3PK' | 'GSI3SK';
type IndexName = 'GSI1' | 'GSI2' | 'GSI3';

const INDEX_KEYS: Record<IndexName, readonly [KeyAttribute, KeyAttribute]> = {
  GSI1: ['GSI1PK', 'GSI1SK'],
  GSI2: ['GSI2PK', 'GSI2SK'],
  GSI3: ['GSI3PK', 'GSI3SK'],
};

/**
 * What `CreateTableCommand` needs besides the table name: the one definition shared by this store, the local
 * dynalite helper and the CDK construct.
 */
export const TABLE_DEFINITION: Readonly<Omit<CreateTableCommandInput, 'TableName'>> = {
  AttributeDefinitions: (
    ['PK', 'SK', 'GSI1PK', 'GSI1SK', 'GSI2PK', 'GSI2SK', 'GSI3PK', 'GSI3SK'] as const
  ).map((AttributeName) => ({ AttributeName, AttributeType: 'S' as const })),
  KeySchema: [
    { AttributeName: 'PK', KeyType: 'HASH' },
    { AttributeName: 'SK', KeyType: 'RANGE' },
  ],
  GlobalSecondaryIndexes: (Object.keys(INDEX_KEYS) as IndexName[]).map((IndexName) => ({
    IndexName,
    KeySchema: [
      { AttributeName: INDEX_KEYS[IndexName][0], KeyType: 'HASH' as const },
      { AttributeName: INDEX_KEYS[IndexName][1], KeyType: 'RANGE' as const },
    ],
    Projection: { ProjectionType: 'ALL' as const },
  })),
  BillingMode: 'PAY_PER_REQUEST',
};

/** Items per BatchWriteItem request: DynamoDB's limit. */
export const BATCH_SIZE = 25;

/** Tuning for {@link DynamoResultStore}. */
export interface DynamoResultStoreOptions {
  readonly tableName: string;
  /** Days runs and findings are kept (their `expiresAt`). @default 90 */
  readonly retentionDays?: number;
  /**
   * The HMAC key of pagination cursors. Without one, a key derived from the table name still rejects altered and
   * foreign cursors, but a client that reads this code could forge one (it would only page the same listing).
   * @default - derived from `tableName`
   */
  readonly cursorSecret?: string;
  /**
   * Retries of throttled calls and of BatchWriteItem's `UnprocessedItems`; tests inject `sleep` and `random`.
   * @default - 8 attempts, 50 ms doubling up to 2 s
   */
  readonly retry?: ThrottlingRetryOptions;
  /** @default - the system clock */
  readonly now?: () => Date;
}

const RETRY_DEFAULTS = { maxAttempts: 8, baseDelayMs: 50, maxDelayMs: 2000 } as const;

/** DynamoDB's own "slow down" errors, beyond the generic ones {@link throttlingCode} knows. */
const DYNAMO_THROTTLING = new Set(['ProvisionedThroughputExceededException', 'RequestLimitExceeded']);

const META_ATTRIBUTES = new Set<string>([
  ...TABLE_DEFINITION.AttributeDefinitions!.map((a) => a.AttributeName!),
  'type',
  TTL_ATTRIBUTE,
]);

type Item = Record<string, unknown>;

const cursorPayloadSchema = z
  .object({
    v: z.literal(1),
    q: z.string(),
    k: z.record(z.string(), z.string().min(1)),
  })
  .strict();

/** The description of one query a cursor is bound to. */
interface QuerySpec {
  readonly index?: IndexName;
  readonly partitionKey: KeyAttribute;
  readonly partition: string;
  readonly sortKey: KeyAttribute;
  /** Sort-key condition and its values, besides the partition. */
  readonly range?:
    | { readonly op: 'between'; readonly low: string; readonly high: string }
    | { readonly op: 'begins_with'; readonly value: string }
    | { readonly op: '>=' | '<=' | '<'; readonly value: string };
  readonly newestFirst: boolean;
}

const runSortKey = (createdAt: string, checkId: string) => `${createdAt}#${checkId}`;

const isConditionFailure = (err: unknown) =>
  (err as { name?: unknown } | null)?.name === 'ConditionalCheckFailedException';

/** The store; see the key design at the top of this file. */
export class DynamoResultStore implements ResultStore {
  private readonly tableName: string;
  private readonly retentionSeconds: number;
  private readonly cursorKey: Buffer;
  private readonly retry: Required<Omit<ThrottlingRetryOptions, 'sleep' | 'random'>> &
    Pick<ThrottlingRetryOptions, 'sleep' | 'random'>;
  private readonly now: () => Date;

  constructor(
    private readonly client: DynamoDBDocumentClient,
    options: DynamoResultStoreOptions,
  ) {
    if (options.tableName === '') throw new StoreError('the results table name is empty: set tableName');
    const days = options.retentionDays ?? 90;
    if (!Number.isFinite(days) || days <= 0)
      throw new StoreError(`retentionDays must be a positive number of days (got ${String(days)})`);
    this.tableName = options.tableName;
    this.retentionSeconds = Math.round(days * 86_400);
    this.cursorKey = createHash('sha256')
      .update(options.cursorSecret ?? `preflight-cursor:${options.tableName}`)
      .digest();
    this.retry = {
      maxAttempts: Math.max(1, options.retry?.maxAttempts ?? RETRY_DEFAULTS.maxAttempts),
      baseDelayMs: options.retry?.baseDelayMs ?? RETRY_DEFAULTS.baseDelayMs,
      maxDelayMs: options.retry?.maxDelayMs ?? RETRY_DEFAULTS.maxDelayMs,
      sleep: options.retry?.sleep,
      random: options.retry?.random,
    };
    this.now = options.now ?? (() => new Date());
  }

  // ------------------------------------------------------------------------------------------------------------
  // Environments

  async putEnvironment(environment: Environment): Promise<EnvironmentRecord> {
    const env = validate(environmentSchema, environment, 'environment');
    const now = this.now().toISOString();
    const out = await this.call('UpdateItem', () =>
      this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { PK: `ENV#${env.name}`, SK: '#ENV' },
          UpdateExpression:
            'SET #type = :type, #name = :name, environment = :env, updatedAt = :now, ' +
            'createdAt = if_not_exists(createdAt, :now), GSI1PK = :g1pk, GSI1SK = :name',
          ExpressionAttributeNames: { '#type': 'type', '#name': 'name' },
          ExpressionAttributeValues: {
            ':type': 'environment',
            ':name': env.name,
            ':env': plain(env),
            ':now': now,
            ':g1pk': 'ENVS',
          },
          ReturnValues: 'ALL_NEW',
        }),
      ),
    );
    return this.toRecord(environmentRecordSchema, out.Attributes, `environment ${env.name}`);
  }

  async getEnvironment(name: string): Promise<EnvironmentRecord> {
    const valid = validate(environmentNameSchema, name, 'environment name');
    const out = await this.call('GetItem', () =>
      this.client.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { PK: `ENV#${valid}`, SK: '#ENV' },
          ConsistentRead: true,
        }),
      ),
    );
    if (!out.Item) throw new NotFoundError(`no environment named ${JSON.stringify(name)}: PUT it first`);
    return this.toRecord(environmentRecordSchema, out.Item, `environment ${valid}`);
  }

  async deleteEnvironment(name: string): Promise<void> {
    const valid = validate(environmentNameSchema, name, 'environment name');
    try {
      await this.call('DeleteItem', () =>
        this.client.send(
          new DeleteCommand({
            TableName: this.tableName,
            Key: { PK: `ENV#${valid}`, SK: '#ENV' },
            ConditionExpression: 'attribute_exists(PK)',
          }),
        ),
      );
    } catch (err) {
      if (isConditionFailure(err)) throw new NotFoundError(`no environment named ${JSON.stringify(name)}`);
      throw err;
    }
  }

  async listEnvironments(options: PageOptions = {}): Promise<Page<EnvironmentRecord>> {
    const page = validate(pageOptionsSchema, options, 'page options');
    return this.page(
      { index: 'GSI1', partitionKey: 'GSI1PK', partition: 'ENVS', sortKey: 'GSI1SK', newestFirst: false },
      page,
      (item) => this.toRecord(environmentRecordSchema, item, `environment ${String(item.name)}`),
    );
  }

  // ------------------------------------------------------------------------------------------------------------
  // Runs

  async createRun(run: CheckRun): Promise<CheckRun> {
    const valid = validate(checkRunSchema, run, 'check run');
    const item: Item = {
      ...plain(valid),
      PK: `RUN#${valid.checkId}`,
      SK: '#RUN',
      type: 'run',
      ...this.runIndexKeys(valid),
      [TTL_ATTRIBUTE]: this.expiresAt(valid.createdAt),
    };
    try {
      await this.call('PutItem', () =>
        this.client.send(
          new PutCommand({
            TableName: this.tableName,
            Item: item,
            ConditionExpression: 'attribute_not_exists(PK)',
          }),
        ),
      );
    } catch (err) {
      if (isConditionFailure(err))
        throw new ConflictError(
          `a check run with id ${valid.checkId} exists already: create it with a new id`,
        );
      throw err;
    }
    return valid;
  }

  async updateRun(checkId: string, patch: RunPatch, options: UpdateRunOptions = {}): Promise<CheckRun> {
    const id = validate(checkIdSchema, checkId, 'check id');
    const changes = validate(runPatchSchema, patch, 'run patch');
    const expected =
      options.expectStatus === undefined
        ? undefined
        : typeof options.expectStatus === 'string'
          ? [options.expectStatus]
          : [...options.expectStatus];
    // Read, decide, then write on condition that the status is still the one read: a concurrent change makes the
    // write fail and the decision is taken again on the new status.
    for (let attempt = 1; ; attempt++) {
      const current = await this.getRun(id);
      if (expected && !expected.includes(current.status))
        throw new ConflictError(
          `check run ${id} is ${current.status}, not ${expected.join(' or ')} as expected: it was changed meanwhile`,
        );
      if (changes.status !== undefined && !statusesBefore(changes.status).includes(current.status))
        throw new ConflictError(
          isClosed(current.status)
            ? `check run ${id} is closed already (${current.status}): it cannot become ${changes.status}`
            : `check run ${id} is ${current.status}: it cannot go back to ${changes.status}`,
        );
      const sets: string[] = [];
      const removes: string[] = [];
      const names: Record<string, string> = { '#status': 'status' };
      const values: Record<string, unknown> = { ':current': current.status };
      for (const [field, value] of Object.entries(plain(changes))) {
        names[`#${field}`] = field;
        values[`:${field}`] = value;
        sets.push(`#${field} = :${field}`);
      }
      if (changes.status !== undefined && changes.status !== current.status) {
        const next = { ...current, status: changes.status };
        const keys = this.runIndexKeys(next);
        sets.push('GSI2PK = :g2pk');
        values[':g2pk'] = keys.GSI2PK;
        if (isClosed(changes.status)) removes.push('GSI3PK', 'GSI3SK');
      }
      if (sets.length === 0 && removes.length === 0) return current;
      const expression = [
        sets.length > 0 ? `SET ${sets.join(', ')}` : '',
        removes.length > 0 ? `REMOVE ${removes.join(', ')}` : '',
      ]
        .filter(Boolean)
        .join(' ');
      try {
        const out = await this.call('UpdateItem', () =>
          this.client.send(
            new UpdateCommand({
              TableName: this.tableName,
              Key: { PK: `RUN#${id}`, SK: '#RUN' },
              UpdateExpression: expression,
              ConditionExpression: 'attribute_exists(PK) AND #status = :current',
              ExpressionAttributeNames: names,
              ExpressionAttributeValues: values,
              ReturnValues: 'ALL_NEW',
            }),
          ),
        );
        return this.toRecord(checkRunSchema, out.Attributes, `check run ${id}`);
      } catch (err) {
        if (!isConditionFailure(err) || attempt >= 3) throw err;
      }
    }
  }

  async getRun(checkId: string): Promise<CheckRun> {
    const id = validate(checkIdSchema, checkId, 'check id');
    const out = await this.call('GetItem', () =>
      this.client.send(
        new GetCommand({
          TableName: this.tableName,
          Key: { PK: `RUN#${id}`, SK: '#RUN' },
          ConsistentRead: true,
        }),
      ),
    );
    if (!out.Item) throw new NotFoundError(`no check run with id ${JSON.stringify(checkId)}`);
    return this.toRecord(checkRunSchema, out.Item, `check run ${id}`);
  }

  async listRuns(environmentName: string, options: ListRunsOptions = {}): Promise<Page<CheckRun>> {
    const name = validate(environmentNameSchema, environmentName, 'environment name');
    const o = validate(listRunsOptionsSchema, options, 'run listing options');
    const spec: QuerySpec =
      o.status === undefined
        ? {
            index: 'GSI1',
            partitionKey: 'GSI1PK',
            partition: `ENV#${name}#RUNS`,
            sortKey: 'GSI1SK',
            newestFirst: true,
          }
        : {
            index: 'GSI2',
            partitionKey: 'GSI2PK',
            partition: `ENV#${name}#STATUS#${o.status}`,
            sortKey: 'GSI2SK',
            newestFirst: true,
          };
    return this.page({ ...spec, ...timeRange(o.since, o.until) }, o, (item) =>
      this.toRecord(checkRunSchema, item, `check run ${String(item.checkId)}`),
    );
  }

  async listStaleRuns(olderThan: string): Promise<CheckRun[]> {
    const before = validate(isoTimeSchema, olderThan, 'olderThan');
    const spec: QuerySpec = {
      index: 'GSI3',
      partitionKey: 'GSI3PK',
      partition: 'OPEN',
      sortKey: 'GSI3SK',
      range: { op: '<', value: before },
      newestFirst: false,
    };
    const runs: CheckRun[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.page(spec, { limit: 100, cursor }, (item) =>
        this.toRecord(checkRunSchema, item, `check run ${String(item.checkId)}`),
      );
      runs.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    return runs;
  }

  // ------------------------------------------------------------------------------------------------------------
  // Findings

  async putFindings(checkId: string, findings: readonly FindingRecord[]): Promise<void> {
    const id = validate(checkIdSchema, checkId, 'check id');
    const valid = validate(z.array(findingRecordSchema), findings, 'findings');
    const issues: string[] = [];
    const seen = new Set<string>();
    valid.forEach((f, i) => {
      if (f.checkId !== id) issues.push(`[${i}].checkId: ${f.checkId} is not the run ${id}`);
      if (seen.has(f.flowId)) issues.push(`[${i}].flowId: ${f.flowId} appears twice`);
      seen.add(f.flowId);
    });
    if (issues.length > 0) throw new StoreValidationError(`the findings of run ${id} are not valid`, issues);
    if (valid.length === 0) return;
    const run = await this.getRun(id);
    const expiresAt = this.expiresAt(run.createdAt);
    const items = valid.map((f) => ({
      ...plain(f),
      PK: `RUN#${id}`,
      SK: `FLOW#${f.flowId}`,
      type: 'finding',
      GSI1PK: `ENV#${f.environmentName}#FLOW#${f.flowId}`,
      GSI1SK: runSortKey(f.createdAt, id),
      [TTL_ATTRIBUTE]: expiresAt,
    }));
    const batches: Item[][] = [];
    for (let i = 0; i < items.length; i += BATCH_SIZE) batches.push(items.slice(i, i + BATCH_SIZE));
    // A few batches at a time: fast for thousands of flows, gentle on an on-demand table's first burst.
    let next = 0;
    const worker = async () => {
      while (next < batches.length) await this.writeBatch(batches[next++] as Item[], `findings of run ${id}`);
    };
    await Promise.all(Array.from({ length: Math.min(4, batches.length) }, worker));
  }

  async listFindings(checkId: string, options: PageOptions = {}): Promise<Page<FindingRecord>> {
    const id = validate(checkIdSchema, checkId, 'check id');
    const page = validate(pageOptionsSchema, options, 'page options');
    return this.page(
      {
        partitionKey: 'PK',
        partition: `RUN#${id}`,
        sortKey: 'SK',
        range: { op: 'begins_with', value: 'FLOW#' },
        newestFirst: false,
      },
      page,
      (item) => this.toRecord(findingRecordSchema, item, `finding ${String(item.SK)} of run ${id}`),
    );
  }

  async flowHistory(
    environmentName: string,
    flowId: string,
    options: PageOptions = {},
  ): Promise<Page<FindingRecord>> {
    const name = validate(environmentNameSchema, environmentName, 'environment name');
    const flow = validate(flowIdSchema, flowId, 'flow id');
    const page = validate(pageOptionsSchema, options, 'page options');
    return this.page(
      {
        index: 'GSI1',
        partitionKey: 'GSI1PK',
        partition: `ENV#${name}#FLOW#${flow}`,
        sortKey: 'GSI1SK',
        newestFirst: true,
      },
      page,
      (item) => this.toRecord(findingRecordSchema, item, `finding ${flow} of run ${String(item.checkId)}`),
    );
  }

  // ------------------------------------------------------------------------------------------------------------
  // Internals

  private runIndexKeys(run: Pick<CheckRun, 'checkId' | 'environmentName' | 'status' | 'createdAt'>): Item {
    const sortKey = runSortKey(run.createdAt, run.checkId);
    return {
      GSI1PK: `ENV#${run.environmentName}#RUNS`,
      GSI1SK: sortKey,
      GSI2PK: `ENV#${run.environmentName}#STATUS#${run.status}`,
      GSI2SK: sortKey,
      ...(isClosed(run.status) ? {} : { GSI3PK: 'OPEN', GSI3SK: sortKey }),
    };
  }

  private expiresAt(createdAt: string): number {
    return Math.floor(Date.parse(createdAt) / 1000) + this.retentionSeconds;
  }

  /** One page of a query. Reads one item more than asked, so that the last page never carries a cursor. */
  private async page<T>(
    spec: QuerySpec,
    options: { limit: number; cursor?: string | undefined },
    convert: (item: Item) => T,
  ): Promise<Page<T>> {
    const binding = queryBinding(spec);
    const start = options.cursor === undefined ? undefined : this.decodeCursor(options.cursor, spec, binding);
    const input: QueryCommandInput = {
      TableName: this.tableName,
      ...(spec.index ? { IndexName: spec.index } : {}),
      KeyConditionExpression: `#pk = :pk${rangeCondition(spec)}`,
      ExpressionAttributeNames: { '#pk': spec.partitionKey, ...(spec.range ? { '#sk': spec.sortKey } : {}) },
      ExpressionAttributeValues: { ':pk': spec.partition, ...rangeValues(spec) },
      ScanIndexForward: !spec.newestFirst,
      Limit: options.limit + 1,
      ...(start ? { ExclusiveStartKey: start } : {}),
    };
    const out = await this.call('Query', () => this.client.send(new QueryCommand(input)));
    const items = out.Items ?? [];
    let last: Item | undefined;
    if (items.length > options.limit) last = items[options.limit - 1];
    else if (out.LastEvaluatedKey && items.length > 0) last = items[items.length - 1];
    const kept = items.slice(0, options.limit);
    const result: Page<T> = { items: kept.map(convert) };
    return last ? { ...result, nextCursor: this.encodeCursor(keyOf(last, spec), binding) } : result;
  }

  private sign(body: string): string {
    return createHmac('sha256', this.cursorKey).update(body).digest('base64url').slice(0, 22);
  }

  private encodeCursor(key: Record<string, string>, binding: string): string {
    const body = Buffer.from(JSON.stringify({ v: 1, q: binding, k: key })).toString('base64url');
    return `${body}.${this.sign(body)}`;
  }

  private decodeCursor(cursor: string, spec: QuerySpec, binding: string): Record<string, string> {
    const bad = (why: string) =>
      new CursorError(
        `the cursor ${JSON.stringify(cursor.length > 40 ? `${cursor.slice(0, 39)}…` : cursor)} ${why}: ` +
          'pass the nextCursor of the previous page of the same listing unchanged, or leave it out to start over',
      );
    if (cursor.length > 2048) throw bad('is too long');
    const [body, mac, extra] = cursor.split('.');
    if (body === undefined || mac === undefined || extra !== undefined || !/^[\w-]+$/.test(body + mac))
      throw bad('is not one this service issued');
    const expected = Buffer.from(this.sign(body));
    const given = Buffer.from(mac);
    if (expected.length !== given.length || !timingSafeEqual(expected, given))
      throw bad('was altered or was not issued by this service');
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    } catch {
      throw bad('is not one this service issued');
    }
    const payload = cursorPayloadSchema.safeParse(parsed);
    if (!payload.success) throw bad('is not one this service issued');
    if (payload.data.q !== binding) throw bad('belongs to another listing (or other filters)');
    const wanted = keyAttributes(spec);
    const got = Object.keys(payload.data.k).sort();
    if (got.join() !== [...wanted].sort().join() || payload.data.k[spec.partitionKey] !== spec.partition)
      throw bad('belongs to another listing');
    return payload.data.k;
  }

  /** Turns a stored item into a record, or a StoreError when the item is not one (a corrupt or foreign item). */
  private toRecord<T>(schema: z.ZodType<T>, item: Item | undefined, what: string): T {
    if (!item) throw new StoreError(`DynamoDB returned no attributes for ${what}`);
    const record = Object.fromEntries(Object.entries(item).filter(([k]) => !META_ATTRIBUTES.has(k)));
    const parsed = schema.safeParse(record);
    if (!parsed.success)
      throw new StoreError(
        `the stored ${what} in table ${this.tableName} is not valid: ${formatIssues(parsed.error.issues, record).join('; ')}`,
      );
    return parsed.data;
  }

  /** Writes up to 25 items, retrying `UnprocessedItems` with backoff until none is left or attempts run out. */
  private async writeBatch(items: Item[], what: string): Promise<void> {
    let pending = items.map((Item) => ({ PutRequest: { Item } }));
    for (let attempt = 1; ; attempt++) {
      let out: BatchWriteCommandOutput;
      try {
        out = await this.client.send(new BatchWriteCommand({ RequestItems: { [this.tableName]: pending } }));
      } catch (err) {
        if (!isThrottling(err)) throw wrap(err, 'BatchWriteItem', this.tableName);
        if (attempt >= this.retry.maxAttempts)
          throw new StoreError(
            `BatchWriteItem of ${what} was still throttled after ${attempt} attempts: ${pending.length} of ` +
              `${items.length} items not written; the table's write capacity is used up, try again later`,
            { cause: err },
          );
        await this.backoff(attempt);
        continue;
      }
      const left = (out.UnprocessedItems?.[this.tableName] ?? []) as typeof pending;
      if (left.length === 0) return;
      if (attempt >= this.retry.maxAttempts)
        throw new StoreError(
          `BatchWriteItem left ${left.length} of ${items.length} items (${what}) unprocessed after ${attempt} ` +
            `attempts: the table's write capacity is used up, try again later`,
        );
      pending = left;
      await this.backoff(attempt);
    }
  }

  /** One call, retried with backoff while DynamoDB throttles; every other failure becomes a StoreError. */
  private async call<O>(operation: string, send: () => Promise<O>): Promise<O> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await send();
      } catch (err) {
        if (isConditionFailure(err)) throw err;
        if (!isThrottling(err) || attempt >= this.retry.maxAttempts)
          throw wrap(err, operation, this.tableName, attempt);
        await this.backoff(attempt);
      }
    }
  }

  /** Exponential backoff with equal jitter, as in ./throttling. */
  private async backoff(attempt: number): Promise<void> {
    const ceiling = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (attempt - 1));
    const ms = Math.round(ceiling / 2 + (this.retry.random ?? Math.random)() * (ceiling / 2));
    await (this.retry.sleep ?? ((d: number) => new Promise<void>((r) => setTimeout(r, d))))(ms);
  }
}

function isThrottling(err: unknown): boolean {
  const name = (err as { name?: unknown } | null)?.name;
  return (typeof name === 'string' && DYNAMO_THROTTLING.has(name)) || throttlingCode(err) !== undefined;
}

function wrap(err: unknown, operation: string, table: string, attempts = 1): StoreError {
  if (err instanceof StoreError) return err;
  const e = (err ?? {}) as { name?: string; message?: string };
  const name = e.name ?? 'Error';
  const hint =
    name === 'ResourceNotFoundException'
      ? `: the table ${table} does not exist in this account and region (deploy the stack, or check the table name)`
      : isThrottling(err)
        ? `: still throttled after ${attempts} attempts, try again later`
        : '';
  return new StoreError(
    `DynamoDB ${operation} on ${table} failed (${name}: ${e.message ?? String(err)})${hint}`,
    {
      cause: err,
    },
  );
}

/** Parses input with a schema, or throws a StoreValidationError naming each bad field. */
function validate<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success)
    throw new StoreValidationError(`invalid ${what}`, formatIssues(parsed.error.issues, input));
  return parsed.data;
}

/** A JSON copy: drops undefined fields, which the document client refuses unless told otherwise. */
function plain<T>(value: T): Record<string, unknown> {
  return JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
}

function timeRange(since: string | undefined, until: string | undefined): Pick<QuerySpec, 'range'> {
  // `~` sorts after every character of a check id, so a run created exactly at `until` is included.
  if (since !== undefined && until !== undefined)
    return { range: { op: 'between', low: since, high: `${until}#~` } };
  if (since !== undefined) return { range: { op: '>=', value: since } };
  if (until !== undefined) return { range: { op: '<=', value: `${until}#~` } };
  return {};
}

function rangeCondition(spec: QuerySpec): string {
  const r = spec.range;
  if (!r) return '';
  if (r.op === 'between') return ' AND #sk BETWEEN :low AND :high';
  if (r.op === 'begins_with') return ' AND begins_with(#sk, :value)';
  return ` AND #sk ${r.op} :value`;
}

function rangeValues(spec: QuerySpec): Record<string, string> {
  const r = spec.range;
  if (!r) return {};
  return r.op === 'between' ? { ':low': r.low, ':high': r.high } : { ':value': r.value };
}

/** The attributes of a LastEvaluatedKey for this query: the table's key, plus the index's when on an index. */
function keyAttributes(spec: QuerySpec): KeyAttribute[] {
  return spec.index ? ['PK', 'SK', ...INDEX_KEYS[spec.index]] : ['PK', 'SK'];
}

function keyOf(item: Item, spec: QuerySpec): Record<string, string> {
  const key: Record<string, string> = {};
  for (const attribute of keyAttributes(spec)) {
    const value = item[attribute];
    if (typeof value !== 'string')
      throw new StoreError(`a stored item has no string ${attribute}: cannot page on`);
    key[attribute] = value;
  }
  return key;
}

/** A short hash of everything that defines a listing, so a cursor only continues the listing it came from. */
function queryBinding(spec: QuerySpec): string {
  return createHash('sha256')
    .update(JSON.stringify([spec.index ?? '', spec.partition, spec.range ?? null, spec.newestFirst]))
    .digest('base64url')
    .slice(0, 16);
}
