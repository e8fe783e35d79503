// The probe engine on loopback only (127.0.0.1 and ::1); DNS is always injected.
import * as net from 'node:net';
import {
  PROBE_DEFAULTS,
  probe,
  ProbeOptionsError,
  type ProbeOptions,
  type ProbeProgress,
  type ProbeTarget,
} from '../../lambdas/core/probe';

let servers: net.Server[] = [];

/** A listening port on `host`; the server is closed after each test. */
async function openPort(host: '127.0.0.1' | '::1'): Promise<number> {
  const server = net.createServer((socket) => socket.on('error', () => undefined));
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  servers.push(server);
  return (server.address() as net.AddressInfo).port;
}

/**
 * Ports nothing listens on (checked by binding them), below the ephemeral range: a connect to an
 * ephemeral port on loopback can pick that very port as its source and connect to itself.
 */
async function closedPorts(count: number, host: '127.0.0.1' | '::1' = '127.0.0.1'): Promise<number[]> {
  const ports: number[] = [];
  for (let p = 21000; ports.length < count && p < 32000; p++) {
    const free = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(p, host, () => s.close(() => resolve(true)));
    });
    if (free) ports.push(p);
  }
  return ports;
}

async function closedPort(host: '127.0.0.1' | '::1'): Promise<number> {
  const [port] = await closedPorts(1, host);
  return port!;
}

function neverResolves(): Promise<never> {
  return new Promise<never>(() => undefined);
}

afterEach(async () => {
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  servers = [];
});

describe('probe option validation', () => {
  test.each<[string, ProbeOptions, string]>([
    ['concurrency 0', { concurrency: 0 }, 'concurrency: 0 is out of range (1-512)'],
    ['concurrency 513', { concurrency: 513 }, 'concurrency: 513 is out of range (1-512)'],
    ['fractional concurrency', { concurrency: 2.5 }, 'concurrency: 2.5 is not an integer'],
    ['negative timeout', { timeoutMs: -1 }, 'timeoutMs: -1 is out of range (1-900000)'],
    ['NaN timeout', { timeoutMs: Number.NaN }, 'timeoutMs: NaN is not a number'],
    ['too many retries', { retries: 11 }, 'retries: 11 is out of range (0-10)'],
    ['negative budget', { budgetMs: -5 }, 'budgetMs: -5 is out of range (0-86400000)'],
    [
      'deadline as text',
      { deadline: 'soon' as unknown as number },
      'deadline: "soon" is not a time in epoch milliseconds',
    ],
    [
      'lookup not a function',
      { lookup: 42 as unknown as ProbeOptions['lookup'] },
      'lookup: 42 is not a function',
    ],
  ])('rejects %s with a message naming the option and value', async (_name, options, message) => {
    // Act
    const outcome = probe([{ host: '127.0.0.1', ports: [1] }], options);

    // Assert
    await expect(outcome).rejects.toThrow(ProbeOptionsError);
    await expect(outcome).rejects.toThrow(message);
  });

  test.each<[string, unknown, string]>([
    [
      'port 0',
      [{ host: '127.0.0.1', ports: [0] }],
      'targets[0].ports[0]: 0 is not a port (an integer 1-65535)',
    ],
    ['port 65536', [{ host: 'a', ports: [80, 65536] }], 'targets[0].ports[1]: 65536 is not a port'],
    ['fractional port', [{ host: 'a', ports: [8.5] }], 'targets[0].ports[0]: 8.5 is not a port'],
    ['port as text', [{ host: 'a', ports: ['80'] }], 'targets[0].ports[0]: "80" is not a port'],
    [
      'empty host',
      [
        { host: 'a', ports: [] },
        { host: ' ', ports: [1] },
      ],
      'targets[1].host: " " is not a hostname',
    ],
    ['targets not a list', { host: 'a', ports: [1] }, 'targets: {"host":"a","ports":[1]} is not an array'],
  ])('rejects a target with %s', async (_name, targets, message) => {
    // Act
    const outcome = probe(targets as ProbeTarget[]);

    // Assert
    await expect(outcome).rejects.toMatchObject({
      name: 'ProbeOptionsError',
      message: expect.stringContaining(message),
    });
  });

  test('accepts the bounds of every range', async () => {
    // Arrange
    const port = await closedPort('127.0.0.1');

    // Act
    const run = await probe([{ host: '127.0.0.1', ports: [port] }], {
      concurrency: 512,
      retries: 0,
      timeoutMs: 1,
    });
    const run2 = await probe([{ host: '127.0.0.1', ports: [port] }], { concurrency: 1, retries: 10 });

    // Assert
    expect(run.results).toHaveLength(1);
    expect(run2.results[0]?.state).toBe('closed');
  });
});

describe('probe on loopback', () => {
  test('classifies open and closed ports on IPv4 and IPv6 with latency and attempts', async () => {
    // Arrange
    const open4 = await openPort('127.0.0.1');
    const closed4 = await closedPort('127.0.0.1');
    const open6 = await openPort('::1');
    const closed6 = await closedPort('::1');

    // Act
    const run = await probe([
      { host: '127.0.0.1', ports: [open4, closed4] },
      { host: '[::1]', ports: [open6, closed6] },
    ]);

    // Assert
    expect(run.results).toEqual([
      {
        host: '127.0.0.1',
        address: '127.0.0.1',
        port: open4,
        state: 'open',
        latencyMs: expect.any(Number),
        attempts: 1,
      },
      {
        host: '127.0.0.1',
        address: '127.0.0.1',
        port: closed4,
        state: 'closed',
        latencyMs: expect.any(Number),
        code: 'ECONNREFUSED',
        attempts: 1,
      },
      {
        host: '[::1]',
        address: '::1',
        port: open6,
        state: 'open',
        latencyMs: expect.any(Number),
        attempts: 1,
      },
      {
        host: '[::1]',
        address: '::1',
        port: closed6,
        state: 'closed',
        latencyMs: expect.any(Number),
        code: 'ECONNREFUSED',
        attempts: 1,
      },
    ]);
    expect(run.stats.attempts).toBe(4);
    expect(run.stats.hosts['127.0.0.1']?.srttMs).toEqual(expect.any(Number));
    expect(run.stats.hosts['::1']?.srttMs).toEqual(expect.any(Number));
  });

  test('returns results in input order and probes a duplicate host:port once', async () => {
    // Arrange
    const [a, b, c, d] = await closedPorts(4);
    const targets: ProbeTarget[] = [
      { host: '127.0.0.1', ports: [c!, a!, b!, a!] },
      { host: 'loop.test', ports: [b!] },
      { host: '127.0.0.1', ports: [b!, d!] },
    ];

    // Act
    const run = await probe(targets, { lookup: async () => ({ address: '127.0.0.1', family: 4 }) });

    // Assert
    expect(run.results.map((r) => `${r.host}:${r.port}`)).toEqual([
      `127.0.0.1:${c}`,
      `127.0.0.1:${a}`,
      `127.0.0.1:${b}`,
      `loop.test:${b}`,
      `127.0.0.1:${d}`,
    ]);
    expect(run.results.every((r) => r.state === 'closed')).toBe(true);
    expect(run.stats.attempts).toBe(5);
  });

  test('never has more sockets open than the concurrency and reaches it on a big job', async () => {
    // Arrange
    const ports = await closedPorts(300);

    // Act
    const run = await probe([{ host: '127.0.0.1', ports }], { concurrency: 8 });

    // Assert
    expect(run.stats.maxInFlight).toBe(8);
    expect(run.results.filter((r) => r.state === 'closed')).toHaveLength(300);
  });

  test('starts a burst of connects, then lets the answers in before the next burst', async () => {
    // Arrange: count the connects started before the engine first yields to the event loop.
    const ports = await closedPorts(100);
    const connect = jest.spyOn(net.Socket.prototype, 'connect');
    try {
      // Act
      const running = probe([{ host: '127.0.0.1', ports }], { concurrency: 100 });
      const beforeYield = connect.mock.calls.length;
      const run = await running;

      // Assert: one burst first (answers that arrive meanwhile are timed right), then every port anyway.
      expect(beforeYield).toBe(PROBE_DEFAULTS.burst);
      expect(run.stats.maxInFlight).toBeGreaterThan(PROBE_DEFAULTS.burst);
      expect(run.results.filter((r) => r.state === 'closed')).toHaveLength(100);
    } finally {
      connect.mockRestore();
    }
  });

  test('reports progress after every port, ending with every port done', async () => {
    // Arrange
    const ports = await closedPorts(20);
    const seen: ProbeProgress[] = [];

    // Act
    await probe([{ host: '127.0.0.1', ports }], { concurrency: 4, onProgress: (p) => seen.push(p) });

    // Assert
    expect(seen.map((p) => p.done)).toEqual(ports.map((_, i) => i + 1));
    expect(seen.at(-1)).toMatchObject({
      done: 20,
      total: 20,
      counts: expect.objectContaining({ closed: 20 }),
    });
    expect(Math.max(...seen.map((p) => p.inFlight))).toBeLessThanOrEqual(4);
  });

  test('rejects with the error a progress callback throws', async () => {
    // Arrange
    const ports = await closedPorts(5);
    const boom = new Error('drawing failed');

    // Act
    const outcome = probe([{ host: '127.0.0.1', ports }], {
      onProgress: () => {
        throw boom;
      },
    });

    // Assert
    await expect(outcome).rejects.toBe(boom);
  });
});

describe('probe name resolution (injected lookup)', () => {
  test('resolves each distinct hostname once, never an IP literal, and fails every port of an unknown host', async () => {
    // Arrange
    const port1 = await closedPort('127.0.0.1');
    const port2 = await closedPort('::1');
    const calls: string[] = [];
    const lookup = async (host: string): Promise<{ address: string; family: 4 | 6 }> => {
      calls.push(host);
      if (host === 'four.test') return { address: '127.0.0.1', family: 4 };
      if (host === 'six.test') return { address: '::1', family: 6 };
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    };

    // Act
    const run = await probe(
      [
        { host: 'four.test', ports: [port1] },
        { host: 'gone.test', ports: [1, 2, 3] },
        { host: 'six.test', ports: [port2] },
        { host: '127.0.0.1', ports: [port1] },
        { host: 'four.test', ports: [port1, 9] },
      ],
      { lookup },
    );

    // Assert
    expect([...calls].sort()).toEqual(['four.test', 'gone.test', 'six.test']);
    expect(run.results.filter((r) => r.host === 'gone.test')).toEqual(
      [1, 2, 3].map((port) => ({
        host: 'gone.test',
        port,
        state: 'dns-error',
        code: 'ENOTFOUND',
        latencyMs: null,
        attempts: 0,
      })),
    );
    expect(run.results.find((r) => r.host === 'six.test')).toMatchObject({ address: '::1', state: 'closed' });
    expect(run.results.find((r) => r.host === 'four.test')).toMatchObject({
      address: '127.0.0.1',
      state: 'closed',
    });
  });

  test('keeps the code of a temporary resolution failure and rejects an answer that is not an address', async () => {
    // Arrange
    const lookup = async (host: string): Promise<{ address: string; family: 4 | 6 }> => {
      if (host === 'flaky.test') throw Object.assign(new Error('try again'), { code: 'EAI_AGAIN' });
      return { address: 'not-an-ip', family: 4 };
    };

    // Act
    const run = await probe(
      [
        { host: 'flaky.test', ports: [80] },
        { host: 'weird.test', ports: [80] },
      ],
      { lookup },
    );

    // Assert
    expect(run.results.map((r) => [r.state, r.code])).toEqual([
      ['dns-error', 'EAI_AGAIN'],
      ['dns-error', 'EBADRESP'],
    ]);
    expect(run.stats.attempts).toBe(0);
  });
});

describe('probe deadline and abort', () => {
  test('marks what the deadline left unprobed as skipped and returns before the deadline', async () => {
    // Arrange
    const port = await closedPort('127.0.0.1');
    const deadline = Date.now() + 1500;

    // Act
    const run = await probe(
      [
        { host: '127.0.0.1', ports: [port] },
        { host: 'slow.test', ports: [1, 2] },
      ],
      { deadline, timeoutMs: 200, lookup: neverResolves },
    );
    const returnedAt = Date.now();

    // Assert
    expect(run.results.map((r) => r.state)).toEqual(['closed', 'skipped', 'skipped']);
    expect(run.results[1]).toEqual({
      host: 'slow.test',
      port: 1,
      state: 'skipped',
      latencyMs: null,
      attempts: 0,
    });
    expect(returnedAt).toBeLessThan(deadline);
  });

  test('starts no attempt whose timeout cannot end before the deadline', async () => {
    // Arrange: before any answer the timeout is min(ceiling, 1000 ms), more than the budget.
    const port = await closedPort('127.0.0.1');

    // Act
    const run = await probe([{ host: '127.0.0.1', ports: [port] }], { budgetMs: 400, timeoutMs: 3000 });

    // Assert
    expect(run.results).toEqual([
      { host: '127.0.0.1', address: '127.0.0.1', port, state: 'skipped', latencyMs: null, attempts: 0 },
    ]);
    expect(run.stats.attempts).toBe(0);
  });

  test('a budget of zero probes nothing', async () => {
    // Act
    const run = await probe([{ host: '127.0.0.1', ports: [1, 2] }], { budgetMs: 0 });

    // Assert
    expect(run.results.map((r) => r.state)).toEqual(['skipped', 'skipped']);
    expect(run.stats.attempts).toBe(0);
  });

  test('an abort stops the run: concluded ports are kept, the rest skipped', async () => {
    // Arrange
    const port = await closedPort('127.0.0.1');
    const controller = new AbortController();

    // Act
    const run = await probe(
      [
        { host: '127.0.0.1', ports: [port] },
        { host: 'slow.test', ports: [1] },
      ],
      { signal: controller.signal, lookup: neverResolves, onProgress: () => controller.abort() },
    );

    // Assert
    expect(run.results.map((r) => r.state)).toEqual(['closed', 'skipped']);
  });

  test('an already aborted signal probes and resolves nothing', async () => {
    // Arrange
    const lookup = jest.fn(neverResolves);

    // Act
    const run = await probe([{ host: 'a.test', ports: [1] }], { signal: AbortSignal.abort(), lookup });

    // Assert
    expect(run.results).toEqual([
      { host: 'a.test', port: 1, state: 'skipped', latencyMs: null, attempts: 0 },
    ]);
    expect(lookup).not.toHaveBeenCalled();
  });
});
