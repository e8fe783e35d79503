import { onPremFirewallRequest, remediate } from '../../../lambdas/core/audit/remediation';
import type {
  AuditRequirement,
  AuditResult,
  NetworkAcl,
  RouteTable,
} from '../../../lambdas/core/audit/types';

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
    // AWS::EC2::SecurityGroupEgress names its peer CidrIpv6, as the ingress resource does.
    expect(fix.securityGroup?.cloudFormation).toContain('CidrIpv6: fd00:10::/64');
    expect(fix.securityGroup?.cloudFormation).not.toContain('DestinationCidr');
    // An imported group takes egress rules only when CDK is told it does not allow all outbound traffic.
    expect(fix.securityGroup?.cdk).toContain(
      "ec2.SecurityGroup.fromSecurityGroupId(this, 'Preflightsg0123456789abcdef0', 'sg-0123456789abcdef0', { allowAllOutbound: false, mutable: true });",
    );
    expect(fix.securityGroup?.cdk).toContain(
      "sg0123456789abcdef0.addEgressRule(ec2.Peer.ipv4('10.10.0.0/17'), ec2.Port.tcpRange(8005, 8010), ",
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

  it('says when no rule number is free before the deny, and invents none', () => {
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
      'no free rule number before rule 2 in acl-0123456789abcdef0 for outbound allow tcp port 8000-8010 to ' +
        '10.10.0.0/16: renumber its outbound rules to make room, then add the entry ahead of rule 2',
    );
    expect(fix.networkAcl?.entries).toEqual([]);
    expect(fix.networkAcl?.awsCli).toEqual([]);
  });

  it('asks which gateway to use, in words and with no command, when the table shows no way', () => {
    // Arrange: the table is not known, so nothing can be inferred.
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
    expect(fix.routes?.awsCli).toEqual([]);
    expect(fix.routes?.questions).toEqual([
      { action: 'create', routeTableId: 'rtb-0123456789abcdef0', destination: '10.10.0.0/16' },
    ]);
    expect(fix.routes?.note).toMatch(/^Which gateway reaches 10\.10\.0\.0\/16 from rtb-0123456789abcdef0\?/);
  });

  const table: RouteTable = {
    RouteTableId: 'rtb-0123456789abcdef0',
    Routes: [
      { DestinationCidrBlock: '10.0.0.0/16', GatewayId: 'local', State: 'active' },
      { DestinationCidrBlock: '10.20.0.0/16', TransitGatewayId: 'tgw-0a1b2c3d4e5f60718', State: 'active' },
      {
        DestinationCidrBlock: '10.20.0.32/28',
        VpcPeeringConnectionId: 'pcx-0a1b2c3d4e5f60718',
        State: 'blackhole',
      },
      { DestinationCidrBlock: '0.0.0.0/0', GatewayId: 'igw-0a1b2c3d4e5f60718', State: 'active' },
    ],
  };
  const routeDenial = (destination: string, reason: string, target?: string) =>
    ({
      layer: 'route',
      routeTableId: 'rtb-0123456789abcdef0',
      destination,
      ...(target ? { target } : {}),
      effect: 'denies',
      reason,
    }) as const;

  it('replaces a blackhole route with the target of the prefix that covers it', () => {
    // Arrange: 10.20.0.40 falls in the blackhole 10.20.0.32/28, inside 10.20.0.0/16 → tgw (examples/aws-wave-1).
    const r: AuditResult = {
      ...result({
        routes: {
          routeTableId: 'rtb-0123456789abcdef0',
          missing: [{ protocol: 'tcp', fromPort: 1433, toPort: 1433, cidr: '10.20.0.40/32' }],
        },
      }),
      decidedBy: [routeDenial('10.20.0.32/28', 'blackhole', 'pcx-0a1b2c3d4e5f60718')],
    };
    // Act
    const fix = remediate(r, vantage, requirement, { vantageCidrs: [], label: 'x', routeTable: table });
    // Assert
    expect(fix.routes?.awsCli).toEqual([
      'aws ec2 replace-route --route-table-id rtb-0123456789abcdef0 --destination-cidr-block 10.20.0.32/28 --transit-gateway-id tgw-0a1b2c3d4e5f60718',
    ]);
    expect(fix.routes?.questions).toEqual([]);
  });

  it('routes private addresses the internet gateway cannot reach where their neighbours go', () => {
    // Arrange: 10.21.0.5 only matches 0.0.0.0/0 → igw; its neighbour 10.20.0.0/16 goes to the transit gateway.
    const r: AuditResult = {
      ...result({
        routes: {
          routeTableId: 'rtb-0123456789abcdef0',
          missing: [{ protocol: 'tcp', fromPort: 22, toPort: 22, cidr: '10.21.0.5/32' }],
        },
      }),
      decidedBy: [
        routeDenial('0.0.0.0/0', 'internet gateway cannot reach private addresses', 'igw-0a1b2c3d4e5f60718'),
      ],
    };
    // Act
    const fix = remediate(r, vantage, requirement, { vantageCidrs: [], label: 'x', routeTable: table });
    // Assert
    expect(fix.routes?.awsCli).toEqual([
      'aws ec2 create-route --route-table-id rtb-0123456789abcdef0 --destination-cidr-block 10.21.0.5/32 --transit-gateway-id tgw-0a1b2c3d4e5f60718',
    ]);
  });

  it('asks rather than guess when the only neighbours are far away or disagree', () => {
    // Arrange: 192.168.7.0/24 shares no /8 with any carrying route.
    const r: AuditResult = {
      ...result({
        routes: {
          routeTableId: 'rtb-0123456789abcdef0',
          missing: [{ protocol: 'tcp', fromPort: 22, toPort: 22, cidr: '192.168.7.0/24' }],
        },
      }),
      decidedBy: [
        routeDenial('0.0.0.0/0', 'internet gateway cannot reach private addresses', 'igw-0a1b2c3d4e5f60718'),
      ],
    };
    // Act
    const fix = remediate(r, vantage, requirement, { vantageCidrs: [], label: 'x', routeTable: table });
    // Assert
    expect(fix.routes?.awsCli).toEqual([]);
    expect(fix.routes?.questions).toEqual([
      { action: 'create', routeTableId: 'rtb-0123456789abcdef0', destination: '192.168.7.0/24' },
    ]);
  });

  it('always gives the on-prem firewall request for the whole requirement', () => {
    expect(onPremFirewallRequest(requirement, ['10.0.1.0/24', '10.0.2.0/24'])).toBe(
      'permit tcp from 10.0.1.0/24,10.0.2.0/24 to 10.10.0.0/16 port 8000-8010 (and the replies)',
    );
    expect(onPremFirewallRequest({ ...requirement, direction: 'ingress' }, [])).toBe(
      'permit tcp from 10.10.0.0/16 to the vantage subnets’ CIDRs (not in the inventory) port 8000-8010 (and the replies)',
    );
    expect(
      remediate(result({}), vantage, requirement, { vantageCidrs: ['10.0.1.0/24'], label: 'x' }),
    ).toEqual({
      onPremFirewall: 'permit tcp from 10.0.1.0/24 to 10.10.0.0/16 port 8000-8010 (and the replies)',
      firewallRequest: {
        protocol: 'tcp',
        sources: ['10.0.1.0/24'],
        destinations: ['10.10.0.0/16'],
        ports: [{ from: 8000, to: 8010 }],
      },
    });
  });
});
