import { AuditRequirementError, createAuditor } from '../../../lambdas/core/audit/evaluate';
import { InventoryValueError } from '../../../lambdas/core/audit/security-groups';
import type {
  AuditRequirement,
  AuditVantage,
  DecidedBy,
  IpPermission,
  SecurityGroup,
} from '../../../lambdas/core/audit/types';
import { parsePortList } from '../../../lambdas/core/ports';
import { type AuditExports, IDS, inventoryOf, loadExports } from '../../fixtures/audit/inventory';

const need = (
  direction: 'egress' | 'ingress',
  protocol: 'tcp' | 'udp',
  ports: string,
  cidrs: string[],
): AuditRequirement => ({ direction, protocol, ports: parsePortList(ports), cidrs });

const audit = (vantage: AuditVantage, requirement: AuditRequirement, exports?: AuditExports) =>
  createAuditor(inventoryOf(exports)).audit(vantage, requirement);

const workers: AuditVantage = { securityGroupIds: [IDS.workersSg] };
/** The default group (all egress) in a subnet: isolates the NACL and route layers. */
const openIn = (subnetId: string): AuditVantage => ({ securityGroupIds: [IDS.defaultSg], subnetId });

const sgDecisions = (d: readonly DecidedBy[]) => d.filter((x) => x.layer === 'security-group');
const aclDecisions = (d: readonly DecidedBy[]) =>
  d.flatMap((x) =>
    x.layer === 'network-acl' ? [`${x.path} ${x.direction} ${x.ruleNumber} ${x.effect}`] : [],
  );
const routeDecisions = (d: readonly DecidedBy[]) =>
  d.flatMap((x) =>
    x.layer === 'route'
      ? [`${x.destination} ${x.target ?? '-'} ${x.effect}${x.reason ? ` (${x.reason})` : ''}`]
      : [],
  );
const block = (ports: string, cidr: string, protocol: 'tcp' | 'udp' = 'tcp') => {
  const [r] = parsePortList(ports);
  return { protocol, fromPort: r?.from, toPort: r?.to, cidr };
};

function group(exports: AuditExports, id: string): SecurityGroup {
  const g = exports.SecurityGroups.find((x) => x.GroupId === id);
  if (!g) throw new Error(`fixture lacks ${id}`);
  return g;
}

function egressRule(exports: AuditExports, id: string, fromPort: number): IpPermission {
  const rule = group(exports, id).IpPermissionsEgress?.find((p) => p.FromPort === fromPort);
  if (!rule) throw new Error(`fixture lacks an egress rule from port ${fromPort} in ${id}`);
  return rule;
}

describe('Security Groups', () => {
  it('covers every port and protocol with IpProtocol -1 (the default egress rule)', () => {
    // Act
    const result = audit(
      { securityGroupIds: [IDS.defaultSg] },
      need('egress', 'udp', '1-65535', ['203.0.113.0/24']),
    );
    // Assert
    expect(result.status).toBe('allowed');
    expect(result.missing).toEqual([]);
    expect(sgDecisions(result.decidedBy)).toEqual([
      {
        layer: 'security-group',
        groupId: IDS.defaultSg,
        direction: 'egress',
        rule: { IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
        effect: 'allows',
      },
    ]);
  });

  it('reads protocols by name or number and never lets TCP cover UDP or the other way round', () => {
    // Arrange: 8006-8010 is opened as protocol "6", DNS as "udp"; then DNS is rewritten as "17".
    const numbered = loadExports();
    egressRule(numbered, IDS.workersSg, 53).IpProtocol = '17';
    // Act
    const tcpAsSix = audit(workers, need('egress', 'tcp', '8006', ['10.10.0.1']));
    const udpOnTcpRule = audit(workers, need('egress', 'udp', '8006', ['10.10.0.1']));
    const tcpOnUdpRule = audit(workers, need('egress', 'tcp', '53', ['10.20.0.2']));
    const udpAsSeventeen = audit(workers, need('egress', 'udp', '53', ['10.20.0.2']), numbered);
    // Assert
    expect(tcpAsSix.status).toBe('allowed');
    expect(udpOnTcpRule.status).toBe('blocked');
    expect(tcpOnUdpRule.status).toBe('blocked');
    expect(udpAsSeventeen.status).toBe('allowed');
  });

  it('never lets ICMP or another protocol cover TCP/UDP, whatever its ports say', () => {
    // Arrange: the ICMP rule (FromPort -1 = every type) towards 10.20.0.0/16, then the same as protocol 50.
    const esp = loadExports();
    const icmp = egressRule(esp, IDS.workersSg, -1);
    icmp.IpProtocol = '50';
    // Act
    const overIcmp = audit(workers, need('egress', 'tcp', '7', ['10.20.0.0/16']));
    const overEsp = audit(workers, need('egress', 'udp', '7', ['10.20.0.0/16']), esp);
    // Assert
    expect(overIcmp.status).toBe('blocked');
    expect(overIcmp.missing).toEqual([block('7', '10.20.0.0/16')]);
    expect(overEsp.status).toBe('blocked');
  });

  it('is exact over port ranges: 8000-8010 to a /16 lacks what the /17 rule leaves out', () => {
    // Act
    const result = audit(workers, need('egress', 'tcp', '8000-8010', ['10.10.0.0/16']));
    // Assert
    expect(result.status).toBe('partial');
    expect(result.missing).toEqual([block('8006-8010', '10.10.128.0/17')]);
    expect(result.layers.securityGroups).toEqual(result.missing);
    expect(sgDecisions(result.decidedBy).map((d) => d.layer === 'security-group' && d.rule.FromPort)).toEqual(
      [8000, 8006],
    );
  });

  it('never lets IPv4 ranges cover IPv6 peers, nor IPv6 ranges IPv4 peers', () => {
    // Arrange: syslog opened to ::/0 only.
    const anyV6 = loadExports();
    egressRule(anyV6, IDS.workersSg, 514).Ipv6Ranges = [{ CidrIpv6: '::/0' }];
    // Act
    const v6OverV4Rule = audit(workers, need('egress', 'tcp', '443', ['2001:db8::/64']));
    const v4OverV6Rule = audit(workers, need('egress', 'udp', '514', ['10.0.0.0/8', '2001:db8::/64']), anyV6);
    // Assert
    expect(v6OverV4Rule.status).toBe('blocked');
    expect(v4OverV6Rule.status).toBe('partial');
    expect(v4OverV6Rule.missing).toEqual([block('514', '10.0.0.0/8', 'udp')]);
  });

  it('resolves prefix lists through their entries', () => {
    // Act: the corporate DNS list holds 10.20.0.2/32 and 10.21.0.2/32.
    const result = audit(workers, need('egress', 'udp', '53', ['10.20.0.0/30']));
    // Assert
    expect(result.status).toBe('partial');
    expect(result.missing).toEqual([block('53', '10.20.0.0/31', 'udp'), block('53', '10.20.0.3/32', 'udp')]);
    expect(sgDecisions(result.decidedBy)).toEqual([
      expect.objectContaining({
        rule: {
          IpProtocol: 'udp',
          FromPort: 53,
          ToPort: 53,
          PrefixListIds: [{ PrefixListId: IDS.dnsList, Description: 'Corporate DNS' }],
        },
      }),
    ]);
    expect(result.unknown).toEqual([]);
  });

  it('leaves what an unknown prefix list could cover undecided (not audited), naming the export', () => {
    // Act: 9443 is opened only through a list the inventory lacks; 443 is opened to everything.
    const needed = audit(workers, need('egress', 'tcp', '9443', ['10.0.0.0/8']));
    const notNeeded = audit(workers, need('egress', 'tcp', '443', ['10.0.0.0/8']));
    // Assert: the list could hold any address, so 9443 is neither allowed nor blocked.
    expect(needed.status).toBe('not-audited');
    expect(needed.missing).toEqual([]);
    expect(needed.undecided).toEqual([block('9443', '10.0.0.0/8')]);
    expect(needed.layers.securityGroups).toEqual([]);
    expect(needed.unknown).toEqual([IDS.missingList]);
    expect(needed.notEvaluated).toEqual([
      expect.objectContaining({
        layer: 'prefix-list',
        id: IDS.missingList,
        export: expect.stringContaining(
          `get-managed-prefix-list-entries --prefix-list-id ${IDS.missingList}`,
        ),
      }),
    ]);
    expect(notNeeded.status).toBe('allowed');
    expect(notNeeded.unknown).toEqual([]);
  });

  it('lets a group reference cover only the addresses of interfaces in that group, never the block', () => {
    // Act: the database group holds one interface, 10.0.2.15 and 10.0.2.16.
    const subnet = audit(workers, need('egress', 'tcp', '5432', ['10.0.2.0/24']));
    const members = audit(workers, need('egress', 'tcp', '5432', ['10.0.2.15', '10.0.2.16/32']));
    // Assert
    expect(subnet.status).toBe('partial');
    expect(subnet.missing.map((b) => b.cidr)).toEqual([
      '10.0.2.0/29',
      '10.0.2.8/30',
      '10.0.2.12/31',
      '10.0.2.14/32',
      '10.0.2.17/32',
      '10.0.2.18/31',
      '10.0.2.20/30',
      '10.0.2.24/29',
      '10.0.2.32/27',
      '10.0.2.64/26',
      '10.0.2.128/25',
    ]);
    expect(sgDecisions(subnet.decidedBy)).toEqual([
      expect.objectContaining({
        groupId: IDS.workersSg,
        rule: {
          IpProtocol: 'tcp',
          FromPort: 5432,
          ToPort: 5432,
          UserIdGroupPairs: [{ Description: 'PostgreSQL', GroupId: IDS.dbSg, UserId: '123456789012' }],
        },
      }),
    ]);
    expect(members.status).toBe('allowed');
  });

  it('counts every private IPv4 and IPv6 address of a member interface (self-reference, ingress)', () => {
    // Act: workers admit all traffic from their own group: 10.0.1.10, 10.0.1.11, 2600:1f18:1234:5601::10.
    const own = audit(workers, need('ingress', 'tcp', '9000', ['10.0.1.10/31', '2600:1f18:1234:5601::10']));
    const wider = audit(workers, need('ingress', 'tcp', '9000', ['2600:1f18:1234:5601::/123']));
    // Assert
    expect(own.status).toBe('allowed');
    expect(wider.status).toBe('partial');
    expect(wider.missing.map((b) => b.cidr)).toEqual([
      '2600:1f18:1234:5601::/124',
      '2600:1f18:1234:5601::11/128',
      '2600:1f18:1234:5601::12/127',
      '2600:1f18:1234:5601::14/126',
      '2600:1f18:1234:5601::18/125',
    ]);
  });

  it('never decides by an unknown group (on the vantage or referenced), and reports it', () => {
    // Arrange: the database rule now references a group nobody knows.
    const exports = loadExports();
    const pair = egressRule(exports, IDS.workersSg, 5432).UserIdGroupPairs?.[0];
    if (pair) pair.GroupId = 'sg-0badbadbadbadbad0';
    // Act
    const vantage = audit(
      { securityGroupIds: ['sg-0aaaaaaaaaaaaaaa0', IDS.defaultSg] },
      need('egress', 'tcp', '443', ['198.51.100.7']),
    );
    const referenced = audit(workers, need('egress', 'tcp', '5432', ['10.0.2.15']), exports);
    // Assert
    expect(vantage.status).toBe('allowed');
    expect(vantage.unknown).toEqual(['sg-0aaaaaaaaaaaaaaa0']);
    expect(referenced.status).toBe('not-audited');
    expect(referenced.unknown).toEqual(['sg-0badbadbadbadbad0']);
    expect(referenced.layers.securityGroups).toEqual([]);
  });

  it('takes the union of every group on the interface, naming each rule narrowed to its one peer', () => {
    // Arrange: the first half of the data ports also opened to a second network.
    const exports = loadExports();
    egressRule(exports, IDS.workersSg, 8000).IpRanges?.push({ CidrIp: '10.30.0.0/16' });
    // Act
    const union = audit(
      { securityGroupIds: [IDS.workersSg, IDS.dbSg] },
      need('egress', 'tcp', '8000-8010', ['10.10.0.0/16']),
      exports,
    );
    const narrowed = audit(workers, need('egress', 'tcp', '8001', ['10.30.1.0/24']), exports);
    // Assert
    expect(union.status).toBe('allowed');
    expect(sgDecisions(union.decidedBy).map((d) => d.layer === 'security-group' && d.groupId)).toEqual([
      IDS.workersSg,
      IDS.workersSg,
      IDS.dbSg,
    ]);
    expect(sgDecisions(narrowed.decidedBy)).toEqual([
      expect.objectContaining({
        rule: { IpProtocol: 'tcp', FromPort: 8000, ToPort: 8005, IpRanges: [{ CidrIp: '10.30.0.0/16' }] },
      }),
    ]);
  });
});

describe('network ACLs', () => {
  it('applies entries in rule-number order, first match wins, with explicit deny', () => {
    // Arrange: the same ACL with its entries shuffled, and one where the deny comes after the allow.
    const reversed = loadExports();
    reversed.NetworkAcls[0]?.Entries?.reverse();
    const denyLast = loadExports();
    const deny = denyLast.NetworkAcls[0]?.Entries?.find((e) => e.RuleNumber === 110 && e.Egress);
    if (deny) deny.RuleNumber = 125;
    const requirement = need('egress', 'tcp', '8000-8005', ['10.10.4.0/23']);
    // Act
    const result = audit(openIn(IDS.workersSubnet), requirement);
    const shuffled = audit(openIn(IDS.workersSubnet), requirement, reversed);
    const shadowed = audit(openIn(IDS.workersSubnet), requirement, denyLast);
    // Assert
    expect(result.status).toBe('partial');
    expect(result.missing).toEqual([block('8000-8005', '10.10.5.0/24')]);
    expect(result.layers.networkAcl).toEqual({
      networkAclId: IDS.workersAcl,
      request: [block('8000-8005', '10.10.5.0/24')],
      return: [],
    });
    expect(aclDecisions(result.decidedBy)).toEqual([
      'request outbound 110 denies',
      'request outbound 120 allows',
      'return inbound 100 allows',
    ]);
    expect(shuffled).toEqual(result);
    expect(shadowed.status).toBe('allowed');
  });

  it('ends with the implicit deny, shown as * (with the API entry when the export has one)', () => {
    // Arrange: the same ACL without the API's 32767/32768 entries.
    const bare = loadExports();
    const acl = bare.NetworkAcls[0];
    if (acl) acl.Entries = acl.Entries?.filter((e) => e.RuleNumber < 32767);
    const requirement = need('egress', 'tcp', '8443', ['203.0.113.0/24']);
    // Act
    const shown = audit(openIn(IDS.workersSubnet), requirement);
    const implicit = audit(openIn(IDS.workersSubnet), requirement, bare);
    // Assert
    expect(shown.status).toBe('blocked');
    expect(shown.decidedBy).toContainEqual(
      expect.objectContaining({
        layer: 'network-acl',
        path: 'request',
        ruleNumber: '*',
        effect: 'denies',
        entry: expect.objectContaining({ RuleNumber: 32767 }),
      }),
    );
    expect(implicit.status).toBe('blocked');
    expect(implicit.decidedBy).toContainEqual({
      layer: 'network-acl',
      networkAclId: IDS.workersAcl,
      direction: 'outbound',
      path: 'request',
      ruleNumber: '*',
      effect: 'denies',
    });
  });

  it('needs the replies on every ephemeral port: a denied return path loses every requirement port', () => {
    // Act: inbound rule 90 denies 32768-65535 from 10.10.9.0/24, ahead of the allow of 1024-65535.
    const result = audit(openIn(IDS.workersSubnet), need('egress', 'tcp', '8000-8005', ['10.10.9.0/24']));
    // Assert
    expect(result.status).toBe('blocked');
    expect(result.missing).toEqual([block('8000-8005', '10.10.9.0/24')]);
    expect(result.layers.networkAcl).toEqual({
      networkAclId: IDS.workersAcl,
      request: [],
      return: [block('32768-65535', '10.10.9.0/24')],
    });
    expect(aclDecisions(result.decidedBy)).toEqual([
      'request outbound 120 allows',
      'return inbound 90 denies',
      'return inbound 100 allows',
    ]);
  });

  it('checks ingress the other way round: inbound on the ports, outbound replies', () => {
    // Act: SSH from the appliance network.
    const result = audit(
      { securityGroupIds: [IDS.workersSg], subnetId: IDS.workersSubnet },
      need('ingress', 'tcp', '22', ['10.20.0.0/17']),
    );
    // Assert
    expect(result.status).toBe('allowed');
    expect(aclDecisions(result.decidedBy)).toEqual([
      'request inbound 120 allows',
      'return outbound 150 allows',
    ]);
  });

  it('matches entries by protocol number ("17" never matches TCP; names are accepted too)', () => {
    // Arrange: the DNS entry written as "udp".
    const named = loadExports();
    const dns = named.NetworkAcls[0]?.Entries?.find((e) => e.RuleNumber === 130 && e.Egress);
    if (dns) dns.Protocol = 'udp';
    // Act
    const udp = audit(openIn(IDS.workersSubnet), need('egress', 'udp', '53', ['10.20.0.2']));
    const tcp = audit(openIn(IDS.workersSubnet), need('egress', 'tcp', '53', ['10.20.0.2']));
    const udpNamed = audit(openIn(IDS.workersSubnet), need('egress', 'udp', '53', ['10.20.0.2']), named);
    // Assert
    expect(udp.status).toBe('allowed');
    expect(tcp.status).toBe('blocked');
    expect(tcp.layers.networkAcl?.request).toEqual([block('53', '10.20.0.2/32')]);
    expect(udpNamed.status).toBe('allowed');
  });

  it('applies IPv6 entries to IPv6 peers only', () => {
    // Arrange: without the outbound ::/0 allow (101), only IPv4 entries and the * deny remain for IPv6.
    const noV6 = loadExports();
    const acl = noV6.NetworkAcls[0];
    if (acl) acl.Entries = acl.Entries?.filter((e) => !(e.RuleNumber === 101 && e.Egress));
    const requirement = need('egress', 'udp', '514', ['2001:db8:100::/48']);
    // Act
    const allowed = audit({ securityGroupIds: [IDS.workersSg], subnetId: IDS.workersSubnet }, requirement);
    const blocked = audit(
      { securityGroupIds: [IDS.workersSg], subnetId: IDS.workersSubnet },
      requirement,
      noV6,
    );
    // Assert
    expect(allowed.status).toBe('allowed');
    expect(blocked.status).toBe('blocked');
    expect(blocked.layers.networkAcl?.request).toEqual([block('514', '2001:db8:100::/48', 'udp')]);
  });

  it("takes the VPC's default ACL only where it lists the subnet; otherwise the subnet's ACL is not audited", () => {
    // Arrange: the default ACL lists the database subnet (as describe-network-acls does for every subnet
    // it serves); then that association removed (the subnet's ACL is another one, not exported); then no ACL.
    const listed = loadExports();
    const unassociated = loadExports();
    const defaultAcl = unassociated.NetworkAcls[1];
    if (defaultAcl) defaultAcl.Associations = [];
    const none = loadExports();
    none.NetworkAcls = [];
    const requirement = need('egress', 'tcp', '443', ['203.0.113.10']);
    // Act
    const byDefault = audit(openIn(IDS.dbSubnet), requirement, listed);
    const elsewhere = audit(openIn(IDS.dbSubnet), requirement, unassociated);
    const missing = audit(openIn(IDS.dbSubnet), requirement, none);
    // Assert
    expect(byDefault.layers.networkAcl?.networkAclId).toBe(IDS.defaultAcl);
    expect(byDefault.unknown).toEqual([]);
    expect(elsewhere.layers.networkAcl).toBeUndefined();
    expect(elsewhere.status).toBe('not-audited');
    expect(elsewhere.notEvaluated).toEqual([
      expect.objectContaining({ layer: 'network-acl', id: IDS.dbSubnet }),
    ]);
    expect(missing.layers.networkAcl).toBeUndefined();
    expect(missing.unknown).toEqual([IDS.dbSubnet]);
    expect(missing.status).toBe('not-audited');
    expect(missing.notEvaluated).toEqual([
      {
        layer: 'network-acl',
        id: IDS.dbSubnet,
        what: `the network ACL of ${IDS.dbSubnet}`,
        export: `aws ec2 describe-network-acls --filters Name=association.subnet-id,Values=${IDS.dbSubnet}`,
      },
    ]);
  });

  it('does not filter traffic that stays inside the subnet', () => {
    // Arrange: the ACL without its VPC-wide allow (140), so only the subnet's own block escapes the * deny.
    const exports = loadExports();
    const acl = exports.NetworkAcls[0];
    if (acl) acl.Entries = acl.Entries?.filter((e) => e.RuleNumber !== 140);
    // Act
    const result = audit(
      openIn(IDS.workersSubnet),
      need('egress', 'tcp', '8443', ['10.0.1.0/25', '10.0.2.0/25']),
      exports,
    );
    // Assert
    expect(result.status).toBe('partial');
    expect(result.missing).toEqual([block('8443', '10.0.2.0/25')]);
  });
});

describe('route tables', () => {
  it("uses the VPC's main table when the subnet has none of its own, and names the target", () => {
    // Act
    const result = audit(openIn(IDS.dbSubnet), need('egress', 'tcp', '443', ['203.0.113.10']));
    // Assert
    expect(result.status).toBe('allowed');
    expect(result.layers.routes).toEqual({ routeTableId: IDS.mainRtb, missing: [] });
    expect(result.decidedBy).toContainEqual({
      layer: 'route',
      routeTableId: IDS.mainRtb,
      mainTable: true,
      destination: '0.0.0.0/0',
      target: 'nat-0a1b2c3d4e5f60001',
      effect: 'allows',
    });
  });

  it('partitions a peer by longest prefix match: part via the transit gateway, part into a blackhole', () => {
    // Act
    const result = audit(openIn(IDS.workersSubnet), need('egress', 'tcp', '9000', ['10.20.0.0/16']));
    // Assert
    expect(result.status).toBe('partial');
    expect(result.missing).toEqual([block('9000', '10.20.128.0/17')]);
    expect(result.layers.routes).toEqual({
      routeTableId: IDS.workersRtb,
      missing: [block('9000', '10.20.128.0/17')],
    });
    expect(routeDecisions(result.decidedBy)).toEqual([
      '10.20.128.0/17 pcx-0a1b2c3d4e5f60009 denies (blackhole)',
      '10.20.0.0/16 tgw-0a1b2c3d4e5f60001 allows',
    ]);
  });

  it('blocks a peer no route matches', () => {
    // Arrange: the workers table without its default route.
    const exports = loadExports();
    const table = exports.RouteTables[0];
    if (table) table.Routes = table.Routes?.filter((r) => r.DestinationCidrBlock !== '0.0.0.0/0');
    // Act
    const result = audit(openIn(IDS.workersSubnet), need('egress', 'tcp', '443', ['172.16.0.0/12']), exports);
    // Assert
    expect(result.status).toBe('blocked');
    expect(routeDecisions(result.decidedBy)).toEqual(['none - denies (no route)']);
  });

  it('never reaches private addresses through an internet gateway', () => {
    // Act
    const result = audit(
      openIn(IDS.workersSubnet),
      need('egress', 'tcp', '443', ['172.16.0.0/12', '100.64.0.0/10', '203.0.113.0/24']),
    );
    // Assert
    expect(result.status).toBe('partial');
    expect(result.layers.routes?.missing).toEqual([
      block('443', '100.64.0.0/10'),
      block('443', '172.16.0.0/12'),
    ]);
    expect(routeDecisions(result.decidedBy)).toEqual([
      '0.0.0.0/0 igw-0a1b2c3d4e5f60001 denies (internet gateway cannot reach private addresses)',
      '0.0.0.0/0 igw-0a1b2c3d4e5f60001 allows',
    ]);
  });

  it('resolves prefix-list routes entry by entry; a CIDR route wins a tie with a list entry', () => {
    // Act: the partner list holds 192.168.50.0/24 (tied with a CIDR route) and 192.168.60.0/25.
    const result = audit(
      openIn(IDS.workersSubnet),
      need('egress', 'tcp', '443', ['192.168.50.0/24', '192.168.60.0/24']),
    );
    // Assert
    expect(result.status).toBe('allowed');
    expect(routeDecisions(result.decidedBy)).toEqual([
      `${IDS.partnerList} pcx-0a1b2c3d4e5f60001 allows`,
      '192.168.50.0/24 vgw-0a1b2c3d4e5f60001 allows',
      '192.168.60.0/24 tgw-0a1b2c3d4e5f60001 allows',
    ]);
  });

  it('decides no route of a table that names an unknown prefix list (any entry could be more specific)', () => {
    // Arrange
    const exports = loadExports();
    const route = exports.RouteTables[0]?.Routes?.find((r) => r.DestinationPrefixListId !== undefined);
    if (route) route.DestinationPrefixListId = IDS.missingList;
    // Act
    const result = audit(
      openIn(IDS.workersSubnet),
      need('egress', 'tcp', '443', ['192.168.60.0/25']),
      exports,
    );
    // Assert
    expect(result.status).toBe('not-audited');
    expect(routeDecisions(result.decidedBy)).toEqual([]);
    expect(result.undecided).toEqual([block('443', '192.168.60.0/25')]);
    expect(result.unknown).toEqual([IDS.missingList]);
  });

  it('admits no inbound connection through an egress-only internet gateway', () => {
    // Arrange: a group admitting HTTPS from any IPv6 address.
    const exports = loadExports();
    exports.SecurityGroups.push({
      GroupId: 'sg-0a1b2c3d4e5f60009',
      GroupName: 'https-v6',
      VpcId: IDS.vpc,
      IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, Ipv6Ranges: [{ CidrIpv6: '::/0' }] }],
      IpPermissionsEgress: [{ IpProtocol: '-1', Ipv6Ranges: [{ CidrIpv6: '::/0' }] }],
    });
    const vantage = { securityGroupIds: ['sg-0a1b2c3d4e5f60009'], subnetId: IDS.workersSubnet };
    // Act
    const inbound = audit(vantage, need('ingress', 'tcp', '443', ['2001:db8:100::/48']), exports);
    const outbound = audit(vantage, need('egress', 'tcp', '443', ['2001:db8:100::/48']), exports);
    // Assert
    expect(inbound.status).toBe('blocked');
    expect(routeDecisions(inbound.decidedBy)).toEqual([
      '::/0 eigw-0a1b2c3d4e5f60001 denies (egress-only internet gateway admits no inbound connections)',
    ]);
    expect(outbound.status).toBe('allowed');
  });

  it("finds the subnet's VPC without a subnets export: from its ACL association, else its interfaces", () => {
    // Arrange: no describe-subnets output, and only one of the ACL association or the interfaces.
    const noSubnets = loadExports();
    noSubnets.Subnets = [];
    const onlyAcl = structuredClone(noSubnets);
    onlyAcl.NetworkInterfaces = [];
    const noAssociation = structuredClone(noSubnets);
    const defaultAcl = noAssociation.NetworkAcls[1];
    if (defaultAcl) defaultAcl.Associations = [];
    const nothing = structuredClone(noAssociation);
    nothing.NetworkInterfaces = [];
    const requirement = need('egress', 'tcp', '443', ['203.0.113.10']);
    // Act
    const viaAcl = audit(openIn(IDS.dbSubnet), requirement, onlyAcl);
    const viaInterfaces = audit(openIn(IDS.dbSubnet), requirement, noAssociation);
    const unknown = audit(openIn(IDS.dbSubnet), requirement, nothing);
    // Assert
    expect(viaAcl.layers.routes?.routeTableId).toBe(IDS.mainRtb);
    expect(viaInterfaces.layers.routes?.routeTableId).toBe(IDS.mainRtb);
    // The default ACL no longer names the subnet: its ACL is another one, never guessed.
    expect(viaInterfaces.layers.networkAcl).toBeUndefined();
    expect(unknown.layers.routes?.routeTableId).toBeUndefined();
    expect(unknown.layers.networkAcl).toBeUndefined();
    expect(unknown.unknown).toEqual([IDS.dbSubnet]);
  });

  it('reports the subnet when no route table is known for it', () => {
    // Arrange
    const exports = loadExports();
    exports.RouteTables = exports.RouteTables.filter((t) => t.RouteTableId !== IDS.mainRtb);
    // Act
    const result = audit(openIn(IDS.dbSubnet), need('egress', 'tcp', '443', ['203.0.113.10']), exports);
    // Assert
    expect(result.layers.routes).toEqual({ routeTableId: undefined, missing: [] });
    expect(result.unknown).toEqual([IDS.dbSubnet]);
  });
});

describe('the verdict', () => {
  it('joins what every layer leaves missing, in requirement terms', () => {
    // Act
    const result = audit(
      { securityGroupIds: [IDS.workersSg], subnetId: IDS.workersSubnet },
      need('egress', 'tcp', '8000-8010', ['10.10.0.0/16']),
    );
    // Assert
    expect(result.status).toBe('partial');
    expect(result.layers.securityGroups).toEqual([block('8006-8010', '10.10.128.0/17')]);
    expect(result.layers.networkAcl?.request).toEqual([block('8000-8010', '10.10.5.0/24')]);
    expect(result.layers.networkAcl?.return).toEqual([block('32768-65535', '10.10.9.0/24')]);
    expect(result.missing).toEqual([
      block('8000-8010', '10.10.5.0/24'),
      block('8000-8010', '10.10.9.0/24'),
      block('8006-8010', '10.10.128.0/17'),
    ]);
    expect(result.decidedBy.map((d) => d.layer)).toEqual([
      'security-group',
      'security-group',
      'network-acl',
      'network-acl',
      'network-acl',
      'network-acl',
      'route',
    ]);
  });

  it('is blocked when the layers together leave nothing, even if none blocks it alone', () => {
    // Act: the SG opens 8000-8005 only to the lower /17, the return path fails for 10.10.9.0/24 only.
    const result = audit(
      { securityGroupIds: [IDS.workersSg], subnetId: IDS.workersSubnet },
      need('egress', 'tcp', '8006-8010', ['10.10.128.0/17', '10.10.9.0/24']),
    );
    // Assert
    expect(result.layers.securityGroups).toEqual([block('8006-8010', '10.10.128.0/17')]);
    expect(result.status).toBe('blocked');
  });
});

describe('bad input', () => {
  const auditor = createAuditor(inventoryOf());

  it.each([
    [
      { cidrs: ['10.0.0.300/24'] },
      'requirement.cidrs[0]: "10.0.0.300/24" is not usable: "10.0.0.300/24" is not a CIDR block (octet 300 is above 255)',
    ],
    [{ cidrs: ['10.0.0.0/8', 'db01'] }, 'requirement.cidrs[1]: "db01"'],
    [{ cidrs: [] }, 'requirement.cidrs: [] is empty'],
    [
      { ports: [{ from: 0, to: 22 }] },
      'requirement.ports[0]: {"from":0,"to":22} is not a port range; ports run from 1 to 65535',
    ],
    [{ ports: [{ from: 22, to: 65536 }] }, 'requirement.ports[0]: {"from":22,"to":65536}'],
    [{ ports: [{ from: 443, to: 80 }] }, 'requirement.ports[0]: {"from":443,"to":80}'],
    [{ ports: [] }, 'requirement.ports: [] is empty'],
    [{ protocol: 'icmp' }, 'requirement.protocol: "icmp" is not "tcp" or "udp"'],
    [{ direction: 'both' }, 'requirement.direction: "both" is not "egress" or "ingress"'],
  ])('rejects %j, naming the field and the value', (change, message) => {
    // Arrange
    const requirement = { ...need('egress', 'tcp', '443', ['10.0.0.0/8']), ...change } as AuditRequirement;
    // Act
    const act = () => auditor.audit(workers, requirement);
    // Assert
    expect(act).toThrow(AuditRequirementError);
    expect(act).toThrow(message);
  });

  it('names the inventory field that holds a malformed CIDR', () => {
    // Arrange
    const exports = loadExports();
    const rule = egressRule(exports, IDS.workersSg, 443);
    rule.IpRanges = [{ CidrIp: '0.0.0.0/0' }, { CidrIp: '10.0.0.0/40' }];
    // Act
    const act = () => audit(workers, need('egress', 'tcp', '443', ['10.0.0.0/8']), exports);
    // Assert
    expect(act).toThrow(InventoryValueError);
    expect(act).toThrow(
      `securityGroups["${IDS.workersSg}"].IpPermissionsEgress[0].IpRanges[1].CidrIp: "10.0.0.0/40"`,
    );
  });
});

describe('real exports (issue 15): what AWS drops is never allowed, what was not seen is never decided', () => {
  const NAT = 'nat-0a1b2c3d4e5f60001';
  const NAT_SUBNET = 'subnet-0a1b2c3d4e5f60003';
  const NAT_RTB = 'rtb-0a1b2c3d4e5f60003';
  const TGW = 'tgw-0a1b2c3d4e5f60001';
  const IGW = 'igw-0a1b2c3d4e5f60001';

  /**
   * The database subnet uses the main table (0.0.0.0/0 → the NAT gateway); the NAT gateway's interface sits
   * in a subnet of its own whose table is `routes` (as describe-route-tables prints it).
   */
  function natExports(connectivity: 'public' | 'private', routes: Array<Record<string, string>>) {
    const exports = loadExports();
    const eni = exports.NetworkInterfaces.find((e) => e.InterfaceType === 'nat_gateway');
    if (!eni) throw new Error('the fixtures lack the NAT gateway interface');
    eni.SubnetId = NAT_SUBNET;
    if (connectivity === 'private') delete eni.Association;
    exports.RouteTables.push({
      RouteTableId: NAT_RTB,
      VpcId: IDS.vpc,
      Routes: [
        {
          DestinationCidrBlock: '10.0.0.0/16',
          GatewayId: 'local',
          Origin: 'CreateRouteTable',
          State: 'active',
        },
        ...routes.map((r) => ({ ...r, Origin: 'CreateRoute', State: 'active' })),
      ],
      Associations: [{ Main: false, RouteTableId: NAT_RTB, SubnetId: NAT_SUBNET }],
    });
    return exports;
  }

  it('follows a public NAT gateway to its subnet: the internet yes, a private range through its igw no', () => {
    // Arrange
    const exports = natExports('public', [{ DestinationCidrBlock: '0.0.0.0/0', GatewayId: IGW }]);
    // Act
    const internet = audit(openIn(IDS.dbSubnet), need('egress', 'tcp', '443', ['203.0.113.10']), exports);
    const onPrem = audit(openIn(IDS.dbSubnet), need('egress', 'tcp', '443', ['10.20.0.0/16']), exports);
    // Assert
    expect(internet.status).toBe('allowed');
    expect(onPrem.status).toBe('blocked');
    expect(onPrem.decidedBy).toContainEqual(
      expect.objectContaining({
        layer: 'route',
        routeTableId: NAT_RTB,
        via: NAT,
        target: IGW,
        effect: 'denies',
        reason: 'internet gateway cannot reach private addresses',
      }),
    );
  });

  it('admits no inbound connection through a NAT gateway route', () => {
    // Arrange
    const exports = natExports('public', [{ DestinationCidrBlock: '0.0.0.0/0', GatewayId: IGW }]);
    // Act
    const inbound = audit(openIn(IDS.dbSubnet), need('ingress', 'tcp', '8080', ['203.0.113.10']), exports);
    // Assert
    expect(inbound.status).toBe('blocked');
    expect(routeDecisions(inbound.decidedBy)).toContain(
      `0.0.0.0/0 ${NAT} denies (NAT gateway admits no inbound connections)`,
    );
  });

  it('lets a private NAT gateway behind a transit gateway reach on-premises, never the internet', () => {
    // Arrange: no Elastic IP on its interface: a private NAT gateway
    const exports = natExports('private', [
      { DestinationCidrBlock: '10.20.0.0/16', TransitGatewayId: TGW },
      { DestinationCidrBlock: '0.0.0.0/0', GatewayId: IGW },
    ]);
    // Act
    const onPrem = audit(openIn(IDS.dbSubnet), need('egress', 'tcp', '443', ['10.20.0.5']), exports);
    const internet = audit(openIn(IDS.dbSubnet), need('egress', 'tcp', '443', ['203.0.113.10']), exports);
    // Assert
    expect(onPrem.status).toBe('allowed');
    expect(internet.status).toBe('blocked');
    expect(routeDecisions(internet.decidedBy)).toContain(
      `0.0.0.0/0 ${IGW} denies (a private NAT gateway cannot use an internet gateway)`,
    );
  });

  it('says what is unknown when the NAT gateway or its subnet table is not in the inventory', () => {
    // Arrange: no NAT interface at all; then the workers send on-premises traffic to the NAT gateway, whose
    // subnet has no table of its own and whose VPC main table is not in the export.
    const noNat = loadExports();
    noNat.NetworkInterfaces = noNat.NetworkInterfaces.filter((e) => e.InterfaceType !== 'nat_gateway');
    const noTable = natExports('public', []);
    noTable.RouteTables = noTable.RouteTables.filter((t) => t.RouteTableId === IDS.workersRtb);
    const onPremRoute = noTable.RouteTables[0]?.Routes?.find(
      (r) => r.DestinationCidrBlock === '10.20.0.0/16',
    );
    if (onPremRoute) {
      delete onPremRoute.TransitGatewayId;
      onPremRoute.NatGatewayId = NAT;
    }
    const chained = natExports('public', []);
    chained.RouteTables = chained.RouteTables.filter((t) => t.RouteTableId !== NAT_RTB);
    const requirement = need('egress', 'tcp', '443', ['10.20.0.5']);
    // Act
    const unknownNat = audit(openIn(IDS.dbSubnet), requirement, noNat);
    const unknownTable = audit(openIn(IDS.workersSubnet), requirement, noTable);
    const loop = audit(openIn(IDS.dbSubnet), requirement, chained);
    // Assert
    expect(unknownNat.status).toBe('not-audited');
    expect(unknownNat.notEvaluated).toEqual([
      expect.objectContaining({
        layer: 'nat-gateway',
        id: NAT,
        export: `aws ec2 describe-nat-gateways --nat-gateway-ids ${NAT}`,
      }),
    ]);
    expect(unknownTable.status).toBe('not-audited');
    expect(unknownTable.notEvaluated).toEqual([
      expect.objectContaining({ layer: 'route-table', id: NAT_SUBNET }),
    ]);
    // The NAT gateway's subnet falls back to the main table, which sends the traffic to a NAT gateway again.
    expect(loop.status).toBe('not-audited');
    expect(loop.notEvaluated).toEqual([expect.objectContaining({ layer: 'nat-gateway', id: NAT })]);
  });

  it('on equal prefixes prefers a prefix-list route over a propagated one, and a static one over both', () => {
    // Arrange: 192.168.70.0/24 by a propagated VGW route and by a prefix-list route into a blackhole.
    const exports = loadExports();
    exports.PrefixListEntries['pl-0a1b2c3d4e5f60003'] = { Entries: [{ Cidr: '192.168.70.0/24' }] };
    const table = exports.RouteTables.find((t) => t.RouteTableId === IDS.workersRtb);
    table?.Routes?.push(
      {
        DestinationCidrBlock: '192.168.70.0/24',
        GatewayId: 'vgw-0a1b2c3d4e5f60001',
        Origin: 'EnableVgwRoutePropagation',
        State: 'active',
      },
      {
        DestinationPrefixListId: 'pl-0a1b2c3d4e5f60003',
        TransitGatewayId: 'tgw-0a1b2c3d4e5f6dead',
        Origin: 'CreateRoute',
        State: 'blackhole',
      },
    );
    const withStatic = structuredClone(exports);
    withStatic.RouteTables.find((t) => t.RouteTableId === IDS.workersRtb)?.Routes?.push({
      DestinationCidrBlock: '192.168.70.0/24',
      TransitGatewayId: TGW,
      Origin: 'CreateRoute',
      State: 'active',
    });
    const requirement = need('egress', 'tcp', '443', ['192.168.70.10']);
    // Act
    const listWins = audit(openIn(IDS.workersSubnet), requirement, exports);
    const staticWins = audit(openIn(IDS.workersSubnet), requirement, withStatic);
    // Assert
    expect(listWins.status).toBe('blocked');
    expect(routeDecisions(listWins.decidedBy)).toEqual([
      'pl-0a1b2c3d4e5f60003 tgw-0a1b2c3d4e5f6dead denies (blackhole)',
    ]);
    expect(staticWins.status).toBe('allowed');
    expect(routeDecisions(staticWins.decidedBy)).toEqual([`192.168.70.0/24 ${TGW} allows`]);
  });

  it('never decides a self-referencing group without a network interfaces export, and never proposes a CIDR', () => {
    // Arrange: the default group admits all traffic from its own members; 10.0.1.10 is one.
    const exports = loadExports();
    exports.NetworkInterfaces[0]?.Groups?.push({ GroupId: IDS.defaultSg, GroupName: 'default' });
    const requirement = need('ingress', 'tcp', '9000', ['10.0.1.10']);
    const defaultOnly = { securityGroupIds: [IDS.defaultSg] };
    const withoutInterfaces = {
      ...inventoryOf(exports),
      networkInterfaces: [],
      networkInterfacesRead: false,
    };
    // Act
    const unread = createAuditor(withoutInterfaces).audit(defaultOnly, requirement);
    const read = createAuditor(inventoryOf(exports)).audit(defaultOnly, requirement);
    // Assert
    expect(unread.status).toBe('not-audited');
    expect(unread.layers.securityGroups).toEqual([]);
    expect(unread.notEvaluated).toEqual([
      expect.objectContaining({
        layer: 'group-members',
        id: IDS.defaultSg,
        export: `aws ec2 describe-network-interfaces --filters Name=group-id,Values=${IDS.defaultSg}`,
      }),
    ]);
    expect(read.status).toBe('allowed');
  });

  it('counts addresses delegated to an interface (Ipv4Prefixes, Ipv6Prefixes) as members of its groups', () => {
    // Arrange: the database interface holds 10.0.2.48/28 and 2600:1f18:1234:5602:1::/80 delegated.
    const exports = loadExports();
    const db = exports.NetworkInterfaces[1];
    if (db) {
      db.Ipv4Prefixes = [{ Ipv4Prefix: '10.0.2.48/28' }];
      db.Ipv6Prefixes = [{ Ipv6Prefix: '2600:1f18:1234:5602:1::/80' }];
    }
    // Act
    const v4 = audit(workers, need('egress', 'tcp', '5432', ['10.0.2.50', '10.0.2.63']), exports);
    const v6 = audit(workers, need('egress', 'tcp', '5432', ['2600:1f18:1234:5602:1::7']), exports);
    const outside = audit(workers, need('egress', 'tcp', '5432', ['10.0.2.64']), exports);
    // Assert
    expect(v4.status).toBe('allowed');
    expect(v6.status).toBe('allowed');
    expect(outside.status).toBe('blocked');
  });
});
