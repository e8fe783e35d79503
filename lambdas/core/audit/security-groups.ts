/**
 * The Security Group rule: stateful and allow-only, so a need is covered by the union of every rule of
 * every group on the interface, in the need's direction (`IpPermissionsEgress` for egress, `IpPermissions`
 * for ingress). Each rule is read per peer it names (an IPv4 range, an IPv6 range, a prefix list or a
 * group), so the verdict can name the exact peer that allowed something.
 *
 * Rules are matched straight from the inventory's objects: protocol and ports first, which costs nothing
 * to read, and only a rule that shares a port with the need has its peers resolved (CIDRs parsed, prefix
 * lists and group members looked up). Resolved peers are kept in a cache keyed by the rule object, so
 * thousands of needs against the same groups resolve each rule once.
 */
import type { PortRange } from '../ports';
import { mergePortRanges } from '../ports';
import {
  type AddressSet,
  ALL_ADDRESSES,
  addressSetsIntersect,
  cidrSet,
  EMPTY_ADDRESSES,
  parseCidr,
  unionAddresses,
} from './addresses';
import { missingPrefixList } from './not-evaluated';
import {
  type AuditNeed,
  EMPTY_REGION,
  intersectRegions,
  type LayerVerdict,
  protocolScope,
  regionOf,
  statusOf,
  subtractRegions,
  subtractRect,
} from './regions';
import type { DecidedBy, IpPermission, NetworkInterface, NotEvaluated, SecurityGroup } from './types';

/** One peer of a rule, resolved: its addresses. */
export interface ResolvedPeer {
  /** The peer's addresses (empty for an unknown prefix list or a group with no known interface). */
  readonly addresses: AddressSet;
  /** The peer as the rule names it, e.g. `{ IpRanges: [{ CidrIp: '10.0.0.0/16' }] }`. */
  readonly peer: Partial<IpPermission>;
  /** The prefix list or group members the inventory lacks, when that is why `addresses` is empty. */
  readonly unknown?: NotEvaluated;
}

/** Where rules find the addresses behind prefix lists and group references. */
export interface PeerResolver {
  /** The parsed entries of a managed prefix list, or undefined when the inventory lacks it. */
  prefixList(id: string): AddressSet | undefined;
  /** The addresses of the interfaces in a group, or what is missing to know them. */
  groupMembers(id: string): { readonly addresses: AddressSet } | { readonly unknown: NotEvaluated };
}

/**
 * A group's rules of one direction as flat port ranges per protocol, `[position, from, to]` per rule
 * that can cover it: scanning them touches no rule object, which keeps matching many needs against large
 * groups cheap. ICMP and other protocols are left out.
 */
export interface RulePorts {
  readonly tcp: readonly number[];
  readonly udp: readonly number[];
}

/**
 * What {@link evaluateSecurityGroups} keeps across calls, keyed by the inventory's own objects: keep one
 * per inventory. Plain maps, not weak ones: an auditor holds its inventory anyway, and weak maps of tens
 * of thousands of entries are costly for the garbage collector.
 */
export interface SecurityGroupCache {
  /** Per rule list (`IpPermissions` or `IpPermissionsEgress` of a group). */
  readonly ports: Map<readonly IpPermission[], RulePorts>;
  /** Per rule: its peers, resolved. */
  readonly peers: Map<IpPermission, readonly ResolvedPeer[]>;
}

/** An empty cache. */
export function createSecurityGroupCache(): SecurityGroupCache {
  return { ports: new Map(), peers: new Map() };
}

/**
 * The ports each rule of a list opens, per protocol. `IpProtocol` `-1` opens every port (0-65535) of
 * both; a missing or `-1` bound of a TCP/UDP rule reads as the whole range (AWS always sends both).
 */
export function compileRulePorts(rules: readonly IpPermission[]): RulePorts {
  const tcp: number[] = [];
  const udp: number[] = [];
  rules.forEach((p, position) => {
    const scope = protocolScope(p.IpProtocol);
    if (scope === 'other') return;
    const all = scope === 'all';
    const from = all || p.FromPort === undefined || p.FromPort < 0 ? 0 : p.FromPort;
    const to = all || p.ToPort === undefined || p.ToPort < 0 ? 65535 : p.ToPort;
    if (scope !== 'udp') tcp.push(position, from, to);
    if (scope !== 'tcp') udp.push(position, from, to);
  });
  return { tcp, udp };
}

/** Raised when an inventory field holds something that is not a CIDR block. */
export class InventoryValueError extends Error {
  override readonly name = 'InventoryValueError';
  constructor(
    readonly field: string,
    readonly value: unknown,
    readonly reason: string,
  ) {
    super(`${field}: ${JSON.stringify(value)} ${reason}; fix or re-export the inventory`);
  }
}

/**
 * Parses a CIDR found in the inventory, naming the field when it is malformed.
 * @param field - the field's path, or a function building it (called only on error).
 */
export function inventoryCidr(text: string, field: string | (() => string)): AddressSet {
  try {
    return cidrSet(parseCidr(text));
  } catch (err) {
    const where = typeof field === 'string' ? field : field();
    throw new InventoryValueError(where, text, `is not a CIDR block (${(err as Error).message})`);
  }
}

function narrowed(p: IpPermission, peer: Partial<IpPermission>): IpPermission {
  const rule: IpPermission = { IpProtocol: p.IpProtocol };
  if (p.FromPort !== undefined) rule.FromPort = p.FromPort;
  if (p.ToPort !== undefined) rule.ToPort = p.ToPort;
  return Object.assign(rule, peer);
}

/**
 * Every peer of one rule, resolved: CIDRs parsed, prefix lists and group references looked up.
 * @param field - where the rule sits, for error messages (`securityGroups["sg-1"].IpPermissions[0]`).
 * @throws InventoryValueError when a peer is a malformed CIDR.
 */
export function resolvePeers(p: IpPermission, field: () => string, resolver: PeerResolver): ResolvedPeer[] {
  const out: ResolvedPeer[] = [];
  // IpRanges are IPv4 by contract; an IPv6 text there would still only cover IPv6 addresses.
  (p.IpRanges ?? []).forEach((r, i) => {
    const addresses = inventoryCidr(r.CidrIp, () => `${field()}.IpRanges[${i}].CidrIp`);
    out.push({ addresses, peer: { IpRanges: [r] } });
  });
  (p.Ipv6Ranges ?? []).forEach((r, i) => {
    const addresses = inventoryCidr(r.CidrIpv6, () => `${field()}.Ipv6Ranges[${i}].CidrIpv6`);
    out.push({ addresses, peer: { Ipv6Ranges: [r] } });
  });
  for (const pl of p.PrefixListIds ?? []) {
    const addresses = resolver.prefixList(pl.PrefixListId);
    const peer = { PrefixListIds: [pl] };
    out.push(
      addresses
        ? { addresses, peer }
        : { addresses: EMPTY_ADDRESSES, peer, unknown: missingPrefixList(pl.PrefixListId) },
    );
  }
  for (const pair of p.UserIdGroupPairs ?? []) {
    const members = resolver.groupMembers(pair.GroupId);
    const peer = { UserIdGroupPairs: [pair] };
    out.push(
      'addresses' in members
        ? { addresses: members.addresses, peer }
        : { addresses: EMPTY_ADDRESSES, peer, unknown: members.unknown },
    );
  }
  return out;
}

/**
 * The addresses of network interfaces in one group: every private IPv4 address (/32) and IPv6 address
 * (/128) of each interface whose `Groups` include it, and every address of the prefixes delegated to it
 * (`Ipv4Prefixes`, `Ipv6Prefixes`), which AWS treats as the interface's own.
 * @throws InventoryValueError when an interface holds a malformed address.
 */
export function memberAddresses(groupId: string, interfaces: readonly NetworkInterface[]): AddressSet {
  let set = EMPTY_ADDRESSES;
  for (const eni of interfaces) {
    if (!(eni.Groups ?? []).some((g) => g.GroupId === groupId)) continue;
    const field = `networkInterfaces[${JSON.stringify(eni.NetworkInterfaceId)}]`;
    if (eni.PrivateIpAddress)
      set = unionAddresses(
        set,
        inventoryCidr(eni.PrivateIpAddress, () => `${field}.PrivateIpAddress`),
      );
    (eni.PrivateIpAddresses ?? []).forEach((a, i) => {
      const where = () => `${field}.PrivateIpAddresses[${i}].PrivateIpAddress`;
      set = unionAddresses(set, inventoryCidr(a.PrivateIpAddress, where));
    });
    (eni.Ipv6Addresses ?? []).forEach((a, i) => {
      const where = () => `${field}.Ipv6Addresses[${i}].Ipv6Address`;
      set = unionAddresses(set, inventoryCidr(a.Ipv6Address, where));
    });
    (eni.Ipv4Prefixes ?? []).forEach((a, i) => {
      const where = () => `${field}.Ipv4Prefixes[${i}].Ipv4Prefix`;
      set = unionAddresses(set, inventoryCidr(a.Ipv4Prefix, where));
    });
    (eni.Ipv6Prefixes ?? []).forEach((a, i) => {
      const where = () => `${field}.Ipv6Prefixes[${i}].Ipv6Prefix`;
      set = unionAddresses(set, inventoryCidr(a.Ipv6Prefix, where));
    });
  }
  return set;
}

function overlapsPorts(from: number, to: number, ports: readonly PortRange[]): boolean {
  for (let i = 0; i < ports.length; i++) {
    const p = ports[i] as PortRange;
    if (p.from <= to && from <= p.to) return true;
  }
  return false;
}

/**
 * The Security Group rule: what the union of the groups' rules leaves uncovered of the need, and every
 * rule (narrowed to one peer) that allows part of it. `IpProtocol` `-1` opens every port; ICMP and other
 * protocols never cover TCP or UDP. A rule whose peer is unknown (a prefix list or a group's members the
 * inventory lacks) could cover any address on its ports: what it could cover is `undecided`, not missing,
 * and the piece is reported when its rule's ports touch the need.
 * @param cache - compiled ports and resolved peers, kept across calls (one per inventory).
 * @throws InventoryValueError when a rule the need touches holds a malformed CIDR.
 */
export function evaluateSecurityGroups(
  groups: readonly SecurityGroup[],
  need: AuditNeed,
  resolver: PeerResolver,
  cache: SecurityGroupCache = createSecurityGroupCache(),
): LayerVerdict {
  let missing = need.region;
  const decidedBy: DecidedBy[] = [];
  const unknown: NotEvaluated[] = [];
  /** Port ranges of rules with an unknown peer that touch the need. */
  const unknownPorts: Array<{ from: number; to: number }> = [];
  const list = need.direction === 'egress' ? 'IpPermissionsEgress' : 'IpPermissions';
  const ports = need.ports;
  const low = ports[0]?.from ?? 0;
  const high = ports[ports.length - 1]?.to ?? -1;
  for (const group of groups) {
    const rules = group[list];
    if (rules === undefined) continue;
    let compiled = cache.ports.get(rules);
    if (compiled === undefined) cache.ports.set(rules, (compiled = compileRulePorts(rules)));
    const flat = need.protocol === 'tcp' ? compiled.tcp : compiled.udp;
    for (let k = 0; k < flat.length; k += 3) {
      const from = flat[k + 1] as number;
      const to = flat[k + 2] as number;
      if (from > high || to < low || !overlapsPorts(from, to, ports)) continue;
      const position = flat[k] as number;
      const p = rules[position] as IpPermission;
      let peers = cache.peers.get(p);
      if (peers === undefined) {
        const field = () => `securityGroups[${JSON.stringify(group.GroupId)}].${list}[${position}]`;
        cache.peers.set(p, (peers = resolvePeers(p, field, resolver)));
      }
      for (const { addresses, peer, unknown: piece } of peers) {
        if (piece !== undefined) {
          if (!unknown.some((u) => u.layer === piece.layer && u.id === piece.id)) unknown.push(piece);
          unknownPorts.push({ from, to });
        }
        if (!addressSetsIntersect(addresses, need.addresses)) continue;
        decidedBy.push({
          layer: 'security-group',
          groupId: group.GroupId,
          direction: need.direction,
          rule: narrowed(p, peer),
          effect: 'allows',
        });
        if (missing.length > 0) missing = subtractRect(missing, { from, to, addresses });
      }
    }
  }
  let undecided = EMPTY_REGION;
  if (unknownPorts.length > 0 && missing.length > 0) {
    undecided = intersectRegions(missing, regionOf(mergePortRanges(unknownPorts), ALL_ADDRESSES));
    missing = subtractRegions(missing, undecided);
  }
  return { status: statusOf(missing, need.region), missing, decidedBy, unknown, undecided };
}
