import { defaultCatalog } from '../../lambdas/core/catalog';
import { type Environment, environmentSchema } from '../../lambdas/core/environment';
import {
  allowedPorts,
  checkEnvironmentSafety,
  checkTarget,
  parseCidr,
  parseIp,
  refusalOf,
  type Resolver,
  SafetyConfigError,
  type TargetPolicy,
} from '../../lambdas/core/safety';

const catalog = defaultCatalog();
const aws: TargetPolicy = { mode: 'aws', allowedTargetCidrs: ['10.0.0.0/8', '0.0.0.0/0', '::/0'] };
const local: TargetPolicy = { mode: 'local', allowedTargetCidrs: ['10.0.0.0/8', '127.0.0.0/8', '::1/128'] };

/** A resolver backed by a fixed table; unknown names fail as getaddrinfo does. */
function tableResolver(table: Record<string, string[]>): Resolver {
  return async (name) => {
    const found = table[name];
    if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
    return found;
  };
}

function environment(overrides: Partial<Record<string, unknown>> = {}): Environment {
  return environmentSchema.parse({
    name: 'wave-1',
    profiles: ['rivermeadow-os'],
    vantages: [{ name: 'workers', roles: ['target-worker'] }],
    endpoints: { 'source-server': ['10.20.0.15'] },
    ...overrides,
  });
}

describe('parseIp and parseCidr', () => {
  it('reads IPv4, IPv6 and IPv4-mapped IPv6 addresses', () => {
    expect(parseIp('10.0.0.1')).toEqual({ family: 4, value: 0x0a000001n });
    expect(parseIp('::1')).toEqual({ family: 6, value: 1n });
    expect(parseIp('::ffff:169.254.169.254')).toEqual(parseIp('169.254.169.254'));
    expect(parseIp('fd00:ec2::254')?.family).toBe(6);
    expect(parseIp('app01')).toBeUndefined();
  });

  it('reads blocks as their first and last address', () => {
    const b = parseCidr('10.1.2.3/8');
    expect(b).toMatchObject({ family: 4, first: 0x0a000000n, last: 0x0affffffn });
    expect(parseCidr('10.0.0.0/33')).toBeUndefined();
  });
});

describe('refusalOf', () => {
  it.each([
    ['169.254.169.254', 'link-local/instance metadata'],
    ['169.254.0.1', 'link-local/instance metadata'],
    ['fd00:ec2::254', 'instance metadata'],
    ['::ffff:169.254.169.254', 'link-local/instance metadata'],
    ['0.0.0.0', '0.0.0.0/8'],
    ['0.1.2.3', '0.0.0.0/8'],
    ['127.0.0.1', 'loopback'],
    ['::1', 'loopback'],
    ['fe80::1', 'link-local'],
    ['224.0.0.1', 'multicast'],
    ['169.0.0.0/8', 'link-local/instance metadata'],
  ])('refuses %s in AWS mode (%s)', (target, why) => {
    // Act
    const refusal = refusalOf(target, aws);

    // Assert
    expect(refusal).toContain(why);
  });

  it('allows loopback in local mode but still refuses metadata and 0.0.0.0', () => {
    expect(refusalOf('127.0.0.1', local)).toBeUndefined();
    expect(refusalOf('::1', local)).toBeUndefined();
    expect(refusalOf('169.254.169.254', local)).toContain('instance metadata');
    expect(refusalOf('0.0.0.0', local)).toContain('0.0.0.0/8');
  });

  it('refuses addresses and blocks outside the allowed CIDRs, naming them', () => {
    expect(refusalOf('192.168.1.1', local)).toBe(
      'is outside the allowed target CIDRs (10.0.0.0/8, 127.0.0.0/8, ::1/128)',
    );
    expect(refusalOf('10.0.0.0/8', local)).toBeUndefined();
    expect(refusalOf('10.0.0.0/7', local)).toContain('outside the allowed target CIDRs');
    expect(refusalOf('10.1.1.1', { mode: 'aws', allowedTargetCidrs: [] })).toContain('(none)');
  });

  it('refuses a bad allowed CIDR as a configuration error', () => {
    expect(() => refusalOf('10.0.0.1', { mode: 'aws', allowedTargetCidrs: ['10.0.0.0/99'] })).toThrow(
      SafetyConfigError,
    );
  });
});

describe('checkTarget', () => {
  it('names the field and the value', async () => {
    // Act
    const problems = await checkTarget('endpoints.vcenter[0]', '169.254.169.254', aws);

    // Assert
    expect(problems).toEqual([
      {
        path: 'endpoints.vcenter[0]',
        message: '"169.254.169.254" is link-local/instance metadata: refused',
      },
    ]);
  });

  it('resolves a host name and checks every address it has', async () => {
    // Arrange
    const resolve = tableResolver({ 'app01.corp.example': ['10.20.0.15', '169.254.169.254'] });

    // Act
    const problems = await checkTarget('endpoints.source-server[1]', 'app01.corp.example', aws, resolve);

    // Assert
    expect(problems).toEqual([
      {
        path: 'endpoints.source-server[1]',
        message:
          '"app01.corp.example" resolves to 169.254.169.254, which is link-local/instance metadata: refused',
      },
    ]);
  });

  it('does not refuse a name that does not resolve: its probe says dns-error (issue 10 item 8)', async () => {
    const problems = await checkTarget('flows[0].to[0]', 'nowhere.example', aws, tableResolver({}));
    expect(problems).toEqual([]);
  });

  it('allows a name resolving to loopback in local mode only', async () => {
    const resolve = tableResolver({ localhost: ['127.0.0.1', '::1'] });
    await expect(checkTarget('x', 'localhost', local, resolve)).resolves.toEqual([]);
    await expect(checkTarget('x', 'localhost', aws, resolve)).resolves.toHaveLength(2);
  });
});

describe('checkEnvironmentSafety', () => {
  it('accepts an environment whose targets are all allowed', async () => {
    await expect(checkEnvironmentSafety(environment(), catalog, aws, tableResolver({}))).resolves.toEqual([]);
  });

  it('checks endpoints and the addresses of its own flows, each with its path', async () => {
    // Arrange
    const env = environment({
      endpoints: { 'source-server': ['10.20.0.15', 'meta.example'], 'migration-appliance': ['0.0.0.0'] },
      flows: [{ name: 'app-db', to: ['10.20.0.40', '169.254.169.254'], ports: '1433' }],
    });
    const resolve = tableResolver({ 'meta.example': ['fd00:ec2::254'] });

    // Act
    const problems = await checkEnvironmentSafety(env, catalog, aws, resolve);

    // Assert
    expect(problems.map((p) => p.path).sort()).toEqual([
      'endpoints.migration-appliance[0]',
      'endpoints.source-server[1]',
      'flows[0].to[1]',
    ]);
    expect(problems.find((p) => p.path === 'endpoints.source-server[1]')?.message).toContain(
      'resolves to fd00:ec2::254',
    );
  });

  it('accepts the wave-1 environment: a name that does not resolve and a SaaS endpoint nothing probes', async () => {
    // Arrange: examples/wave-1.yaml's targets, allowed CIDRs that do not hold the SaaS endpoint's address
    const env = environment({
      endpoints: {
        'migration-appliance': ['10.20.0.5'],
        'source-server-linux': ['10.20.0.15', 'app01.corp.example'],
        'rivermeadow-saas': ['migrate.rivermeadow.com'],
        'admin-workstation': ['10.20.8.0/24'],
      },
    });
    const policy: TargetPolicy = { mode: 'aws', allowedTargetCidrs: ['10.0.0.0/8'] };
    const resolve = tableResolver({ 'migrate.rivermeadow.com': ['52.1.2.3'] });

    // Act
    const problems = await checkEnvironmentSafety(env, catalog, policy, resolve);

    // Assert
    expect(problems).toEqual([]);
  });

  it('still refuses a probed name that resolves outside the allowed CIDRs, and a probed address outside', async () => {
    // Arrange
    const env = environment({
      endpoints: { 'source-server-linux': ['10.20.0.15', 'app01.corp.example'] },
      flows: [{ name: 'out', to: ['52.1.2.4'], ports: '1433' }],
    });
    const policy: TargetPolicy = { mode: 'aws', allowedTargetCidrs: ['10.0.0.0/8'] };
    const resolve = tableResolver({ 'app01.corp.example': ['52.1.2.3'] });

    // Act
    const problems = await checkEnvironmentSafety(env, catalog, policy, resolve);

    // Assert
    expect(problems).toEqual([
      {
        path: 'endpoints.source-server-linux[1]',
        message:
          '"app01.corp.example" resolves to 52.1.2.3, which is outside the allowed target CIDRs (10.0.0.0/8): refused',
      },
      {
        path: 'flows[0].to[0]',
        message: '"52.1.2.4" is outside the allowed target CIDRs (10.0.0.0/8): refused',
      },
    ]);
  });

  it('allows exactly the profile ports plus the own flows', () => {
    // Arrange
    const env = environment({ flows: [{ name: 'app-db', to: ['10.20.0.40'], ports: '1433,5022-5023' }] });

    // Act
    const ports = allowedPorts(env, catalog);

    // Assert
    const profilePorts = catalog.profile('rivermeadow-os')!.requirements.flatMap((r) => r.ports);
    for (const p of [...profilePorts, { from: 1433, to: 1433 }, { from: 5022, to: 5023 }]) {
      expect(ports.tcp.concat(ports.udp).some((r) => r.from <= p.from && p.to <= r.to)).toBe(true);
    }
    // Port 1 (tcpmux) is in no profile of the catalog nor in the flow: it may not be probed.
    expect(profilePorts.some((r) => r.from <= 1 && 1 <= r.to)).toBe(false);
    expect(ports.tcp.concat(ports.udp).some((r) => r.from <= 1 && 1 <= r.to)).toBe(false);
  });
});
