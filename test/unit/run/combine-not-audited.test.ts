import { missingNetworkAcl, missingSecurityGroup } from '../../../lambdas/core/audit/not-evaluated';
import type { FlowAudit } from '../../../lambdas/core/audit/plan-audit';
import type { AuditResult } from '../../../lambdas/core/audit/types';
import type { Flow } from '../../../lambdas/core/plan';
import { auditStatusOf, combineFlow, describeAwsBlock } from '../../../lambdas/core/run/combine';

// The check run reads the audit's `not-audited` status: not seen is neither allowed nor blocked, and never
// gets a fix. (A minimal reading by the existing combine; the finding module owns the verdicts.)

const ingress: Flow = {
  id: 'f-00000000000000a1',
  direction: 'ingress',
  source: { kind: 'ip', address: '10.20.0.5', roles: ['migration-appliance'], placement: 'on-prem' },
  destination: {
    kind: 'ip',
    address: '10.0.1.10',
    roles: ['target-worker'],
    placement: 'cloud',
    vantage: 'workers',
  },
  protocol: 'tcp',
  ports: [{ from: 443, to: 443 }],
  requirements: ['rm-os-443'],
  purposes: ['HTTPS'],
  optional: false,
  probe: false,
  audit: true,
  why: 'starts outside the vantages: audited against vantage workers',
};

const notAudited: AuditResult = {
  status: 'not-audited',
  missing: [],
  undecided: [{ protocol: 'tcp', fromPort: 443, toPort: 443, cidr: '10.20.0.5/32' }],
  layers: { securityGroups: [] },
  decidedBy: [],
  unknown: ['sg-00000000000000fff', 'subnet-00000000000000fff'],
  notEvaluated: [missingSecurityGroup('sg-00000000000000fff'), missingNetworkAcl('subnet-00000000000000fff')],
};

const end = (result: AuditResult): FlowAudit => ({
  flowId: ingress.id,
  requirements: ingress.requirements,
  optional: false,
  vantage: 'workers',
  subnetId: 'subnet-00000000000000fff',
  securityGroupIds: ['sg-00000000000000fff'],
  requirement: { direction: 'ingress', protocol: 'tcp', ports: ingress.ports, cidrs: ['10.20.0.5/32'] },
  result,
  remediation: { onPremFirewall: 'permit tcp from 10.20.0.5/32 to <the vantage subnets’ CIDRs> port 443' },
});

describe('a not-audited audit in a check run', () => {
  it('is neither AWS allows it nor blocked: the cause names what is missing and its export, with no fix', () => {
    // Act
    const finding = combineFlow(ingress, { problem: 'not probed' }, [end(notAudited)], {
      audits: [end(notAudited)],
    });
    // Assert
    expect(auditStatusOf([end(notAudited)])).toBe('not-audited');
    expect(finding.verdict).toBe('audited-only');
    expect(finding.cause).toContain(
      'not audited: not in the inventory: Security Group sg-00000000000000fff (export: aws ec2 describe-security-groups --group-ids sg-00000000000000fff)',
    );
    expect(finding.cause).not.toContain('AWS allows it');
    expect(JSON.stringify(finding.detail)).not.toContain('"remediation"');
  });

  it('ranks below what is seen to drop a flow and above allowed', () => {
    // Arrange
    const allowed: AuditResult = {
      ...notAudited,
      status: 'allowed',
      undecided: [],
      notEvaluated: [],
      unknown: [],
    };
    const partial: AuditResult = {
      ...notAudited,
      status: 'partial',
      undecided: [],
      notEvaluated: [],
      unknown: [],
    };
    // Act / Assert
    expect(auditStatusOf([end(allowed), end(notAudited)])).toBe('not-audited');
    expect(auditStatusOf([end(notAudited), end(partial)])).toBe('partial');
  });

  it('words what the inventory lacks the same way when a flow is also seen to be blocked', () => {
    // Arrange: the ACL denies (seen), the group is not in the inventory (not seen).
    const blocked: AuditResult = {
      ...notAudited,
      status: 'blocked',
      missing: notAudited.undecided ?? [],
      undecided: [],
      notEvaluated: [missingSecurityGroup('sg-00000000000000fff')],
      unknown: ['sg-00000000000000fff'],
    };
    // Act
    const words = describeAwsBlock([end(blocked)]);
    // Assert
    expect(words).toContain(
      'not in the inventory: Security Group sg-00000000000000fff (export: aws ec2 describe-security-groups --group-ids sg-00000000000000fff)',
    );
    expect(words).not.toContain('the inventory lacks');
  });
});
