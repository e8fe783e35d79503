import { resolve } from 'node:path';
import { readInventoryFiles } from '../../core/audit/inventory';
import type { Inventory } from '../../core/audit/types';
import { type Catalog, defaultCatalog } from '../../core/catalog';
import { LOCAL_ALLOWED_TARGET_CIDRS } from '../../core/safety';
import { InputError, intOption, parseCommandArgs } from '../args';
import type { Io } from '../output';

export const serveHelp = `Usage: preflight serve [--port N] [--host HOST] [--data DIR] [--inventory FILE…] [--allow CIDR…]

Runs the preflight service locally: the HTTP API (the same handlers as behind API Gateway), the
embedded DynamoDB-compatible store (dynalite) persisting under a data folder, the check runner and a
scheduler that starts a check of every stored environment with a \`schedule\` (EventBridge syntax,
UTC) in this process. Checks probe the cloud vantages' flows from this machine; each on-prem
vantage's flows become a job for \`preflight agent --api URL --vantage NAME\` (the /agents/… routes),
and the run waits for it up to the probe budget (\`probe.budgetSeconds\`, default 300 s). Use --host
0.0.0.0 (or an address) for agents on other machines. Ctrl-C (SIGINT) or SIGTERM stops it gracefully:
running checks get a few seconds to finish, then are closed as partial; nothing is left half-written.

Options:
  --port N          the API port (default: $PORT, else 8787; 0 picks a free one)
  --host HOST       the address to listen on (default 127.0.0.1; anything else is warned about:
                    the local API has no authentication). Requests must name this server in Host
                    (an address, localhost or HOST) and come from no other site (Origin), and
                    bodies must be Content-Type: application/json
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
  const { LocalServiceListenError, startLocalService } =
    require('../../local/service') as typeof import('../../local/service');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const allowedTargetCidrs = values.allow ?? LOCAL_ALLOWED_TARGET_CIDRS;
  let service: Awaited<ReturnType<typeof startLocalService>>;
  try {
    service = await startLocalService({
      port,
      host: values.host,
      dataDir,
      catalog,
      allowedTargetCidrs,
      ...(inventory ? { inventory } : {}),
      log: (line) => io.stderr.write(`${line}\n`),
    });
  } catch (err) {
    if (err instanceof LocalServiceListenError) throw new InputError(err.message);
    throw err;
  }
  const { recovered } = service;
  if (!service.loopbackOnly) {
    io.stderr.write(
      `WARNING: --host ${values.host} is not loopback: anyone who can reach ${service.url} can make this machine ` +
        `probe ${allowedTargetCidrs.join(', ')} (the API has no authentication locally). Use --host 127.0.0.1 ` +
        `unless this network is yours alone.\n`,
    );
  }
  io.stdout.write(
    `preflight service on ${service.url} (data in ${dataDir}${recovered ? `; closed ${recovered} unfinished run(s) of an earlier process` : ''})\n`,
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
  await service.stop(GRACE_MS);
  io.stdout.write('stopped\n');
  return 0;
}
