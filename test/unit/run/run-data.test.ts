/** Merging the shards' outcomes per vantage: what returned is kept, what failed is skipped and said. */
import type { ProbeStepOutput } from '../../../lambdas/core/run/probe-step';
import { mergeShards, type ShardJob, summarizeShard } from '../../../lambdas/core/run/run-data';

const job = (vantage: string, host: string, ports: number[]): ShardJob => ({
  vantage,
  targets: [{ host, ports }],
  timeoutMs: 3000,
  concurrency: 256,
  retries: 2,
  budgetMs: 120_000,
});
const output = (vantage: string, host: string, ports: number[], extra: Partial<ProbeStepOutput> = {}) => ({
  vantage,
  durationMs: 10,
  results: ports.map((port) => ({ host, port, state: 'filtered' as const, latencyMs: 1000, attempts: 2 })),
  ...extra,
});

describe('mergeShards', () => {
  it("joins a vantage's shards into one output, keeping every result and each refusal once", () => {
    // Act
    const merged = mergeShards(
      2,
      [
        {
          shard: 2,
          vantage: 'a',
          output: output('a', 'h2', [22], { durationMs: 30, refusals: ['x refused'] }),
        },
        { shard: 1, vantage: 'a', output: output('a', 'h1', [22, 443], { refusals: ['x refused'] }) },
      ],
      new Map(),
    );

    // Assert
    expect(merged.probeFailures).toEqual([]);
    expect(merged.problems).toEqual([]);
    expect(merged.probes).toHaveLength(1);
    expect(merged.probes[0]?.results.map((r) => `${r.host}:${r.port}`)).toEqual(['h1:22', 'h1:443', 'h2:22']);
    expect(merged.probes[0]?.durationMs).toBe(30);
    expect(merged.probes[0]?.refusals).toEqual(['x refused']);
  });

  it("skips a failed shard's ports beside the shards that returned, and names the failure", () => {
    // Act: shard 2 died, shard 3 never stored an outcome
    const merged = mergeShards(
      3,
      [
        { shard: 1, vantage: 'a', output: output('a', 'h1', [22]) },
        { shard: 2, vantage: 'a', error: 'Task timed out after 180.00 seconds' },
      ],
      new Map([
        [2, job('a', 'h2', [22, 443])],
        [3, job('a', 'h3', [3389])],
      ]),
    );

    // Assert
    const results = merged.probes[0]?.results ?? [];
    expect(results.filter((r) => r.state === 'skipped').map((r) => `${r.host}:${r.port}`)).toEqual([
      'h2:22',
      'h2:443',
      'h3:3389',
    ]);
    expect(merged.problems).toEqual([
      'the probe of vantage a failed in 2 of its 3 shards (3 ports skipped): Task timed out after 180.00 seconds; its prober returned no outcome',
    ]);
    expect(merged.probeFailures).toEqual([]);
  });

  it('makes a vantage whose every shard failed a probe failure with the reason, as when its one prober died', () => {
    const merged = mergeShards(
      2,
      [
        { shard: 1, vantage: 'b', error: 'boom' },
        { shard: 2, vantage: 'b', error: 'boom' },
      ],
      new Map([
        [1, job('b', 'h1', [22])],
        [2, job('b', 'h2', [22])],
      ]),
    );
    expect(merged).toEqual({ probes: [], probeFailures: [{ vantage: 'b', reason: 'boom' }], problems: [] });
  });

  it('refuses a shard that has neither an outcome nor a job', () => {
    expect(() => mergeShards(1, [], new Map())).toThrow(/shard 1 has neither an outcome nor a job/);
  });
});

describe('summarizeShard', () => {
  it('counts ports by state and never carries the results', () => {
    const summary = summarizeShard({ shard: 4, vantage: 'a', output: output('a', 'h', [1, 2, 3]) });
    expect(summary).toEqual({ shard: 4, vantage: 'a', ports: 3, states: { filtered: 3 }, durationMs: 10 });
  });
});
