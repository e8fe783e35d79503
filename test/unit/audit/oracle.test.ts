/**
 * The evaluator against a brute-force oracle: small random inventories (Security Groups with every kind of
 * peer, interfaces with delegated prefixes, a network ACL, a route table with static, prefix-list and
 * propagated routes, a NAT gateway (public or private, listed or known by its interface, or unknown) with
 * its own subnet's table, prefix lists, sometimes no interfaces export at all) and random requirements, in a
 * universe small enough to check every port and address one by one: ports 1-24 (ephemeral replies on
 * 16-24), IPv4 addresses 10.0.0.0/27 and IPv6 addresses 2001:db8::/123. The oracle knows nothing of sets or
 * CIDR arithmetic: each generated block carries the list of universe addresses it holds. Each point is
 * allowed, denied or undecided (a piece the inventory lacks could decide it) per layer.
 */
import fc from 'fast-check';
import { addressSetOf, containsAddress } from '../../../lambdas/core/audit/addresses';
import { createAuditor } from '../../../lambdas/core/audit/evaluate';
import { auditWithRemediation } from '../../../lambdas/core/audit/plan-audit';
import { auditChangeSet, needsFix } from '../../../lambdas/core/audit/remediation';
import { applyAwsCli, parseAwsCli } from '../../support/apply-change-set';
import type {
  AuditRequirement,
  AuditResult,
  Inventory,
  IpPermission,
  MissingBlock,
  NetworkAcl,
  NetworkAclEntry,
  NatGateway,
  NetworkInterface,
  Route,
  RouteTable,
  SecurityGroup,
  Subnet,
} from '../../../lambdas/core/audit/types';

const V4_SIZE = 32;
const EPHEMERAL = { from: 16, to: 24 };
const SUBNET = 'subnet-0a0a0a0a0a0a0a0a0';
/** The subnet of the NAT gateway `nat-0a`, with its own table `rtb-0b` when the scenario gives one. */
const NAT_SUBNET = 'subnet-0b0b0b0b0b0b0b0b0';
const NAT = 'nat-0a';
const VPC = 'vpc-0a0a0a0a0a0a0a0a0';

/** A block as text, with the universe addresses it holds (for the oracle). */
interface Block {
  readonly text: string;
  readonly members: readonly number[];
}

const range = (from: number, size: number) => Array.from({ length: size }, (_, i) => from + i);

/** A block inside the universe, sometimes written with host bits set (which must be masked off). */
const innerBlock = (family: 4 | 6): fc.Arbitrary<Block> =>
  fc.integer({ min: 0, max: 5 }).chain((hostBits) =>
    fc
      .record({ k: fc.integer({ min: 0, max: V4_SIZE / 2 ** hostBits - 1 }), h: fc.nat(2 ** hostBits - 1) })
      .map(({ k, h }) => {
        const size = 2 ** hostBits;
        const base = k * size;
        const members = range((family === 4 ? 0 : V4_SIZE) + base, size);
        const shown = h > 0 && h % 3 === 0 ? base + h : base; // host bits set now and then
        const text =
          family === 4
            ? `10.0.0.${shown}/${32 - hostBits}`
            : `2001:db8::${shown.toString(16)}/${128 - hostBits}`;
        return { text, members };
      }),
  );

/** Blocks wider than the universe, or outside it (some touching its edges). */
const OUTER: Record<4 | 6, Block[]> = {
  4: [
    { text: '0.0.0.0/0', members: range(0, V4_SIZE) },
    { text: '10.0.0.0/8', members: range(0, V4_SIZE) },
    { text: '10.0.0.32/27', members: [] },
    { text: '192.168.1.0/24', members: [] },
  ],
  6: [
    { text: '::/0', members: range(V4_SIZE, V4_SIZE) },
    { text: '2001:db8::/32', members: range(V4_SIZE, V4_SIZE) },
    { text: '2001:db8::20/123', members: [] },
    { text: '2001:db9::/64', members: [] },
  ],
};

/** A few blocks drawn often, so that rules, routes and list entries collide (ties, shadowing). */
const POPULAR: Record<4 | 6, Block[]> = {
  4: [
    { text: '10.0.0.0/27', members: range(0, V4_SIZE) },
    { text: '10.0.0.16/28', members: range(16, 16) },
    { text: '10.0.0.4/30', members: range(4, 4) },
  ],
  6: [
    { text: '2001:db8::/123', members: range(V4_SIZE, V4_SIZE) },
    { text: '2001:db8::10/124', members: range(V4_SIZE + 16, 16) },
  ],
};

const anyBlock = (family: 4 | 6): fc.Arbitrary<Block> =>
  fc.oneof(
    { arbitrary: innerBlock(family), weight: 3 },
    { arbitrary: fc.constantFrom(...POPULAR[family]), weight: 2 },
    { arbitrary: fc.constantFrom(...OUTER[family]), weight: 1 },
  );
const blockOfEither = fc.oneof(anyBlock(4), anyBlock(6));

const portPair = fc
  .tuple(fc.integer({ min: 0, max: 30 }), fc.integer({ min: 0, max: 30 }))
  .map(([a, b]) => ({ from: Math.min(a, b), to: Math.max(a, b) }));

const PREFIX_LISTS = ['pl-0000000000000000a', 'pl-0000000000000000b'];
const UNKNOWN_LIST = 'pl-0000000000000000f';
const VANTAGE_GROUPS = ['sg-00000000000000001', 'sg-00000000000000002', 'sg-00000000000000003'];
const MISSING_GROUP = 'sg-0000000000000000f';
/** Referenced by group pairs: a group in the inventory, one only interfaces mention, one nobody knows. */
const REFERENCED = ['sg-0000000000000000a', 'sg-0000000000000000b', 'sg-0000000000000000c'];

type Peer =
  | { kind: 'v4'; block: Block }
  | { kind: 'v6'; block: Block }
  | { kind: 'pl'; id: string }
  | { kind: 'group'; id: string };

const peerArb: fc.Arbitrary<Peer> = fc.oneof(
  anyBlock(4).map((block) => ({ kind: 'v4' as const, block })),
  anyBlock(6).map((block) => ({ kind: 'v6' as const, block })),
  fc.constantFrom(...PREFIX_LISTS, UNKNOWN_LIST).map((id) => ({ kind: 'pl' as const, id })),
  fc.constantFrom(...REFERENCED, ...VANTAGE_GROUPS).map((id) => ({ kind: 'group' as const, id })),
);

interface GenRule {
  protocol: string;
  ports: { from: number; to: number } | undefined;
  peers: Peer[];
}

const ruleArb: fc.Arbitrary<GenRule> = fc.record({
  protocol: fc.constantFrom('-1', 'tcp', '6', 'udp', '17', 'icmp', '1', '58', 'icmpv6', '50', 'TCP'),
  ports: fc.option(portPair, { nil: undefined }),
  peers: fc.array(peerArb, { minLength: 1, maxLength: 3 }),
});

function toPermission(r: GenRule): IpPermission {
  const p: IpPermission = {
    IpProtocol: r.protocol,
    IpRanges: r.peers.flatMap((x) => (x.kind === 'v4' ? [{ CidrIp: x.block.text }] : [])),
    Ipv6Ranges: r.peers.flatMap((x) => (x.kind === 'v6' ? [{ CidrIpv6: x.block.text }] : [])),
    PrefixListIds: r.peers.flatMap((x) => (x.kind === 'pl' ? [{ PrefixListId: x.id }] : [])),
    UserIdGroupPairs: r.peers.flatMap((x) =>
      x.kind === 'group' ? [{ GroupId: x.id, UserId: '123456789012' }] : [],
    ),
  };
  if (r.protocol === '-1') return p;
  if (r.ports) return { ...p, FromPort: r.ports.from, ToPort: r.ports.to };
  return { ...p, FromPort: -1, ToPort: -1 };
}

interface GenAclEntry {
  number: number;
  protocol: string;
  allow: boolean;
  block: Block;
  v6: boolean;
  ports: { from: number; to: number };
}

const aclEntriesArb = fc
  .uniqueArray(fc.integer({ min: 1, max: 300 }), { maxLength: 7 })
  .chain((numbers) =>
    fc.tuple(
      ...numbers.map((number) =>
        fc
          .record({
            number: fc.constant(number),
            protocol: fc.constantFrom('-1', '6', '17', '1', '58', 'tcp', 'udp'),
            allow: fc.boolean(),
            v6: fc.boolean(),
            ports: portPair,
          })
          .chain((e) => anyBlock(e.v6 ? 6 : 4).map((block) => ({ ...e, block }))),
      ),
    ),
  )
  .map((entries): GenAclEntry[] => entries);

function toAclEntry(e: GenAclEntry, egress: boolean): NetworkAclEntry {
  const entry: NetworkAclEntry = {
    RuleNumber: e.number,
    Protocol: e.protocol,
    RuleAction: e.allow ? 'allow' : 'deny',
    Egress: egress,
    ...(e.v6 ? { Ipv6CidrBlock: e.block.text } : { CidrBlock: e.block.text }),
  };
  return e.protocol === '-1' ? entry : { ...entry, PortRange: { From: e.ports.from, To: e.ports.to } };
}

const TARGETS = ['local', 'igw-0a', 'vgw-0a', 'tgw-0a', 'pcx-0a', 'nat-0a', 'eigw-0a', 'blackhole'] as const;
type Target = (typeof TARGETS)[number];

interface GenRoute {
  destination: { kind: 'cidr'; block: Block; v6: boolean } | { kind: 'pl'; id: string };
  target: Target;
  propagated: boolean;
}

const routeArb: fc.Arbitrary<GenRoute> = fc.record({
  destination: fc.oneof(
    fc.boolean().chain((v6) => anyBlock(v6 ? 6 : 4).map((block) => ({ kind: 'cidr' as const, block, v6 }))),
    fc.constantFrom(...PREFIX_LISTS, UNKNOWN_LIST).map((id) => ({ kind: 'pl' as const, id })),
  ),
  target: fc.constantFrom(...TARGETS),
  propagated: fc.boolean(),
});

function toRoute(r: GenRoute): Route {
  const route: Route = {
    Origin: r.propagated ? 'EnableVgwRoutePropagation' : 'CreateRoute',
    State: 'active',
  };
  if (r.destination.kind === 'pl') route.DestinationPrefixListId = r.destination.id;
  else if (r.destination.v6) route.DestinationIpv6CidrBlock = r.destination.block.text;
  else route.DestinationCidrBlock = r.destination.block.text;
  switch (r.target) {
    case 'tgw-0a':
      return { ...route, TransitGatewayId: 'tgw-0a' };
    case 'pcx-0a':
      return { ...route, VpcPeeringConnectionId: 'pcx-0a' };
    case 'nat-0a':
      return { ...route, NatGatewayId: 'nat-0a' };
    case 'eigw-0a':
      return { ...route, EgressOnlyInternetGatewayId: 'eigw-0a' };
    case 'blackhole':
      return { ...route, VpcPeeringConnectionId: 'pcx-0dead', State: 'blackhole' };
    default:
      return { ...route, GatewayId: r.target };
  }
}

const scenarioArb = fc.record({
  interfacesRead: fc.boolean(),
  nat: fc.record({
    known: fc.constantFrom('listed' as const, 'interface' as const, 'unknown' as const),
    connectivity: fc.constantFrom('public' as const, 'private' as const),
    table: fc.option(fc.array(routeArb, { maxLength: 4 }), { nil: undefined }),
  }),
  groups: fc.tuple(
    ...[...VANTAGE_GROUPS, REFERENCED[0] as string].map(() =>
      fc.record({
        egress: fc.array(ruleArb, { maxLength: 4 }),
        ingress: fc.array(ruleArb, { maxLength: 4 }),
      }),
    ),
  ),
  vantageGroups: fc.uniqueArray(fc.constantFrom(...VANTAGE_GROUPS, MISSING_GROUP), {
    minLength: 1,
    maxLength: 3,
  }),
  enis: fc.array(
    fc.record({
      groups: fc.uniqueArray(fc.constantFrom(...VANTAGE_GROUPS, REFERENCED[0], REFERENCED[1]), {
        maxLength: 2,
      }),
      v4: fc.uniqueArray(fc.nat(V4_SIZE - 1), { maxLength: 2 }),
      v6: fc.uniqueArray(fc.nat(V4_SIZE - 1), { maxLength: 2 }),
      delegated: fc.option(innerBlock(4), { nil: undefined }),
    }),
    { maxLength: 4 },
  ),
  prefixLists: fc.tuple(fc.array(blockOfEither, { maxLength: 3 }), fc.array(blockOfEither, { maxLength: 3 })),
  withSubnet: fc.boolean(),
  subnetV4: fc.constantFrom<Block>(
    { text: '10.0.0.16/28', members: range(16, 16) },
    { text: '10.0.1.0/24', members: [] },
  ),
  subnetV6: fc.option(fc.constant<Block>({ text: '2001:db8::18/125', members: range(V4_SIZE + 24, 8) }), {
    nil: undefined,
  }),
  acl: fc.record({
    // `default`: the VPC's default ACL, listing the subnet as describe-network-acls does; `unlisted`: the
    // default ACL of a VPC whose subnet is associated with another ACL, not exported.
    association: fc.constantFrom('explicit', 'default', 'unlisted', 'none'),
    outbound: aclEntriesArb,
    inbound: aclEntriesArb,
    apiDefaults: fc.boolean(),
  }),
  table: fc.record({
    association: fc.constantFrom('explicit', 'main', 'none'),
    routes: fc.array(routeArb, { maxLength: 6 }),
  }),
  requirement: fc.record({
    direction: fc.constantFrom('egress' as const, 'ingress' as const),
    protocol: fc.constantFrom('tcp' as const, 'udp' as const),
    ports: fc.array(
      fc
        .tuple(fc.integer({ min: 1, max: 24 }), fc.integer({ min: 1, max: 24 }))
        .map(([a, b]) => ({ from: Math.min(a, b), to: Math.max(a, b) })),
      { minLength: 1, maxLength: 2 },
    ),
    blocks: fc.array(fc.oneof(innerBlock(4), innerBlock(6)), { minLength: 1, maxLength: 3 }),
  }),
});

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

function buildInventory(s: Scenario): Inventory {
  const ids = [...VANTAGE_GROUPS, REFERENCED[0] as string];
  const groups: SecurityGroup[] = ids.map((GroupId, i) => ({
    GroupId,
    VpcId: VPC,
    IpPermissionsEgress: (s.groups[i]?.egress ?? []).map(toPermission),
    IpPermissions: (s.groups[i]?.ingress ?? []).map(toPermission),
  }));
  const enis: NetworkInterface[] = s.enis.map((e, i) => ({
    NetworkInterfaceId: `eni-${i}`,
    Groups: e.groups.map((GroupId) => ({ GroupId: GroupId as string })),
    PrivateIpAddresses: e.v4.map((a) => ({ PrivateIpAddress: `10.0.0.${a}` })),
    Ipv6Addresses: e.v6.map((a) => ({ Ipv6Address: `2001:db8::${a.toString(16)}` })),
    ...(e.delegated ? { Ipv4Prefixes: [{ Ipv4Prefix: e.delegated.text }] } : {}),
  }));
  if (s.nat.known === 'interface')
    enis.push({
      NetworkInterfaceId: 'eni-nat',
      SubnetId: NAT_SUBNET,
      VpcId: VPC,
      InterfaceType: 'nat_gateway',
      Description: `Interface for NAT Gateway ${NAT}`,
      Groups: [],
      PrivateIpAddresses: [{ PrivateIpAddress: '10.9.0.5' }],
      ...(s.nat.connectivity === 'public' ? { Association: { PublicIp: '198.51.100.20' } } : {}),
    });
  const natGateways = new Map<string, NatGateway>(
    s.nat.known === 'listed'
      ? [[NAT, { NatGatewayId: NAT, SubnetId: NAT_SUBNET, VpcId: VPC, ConnectivityType: s.nat.connectivity }]]
      : [],
  );
  const entries = [
    ...s.acl.outbound.map((e) => toAclEntry(e, true)),
    ...s.acl.inbound.map((e) => toAclEntry(e, false)),
  ];
  if (s.acl.apiDefaults)
    for (const Egress of [true, false])
      entries.push(
        { RuleNumber: 32767, Protocol: '-1', RuleAction: 'deny', Egress, CidrBlock: '0.0.0.0/0' },
        { RuleNumber: 32768, Protocol: '-1', RuleAction: 'deny', Egress, Ipv6CidrBlock: '::/0' },
      );
  const acls: NetworkAcl[] =
    s.acl.association === 'none'
      ? []
      : [
          {
            NetworkAclId: 'acl-0a',
            VpcId: VPC,
            IsDefault: s.acl.association !== 'explicit',
            Entries: entries,
            Associations:
              s.acl.association === 'unlisted' ? [] : [{ NetworkAclId: 'acl-0a', SubnetId: SUBNET }],
          },
        ];
  const tables: RouteTable[] =
    s.table.association === 'none'
      ? []
      : [
          {
            RouteTableId: 'rtb-0a',
            VpcId: VPC,
            Routes: s.table.routes.map(toRoute),
            Associations: [
              s.table.association === 'main' ? { Main: true } : { Main: false, SubnetId: SUBNET },
            ],
          },
        ];
  if (s.nat.table)
    tables.push({
      RouteTableId: 'rtb-0b',
      VpcId: VPC,
      Routes: s.nat.table.map(toRoute),
      Associations: [{ Main: false, SubnetId: NAT_SUBNET }],
    });
  const subnet: Subnet = {
    SubnetId: SUBNET,
    VpcId: VPC,
    CidrBlock: s.subnetV4.text,
    Ipv6CidrBlockAssociationSet: s.subnetV6 ? [{ Ipv6CidrBlock: s.subnetV6.text }] : [],
  };
  return {
    securityGroups: new Map(groups.map((g) => [g.GroupId, g])),
    // Without an interfaces export there are no interfaces at all (the NAT gateway's neither).
    networkInterfaces: s.interfacesRead ? enis : [],
    networkInterfacesRead: s.interfacesRead,
    natGateways,
    networkAcls: acls,
    routeTables: tables,
    subnets: [subnet],
    prefixLists: new Map(PREFIX_LISTS.map((id, i) => [id, (s.prefixLists[i] ?? []).map((b) => b.text)])),
  };
}

function requirementOf(s: Scenario): AuditRequirement {
  const r = s.requirement;
  return { direction: r.direction, protocol: r.protocol, ports: r.ports, cidrs: r.blocks.map((b) => b.text) };
}

// ----- The oracle: one port and one address at a time, straight from the generated description. -----

const scopeOf = (p: string) => {
  const t = p.toLowerCase();
  return t === '-1' ? 'all' : t === 'tcp' || t === '6' ? 'tcp' : t === 'udp' || t === '17' ? 'udp' : 'other';
};
const protocolMatches = (p: string, want: 'tcp' | 'udp') => scopeOf(p) === 'all' || scopeOf(p) === want;

interface Expectation {
  sgDenied: Set<string>;
  requestDenied: Set<string> | undefined;
  returnDenied: Set<string> | undefined;
  routeDenied: Set<string> | undefined;
  missing: Set<string>;
  /** Points no evaluated layer denies but a missing piece could. */
  undecided: Set<string>;
  all: Set<string>;
  sgDeciders: number;
  unknown: Set<string>;
}

const key = (port: number, address: number) => `${port}@${address}`;

function oracle(s: Scenario): Expectation {
  const req = s.requirement;
  const ports = [...new Set(req.ports.flatMap((r) => range(r.from, r.to - r.from + 1)))];
  const peers = [...new Set(req.blocks.flatMap((b) => b.members))];
  const unknown = new Set<string>();
  const listMembers = (id: string) => {
    const i = PREFIX_LISTS.indexOf(id);
    return i === -1 ? undefined : new Set((s.prefixLists[i] ?? []).flatMap((b) => b.members));
  };
  const groupKnown = (id: string) =>
    [...VANTAGE_GROUPS, REFERENCED[0]].includes(id) || s.enis.some((e) => e.groups.includes(id));
  const peerHolds = (peer: Peer, a: number) => {
    switch (peer.kind) {
      case 'v4':
      case 'v6':
        return peer.block.members.includes(a);
      case 'pl':
        return listMembers(peer.id)?.has(a) ?? false;
      case 'group':
        return s.enis.some(
          (e) =>
            e.groups.includes(peer.id) &&
            (a < V4_SIZE
              ? e.v4.includes(a) || (e.delegated?.members.includes(a) ?? false)
              : e.v6.includes(a - V4_SIZE)),
        );
    }
  };
  const ruleHoldsPort = (r: GenRule, port: number) => {
    if (scopeOf(r.protocol) === 'all') return true;
    const from = r.ports ? r.ports.from : 0; // -1 bounds read as the whole range
    const to = r.ports ? r.ports.to : 65535;
    return from <= port && port <= to;
  };

  // Security Groups
  const rules: Array<{ rule: GenRule; peer: Peer }> = [];
  /** A peer the inventory cannot resolve: a list it lacks, a group nobody knows, any group without interfaces. */
  const peerUnknown = (peer: Peer) =>
    (peer.kind === 'pl' && !PREFIX_LISTS.includes(peer.id)) ||
    (peer.kind === 'group' && (!s.interfacesRead || !groupKnown(peer.id)));
  let groupMissing = false;
  for (const id of s.vantageGroups) {
    const i = VANTAGE_GROUPS.indexOf(id);
    if (i === -1) {
      unknown.add(id);
      groupMissing = true;
      continue;
    }
    const group = s.groups[i];
    for (const rule of (req.direction === 'egress' ? group?.egress : group?.ingress) ?? []) {
      if (!protocolMatches(rule.protocol, req.protocol)) continue;
      for (const peer of rule.peers) {
        if ((peer.kind === 'pl' || peer.kind === 'group') && peerUnknown(peer))
          if (ports.some((p) => ruleHoldsPort(rule, p))) unknown.add(peer.id);
        rules.push({ rule, peer });
      }
    }
  }
  const known = (peer: Peer) => !peerUnknown(peer);
  const sgAllows = (port: number, a: number) =>
    rules.some(({ rule, peer }) => known(peer) && ruleHoldsPort(rule, port) && peerHolds(peer, a));
  /** Not allowed, but a group or a peer the inventory lacks could allow it. */
  const sgUndecided = (port: number) =>
    groupMissing || rules.some(({ rule, peer }) => !known(peer) && ruleHoldsPort(rule, port));
  const sgDeciders = rules.filter(
    ({ rule, peer }) =>
      known(peer) && ports.some((p) => peers.some((a) => ruleHoldsPort(rule, p) && peerHolds(peer, a))),
  ).length;

  // Network ACL
  const withAcl = s.withSubnet && (s.acl.association === 'explicit' || s.acl.association === 'default');
  if (s.withSubnet && !withAcl) unknown.add(SUBNET);
  const local = new Set([...s.subnetV4.members, ...(s.subnetV6?.members ?? [])]);
  const entries = (egress: boolean) => {
    const list = (egress ? s.acl.outbound : s.acl.inbound).map((e) => toAclEntry(e, egress));
    const blocks = (egress ? s.acl.outbound : s.acl.inbound).map((e) => e.block);
    const all = list.map((entry, i) => ({ entry, block: blocks[i] as Block }));
    if (s.acl.apiDefaults) {
      const deny = { Protocol: '-1', RuleAction: 'deny', Egress: egress } as const;
      all.push(
        { entry: { ...deny, RuleNumber: 32767, CidrBlock: '0.0.0.0/0' }, block: OUTER[4][0] as Block },
        { entry: { ...deny, RuleNumber: 32768, Ipv6CidrBlock: '::/0' }, block: OUTER[6][0] as Block },
      );
    }
    return all.sort((x, y) => x.entry.RuleNumber - y.entry.RuleNumber);
  };
  const sortedEntries = { true: entries(true), false: entries(false) };
  const firstMatchAllows = (egress: boolean, port: number, a: number) => {
    for (const { entry, block } of sortedEntries[`${egress}`]) {
      if (!protocolMatches(entry.Protocol, req.protocol)) continue;
      const p = scopeOf(entry.Protocol) === 'all' ? undefined : entry.PortRange;
      if (p && (port < p.From || port > p.To)) continue;
      if (!block.members.includes(a)) continue;
      return entry.RuleAction === 'allow';
    }
    return false;
  };
  const requestEgress = req.direction === 'egress';

  // Routes
  const withRoutes = s.withSubnet && s.table.association !== 'none';
  if (s.withSubnet && !withRoutes) unknown.add(SUBNET);
  if (withRoutes)
    for (const r of s.table.routes)
      if (r.destination.kind === 'pl' && !PREFIX_LISTS.includes(r.destination.id))
        unknown.add(r.destination.id);
  // On equal prefixes: static (0), then prefix list (1), then propagated (2): the VPC guide's priority.
  const candidatesOf = (routes: readonly GenRoute[]) =>
    routes.flatMap((r, order) => {
      if (r.destination.kind === 'cidr') {
        const len = Number(r.destination.block.text.split('/')[1]);
        return [{ route: r, members: r.destination.block.members, len, rank: r.propagated ? 2 : 0, order }];
      }
      const i = PREFIX_LISTS.indexOf(r.destination.id);
      return (s.prefixLists[i] ?? []).map((b) => ({
        route: r,
        members: b.members,
        len: Number(b.text.split('/')[1]),
        rank: 1,
        order,
      }));
    });
  const unknownList = (routes: readonly GenRoute[]) =>
    routes.flatMap((r) =>
      r.destination.kind === 'pl' && !PREFIX_LISTS.includes(r.destination.id) ? [r.destination.id] : [],
    );
  type Judgement = 'allow' | 'deny' | 'undecided';
  /** One table's answer for one address; `nat` follows a NAT gateway target (undefined: not followed). */
  const judge = (
    routes: readonly GenRoute[],
    a: number,
    nat: ((a: number) => Judgement) | undefined,
    privateNat: boolean,
  ): Judgement => {
    if (unknownList(routes).length > 0) return 'undecided';
    const best = candidatesOf(routes)
      .filter((c) => c.members.includes(a))
      .sort((x, y) => y.len - x.len || x.rank - y.rank || x.order - y.order)[0];
    if (!best) return 'deny';
    const t = best.route.target;
    if (t === 'blackhole') return 'deny';
    const isPrivate = a < V4_SIZE; // 10.0.0.0/27 is private, 2001:db8::/123 is not
    if (t === 'nat-0a') {
      if (req.direction === 'ingress') return 'deny';
      if (nat) return nat(a);
      unknown.add(NAT); // a NAT gateway reached through another is not followed
      return 'undecided';
    }
    if (t === 'eigw-0a' && req.direction === 'ingress') return 'deny';
    if (t === 'igw-0a' && privateNat) return 'deny';
    if ((t === 'igw-0a' || t === 'eigw-0a') && isPrivate) return 'deny';
    return 'allow';
  };
  // Where the NAT gateway sends traffic: its subnet's own table, else the main table (when the vantage's is).
  const natRoutes = s.nat.table ?? (s.table.association === 'main' ? s.table.routes : undefined);
  const natKnown = s.nat.known === 'listed' || (s.nat.known === 'interface' && s.interfacesRead);
  const viaNat = (a: number): Judgement => {
    if (!natKnown) {
      unknown.add(NAT);
      return 'undecided';
    }
    if (natRoutes === undefined) {
      unknown.add(NAT_SUBNET);
      return 'undecided';
    }
    unknownList(natRoutes).forEach((id) => unknown.add(id));
    return judge(natRoutes, a, undefined, s.nat.connectivity === 'private');
  };
  const routeJudgement = (a: number): Judgement => judge(s.table.routes, a, viaNat, false);

  const e: Expectation = {
    sgDenied: new Set(),
    requestDenied: withAcl ? new Set() : undefined,
    returnDenied: withAcl ? new Set() : undefined,
    routeDenied: withRoutes ? new Set() : undefined,
    missing: new Set(),
    undecided: new Set(),
    all: new Set(),
    sgDeciders,
    unknown,
  };
  for (const a of peers) {
    const filtered = withAcl && !local.has(a);
    let returnOk = true;
    if (filtered)
      for (let port = EPHEMERAL.from; port <= EPHEMERAL.to; port++)
        if (!firstMatchAllows(!requestEgress, port, a)) {
          e.returnDenied?.add(key(port, a));
          returnOk = false;
        }
    const routed: Judgement = !s.withSubnet ? 'allow' : withRoutes ? routeJudgement(a) : 'undecided';
    for (const port of ports) {
      const k = key(port, a);
      e.all.add(k);
      let ok = true;
      let open = true;
      if (!sgAllows(port, a)) {
        if (sgUndecided(port)) open = false;
        else {
          e.sgDenied.add(k);
          ok = false;
        }
      }
      if (s.withSubnet && !withAcl) open = false;
      if (filtered && !firstMatchAllows(requestEgress, port, a)) {
        e.requestDenied?.add(k);
        ok = false;
      }
      if (!returnOk) ok = false;
      if (routed === 'deny') {
        e.routeDenied?.add(k);
        ok = false;
      }
      if (routed === 'undecided') open = false;
      if (!ok) e.missing.add(k);
      else if (!open) e.undecided.add(k);
    }
  }
  return e;
}

// ----- Reading the evaluator's blocks back into points of the universe. -----

function blockMembers(cidr: string): number[] {
  const [address, lengthText] = cidr.split('/') as [string, string];
  const length = Number(lengthText);
  if (address.includes(':')) {
    if (!address.startsWith('2001:db8::') || length < 123) throw new Error(`${cidr} leaves the universe`);
    const base = parseInt(address.slice('2001:db8::'.length) || '0', 16);
    return range(V4_SIZE + base, 2 ** (128 - length));
  }
  if (!address.startsWith('10.0.0.') || length < 27) throw new Error(`${cidr} leaves the universe`);
  return range(Number(address.slice('10.0.0.'.length)), 2 ** (32 - length));
}

function points(blocks: readonly MissingBlock[], protocol: string): string[] {
  return blocks.flatMap((b) => {
    if (b.protocol !== protocol) throw new Error(`block ${JSON.stringify(b)} is not ${protocol}`);
    return range(b.fromPort, b.toPort - b.fromPort + 1).flatMap((p) =>
      blockMembers(b.cidr).map((a) => key(p, a)),
    );
  });
}

/** The points of blocks, checking that no two blocks share a point (the decomposition is exact). */
function pointSet(blocks: readonly MissingBlock[], protocol: string): Set<string> {
  const list = points(blocks, protocol);
  const set = new Set(list);
  if (set.size !== list.length) throw new Error(`blocks overlap: ${JSON.stringify(blocks)}`);
  return set;
}

/** Compares point sets; on a difference, jest shows the first points in excess and lacking. */
function expectSamePoints(what: string, actual: Set<string>, expected: Set<string>): void {
  const excess = [...actual].filter((k) => !expected.has(k));
  const lacking = [...expected].filter((k) => !actual.has(k));
  if (excess.length > 0 || lacking.length > 0)
    expect({ what, excess: excess.slice(0, 8), lacking: lacking.slice(0, 8) }).toEqual({
      what,
      excess: [],
      lacking: [],
    });
}

function check(s: Scenario): void {
  // Arrange
  const inventory = buildInventory(s);
  const auditor = createAuditor(inventory, { ephemeralPorts: EPHEMERAL });
  const vantage = { securityGroupIds: s.vantageGroups, ...(s.withSubnet ? { subnetId: SUBNET } : {}) };
  const expected = oracle(s);
  const protocol = s.requirement.protocol;

  // Act
  const result: AuditResult = auditor.audit(vantage, requirementOf(s));

  // Assert
  expectSamePoints('missing', pointSet(result.missing, protocol), expected.missing);
  expectSamePoints('undecided', pointSet(result.undecided ?? [], protocol), expected.undecided);
  expectSamePoints('securityGroups', pointSet(result.layers.securityGroups, protocol), expected.sgDenied);
  expect(result.layers.networkAcl === undefined).toBe(expected.requestDenied === undefined);
  if (result.layers.networkAcl && expected.requestDenied && expected.returnDenied) {
    expectSamePoints('request', pointSet(result.layers.networkAcl.request, protocol), expected.requestDenied);
    expectSamePoints('return', pointSet(result.layers.networkAcl.return, protocol), expected.returnDenied);
  }
  if (s.withSubnet) {
    expect(result.layers.routes?.routeTableId).toBe(expected.routeDenied ? 'rtb-0a' : undefined);
    const routes = pointSet(result.layers.routes?.missing ?? [], protocol);
    expectSamePoints('routes', routes, expected.routeDenied ?? new Set());
  } else expect(result.layers.routes).toBeUndefined();
  const status =
    expected.missing.size === expected.all.size
      ? 'blocked'
      : expected.missing.size > 0
        ? 'partial'
        : expected.undecided.size > 0
          ? 'not-audited'
          : 'allowed';
  expect(result.status).toBe(status);
  expect(result.decidedBy.filter((d) => d.layer === 'security-group')).toHaveLength(expected.sgDeciders);
  expect([...new Set(result.unknown)].sort()).toEqual([...expected.unknown].sort());
}

describe('the evaluator against a brute-force oracle', () => {
  it('agrees on every port and address of random inventories and requirements', () => {
    fc.assert(fc.property(scenarioArb, check), { numRuns: 600 });
  });
});

// ----- The change set against the oracle: applied to the inventory, it closes every gap it can, and opens
// ----- exactly what the oracle says is missing, port by port and address by address.

/** The universe addresses inside blocks (which may reach beyond it, or carry host bits). */
function universeMembers(cidrs: readonly string[]): number[] {
  const set = addressSetOf(cidrs);
  return range(0, 2 * V4_SIZE).filter((i) =>
    i < V4_SIZE
      ? containsAddress(set, 10 * 2 ** 24 + i)
      : containsAddress(set, 0x20010db8n * 2n ** 96n + BigInt(i - V4_SIZE)),
  );
}

function changeSetCheck(s: Scenario): void {
  // Arrange
  const inventory = buildInventory(s);
  const auditor = createAuditor(inventory, { ephemeralPorts: EPHEMERAL });
  const vantage = { securityGroupIds: s.vantageGroups, ...(s.withSubnet ? { subnetId: SUBNET } : {}) };
  const requirement = requirementOf(s);
  const protocol = requirement.protocol;
  const { result, remediation } = auditWithRemediation(auditor, inventory, vantage, requirement, {
    label: 'oracle',
    vantageCidrs: [],
  });
  const expected = oracle(s);

  // Act
  const changeSet = auditChangeSet([{ result, remediation }]);
  const fixed = applyAwsCli(inventory, changeSet.awsCli);
  const after = createAuditor(fixed, { ephemeralPorts: EPHEMERAL }).audit(vantage, requirement);

  // Assert: nothing for what is allowed or was not fully seen.
  expect(changeSet.awsCli.map(parseAwsCli)).toEqual(changeSet.operations);
  if (!needsFix(result)) {
    expect(changeSet.operations).toEqual([]);
    return;
  }
  // Security Groups: the first group of the vantage gets exactly the points no group allowed.
  const sgPoints: MissingBlock[] = [];
  for (const op of changeSet.operations) {
    if (op.action !== 'authorize-security-group-egress' && op.action !== 'authorize-security-group-ingress')
      continue;
    expect(op.groupId).toBe(s.vantageGroups[0]);
    expect(op.action).toBe(`authorize-security-group-${requirement.direction}`);
    for (const p of op.permissions)
      for (const cidr of [
        ...(p.IpRanges ?? []).map((r) => r.CidrIp),
        ...(p.Ipv6Ranges ?? []).map((r) => r.CidrIpv6),
      ])
        sgPoints.push({ protocol, fromPort: p.FromPort as number, toPort: p.ToPort as number, cidr });
  }
  expectSamePoints('security group rules added', pointSet(sgPoints, protocol), expected.sgDenied);
  // Network ACL: entries (placed or asked about) hold exactly the request and return points denied.
  const requestEgress = requirement.direction === 'egress';
  const aclPoints = { request: [] as MissingBlock[], return: [] as MissingBlock[] };
  const entries = [
    ...changeSet.operations.flatMap((op) => (op.action === 'create-network-acl-entry' ? [op.entry] : [])),
    ...changeSet.questions.flatMap((q) => (q.kind === 'network-acl-room' ? [q.entry] : [])),
  ];
  for (const e of entries) {
    expect(e.Protocol).toBe(protocol === 'tcp' ? '6' : '17');
    const block = {
      protocol,
      fromPort: e.PortRange?.From as number,
      toPort: e.PortRange?.To as number,
      cidr: (e.CidrBlock ?? e.Ipv6CidrBlock) as string,
    };
    (e.Egress === requestEgress ? aclPoints.request : aclPoints.return).push(block);
  }
  expectSamePoints(
    'acl request entries',
    pointSet(aclPoints.request, protocol),
    expected.requestDenied ?? new Set(),
  );
  expectSamePoints(
    'acl return entries',
    pointSet(aclPoints.return, protocol),
    expected.returnDenied ?? new Set(),
  );
  // Routes: new routes only for unrouted peer addresses; replacements only of routes that drop traffic (a
  // blackhole, an internet gateway that exactly covers private addresses it cannot reach, or for an inbound
  // flow an egress-only internet gateway or a NAT gateway, neither of which admits inbound connections), in
  // the vantage's table or the NAT gateway's own (which drops what the gateway sends on).
  const unrouted = new Set([...(expected.routeDenied ?? [])].map((k) => Number(k.split('@')[1])));
  for (const op of changeSet.operations) {
    if (op.action === 'create-route')
      for (const a of blockMembers(op.destination)) expect(unrouted.has(a)).toBe(true);
    if (op.action === 'replace-route')
      expect(
        inventory.routeTables
          .find((t) => t.RouteTableId === op.routeTableId)
          ?.Routes?.some(
            (r) =>
              (r.State === 'blackhole' ||
                r.GatewayId === 'igw-0a' ||
                r.EgressOnlyInternetGatewayId !== undefined ||
                (r.NatGatewayId !== undefined && requirement.direction === 'ingress')) &&
              (r.DestinationCidrBlock ?? r.DestinationIpv6CidrBlock ?? r.DestinationPrefixListId) ===
                op.destination,
          ),
      ).toBe(true);
  }
  // After applying: every point is allowed but those whose fix is a question.
  const asked = new Set<number>();
  for (const q of changeSet.questions) {
    const cidr =
      q.kind === 'route-target' ? q.destination : ((q.entry.CidrBlock ?? q.entry.Ipv6CidrBlock) as string);
    const cidrs = cidr.startsWith('pl-')
      ? (s.prefixLists[PREFIX_LISTS.indexOf(cidr)] ?? []).map((b) => b.text)
      : [cidr];
    const members = universeMembers(cidrs);
    for (const a of members) asked.add(a);
  }
  const stillMissing = [...pointSet(after.missing, protocol)].filter(
    (k) => !asked.has(Number(k.split('@')[1])),
  );
  expect(stillMissing).toEqual([]);
  if (changeSet.questions.length === 0) expect(after.status).toBe('allowed');
}

describe('the change set against the oracle', () => {
  it('closes every gap of random inventories, opening exactly the missing points', () => {
    fc.assert(fc.property(scenarioArb, changeSetCheck), { numRuns: 600 });
  });
});
