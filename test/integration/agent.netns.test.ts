import { type ChildProcess, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from '../support/cli';
import { createSiteLab, type SiteLab } from '../support/sitelab';

// The on-premises side end to end, in a lab of network namespaces the test creates: "dc" and "vpc" joined
// through a "router" whose iptables is the firewall. `preflight serve` runs in vpc (its runner probes the cloud
// vantage's egress flows from there) and is reached from dc through the router; `preflight agent` (the
// single-file bundle) runs as a real process in dc; listeners and `preflight respond` answer on both sides.

jest.setTimeout(180_000);

const API_PORT = 18787;
const LISTENER = join(REPO, 'test', 'support', 'listener.js');
const AGENT = join(REPO, 'dist', 'preflight-agent.js');
const CLI = join(REPO, 'bin', 'preflight.js');

/** A process in a namespace with its output, waiting for a line. */
function watch(child: ChildProcess) {
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    output: () => out,
    exited,
    waitFor: async (pattern: RegExp, timeoutMs = 30_000) => {
      const until = Date.now() + timeoutMs;
      while (!pattern.test(out)) {
        if (Date.now() > until) throw new Error(`no ${pattern} within ${timeoutMs} ms:\n${out}`);
        if (child.exitCode !== null) throw new Error(`exited before ${pattern}:\n${out}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    kill: (signal: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, signal);
      } catch {
        // the group is gone already
      }
      return exited;
    },
  };
}

interface Finding {
  readonly direction: string;
  readonly ports: string;
  readonly verdict: string;
  readonly cause: string;
  readonly source: string;
}

let lab: SiteLab;
let dataDir: string;
let api: string;
const background: Array<ReturnType<typeof watch>> = [];

async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(`${api}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : undefined) as any };
}

async function runCheck(
  environment: unknown,
): Promise<{ checkId: string; findings: Finding[]; status: string }> {
  const started = await call('POST', '/checks', { environment });
  expect(started.status).toBe(202);
  const checkId = started.body.checkId as string;
  for (;;) {
    const r = await call('GET', `/checks/${checkId}`);
    if (r.body.status !== 'queued' && r.body.status !== 'running')
      return { checkId, findings: r.body.findings, status: r.body.status };
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

function agentIn(vantage: string, once = true) {
  const a = watch(
    lab.spawnIn(lab.dc, [
      process.execPath,
      AGENT,
      '--api',
      `http://${lab.vpcHost}:${API_PORT}`,
      '--vantage',
      vantage,
      '--unsigned',
      ...(once ? ['--once'] : []),
    ]),
  );
  background.push(a);
  return a;
}

beforeAll(async () => {
  execFileSync(process.execPath, ['-e', "require('./bin/build-cli').buildAgent()"], { cwd: REPO });
  lab = await createSiteLab({
    dropPorts: [21004, 22004],
    unreachablePorts: [21005, 22005],
    dcServerDropPorts: [23004],
  });
  dataDir = mkdtempSync(join(tmpdir(), 'preflight-site-'));
  const start = (ns: string, argv: string[], ready: RegExp) => {
    const p = watch(lab.spawnIn(ns, argv));
    background.push(p);
    return p.waitFor(ready);
  };
  await Promise.all([
    start(lab.dc, [process.execPath, LISTENER, '21001'], /ready/),
    start(lab.vpc, [process.execPath, LISTENER, '22001,2376'], /ready/),
    start(
      lab.dc,
      [process.execPath, CLI, 'respond', '--ports', '21002', '--for', '10m', '--json'],
      /listening/,
    ),
    start(
      lab.vpc,
      [process.execPath, CLI, 'respond', '--ports', '1500', '--for', '10m', '--json'],
      /listening/,
    ),
    start(
      lab.vpc,
      [
        process.execPath,
        CLI,
        'serve',
        '--host',
        '0.0.0.0',
        '--port',
        String(API_PORT),
        '--data',
        dataDir,
        '--allow',
        '198.19.0.0/16',
      ],
      /preflight service on/,
    ),
  ]);
  api = `http://${lab.vpcMgmt}:${API_PORT}`;
});

afterAll(async () => {
  for (const p of background) await p.kill('SIGKILL').catch(() => undefined);
  await lab?.destroy();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

const flow = (name: string, from: string, to: string, port: number, placement: 'cloud' | 'on-prem') => ({
  name,
  from,
  to: [to],
  ports: String(port),
  placement,
});

describe('on-premises vantages in a dc / router / vpc lab', () => {
  it('classifies every direction right: egress from the VPC, ingress and outside from the agent in dc', async () => {
    // Arrange
    const environment = {
      name: 'site',
      vantages: [
        { name: 'workers', roles: ['target-worker'] },
        { name: 'dc1', placement: 'on-prem', roles: ['migration-appliance'], addresses: [lab.dcAgent] },
        { name: 'dc2', placement: 'on-prem', roles: ['admin-workstation'], addresses: [lab.dcAgent] },
      ],
      flows: [
        ...[21001, 21002, 21003, 21004, 21005].map((p) =>
          flow(`e${p}`, 'workers', lab.dcServer, p, 'on-prem'),
        ),
        ...[22001, 1500, 22003, 22004, 22005].map((p) => flow(`i${p}`, 'dc1', lab.vpcHost, p, 'cloud')),
        ...[21001, 23003, 23004].map((p) => flow(`o${p}`, 'dc1', lab.dcServer, p, 'on-prem')),
      ],
      probe: { timeoutMs: 1000, budgetSeconds: 30 },
    };
    // An agent of another vantage runs beside dc1's: it must not take dc1's job.
    const other = agentIn('dc2', false);
    await other.waitFor(/polling http/);
    const agent = agentIn('dc1');
    // Act
    const run = await runCheck(environment);
    const code = await agent.exited;
    // Assert
    expect(code).toBe(0);
    expect(agent.output()).toMatch(/took job \w+ of run \w+ \(site\): 8 ports on 2 hosts/);
    expect(other.output()).not.toMatch(/took job/);
    await other.kill('SIGTERM');
    expect(run.status).toBe('succeeded');
    const verdicts = Object.fromEntries(run.findings.map((f) => [`${f.direction} ${f.ports}`, f.verdict]));
    expect(verdicts).toEqual({
      'egress 21001': 'pass',
      'egress 21002': 'pass', // preflight respond in dc
      'egress 21003': 'refused',
      'egress 21004': 'timeout',
      'egress 21005': 'unreachable',
      'ingress 22001': 'pass',
      'ingress 1500': 'pass', // preflight respond in vpc (the MGN case)
      'ingress 22003': 'refused',
      'ingress 22004': 'timeout',
      'ingress 22005': 'unreachable',
      'outside 21001': 'pass',
      'outside 23003': 'refused',
      'outside 23004': 'timeout',
    });
    const ingressRefused = run.findings.find((f) => f.ports === '22003');
    expect(ingressRefused?.cause).toBe(
      `22003 refused by ${lab.vpcHost}: path open; start the service, or run \`preflight respond --ports 22003\` there`,
    );
    expect(run.findings.find((f) => f.ports === '22001')?.source).toBe('on-prem vantage dc1');
  });

  it('an agent killed mid-job: its flows are skipped with the reason and the run is INCOMPLETE (not verified); a restarted agent completes the next run', async () => {
    // Arrange: a TLS port that accepts and stays silent keeps the agent busy identifying it for seconds.
    const environment = {
      name: 'site-kill',
      vantages: [
        { name: 'workers', roles: ['target-worker'] },
        { name: 'dc1', placement: 'on-prem', roles: ['migration-appliance'], addresses: [lab.dcAgent] },
      ],
      flows: [
        flow('tls', 'dc1', lab.vpcHost, 2376, 'cloud'),
        flow('open', 'dc1', lab.vpcHost, 22001, 'cloud'),
      ],
      probe: { timeoutMs: 1000, budgetSeconds: 8 },
    };
    const doomed = agentIn('dc1', false);
    await doomed.waitFor(/polling http/);
    // Act
    const pending = runCheck(environment);
    await doomed.waitFor(/took job/);
    await doomed.kill('SIGKILL');
    const killedRun = await pending;
    const report = await call('GET', `/checks/${killedRun.checkId}/report?format=json`);
    const restarted = agentIn('dc1');
    const nextRun = await runCheck(environment);
    const code = await restarted.exited;
    const nextReport = await call('GET', `/checks/${nextRun.checkId}/report?format=json`);
    // Assert
    expect(killedRun.findings.map((f) => [f.verdict, f.cause])).toEqual([
      ['skipped', 'not probed: no agent for vantage dc1 reported within 8 s'],
      ['skipped', 'not probed: no agent for vantage dc1 reported within 8 s'],
    ]);
    expect(report.headers.get('x-preflight-readiness')).toBe('INCOMPLETE');
    expect(code).toBe(0);
    expect(Object.fromEntries(nextRun.findings.map((f) => [f.ports, f.verdict]))).toEqual({
      '2376': 'warn', // accepted, then silent: not the TLS expected there
      '22001': 'pass',
    });
    expect(nextReport.headers.get('x-preflight-readiness')).toBe('GO');
  });
});
