/**
 * The Security Group rule: stateful and allow-only, so a need is covered by the union of every rule of
 * every group on the interface, in the need's direction (`IpPermissionsEgress` for egress, `IpPermissions`
 * for ingress). Each rule is compiled into one "peer rule" per peer it names (an IPv4 range, an IPv6
 * range, a prefix list or a group), so the verdict can name the exact peer that allowed something.
 */
import type { PortRange } from '../ports';
import {
  type AddressSet,
  addressSetsIntersect,
  cidrSet,
  EMPTY_ADDRESSES,
  parseCidr,
  unionAddresses,
} from './addresses';
import { type AuditNeed, type LayerVerdict, protocolScope, statusOf, subtractRect } from './regions';
import type { DecidedBy, IpPermission, NetworkInterface, SecurityGroup } from './types';

/** A peer of a rule, resolved: its addresses and the rule narrowed to it. */
export interface ResolvedPeer {
  /** The peer's addresses (empty for an unknown prefix list or a group with no known interface). */
  readonly addresses: AddressSet;
  /** The rule as the API shows it, with only this one peer. */
  readonly rule: IpPermission;
  /** The prefix list or group the inventory lacks, when that is why `addresses` is empty. */
  readonly unknownId?: string;
}

type PeerKind = 'IpRanges' | 'Ipv6Ranges' | 'PrefixListIds' | 'UserIdGroupPairs';

/**
 * One rule narrowed to one peer, ready to be matched against needs. The peer is resolved on first use
 * and then kept ({@link resolvePeer}): most rules never share a port with a need, and parsing every CIDR
 * up front would cost more than all the matching.
 */
export class SecurityGroupPeerRule {
  /** @internal the peer once resolved */
  resolved: ResolvedPeer | undefined = undefined;
  constructor(
    readonly groupId: string,
    /** The first port the rule opens (0 for all traffic). */
    readonly from: number,
    /** The last port the rule opens (65535 for all traffic). */
    readonly to: number,
    readonly permission: IpPermission,
    readonly kind: PeerKind,
    /** The peer's index in `permission[kind]`. */
    readonly index: number,
    /** Where the rule sits in its group, for error messages. */
    readonly list: 'IpPermissions' | 'IpPermissionsEgress',
    readonly position: number,
  ) {}
}

/** One group's rules of one direction, split by the protocol they can cover. */
export interface CompiledSecurityGroup {
  readonly groupId: string;
  readonly direction: 'egress' | 'ingress';
  readonly tcp: readonly SecurityGroupPeerRule[];
  readonly udp: readonly SecurityGroupPeerRule[];
}

/** Where group rules find the addresses behind prefix lists and group references. */
export interface PeerResolver {
  /** The parsed entries of a managed prefix list, or undefined when the inventory lacks it. */
  prefixList(id: string): AddressSet | undefined;
  /** The addresses of the interfaces in a group, or undefined when the group is wholly unknown. */
  groupMembers(id: string): AddressSet | undefined;
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
 * @param field - the field's path, built only when needed.
 */
export function inventoryCidr(text: string, field: string | (() => string)): AddressSet {
  try {
    return cidrSet(parseCidr(text));
  } catch (err) {
    const where = typeof field === 'string' ? field : field();
    throw new InventoryValueError(where, text, `is not a CIDR block (${(err as Error).message})`);
  }
}

function narrowed(p: IpPermission, kind: PeerKind, index: number): IpPermission {
  const rule: IpPermission = { IpProtocol: p.IpProtocol };
  if (p.FromPort !== undefined) rule.FromPort = p.FromPort;
  if (p.ToPort !== undefined) rule.ToPort = p.ToPort;
  const peer = p[kind]?.[index];
  return peer === undefined ? rule : Object.assign(rule, { [kind]: [peer] });
}

function resolveAddresses(
  r: SecurityGroupPeerRule,
  resolver: PeerResolver,
): Pick<ResolvedPeer, 'addresses' | 'unknownId'> {
  const where = () =>
    `securityGroups[${JSON.stringify(r.groupId)}].${r.list}[${r.position}].${r.kind}[${r.index}]`;
  switch (r.kind) {
    case 'IpRanges': {
      const text = r.permission.IpRanges?.[r.index]?.CidrIp ?? '';
      // IpRanges are IPv4 by contract; an IPv6 text there would still only cover IPv6 addresses.
      return { addresses: inventoryCidr(text, () => `${where()}.CidrIp`) };
    }
    case 'Ipv6Ranges': {
      const text = r.permission.Ipv6Ranges?.[r.index]?.CidrIpv6 ?? '';
      return { addresses: inventoryCidr(text, () => `${where()}.CidrIpv6`) };
    }
    case 'PrefixListIds': {
      const id = r.permission.PrefixListIds?.[r.index]?.PrefixListId ?? '';
      const addresses = resolver.prefixList(id);
      return addresses ? { addresses } : { addresses: EMPTY_ADDRESSES, unknownId: id };
    }
    case 'UserIdGroupPairs': {
      const id = r.permission.UserIdGroupPairs?.[r.index]?.GroupId ?? '';
      const addresses = resolver.groupMembers(id);
      return addresses ? { addresses } : { addresses: EMPTY_ADDRESSES, unknownId: id };
    }
  }
}

/**
 * The peer of a rule: its addresses (through prefix lists and group members) and the rule narrowed to it.
 * Resolved once, then kept on the rule.
 * @throws InventoryValueError when the peer is a malformed CIDR.
 */
export function resolvePeer(r: SecurityGroupPeerRule, resolver: PeerResolver): ResolvedPeer {
  r.resolved ??= { ...resolveAddresses(r, resolver), rule: narrowed(r.permission, r.kind, r.index) };
  return r.resolved;
}

const PEER_KINDS: readonly PeerKind[] = ['IpRanges', 'Ipv6Ranges', 'PrefixListIds', 'UserIdGroupPairs'];

/**
 * Compiles one direction of a group: every rule that can cover TCP or UDP, one entry per peer. Cheap:
 * nothing is parsed until a need touches the rule's ports.
 */
export function compileSecurityGroup(
  group: SecurityGroup,
  direction: 'egress' | 'ingress',
): CompiledSecurityGroup {
  const key = direction === 'egress' ? 'IpPermissionsEgress' : 'IpPermissions';
  const tcp: SecurityGroupPeerRule[] = [];
  const udp: SecurityGroupPeerRule[] = [];
  const permissions = group[key] ?? [];
  for (let i = 0; i < permissions.length; i++) {
    const p = permissions[i] as IpPermission;
    const scope = protocolScope(p.IpProtocol);
    if (scope === 'other') continue;
    const all = scope === 'all';
    const from = all || p.FromPort === undefined || p.FromPort < 0 ? 0 : p.FromPort;
    const to = all || p.ToPort === undefined || p.ToPort < 0 ? 65535 : p.ToPort;
    for (const kind of PEER_KINDS) {
      const peers = p[kind];
      if (peers === undefined) continue;
      for (let n = 0; n < peers.length; n++) {
        const rule = new SecurityGroupPeerRule(group.GroupId, from, to, p, kind, n, key, i);
        if (scope !== 'udp') tcp.push(rule);
        if (scope !== 'tcp') udp.push(rule);
      }
    }
  }
  return { groupId: group.GroupId, direction, tcp, udp };
}

/**
 * Indexes the addresses of network interfaces by the groups they belong to: every private IPv4 address
 * (/32) and IPv6 address (/128) of an interface counts for each of its groups.
 */
export function indexGroupMembers(interfaces: readonly NetworkInterface[]): Map<string, AddressSet> {
  const out = new Map<string, AddressSet>();
  interfaces.forEach((eni, n) => {
    const field = `networkInterfaces[${n}]`;
    let set = EMPTY_ADDRESSES;
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
    for (const g of eni.Groups ?? [])
      out.set(g.GroupId, unionAddresses(out.get(g.GroupId) ?? EMPTY_ADDRESSES, set));
  });
  return out;
}

/**
 * The Security Group rule: what the union of the groups' rules leaves uncovered of the need, and every
 * peer rule that allows part of it. Unknown prefix lists and groups cover nothing and are reported when
 * their rule's ports touch the need.
 */
export function evaluateSecurityGroups(
  groups: readonly CompiledSecurityGroup[],
  need: AuditNeed,
  resolver: PeerResolver,
): LayerVerdict {
  let missing = need.region;
  const decidedBy: DecidedBy[] = [];
  const unknown = new Set<string>();
  const ports = need.ports;
  const low = ports[0]?.from ?? 0;
  const high = ports[ports.length - 1]?.to ?? -1;
  for (const group of groups) {
    const rules = need.protocol === 'tcp' ? group.tcp : group.udp;
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i] as SecurityGroupPeerRule;
      if (r.from > high || r.to < low || !overlapsPorts(r.from, r.to, ports)) continue;
      const { addresses, rule, unknownId } = resolvePeer(r, resolver);
      if (unknownId !== undefined) unknown.add(unknownId);
      if (!addressSetsIntersect(addresses, need.addresses)) continue;
      decidedBy.push({
        layer: 'security-group',
        groupId: group.groupId,
        direction: group.direction,
        rule,
        effect: 'allows',
      });
      if (missing.length > 0) missing = subtractRect(missing, { from: r.from, to: r.to, addresses });
    }
  }
  return { status: statusOf(missing, need.region), missing, decidedBy, unknown: [...unknown] };
}

function overlapsPorts(from: number, to: number, ports: readonly PortRange[]): boolean {
  for (let i = 0; i < ports.length; i++) {
    const p = ports[i] as PortRange;
    if (p.from <= to && from <= p.to) return true;
  }
  return false;
}
