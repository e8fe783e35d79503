import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { DynamoResultStore } from '../../lambdas/aws/dynamo-store';
import { DynamoRunData } from '../../lambdas/aws/dynamo-run-data';
import { type RunningDynalite, startDynalite } from '../../lambdas/aws/dynalite';
import type { Inventory } from '../../lambdas/core/audit/types';
import { defaultCatalog } from '../../lambdas/core/catalog';
import { type Environment, environmentSchema } from '../../lambdas/core/environment';
import type { probe, ProbeRun } from '../../lambdas/core/probe';
import { createRunner, RunnerStoppedError, SHUTDOWN_REASON, STALE_REASON } from '../../lambdas/local/runner';
import { MAX_SHARD_PAIRS } from '../../lambdas/core/run/shards';
import { type EventSink, STATE_CHANGED, type StateChangedDetail } from '../../lambdas/core/run/steps';
import { type FindingRecord, newCheckId, type ResultStore } from '../../lambdas/core/store';

const catalog = defaultCatalog();

/** A listener on 127.0.0.1 (port 0: the system picks one). */
function listen(port = 0): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.destroy());
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}
const portOf = (server: Server) => (server.address() as AddressInfo).port;
const closeServer = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
async function freePort(): Promise<number> {
  const server = await listen();
  const port = portOf(server);
  await closeServer(server);
  return port;
}

function environment(
  name: string,
  openPort: number,
  closedPort: number,
  securityGroupIds: string[] = [],
): Environment {
  return environmentSchema.parse({
    name,
    vantages: [{ name: 'here', roles: ['target-worker'], securityGroupIds }],
    flows: [
      { name: 'open-one', to: ['127.0.0.1'], ports: String(openPort), placement: 'on-prem' },
      { name: 'closed-one', to: ['127.0.0.1'], ports: String(closedPort), placement: 'on-prem' },
      { name: 'block-one', to: ['127.0.0.0/30'], ports: '443', placement: 'on-prem' },
    ],
    probe: { timeoutMs: 1000, retries: 0 },
  });
}

class Events implements EventSink {
  readonly sent: Array<{ detailType: string; detail: StateChangedDetail }> = [];
  emit(detailType: typeof STATE_CHANGED, detail: StateChangedDetail) {
    this.sent.push({ detailType, detail });
  }
}

async function findingsOf(store: ResultStore, checkId: string): Promise<FindingRecord[]> {
  return (await store.listFindings(checkId, { limit: 100 })).items;
}

const byFlowName = (findings: FindingRecord[], port: number) =>
  findings.find((f) => f.ports === String(port) && f.destination === '127.0.0.1');

let dyn: RunningDynalite;
let store: DynamoResultStore;
let runData: DynamoRunData;

beforeAll(async () => {
  dyn = await startDynalite();
  store = new DynamoResultStore(dyn.client, { tableName: dyn.tableName });
  runData = new DynamoRunData(dyn.client, { tableName: dyn.tableName });
});
afterAll(async () => {
  await dyn.close();
});

describe('a check run on loopback', () => {
  it('runs every step, records one finding per flow and emits one event per changed flow', async () => {
    // Arrange
    const a = await listen();
    const portA = portOf(a);
    const portB = await freePort();
    const env = environment('loop-run', portA, portB);
    const events = new Events();
    const runner = createRunner({ store, runData, catalog, events, probeFrom: 'here' });

    // Act: the first run
    const created = await runner.start({ environment: env, trigger: 'cli' });
    const first = await runner.wait(created.checkId);

    // Assert
    expect(created.status).toBe('queued');
    expect(first).toMatchObject({ status: 'succeeded', flowCount: 3, trigger: 'cli' });
    expect(first.counts).toEqual({ pass: 1, refused: 1, 'not-audited': 1 });
    expect(first.requiredCounts).toEqual({ pass: 1, refused: 1, 'not-audited': 1 });
    expect(first.reason).toBeUndefined();
    expect(first.startedAt).toBeDefined();
    expect(first.finishedAt).toBeDefined();
    expect(first.changes).toEqual([]);
    const findings1 = await findingsOf(store, first.checkId);
    expect(findings1).toHaveLength(3);
    expect(byFlowName(findings1, portA)?.verdict).toBe('pass');
    expect(byFlowName(findings1, portB)).toMatchObject({ verdict: 'refused' });
    expect(byFlowName(findings1, portB)?.cause).toContain('nothing listens');
    const cidr = findings1.find((f) => f.destination === '127.0.0.0/30');
    expect(cidr?.verdict).toBe('not-audited');
    expect(cidr?.cause).toContain('no AWS inventory');
    expect(events.sent).toEqual([]);

    // Act: the listener moves from port A to port B, and the check runs again
    await closeServer(a);
    const b = await listen(portB);
    try {
      const second = await runner.wait((await runner.start({ environment: env, trigger: 'api' })).checkId);

      // Assert
      expect(second).toMatchObject({ status: 'succeeded', previousCheckId: first.checkId });
      expect(second.counts).toEqual({ pass: 1, refused: 1, 'not-audited': 1 });
      const flowA = byFlowName(findings1, portA)!.flowId;
      const flowB = byFlowName(findings1, portB)!.flowId;
      expect(second.changes).toEqual(
        [
          { flowId: flowA, from: 'pass', to: 'refused' },
          { flowId: flowB, from: 'refused', to: 'pass' },
        ].sort((x, y) => (x.flowId < y.flowId ? -1 : 1)),
      );
      expect(events.sent).toHaveLength(2);
      expect(events.sent.every((e) => e.detailType === STATE_CHANGED)).toBe(true);
      expect(events.sent.map((e) => e.detail.flowId).sort()).toEqual([flowA, flowB].sort());
      expect(events.sent.find((e) => e.detail.flowId === flowA)?.detail).toMatchObject({
        checkId: second.checkId,
        environmentName: 'loop-run',
        previousCheckId: first.checkId,
        from: 'pass',
        to: 'refused',
        cause: expect.stringContaining('nothing listens'),
      });

      // Act: nothing changes
      const third = await runner.wait((await runner.start({ environment: env, trigger: 'api' })).checkId);

      // Assert
      expect(third).toMatchObject({ status: 'succeeded', previousCheckId: second.checkId, changes: [] });
      expect(events.sent).toHaveLength(2);
    } finally {
      await closeServer(b);
      await runner.shutdown(1000);
    }
  });

  it('probes per vantage too', async () => {
    // Arrange
    const a = await listen();
    const env = environment('loop-vantage', portOf(a), await freePort());
    const runner = createRunner({ store, runData, catalog, events: new Events() });
    try {
      // Act
      const run = await runner.wait((await runner.start({ environment: env, trigger: 'cli' })).checkId);
      // Assert
      expect(run.status).toBe('succeeded');
      expect(run.counts).toEqual({ pass: 1, refused: 1, 'not-audited': 1 });
    } finally {
      await closeServer(a);
    }
  });
});

describe('a check run audited against an inventory', () => {
  it('names the Security Group that blocks a flow and keeps live answers that contradict the audit', async () => {
    // Arrange: a Security Group with no outbound rule at all
    const sg = 'sg-0123456789abcdef0';
    const inventory: Inventory = {
      securityGroups: new Map([[sg, { GroupId: sg, IpPermissions: [], IpPermissionsEgress: [] }]]),
      networkInterfaces: [],
      networkAcls: [],
      routeTables: [],
      subnets: [],
      prefixLists: new Map(),
    };
    const a = await listen();
    const portA = portOf(a);
    const portB = await freePort();
    const env = environment('loop-audited', portA, portB, [sg]);
    const runner = createRunner({
      store,
      runData,
      catalog,
      events: new Events(),
      probeFrom: 'here',
      inventoryFor: async (e) => (e.name === 'loop-audited' ? inventory : undefined),
    });
    try {
      // Act
      const run = await runner.wait((await runner.start({ environment: env, trigger: 'cli' })).checkId);

      // Assert
      expect(run).toMatchObject({ status: 'succeeded', counts: { pass: 1, refused: 1, 'blocked-aws': 1 } });
      const findings = await findingsOf(store, run.checkId);
      const blocked = findings.find((f) => f.verdict === 'blocked-aws');
      expect(blocked?.destination).toBe('127.0.0.0/30');
      expect(blocked?.cause).toContain(`no egress rule of ${sg}`);
      expect(blocked?.detail).toMatchObject({
        audit: { status: 'blocked' },
        remediation: [{ securityGroup: { groupId: sg, direction: 'egress' } }],
      });
      expect(byFlowName(findings, portA)?.cause).toContain('out of date');
    } finally {
      await closeServer(a);
    }
  });
});

describe('a run that fails halfway', () => {
  it('keeps its findings and ends partial with the reason when the probe step throws', async () => {
    // Arrange
    const failing: typeof probe = async () => {
      throw new Error('probe engine exploded');
    };
    const env = environment('loop-probe-fails', await freePort(), await freePort());
    const runner = createRunner({ store, runData, catalog, events: new Events(), probeEngine: failing });

    // Act
    const run = await runner.wait((await runner.start({ environment: env, trigger: 'api' })).checkId);

    // Assert
    expect(run.status).toBe('partial');
    expect(run.reason).toContain('probe engine exploded');
    expect(run.finishedAt).toBeDefined();
    expect(run.counts).toEqual({ skipped: 2, 'not-audited': 1 });
    const findings = await findingsOf(store, run.checkId);
    expect(findings).toHaveLength(3);
    expect(findings.filter((f) => f.verdict === 'skipped').map((f) => f.cause)).toEqual([
      expect.stringContaining('probe engine exploded'),
      expect.stringContaining('probe engine exploded'),
    ]);
  });

  it('ends failed with the reason when nothing could be recorded', async () => {
    // Arrange
    const broken: ResultStore = Object.create(store) as ResultStore;
    broken.putFindings = async () => {
      throw new Error('table is gone');
    };
    const env = environment('loop-store-fails', await freePort(), await freePort());
    const runner = createRunner({ store: broken, runData, catalog, events: new Events(), probeFrom: 'here' });

    // Act
    const run = await runner.wait((await runner.start({ environment: env, trigger: 'api' })).checkId);

    // Assert
    expect(run.status).toBe('failed');
    expect(run.reason).toBe('the record step failed: table is gone');
    expect(run.finishedAt).toBeDefined();
  });
});

describe('shutdown and restart', () => {
  it('closes an in-flight run as partial with reason shutdown, and takes no new runs', async () => {
    // Arrange: a probe that never finishes on its own, only when aborted
    let started!: () => void;
    const probing = new Promise<void>((resolve) => (started = resolve));
    const hanging: typeof probe = (targets, options) =>
      new Promise<ProbeRun>((resolve) => {
        started();
        options?.signal?.addEventListener('abort', () =>
          resolve({
            results: targets.flatMap((t) =>
              t.ports.map((port) => ({
                host: t.host,
                port,
                state: 'skipped' as const,
                latencyMs: null,
                attempts: 0,
              })),
            ),
            durationMs: 1,
            stats: { maxInFlight: 0, attempts: 0, hosts: {} },
          }),
        );
      });
    const env = environment('loop-shutdown', await freePort(), await freePort());
    const runner = createRunner({
      store,
      runData,
      catalog,
      events: new Events(),
      probeEngine: hanging,
      probeFrom: 'here',
    });
    const created = await runner.start({ environment: env, trigger: 'schedule' });
    await probing;

    // Act
    await runner.shutdown(50);

    // Assert
    const run = await store.getRun(created.checkId);
    expect(run).toMatchObject({ status: 'partial', reason: SHUTDOWN_REASON });
    expect(run.finishedAt).toBeDefined();
    expect(await findingsOf(store, run.checkId)).toHaveLength(3);
    await expect(runner.start({ environment: env, trigger: 'api' })).rejects.toThrow(RunnerStoppedError);
  });

  it('closes runs left running by a dead process as failed', async () => {
    // Arrange
    const at = new Date(Date.now() - 3_600_000);
    const leftover = await store.createRun({
      checkId: newCheckId(at),
      environmentName: 'loop-stale',
      trigger: 'api',
      status: 'running',
      createdAt: at.toISOString(),
      startedAt: at.toISOString(),
      counts: {},
      flowCount: 0,
    });
    const runner = createRunner({ store, runData, catalog, events: new Events() });

    // Act
    const closed = await runner.recoverStale(new Date(Date.now() - 60_000));

    // Assert
    expect(closed).toBe(1);
    expect(await store.getRun(leftover.checkId)).toMatchObject({ status: 'failed', reason: STALE_REASON });
    expect(await runner.recoverStale(new Date())).toBe(0);
  });
});

describe('the target policy on every run (issue 11 item 1)', () => {
  it('vets a scheduled run against the policy of today, right before it connects', async () => {
    // Arrange: an environment the API once accepted under 127.0.0.0/8, a service restarted with 127.0.0.1/32,
    // and a listener on 127.0.0.2 that records every connection it gets
    const connections: string[] = [];
    const outside = createServer((socket) => {
      connections.push(String(socket.remoteAddress));
      socket.destroy();
    });
    await new Promise<void>((resolve) => outside.listen(0, '127.0.0.2', resolve));
    const port = portOf(outside);
    const env = environmentSchema.parse({
      name: 'narrowed',
      vantages: [{ name: 'here', roles: ['target-worker'] }],
      flows: [{ name: 'moved', to: ['127.0.0.2'], ports: String(port), placement: 'on-prem' }],
      probe: { timeoutMs: 1000, retries: 0 },
      schedule: 'rate(1 hour)',
    });
    const runner = createRunner({
      store,
      runData,
      catalog,
      events: new Events(),
      probeFrom: 'here',
      policy: { mode: 'local', allowedTargetCidrs: ['127.0.0.1/32'] },
    });
    try {
      // Act: the scheduler starts it through the runner, as it does in serve
      const run = await runner.wait((await runner.start({ environment: env, trigger: 'schedule' })).checkId);

      // Assert: nothing connected to 127.0.0.2; the run says why the flow was not probed
      expect(connections).toEqual([]);
      const [finding] = await findingsOf(store, run.checkId);
      expect(finding?.verdict).not.toBe('pass');
      expect(run.status).toBe('partial');
      expect(run.reason).toContain('127.0.0.2 is outside the allowed target CIDRs (127.0.0.1/32)');
    } finally {
      await closeServer(outside);
    }
  });
});

describe('recovery after a crash during the results write (issue 11 item 9)', () => {
  it('closes the run partial with what it stored, its counts matching the stored findings', async () => {
    // Arrange: a run of 2,000 flows whose process died after writing 1,900 findings
    const at = new Date(Date.now() - 3_600_000);
    const leftover = await store.createRun({
      checkId: newCheckId(at),
      environmentName: 'crashed-write',
      trigger: 'schedule',
      status: 'running',
      createdAt: at.toISOString(),
      startedAt: at.toISOString(),
      counts: {},
      flowCount: 0,
    });
    const written: FindingRecord[] = Array.from({ length: 1900 }, (_, i) => ({
      checkId: leftover.checkId,
      environmentName: 'crashed-write',
      createdAt: leftover.createdAt,
      flowId: `f-${String(i).padStart(16, '0')}`,
      verdict: i % 10 === 0 ? 'refused' : 'pass',
      cause: i % 10 === 0 ? 'nothing listens' : 'connected',
      direction: 'egress',
      source: 'vantage here',
      destination: '10.0.0.1',
      protocol: 'tcp',
      ports: String(1000 + i),
      requirements: ['custom:x'],
      optional: false,
    }));
    await store.putFindings(leftover.checkId, written);
    const runner = createRunner({ store, runData, catalog, events: new Events() });

    // Act
    const closed = await runner.recoverStale(new Date(Date.now() - 60_000));

    // Assert
    expect(closed).toBe(1);
    const run = await store.getRun(leftover.checkId);
    expect(run).toMatchObject({ status: 'partial', reason: STALE_REASON });
    expect(run.counts).toEqual({ pass: 1710, refused: 190 });
    let stored = 0;
    let cursor: string | undefined;
    do {
      const page = await store.listFindings(run.checkId, { limit: 100, ...(cursor ? { cursor } : {}) });
      stored += page.items.length;
      cursor = page.nextCursor;
    } while (cursor);
    expect(Object.values(run.counts ?? {}).reduce((a, b) => a + b, 0)).toBe(stored);
  });
});

describe('a large run keeps its memory bounded (issue 11 item 2)', () => {
  it('probes in shards one at a time, storing each outcome before the next starts and before the finish', async () => {
    // Arrange: 2,000 host:port pairs, more than one shard holds; the engine answers `closed` and records, at each
    // call, how many shard outcomes the store already holds and how many calls are in flight.
    const env = environmentSchema.parse({
      name: 'loop-large',
      vantages: [{ name: 'here', roles: ['target-worker'] }],
      flows: [
        { name: 'wide-1', to: ['127.0.0.1'], ports: '20000-20999', placement: 'on-prem' },
        { name: 'wide-2', to: ['127.0.0.2'], ports: '20000-20999', placement: 'on-prem' },
      ],
      probe: { timeoutMs: 1000, retries: 0 },
    });
    const calls: Array<{ pairs: number; storedBefore: number; inFlight: number }> = [];
    let inFlight = 0;
    let checkId = '';
    const recording: typeof probe = async (targets) => {
      inFlight++;
      try {
        const storedBefore = (await runData.listShardOutcomes(checkId)).length;
        calls.push({ pairs: targets.reduce((n, t) => n + t.ports.length, 0), storedBefore, inFlight });
        return {
          results: targets.flatMap((t) =>
            t.ports.map((port) => ({
              host: t.host,
              port,
              state: 'closed' as const,
              latencyMs: 1,
              attempts: 1,
            })),
          ),
          durationMs: 1,
          stats: { maxInFlight: 1, attempts: 1, hosts: {} },
        };
      } finally {
        inFlight--;
      }
    };
    const runner = createRunner({
      store,
      runData,
      catalog,
      events: new Events(),
      probeEngine: recording,
      probeFrom: 'here',
    });

    // Act
    const created = await runner.start({ environment: env, trigger: 'api' });
    checkId = created.checkId;
    const run = await runner.wait(created.checkId);

    // Assert: several shards, each within the shard bound, run one after another, each stored before the next.
    expect(calls.length).toBeGreaterThan(1);
    expect(calls.every((c) => c.pairs <= MAX_SHARD_PAIRS)).toBe(true);
    expect(calls.reduce((n, c) => n + c.pairs, 0)).toBe(2000);
    expect(calls.map((c) => c.inFlight)).toEqual(calls.map(() => 1));
    expect(calls.map((c) => c.storedBefore)).toEqual(calls.map((_, i) => i));
    const outcomes = await runData.listShardOutcomes(run.checkId);
    expect(outcomes).toHaveLength(calls.length);
    expect(run.status).toBe('succeeded');
    expect(run.counts).toEqual({ refused: 2 });
  });
});
