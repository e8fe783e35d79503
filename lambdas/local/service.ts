/**
 * The local service's composition, as `npm start` (`preflight serve`) runs it: the embedded DynamoDB-compatible
 * store persisting to a folder, the results store and the agent jobs on it, the in-process runner (every run
 * vetted against the allowed CIDRs right before it connects), the scheduler of stored environments, and the
 * HTTP server with the API's routes. The CLI only parses its options and prints; tests and benchmarks can start
 * the same service in-process.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Inventory } from '../core/audit/types';
import type { Catalog } from '../core/catalog';
import { startDynalite } from '../aws/dynalite';
import { DynamoAgentJobStore } from '../aws/dynamo-agent-jobs';
import { DynamoIdempotencyCache } from '../aws/dynamo-idempotency';
import { DynamoResultStore } from '../aws/dynamo-store';
import { DynamoRunData } from '../aws/dynamo-run-data';
import { createRunner } from './runner';
import { localSchedules, startScheduler } from './scheduler';
import { isLoopbackHost, startLocalServer } from './server';

/** What {@link startLocalService} takes. */
export interface LocalServiceOptions {
  readonly port: number;
  readonly host: string;
  /** The folder the store persists to (created when missing). */
  readonly dataDir: string;
  readonly catalog: Catalog;
  /** The target CIDRs checks may probe. */
  readonly allowedTargetCidrs: readonly string[];
  /** AWS CLI exports every check is audited against. @default - none: checks are not audited */
  readonly inventory?: Inventory;
  /** Where the service says what it does (events, scheduler, warnings), one line each. */
  readonly log: (line: string) => void;
}

/** A running local service. */
export interface LocalService {
  readonly url: string;
  /** Runs an earlier process left open and this one closed at start. */
  readonly recovered: number;
  /** Whether the server listens on a loopback address only. */
  readonly loopbackOnly: boolean;
  /** Stops scheduling and serving, gives running checks `graceMs` to finish (then closes them `partial`). */
  stop(graceMs: number): Promise<void>;
}

/** The service could not listen on its port or address: the message says which and what to do. */
export class LocalServiceListenError extends Error {
  override readonly name = 'LocalServiceListenError';
}

/** Starts the local service; nothing is left running when it throws. */
export async function startLocalService(options: LocalServiceOptions): Promise<LocalService> {
  const { port, host, catalog, allowedTargetCidrs, log } = options;
  mkdirSync(options.dataDir, { recursive: true });
  // A folder in use or damaged is a StoreError naming it (one line, exit 2), and nothing is left running.
  const db = await startDynalite({ path: join(options.dataDir, 'store') });
  const store = new DynamoResultStore(db.client, { tableName: db.tableName });
  // On-prem vantages' jobs wait in the store for `preflight agent`, which polls the /agents/… routes.
  const agentJobs = new DynamoAgentJobStore(db.client, { tableName: db.tableName });
  const stopping = new AbortController();
  const runner = createRunner({
    runData: new DynamoRunData(db.client, { tableName: db.tableName }),
    store,
    catalog,
    probeFrom: 'here',
    // Every run, scheduled ones included, is vetted against today's allowed CIDRs right before it connects.
    policy: { mode: 'local', allowedTargetCidrs },
    agentJobs,
    ...(options.inventory ? { inventoryFor: async () => options.inventory as Inventory } : {}),
    events: {
      emit: async (detailType, detail) => log(`event: ${detailType} ${JSON.stringify(detail)}`),
    },
  });
  // This process owns the data folder: any run still open in it was left by a process that died. A run that
  // cannot be read (a damaged record) is left as it is: the service still starts and serves the rest.
  let recovered = 0;
  try {
    recovered = await runner.recoverStale(new Date());
  } catch (err) {
    log(
      `warning: could not close the unfinished runs of an earlier process (${(err as Error).message}); the data folder ${options.dataDir} may be damaged`,
    );
  }
  const scheduler = startScheduler({
    store,
    starter: runner,
    log: (message) => log(`scheduler: ${message}`),
  });
  let server: Awaited<ReturnType<typeof startLocalServer>>;
  try {
    server = await startLocalServer({
      port,
      host,
      store,
      catalog,
      starter: runner,
      schedules: localSchedules(scheduler),
      idempotency: new DynamoIdempotencyCache(db.client, { tableName: db.tableName }),
      allowedTargetCidrs,
      agents: { jobs: agentJobs, stopping: stopping.signal },
    });
  } catch (err) {
    await scheduler.stop();
    await runner.shutdown(0);
    await db.close();
    const code = (err as { code?: string }).code;
    if (code === 'EADDRINUSE') {
      throw new LocalServiceListenError(
        `port ${port} on ${host} is already in use (another preflight serve?): stop it, or choose another with --port N (0 picks a free one)`,
      );
    }
    if (code === 'EADDRNOTAVAIL' || code === 'EACCES') {
      throw new LocalServiceListenError(
        `cannot listen on ${host}:${port} (${code}): check --host and --port`,
      );
    }
    throw err;
  }
  return {
    url: server.url,
    recovered,
    loopbackOnly: isLoopbackHost(host),
    async stop(graceMs) {
      stopping.abort();
      await scheduler.stop();
      await server.close();
      await runner.shutdown(graceMs);
      await db.close();
    },
  };
}
