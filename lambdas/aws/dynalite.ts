/**
 * The embedded DynamoDB-compatible store of local mode and of the integration tests: dynalite in this process,
 * on loopback, with the results table created from {@link TABLE_DEFINITION}.
 */
import type { AddressInfo } from 'node:net';
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

// eslint-disable-next-line @typescript-eslint/no-require-imports
const dynalite = require('dynalite') as Dynalite;

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
  try {
    await base.send(new CreateTableCommand({ TableName: tableName, ...TABLE_DEFINITION }));
  } catch (err) {
    if ((err as { name?: string }).name !== 'ResourceInUseException') {
      await close().catch(() => undefined);
      throw new StoreError(
        `cannot create the table ${tableName} in the embedded store: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }
  // Even with createTableMs 0 the table turns ACTIVE a moment later (asynchronously, more so with a data folder).
  for (let waited = 0; ; waited += 10) {
    const { Table } = await base.send(new DescribeTableCommand({ TableName: tableName }));
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
