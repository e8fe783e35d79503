import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultCatalog } from '../../lambdas/core/catalog';
import { type Environment, parseEnvironment, parseEnvironmentText } from '../../lambdas/core/environment';
import { type Flow, plan, probeTargets } from '../../lambdas/core/plan';
import { formatPortList } from '../../lambdas/core/ports';

const catalog = defaultCatalog();

function env(raw: Record<string, unknown>): Environment {
  return parseEnvironment({ name: 'test-env', ...raw }, catalog);
}

function example(file: string): Environment {
  return parseEnvironmentText(readFileSync(join(__dirname, '../../examples', file), 'utf8'), catalog, file);
}

const workers = { name: 'workers', roles: ['target-worker'] };
const to = (f: Flow) =>
  f.destination.kind === 'vantage' ? `vantage:${f.destination.vantage}` : f.destination.address;
const find = (flows: readonly Flow[], requirement: string) =>
  flows.filter((f) => f.requirements.includes(requirement));

describe('plan', () => {
  it('makes egress flows from a vantage to on-prem hosts, probed live and audited', () => {
    // Arrange
    const e = env({
      profiles: ['rivermeadow-os'],
      vantages: [workers],
      endpoints: { 'migration-appliance': ['10.20.0.5'] },
    });
    // Act
    const p = plan(e, catalog);
    // Assert
    const [api] = find(p.flows, 'rm-worker-appliance-api');
    expect(api).toMatchObject({
      direction: 'egress',
      source: { kind: 'vantage', vantage: 'workers', roles: ['target-worker'] },
      destination: { kind: 'ip', address: '10.20.0.5', roles: ['migration-appliance'], placement: 'on-prem' },
      protocol: 'tcp',
      ports: [{ from: 8888, to: 8888 }],
      probe: true,
      audit: true,
      optional: false,
    });
  });

  it('merges duplicate requirements into one flow and keeps every requirement id', () => {
    // Arrange: the general and the VM-based tables both ask for worker → appliance on 443 and 8888.
    const e = env({
      profiles: ['rivermeadow-vm'],
      vantages: [workers],
      endpoints: { 'migration-appliance': ['10.20.0.5'] },
    });
    // Act
    const p = plan(e, catalog);
    // Assert
    const to443 = p.flows.filter((f) => to(f) === '10.20.0.5' && formatPortList(f.ports) === '443');
    expect(to443).toHaveLength(1);
    expect(to443[0]!.requirements).toEqual([
      'rm-worker-appliance-orchestration',
      'rm-vm-worker-orchestration',
    ]);
    const to8888 = p.flows.filter((f) => to(f) === '10.20.0.5' && formatPortList(f.ports) === '8888');
    expect(to8888).toHaveLength(1);
    expect(to8888[0]!.requirements).toEqual(['rm-worker-appliance-api', 'rm-vm-worker-api']);
  });

  it('lists on-prem to on-prem flows as outside and not checkable, never dropping them', () => {
    // Arrange
    const e = env({
      profiles: ['rivermeadow-os'],
      vantages: [workers],
      endpoints: { 'migration-appliance': ['10.20.0.5'], 'source-server-linux': ['10.20.0.15'] },
    });
    // Act
    const [ssh] = find(plan(e, catalog).flows, 'rm-os-linux-ssh');
    // Assert
    expect(ssh).toMatchObject({ direction: 'outside', probe: false, audit: false, optional: true });
    expect(ssh!.why).toMatch(
      /both ends are outside the VPC and no vantage holds the source: declare an on-prem vantage holding migration-appliance/,
    );
  });

  it('audits CIDR endpoints statically instead of probing them', () => {
    // Arrange
    const e = env({
      profiles: ['rivermeadow-os'],
      vantages: [workers],
      endpoints: { 'migration-appliance': ['10.20.0.0/24'] },
    });
    // Act
    const flows = find(plan(e, catalog).flows, 'rm-worker-appliance-api');
    // Assert
    expect(flows).toHaveLength(1);
    expect(flows[0]).toMatchObject({ destination: { kind: 'cidr' }, probe: false, audit: true });
    expect(flows[0]!.why).toMatch(/CIDR block: audited only/);
  });

  it('audits ingress flows against the destination vantage', () => {
    // Arrange: the source worker appliance (on-prem) calls the migration appliance placed in the VPC.
    const e = env({
      profiles: ['rivermeadow-vm'],
      vantages: [workers, { name: 'appliance', roles: ['migration-appliance'] }],
      endpoints: { 'source-worker-appliance': ['10.20.1.20'], 'migration-appliance': ['10.0.12.10'] },
    });
    // Act
    const p = plan(e, catalog);
    // Assert
    const [ingress] = find(p.flows, 'rm-vm-swa-appliance-api');
    expect(ingress).toMatchObject({
      direction: 'ingress',
      destination: { address: '10.0.12.10', vantage: 'appliance', placement: 'cloud' },
      probe: false,
      audit: true,
    });
    const [intra] = find(p.flows, 'rm-vm-worker-log-aggregation');
    expect(intra).toMatchObject({ direction: 'intra-vpc', probe: true });
    const [fromAppliance] = find(p.flows, 'rm-vm-appliance-data-transfer');
    expect(fromAppliance).toMatchObject({
      direction: 'egress',
      source: { vantage: 'appliance' },
      probe: true,
    });
  });

  it('audits vantage-to-vantage flows that have no address to probe', () => {
    // Arrange
    const e = env({
      profiles: ['rivermeadow-os'],
      vantages: [workers, { name: 'appliance', roles: ['migration-appliance'] }],
    });
    // Act
    const [flow] = find(plan(e, catalog).flows, 'rm-worker-appliance-api');
    // Assert
    expect(flow).toMatchObject({
      direction: 'intra-vpc',
      source: { kind: 'vantage', vantage: 'workers' },
      destination: { kind: 'vantage', vantage: 'appliance' },
      probe: false,
      audit: true,
    });
  });

  it('sends requirements for source-server to its Windows and Linux kinds, and OS-specific rows only to their kind', () => {
    // Arrange
    const e = env({
      profiles: ['rivermeadow-os'],
      vantages: [workers],
      endpoints: {
        'source-server-windows': ['10.20.0.16'],
        'source-server-linux': ['10.20.0.15'],
        'migration-appliance': ['10.20.0.5'],
      },
    });
    // Act
    const p = plan(e, catalog);
    // Assert
    expect(find(p.flows, 'rm-os-data-transfer').map(to).sort()).toEqual(['10.20.0.15', '10.20.0.16']);
    expect(find(p.flows, 'rm-os-windows-smb').map(to)).toEqual(['10.20.0.16']);
    expect(find(p.flows, 'rm-os-linux-ssh').map(to)).toEqual(['10.20.0.15']);
  });

  it('lists requirements whose roles are not placed as unplaced, with the reason', () => {
    // Arrange
    const e = env({ profiles: ['rivermeadow-os'], vantages: [workers], endpoints: {} });
    // Act
    const p = plan(e, catalog);
    // Assert
    expect(p.unplaced).toContainEqual({
      requirement: 'rm-worker-appliance-api',
      profiles: ['rivermeadow-os'],
      reason: 'role migration-appliance is on no vantage and has no endpoints',
    });
    expect(p.unplaced.find((u) => u.requirement === 'rm-admin-platform-access')!.reason).toBe(
      'role admin-workstation is on no vantage and has no endpoints; role rivermeadow-saas is on no vantage and has no endpoints',
    );
  });

  it('leaves out excluded and (when asked) optional requirements, and says so', () => {
    // Arrange
    const e = env({
      profiles: ['rivermeadow-os'],
      vantages: [workers],
      endpoints: { 'migration-appliance': ['10.20.0.5'], 'source-server-windows': ['10.20.0.16'] },
      exclude: ['rm-worker-appliance-api'],
      includeOptional: false,
    });
    // Act
    const p = plan(e, catalog);
    // Assert
    expect(p.excluded).toEqual(['rm-worker-appliance-api']);
    expect(find(p.flows, 'rm-worker-appliance-api')).toEqual([]);
    expect(p.unplaced).toContainEqual({
      requirement: 'rm-os-windows-smb',
      profiles: ['rivermeadow-os'],
      reason: 'optional, and includeOptional is false',
    });
  });

  it("adds the environment's own flows from the first vantage by default", () => {
    // Arrange
    const e = env({
      profiles: [],
      vantages: [workers, { name: 'other', roles: ['target-worker'] }],
      flows: [{ name: 'app-db', to: ['10.20.0.40', 'db.corp.example'], ports: '1433,5022-5023' }],
    });
    // Act
    const p = plan(e, catalog);
    // Assert
    expect(p.flows).toHaveLength(2);
    expect(
      p.flows.map((f) => [
        f.source.kind === 'vantage' && f.source.vantage,
        to(f),
        formatPortList(f.ports),
        f.requirements,
      ]),
    ).toEqual([
      ['workers', '10.20.0.40', '1433,5022-5023', ['custom:app-db']],
      ['workers', 'db.corp.example', '1433,5022-5023', ['custom:app-db']],
    ]);
    expect(p.flows[1]!.destination.kind).toBe('hostname');
  });

  it('gives flows stable, unique ids', () => {
    // Arrange
    const e = example('wave-1.yaml');
    // Act
    const first = plan(e, catalog).flows.map((f) => f.id);
    const second = plan(structuredClone(e), catalog).flows.map((f) => f.id);
    // Assert
    expect(second).toEqual(first);
    expect(new Set(first).size).toBe(first.length);
    for (const id of first) expect(id).toMatch(/^f-[0-9a-f]{16}$/);
  });

  it.each(['wave-1.yaml', 'vm-based.yaml', 'hdm.yaml', 'livedata.json', 'localhost.yaml'])(
    'accounts for every requirement of %s: in a flow, unplaced or excluded',
    (file) => {
      // Arrange
      const e = example(file);
      const expected = new Set(
        e.profiles.flatMap((id) => catalog.profile(id)!.requirements.map((r) => r.id)),
      );
      // Act
      const p = plan(e, catalog);
      // Assert
      const seen = new Set([
        ...p.flows.flatMap((f) => f.requirements),
        ...p.unplaced.map((u) => u.requirement),
        ...p.excluded,
      ]);
      for (const id of expected) expect(seen).toContain(id);
      expect(p.summary.flows).toBe(p.summary.probed + p.summary.auditOnly + p.summary.notCheckable);
    },
  );

  it('gathers the probe targets of each vantage, one entry per host with the union of its ports', () => {
    // Arrange
    const e = example('wave-1.yaml');
    // Act
    const jobs = probeTargets(plan(e, catalog));
    // Assert
    expect(jobs).toEqual([
      {
        vantage: 'workers',
        targets: [
          { host: '10.20.0.5', ports: [443, 8888] },
          { host: '10.20.0.16', ports: [5994] },
          { host: '10.20.0.15', ports: [5994] },
          { host: 'app01.corp.example', ports: [5994] },
          { host: '10.20.0.40', ports: [1433, 5022, 5023] },
        ],
      },
    ]);
  });
});
