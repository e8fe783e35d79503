import { createAuditor } from '../../../lambdas/core/audit/evaluate';
import { auditWithRemediation } from '../../../lambdas/core/audit/plan-audit';
import { auditChangeSet, onPremFirewallRequest, remediate } from '../../../lambdas/core/audit/remediation';
import type {
  AuditRequirement,
  AuditResult,
  Inventory,
  NetworkAcl,
  Route,
  RouteTable,
} from '../../../lambdas/core/audit/types';
import { applyAwsCli } from '../../support/apply-change-set';

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
      {
        action: 'create',
        routeTableId: 'rtb-0123456789abcdef0',
        destination: '192.168.7.0/24',
        passedOver: {
          target: 'igw-0a1b2c3d4e5f60718',
          why: 'internet gateway cannot reach private addresses',
        },
      },
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

// ----- Routes through NAT gateways: audited, fixed, applied and audited again (the change set oracle's
// ----- counterexamples, pinned).

const NAT_VANTAGE = { securityGroupIds: ['sg-0a'], subnetId: 'subnet-0a' };

/** Everything open but the routes: one group and one ACL allowing all, the vantage's table, NAT gateway nat-0a
 * (public, in subnet-0b) and, when given, the table of its own subnet. */
function natInventory(vantageRoutes: Route[], natRoutes?: Route[]): Inventory {
  const all = [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }], Ipv6Ranges: [{ CidrIpv6: '::/0' }] }];
  const allow = (Egress: boolean, n: number, v6: boolean) => ({
    RuleNumber: n,
    Protocol: '-1',
    RuleAction: 'allow' as const,
    Egress,
    ...(v6 ? { Ipv6CidrBlock: '::/0' } : { CidrBlock: '0.0.0.0/0' }),
  });
  const table = (RouteTableId: string, SubnetId: string, Routes: Route[]): RouteTable => ({
    RouteTableId,
    VpcId: 'vpc-0a',
    Routes,
    Associations: [{ Main: false, SubnetId }],
  });
  return {
    securityGroups: new Map([
      ['sg-0a', { GroupId: 'sg-0a', VpcId: 'vpc-0a', IpPermissions: all, IpPermissionsEgress: all }],
    ]),
    networkInterfaces: [],
    networkAcls: [
      {
        NetworkAclId: 'acl-0a',
        VpcId: 'vpc-0a',
        Entries: [
          allow(true, 100, false),
          allow(true, 101, true),
          allow(false, 100, false),
          allow(false, 101, true),
        ],
        Associations: [{ NetworkAclId: 'acl-0a', SubnetId: 'subnet-0a' }],
      },
    ],
    routeTables: [
      table('rtb-0a', 'subnet-0a', vantageRoutes),
      ...(natRoutes ? [table('rtb-0b', 'subnet-0b', natRoutes)] : []),
    ],
    subnets: [{ SubnetId: 'subnet-0a', VpcId: 'vpc-0a', CidrBlock: '10.9.0.0/24' }],
    prefixLists: new Map(),
    natGateways: new Map([
      [
        'nat-0a',
        { NatGatewayId: 'nat-0a', SubnetId: 'subnet-0b', VpcId: 'vpc-0a', ConnectivityType: 'public' },
      ],
    ]),
  };
}

/** The change set of one requirement's audit, and the status once its commands are applied. */
function fixAndReaudit(inventory: Inventory, requirement: AuditRequirement) {
  const audit = auditWithRemediation(createAuditor(inventory), inventory, NAT_VANTAGE, requirement, {
    label: 'x',
    vantageCidrs: [],
  });
  const changeSet = auditChangeSet([audit]);
  const after = createAuditor(applyAwsCli(inventory, changeSet.awsCli)).audit(NAT_VANTAGE, requirement);
  return { before: audit.result, changeSet, after };
}

const tcp1 = (direction: 'egress' | 'ingress', ...cidrs: string[]): AuditRequirement => ({
  direction,
  protocol: 'tcp',
  ports: [{ from: 1, to: 1 }],
  cidrs,
});

describe('remediation: routes through NAT gateways', () => {
  it('points no route at a NAT gateway whose own subnet’s routes are not in the inventory: it asks', () => {
    // Arrange: 10.0.0.1 has no route; its neighbour 10.0.0.0/32 goes to nat-0a, whose table was not exported.
    const inventory = natInventory([{ DestinationCidrBlock: '10.0.0.0/32', NatGatewayId: 'nat-0a' }]);

    // Act
    const { before, changeSet, after } = fixAndReaudit(inventory, tcp1('egress', '10.0.0.1/32'));

    // Assert: a route to nat-0a would leave the flow not audited, not allowed.
    expect(before.status).toBe('blocked');
    expect(changeSet.awsCli).toEqual([]);
    expect(changeSet.questions).toEqual([
      expect.objectContaining({ kind: 'route-target', routeTableId: 'rtb-0a', destination: '10.0.0.1/32' }),
    ]);
    expect(changeSet.questions[0]?.text).toContain(
      'point to nat-0a, which would not carry it (where it sends them is not in the inventory, which lacks subnet-0b)',
    );
    expect(after.status).toBe('blocked');
  });

  it('points no route at a NAT gateway for an inbound flow: the gateway admits no inbound connections', () => {
    // Arrange: the replies to 10.0.0.1 have no route; the only neighbour, 10.0.0.0/32, goes to nat-0a.
    const inventory = natInventory(
      [{ DestinationCidrBlock: '10.0.0.0/32', NatGatewayId: 'nat-0a' }],
      [{ DestinationCidrBlock: '10.0.0.0/8', TransitGatewayId: 'tgw-0a' }],
    );

    // Act
    const { changeSet } = fixAndReaudit(inventory, tcp1('ingress', '10.0.0.1/32'));

    // Assert
    expect(changeSet.awsCli).toEqual([]);
    expect(changeSet.questions).toEqual([
      expect.objectContaining({
        kind: 'route-target',
        routeTableId: 'rtb-0a',
        destination: '10.0.0.1/32',
        passedOver: { target: 'nat-0a', why: 'NAT gateway admits no inbound connections' },
      }),
    ]);
  });

  it('fixes what a NAT gateway’s own table drops in that table, where its neighbours go', () => {
    // Arrange: 10.0.0.5 goes to the public nat-0a, whose table sends it to the internet gateway (which cannot
    // reach private addresses); that table sends 10.1.0.0/16 to the transit gateway.
    const inventory = natInventory(
      [{ DestinationCidrBlock: '10.0.0.0/24', NatGatewayId: 'nat-0a' }],
      [
        { DestinationCidrBlock: '10.1.0.0/16', TransitGatewayId: 'tgw-0a' },
        { DestinationCidrBlock: '0.0.0.0/0', GatewayId: 'igw-0a' },
      ],
    );

    // Act
    const { before, changeSet, after } = fixAndReaudit(inventory, tcp1('egress', '10.0.0.5/32'));

    // Assert
    expect(before.status).toBe('blocked');
    expect(changeSet.awsCli).toEqual([
      'aws ec2 create-route --route-table-id rtb-0b --destination-cidr-block 10.0.0.5/32 --transit-gateway-id tgw-0a',
    ]);
    expect(changeSet.questions).toEqual([]);
    expect(after.status).toBe('allowed');
  });

  it('asks about a NAT gateway’s own table when the caller gives no way to follow the gateway', () => {
    // Arrange: as above, nat-0a's table sends 10.0.0.5 to the internet gateway; remediate gets no natRoutes.
    const inventory = natInventory(
      [{ DestinationCidrBlock: '10.0.0.0/24', NatGatewayId: 'nat-0a' }],
      [
        { DestinationCidrBlock: '10.1.0.0/16', TransitGatewayId: 'tgw-0a' },
        { DestinationCidrBlock: '0.0.0.0/0', GatewayId: 'igw-0a' },
      ],
    );
    const requirement = tcp1('egress', '10.0.0.5/32');
    const r = createAuditor(inventory).audit(NAT_VANTAGE, requirement);

    // Act
    const fix = remediate(r, NAT_VANTAGE, requirement, {
      vantageCidrs: [],
      label: 'x',
      routeTable: inventory.routeTables[0],
    });

    // Assert: no command in rtb-0a (its route to nat-0a is not what drops), a question about rtb-0b.
    expect(fix.routes?.changes).toEqual([]);
    expect(fix.routes?.questions).toEqual([
      { action: 'create', routeTableId: 'rtb-0b', destination: '10.0.0.5/32', via: 'nat-0a' },
    ]);
  });

  it('asks about a NAT gateway’s own table that has no route for the addresses, creating none twice', () => {
    // Arrange: 10.0.0.0/32 goes to nat-0a, whose own table is empty.
    const inventory = natInventory([{ DestinationCidrBlock: '10.0.0.0/32', NatGatewayId: 'nat-0a' }], []);

    // Act
    const { changeSet } = fixAndReaudit(inventory, tcp1('egress', '10.0.0.0/32'));

    // Assert: the question is about rtb-0b; rtb-0a's route to nat-0a exists already.
    expect(changeSet.awsCli).toEqual([]);
    expect(changeSet.questions).toEqual([
      expect.objectContaining({ kind: 'route-target', routeTableId: 'rtb-0b', destination: '10.0.0.0/32' }),
    ]);
    expect(changeSet.questions[0]?.text).toContain(
      'Which gateway reaches 10.0.0.0/32 from rtb-0b (the table of nat-0a’s subnet)?',
    );
  });

  it('adds a static route beside a propagated one of the same destination, outranking a prefix-list route', () => {
    // Arrange: replies to 10.0.0.4/30 follow the prefix-list route to nat-0a (dropped), which outranks the
    // propagated route 10.0.0.4/30 to the peering connection; a static route 10.0.0.4/30 outranks both.
    const inventory: Inventory = {
      ...natInventory([
        {
          DestinationCidrBlock: '10.0.0.4/30',
          VpcPeeringConnectionId: 'pcx-0a',
          Origin: 'EnableVgwRoutePropagation',
        },
        { DestinationPrefixListId: 'pl-0a', NatGatewayId: 'nat-0a' },
      ]),
      prefixLists: new Map([['pl-0a', ['10.0.0.4/30']]]),
    };

    // Act
    const { changeSet, after } = fixAndReaudit(inventory, tcp1('ingress', '10.0.0.4/30'));

    // Assert
    expect(changeSet.awsCli).toEqual([
      'aws ec2 create-route --route-table-id rtb-0a --destination-cidr-block 10.0.0.4/30 --vpc-peering-connection-id pcx-0a',
    ]);
    expect(after.status).toBe('allowed');
  });

  it('replaces the NAT route that is exactly an inbound peer’s with the target of the covering prefix', () => {
    // Arrange: replies to 2001:db8::/128 go to nat-0a (dropped); 2001:db8::/127 goes to the peering connection.
    const inventory = natInventory(
      [
        { DestinationIpv6CidrBlock: '2001:db8::/127', VpcPeeringConnectionId: 'pcx-0a' },
        { DestinationIpv6CidrBlock: '2001:db8::/128', NatGatewayId: 'nat-0a' },
      ],
      [],
    );

    // Act
    const { changeSet, after } = fixAndReaudit(inventory, tcp1('ingress', '2001:db8::/127'));

    // Assert
    expect(changeSet.awsCli).toEqual([
      'aws ec2 replace-route --route-table-id rtb-0a --destination-ipv6-cidr-block 2001:db8::/128 --vpc-peering-connection-id pcx-0a',
    ]);
    expect(after.status).toBe('allowed');
  });
});
