/**
 * Agents under load: three `preflight agent` processes (the single-file bundle), each the agent of its own
 * on-prem vantage, probing 1,000 ports of its own network-namespace lab (333 open, 333 dropped, 10 rejected
 * unreachable, the rest closed) for one run of the local service (the real server, runner and embedded store).
 * The same three jobs are then run one vantage at a time. Reported: the run's probe phase with the three agents
 * concurrently against the slowest agent alone (goal: within 1.2×), and the API requests per job (polls,
 * heartbeats, result pages), counted by a pass-through proxy in front of the API.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { startDynalite } from '../lambdas/aws/dynalite';
import { DynamoAgentJobStore } from '../lambdas/aws/dynamo-agent-jobs';
import { DynamoResultStore } from '../lambdas/aws/dynamo-store';
import { DynamoRunData } from '../lambdas/aws/dynamo-run-data';
import { defaultCatalog } from '../lambdas/core/catalog';
import { parseEnvironment } from '../lambdas/core/environment';
import { expandPorts } from '../lambdas/core/ports';
import { createRunner } from '../lambdas/local/runner';
import { isClosed } from '../lambdas/core/store';
import { startLocalServer } from '../lambdas/local/server';
import { createLab, type Lab } from '../test/support/netlab';

const REPO = join(__dirname, '..');
const FIRST_PORT = 20001;
const AGENTS = 3;
/** Rounds of (each agent alone, then the three at once). */
const REPEAT = 5;

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
};

export interface AgentsBenchResult {
  /** Probe phase of each agent alone (run start → results stored), median of the rounds, ms, by vantage. */
  soloMs: number[];
  /** Probe phase of the run with the three agents at once, median of the rounds, ms. */
  concurrentMs: number;
  /** concurrentMs / max(soloMs). */
  ratio: number;
  /**
   * The machine's own floor: three bare engines (bench/engine-worker.ts, one process each, no service) on the same
   * labs, at once against the slowest alone, median of the rounds. Within it the agents cannot do better here.
   */
  engineFloor: { soloMs: number; concurrentMs: number; ratio: number };
  /** API requests per job during the concurrent run, by kind. */
  requestsPerJob: Record<string, number>;
  /** States of the concurrent run's ports, summed over the agents. */
  states: Record<string, number>;
}

/** Counts the requests it forwards, by kind of agent route. */
function countingProxy(target: string) {
  const counts: Record<string, number> = {};
  const kind = (method: string, path: string) => {
    if (/^\/agents\/[^/]+\/jobs$/.test(path)) return 'poll';
    const m = /^\/agents\/[^/]+\/jobs\/[^/]+\/([a-z]+)$/.exec(path);
    return m ? m[1]! : `${method} other`;
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', target);
    const k = kind(req.method ?? 'GET', url.pathname);
    counts[k] = (counts[k] ?? 0) + 1;
    const upstream = request(url, { method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });
  return { server, counts };
}

/** Three bare engines, one process each, on the labs: each alone, then the three at once, REPEAT rounds. */
async function measureEngineFloor(labs: readonly Lab[]): Promise<AgentsBenchResult['engineFloor']> {
  const workers = labs.map((lab) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'bench', 'engine-worker.ts')], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const waiting: ((ms: number) => void)[] = [];
    createInterface({ input: child.stdout! }).on('line', (line) => {
      waiting.shift()?.((JSON.parse(line) as { ms: number }).ms);
    });
    const job = JSON.stringify({ host: lab.ipv4, from: FIRST_PORT, to: FIRST_PORT + 999 });
    return {
      child,
      probe: () =>
        new Promise<number>((resolve) => {
          waiting.push(resolve);
          child.stdin!.write(`${job}\n`);
        }),
    };
  });
  try {
    for (const w of workers) await w.probe(); // warm-up, as the agents had
    const solo: number[][] = workers.map(() => []);
    const together: number[] = [];
    for (let r = 0; r < REPEAT; r++) {
      for (let i = 0; i < workers.length; i++) solo[i]!.push(await workers[i]!.probe());
      together.push(Math.max(...(await Promise.all(workers.map((w) => w.probe())))));
    }
    const soloMs = Math.max(...solo.map(median));
    return { soloMs, concurrentMs: median(together), ratio: median(together) / soloMs };
  } finally {
    for (const w of workers) w.child.kill();
  }
}

export async function measureAgentsBench(): Promise<AgentsBenchResult> {
  execFileSync(process.execPath, ['-e', "require('./bin/build-cli').buildAgent()"], { cwd: REPO });
  const ports = expandPorts([{ from: FIRST_PORT, to: FIRST_PORT + 999 }]);
  const labs: Lab[] = [];
  const agents: ChildProcess[] = [];
  const dir = await mkdtemp(join(tmpdir(), 'preflight-agents-bench-'));
  const db = await startDynalite({ path: join(dir, 'store') });
  try {
    for (let i = 0; i < AGENTS; i++) {
      labs.push(
        await createLab({
          listenPorts: ports.slice(0, 333),
          dropPorts: ports.slice(333, 666),
          rejectUnreachablePorts: ports.slice(666, 676),
          ipv6: false,
        }),
      );
    }
    const store = new DynamoResultStore(db.client, { tableName: db.tableName });
    const jobs = new DynamoAgentJobStore(db.client, { tableName: db.tableName });
    const allowedTargetCidrs = ['198.18.0.0/15'];
    const stopping = new AbortController();
    const runner = createRunner({
      runData: new DynamoRunData(db.client, { tableName: db.tableName }),
      store,
      catalog: defaultCatalog(),
      probeFrom: 'here',
      agentJobs: jobs,
      policy: { mode: 'local', allowedTargetCidrs },
      events: { emit: () => undefined },
    });
    const api = await startLocalServer({
      port: 0,
      store,
      catalog: defaultCatalog(),
      starter: runner,
      allowedTargetCidrs,
      agents: { jobs, stopping: stopping.signal },
    });
    const proxy = countingProxy(api.url);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    const proxyUrl = `http://127.0.0.1:${(proxy.server.address() as AddressInfo).port}`;
    for (let i = 0; i < AGENTS; i++) {
      const child = spawn(
        process.execPath,
        [join(REPO, 'dist', 'preflight-agent.js'), '--api', proxyUrl, '--vantage', `dc${i + 1}`],
        { stdio: ['ignore', 'ignore', process.env.PREFLIGHT_BENCH_AGENT_LOG ? 'inherit' : 'ignore'] },
      );
      agents.push(child);
    }

    const environment = (only?: number) => ({
      name: 'agents-bench',
      vantages: [
        { name: 'workers', roles: ['target-worker'] },
        ...labs.map((_, i) => ({
          name: `dc${i + 1}`,
          placement: 'on-prem',
          roles: ['admin-workstation'],
          addresses: [labs[i]!.hostIpv4],
        })),
      ],
      flows: labs.flatMap((lab, i) =>
        only === undefined || only === i
          ? [
              {
                name: `f${i + 1}`,
                from: `dc${i + 1}`,
                to: [lab.ipv4],
                ports: `${FIRST_PORT}-${FIRST_PORT + 999}`,
              },
            ]
          : [],
      ),
      probe: { timeoutMs: 1000, budgetSeconds: 120 },
    });
    /** One run; its probe phase is from the run's start to the last agent job's completion. */
    const runOnce = async (env: ReturnType<typeof environment>) => {
      const run = await runner.start({
        environment: parseEnvironment(env, defaultCatalog()),
        trigger: 'cli',
      });
      const closed = await runner.wait(run.checkId);
      if (!isClosed(closed.status) || closed.status !== 'succeeded')
        throw new Error(`run ${run.checkId} ended ${closed.status}: ${closed.reason ?? ''}`);
      const findings = (await store.listFindings(run.checkId, { limit: 100 })).items;
      const done = [];
      for (let i = 0; i < AGENTS; i++) {
        const out = await db.client.send(
          new QueryCommand({
            TableName: db.tableName,
            KeyConditionExpression: 'PK = :pk',
            ExpressionAttributeValues: { ':pk': `AGENT#dc${i + 1}` },
          }),
        );
        for (const item of out.Items ?? [])
          if (item.checkId === run.checkId) done.push(Date.parse(item.completedAt as string));
      }
      const started = Date.parse(closed.startedAt ?? closed.createdAt);
      return { ms: Math.max(...done) - started, findings };
    };

    // Warm-up: each agent once (JIT, lab ARP), not counted. Then, alternately, each agent alone and the three
    // at once, REPEAT times: the engine's adaptive timeouts make single runs vary, so medians are compared.
    await runOnce(environment());
    const solo: number[][] = labs.map(() => []);
    const together: number[] = [];
    let concurrent: Awaited<ReturnType<typeof runOnce>> | undefined;
    let requests: Record<string, number> = {};
    for (let r = 0; r < REPEAT; r++) {
      for (let i = 0; i < AGENTS; i++) solo[i]!.push((await runOnce(environment(i))).ms);
      for (const k of Object.keys(proxy.counts)) delete proxy.counts[k];
      concurrent = await runOnce(environment());
      together.push(concurrent.ms);
      requests = { ...proxy.counts };
    }
    const soloMs = solo.map(median);
    const requestsPerJob = Object.fromEntries(
      Object.entries(requests).map(([k, n]) => [k, Math.round((n / AGENTS) * 10) / 10]),
    );
    const states: Record<string, number> = {};
    for (const f of concurrent!.findings) {
      const detail = f.detail as { probe?: { ports?: Record<string, string> } } | undefined;
      for (const [state, list] of Object.entries(detail?.probe?.ports ?? {})) {
        const count = list
          .split(',')
          .map((r) => r.split('-').map(Number))
          .reduce((n, [a, b]) => n + ((b ?? a!) - a! + 1), 0);
        states[state] = (states[state] ?? 0) + count;
      }
    }
    // Agents first: their held polls end at once when the service says it is stopping.
    for (const a of agents) a.kill('SIGTERM');
    const engineFloor = await measureEngineFloor(labs);
    stopping.abort();
    proxy.server.closeAllConnections();
    await new Promise((resolve) => proxy.server.close(resolve));
    await api.close().catch(() => undefined);
    await runner.shutdown(1000);
    return {
      soloMs,
      concurrentMs: median(together),
      ratio: median(together) / Math.max(...soloMs),
      engineFloor,
      requestsPerJob,
      states,
    };
  } finally {
    for (const a of agents) a.kill('SIGTERM');
    await Promise.all(labs.map((l) => l.destroy()));
    await db.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export async function benchAgents(): Promise<AgentsBenchResult> {
  const r = await measureAgentsBench();
  const f = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  process.stdout.write(
    [
      `three agents × 1,000 ports (333 open, 333 dropped, 10 unreachable, 324 closed each), local service`,
      `  alone (medians of ${REPEAT}):        ${r.soloMs.map(f).join(', ')} (slowest ${f(Math.max(...r.soloMs))})`,
      `  concurrently (median of ${REPEAT}): ${f(r.concurrentMs)}  ratio ${r.ratio.toFixed(2)} (goal ≤ 1.20: ${r.ratio <= 1.2 ? 'met' : 'NOT met'})`,
      `  the machine's floor, three bare engines without the service (medians of ${REPEAT}): alone ${f(r.engineFloor.soloMs)}, at once ${f(r.engineFloor.concurrentMs)}, ratio ${r.engineFloor.ratio.toFixed(2)}; the agents' ratio over it ${(r.ratio / r.engineFloor.ratio).toFixed(2)}`,
      `  API requests per job: ${Object.entries(r.requestsPerJob)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')} (total ${Object.values(r.requestsPerJob)
        .reduce((a, b) => a + b, 0)
        .toFixed(1)})`,
      `  states (concurrent run): ${JSON.stringify(r.states)}`,
      '',
    ].join('\n'),
  );
  return r;
}
