import { parse as parseYaml } from 'yaml';
import type { NetworkAclEntry } from '../../../lambdas/core/audit/types';
import { buildChangeSet, type Fix, numberAclEntries } from '../../../lambdas/core/finding/change-set';

const ACL = 'acl-0a1b2c3d4e5f60718';
const SG = 'sg-0123456789abcdef0';

/** The wave-1 ACL: outbound allows numbered 100-130, then the final deny. */
const existing: NetworkAclEntry[] = [100, 110, 120, 130].map((n, i) => ({
  RuleNumber: n,
  Protocol: '6',
  RuleAction: 'allow',
  Egress: true,
  CidrBlock: '10.20.0.0/16',
  PortRange: { From: [443, 8888, 5994, 1433][i] as number, To: [443, 8888, 5994, 1433][i] as number },
}));
existing.push({
  RuleNumber: 32767,
  Protocol: '-1',
  RuleAction: 'deny',
  Egress: true,
  CidrBlock: '0.0.0.0/0',
});

const aclFix = (port: number, cidr: string, egress = true, entries = existing): Fix => ({
  networkAcl: {
    networkAclId: ACL,
    requested: [
      {
        Protocol: '6',
        RuleAction: 'allow',
        Egress: egress,
        CidrBlock: cidr,
        PortRange: { From: port, To: port },
      },
    ],
    existing: entries,
  },
});

const sgFix = (
  direction: 'egress' | 'ingress',
  from: number,
  to: number,
  cidr: string,
  label: string,
): Fix => ({
  securityGroup: {
    groupId: SG,
    direction,
    permissions: [
      {
        IpProtocol: 'tcp',
        FromPort: from,
        ToPort: to,
        IpRanges: [{ CidrIp: cidr, Description: `preflight: ${label}` }],
      },
    ],
  },
});

describe('the change set', () => {
  it('numbers the entries of six flows on one ACL uniquely, after its own rules (no six times 140)', () => {
    // Arrange: each flow alone would take 140, the next ten after the ACL's highest rule.
    const fixes = [5022, 5023, 3260, 445, 135, 22].map((port, i) => aclFix(port, `10.20.0.${40 + i}/32`));
    expect(buildChangeSet([fixes[0] as Fix]).awsCli[0]).toContain('--rule-number 140 ');

    // Act
    const cs = buildChangeSet(fixes);

    // Assert
    const numbers = cs.operations.map((op) =>
      op.action === 'create-network-acl-entry' ? op.entry.RuleNumber : -1,
    );
    expect(numbers).toEqual([140, 150, 160, 170, 180, 190]);
    expect(cs.questions).toEqual([]);
  });

  it('places entries before the deny they must beat, around the numbers in use, renumbering nothing', () => {
    // Arrange: a deny of 10.20.0.0/24 at 135 sits between the ACL's rules; 131-134 are partly taken.
    const entries: NetworkAclEntry[] = [
      ...existing,
      { RuleNumber: 135, Protocol: '-1', RuleAction: 'deny', Egress: true, CidrBlock: '10.20.0.0/24' },
      {
        RuleNumber: 134,
        Protocol: '17',
        RuleAction: 'allow',
        Egress: true,
        CidrBlock: '10.9.0.0/16',
        PortRange: { From: 53, To: 53 },
      },
    ];
    const fixes = [
      aclFix(5022, '10.20.0.40/32', true, entries),
      aclFix(5023, '10.20.0.41/32', true, entries),
      aclFix(22, '10.30.0.1/32', true, entries),
    ];

    // Act
    const cs = buildChangeSet(fixes);

    // Assert: both 10.20.0.x entries come before 135 on free numbers (not 140: too late); 10.30.0.1 is not
    // denied by 135, so it follows the ACL's numbering past it.
    const placed = cs.operations.flatMap((op) =>
      op.action === 'create-network-acl-entry' ? [op.entry] : [],
    );
    expect(placed.map((e) => [e.CidrBlock, e.RuleNumber])).toEqual([
      ['10.20.0.41/32', 132],
      ['10.20.0.40/32', 133],
      ['10.30.0.1/32', 140],
    ]);
    const used = new Set(entries.map((e) => e.RuleNumber));
    for (const e of placed) expect(used.has(e.RuleNumber)).toBe(false);
  });

  it('says so when no number is free before the deny, and never invents one', () => {
    // Arrange
    const crowded: NetworkAclEntry[] = [
      {
        RuleNumber: 1,
        Protocol: '6',
        RuleAction: 'allow',
        Egress: true,
        CidrBlock: '10.0.0.0/8',
        PortRange: { From: 22, To: 22 },
      },
      { RuleNumber: 2, Protocol: '-1', RuleAction: 'deny', Egress: true, CidrBlock: '0.0.0.0/0' },
    ];

    // Act
    const cs = buildChangeSet([aclFix(443, '10.20.0.5/32', true, crowded)]);

    // Assert
    expect(cs.awsCli).toEqual([]);
    expect(cs.questions).toEqual([
      expect.objectContaining({
        kind: 'network-acl-room',
        networkAclId: ACL,
        before: 2,
        text: expect.stringMatching(
          /^no free rule number before rule 2 in acl-0a1b2c3d4e5f60718 for outbound allow tcp port 443 to 10\.20\.0\.5\/32: renumber/,
        ),
      }),
    ]);
    expect(
      numberAclEntries(crowded, [
        {
          Protocol: '6',
          RuleAction: 'allow',
          Egress: true,
          CidrBlock: '10.20.0.5/32',
          PortRange: { From: 443, To: 443 },
        },
      ]).placed,
    ).toEqual([]);
  });

  it('numbers outbound and inbound entries of one ACL independently, and the same entry from two flows once', () => {
    // Act
    const cs = buildChangeSet([
      aclFix(5022, '10.20.0.40/32'),
      aclFix(5022, '10.20.0.40/32'),
      aclFix(2000, '10.20.0.40/32', false),
    ]);

    // Assert
    expect(cs.awsCli).toEqual([
      `aws ec2 create-network-acl-entry --network-acl-id ${ACL} --rule-number 140 --protocol 6 --rule-action allow --egress --cidr-block 10.20.0.40/32 --port-range From=5022,To=5022`,
      `aws ec2 create-network-acl-entry --network-acl-id ${ACL} --rule-number 10 --protocol 6 --rule-action allow --ingress --cidr-block 10.20.0.40/32 --port-range From=2000,To=2000`,
    ]);
  });

  it('merges Security Group rules per group and direction, joining port ranges of one peer', () => {
    // Act
    const cs = buildChangeSet([
      sgFix('egress', 5022, 5022, '10.20.0.40/32', 'custom:app-db'),
      sgFix('egress', 5023, 5023, '10.20.0.40/32', 'custom:app-db'),
      sgFix('egress', 5994, 5994, '10.20.0.16/32', 'rm-os-data-transfer'),
      sgFix('egress', 5994, 5994, '10.20.0.16/32', 'rm-os-data-transfer'),
      sgFix('ingress', 22, 22, '10.20.8.0/24', 'admin'),
    ]);

    // Assert
    expect(cs.operations).toEqual([
      {
        action: 'authorize-security-group-egress',
        groupId: SG,
        permissions: [
          {
            IpProtocol: 'tcp',
            FromPort: 5022,
            ToPort: 5023,
            IpRanges: [{ CidrIp: '10.20.0.40/32', Description: 'preflight: custom:app-db' }],
          },
          {
            IpProtocol: 'tcp',
            FromPort: 5994,
            ToPort: 5994,
            IpRanges: [{ CidrIp: '10.20.0.16/32', Description: 'preflight: rm-os-data-transfer' }],
          },
        ],
      },
      {
        action: 'authorize-security-group-ingress',
        groupId: SG,
        permissions: [
          {
            IpProtocol: 'tcp',
            FromPort: 22,
            ToPort: 22,
            IpRanges: [{ CidrIp: '10.20.8.0/24', Description: 'preflight: admin' }],
          },
        ],
      },
    ]);
  });

  it('replaces a blackhole once for several flows, and asks when flows disagree on the target', () => {
    // Arrange
    const route = (destination: string, target: string): Fix => ({
      routes: { changes: [{ action: 'replace', routeTableId: 'rtb-1', destination, target }], questions: [] },
    });

    // Act
    const cs = buildChangeSet([
      route('10.20.0.32/28', 'tgw-0a1b2c3d4e5f60718'),
      route('10.20.0.32/28', 'tgw-0a1b2c3d4e5f60718'),
      route('10.30.0.0/16', 'tgw-0a1b2c3d4e5f60718'),
      route('10.30.0.0/16', 'vgw-0a1b2c3d4e5f60718'),
    ]);

    // Assert
    expect(cs.awsCli).toEqual([
      'aws ec2 replace-route --route-table-id rtb-1 --destination-cidr-block 10.20.0.32/28 --transit-gateway-id tgw-0a1b2c3d4e5f60718',
    ]);
    expect(cs.questions.map((q) => q.text)).toEqual([
      'Which target should 10.30.0.0/16 use in rtb-1? The findings disagree (tgw-0a1b2c3d4e5f60718 or vgw-0a1b2c3d4e5f60718).',
    ]);
  });

  it('merges firewall requests per source, destination and ports', () => {
    // Arrange
    const fw = (destinations: string[], from: number, to = from): Fix => ({
      firewallRequest: {
        protocol: 'tcp',
        sources: ['10.0.1.0/24', '10.0.2.0/24'],
        destinations,
        ports: [{ from, to }],
      },
    });

    // Act
    const cs = buildChangeSet([
      fw(['10.20.0.5/32'], 443),
      fw(['10.20.0.5/32'], 8888),
      fw(['10.20.0.15/32'], 5994),
      fw(['10.20.0.16/32'], 5994),
      fw(['10.20.0.16/32'], 5994),
    ]);

    // Assert
    expect(cs.firewallRequests.map((r) => r.text)).toEqual([
      'permit tcp from 10.0.1.0/24,10.0.2.0/24 to 10.20.0.15/32,10.20.0.16/32 port 5994 (and the replies)',
      'permit tcp from 10.0.1.0/24,10.0.2.0/24 to 10.20.0.5/32 port 443,8888 (and the replies)',
    ]);
  });

  it('renders one CloudFormation template and one CDK snippet for everything, with no placeholder', () => {
    // Act
    const cs = buildChangeSet([
      sgFix('egress', 5994, 5994, '10.20.0.16/32', 'a'),
      sgFix('ingress', 22, 22, '10.20.8.0/24', 'b'),
      aclFix(5022, '10.20.0.40/32'),
      {
        routes: {
          changes: [
            {
              action: 'create',
              routeTableId: 'rtb-1',
              destination: '10.21.0.5/32',
              target: 'tgw-0a1b2c3d4e5f60718',
            },
            {
              action: 'replace',
              routeTableId: 'rtb-1',
              destination: '10.20.0.32/28',
              target: 'tgw-0a1b2c3d4e5f60718',
            },
          ],
          questions: [],
        },
      },
    ]);

    // Assert
    const template = parseYaml(cs.cloudFormation) as {
      Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
    };
    expect(Object.values(template.Resources).map((r) => r.Type)).toEqual([
      'AWS::EC2::SecurityGroupEgress',
      'AWS::EC2::SecurityGroupIngress',
      'AWS::EC2::NetworkAclEntry',
      'AWS::EC2::Route',
    ]);
    expect(template.Resources.PreflightRoute1?.Properties).toEqual({
      RouteTableId: 'rtb-1',
      DestinationCidrBlock: '10.21.0.5/32',
      TransitGatewayId: 'tgw-0a1b2c3d4e5f60718',
    });
    expect(cs.cloudFormation).toContain('# Not expressible here');
    expect(cs.cdk.match(/fromSecurityGroupId/g)).toHaveLength(1);
    expect(cs.cdk).toContain(
      "new ec2.CfnRoute(this, 'PreflightRoute1', { routeTableId: 'rtb-1', destinationCidrBlock: '10.21.0.5/32', transitGatewayId: 'tgw-0a1b2c3d4e5f60718' });",
    );
    expect([...cs.awsCli, cs.cloudFormation, cs.cdk].join('\n')).not.toMatch(/<[^>]*>/);
  });

  it('is empty for no fixes', () => {
    expect(buildChangeSet([])).toEqual({
      operations: [],
      awsCli: [],
      cloudFormation: '',
      cdk: '',
      questions: [],
      firewallRequests: [],
    });
  });
});

describe('route targets', () => {
  it.each([
    ['tgw-0a1b2c3d4e5f60718', '--transit-gateway-id'],
    ['vgw-0a1b2c3d4e5f60718', '--gateway-id'],
    ['pcx-0a1b2c3d4e5f60718', '--vpc-peering-connection-id'],
    ['nat-0a1b2c3d4e5f60718', '--nat-gateway-id'],
    ['eni-0a1b2c3d4e5f60718', '--network-interface-id'],
    ['vpce-0a1b2c3d4e5f60718', '--vpc-endpoint-id'],
    [
      'arn:aws:networkmanager::123456789012:core-network/core-network-0a1b2c3d4e5f60718',
      '--core-network-arn',
    ],
  ])('names %s with %s', (target, option) => {
    const cs = buildChangeSet([
      {
        routes: {
          changes: [{ action: 'create', routeTableId: 'rtb-1', destination: '10.9.0.0/16', target }],
          questions: [],
        },
      },
    ]);
    expect(cs.awsCli).toEqual([
      `aws ec2 create-route --route-table-id rtb-1 --destination-cidr-block 10.9.0.0/16 ${option} ${target}`,
    ]);
  });
});
