/**
 * Sets over ports × addresses ("regions") for one protocol. A region is a list of disjoint port segments,
 * sorted by port, each with the non-empty set of addresses it holds on those ports. The canonical form
 * merges adjacent segments whose address sets are equal, so equal regions have equal lists.
 */
import type { PortRange } from '../ports';
import { mergePortRanges } from '../ports';
import {
  type AddressSet,
  addressSetsEqual,
  addressSetsIntersect,
  EMPTY_ADDRESSES,
  formatCidr,
  intersectAddresses,
  isEmptyAddressSet,
  subtractAddresses,
  toCidrs,
  unionAddresses,
} from './addresses';
import type { AuditStatus, DecidedBy, MissingBlock, NotEvaluated } from './types';

/** One segment of a region: every address of `addresses` on every port from `from` to `to`. */
export interface RegionSegment {
  readonly from: number;
  readonly to: number;
  readonly addresses: AddressSet;
}

/** Ports × addresses: disjoint segments sorted by port, adjacent ones with equal addresses merged. */
export type Region = readonly RegionSegment[];

/** The empty region. */
export const EMPTY_REGION: Region = Object.freeze([]);

/** The region of every port of `ports` × every address of `addresses`. */
export function regionOf(ports: readonly PortRange[], addresses: AddressSet): Region {
  if (isEmptyAddressSet(addresses)) return EMPTY_REGION;
  const merged = isMerged(ports) ? ports : mergePortRanges(ports);
  return merged.map((r) => ({ from: r.from, to: r.to, addresses }));
}

/** True when ranges are already sorted, apart and not touching (as merged ranges are): merging is skipped. */
function isMerged(ports: readonly PortRange[]): boolean {
  for (let i = 0; i < ports.length; i++) {
    const r = ports[i] as PortRange;
    if (r.from > r.to || (i > 0 && r.from <= (ports[i - 1] as PortRange).to + 1)) return false;
  }
  return true;
}

type Combine = (a: AddressSet | undefined, b: AddressSet | undefined) => AddressSet | undefined;

const unionOf: Combine = (a, b) => (a && b ? unionAddresses(a, b) : (a ?? b));
const intersectionOf: Combine = (a, b) => (a && b ? intersectAddresses(a, b) : undefined);
const differenceOf: Combine = (a, b) => (a && b ? subtractAddresses(a, b) : a);

/** The k-th boundary of a region: `from` of segment k/2, or one past its `to`. */
function boundary(r: Region, k: number): number {
  const s = r[k >> 1] as RegionSegment;
  return k % 2 === 0 ? s.from : s.to + 1;
}

/** Sweeps the port boundaries of both regions and combines the address sets of each elementary piece. */
function combineRegions(a: Region, b: Region, combine: Combine): Region {
  // Both regions' boundaries, merged in order (each region's own are already sorted).
  const cuts: number[] = [];
  for (let i = 0, j = 0; i < a.length * 2 || j < b.length * 2;) {
    const x = i < a.length * 2 ? boundary(a, i) : Infinity;
    const y = j < b.length * 2 ? boundary(b, j) : Infinity;
    if (x <= y) i++;
    if (y <= x) j++;
    cuts.push(Math.min(x, y));
  }
  const out: RegionSegment[] = [];
  let i = 0;
  let j = 0;
  for (let k = 0; k + 1 < cuts.length; k++) {
    const from = cuts[k] as number;
    const next = cuts[k + 1] as number;
    if (next === from) continue;
    while (i < a.length && (a[i] as RegionSegment).to < from) i++;
    while (j < b.length && (b[j] as RegionSegment).to < from) j++;
    const sa = a[i] !== undefined && (a[i] as RegionSegment).from <= from ? a[i]?.addresses : undefined;
    const sb = b[j] !== undefined && (b[j] as RegionSegment).from <= from ? b[j]?.addresses : undefined;
    const addresses = combine(sa, sb);
    if (addresses !== undefined) push(out, from, next - 1, addresses);
  }
  return out;
}

/** Points in either region. */
export function unionRegions(a: Region, b: Region): Region {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  return combineRegions(a, b, unionOf);
}

/** Points in both regions. */
export function intersectRegions(a: Region, b: Region): Region {
  if (a.length === 0 || b.length === 0) return EMPTY_REGION;
  return combineRegions(a, b, intersectionOf);
}

/** Points of `a` that are not in `b`. */
export function subtractRegions(a: Region, b: Region): Region {
  if (a.length === 0 || b.length === 0) return a;
  return combineRegions(a, b, differenceOf);
}

/**
 * A rectangle: the ports `from`-`to` × `addresses` (the shape of one rule or entry). Operations with a
 * rectangle skip the segments it does not touch and allocate nothing when it touches none.
 */
export interface PortRect {
  readonly from: number;
  readonly to: number;
  readonly addresses: AddressSet;
}

/** Appends a segment, joining it to the last one when they touch and hold the same addresses. */
function push(out: RegionSegment[], from: number, to: number, addresses: AddressSet): void {
  if (isEmptyAddressSet(addresses)) return;
  const last = out[out.length - 1];
  if (last && last.to + 1 === from && addressSetsEqual(last.addresses, addresses))
    out[out.length - 1] = { from: last.from, to, addresses: last.addresses };
  else out.push({ from, to, addresses });
}

/** True when the region and the rectangle share a point. */
export function touchesRect(r: Region, rect: PortRect): boolean {
  for (const s of r) {
    if (s.from > rect.to) return false;
    if (s.to >= rect.from && addressSetsIntersect(s.addresses, rect.addresses)) return true;
  }
  return false;
}

/** Points of the region inside the rectangle. */
export function intersectRect(r: Region, rect: PortRect): Region {
  if (!touchesRect(r, rect)) return EMPTY_REGION;
  const out: RegionSegment[] = [];
  for (const s of r) {
    if (s.to < rect.from) continue;
    if (s.from > rect.to) break;
    push(
      out,
      Math.max(s.from, rect.from),
      Math.min(s.to, rect.to),
      intersectAddresses(s.addresses, rect.addresses),
    );
  }
  return out;
}

/** Points of the region outside the rectangle. */
export function subtractRect(r: Region, rect: PortRect): Region {
  if (!touchesRect(r, rect)) return r;
  const out: RegionSegment[] = [];
  for (const s of r) {
    if (s.to < rect.from || s.from > rect.to || !addressSetsIntersect(s.addresses, rect.addresses)) {
      push(out, s.from, s.to, s.addresses);
      continue;
    }
    if (s.from < rect.from) push(out, s.from, rect.from - 1, s.addresses);
    push(
      out,
      Math.max(s.from, rect.from),
      Math.min(s.to, rect.to),
      subtractAddresses(s.addresses, rect.addresses),
    );
    if (s.to > rect.to) push(out, rect.to + 1, s.to, s.addresses);
  }
  return out;
}

/** True when the region holds no point. */
export function isEmptyRegion(r: Region): boolean {
  return r.length === 0;
}

/** True when both regions hold the same points (canonical forms are compared). */
export function regionsEqual(a: Region, b: Region): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const s = a[i] as RegionSegment;
    const t = b[i] as RegionSegment;
    if (s.from !== t.from || s.to !== t.to || !addressSetsEqual(s.addresses, t.addresses)) return false;
  }
  return true;
}

/** Every address the region holds on at least one port. */
export function regionAddresses(r: Region): AddressSet {
  return r.reduce((acc, s) => unionAddresses(acc, s.addresses), EMPTY_ADDRESSES);
}

/** Every port the region holds for at least one address, as merged ranges. */
export function regionPorts(r: Region): PortRange[] {
  return mergePortRanges(r.map((s) => ({ from: s.from, to: s.to })));
}

/**
 * The region as blocks of a port range × one CIDR: the fewest CIDRs per port segment, then blocks of the
 * same CIDR on adjacent segments joined. Sorted by `fromPort`, then address (IPv4 first) by construction:
 * segments come in port order and each one's CIDRs in address order, and a joined block keeps its start.
 */
export function toMissingBlocks(r: Region, protocol: 'tcp' | 'udp'): MissingBlock[] {
  type Block = { protocol: 'tcp' | 'udp'; fromPort: number; toPort: number; cidr: string };
  const blocks: Block[] = [];
  // The blocks of the previous segment, to extend one rather than repeat it on the next segment.
  let previous: Block[] = [];
  for (const s of r) {
    const joinable = previous.length > 0 && (previous[0] as Block).toPort + 1 === s.from;
    const current: Block[] = [];
    for (const c of toCidrs(s.addresses)) {
      const cidr = formatCidr(c);
      let block = joinable ? previous.find((b) => b.cidr === cidr) : undefined;
      if (block) block.toPort = s.to;
      else blocks.push((block = { protocol, fromPort: s.from, toPort: s.to, cidr }));
      current.push(block);
    }
    previous = current;
  }
  return blocks;
}

/** How a protocol field of a rule relates to a TCP/UDP requirement. */
export type ProtocolScope = 'all' | 'tcp' | 'udp' | 'other';

/**
 * Reads a Security Group `IpProtocol` or a NACL `Protocol`: `-1` (or `all`) is all traffic, `tcp`/`6` and
 * `udp`/`17` are themselves (names in any case), anything else (icmp, icmpv6, 50…) never covers TCP or UDP.
 */
export function protocolScope(protocol: string): ProtocolScope {
  // The API's own spellings first: this runs for every rule of every need.
  if (protocol === 'tcp' || protocol === '6') return 'tcp';
  if (protocol === '-1') return 'all';
  if (protocol === 'udp' || protocol === '17') return 'udp';
  switch (protocol.trim().toLowerCase()) {
    case '-1':
    case 'all':
      return 'all';
    case 'tcp':
    case '6':
      return 'tcp';
    case 'udp':
    case '17':
      return 'udp';
    default:
      return 'other';
  }
}

/** A requirement compiled into the sets every layer evaluates. */
export interface AuditNeed {
  readonly direction: 'egress' | 'ingress';
  readonly protocol: 'tcp' | 'udp';
  /** Merged, sorted port ranges. */
  readonly ports: readonly PortRange[];
  /** The peer addresses. */
  readonly addresses: AddressSet;
  /** `ports` × `addresses`. */
  readonly region: Region;
}

/** What one layer (Security Groups, NACL, routes) makes of a need: a tri-state and what decided it. */
export interface LayerVerdict {
  readonly status: AuditStatus;
  /** In the requirement's terms: the points of `need.region` the layer does not let through. */
  readonly missing: Region;
  readonly decidedBy: readonly DecidedBy[];
  /** What the layer needed and the inventory lacks. */
  readonly unknown: readonly NotEvaluated[];
  /** The points of `need.region` not in `missing` that a missing piece could drop (empty when none). */
  readonly undecided: Region;
}

/** `allowed` when nothing is missing, `blocked` when everything is, `partial` otherwise. */
export function statusOf(missing: Region, whole: Region): AuditStatus {
  if (isEmptyRegion(missing)) return 'allowed';
  return regionsEqual(missing, whole) ? 'blocked' : 'partial';
}

/**
 * The audit's status: what is seen to drop decides first (`blocked` when it is everything, `partial` when it
 * is some), then what was not seen: `not-audited` when a missing piece could drop the rest, `allowed` only
 * when every point was seen to pass.
 * @param missing - the points a layer that was evaluated drops.
 * @param undecided - the points no evaluated layer drops but a missing piece could.
 */
export function auditStatus(missing: Region, undecided: Region, whole: Region): AuditStatus {
  if (!isEmptyRegion(missing)) return statusOf(missing, whole);
  return isEmptyRegion(undecided) ? 'allowed' : 'not-audited';
}
