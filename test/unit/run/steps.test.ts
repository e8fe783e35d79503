import { defaultCatalog } from '../../../lambdas/core/catalog';
import { environmentSchema } from '../../../lambdas/core/environment';
import {
  ALL_VANTAGES,
  auditStep,
  combineStep,
  compareStep,
  emitStep,
  type EventSink,
  planStep,
  probeStep,
  STATE_CHANGED,
  type StateChangedDetail,
} from '../../../lambdas/core/run/steps';
import type { CheckRun, FindingRecord, ResultStore } from '../../../lambdas/core/store';

const catalog = defaultCatalog();
const env = environmentSchema.parse({
  name: 'unit-steps',
  vantages: [
    { name: 'a', roles: ['target-worker'] },
    { name: 'b', roles: ['target-worker'] },
  ],
  flows: [
    { name: 'one', from: 'a', to: ['10.20.0.15'], ports: '443' },
    { name: 'two', from: 'b', to: ['10.20.0.16'], ports: '22' },
    { name: 'net', from: 'a', to: ['10.20.0.0/24'], ports: '443' },
  ],
});

function run(checkId: string, createdAt: string, status: CheckRun['status'] = 'succeeded'): CheckRun {
  return {
    checkId,
    environmentName: 'unit-steps',
    trigger: 'api',
    status,
    createdAt,
    counts: {},
    flowCount: 0,
  };
}

/** The two store reads compareStep makes, from lists in memory. */
function fakeStore(
  runs: CheckRun[],
  findings: Record<string, Array<Pick<FindingRecord, 'flowId' | 'verdict' | 'cause'>>>,
) {
  return {
    listRuns: async () => ({ items: [...runs].sort((x, y) => (x.checkId < y.checkId ? 1 : -1)) }),
    listFindings: async (checkId: string) => ({ items: findings[checkId] ?? [] }),
  } as unknown as ResultStore;
}

describe('planStep', () => {
  it('makes one probe job per vantage, or one for all when probing from here', async () => {
    // Act
    const perVantage = await planStep({ environment: env }, catalog);
    const here = await planStep({ environment: env }, catalog, 'here');
    // Assert
    expect(perVantage.plan.flows).toHaveLength(3);
    expect(perVantage.probeJobs.map((j) => j.vantage).sort()).toEqual(['a', 'b']);
    expect(here.probeJobs).toHaveLength(1);
    expect(here.probeJobs[0]?.vantage).toBe(ALL_VANTAGES);
    expect(here.probeJobs[0]?.targets).toHaveLength(2);
    expect(JSON.parse(JSON.stringify(perVantage))).toEqual(perVantage);
  });
});

describe('probeStep', () => {
  it('passes the settings and the deadline to the engine', async () => {
    // Arrange
    const engine = jest.fn(async () => ({
      results: [{ host: '10.20.0.15', port: 443, state: 'open' as const, latencyMs: 1, attempts: 1 }],
      durationMs: 3,
      stats: { maxInFlight: 1, attempts: 1, hosts: {} },
    }));
    // Act
    const out = await probeStep(
      { vantage: 'a', targets: [{ host: '10.20.0.15', ports: [443] }], timeoutMs: 500, deadline: 1e13 },
      { engine, policy: { mode: 'aws', allowedTargetCidrs: ['10.0.0.0/8'] } },
    );
    // Assert
    expect(engine).toHaveBeenCalledWith([{ host: '10.20.0.15', ports: [443] }], {
      timeoutMs: 500,
      deadline: 1e13,
      lookup: expect.any(Function),
    });
    expect(out).toEqual({
      vantage: 'a',
      durationMs: expect.any(Number),
      results: [expect.objectContaining({ state: 'open' })],
    });
  });
});

describe('auditStep and combineStep', () => {
  it('skips the audit without an inventory and says so', async () => {
    // Arrange
    const { plan } = await planStep({ environment: env }, catalog);
    // Act
    const audit = await auditStep({ plan, environment: env });
    // Assert
    expect(audit.audits).toEqual([]);
    expect(audit.skipped).toContain('no AWS inventory');
  });

  it('gives one finding per flow and marks the flows of a failed vantage skipped', async () => {
    // Arrange
    const { plan } = await planStep({ environment: env }, catalog);
    const probes = [
      {
        vantage: 'a',
        durationMs: 1,
        results: [{ host: '10.20.0.15', port: 443, state: 'open' as const, latencyMs: 1, attempts: 1 }],
      },
    ];
    // Act
    const findings = await combineStep({
      plan,
      probes,
      probeFailures: [{ vantage: 'b', reason: 'Lambda timed out' }],
      audit: { audits: [], skipped: 'no inventory' },
    });
    // Assert
    expect(findings.map((f) => [f.destination, f.verdict])).toEqual([
      ['10.20.0.15', 'pass'],
      ['10.20.0.16', 'skipped'],
      ['10.20.0.0/24', 'not-audited'],
    ]);
    expect(findings[1]?.cause).toContain('the probe of vantage b failed: Lambda timed out');
  });
});

describe('compareStep and emitStep', () => {
  const first = run('01J00000000000000000000001', '2026-03-01T00:00:00.000Z');
  const failed = run('01J00000000000000000000002', '2026-03-01T00:01:00.000Z', 'failed');
  const current = run('01J00000000000000000000003', '2026-03-01T00:02:00.000Z', 'running');

  it('compares with the newest earlier run that did not fail, and emits one event per changed flow', async () => {
    // Arrange
    const store = fakeStore([first, failed, current], {
      [first.checkId]: [
        { flowId: 'f-a', verdict: 'pass', cause: 'ok' },
        { flowId: 'f-b', verdict: 'pass', cause: 'ok' },
      ],
      [failed.checkId]: [{ flowId: 'f-a', verdict: 'refused', cause: 'x' }],
      [current.checkId]: [
        { flowId: 'f-a', verdict: 'pass', cause: 'ok' },
        { flowId: 'f-b', verdict: 'refused', cause: 'nothing listens' },
      ],
    });
    const sent: Array<[string, StateChangedDetail]> = [];
    const events: EventSink = { emit: (type, detail) => void sent.push([type, detail]) };
    // Act
    const comparison = await compareStep(store, current);
    const count = await emitStep(events, current, comparison);
    // Assert
    expect(comparison).toEqual({
      previousCheckId: first.checkId,
      changes: [{ flowId: 'f-b', from: 'pass', to: 'refused' }],
      causes: { 'f-b': 'nothing listens' },
    });
    expect(count).toBe(1);
    expect(sent).toEqual([
      [
        STATE_CHANGED,
        {
          checkId: current.checkId,
          environmentName: 'unit-steps',
          previousCheckId: first.checkId,
          flowId: 'f-b',
          from: 'pass',
          to: 'refused',
          cause: 'nothing listens',
        },
      ],
    ]);
  });

  it('emits nothing on the first run of an environment', async () => {
    // Arrange
    const store = fakeStore([current], {
      [current.checkId]: [{ flowId: 'f-a', verdict: 'pass', cause: 'ok' }],
    });
    const events: EventSink = { emit: jest.fn() };
    // Act
    const comparison = await compareStep(store, current);
    const count = await emitStep(events, current, comparison);
    // Assert
    expect(comparison).toEqual({ changes: [], causes: {} });
    expect(count).toBe(0);
    expect(events.emit).not.toHaveBeenCalled();
  });
});
