import type { Context } from 'aws-lambda';
import type { probe, ProbeOptions, ProbeRun, ProbeTarget } from '../../lambdas/core/probe';
import { POLICY_REFUSED, probeStep } from '../../lambdas/core/run/probe-step';
import { type Resolver, SafetyConfigError, type TargetPolicy } from '../../lambdas/core/target-policy';

// The prober Lambda's own logic: its hand-made input check, its policy from the environment, and the target
// policy it applies again right before connecting. The engine is a spy: nothing is ever connected to.

// The module reads ALLOWED_TARGET_CIDRS at import: set it first, then load the module.
process.env.ALLOWED_TARGET_CIDRS = '["10.0.0.0/8"]';
type ProberModule = typeof import('../../lambdas/handlers/run/probe');
const prober = jest.requireActual<ProberModule>('../../lambdas/handlers/run/probe');
const { parseProbeJob, policyFromEnv, probeJob, ProbeJobError } = prober;

const AWS_POLICY: TargetPolicy = { mode: 'aws', allowedTargetCidrs: ['10.0.0.0/8'] };

/** A resolver answering from a table; a name not in it does not exist. */
function resolverOf(table: Record<string, string[]>): Resolver & jest.Mock {
  return jest.fn(async (host: string) => {
    const found = table[host];
    if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return found;
  });
}

/** An engine spy: records what it was given and answers `open` for every port, resolving names with `lookup`. */
function engineSpy() {
  const calls: Array<{ targets: ProbeTarget[]; options: ProbeOptions }> = [];
  const looked: Record<string, { address: string; family: 4 | 6 } | Error> = {};
  const engine = jest.fn(
    async (targets: readonly ProbeTarget[], options: ProbeOptions = {}): Promise<ProbeRun> => {
      calls.push({ targets: targets.map((t) => ({ host: t.host, ports: [...t.ports] })), options });
      const results: ProbeRun['results'] = [];
      for (const t of targets) {
        let address = t.host;
        if (!/^[\d.]+$/.test(t.host) && !t.host.includes(':')) {
          try {
            const found = await options.lookup!(t.host);
            looked[t.host] = found;
            address = found.address;
          } catch (err) {
            looked[t.host] = err as Error;
            continue;
          }
        }
        for (const port of t.ports)
          results.push({ host: t.host, address, port, state: 'open', latencyMs: 1, attempts: 1 });
      }
      return { results, durationMs: 1, stats: { maxInFlight: 1, attempts: results.length, hosts: {} } };
    },
  );
  return { engine: engine as unknown as typeof probe & jest.Mock, calls, looked };
}

/** The error `fn` throws, failing the test if it returns. */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

describe('parseProbeJob', () => {
  it('takes the job the state machine sends', () => {
    // Arrange
    const job = {
      vantage: 'workers',
      targets: [{ host: '10.0.0.5', ports: [22, 443] }],
      timeoutMs: 3000,
      concurrency: 64,
      retries: 1,
      deadline: 1_900_000_000_000,
    };
    // Act
    const parsed = parseProbeJob(job);
    // Assert
    expect(parsed).toEqual(job);
  });

  it.each([
    ['a list', [], 'the probe job is not an object: []'],
    ['an empty vantage', { vantage: '', targets: [] }, 'vantage: "" is not a vantage name'],
    ['no targets', { vantage: 'w' }, 'targets: undefined is not a list'],
    [
      'a target with no host',
      { vantage: 'w', targets: [{ ports: [1] }] },
      'targets[0].host: undefined is not a host',
    ],
    [
      'a port out of range',
      {
        vantage: 'w',
        targets: [
          { host: 'a', ports: [22] },
          { host: 'b', ports: [70000] },
        ],
      },
      'targets[1].ports: [70000] is not a list of ports (1-65535)',
    ],
    ['a port of zero', { vantage: 'w', targets: [{ host: 'a', ports: [0] }] }, 'targets[0].ports: [0]'],
    [
      'a timeout as text',
      { vantage: 'w', targets: [], timeoutMs: '3000' },
      'timeoutMs: "3000" is not a number',
    ],
    [
      'a deadline as text',
      { vantage: 'w', targets: [], deadline: 'soon' },
      'deadline: "soon" is not a number',
    ],
  ])('refuses %s, naming the field and the value', (_what, raw, message) => {
    // Act
    const err = thrown(() => parseProbeJob(raw));
    // Assert
    expect(err).toBeInstanceOf(ProbeJobError);
    expect(err.message).toContain(message);
  });
});

describe('policyFromEnv', () => {
  it('reads the allowed CIDRs in AWS mode', () => {
    // Act
    const policy = policyFromEnv({ ALLOWED_TARGET_CIDRS: '["10.0.0.0/8","172.16.0.0/12"]' });
    // Assert
    expect(policy).toEqual({ mode: 'aws', allowedTargetCidrs: ['10.0.0.0/8', '172.16.0.0/12'] });
  });

  it.each([
    ['not JSON', '10.0.0.0/8'],
    ['not a list', '{"cidrs":["10.0.0.0/8"]}'],
    ['a list of numbers', '[10]'],
    ['missing', undefined],
  ])('fails naming the variable and the value when it is %s', (_what, value) => {
    // Act
    const err = thrown(() => policyFromEnv(value === undefined ? {} : { ALLOWED_TARGET_CIDRS: value }));
    // Assert
    expect(err).toBeInstanceOf(ProbeJobError);
    expect(err.message).toContain('ALLOWED_TARGET_CIDRS');
    expect(err.message).toContain(JSON.stringify(value) ?? 'undefined');
    expect(err.message).toContain('redeploy the stack');
  });

  it('fails naming a CIDR block it cannot read', () => {
    // Act
    const err = thrown(() => policyFromEnv({ ALLOWED_TARGET_CIDRS: '["10.0.0.0/8","10.0.0.0/33"]' }));
    // Assert
    expect(err).toBeInstanceOf(SafetyConfigError);
    expect(err.message).toContain('"10.0.0.0/33" is not a CIDR block');
  });

  it('fails the cold start of the prober when the variable is missing', () => {
    // Arrange
    const saved = process.env.ALLOWED_TARGET_CIDRS;
    delete process.env.ALLOWED_TARGET_CIDRS;
    try {
      // Act
      const err = thrown(() =>
        jest.isolateModules(() => jest.requireActual<ProberModule>('../../lambdas/handlers/run/probe')),
      );
      // Assert
      expect(err.name).toBe('ProbeJobError');
      expect(err.message).toContain('ALLOWED_TARGET_CIDRS');
    } finally {
      process.env.ALLOWED_TARGET_CIDRS = saved;
    }
  });
});

describe('probeJob in AWS mode', () => {
  it('refuses loopback, metadata, link-local and outside targets with EPOLICY and never hands them to the engine', async () => {
    // Arrange
    const { engine, calls } = engineSpy();
    const resolve = resolverOf({});
    const job = {
      vantage: 'workers',
      targets: [
        { host: '127.0.0.1', ports: [22] },
        { host: '169.254.169.254', ports: [80] },
        { host: 'fd00:ec2::254', ports: [80] },
        { host: '::ffff:169.254.169.254', ports: [80] },
        { host: '0.0.0.0', ports: [445] },
        { host: '192.168.1.10', ports: [443, 8443] },
        { host: '10.0.0.5', ports: [443] },
      ],
    };

    // Act
    const out = await probeJob(job, { policy: AWS_POLICY, resolve, engine });

    // Assert: only the allowed address reached the engine
    expect(calls).toHaveLength(1);
    expect(calls[0]?.targets).toEqual([{ host: '10.0.0.5', ports: [443] }]);
    expect(resolve).not.toHaveBeenCalled();
    const refused = out.results.filter((r) => r.code === POLICY_REFUSED);
    expect(refused.map((r) => `${r.host}:${r.port}`).sort()).toEqual(
      [
        '127.0.0.1:22',
        '169.254.169.254:80',
        'fd00:ec2::254:80',
        '::ffff:169.254.169.254:80',
        '0.0.0.0:445',
        '192.168.1.10:443',
        '192.168.1.10:8443',
      ].sort(),
    );
    expect(refused.every((r) => r.state === 'error' && r.attempts === 0 && r.latencyMs === null)).toBe(true);
    expect(out.results.find((r) => r.host === '10.0.0.5')).toMatchObject({ state: 'open' });
    expect(out.refusals).toEqual(
      expect.arrayContaining([
        '127.0.0.1 is loopback (allowed in local mode only)',
        '169.254.169.254 is link-local/instance metadata',
        'fd00:ec2::254 is the instance metadata service (IPv6)',
        '::ffff:169.254.169.254 is link-local/instance metadata',
        expect.stringMatching(/^0\.0\.0\.0 is an unspecified/),
        '192.168.1.10 is outside the allowed target CIDRs (10.0.0.0/8)',
      ]),
    );
    expect(out.refusals).toHaveLength(6);
  });

  it('refuses a host name when any of its addresses is forbidden; one that does not resolve is a dns-error', async () => {
    // Arrange
    const { engine, calls, looked } = engineSpy();
    const resolve = resolverOf({
      'sneaky.corp.example': ['10.0.0.7', '169.254.169.254'],
      'loop.corp.example': ['127.0.0.1'],
      'empty.corp.example': [],
      'files.corp.example': ['10.1.2.3', '10.1.2.4'],
    });
    const job = {
      vantage: 'workers',
      targets: [
        { host: 'sneaky.corp.example', ports: [443] },
        { host: 'loop.corp.example', ports: [22] },
        { host: 'empty.corp.example', ports: [22] },
        { host: 'gone.corp.example', ports: [22] },
        { host: 'files.corp.example', ports: [445] },
      ],
    };

    // Act
    const out = await probeJob(job, { policy: AWS_POLICY, resolve, engine });

    // Assert: each name resolved once; only the allowed one was connected, through the address that was checked
    expect(resolve).toHaveBeenCalledTimes(5);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.targets).toEqual([{ host: 'files.corp.example', ports: [445] }]);
    expect(looked).toEqual({ 'files.corp.example': { address: '10.1.2.3', family: 4 } });
    expect(out.results.find((r) => r.host === 'files.corp.example')).toMatchObject({
      state: 'open',
      address: '10.1.2.3',
    });
    expect(out.refusals).toEqual([
      'loop.corp.example resolves to 127.0.0.1, which is loopback (allowed in local mode only)',
      'sneaky.corp.example resolves to 169.254.169.254, which is link-local/instance metadata',
    ]);
    expect(
      out.results
        .filter((r) => r.code === POLICY_REFUSED)
        .map((r) => r.host)
        .sort(),
    ).toEqual(['loop.corp.example', 'sneaky.corp.example']);
    // A name that does not resolve is told as such (its flow gets a dns-error finding), not as a refusal.
    expect(out.results.filter((r) => r.state === 'dns-error')).toEqual([
      {
        host: 'empty.corp.example',
        port: 22,
        state: 'dns-error',
        latencyMs: null,
        code: 'ENODATA',
        attempts: 0,
      },
      {
        host: 'gone.corp.example',
        port: 22,
        state: 'dns-error',
        latencyMs: null,
        code: 'ENOTFOUND',
        attempts: 0,
      },
    ]);
  });

  it('gives the engine a lookup that answers only with the vetted address, never resolving again', async () => {
    // Arrange: the name would resolve elsewhere if asked a second time
    const answers = [['10.9.8.7'], ['169.254.169.254']];
    const resolve = jest.fn(async () => answers.shift() ?? []);
    const { engine, calls } = engineSpy();

    // Act
    await probeJob(
      { vantage: 'workers', targets: [{ host: 'db.corp.example', ports: [1433] }] },
      { policy: AWS_POLICY, resolve, engine },
    );
    const lookup = calls[0]!.options.lookup!;

    // Assert
    expect(await lookup('db.corp.example')).toEqual({ address: '10.9.8.7', family: 4 });
    expect(await lookup('db.corp.example')).toEqual({ address: '10.9.8.7', family: 4 });
    await expect(lookup('other.corp.example')).rejects.toMatchObject({ code: POLICY_REFUSED });
    expect(resolve).toHaveBeenCalledTimes(1);
  });

  it('passes the job settings and the deadline to the engine', async () => {
    // Arrange
    const { engine, calls } = engineSpy();
    // Act
    await probeJob(
      {
        vantage: 'workers',
        targets: [{ host: '10.0.0.5', ports: [22] }],
        timeoutMs: 1500,
        concurrency: 8,
        retries: 0,
        deadline: 1_900_000_000_000,
      },
      { policy: AWS_POLICY, resolve: resolverOf({}), engine },
    );
    // Assert
    expect(calls[0]?.options).toMatchObject({
      timeoutMs: 1500,
      concurrency: 8,
      retries: 0,
      deadline: 1_900_000_000_000,
      lookup: expect.any(Function),
    });
  });
});

describe('probeStep in local mode', () => {
  it('vets every target against the policy too, and connects only to the checked address', async () => {
    // Arrange: a policy narrower than what the API once accepted (a schedule outliving a narrower --allow)
    const { engine, calls, looked } = engineSpy();
    const resolve = resolverOf({ 'app.local.example': ['127.0.0.1'], 'other.local.example': ['127.0.0.2'] });
    const policy: TargetPolicy = { mode: 'local', allowedTargetCidrs: ['127.0.0.1/32'] };
    // Act
    const out = await probeStep(
      {
        vantage: 'here',
        targets: [
          { host: '127.0.0.1', ports: [8080] },
          { host: '127.0.0.2', ports: [8080] },
          { host: 'app.local.example', ports: [22] },
          { host: 'other.local.example', ports: [22] },
          { host: '169.254.169.254', ports: [80] },
        ],
      },
      { engine, resolve, policy },
    );
    // Assert
    expect(calls[0]?.targets).toEqual([
      { host: '127.0.0.1', ports: [8080] },
      { host: 'app.local.example', ports: [22] },
    ]);
    expect(looked).toEqual({ 'app.local.example': { address: '127.0.0.1', family: 4 } });
    expect(out.refusals).toEqual([
      '127.0.0.2 is outside the allowed target CIDRs (127.0.0.1/32)',
      '169.254.169.254 is link-local/instance metadata',
      'other.local.example resolves to 127.0.0.2, which is outside the allowed target CIDRs (127.0.0.1/32)',
    ]);
  });
});

describe('the prober handler', () => {
  it('answers a job whose every target is refused without probing anything', async () => {
    // Arrange
    const context = {
      functionName: 'preflight-prober-workers',
      awsRequestId: 'req-1',
      invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:preflight-prober-workers',
      memoryLimitInMB: '256',
      functionVersion: '$LATEST',
      getRemainingTimeInMillis: () => 60_000,
    } as unknown as Context;
    const log = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      // Act
      const out = await prober.handler(
        { vantage: 'workers', targets: [{ host: '169.254.169.254', ports: [80] }] },
        context,
      );
      // Assert
      expect(out.results).toEqual([
        {
          host: '169.254.169.254',
          port: 80,
          state: 'error',
          latencyMs: null,
          code: POLICY_REFUSED,
          attempts: 0,
        },
      ]);
      expect(out.refusals).toEqual(['169.254.169.254 is link-local/instance metadata']);
    } finally {
      log.mockRestore();
    }
  });
});
