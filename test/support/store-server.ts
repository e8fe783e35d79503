import { DynamoResultStore } from '../../lambdas/aws/dynamo-store';
import { type RunningDynalite, startDynalite } from '../../lambdas/aws/dynalite';
import { defaultCatalog } from '../../lambdas/core/catalog';
import type { Environment } from '../../lambdas/core/environment';
import type { CheckStarter } from '../../lambdas/core/service';
import { type CheckRun, queuedRun, type ResultStore, type Trigger } from '../../lambdas/core/store';
import { type LocalServer, type LocalServerOptions, startLocalServer } from '../../lambdas/local/server';

/** A real starter, as small as it gets: it records a `queued` run in the store and nothing more. */
export class QueueingStarter implements CheckStarter {
  /** The environments it was asked to start, in order. */
  readonly started: Environment[] = [];
  constructor(private readonly store: ResultStore) {}
  async start(input: { environment: Environment; trigger: Trigger }): Promise<CheckRun> {
    this.started.push(input.environment);
    return this.store.createRun(queuedRun(input.environment.name, input.trigger, new Date()));
  }
}

/** The local server over real HTTP on the real embedded store, with a {@link QueueingStarter}. */
export interface StoreServer {
  readonly db: RunningDynalite;
  readonly store: DynamoResultStore;
  readonly starter: QueueingStarter;
  readonly server: LocalServer;
  /** Stops the server, then the store. */
  close(): Promise<void>;
}

/**
 * Starts dynalite and the local server on a free loopback port. The catalog is the built-in one and the allowed
 * targets 127.0.0.0/8 unless `options` says otherwise; the tests store their runs and findings themselves.
 */
export async function startStoreServer(
  options: Partial<Omit<LocalServerOptions, 'store' | 'starter'>> = {},
): Promise<StoreServer> {
  const db = await startDynalite();
  const store = new DynamoResultStore(db.client, { tableName: db.tableName });
  const starter = new QueueingStarter(store);
  try {
    const server = await startLocalServer({
      port: 0,
      catalog: defaultCatalog(),
      allowedTargetCidrs: ['127.0.0.0/8'],
      ...options,
      store,
      starter,
    });
    return {
      db,
      store,
      starter,
      server,
      close: async () => {
        await server.close();
        await db.close();
      },
    };
  } catch (err) {
    await db.close();
    throw err;
  }
}
