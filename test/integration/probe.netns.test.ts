// The probe engine against a network namespace this file creates and removes (see netlab.ts):
// real SYNs, a real listener, iptables DROP and REJECT rules. No traffic leaves the lab.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { expandPorts } from '../../lambdas/core/ports';
import { PROBE_DEFAULTS, probe, type ProbeResult } from '../../lambdas/core/probe';
import { synRetransmitSlackMs } from '../../lambdas/core/syn-retransmit';
import { REPO } from '../support/cli';
import { createLab, type Lab } from '../support/netlab';

const OPEN = [20001, 20002];
const DROP = [20011, 20012];
const REJECT = [20021];
const CLOSED = [20031, 20032];
// A larger block for the concurrency and deadline tests.
const BULK_DROP = expandPorts([{ from: 21001, to: 21200 }]);
const BULK_CLOSED = expandPorts([{ from: 22001, to: 22400 }]);
const CEILING_MS = 3000;

let lab: Lab;

beforeAll(async () => {
  lab = await createLab({
    listenPorts: OPEN,
    dropPorts: [...DROP, ...BULK_DROP],
    rejectUnreachablePorts: REJECT,
    ipv6: true,
  });
});

afterAll(async () => {
  await lab?.destroy();
});

function v6(): string {
  if (lab.ipv6 === undefined) throw new Error('the lab was created without IPv6');
  return lab.ipv6;
}

/** SYNs the lab has dropped so far on DROP's ports (the packet counter of their iptables rule). */
function droppedSyns(family: 'IPv4' | 'IPv6'): number {
  const tool = family === 'IPv4' ? 'iptables' : 'ip6tables';
  const table = execFileSync('ip', ['netns', 'exec', lab.name, tool, '-nvxL', 'INPUT'], { encoding: 'utf8' });
  const rule = table
    .split('\n')
    .find((line) => line.includes('DROP') && line.includes(`dpts:${DROP[0]}:${DROP[1]}`));
  if (rule === undefined) throw new Error(`no DROP rule for ${DROP.join(':')} in the lab:\n${table}`);
  return Number(rule.trim().split(/\s+/)[0]);
}

function byPort(results: readonly ProbeResult[]): Map<number, ProbeResult> {
  return new Map(results.map((r) => [r.port, r]));
}

describe.each([
  ['IPv4' as const, () => lab.ipv4],
  ['IPv6' as const, v6],
])('probe over %s', (family, address) => {
  test('classifies open, closed, filtered (DROP) and unreachable (REJECT icmp) ports', async () => {
    // Arrange
    const host = address();
    const ports = [...OPEN, ...CLOSED, ...DROP, ...REJECT];

    // Act
    const run = await probe([{ host, ports }], { timeoutMs: CEILING_MS });

    // Assert
    const results = byPort(run.results);
    expect(run.results.map((r) => r.port)).toEqual(ports);
    for (const port of OPEN)
      expect(results.get(port)).toMatchObject({ address: host, state: 'open', attempts: 1 });
    for (const port of CLOSED) {
      expect(results.get(port)).toMatchObject({ state: 'closed', code: 'ECONNREFUSED', attempts: 1 });
    }
    for (const port of DROP) expect(results.get(port)).toMatchObject({ state: 'filtered' });
    for (const port of REJECT) {
      expect(results.get(port)).toMatchObject({ state: 'unreachable', code: 'EHOSTUNREACH' });
    }
    for (const r of run.results) expect(r.latencyMs).toEqual(expect.any(Number));
  });

  test('adapts the timeout to the host: dropped ports are retried under a timeout below the ceiling', async () => {
    // Arrange
    const host = address();

    // Act
    const run = await probe([{ host, ports: [...DROP, ...CLOSED, ...OPEN] }], { timeoutMs: CEILING_MS });

    // Assert
    const stats = run.stats.hosts[host];
    expect(stats?.srttMs).toEqual(expect.any(Number));
    expect(stats?.timeoutMs).toBeLessThan(CEILING_MS);
    for (const port of DROP) {
      const result = byPort(run.results).get(port);
      expect(result?.state).toBe('filtered');
      // A retry only happens after a timeout shorter than the ceiling.
      expect(result?.attempts).toBeGreaterThanOrEqual(2);
      expect(result?.latencyMs).toBeLessThan(CEILING_MS);
    }
  });

  test('a host that answers nothing gets one attempt per port, covering the kernel SYN retransmission', async () => {
    // Arrange: only dropped ports, so the host never answers; the ceiling leaves room for a retry.
    const host = address();
    const synsBefore = droppedSyns(family);

    // Act
    const run = await probe([{ host, ports: DROP }], { timeoutMs: CEILING_MS });

    // Assert
    const syns = droppedSyns(family) - synsBefore;
    for (const result of run.results) {
      expect(result).toMatchObject({ state: 'filtered', attempts: 1 });
      // The attempt outlasted the kernel's retransmission of the SYN...
      expect(result.latencyMs).toBeGreaterThanOrEqual(PROBE_DEFAULTS.synRetransmitMs);
      expect(result.latencyMs).toBeLessThan(CEILING_MS);
    }
    // ...which the lab saw: the first SYN and the kernel's second one, per port, and no user-level retry.
    expect(syns).toBe(2 * DROP.length);
    expect(run.stats.attempts).toBe(DROP.length);
    expect(run.durationMs).toBeLessThan(2 * PROBE_DEFAULTS.synRetransmitMs);
  });
});

describe('a silent host beside one that answers', () => {
  test('its attempt lasts until the kernel has re-sent the SYN, plus the answering host round trip: shorter, still one per port', async () => {
    // Arrange: the IPv4 address answers (closed ports); the IPv6 address, a host of its own, only drops.
    const synsBefore = droppedSyns('IPv6');

    // Act
    const run = await probe(
      [
        { host: lab.ipv4, ports: CLOSED },
        { host: v6(), ports: DROP },
      ],
      { timeoutMs: CEILING_MS },
    );

    // Assert: the silent host's attempts last past the latest the kernel sends its second SYN (1 s and its timer's
    // rounding at this kernel's HZ) plus a round trip, short of the 1,250 ms a run with no answering host gives them...
    const secondSyn = PROBE_DEFAULTS.synRetransmitMs + synRetransmitSlackMs();
    for (const result of run.results.filter((r) => r.host === v6())) {
      expect(result).toMatchObject({ state: 'filtered', attempts: 1 });
      expect(result.latencyMs).toBeGreaterThanOrEqual(secondSyn + PROBE_DEFAULTS.silentRttFloorMs);
      expect(result.latencyMs).toBeLessThan(PROBE_DEFAULTS.initialTimeoutMs);
    }
    // ...and the lab saw both SYNs of every port before the attempt ended: none was cut short.
    expect(droppedSyns('IPv6') - synsBefore).toBe(2 * DROP.length);
  });
});

describe('a process short of file descriptors', () => {
  test('holds fewer sockets and tries again the ports that got none: every dropped port filtered, none an error', () => {
    // Arrange: `preflight probe` with an open-files limit of 120 (lowered for it alone), 200 dropped ports and
    // the default 512 sockets: most connects would fail with EMFILE.
    const ports = `${BULK_DROP[0]}-${BULK_DROP[BULK_DROP.length - 1]}`;
    const command =
      'ulimit -Sn 120 && ulimit -Hn 120 && exec "$NODE" bin/preflight.js probe --target "$TARGET" --timeout 300 --json';

    // Act
    const out = spawnSync('bash', ['-c', command], {
      cwd: REPO,
      encoding: 'utf8',
      env: { ...process.env, NODE: process.execPath, TARGET: `${lab.ipv4}:${ports}` },
    });

    // Assert: the results stand (EMFILE is this process's limit, not the port's answer), and the user is told.
    const results = (JSON.parse(out.stdout) as { results: ProbeResult[] }).results;
    expect(results).toHaveLength(BULK_DROP.length);
    expect(results.filter((r) => r.state !== 'filtered')).toEqual([]);
    expect(out.stderr).toMatch(/open-files limit, ulimit -n\): it probed with \d+/);
    expect(out.status).toBe(1); // not every port is open
  });
});

describe('probe limits against the lab', () => {
  test('never holds more sockets or descriptors than the concurrency, and reaches it', async () => {
    // Arrange
    const concurrency = 64;
    const baseline = fs.readdirSync('/proc/self/fd').length;
    let maxFds = 0;
    let maxReported = 0;

    // Act
    const run = await probe([{ host: lab.ipv4, ports: [...BULK_DROP, ...BULK_CLOSED] }], {
      concurrency,
      onProgress: (p) => {
        maxFds = Math.max(maxFds, fs.readdirSync('/proc/self/fd').length);
        maxReported = Math.max(maxReported, p.inFlight);
      },
    });

    // Assert
    expect(run.stats.maxInFlight).toBe(concurrency);
    expect(maxReported).toBeLessThanOrEqual(concurrency);
    // readdir itself holds one descriptor; a few more for whatever the runtime opens meanwhile.
    expect(maxFds).toBeLessThanOrEqual(baseline + concurrency + 4);
    expect(maxFds).toBeGreaterThan(baseline);
    expect(run.results.filter((r) => r.state === 'filtered')).toHaveLength(BULK_DROP.length);
    expect(run.results.filter((r) => r.state === 'closed')).toHaveLength(BULK_CLOSED.length);
  });

  test('the deadline marks unprobed ports skipped and the call returns before it', async () => {
    // Arrange: 200 dropped ports, 4 at a time, cannot all be waited on within the budget.
    const deadline = Date.now() + 1200;

    // Act
    const run = await probe([{ host: lab.ipv4, ports: [...CLOSED, ...BULK_DROP] }], {
      concurrency: 4,
      timeoutMs: CEILING_MS,
      deadline,
    });
    const returnedAt = Date.now();

    // Assert
    expect(returnedAt).toBeLessThan(deadline);
    const states = run.results.map((r) => r.state);
    expect(states).toContain('filtered');
    expect(states).toContain('skipped');
    expect(states.every((s) => ['closed', 'filtered', 'skipped'].includes(s))).toBe(true);
    for (const r of run.results.filter((x) => x.state === 'skipped')) expect(r.latencyMs).toBeNull();
  });
});
