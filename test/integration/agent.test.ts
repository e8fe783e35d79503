import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_PAGE_BYTES, AGENT_RESULTS_PAGE } from '../../lambdas/core/agent/jobs';
import { startAgent } from '../support/agent';
import { REPO } from '../support/cli';
import { startService, type Service } from '../support/service';

// The agent side against `preflight serve` on loopback, every part a real process: the agent routes (vantage
// scoping, validation, leases), the run waiting for its agents, an agent stopped mid-job, a restarted API.

jest.setTimeout(90_000);

interface Reply {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

async function call(base: string, method: string, path: string, body?: unknown): Promise<Reply> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
}

async function listen(handler: (s: Socket) => void = (s) => s.on('error', () => undefined).end()) {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

async function freePort(): Promise<number> {
  const { server, port } = await listen();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** An environment whose on-prem vantage dc1 probes `ports` on 127.0.0.1 "in the VPC" (ingress). */
function environment(name: string, ports: readonly number[], budgetSeconds = 20) {
  return {
    name,
    vantages: [
      { name: 'workers', roles: ['target-worker'] },
      { name: 'dc1', placement: 'on-prem', roles: ['migration-appliance'], addresses: ['127.0.0.1'] },
    ],
    flows: ports.map((port, i) => ({
      name: `p${i}`,
      from: 'dc1',
      to: ['127.0.0.1'],
      ports: String(port),
      placement: 'cloud',
    })),
    probe: { timeoutMs: 1000, budgetSeconds },
  };
}

async function startCheck(base: string, env: unknown): Promise<string> {
  const r = await call(base, 'POST', '/checks', { environment: env });
  expect(r.status).toBe(202);
  return r.body.checkId as string;
}

async function finished(base: string, checkId: string) {
  for (;;) {
    const r = await call(base, 'GET', `/checks/${checkId}`);
    if (r.body.status !== 'queued' && r.body.status !== 'running') return r.body;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

let dir: string;
let service: Service;
let open: { server: Server; port: number };
let closed: number;

beforeAll(async () => {
  // The bundle as `npm ci` builds it, from the sources as they are now.
  execFileSync(process.execPath, ['-e', "require('./bin/build-cli').buildAgent()"], { cwd: REPO });
  dir = mkdtempSync(join(tmpdir(), 'preflight-agent-'));
  service = await startService(join(dir, 'data'));
  open = await listen();
  closed = await freePort();
});

afterAll(async () => {
  await service?.stop();
  await new Promise((resolve) => open.server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

describe('agent routes', () => {
  it("keep each vantage's jobs to itself, validate what agents send, and lease a job to one agent", async () => {
    // Arrange: a run whose dc1 job waits for an agent.
    const base = service.url;
    const checkId = await startCheck(base, environment('routes', [open.port, closed]));
    // Act + Assert: another vantage sees nothing and cannot reach dc1's job.
    expect((await call(base, 'GET', '/agents/dc2/jobs?agent=a1&wait=1')).status).toBe(204);
    const offer = await call(base, 'GET', '/agents/dc1/jobs?agent=a1&wait=10');
    expect(offer.status).toBe(200);
    const { job, heartbeatMs, pageSize, maxPageBytes } = offer.body;
    expect(job).toMatchObject({
      checkId,
      vantage: 'dc1',
      status: 'taken',
      agentId: 'a1',
      targets: [{ host: '127.0.0.1', ports: [open.port, closed].sort((x, y) => x - y) }],
      policy: { mode: 'local' },
    });
    expect(job).not.toHaveProperty('taskToken');
    expect(heartbeatMs).toBeGreaterThan(0);
    expect(pageSize).toBe(AGENT_RESULTS_PAGE);
    // A page must fit the router's body limit with its envelope.
    expect(maxPageBytes).toBe(AGENT_PAGE_BYTES);
    for (const action of ['heartbeat', 'release', 'results']) {
      const r = await call(base, 'POST', `/agents/dc2/jobs/${job.jobId}/${action}`, {
        agent: 'a1',
        ...(action === 'results' ? { page: 0, results: [], last: true } : {}),
      });
      expect({ action, status: r.status }).toEqual({ action, status: 404 });
      expect(r.body.errors).toEqual([
        { path: 'path.jobId', message: `${job.jobId}: no such job of vantage dc2` },
      ]);
    }
    // A second agent of dc1 gets nothing while the lease holds, and cannot heartbeat or post for it.
    expect((await call(base, 'GET', '/agents/dc1/jobs?agent=a2&wait=0')).status).toBe(204);
    const stolen = await call(base, 'POST', `/agents/dc1/jobs/${job.jobId}/heartbeat`, { agent: 'a2' });
    expect(stolen.status).toBe(409);
    // Bad input names the field.
    const badAgent = await call(base, 'GET', '/agents/dc1/jobs?agent=a%20b&wait=0');
    expect(badAgent.status).toBe(400);
    expect(badAgent.body.errors[0].path).toBe('query.agent');
    const badWait = await call(base, 'GET', '/agents/dc1/jobs?agent=a1&wait=99');
    expect(badWait.body.errors[0]).toEqual({ path: 'query.wait', message: 'at most 20 seconds (got "99")' });
    const foreign = await call(base, 'POST', `/agents/dc1/jobs/${job.jobId}/results`, {
      agent: 'a1',
      page: 0,
      results: [{ host: '10.9.9.9', port: 22, state: 'open', latencyMs: 1, attempts: 1 }],
      last: true,
    });
    expect(foreign.status).toBe(422);
    expect(foreign.body.errors).toEqual([
      { path: 'body.results[0]', message: `10.9.9.9:22 is not a target of job ${job.jobId}` },
    ]);
    // The holder heartbeats and posts; the last page completes the job and the run.
    expect(
      (await call(base, 'POST', `/agents/dc1/jobs/${job.jobId}/heartbeat`, { agent: 'a1' })).status,
    ).toBe(200);
    const posted = await call(base, 'POST', `/agents/dc1/jobs/${job.jobId}/results`, {
      agent: 'a1',
      page: 0,
      results: [
        { host: '127.0.0.1', port: open.port, state: 'open', latencyMs: 0.2, attempts: 1 },
        {
          host: '127.0.0.1',
          port: closed,
          state: 'closed',
          latencyMs: 0.1,
          code: 'ECONNREFUSED',
          attempts: 1,
        },
      ],
      last: true,
    });
    expect(posted.body).toEqual({ jobId: job.jobId, page: 0, status: 'done' });
    const run = await finished(base, checkId);
    expect(run.status).toBe('succeeded');
    const verdicts = Object.fromEntries(
      run.findings.map((f: { ports: string; verdict: string }) => [f.ports, f.verdict]),
    );
    expect(verdicts).toEqual({ [String(open.port)]: 'pass', [String(closed)]: 'refused' });
  });

  it('are documented in /openapi.json', async () => {
    // Act
    const doc = await call(service.url, 'GET', '/openapi.json');
    // Assert
    expect(Object.keys(doc.body.paths).filter((p) => p.startsWith('/agents/'))).toEqual([
      '/agents/{vantage}/jobs',
      '/agents/{vantage}/jobs/{jobId}/heartbeat',
      '/agents/{vantage}/jobs/{jobId}/results',
      '/agents/{vantage}/jobs/{jobId}/release',
      '/agents/{vantage}/jobs/{jobId}/fail',
    ]);
    expect(doc.body.components.schemas.AgentResults.required).toEqual(['agent', 'page', 'results', 'last']);
  });
});

describe('preflight agent', () => {
  it('the single-file bundle, run from an empty folder, takes the job, probes and posts: the run finishes with its verdicts', async () => {
    // Arrange: the bundle alone in a folder with no node_modules.
    const bare = mkdtempSync(join(tmpdir(), 'preflight-bare-'));
    copyFileSync(join(REPO, 'dist', 'preflight-agent.js'), join(bare, 'preflight-agent.js'));
    const checkId = await startCheck(service.url, environment('bundle', [open.port, closed]));
    // Act
    const agent = startAgent(['--api', service.url, '--vantage', 'dc1', '--once'], {
      script: join(bare, 'preflight-agent.js'),
      cwd: bare,
    });
    const code = await agent.exited;
    const run = await finished(service.url, checkId);
    // Assert
    expect(code).toBe(0);
    expect(agent.output()).toMatch(/took job \w+ of run \w+ \(bundle\): 2 ports on 1 hosts/);
    expect(agent.output()).toMatch(/probed 2 ports in .*: 1 open, 1 closed/);
    expect(agent.output()).toMatch(/done: 2 results posted in 1 page/);
    const refused = run.findings.find((f: { verdict: string }) => f.verdict === 'refused');
    expect(refused.cause).toBe(
      `${closed} refused by 127.0.0.1: path open; start the service, or run \`preflight respond --ports ${closed}\` there`,
    );
    expect(run.findings.find((f: { ports: string }) => f.ports === String(open.port)).verdict).toBe('pass');
    rmSync(bare, { recursive: true, force: true });
  });

  it('with no agent, the flows of the vantage are skipped with the reason once the budget is spent', async () => {
    // Act
    const checkId = await startCheck(service.url, environment('no-agent', [open.port], 5));
    const run = await finished(service.url, checkId);
    // Assert
    expect(run.status).toBe('succeeded');
    expect(run.findings).toEqual([
      expect.objectContaining({
        verdict: 'skipped',
        cause: 'not probed: no agent for vantage dc1 reported within 5 s',
      }),
    ]);
  });

  it('stopped mid-job, it releases the job; a restarted agent completes the same run', async () => {
    // Arrange: a TLS port that accepts and stays silent holds the identification (and the job) for seconds.
    const silent: Socket[] = [];
    const tls = createServer((s) => {
      silent.push(s.on('error', () => undefined));
    });
    await new Promise<void>((resolve) => tls.listen(2376, '127.0.0.1', resolve));
    const checkId = await startCheck(service.url, environment('restart', [2376, closed], 40));
    const first = startAgent(['--api', service.url, '--vantage', 'dc1']);
    await first.waitFor(/took job/);
    // Act
    const code = await first.stop('SIGTERM');
    const second = startAgent(['--api', service.url, '--vantage', 'dc1', '--once']);
    const secondCode = await second.exited;
    const run = await finished(service.url, checkId);
    // Assert
    expect(code).toBe(0);
    expect(first.output()).toMatch(/stopped: released job \w+/);
    expect(first.output()).not.toMatch(/results posted/);
    expect(secondCode).toBe(0);
    expect(second.output()).toMatch(/done: 2 results posted/);
    expect(run.status).toBe('succeeded');
    expect(run.findings.map((f: { verdict: string }) => f.verdict).sort()).toEqual(['refused', 'warn']);
    for (const s of silent) s.destroy();
    await new Promise((resolve) => tls.close(resolve));
  });

  it('survives the API restarting: it retries with backoff and takes the next job', async () => {
    // Arrange: a second service on a fixed port, and an agent polling it.
    const port = await freePort();
    const data = join(dir, 'restart-data');
    let api = await startService(data, ['--port', String(port)]);
    const agent = startAgent(['--api', api.url, '--vantage', 'dc1', '--once']);
    await agent.waitFor(/polling http/);
    // Act: the API goes away, the agent keeps trying, the API comes back and a check starts.
    await api.stop();
    await agent.waitFor(/polling for a job: cannot reach the preflight API .*; retrying in/);
    api = await startService(data, ['--port', String(port)]);
    await agent.waitFor(/the API answers again/);
    const checkId = await startCheck(api.url, environment('api-restart', [open.port]));
    const code = await agent.exited;
    const run = await finished(api.url, checkId);
    await api.stop();
    // Assert
    expect(code).toBe(0);
    expect(run.findings.map((f: { verdict: string }) => f.verdict)).toEqual(['pass']);
  });

  it.each([
    [['--vantage', 'dc1'], /--api URL is required/],
    [['--api', 'http://127.0.0.1:1', '--vantage', 'DC 1'], /--vantage: "DC 1" is not a vantage name/],
    [['--api', 'nope', '--vantage', 'dc1'], /--api: "nope" is not a URL/],
  ])('refuses %j naming the option (exit 2)', async (args, message) => {
    // Act
    const agent = startAgent(args);
    const code = await agent.exited;
    // Assert
    expect(code).toBe(2);
    expect(agent.output()).toMatch(message);
    expect(agent.output()).not.toMatch(/\n\s+at /);
  });
});
