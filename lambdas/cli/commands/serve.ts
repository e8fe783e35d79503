import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readInventoryFiles } from '../../core/audit/inventory';
import type { Inventory } from '../../core/audit/types';
import { type Catalog, defaultCatalog } from '../../core/catalog';
import { createRunner } from '../../core/run/runner';
import { LOCAL_ALLOWED_TARGET_CIDRS } from '../../core/safety';
import { intOption, parseCommandArgs } from '../args';
import type { Io } from '../output';

export const serveHelp = `Usage: preflight serve [--port N] [--host HOST] [--data DIR] [--inventory FILE…] [--allow CIDR…]

Runs the preflight service locally: the HTTP API (the same handlers as behind API Gateway), the
embedded DynamoDB-compatible store (dynalite) persisting under a data folder, the check runner and a
scheduler that starts a check of every stored environment with a \`schedule\` (EventBridge syntax,
UTC) in this process. Checks probe from this machine. Ctrl-C (SIGINT) or SIGTERM stops it gracefully:
running checks get a few seconds to finish, then are closed as partial; nothing is left half-written.

Options:
  --port N          the API port (default: $PORT, else 8787; 0 picks a free one)
  --host HOST       the address to listen on (default 127.0.0.1)
  --data DIR        where the store persists (default: $PREFLIGHT_DATA, else .preflight/)
  --inventory FILE  AWS CLI exports to audit every check against (see preflight audit --help)
  --allow CIDR      the target CIDRs checks may probe (repeat; default: loopback and the private ranges)
  -h, --help        show this help

Then, from another terminal:
  curl -s localhost:8787/health
  curl -s localhost:8787/openapi.json      # every route and its schemas`;

/** How long running checks may take to finish after a stop signal before they are closed `partial`. */
const GRACE_MS = 5000;

/**
 * `preflight serve`: API + embedded store + runner in one process, until SIGINT/SIGTERM.
 * Resolves with the exit status once stopped; `signal` lets tests stop it without a process signal.
 */
export async function serveCommand(
  argv: string[],
  io: Io,
  injected?: Catalog,
  signal?: AbortSignal,
): Promise<number> {
  const { values } = parseCommandArgs('serve', argv, {
    port: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    data: { type: 'string' },
    inventory: { type: 'string', multiple: true },
    allow: { type: 'string', multiple: true },
  });
  const port = intOption('serve', 'port', values.port ?? io.env.PORT ?? '8787', 0, 65535) ?? 8787;
  const dataDir = resolve(io.cwd, values.data ?? io.env.PREFLIGHT_DATA ?? '.preflight');
  const catalog = injected ?? defaultCatalog();
  const inventory: Inventory | undefined =
    values.inventory && values.inventory.length > 0
      ? readInventoryFiles(values.inventory, io.cwd)
      : undefined;

  // Loaded here only: the other commands never start the store or load the DynamoDB client.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { startDynalite } = require('../../aws/dynalite') as typeof import('../../aws/dynalite');
  const { DynamoResultStore } = require('../../aws/dynamo-store') as typeof import('../../aws/dynamo-store');
  const { startLocalServer } = require('../../local/server') as typeof import('../../local/server');
  const { localSchedules, startScheduler } =
    require('../../local/scheduler') as typeof import('../../local/scheduler');
  const { DynamoIdempotencyCache } =
    require('../../aws/dynamo-idempotency') as typeof import('../../aws/dynamo-idempotency');
  /* eslint-enable @typescript-eslint/no-require-imports */

  mkdirSync(dataDir, { recursive: true });
  const db = await startDynalite({ path: join(dataDir, 'store') });
  const store = new DynamoResultStore(db.client, { tableName: db.tableName });
  const runner = createRunner({
    store,
    catalog,
    probeFrom: 'here',
    ...(inventory ? { inventoryFor: async () => inventory } : {}),
    events: {
      emit: async (detailType, detail) => {
        io.stderr.write(`event: ${detailType} ${JSON.stringify(detail)}\n`);
      },
    },
  });
  // This process owns the data folder: any run still open in it was left by a process that died.
  const recovered = await runner.recoverStale(new Date());
  const scheduler = startScheduler({
    store,
    starter: runner,
    log: (message) => io.stderr.write(`scheduler: ${message}\n`),
  });
  const server = await startLocalServer({
    port,
    host: values.host,
    store,
    catalog,
    starter: runner,
    schedules: localSchedules(scheduler),
    idempotency: new DynamoIdempotencyCache(db.client, { tableName: db.tableName }),
    allowedTargetCidrs: values.allow ?? LOCAL_ALLOWED_TARGET_CIDRS,
  });
  io.stdout.write(
    `preflight service on ${server.url} (data in ${dataDir}${recovered ? `; closed ${recovered} unfinished run(s) of an earlier process` : ''})\n`,
  );

  await new Promise<void>((done) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      done();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    signal?.addEventListener('abort', stop, { once: true });
  });
  io.stdout.write('stopping: finishing running checks…\n');
  await scheduler.stop();
  await server.close();
  await runner.shutdown(GRACE_MS);
  await db.close();
  io.stdout.write('stopped\n');
  return 0;
}
