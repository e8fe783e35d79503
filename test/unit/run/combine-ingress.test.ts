import type { FlowAudit } from '../../../lambdas/core/audit/plan-audit';
import type { AuditResult } from '../../../lambdas/core/audit/types';
import type { Flow } from '../../../lambdas/core/plan';
import type { ProbeResult, ProbeState } from '../../../lambdas/core/probe';
import { combineFlow } from '../../../lambdas/core/run/combine';

// Ingress flows probed by an on-prem agent and audited at the cloud destination combine into one verdict.

const ingress: Flow = {
  id: 'f-00000000000000a1',
  direction: 'ingress',
  source: { kind: 'vantage', vantage: 'dc1', roles: ['source-server'], placement: 'on-prem' },
  destination: {
    kind: 'ip',
    address: '10.0.1.25',
    roles: ['replication-server'],
    placement: 'cloud',
    vantage: 'staging',
  },
  protocol: 'tcp',
  ports: [{ from: 1500, to: 1500 }],
  requirements: ['custom:mgn'],
  purposes: ['MGN replication'],
  optional: false,
  probe: true,
  audit: true,
  why: "probed live by the agent of on-prem vantage dc1 and audited against vantage staging's inbound rules for dc1's addresses",
};

const allowed: AuditResult = {
  status: 'allowed',
  missing: [],
  layers: { securityGroups: [] },
  decidedBy: [],
  unknown: [],
};
const blocked: AuditResult = {
  status: 'blocked',
  missing: [{ protocol: 'tcp', fromPort: 1500, toPort: 1500, cidr: '10.20.0.0/24' }],
  layers: { securityGroups: [{ protocol: 'tcp', fromPort: 1500, toPort: 1500, cidr: '10.20.0.0/24' }] },
  decidedBy: [],
  unknown: [],
};

const audit = (result: AuditResult): FlowAudit => ({
  flowId: ingress.id,
  requirements: ingress.requirements,
  optional: false,
  vantage: 'staging',
  subnetId: 'subnet-0123456789abcdef0',
  securityGroupIds: ['sg-0123456789abcdef0'],
  requirement: { direction: 'ingress', protocol: 'tcp', ports: ingress.ports, cidrs: ['10.20.0.0/24'] },
  result,
});

const results = (state: ProbeState): { results: Map<string, ProbeResult> } => ({
  results: new Map([
    [
      '10.0.1.25|1500',
      { host: '10.0.1.25', port: 1500, state, latencyMs: state === 'filtered' ? null : 0.8, attempts: 1 },
    ],
  ]),
});

describe('combine: ingress flows from an on-prem agent', () => {
  it('a refusal from the cloud destination means the path is open and nothing listens: its own cause', () => {
    // Act
    const f = combineFlow(ingress, results('closed'), [audit(allowed)], { audits: [audit(allowed)] });
    // Assert
    expect(f.verdict).toBe('refused');
    expect(f.cause).toBe(
      '1500 refused by 10.0.1.25 (replication-server): path open; start the service, or run `preflight respond --ports 1500` there',
    );
  });

  it('keeps the audit note when the audit disagrees with a refusal', () => {
    // Act
    const f = combineFlow(ingress, results('closed'), [audit(blocked)], { audits: [audit(blocked)] });
    // Assert
    expect(f.verdict).toBe('refused');
    expect(f.cause).toMatch(/^1500 refused by 10\.0\.1\.25 .*path open; start the service/);
    expect(f.cause).toMatch(/the audit says blocked: .*is the inventory out of date\?/);
  });

  it('an egress refusal keeps the general cause (the destination is on-premises)', () => {
    // Arrange
    const egress: Flow = {
      ...ingress,
      direction: 'egress',
      source: { kind: 'vantage', vantage: 'workers', roles: ['target-worker'] },
      destination: { kind: 'ip', address: '10.20.0.15', roles: ['source-server'], placement: 'on-prem' },
    };
    const probe = {
      results: new Map([
        [
          '10.20.0.15|1500',
          { host: '10.20.0.15', port: 1500, state: 'closed' as const, latencyMs: 1, attempts: 1 },
        ],
      ]),
    };
    // Act
    const f = combineFlow(egress, probe, [], { audits: [] });
    // Assert
    expect(f.verdict).toBe('refused');
    expect(f.cause).toMatch(/^1500 closed: refused/);
  });

  it('an ingress flow that times out while AWS allows it points at the on-prem side; blocked by AWS names the rule', () => {
    // Act
    const timeout = combineFlow(ingress, results('filtered'), [audit(allowed)], { audits: [audit(allowed)] });
    const sg = combineFlow(ingress, results('filtered'), [audit(blocked)], { audits: [audit(blocked)] });
    // Assert
    expect(timeout.verdict).toBe('timeout-aws-allows');
    expect(sg.verdict).toBe('blocked-aws');
    expect(sg.cause).toMatch(/no ingress rule of sg-0123456789abcdef0 on vantage staging/);
  });
});
