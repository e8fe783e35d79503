import { createAuditor } from '../../lambdas/core/audit/evaluate';
import { readInventoryFiles } from '../../lambdas/core/audit/inventory';
import { auditPlan } from '../../lambdas/core/audit/plan-audit';
import { defaultCatalog } from '../../lambdas/core/catalog';
import { type Environment, EnvironmentError, parseEnvironment } from '../../lambdas/core/environment';
import { agentTargets, type Flow, plan, probeTargets, probeTargetsFromHere } from '../../lambdas/core/plan';
import { readEnvironmentFile } from '../../lambdas/cli/env-file';
import { REPO } from '../support/cli';

// On-premises vantages: the schema, the planner (every flow probed from the vantage holding its source, wherever
// it is) and the audit of ingress flows from an on-prem vantage's addresses.

const catalog = defaultCatalog();
const env = (raw: Record<string, unknown>): Environment =>
  parseEnvironment({ name: 'test-env', ...raw }, catalog);
const find = (flows: readonly Flow[], requirement: string) =>
  flows.filter((f) => f.requirements.includes(requirement));

const workers = {
  name: 'workers',
  roles: ['target-worker', 'migration-appliance'],
  subnetIds: ['subnet-0123456789abcdef0'],
  securityGroupIds: ['sg-0123456789abcdef0'],
};
const dc1 = {
  name: 'dc1',
  placement: 'on-prem',
  roles: ['source-worker-appliance'],
  addresses: ['10.20.1.0/24'],
};

describe('environment: on-prem vantages', () => {
  it('reads placement and addresses, and defaults placement to cloud', () => {
    // Act
    const e = env({ profiles: ['rivermeadow-vm'], vantages: [workers, dc1] });
    // Assert
    expect(e.vantages[0]).toMatchObject({ name: 'workers', placement: 'cloud' });
    expect(e.vantages[1]).toMatchObject({ name: 'dc1', placement: 'on-prem', addresses: ['10.20.1.0/24'] });
  });

  it.each([
    [
      { ...dc1, subnetIds: ['subnet-0123456789abcdef0'] },
      /vantages\[1\]\.subnetIds: an on-prem vantage has no subnets/,
    ],
    [
      { ...dc1, securityGroupIds: ['sg-0123456789abcdef0'] },
      /vantages\[1\]\.securityGroupIds: an on-prem vantage has no Security Groups/,
    ],
    [{ ...dc1, addresses: undefined }, /vantages\[1\]\.addresses: an on-prem vantage needs addresses/],
    [
      { ...dc1, addresses: ['dc1.corp.example'] },
      /vantages\[1\]\.addresses\[0\]: "dc1\.corp\.example" is not an IP address or CIDR block/,
    ],
    [{ ...dc1, placement: 'edge' }, /vantages\[1\]\.placement/],
    [
      { ...workers, name: 'w2', addresses: ['10.0.0.1'] },
      /vantages\[1\]\.addresses: only an on-prem vantage has addresses/,
    ],
  ])('refuses %j naming the field', (vantage, message) => {
    // Act
    const act = () => env({ profiles: ['rivermeadow-vm'], vantages: [workers, vantage] });
    // Assert
    expect(act).toThrow(EnvironmentError);
    expect(act).toThrow(message);
  });

  it('lets a custom flow start from an on-prem vantage, and names the vantages when `from` is unknown', () => {
    // Act
    const p = plan(
      env({
        profiles: [],
        vantages: [workers, dc1],
        flows: [{ name: 'mgn', from: 'dc1', to: ['10.0.1.25'], ports: '1500', placement: 'cloud' }],
      }),
      catalog,
    );
    const bad = () =>
      env({
        vantages: [workers, dc1],
        flows: [{ name: 'x', from: 'dc9', to: ['10.0.1.25'], ports: '1500' }],
      });
    // Assert
    expect(p.flows).toEqual([
      expect.objectContaining({
        direction: 'ingress',
        source: { kind: 'vantage', vantage: 'dc1', roles: [], placement: 'on-prem' },
        probe: true,
        audit: false,
      }),
    ]);
    expect(bad).toThrow(/flows\[0\]\.from: "dc9" is not a vantage \(known: dc1, workers\)/);
  });
});

describe('plan: flows probed from the vantage holding their source, wherever it is', () => {
  const e = env({
    profiles: ['rivermeadow-vm'],
    vantages: [workers, dc1],
    endpoints: {
      'migration-appliance': ['10.0.1.10'],
      'source-worker-appliance': ['10.20.1.20'],
      vcenter: ['10.20.2.5'],
      'esxi-host': ['10.20.3.0/24'],
    },
  });
  const p = plan(e, catalog);

  it('probes an ingress flow from the on-prem agent and audits it at the cloud destination', () => {
    // Act
    const [flow] = find(p.flows, 'rm-vm-swa-appliance-api');
    // Assert
    expect(flow).toMatchObject({
      direction: 'ingress',
      source: { kind: 'vantage', vantage: 'dc1', placement: 'on-prem' },
      destination: { address: '10.0.1.10', vantage: 'workers', placement: 'cloud' },
      probe: true,
      audit: true,
    });
    expect(flow!.why).toBe(
      "probed live by the agent of on-prem vantage dc1 and audited against vantage workers's inbound rules for dc1's addresses",
    );
  });

  it('probes an on-prem to on-prem flow from the agent, with nothing in AWS to audit', () => {
    // Act
    const [flow] = find(p.flows, 'rm-vm-swa-vcenter');
    // Assert
    expect(flow).toMatchObject({ direction: 'outside', probe: true, audit: false });
    expect(flow!.why).toMatch(/by the agent of on-prem vantage dc1 \(both ends on-premises/);
  });

  it('treats an endpoint of a role held by an on-prem vantage as on-premises (egress from the VPC)', () => {
    // Act
    const [flow] = find(p.flows, 'rm-vm-worker-data-transfer');
    // Assert
    expect(flow).toMatchObject({
      direction: 'egress',
      source: { vantage: 'workers' },
      destination: { address: '10.20.1.20', placement: 'on-prem' },
      probe: true,
      audit: true,
    });
    expect(flow!.destination).not.toHaveProperty('vantage');
  });

  it("gives the agent's targets to its vantage only, never to the cloud probers or the service's own prober", () => {
    // Act
    const agents = agentTargets(p);
    const cloud = probeTargets(p);
    const here = probeTargetsFromHere(p, 'cloud');
    // Assert
    expect(agents.map((j) => j.vantage)).toEqual(['dc1']);
    expect(agents[0]!.targets).toEqual(
      expect.arrayContaining([
        { host: '10.0.1.10', ports: [8888] },
        { host: '10.20.2.5', ports: [443] },
      ]),
    );
    expect(cloud.map((j) => j.vantage)).toEqual(['workers']);
    expect(here).toEqual(cloud[0]!.targets);
    const ports = (targets: typeof here) =>
      targets.flatMap((t) => t.ports.map((port) => `${t.host}:${port}`));
    expect(ports(probeTargetsFromHere(p, 'all')).sort()).toEqual(
      [...new Set([...ports(here), ...ports(agents[0]!.targets)])].sort(),
    );
  });

  it('says which vantage would make a flow checkable when no vantage holds its source', () => {
    // Arrange: vcenter is on-premises and held by no vantage; nothing starts there in this profile, so use
    // an environment whose source worker appliance is only an address.
    const noAgent = env({
      profiles: ['rivermeadow-vm'],
      vantages: [workers, { ...dc1, roles: ['admin-workstation'] }],
      endpoints: { 'source-worker-appliance': ['10.20.1.20'], vcenter: ['10.20.2.5'] },
    });
    // Act
    const [flow] = find(plan(noAgent, catalog).flows, 'rm-vm-swa-vcenter');
    // Assert
    expect(flow).toMatchObject({ direction: 'outside', probe: false, audit: false });
    expect(flow!.why).toBe(
      'both ends are outside the VPC and no vantage holds the source: add source-worker-appliance to the roles of on-prem vantage dc1 (where its agent runs) to probe it live',
    );
  });
});

describe('audit of ingress flows from an on-prem vantage', () => {
  it("reads the destination's inbound rules for the vantage's addresses, and never audits the on-prem end", async () => {
    // Arrange
    const inventory = readInventoryFiles(['examples/aws-wave-1'], REPO);
    const e = env({
      profiles: ['rivermeadow-vm'],
      vantages: [workers, { ...dc1, addresses: ['10.20.1.20', '10.20.9.0/24'] }],
      endpoints: { 'migration-appliance': ['10.0.1.10'], vcenter: ['10.20.2.5'] },
    });
    const p = plan(e, catalog);
    const [flow] = find(p.flows, 'rm-vm-swa-appliance-api');
    // Act
    const audits = await auditPlan(p, e, inventory, createAuditor(inventory), async () => []);
    // Assert
    expect(audits.filter((a) => a.vantage === 'dc1')).toEqual([]);
    const ingress = audits.filter((a) => a.flowId === flow!.id);
    expect(ingress).toHaveLength(1);
    expect(ingress[0]).toMatchObject({
      vantage: 'workers',
      subnetId: 'subnet-0123456789abcdef0',
      requirement: { direction: 'ingress', cidrs: ['10.20.1.20/32', '10.20.9.0/24'] },
    });
    expect(ingress[0]!.result).toBeDefined();
    expect(ingress[0]!.result!.layers.networkAcl).toBeDefined();
  });
});

describe('the examples', () => {
  it.each([
    ['wave-1.yaml', 12],
    ['vm-based.yaml', 11],
    ['livedata.json', 6],
    ['hdm.yaml', 33],
  ])('%s: every flow is probed live from the vantage holding its source (%i flows)', (file, count) => {
    // Act
    const p = plan(readEnvironmentFile(`examples/${file}`, REPO, catalog), catalog);
    // Assert
    expect(p.flows).toHaveLength(count);
    expect(p.flows.filter((f) => !f.probe).map((f) => `${f.id}: ${f.why}`)).toEqual([]);
    expect(p.unplaced).toEqual([]);
    // Ingress flows are probed by an agent and audited at the cloud destination.
    for (const f of p.flows.filter((x) => x.direction === 'ingress' && x.destination.kind !== 'vantage'))
      expect(f).toMatchObject({ source: { placement: 'on-prem' }, probe: true });
  });
});
