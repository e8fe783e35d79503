/**
 * The network ACL rule: stateless and ordered. Entries are tried by ascending `RuleNumber` and the first
 * one that matches a packet decides it; a packet no entry matches meets the final implicit deny (`*`,
 * which the API shows as rule 32767 for IPv4 and 32768 for IPv6). Being stateless, a flow needs both
 * its request packets and its replies (on the ephemeral ports, in the other direction) to pass.
 */
import type { PortRange } from '../ports';
import {
  type AddressSet,
  EMPTY_ADDRESSES,
  isEmptyAddressSet,
  subtractAddresses,
  unionAddresses,
} from './addresses';
import {
  type AuditNeed,
  type LayerVerdict,
  EMPTY_REGION,
  intersectRect,
  type PortRect,
  protocolScope,
  type Region,
  regionAddresses,
  regionOf,
  statusOf,
  subtractRect,
  touchesRect,
  unionRegions,
} from './regions';
import { inventoryCidr } from './security-groups';
import type { DecidedBy, NetworkAcl, NetworkAclEntry, Subnet } from './types';

/** The ports AWS recommends opening for replies (clients pick their source port among them). */
export const EPHEMERAL_PORTS: PortRange = Object.freeze({ from: 1024, to: 65535 });

/** Rule numbers from here on are the API's rendering of the final `*` deny. */
const IMPLICIT_RULE_NUMBER = 32767;
const ALL_PORTS: PortRange = { from: 0, to: 65535 };

/** One entry, compiled: the points it matches, per protocol (undefined when it never matches that one). */
export interface CompiledAclEntry {
  readonly ruleNumber: number | '*';
  readonly effect: 'allows' | 'denies';
  readonly tcp: PortRect | undefined;
  readonly udp: PortRect | undefined;
  readonly entry: NetworkAclEntry;
  /** What the verdict says when this entry decides points, per packet path (built once). */
  readonly decided: Readonly<Record<'request' | 'return', DecidedBy>>;
}

/** A network ACL, its entries split by direction and sorted by rule number. */
export interface CompiledNetworkAcl {
  readonly networkAclId: string;
  readonly outbound: readonly CompiledAclEntry[];
  readonly inbound: readonly CompiledAclEntry[];
  /** The implicit final deny, per direction and path, as the verdict names it. */
  readonly implicit: Readonly<
    Record<'outbound' | 'inbound', Readonly<Record<'request' | 'return', DecidedBy>>>
  >;
}

function entryRect(e: NetworkAclEntry, protocol: 'tcp' | 'udp', addresses: AddressSet): PortRect | undefined {
  const scope = protocolScope(e.Protocol);
  if (scope !== 'all' && scope !== protocol) return undefined;
  // A TCP/UDP entry always carries a PortRange; without one it is read as every port.
  if (scope === 'all' || e.PortRange === undefined) return { ...ALL_PORTS, addresses };
  return { from: e.PortRange.From, to: e.PortRange.To, addresses };
}

/**
 * Compiles a network ACL's entries. Entries numbered 32767 and above are labelled `*`.
 * @throws InventoryValueError when an entry holds a malformed CIDR.
 */
export function compileNetworkAcl(acl: NetworkAcl): CompiledNetworkAcl {
  const compiled = (acl.Entries ?? []).map((entry, i) => {
    const field = `networkAcls[${JSON.stringify(acl.NetworkAclId)}].Entries[${i}]`;
    let addresses = EMPTY_ADDRESSES;
    if (entry.CidrBlock !== undefined) addresses = inventoryCidr(entry.CidrBlock, `${field}.CidrBlock`);
    else if (entry.Ipv6CidrBlock !== undefined)
      addresses = inventoryCidr(entry.Ipv6CidrBlock, `${field}.Ipv6CidrBlock`);
    const ruleNumber = entry.RuleNumber >= IMPLICIT_RULE_NUMBER ? ('*' as const) : entry.RuleNumber;
    const effect = entry.RuleAction === 'allow' ? ('allows' as const) : ('denies' as const);
    const direction = entry.Egress ? ('outbound' as const) : ('inbound' as const);
    const decided = (path: 'request' | 'return'): DecidedBy => ({
      layer: 'network-acl',
      networkAclId: acl.NetworkAclId,
      direction,
      ruleNumber,
      effect,
      path,
      entry,
    });
    return {
      ruleNumber,
      effect,
      tcp: entryRect(entry, 'tcp', addresses),
      udp: entryRect(entry, 'udp', addresses),
      entry,
      decided: { request: decided('request'), return: decided('return') },
    };
  });
  // Array.prototype.sort is stable, so equal numbers (never seen from AWS) keep the API's order.
  compiled.sort((a, b) => a.entry.RuleNumber - b.entry.RuleNumber);
  const implicit = (direction: 'outbound' | 'inbound', path: 'request' | 'return'): DecidedBy => ({
    layer: 'network-acl',
    networkAclId: acl.NetworkAclId,
    direction,
    ruleNumber: '*',
    effect: 'denies',
    path,
  });
  return {
    networkAclId: acl.NetworkAclId,
    outbound: compiled.filter((c) => c.entry.Egress),
    inbound: compiled.filter((c) => !c.entry.Egress),
    implicit: {
      outbound: { request: implicit('outbound', 'request'), return: implicit('outbound', 'return') },
      inbound: { request: implicit('inbound', 'request'), return: implicit('inbound', 'return') },
    },
  };
}

/**
 * The ACL that applies to a subnet: the one whose associations name it. Every subnet has exactly one
 * association, and `describe-network-acls` lists it on the default ACL too (a subnet never associated
 * otherwise is listed there), so a VPC's default ACL that does not name the subnet is not its ACL: the
 * subnet's ACL is then not in the inventory (undefined), never guessed.
 */
export function findSubnetNetworkAcl(acls: readonly NetworkAcl[], subnetId: string): NetworkAcl | undefined {
  return acls.find((a) => (a.Associations ?? []).some((s) => s.SubnetId === subnetId));
}

/** What one packet path makes of a region: the points it denies and the entries that decided points. */
export interface AclPathVerdict {
  readonly denied: Region;
  readonly decidedBy: readonly DecidedBy[];
}

/**
 * Runs a region of packets through one direction's entries, first match wins per point.
 * @param direction - the direction the packets cross the ACL, which selects the entries.
 */
export function evaluateAclPath(
  acl: CompiledNetworkAcl,
  direction: 'outbound' | 'inbound',
  path: 'request' | 'return',
  protocol: 'tcp' | 'udp',
  packets: Region,
): AclPathVerdict {
  let remaining = packets;
  let denied = EMPTY_REGION;
  const decidedBy: DecidedBy[] = [];
  const entries = direction === 'outbound' ? acl.outbound : acl.inbound;
  for (let i = 0; i < entries.length && remaining.length > 0; i++) {
    const c = entries[i] as CompiledAclEntry;
    const rect = c[protocol];
    if (rect === undefined || !touchesRect(remaining, rect)) continue;
    decidedBy.push(c.decided[path]);
    if (c.effect === 'denies') denied = unionRegions(denied, intersectRect(remaining, rect));
    remaining = subtractRect(remaining, rect);
  }
  if (remaining.length > 0) {
    decidedBy.push(acl.implicit[direction][path]);
    denied = unionRegions(denied, remaining);
  }
  return { denied, decidedBy };
}

/** The ACL's verdict on a need, with both packet paths. */
export interface NetworkAclVerdict extends LayerVerdict {
  readonly networkAclId: string;
  /** Request packets denied: requirement ports × peer addresses. */
  readonly request: Region;
  /** Replies denied: ephemeral ports × peer addresses. */
  readonly return: Region;
}

/** The addresses of a subnet's own blocks: traffic within a subnet never crosses its ACL. */
export function subnetAddresses(subnet: Subnet | undefined): AddressSet {
  if (!subnet) return EMPTY_ADDRESSES;
  const field = `subnets[${JSON.stringify(subnet.SubnetId)}]`;
  let set = EMPTY_ADDRESSES;
  if (subnet.CidrBlock !== undefined) set = inventoryCidr(subnet.CidrBlock, `${field}.CidrBlock`);
  (subnet.Ipv6CidrBlockAssociationSet ?? []).forEach((a, i) => {
    if (a.Ipv6CidrBlock === undefined) return;
    const block = inventoryCidr(a.Ipv6CidrBlock, `${field}.Ipv6CidrBlockAssociationSet[${i}].Ipv6CidrBlock`);
    set = unionAddresses(set, block);
  });
  return set;
}

/**
 * The network ACL rule. The request path checks the need's own packets (outbound for egress, inbound for
 * ingress); the return path checks the replies to every peer address on every ephemeral port in the other
 * direction. A peer address whose replies are denied on any ephemeral port loses every requirement port,
 * since the client may pick any of them.
 * @param local - addresses inside the subnet itself, which the ACL does not filter.
 */
export function evaluateNetworkAcl(
  acl: CompiledNetworkAcl,
  need: AuditNeed,
  ephemeral: PortRange = EPHEMERAL_PORTS,
  local: AddressSet = EMPTY_ADDRESSES,
): NetworkAclVerdict {
  const peers = isEmptyAddressSet(local) ? need.addresses : subtractAddresses(need.addresses, local);
  const out = need.direction === 'egress' ? 'outbound' : 'inbound';
  const back = need.direction === 'egress' ? 'inbound' : 'outbound';
  const request = evaluateAclPath(acl, out, 'request', need.protocol, regionOf(need.ports, peers));
  const reply = evaluateAclPath(acl, back, 'return', need.protocol, regionOf([ephemeral], peers));
  const missing = unionRegions(request.denied, regionOf(need.ports, regionAddresses(reply.denied)));
  return {
    status: statusOf(missing, need.region),
    missing,
    decidedBy: [...request.decidedBy, ...reply.decidedBy],
    unknown: [],
    undecided: EMPTY_REGION,
    networkAclId: acl.networkAclId,
    request: request.denied,
    return: reply.denied,
  };
}
