import { onPremFirewallRequest, remediate } from '../../../lambdas/core/audit/remediation';
import type { AuditRequirement, AuditResult, NetworkAcl } from '../../../lambdas/core/audit/types';

const requirement: AuditRequirement = {
  direction: 'egress',
  protocol: 'tcp',
  ports: [{ from: 8000, to: 8010 }],
  cidrs: ['10.10.0.0/16'],
};
const vantage = {
  securityGroupIds: ['sg-0123456789abcdef0', 'sg-0fedcba9876543210'],
  subnetId: 'subnet-0123456789abcdef0',
};

function result(overrides: Partial<AuditResult['layers']>): AuditResult {
  const layers = { securityGroups: [], ...overrides };
  const missing = [...layers.securityGroups];
  return { status: missing.length > 0 ? 'partial' : 'allowed', missing, layers, decidedBy: [], unknown: [] };
}

const acl: NetworkAcl = {
  NetworkAclId: 'acl-0123456789abcdef0',
  Entries: [
    {
      RuleNumber: 100,
      Protocol: '6',
      RuleAction: 'allow',
      Egress: true,
      CidrBlock: '10.0.0.0/8',
      PortRange: { From: 443, To: 443 },
    },
    { RuleNumber: 200, Protocol: '-1', RuleAction: 'deny', Egress: true, CidrBlock: '10.10.0.0/16' },
    {
      RuleNumber: 199,
      Protocol: '6',
      RuleAction: 'allow',
      Egress: true,
      CidrBlock: '192.168.0.0/16',
      PortRange: { From: 1, To: 65535 },
    },
    { RuleNumber: 32767, Protocol: '-1', RuleAction: 'deny', Egress: true, CidrBlock: '0.0.0.0/0' },
    { RuleNumber: 32767, Protocol: '-1', RuleAction: 'deny', Egress: false, CidrBlock: '0.0.0.0/0' },
  ],
  Associations: [{ SubnetId: 'subnet-0123456789abcdef0' }],
};

describe('remediation', () => {
  it('adds exactly the missing blocks to the first Security Group, one rule per port range and CIDR', () => {
    // Arrange
    const r = result({
      securityGroups: [
        { protocol: 'tcp', fromPort: 8005, toPort: 8010, cidr: '10.10.0.0/17' },
        { protocol: 'tcp', fromPort: 8005, toPort: 8010, cidr: '10.10.128.0/18' },
        { protocol: 'tcp', fromPort: 8005, toPort: 8010, cidr: 'fd00:10::/64' },
      ],
    });
    // Act
    const fix = remediate(r, vantage, requirement, {
      vantageCidrs: ['10.0.1.0/24'],
      label: 'rm-worker-appliance-api',
    });
    // Assert
    expect(fix.securityGroup?.groupId).toBe('sg-0123456789abcdef0');
    expect(fix.securityGroup?.permissions).toEqual([
      {
        IpProtocol: 'tcp',
        FromPort: 8005,
        ToPort: 8010,
        IpRanges: [
          { CidrIp: '10.10.0.0/17', Description: 'preflight: rm-worker-appliance-api' },
          { CidrIp: '10.10.128.0/18', Description: 'preflight: rm-worker-appliance-api' },
        ],
        Ipv6Ranges: [{ CidrIpv6: 'fd00:10::/64', Description: 'preflight: rm-worker-appliance-api' }],
      },
    ]);
    expect(fix.securityGroup?.awsCli).toEqual([
      `aws ec2 authorize-security-group-egress --group-id sg-0123456789abcdef0 --ip-permissions '${JSON.stringify(fix.securityGroup?.permissions)}'`,
    ]);
    expect(fix.securityGroup?.cloudFormation.match(/Type: AWS::EC2::SecurityGroupEgress/g)).toHaveLength(3);
    expect(fix.securityGroup?.cloudFormation).toContain('DestinationCidrIpv6: fd00:10::/64');
    expect(fix.securityGroup?.cdk).toContain(
      "sg.addEgressRule(ec2.Peer.ipv4('10.10.0.0/17'), ec2.Port.tcpRange(8005, 8010), ",
    );
    expect(fix.networkAcl).toBeUndefined();
    expect(fix.routes).toBeUndefined();
  });

  it('writes ingress rules with ingress commands and a single-port CDK Port', () => {
    // Arrange
    const ingress: AuditRequirement = {
      ...requirement,
      direction: 'ingress',
      ports: [{ from: 443, to: 443 }],
    };
    const r = result({
      securityGroups: [{ protocol: 'tcp', fromPort: 443, toPort: 443, cidr: '10.20.0.0/24' }],
    });
    // Act
    const fix = remediate(r, vantage, ingress, { vantageCidrs: [], label: 'x' });
    // Assert
    expect(fix.securityGroup?.awsCli[0]).toMatch(
      /^aws ec2 authorize-security-group-ingress --group-id sg-0123456789abcdef0 /,
    );
    expect(fix.securityGroup?.cloudFormation).toContain('CidrIp: 10.20.0.0/24');
    expect(fix.securityGroup?.cdk).toContain(
      'addIngressRule(ec2.Peer.ipv4(\'10.20.0.0/24\'), ec2.Port.tcp(443), "preflight: x")',
    );
  });

  it('numbers new NACL entries ahead of the deny that blocks them, for the request and the return path', () => {
    // Arrange
    const r = result({
      networkAcl: {
        networkAclId: 'acl-0123456789abcdef0',
        request: [{ protocol: 'tcp', fromPort: 8000, toPort: 8010, cidr: '10.10.0.0/16' }],
        return: [{ protocol: 'tcp', fromPort: 1024, toPort: 65535, cidr: '10.10.0.0/16' }],
      },
    });
    // Act
    const fix = remediate(r, vantage, requirement, {
      vantageCidrs: ['10.0.1.0/24'],
      label: 'x',
      networkAcl: acl,
    });
    // Assert: outbound must come before the deny at 200 (the next ten, 200, is too late and 199 is taken);
    // inbound has only the final *, so it follows the ACL's numbering: the next ten.
    expect(fix.networkAcl?.entries).toEqual([
      {
        RuleNumber: 198,
        Protocol: '6',
        RuleAction: 'allow',
        Egress: true,
        CidrBlock: '10.10.0.0/16',
        PortRange: { From: 8000, To: 8010 },
      },
      {
        RuleNumber: 10,
        Protocol: '6',
        RuleAction: 'allow',
        Egress: false,
        CidrBlock: '10.10.0.0/16',
        PortRange: { From: 1024, To: 65535 },
      },
    ]);
    expect(fix.networkAcl?.awsCli).toEqual([
      'aws ec2 create-network-acl-entry --network-acl-id acl-0123456789abcdef0 --rule-number 198 --protocol 6 --rule-action allow --egress --cidr-block 10.10.0.0/16 --port-range From=8000,To=8010',
      'aws ec2 create-network-acl-entry --network-acl-id acl-0123456789abcdef0 --rule-number 10 --protocol 6 --rule-action allow --ingress --cidr-block 10.10.0.0/16 --port-range From=1024,To=65535',
    ]);
    expect(fix.networkAcl?.warning).toBeUndefined();
  });

  it('follows the ACL numbering in tens after its highest rule when nothing denies earlier', () => {
    // Arrange
    const tens: NetworkAcl = {
      NetworkAclId: 'acl-0123456789abcdef0',
      Entries: acl.Entries!.filter((e) => e.RuleNumber === 100 || e.RuleNumber === 32767),
    };
    tens.Entries!.push({ ...tens.Entries![0]!, RuleNumber: 110 });
    const r = result({
      networkAcl: {
        networkAclId: 'acl-0123456789abcdef0',
        request: [
          { protocol: 'tcp', fromPort: 8000, toPort: 8010, cidr: '10.10.0.0/16' },
          { protocol: 'tcp', fromPort: 8000, toPort: 8010, cidr: '10.11.0.0/16' },
        ],
        return: [],
      },
    });
    // Act
    const fix = remediate(r, vantage, requirement, { vantageCidrs: [], label: 'x', networkAcl: tens });
    // Assert
    expect(fix.networkAcl?.entries.map((e) => e.RuleNumber)).toEqual([120, 130]);
  });

  it('warns when no rule number is free before the deny', () => {
    // Arrange
    const crowded: NetworkAcl = {
      NetworkAclId: 'acl-0123456789abcdef0',
      Entries: [
        {
          RuleNumber: 1,
          Protocol: '6',
          RuleAction: 'allow',
          Egress: true,
          CidrBlock: '10.0.0.0/8',
          PortRange: { From: 22, To: 22 },
        },
        { RuleNumber: 2, Protocol: '-1', RuleAction: 'deny', Egress: true, CidrBlock: '0.0.0.0/0' },
      ],
    };
    const r = result({
      networkAcl: {
        networkAclId: 'acl-0123456789abcdef0',
        request: [{ protocol: 'tcp', fromPort: 8000, toPort: 8010, cidr: '10.10.0.0/16' }],
        return: [],
      },
    });
    // Act
    const fix = remediate(r, vantage, requirement, { vantageCidrs: [], label: 'x', networkAcl: crowded });
    // Assert
    expect(fix.networkAcl?.warning).toBe(
      'no free rule number before rule 2 in acl-0123456789abcdef0: renumber its outbound rules to make room',
    );
  });

  it('asks for a route where addresses have none', () => {
    // Arrange
    const r = result({
      routes: {
        routeTableId: 'rtb-0123456789abcdef0',
        missing: [{ protocol: 'tcp', fromPort: 8000, toPort: 8010, cidr: '10.10.0.0/16' }],
      },
    });
    // Act
    const fix = remediate(r, vantage, requirement, { vantageCidrs: [], label: 'x' });
    // Assert
    expect(fix.routes?.cidrs).toEqual(['10.10.0.0/16']);
    expect(fix.routes?.awsCli[0]).toMatch(
      /^aws ec2 create-route --route-table-id rtb-0123456789abcdef0 --destination-cidr-block 10\.10\.0\.0\/16 /,
    );
  });

  it('always gives the on-prem firewall request for the whole requirement', () => {
    expect(onPremFirewallRequest(requirement, ['10.0.1.0/24', '10.0.2.0/24'])).toBe(
      'permit tcp from 10.0.1.0/24,10.0.2.0/24 to 10.10.0.0/16 port 8000-8010 (and the replies)',
    );
    expect(onPremFirewallRequest({ ...requirement, direction: 'ingress' }, [])).toBe(
      'permit tcp from 10.10.0.0/16 to <the vantage subnets’ CIDRs> port 8000-8010 (and the replies)',
    );
    expect(
      remediate(result({}), vantage, requirement, { vantageCidrs: ['10.0.1.0/24'], label: 'x' }),
    ).toEqual({
      onPremFirewall: 'permit tcp from 10.0.1.0/24 to 10.10.0.0/16 port 8000-8010 (and the replies)',
    });
  });
});
