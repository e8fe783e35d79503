/**
 * The local API under load: concurrent clients creating checks (POST /checks with an inline environment), reading
 * each back (GET /checks/{id}) and listing the environment's runs (GET /checks?environment=…), against the real
 * local server, the real in-process runner and the real embedded store persisting to a temporary folder (as
 * `npm start` does). Targets are loopback only: one port that listens and one that is closed, both on 127.0.0.1.
 * The report gives throughput, latency per route, errors by kind (goal: none) and whether every created run
 * closes and can be read back, one by one and by paging the listing (goal: all).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startDynalite } from '../lambdas/aws/dynalite';
import { DynamoResultStore } from '../lambdas/aws/dynamo-store';
import { DynamoRunData } from '../lambdas/aws/dynamo-run-data';
import { defaultCatalog } from '../lambdas/core/catalog';
import { createRunner } from '../lambdas/local/runner';
import type { EventSink } from '../lambdas/core/run/steps';
import { LOCAL_ALLOWED_TARGET_CIDRS } from '../lambdas/core/safety';
import { isClosed, type RunStatus } from '../lambdas/core/store';
import { startLocalServer } from '../lambdas/local/server';

/** Options of {@link measureApiBench}. */
export interface ApiBenchOptions {
  /** Concurrent clients. @default 16 */
  readonly clients?: number;
  /** POST /checks in total, over all clients. @default 500 */
  readonly posts?: number;
  /** The load phase stops taking new iterations after this long. @default 30000 */
  readonly maxMs?: number;
  /** One list call (GET /checks?environment=…) every this many iterations of a client. @default 5 */
  readonly listEvery?: number;
  /** How long to wait for the created runs to close before reading them back. @default 60000 */
  readonly settleMs?: number;
}

/** Latency figures of one route, in ms. */
export interface RouteFigures {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** The numbers of one benchmark, as {@link measureApiBench} returns them. */
export interface ApiBenchResult {
  clients: number;
  /** Wall time of the load phase. */
  loadMs: number;
  /** Requests of the load phase (all routes, errors included). */
  requests: number;
  /** Requests per second during the load phase. */
  throughputRps: number;
  /** Checks created (POST /checks answered 202 with a checkId). */
  created: number;
  routes: { post: RouteFigures; get: RouteFigures; list: RouteFigures; all: RouteFigures };
  /** Errors of the load phase by kind (`POST /checks: http 500`, `GET /checks/{id}: network ECONNRESET`…). */
  errors: Record<string, number>;
  errorCount: number;
  /** How the created runs ended. */
  statuses: Partial<Record<RunStatus, number>>;
  /** State-change events the runner emitted (one per flow whose state changed). */
  events: number;
  /** Time from the end of the load phase until every created run was closed (or the settle limit). */
  settleMs: number;
  readBack: {
    /** Created runs that GET /checks/{id} returned 200, closed, with the same checkId. */
    ok: number;
    /** The others, with why (the first few). */
    failed: number;
    failures: string[];
    /** Runs the paged listing returned, its pages, and how it compares with the created set. */
    listed: number;
    pages: number;
    missingFromList: number;
    unexpectedInList: number;
    duplicatesInList: number;
  };
  /** Every created run closed and read back, and the listing holds exactly them. */
  allReadBack: boolean;
}

const ROUTE_POST = 'POST /checks';
const ROUTE_GET = 'GET /checks/{id}';
const ROUTE_LIST = 'GET /checks?environment=';

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

function figuresOf(samples: readonly number[]): RouteFigures {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50Ms: round(percentile(sorted, 50)),
    p99Ms: round(percentile(sorted, 99)),
    maxMs: round(sorted[sorted.length - 1] ?? 0),
  };
}

/** A TCP listener on 127.0.0.1 that accepts and closes each connection; `close()` drops any left. */
async function listenLoopback(): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    socket.end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A loopback port nothing listens on: bound by the system, then released. */
async function closedLoopbackPort(): Promise<number> {
  const { port, close } = await listenLoopback();
  await close();
  return port;
}

function errorKind(err: unknown): string {
  const e = err as { name?: string; code?: string; cause?: { code?: string; name?: string } } | null;
  return e?.cause?.code ?? e?.code ?? e?.cause?.name ?? e?.name ?? 'unknown';
}

/** Runs the benchmark and returns its figures; everything it starts is closed and its folder removed. */
export async function measureApiBench(options: ApiBenchOptions = {}): Promise<ApiBenchResult> {
  const clients = options.clients ?? 16;
  const totalPosts = options.posts ?? 500;
  const maxMs = options.maxMs ?? 30_000;
  const listEvery = options.listEvery ?? 5;
  const settleLimitMs = options.settleMs ?? 60_000;

  const dir = await mkdtemp(join(tmpdir(), 'preflight-api-bench-'));
  const cleanups: (() => Promise<unknown>)[] = [() => rm(dir, { recursive: true, force: true })];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
  };

  try {
    const open = await listenLoopback();
    cleanups.push(() => open.close());
    const closedPort = await closedLoopbackPort();

    const dynalite = await startDynalite({ path: join(dir, 'data') });
    cleanups.push(() => dynalite.close());
    const store = new DynamoResultStore(dynalite.client, { tableName: dynalite.tableName });
    const catalog = defaultCatalog();
    let eventCount = 0;
    const events: EventSink = {
      emit: () => {
        eventCount += 1;
      },
    };
    const runner = createRunner({
      runData: new DynamoRunData(dynalite.client, { tableName: dynalite.tableName }),
      store,
      catalog,
      events,
      probeFrom: 'here',
    });
    cleanups.push(() => runner.shutdown(5_000));
    const server = await startLocalServer({
      port: 0,
      host: '127.0.0.1',
      store,
      catalog,
      starter: runner,
      allowedTargetCidrs: LOCAL_ALLOWED_TARGET_CIDRS,
    });
    cleanups.push(() => server.close());
    const base = server.url;

    const envName = `bench-api-${Date.now().toString(36)}`;
    const body = JSON.stringify({
      environment: {
        name: envName,
        vantages: [{ name: 'here', roles: ['target-worker'] }],
        flows: [
          { name: 'open-port', to: ['127.0.0.1'], ports: String(open.port) },
          { name: 'closed-port', to: ['127.0.0.1'], ports: String(closedPort) },
        ],
        probe: { timeoutMs: 1000, retries: 0 },
      },
    });

    const latencies: Record<string, number[]> = { [ROUTE_POST]: [], [ROUTE_GET]: [], [ROUTE_LIST]: [] };
    const errors: Record<string, number> = {};
    const fail = (kind: string) => (errors[kind] = (errors[kind] ?? 0) + 1);
    const created: string[] = [];
    let requests = 0;

    /** One request; its latency counts under `route`; resolves with the parsed body or undefined on error. */
    const call = async (route: string, path: string, init?: RequestInit): Promise<unknown> => {
      requests += 1;
      const started = performance.now();
      try {
        const res = await fetch(base + path, init);
        const text = await res.text();
        latencies[route]!.push(performance.now() - started);
        if (res.status < 200 || res.status > 299) {
          fail(`${route}: http ${res.status}`);
          return undefined;
        }
        try {
          return JSON.parse(text) as unknown;
        } catch {
          fail(`${route}: body not JSON`);
          return undefined;
        }
      } catch (err) {
        latencies[route]!.push(performance.now() - started);
        fail(`${route}: network ${errorKind(err)}`);
        return undefined;
      }
    };

    // Warm-up (not measured): one of each, so the first-request costs (JIT, table open) stay out of the figures.
    const warm = (await fetch(`${base}/checks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    }).then((r) => r.json())) as { checkId?: string };
    if (typeof warm.checkId !== 'string')
      throw new Error(`warm-up POST /checks failed: ${JSON.stringify(warm)}`);
    created.push(warm.checkId);
    await fetch(`${base}/checks/${warm.checkId}`).then((r) => r.text());

    let remaining = totalPosts;
    const loadStart = performance.now();
    const deadline = loadStart + maxMs;
    const client = async () => {
      for (let i = 0; remaining > 0 && performance.now() < deadline; i++) {
        remaining -= 1;
        const posted = (await call(ROUTE_POST, '/checks', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        })) as { checkId?: unknown } | undefined;
        if (posted !== undefined) {
          if (typeof posted.checkId !== 'string') {
            fail(`${ROUTE_POST}: no checkId in the answer`);
          } else {
            created.push(posted.checkId);
            const got = (await call(ROUTE_GET, `/checks/${encodeURIComponent(posted.checkId)}`)) as
              { checkId?: unknown } | undefined;
            if (got !== undefined && got.checkId !== posted.checkId) fail(`${ROUTE_GET}: another checkId`);
          }
        }
        if (i % listEvery === listEvery - 1) {
          await call(ROUTE_LIST, `/checks?environment=${envName}&limit=25`);
        }
      }
    };
    await Promise.all(Array.from({ length: clients }, () => client()));
    const loadMs = performance.now() - loadStart;

    // Wait for every created run to close (the runner runs them in the background).
    const settleStart = performance.now();
    const settleDeadline = settleStart + settleLimitMs;
    await Promise.all(
      created.map((id) =>
        Promise.race([
          runner.wait(id).catch(() => undefined),
          new Promise((resolve) =>
            setTimeout(resolve, Math.max(0, settleDeadline - performance.now())).unref(),
          ),
        ]),
      ),
    );
    const settleMs = performance.now() - settleStart;

    // Read back every created run, over HTTP, a few at a time.
    const statuses: Partial<Record<RunStatus, number>> = {};
    const failures: string[] = [];
    let ok = 0;
    const queue = [...created];
    await Promise.all(
      Array.from({ length: clients }, async () => {
        for (let id = queue.pop(); id !== undefined; id = queue.pop()) {
          try {
            const res = await fetch(`${base}/checks/${encodeURIComponent(id)}`);
            const run = (await res.json()) as { checkId?: string; status?: RunStatus };
            if (run.status !== undefined) statuses[run.status] = (statuses[run.status] ?? 0) + 1;
            if (res.status !== 200) failures.push(`${id}: http ${res.status}`);
            else if (run.checkId !== id) failures.push(`${id}: answered ${String(run.checkId)}`);
            else if (run.status === undefined || !isClosed(run.status))
              failures.push(`${id}: still ${String(run.status)}`);
            else ok += 1;
          } catch (err) {
            failures.push(`${id}: network ${errorKind(err)}`);
          }
        }
      }),
    );

    // Page the environment's listing to its end.
    const listedIds: string[] = [];
    let pages = 0;
    let cursor: string | undefined;
    do {
      const qs = new URLSearchParams({ environment: envName, limit: '100' });
      if (cursor !== undefined) qs.set('cursor', cursor);
      const res = await fetch(`${base}/checks?${qs.toString()}`);
      if (res.status !== 200) {
        failures.push(`listing page ${pages + 1}: http ${res.status}`);
        break;
      }
      const page = (await res.json()) as { items: { checkId: string }[]; nextCursor?: string };
      pages += 1;
      listedIds.push(...page.items.map((r) => r.checkId));
      cursor = page.nextCursor;
    } while (cursor !== undefined && pages < 10_000);
    const createdSet = new Set(created);
    const listedSet = new Set(listedIds);
    const missingFromList = created.filter((id) => !listedSet.has(id)).length;
    const unexpectedInList = [...listedSet].filter((id) => !createdSet.has(id)).length;
    const duplicatesInList = listedIds.length - listedSet.size;

    const all = [...latencies[ROUTE_POST]!, ...latencies[ROUTE_GET]!, ...latencies[ROUTE_LIST]!];
    const errorCount = Object.values(errors).reduce((a, b) => a + b, 0);
    return {
      clients,
      loadMs: round(loadMs, 0),
      requests,
      throughputRps: round(requests / (loadMs / 1000)),
      created: created.length,
      routes: {
        post: figuresOf(latencies[ROUTE_POST]!),
        get: figuresOf(latencies[ROUTE_GET]!),
        list: figuresOf(latencies[ROUTE_LIST]!),
        all: figuresOf(all),
      },
      errors,
      errorCount,
      statuses,
      events: eventCount,
      settleMs: round(settleMs, 0),
      readBack: {
        ok,
        failed: created.length - ok,
        failures: failures.slice(0, 10),
        listed: listedIds.length,
        pages,
        missingFromList,
        unexpectedInList,
        duplicatesInList,
      },
      allReadBack:
        ok === created.length &&
        listedIds.length === created.length &&
        missingFromList === 0 &&
        unexpectedInList === 0 &&
        duplicatesInList === 0,
    };
  } finally {
    await cleanup();
  }
}

/** `npm run bench -- api`: runs {@link measureApiBench} and prints a short report. */
export async function benchApi(): Promise<void> {
  const f = await measureApiBench();
  const out = process.stdout;
  const line = (name: string, r: RouteFigures) =>
    `  ${name.padEnd(26)} ${String(r.count).padStart(5)} requests, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, max ${r.maxMs} ms\n`;
  out.write(
    `${f.clients} clients, ${f.created} checks created (1 warm-up + load), ${f.requests} requests in ${f.loadMs} ms: ${f.throughputRps} requests/s\n`,
  );
  out.write(line(ROUTE_POST, f.routes.post));
  out.write(line(ROUTE_GET, f.routes.get));
  out.write(line(ROUTE_LIST, f.routes.list));
  out.write(line('all', f.routes.all));
  out.write(
    `errors: ${f.errorCount}${f.errorCount > 0 ? ` ${JSON.stringify(f.errors)}` : ''}; goal none: ${f.errorCount === 0 ? 'met' : 'NOT met'}\n`,
  );
  out.write(`runs closed in ${f.settleMs} ms after the load; statuses ${JSON.stringify(f.statuses)}\n`);
  const rb = f.readBack;
  out.write(
    `read back: ${rb.ok}/${f.created} by GET /checks/{id} (200, closed); listing ${rb.listed} in ${rb.pages} pages ` +
      `(missing ${rb.missingFromList}, unexpected ${rb.unexpectedInList}, duplicates ${rb.duplicatesInList}); goal all: ${f.allReadBack ? 'met' : 'NOT met'}\n`,
  );
  for (const failure of rb.failures) out.write(`  ${failure}\n`);
}
