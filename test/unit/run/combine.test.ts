import type { FlowAudit } from '../../../lambdas/core/audit/plan-audit';
import type { AuditResult } from '../../../lambdas/core/audit/types';
import type { Flow } from '../../../lambdas/core/plan';
import type { ProbeResult, ProbeState } from '../../../lambdas/core/probe';
import {
  type AuditOutcome,
  auditStatusOf,
  combineFlow,
  compareFindings,
  countVerdicts,
  describeAwsBlock,
} from '../../../lambdas/core/run/combine';
import type { ServiceIdentity } from '../../../lambdas/core/identify';
import { findingDetailSchema } from '../../../lambdas/core/finding/detail';
import { findingRecordSchema } from '../../../lambdas/core/store';

const probedFlow: Flow = {
  id: 'f-0000000000000001',
  direction: 'egress',
  source: { kind: 'vantage', vantage: 'workers', roles: ['target-worker'] },
  destination: { kind: 'ip', address: '10.20.0.15', roles: ['source-server'], placement: 'on-prem' },
  protocol: 'tcp',
  ports: [{ from: 443, to: 443 }],
  requirements: ['rm-os-443'],
  purposes: ['HTTPS'],
  optional: false,
  probe: true,
  audit: true,
  why: 'probed live from vantage workers and audited',
};

const ingressFlow: Flow = {
  ...probedFlow,
  id: 'f-0000000000000002',
  direction: 'ingress',
  source: { kind: 'ip', address: '10.20.0.5', roles: ['migration-appliance'], placement: 'on-prem' },
  destination: {
    kind: 'ip',
    address: '10.0.1.10',
    roles: ['target-worker'],
    placement: 'cloud',
    vantage: 'workers',
  },
  probe: false,
  why: 'starts outside the vantages, so it cannot be probed from the VPC: audited against vantage workers',
};

const outsideFlow: Flow = {
  ...probedFlow,
  id: 'f-0000000000000003',
  direction: 'outside',
  source: { kind: 'ip', address: '10.20.0.5', roles: ['migration-appliance'], placement: 'on-prem' },
  probe: false,
  audit: false,
  why: 'both ends are outside the VPC: not checkable from the VPC',
};

const allowed: AuditResult = {
  status: 'allowed',
  missing: [],
  layers: { securityGroups: [] },
  decidedBy: [],
  unknown: [],
};

const sgBlocked: AuditResult = {
  status: 'blocked',
  missing: [{ protocol: 'tcp', fromPort: 443, toPort: 443, cidr: '10.20.0.15/32' }],
  layers: { securityGroups: [{ protocol: 'tcp', fromPort: 443, toPort: 443, cidr: '10.20.0.15/32' }] },
  decidedBy: [],
  unknown: [],
};

const naclAndRoutePartial: AuditResult = {
  status: 'partial',
  missing: [{ protocol: 'tcp', fromPort: 443, toPort: 443, cidr: '10.20.0.15/32' }],
  layers: {
    securityGroups: [],
    networkAcl: { networkAclId: 'acl-0123456789abcdef0', request: [], return: [] },
    routes: { routeTableId: 'rtb-0123456789abcdef0', missing: [] },
  },
  decidedBy: [
    {
      layer: 'network-acl',
      networkAclId: 'acl-0123456789abcdef0',
      direction: 'inbound',
      ruleNumber: 90,
      effect: 'denies',
      path: 'return',
    },
    {
      layer: 'route',
      routeTableId: 'rtb-0123456789abcdef0',
      destination: '10.20.0.0/16',
      target: 'vgw-0123',
      effect: 'denies',
      reason: 'blackhole',
    },
  ],
  unknown: [],
};

function audit(flow: Flow, result: AuditResult | undefined, problem?: string): FlowAudit {
  return {
    flowId: flow.id,
    requirements: flow.requirements,
    optional: flow.optional,
    vantage: 'workers',
    subnetId: 'subnet-0123456789abcdef0',
    securityGroupIds: ['sg-0123456789abcdef0'],
    requirement: { direction: 'egress', protocol: 'tcp', ports: flow.ports, cidrs: ['10.20.0.15/32'] },
    ...(result ? { result } : {}),
    ...(result && result.status !== 'allowed'
      ? { remediation: { onPremFirewall: 'allow tcp 443 from 10.0.1.0/24 to 10.20.0.15' } }
      : {}),
    ...(problem ? { problem } : {}),
  };
}

function probed(state: ProbeState, code?: string, service?: ServiceIdentity) {
  const r: ProbeResult = {
    host: '10.20.0.15',
    port: 443,
    state,
    latencyMs: 1,
    attempts: 1,
    ...(code ? { code } : {}),
    ...(service ? { service } : {}),
  };
  return { results: new Map([['10.20.0.15|443', r]]) };
}

const audited: AuditOutcome = { audits: [] };
const notAudited: AuditOutcome = { audits: [], skipped: 'no AWS inventory for this environment' };

describe('combineFlow', () => {
  it('passes when every port accepted a connection', () => {
    // Arrange
    const audits = [audit(probedFlow, allowed)];
    // Act
    const f = combineFlow(probedFlow, probed('open'), audits, audited);
    // Assert
    expect(f).toMatchObject({ flowId: probedFlow.id, verdict: 'pass', ports: '443', direction: 'egress' });
    expect(f.source).toBe('vantage workers');
    expect(f.destination).toBe('10.20.0.15 (source-server)');
  });

  it('blames the Security Groups when the audit blocks and the probe timed out, with the remediation', () => {
    // Act
    const f = combineFlow(probedFlow, probed('filtered'), [audit(probedFlow, sgBlocked)], audited);
    // Assert
    expect(f.verdict).toBe('blocked-aws');
    expect(f.cause).toContain('sg-0123456789abcdef0');
    expect(f.cause).toContain('tcp 443 10.20.0.15/32');
    expect(f.detail).toMatchObject({
      remediation: [{ vantage: 'workers', onPremFirewall: expect.stringContaining('allow tcp 443') }],
      audit: { status: 'blocked' },
    });
  });

  it('names the network ACL rule and the blackhole route of a partial audit', () => {
    // Act
    const f = combineFlow(probedFlow, probed('filtered'), [audit(probedFlow, naclAndRoutePartial)], audited);
    // Assert
    expect(f.verdict).toBe('blocked-aws');
    expect(f.cause).toContain('network ACL acl-0123456789abcdef0 inbound rule 90 denies the return path');
    expect(f.cause).toContain(
      'route table rtb-0123456789abcdef0: 10.20.0.0/16 via vgw-0123 denies (blackhole)',
    );
    // The audit's deciding rules are stored worded once, as every surface shows them.
    expect(f.detail.audit?.ends[0]?.rules).toContain(
      'route table rtb-0123456789abcdef0: 10.20.0.0/16 via vgw-0123 denies (blackhole)',
    );
  });

  it('says AWS allows it when the probe timed out and the audit allows it', () => {
    // Act
    const f = combineFlow(probedFlow, probed('filtered'), [audit(probedFlow, allowed)], audited);
    // Assert
    expect(f.verdict).toBe('timeout-aws-allows');
    expect(f.cause).toMatch(/on-premises firewall.*VPN.*route/);
  });

  it('reports a plain timeout when the AWS side was not audited', () => {
    // Act
    const f = combineFlow(probedFlow, probed('filtered'), [], notAudited);
    // Assert
    expect(f.verdict).toBe('timeout');
    expect(f.cause).toContain('no AWS inventory');
    expect(f.detail).toMatchObject({ audit: { skipped: 'no AWS inventory for this environment' } });
  });

  it('reports refused when the host answered with a reset', () => {
    // Act
    const f = combineFlow(
      probedFlow,
      probed('closed', 'ECONNREFUSED'),
      [audit(probedFlow, allowed)],
      audited,
    );
    // Assert
    expect(f.verdict).toBe('refused');
    expect(f.cause).toContain('nothing listens');
  });

  it('keeps refused when the audit blocks, since the refusal shows the packets got through', () => {
    // Act
    const f = combineFlow(
      probedFlow,
      probed('closed', 'ECONNREFUSED'),
      [audit(probedFlow, sgBlocked)],
      audited,
    );
    // Assert
    expect(f.verdict).toBe('refused');
    expect(f.cause).toContain('out of date');
  });

  it('reports unreachable on EHOSTUNREACH', () => {
    // Act
    const f = combineFlow(probedFlow, probed('unreachable', 'EHOSTUNREACH'), [], notAudited);
    // Assert
    expect(f.verdict).toBe('unreachable');
    expect(f.cause).toContain('EHOSTUNREACH');
  });

  it('reports a DNS failure before anything else', () => {
    // Act
    const f = combineFlow(
      probedFlow,
      probed('dns-error', 'ENOTFOUND'),
      [audit(probedFlow, sgBlocked)],
      audited,
    );
    // Assert
    expect(f.verdict).toBe('dns-error');
    expect(f.cause).toContain('did not resolve');
  });

  it('reports an error for other connection failures', () => {
    // Act
    const f = combineFlow(probedFlow, probed('error', 'EPERM'), [], notAudited);
    // Assert
    expect(f.verdict).toBe('error');
    expect(f.cause).toContain('EPERM');
  });

  it('reports skipped when the budget ran out, and when the probe of the vantage failed', () => {
    // Act
    const budget = combineFlow(probedFlow, probed('skipped'), [], notAudited);
    const failed = combineFlow(
      probedFlow,
      { problem: 'the probe of vantage workers failed: boom' },
      [],
      notAudited,
    );
    // Assert
    expect(budget.verdict).toBe('skipped');
    expect(budget.cause).toContain('time budget');
    expect(failed.verdict).toBe('skipped');
    expect(failed.cause).toContain('boom');
  });

  it('reports audited-only with the audit status for ingress flows', () => {
    // Act
    const ok = combineFlow(ingressFlow, { problem: 'not probed' }, [audit(ingressFlow, allowed)], audited);
    const none = combineFlow(ingressFlow, { problem: 'not probed' }, [], notAudited);
    const blocked = combineFlow(
      ingressFlow,
      { problem: 'not probed' },
      [audit(ingressFlow, sgBlocked)],
      audited,
    );
    // Assert
    expect(ok).toMatchObject({ verdict: 'audited-only', detail: { audit: { status: 'allowed' } } });
    expect(ok.cause).toContain('AWS allows it');
    expect(none.verdict).toBe('not-audited');
    expect(none.cause).toMatch(/^not probed \(.*\) and not audited: no AWS inventory/);
    expect(blocked.verdict).toBe('blocked-aws');
    expect(blocked.cause).toContain('audited only');
  });

  it('says why an audit-only flow could not be audited', () => {
    // Act
    const f = combineFlow(
      ingressFlow,
      { problem: 'not probed' },
      [audit(ingressFlow, undefined, 'vantage workers names no securityGroupIds: nothing to audit')],
      audited,
    );
    // Assert
    expect(f.verdict).toBe('not-audited');
    expect(f.cause).toContain('names no securityGroupIds');
  });

  it('reports not-checkable for flows outside the VPC', () => {
    // Act
    const f = combineFlow(outsideFlow, { problem: 'not probed' }, [], notAudited);
    // Assert
    expect(f).toMatchObject({ verdict: 'not-checkable', cause: outsideFlow.why, direction: 'outside' });
  });

  const expiredTls: ServiceIdentity = {
    kind: 'tls',
    version: 'TLSv1.2',
    subject: 'CN=app01',
    issuer: 'CN=Corp CA',
    notBefore: '2020-01-01T00:00:00.000Z',
    notAfter: '2021-01-01T00:00:00.000Z',
    selfSigned: false,
    hostnameMatch: 'not-checked',
    warning: 'the certificate expired on 2021-01-01T00:00:00.000Z (CN=app01)',
  };

  it('warns when the port is open but answered by something else, and carries the service', () => {
    // Act
    const f = combineFlow(
      probedFlow,
      probed('open', undefined, expiredTls),
      [audit(probedFlow, allowed)],
      audited,
    );
    // Assert
    expect(f).toMatchObject({
      verdict: 'warn',
      cause: '443 open: the certificate expired on 2021-01-01T00:00:00.000Z (CN=app01)',
      services: [{ port: 443, service: expiredTls }],
    });
  });

  it('a pass carries what answered; a warn notes an audit that disagrees', () => {
    // Arrange
    const ssh: ServiceIdentity = { kind: 'ssh', banner: 'SSH-2.0-OpenSSH_9.2p1' };
    // Act
    const pass = combineFlow(
      probedFlow,
      probed('open', undefined, ssh),
      [audit(probedFlow, allowed)],
      audited,
    );
    const warn = combineFlow(
      probedFlow,
      probed('open', undefined, expiredTls),
      [audit(probedFlow, sgBlocked)],
      audited,
    );
    // Assert
    expect(pass).toMatchObject({ verdict: 'pass', services: [{ port: 443, service: ssh }] });
    expect(warn.verdict).toBe('warn');
    expect(warn.cause).toContain('out of date');
  });

  it('the store accepts a finding with services, and refuses a service of an unknown kind', () => {
    // Arrange
    const f = combineFlow(
      probedFlow,
      probed('open', undefined, expiredTls),
      [audit(probedFlow, allowed)],
      audited,
    );
    const record = {
      ...f,
      checkId: '01J9ZK3V8Q4W5X6Y7Z8A9B0C1D',
      environmentName: 'wave-1',
      createdAt: '2026-01-31T12:00:00.000Z',
    };
    const bad = structuredClone(record) as { services: Array<{ service: { kind: string } }> };
    bad.services[0]!.service.kind = 'ftp';
    // Act
    const ok = findingRecordSchema.safeParse(record);
    const refused = findingRecordSchema.safeParse(bad);
    // Assert
    expect(ok.success).toBe(true);
    expect(ok.data?.services).toEqual([{ port: 443, service: expiredTls }]);
    expect(refused.success).toBe(false);
    expect(refused.error?.issues[0]?.path).toEqual(['services', 0, 'service', 'kind']);
  });

  it('keeps a live pass but notes an audit that disagrees', () => {
    // Act
    const f = combineFlow(probedFlow, probed('open'), [audit(probedFlow, sgBlocked)], audited);
    // Assert
    expect(f.verdict).toBe('pass');
    expect(f.cause).toContain('out of date');
  });

  it('produces plain JSON in detail', () => {
    // Act
    const f = combineFlow(probedFlow, probed('filtered'), [audit(probedFlow, naclAndRoutePartial)], audited);
    // Assert
    expect(JSON.parse(JSON.stringify(f.detail))).toEqual(f.detail);
  });

  it('types the detail: the vantages at the ends are fields, and the store schema reads it back unchanged', () => {
    // Act
    const f = combineFlow(probedFlow, probed('filtered'), [audit(probedFlow, naclAndRoutePartial)], audited);
    // Assert
    expect(f.detail.sourceVantage).toBe(
      probedFlow.source.kind === 'vantage' ? probedFlow.source.vantage : '?',
    );
    expect(f.detail.destinationVantage).toBeUndefined();
    expect(findingDetailSchema.parse(f.detail)).toEqual(f.detail);
  });
});

describe('auditStatusOf and describeAwsBlock', () => {
  it('takes the worst status and ignores audits without a result', () => {
    expect(auditStatusOf([])).toBeUndefined();
    expect(auditStatusOf([audit(probedFlow, allowed), audit(probedFlow, undefined, 'x')])).toBe('allowed');
    expect(auditStatusOf([audit(probedFlow, naclAndRoutePartial), audit(probedFlow, sgBlocked)])).toBe(
      'blocked',
    );
  });

  it('names ids the inventory lacks', () => {
    const result: AuditResult = { ...sgBlocked, layers: { securityGroups: [] }, unknown: ['sg-0fff'] };
    expect(describeAwsBlock([audit(probedFlow, result)])).toContain('the inventory lacks sg-0fff');
  });
});

describe('compareFindings', () => {
  it('has no changes without a previous run', () => {
    expect(compareFindings(undefined, [{ flowId: 'f-a', verdict: 'pass' }])).toEqual([]);
  });

  it('has no changes when every verdict is the same', () => {
    const same = [
      { flowId: 'f-a', verdict: 'pass' },
      { flowId: 'f-b', verdict: 'refused' },
    ];
    expect(compareFindings(same, structuredClone(same))).toEqual([]);
  });

  it('lists changed, new and gone flows by flow id', () => {
    // Arrange
    const previous = [
      { flowId: 'f-b', verdict: 'pass' },
      { flowId: 'f-c', verdict: 'refused' },
      { flowId: 'f-a', verdict: 'pass' },
    ];
    const current = [
      { flowId: 'f-a', verdict: 'pass' },
      { flowId: 'f-b', verdict: 'blocked-aws' },
      { flowId: 'f-d', verdict: 'timeout' },
    ];
    // Act
    const changes = compareFindings(previous, current);
    // Assert
    expect(changes).toEqual([
      { flowId: 'f-b', from: 'pass', to: 'blocked-aws' },
      { flowId: 'f-c', from: 'refused' },
      { flowId: 'f-d', to: 'timeout' },
    ]);
  });
});

describe('countVerdicts', () => {
  it('counts findings by verdict', () => {
    expect(countVerdicts([{ verdict: 'pass' }, { verdict: 'refused' }, { verdict: 'pass' }])).toEqual({
      pass: 2,
      refused: 1,
    });
  });
});
