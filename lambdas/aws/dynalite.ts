/**
 * The embedded DynamoDB-compatible store of local mode and of the integration tests: dynalite in this process,
 * on loopback, with the results table created from {@link TABLE_DEFINITION}.
 */
import { readdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import type { Server } from 'node:http';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { StoreError } from '../core/store';
import { TABLE_DEFINITION } from './dynamo-store';

/** dynalite ships no types; this is the part of its API used here. */
type Dynalite = (options: {
  path?: string;
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
}) => Server;

type ActionCallback = (err: unknown, data?: unknown) => void;
type Action = (store: unknown, data: unknown, callback: ActionCallback) => void;

/**
 * dynalite throws any error of its LevelDB that is not a DynamoDB error out of its request handler, which ends
 * the process: one damaged record in the data folder (a block that no longer decodes, `LEVEL_CORRUPTION`,
 * `LEVEL_DECODE_ERROR`) would kill the service whenever it is read, again after every restart. Each of its
 * actions is wrapped, before dynalite loads them, so that such an error answers that one request with a 500
 * `InternalServerError` naming the cause, and the service keeps serving everything else.
 */
function guardDynaliteActions(): void {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const root = dirname(require.resolve('dynalite/package.json'));
  const dir = join(root, 'actions');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.js'))) {
    const path = join(dir, file);
    const original = require(path) as Action & { guarded?: boolean };
    const cached = require.cache[path];
    if (!cached || original.guarded) continue;
    const unreadable = (err: unknown) => ({
      statusCode: 500,
      body: {
        __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError',
        message: `the embedded store could not read its data (${(err as { code?: string }).code ?? (err as Error)?.name ?? 'error'}: ${(err as Error)?.message ?? String(err)})`,
      },
    });
    const guarded: Action & { guarded?: boolean } = (store, data, callback) => {
      try {
        original(store, data, (err, result) =>
          err && !(err as { statusCode?: number }).statusCode
            ? callback(unreadable(err))
            : callback(err, result),
        );
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode) throw err;
        callback(unreadable(err));
      }
    };
    guarded.guarded = true;
    cached.exports = guarded;
  }
  /* eslint-enable @typescript-eslint/no-require-imports */
}
guardDynaliteActions();

// eslint-disable-next-line @typescript-eslint/no-require-imports
const dynalite = require('dynalite') as Dynalite;

/** What to do about a data folder that cannot be used: one sentence naming the folder. */
function folderProblem(path: string, err: unknown): string {
  const codes = [err, (err as { cause?: unknown }).cause].map(
    (e) => (e as { code?: string } | undefined)?.code,
  );
  const detail = [err, (err as { cause?: unknown }).cause]
    .map((e) => (e instanceof Error ? e.message : undefined))
    .filter(Boolean)
    .join(': ');
  if (codes.includes('LEVEL_LOCKED')) {
    return `the data folder ${path} is in use by another preflight process (one process per folder): stop that one, or give this one another --data DIR`;
  }
  return `the data folder ${path} cannot be opened (${detail}): it is damaged; move it aside (mv ${path} ${path}.damaged) and start again, or restore it from a copy`;
}

/**
 * Opens the data folder once on its own before dynalite does, so that a folder held by another process or
 * damaged beyond opening is told as such, in one line, instead of as dynalite's "Database is closed".
 */
async function checkDataFolder(path: string): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Level } = require(require.resolve('level', { paths: [dirname(require.resolve('dynalite'))] })) as {
    Level: new (
      path: string,
      options: { valueEncoding: string; createIfMissing: boolean },
    ) => { open(): Promise<void>; close(): Promise<void> };
  };
  const db = new Level(path, { valueEncoding: 'json', createIfMissing: true });
  try {
    await db.open();
  } catch (err) {
    throw new StoreError(folderProblem(path, err), { cause: err });
  } finally {
    await db.close().catch(() => undefined);
  }
}

/** The table name local mode uses. */
export const LOCAL_TABLE_NAME = 'preflight-results';

export interface StartDynaliteOptions {
  /** A folder to persist the data in (LevelDB); one process at a time. @default - in memory, gone on close */
  readonly path?: string;
  /** @default {@link LOCAL_TABLE_NAME} */
  readonly tableName?: string;
  /** @default - a free port chosen by the system */
  readonly port?: number;
}

export interface RunningDynalite {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  /** Closes the client and the server, and releases the data folder. */
  close(): Promise<void>;
}

/**
 * Starts dynalite on 127.0.0.1 and creates the results table (or finds it, when `path` holds it from an earlier
 * run). The client has static dummy credentials and region, so the SDK never runs its credential provider chain
 * nor looks up the instance metadata service.
 */
export async function startDynalite(options: StartDynaliteOptions = {}): Promise<RunningDynalite> {
  const tableName = options.tableName ?? LOCAL_TABLE_NAME;
  if (options.path !== undefined) await checkDataFolder(options.path);
  const server = dynalite({
    ...(options.path !== undefined ? { path: options.path } : {}),
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((err: unknown) => {
    const where = options.path !== undefined ? ` with data in ${options.path}` : '';
    throw new StoreError(
      `cannot start the embedded store${where} (${(err as Error).message}): is another preflight using that folder or port?`,
      { cause: err },
    );
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  const base = new DynamoDBClient({
    endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 3,
  });
  const client = DynamoDBDocumentClient.from(base, { marshallOptions: { removeUndefinedValues: true } });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    client.destroy();
    base.destroy();
    await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
  };
  const cannotStart = async (err: unknown): Promise<never> => {
    await close().catch(() => undefined);
    throw new StoreError(
      options.path !== undefined
        ? folderProblem(options.path, err)
        : `cannot create the table ${tableName} in the embedded store: ${(err as Error).message}`,
      { cause: err },
    );
  };
  try {
    await base.send(new CreateTableCommand({ TableName: tableName, ...TABLE_DEFINITION }));
  } catch (err) {
    if ((err as { name?: string }).name !== 'ResourceInUseException') await cannotStart(err);
  }
  // Even with createTableMs 0 the table turns ACTIVE a moment later (asynchronously, more so with a data folder).
  for (let waited = 0; ; waited += 10) {
    const { Table } = await base
      .send(new DescribeTableCommand({ TableName: tableName }))
      .catch((err: unknown) => cannotStart(err));
    if (Table?.TableStatus === 'ACTIVE') break;
    if (waited >= 10_000) {
      await close().catch(() => undefined);
      throw new StoreError(
        `the table ${tableName} in the embedded store is still ${Table?.TableStatus} after 10 s`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return { endpoint, client, tableName, close };
}
