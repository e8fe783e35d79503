/** Shards: sized from the probe settings and the budget, never over the payload bound, every port kept once. */
import {
  MAX_SHARD_PAIRS,
  MAX_SHARDS,
  planShards,
  SHARD_MARGIN,
  shardCapacity,
  ShardPlanError,
  splitTargets,
  worstPortMs,
} from '../../../lambdas/core/run/shards';

const hosts = (n: number, ports: number[]) =>
  Array.from({ length: n }, (_, i) => ({ host: `10.0.${Math.floor(i / 250)}.${(i % 250) + 1}`, ports }));

const pairsOf = (shards: ReturnType<typeof splitTargets>) =>
  shards.flatMap((s) => s.targets.flatMap((t) => t.ports.map((p) => `${s.vantage}|${t.host}|${p}`)));

describe('shardCapacity', () => {
  it('counts an identified open port as its connect plus its identification when that is longer', () => {
    // Arrange: one quick attempt, but open ports of identified services hold their socket 3 s more.
    const quick = { budgetMs: 35_000, timeoutMs: 500, retries: 0, concurrency: 4 };

    // Act
    const without = shardCapacity({ ...quick, identifyMs: 0 });
    const withIdentify = shardCapacity({ ...quick, identifyMs: 3000 });

    // Assert: 35 000 × 4 / (500 × 1.5) = 186; 35 000 × 4 / (3500 × 1.5) = 26.
    expect(without).toBe(186);
    expect(withIdentify).toBe(26);
  });

  it('fits ports × worst time ÷ concurrency inside the budget with the margin', () => {
    // Arrange: 30 s, 3 s per attempt and one retry (6 s per silent port), 10 sockets.
    const sizing = { budgetMs: 30_000, timeoutMs: 3000, retries: 1, concurrency: 10, identifyMs: 0 };

    // Act
    const capacity = shardCapacity(sizing);

    // Assert: 30 000 × 10 / (6000 × 1.5) = 33.3 → 33, and 33 silent ports take 4 rounds of 6 s = 24 s ≤ 30 s.
    expect(worstPortMs(sizing)).toBe(6000);
    expect(capacity).toBe(Math.floor((30_000 * 10) / (6000 * SHARD_MARGIN)));
    expect(Math.ceil(capacity / 10) * 6000).toBeLessThanOrEqual(30_000);
  });

  it('never exceeds the payload bound however large the budget', () => {
    expect(
      shardCapacity({ budgetMs: 840_000, timeoutMs: 100, retries: 0, concurrency: 512, identifyMs: 3000 }),
    ).toBe(MAX_SHARD_PAIRS);
  });

  it('refuses settings where not even one silent port fits the budget, saying what to change', () => {
    expect(() =>
      shardCapacity({ budgetMs: 10_000, timeoutMs: 60_000, retries: 5, concurrency: 1, identifyMs: 0 }),
    ).toThrow(/360000 ms \(timeoutMs 60000 × 6 attempts.*lower probe.timeoutMs or probe.retries/);
  });
});

describe('splitTargets', () => {
  it('keeps every port exactly once, in order, each shard within capacity and within its vantage', () => {
    // Arrange: two vantages, hosts of 65 ports, and one host with more ports than a shard.
    const ports65 = Array.from({ length: 65 }, (_, i) => 1000 + i);
    const big = Array.from({ length: 230 }, (_, i) => 2000 + i);
    const jobs = [
      { vantage: 'a', targets: [...hosts(7, ports65), { host: 'big.example', ports: big }] },
      { vantage: 'b', targets: hosts(3, [22, 443]) },
    ];

    // Act
    const shards = splitTargets(jobs, 100);

    // Assert
    const expected = jobs.flatMap((j) =>
      j.targets.flatMap((t) => t.ports.map((p) => `${j.vantage}|${t.host}|${p}`)),
    );
    expect(pairsOf(shards)).toEqual(expected);
    for (const s of shards)
      expect(s.targets.reduce((n, t) => n + t.ports.length, 0)).toBeLessThanOrEqual(100);
    // 65-port hosts are not split when a fresh shard holds them; the 230-port host fills whole shards.
    const first = shards.filter((s) => s.vantage === 'a').slice(0, 7);
    for (const s of first)
      expect(s.targets.every((t) => t.ports.length === 65 || t.host === 'big.example')).toBe(true);
    expect(shards.filter((s) => s.vantage === 'b')).toHaveLength(1);
  });

  it('makes no shard for a vantage without targets', () => {
    expect(splitTargets([{ vantage: 'a', targets: [] }], 10)).toEqual([]);
  });
});

describe('planShards', () => {
  it('splits a 1,000-host HDM-sized wave into shards that each finish in their budget', () => {
    // Arrange: 1,000 hosts × 65 ports from one vantage, the engine defaults, a 120 s shard budget.
    const jobs = [
      {
        vantage: 'workers',
        targets: hosts(
          1000,
          Array.from({ length: 65 }, (_, i) => 3000 + i),
        ),
      },
    ];
    const sizing = { budgetMs: 120_000, timeoutMs: 3000, retries: 2, concurrency: 256, identifyMs: 3000 };

    // Act
    const shards = planShards(jobs, sizing);

    // Assert: 65,000 pairs in shards of at most 500, each within budget when every port is silent.
    expect(pairsOf(shards)).toHaveLength(65_000);
    expect(shards.length).toBeLessThanOrEqual(MAX_SHARDS);
    for (const s of shards) {
      const pairs = s.targets.reduce((n, t) => n + t.ports.length, 0);
      expect(pairs).toBeLessThanOrEqual(MAX_SHARD_PAIRS);
      expect(Math.ceil(pairs / sizing.concurrency) * worstPortMs(sizing)).toBeLessThanOrEqual(
        sizing.budgetMs,
      );
    }
  });

  it('refuses a wave that would need more shards than one run runs, naming the numbers', () => {
    const jobs = [
      {
        vantage: 'w',
        targets: hosts(
          2000,
          Array.from({ length: 20 }, (_, i) => 100 + i),
        ),
      },
    ];
    expect(() =>
      planShards(jobs, { budgetMs: 15_000, timeoutMs: 3000, retries: 2, concurrency: 1, identifyMs: 0 }),
    ).toThrow(ShardPlanError);
    expect(() =>
      planShards(jobs, { budgetMs: 15_000, timeoutMs: 3000, retries: 2, concurrency: 1, identifyMs: 0 }),
    ).toThrow(/40000 host:port pairs need 40000 shards of at most 1 .*at most 1000/);
  });
});
