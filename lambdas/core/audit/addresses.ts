/**
 * Exact address-set arithmetic for the audit. IPv4 addresses are numbers (0 … 2^32-1), IPv6 addresses are
 * bigints (0 … 2^128-1). A set is kept per family as a flat, strictly increasing list of half-open interval
 * boundaries `[start0, end0, start1, end1, …]` (each interval is `start ≤ a < end`), so touching intervals
 * are always merged and two equal sets have equal lists. The families never mix: an IPv4 block never
 * covers an IPv6 address and the other way round.
 */

/** One CIDR block, its first address masked (the host bits are zero). */
export type Cidr =
  | { readonly family: 'ipv4'; readonly first: number; readonly prefixLength: number }
  | { readonly family: 'ipv6'; readonly first: bigint; readonly prefixLength: number };

/** A set of addresses of both families, as sorted, disjoint, non-touching half-open intervals. */
export interface AddressSet {
  /** IPv4 boundaries: `[start0, end0, start1, end1, …]`, each `end` at most 2^32. */
  readonly v4: readonly number[];
  /** IPv6 boundaries: `[start0, end0, …]`, each `end` at most 2^128. */
  readonly v6: readonly bigint[];
}

/** Raised when a text is not an IPv4/IPv6 address or CIDR block. */
export class CidrError extends Error {
  override readonly name = 'CidrError';
  constructor(
    readonly input: string,
    readonly reason: string,
  ) {
    super(
      `${JSON.stringify(input)} is not a CIDR block (${reason}); write it like 10.0.0.0/24, 10.0.0.5 or 2001:db8::/32`,
    );
  }
}

const V4_SIZE = 2 ** 32;
const V6_SIZE = 1n << 128n;

const NONE: readonly never[] = Object.freeze([]);

/** The empty set. */
export const EMPTY_ADDRESSES: AddressSet = Object.freeze({ v4: NONE, v6: NONE });
/** Every IPv4 and every IPv6 address (`0.0.0.0/0` and `::/0`). */
export const ALL_ADDRESSES: AddressSet = Object.freeze({ v4: [0, V4_SIZE], v6: [0n, V6_SIZE] });

/** Reads a dotted quad by hand: this runs for every CIDR of every rule, so no split and no regex. */
function parseIpv4(text: string): number | string {
  if (text === '') return 'it is empty';
  let value = 0;
  let octets = 0;
  let i = 0;
  while (i <= text.length) {
    const start = i;
    let n = 0;
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c < 48 || c > 57) break;
      n = n * 10 + (c - 48);
      i++;
    }
    const digits = i - start;
    const part = text.slice(start, i);
    if (i < text.length && text.charCodeAt(i) !== 46) {
      const end = text.indexOf('.', i);
      return `${JSON.stringify(text.slice(start, end === -1 ? text.length : end))} is not a decimal octet`;
    }
    if (++octets > 4) break;
    if (digits === 0 || digits > 3 || (digits > 1 && text.charCodeAt(start) === 48))
      return `${JSON.stringify(part)} is not a decimal octet`;
    if (n > 255) return `octet ${n} is above 255`;
    value = value * 256 + n;
    i++; // the dot
  }
  if (octets !== 4) return 'an IPv4 address has four dot-separated numbers';
  return value;
}

function isHexDigit(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}

/** Reads an IPv6 address by hand (one pass, no split or regex): it runs for every IPv6 CIDR of every rule. */
function parseIpv6(text: string): bigint | string {
  if (text.includes('%')) return 'zone indexes are not allowed';
  const groups: number[] = [];
  let gap = -1; // where "::" stands, as an index into groups
  let i = 0;
  if (text.startsWith('::')) {
    gap = 0;
    i = 2;
  }
  while (i < text.length) {
    const start = i;
    while (i < text.length && isHexDigit(text.charCodeAt(i))) i++;
    if (text.charCodeAt(i) === 46) {
      // An embedded IPv4 address ends the text (::ffff:10.0.0.1).
      const v4 = parseIpv4(text.slice(start));
      if (typeof v4 === 'string') return `embedded IPv4 part: ${v4}`;
      groups.push(Math.floor(v4 / 65536), v4 % 65536);
      break;
    }
    if (i - start === 0 || i - start > 4 || (i < text.length && text.charCodeAt(i) !== 58)) {
      const end = text.indexOf(':', start);
      return `${JSON.stringify(text.slice(start, end === -1 ? text.length : end))} is not a group of 1-4 hexadecimal digits`;
    }
    groups.push(parseInt(text.slice(start, i), 16));
    if (i === text.length) break;
    if (text.charCodeAt(i + 1) === 58) {
      if (gap !== -1) return '"::" appears more than once';
      gap = groups.length;
      i += 2;
    } else {
      i++;
      if (i === text.length) return '"" is not a group of 1-4 hexadecimal digits';
    }
  }
  if (gap === -1 && groups.length !== 8) return 'an IPv6 address has eight groups, or "::"';
  if (gap !== -1) {
    if (groups.length > 7) return '"::" must stand for at least one group';
    groups.splice(gap, 0, ...new Array<number>(8 - groups.length).fill(0));
  }
  return ipv6FromGroups(groups);
}

/** Eight 16-bit groups as one bigint, built from three chunks that each fit a double exactly. */
function ipv6FromGroups(g: readonly number[]): bigint {
  const at = (i: number) => g[i] as number;
  const high = (at(0) * 65536 + at(1)) * 65536 + at(2);
  const middle = (at(3) * 65536 + at(4)) * 65536 + at(5);
  const low = at(6) * 65536 + at(7);
  return (BigInt(high) << 80n) | (BigInt(middle) << 32n) | BigInt(low);
}

/** The eight 16-bit groups of an IPv6 address. */
function ipv6Groups(value: bigint): number[] {
  const high = Number(value >> 80n);
  const middle = Number(BigInt.asUintN(48, value >> 32n));
  const low = Number(BigInt.asUintN(32, value));
  return [
    Math.floor(high / 4294967296),
    Math.floor(high / 65536) % 65536,
    high % 65536,
    Math.floor(middle / 4294967296),
    Math.floor(middle / 65536) % 65536,
    middle % 65536,
    Math.floor(low / 65536),
    low % 65536,
  ];
}

/**
 * Reads an address (`10.0.0.5`, `2001:db8::1`) or a CIDR block (`10.0.0.0/24`, `2001:db8::/32`).
 * A bare address is a /32 or /128. Host bits are masked off: `10.0.0.5/24` reads as `10.0.0.0/24` (AWS
 * itself rejects such a block when it is written, so its exports never contain one; masking is the
 * reading that covers exactly the block the writer named).
 * @throws CidrError when the text is neither.
 */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const lengthText = slash === -1 ? undefined : text.slice(slash + 1);
  const v6 = address.includes(':');
  const max = v6 ? 128 : 32;
  let prefixLength = max;
  if (lengthText !== undefined) {
    if (!/^(?:0|[1-9]\d{0,2})$/.test(lengthText))
      throw new CidrError(text, `prefix length ${JSON.stringify(lengthText)} is not a number`);
    prefixLength = Number(lengthText);
    if (prefixLength > max) throw new CidrError(text, `prefix length ${prefixLength} is above ${max}`);
  }
  if (v6) {
    const value = parseIpv6(address);
    if (typeof value === 'string') throw new CidrError(text, value);
    const hostBits = BigInt(128 - prefixLength);
    return { family: 'ipv6', first: (value >> hostBits) << hostBits, prefixLength };
  }
  const value = parseIpv4(address);
  if (typeof value === 'string') throw new CidrError(text, value);
  const size = 2 ** (32 - prefixLength);
  return { family: 'ipv4', first: Math.floor(value / size) * size, prefixLength };
}

/** Formats an IPv4 address held as a number. */
export function formatIpv4(value: number): string {
  return `${Math.floor(value / 16777216) % 256}.${Math.floor(value / 65536) % 256}.${Math.floor(value / 256) % 256}.${value % 256}`;
}

/** Formats an IPv6 address held as a bigint in the RFC 5952 form (lower case, longest zero run as `::`). */
export function formatIpv6(value: bigint): string {
  const groups = ipv6Groups(value);
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  let text = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      text += i === 0 ? '::' : ':';
      i += bestLength - 1;
    } else text += i === 7 ? (groups[i] as number).toString(16) : `${(groups[i] as number).toString(16)}:`;
  }
  return text;
}

/** Formats a block as `10.0.0.0/24` or `2001:db8::/32`. */
export function formatCidr(cidr: Cidr): string {
  return cidr.family === 'ipv4'
    ? `${formatIpv4(cidr.first)}/${cidr.prefixLength}`
    : `${formatIpv6(cidr.first)}/${cidr.prefixLength}`;
}

/** The set of exactly the addresses of one block. */
export function cidrSet(cidr: Cidr): AddressSet {
  if (cidr.family === 'ipv4')
    return { v4: [cidr.first, cidr.first + 2 ** (32 - cidr.prefixLength)], v6: NONE };
  return { v4: NONE, v6: [cidr.first, cidr.first + (1n << BigInt(128 - cidr.prefixLength))] };
}

/** The union of blocks, given parsed or as text (text is parsed with {@link parseCidr}, which may throw). */
export function addressSetOf(cidrs: Iterable<Cidr | string>): AddressSet {
  let out = EMPTY_ADDRESSES;
  for (const c of cidrs) out = unionAddresses(out, cidrSet(typeof c === 'string' ? parseCidr(c) : c));
  return out;
}

const UNION = 0;
const INTERSECT = 1;
const SUBTRACT = 2;
type Op = typeof UNION | typeof INTERSECT | typeof SUBTRACT;

/**
 * Combines two boundary lists by sweeping their boundaries in order and emitting one wherever the
 * combined membership changes. Only comparisons are needed, so one code serves numbers and bigints.
 */
function combine<T extends number | bigint>(a: readonly T[], b: readonly T[], op: Op): readonly T[] {
  if (b.length === 0) return op === INTERSECT ? NONE : a;
  if (a.length === 0) return op === UNION ? b : NONE;
  const out: T[] = [];
  let i = 0;
  let j = 0;
  let inA = false;
  let inB = false;
  let inOut = false;
  while (i < a.length || j < b.length) {
    const x = j >= b.length || (i < a.length && (a[i] as T) <= (b[j] as T)) ? (a[i] as T) : (b[j] as T);
    if (i < a.length && a[i] === x) {
      inA = !inA;
      i++;
    }
    if (j < b.length && b[j] === x) {
      inB = !inB;
      j++;
    }
    const now = op === UNION ? inA || inB : op === INTERSECT ? inA && inB : inA && !inB;
    if (now !== inOut) {
      out.push(x);
      inOut = now;
    }
  }
  return out;
}

function sameList<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function overlaps<T extends number | bigint>(a: readonly T[], b: readonly T[]): boolean {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if ((a[i + 1] as T) <= (b[j] as T)) i += 2;
    else if ((b[j + 1] as T) <= (a[i] as T)) j += 2;
    else return true;
  }
  return false;
}

/** Addresses in either set. */
export function unionAddresses(a: AddressSet, b: AddressSet): AddressSet {
  return { v4: combine(a.v4, b.v4, UNION), v6: combine(a.v6, b.v6, UNION) };
}

/** Addresses in both sets. */
export function intersectAddresses(a: AddressSet, b: AddressSet): AddressSet {
  return { v4: combine(a.v4, b.v4, INTERSECT), v6: combine(a.v6, b.v6, INTERSECT) };
}

/** Addresses of `a` that are not in `b`. */
export function subtractAddresses(a: AddressSet, b: AddressSet): AddressSet {
  return { v4: combine(a.v4, b.v4, SUBTRACT), v6: combine(a.v6, b.v6, SUBTRACT) };
}

/** True when the set holds no address. */
export function isEmptyAddressSet(a: AddressSet): boolean {
  return a.v4.length === 0 && a.v6.length === 0;
}

/** True when both sets hold the same addresses. */
export function addressSetsEqual(a: AddressSet, b: AddressSet): boolean {
  return a === b || (sameList(a.v4, b.v4) && sameList(a.v6, b.v6));
}

/** True when the sets share an address (without building the intersection). */
export function addressSetsIntersect(a: AddressSet, b: AddressSet): boolean {
  return overlaps(a.v4, b.v4) || overlaps(a.v6, b.v6);
}

/** The number of addresses in the set, per family. */
export function countAddresses(a: AddressSet): { v4: number; v6: bigint } {
  let v4 = 0;
  for (let i = 0; i < a.v4.length; i += 2) v4 += (a.v4[i + 1] as number) - (a.v4[i] as number);
  let v6 = 0n;
  for (let i = 0; i < a.v6.length; i += 2) v6 += (a.v6[i + 1] as bigint) - (a.v6[i] as bigint);
  return { v4, v6 };
}

/** True when the set holds the address (a number is IPv4, a bigint IPv6). */
export function containsAddress(a: AddressSet, address: number | bigint): boolean {
  const list: readonly (number | bigint)[] = typeof address === 'number' ? a.v4 : a.v6;
  for (let i = 0; i < list.length; i += 2)
    if ((list[i] as number | bigint) <= address && address < (list[i + 1] as number | bigint)) return true;
  return false;
}

/**
 * The fewest CIDR blocks that cover exactly the set, IPv4 first, each family in address order.
 * Greedy largest-aligned-block-first is optimal for one interval, and no block can span two intervals
 * of a normalized set (they are separated by a gap), so the whole is optimal too.
 */
export function toCidrs(a: AddressSet): Cidr[] {
  const out: Cidr[] = [];
  for (let i = 0; i < a.v4.length; i += 2) {
    let start = a.v4[i] as number;
    const end = a.v4[i + 1] as number;
    while (start < end) {
      // The block is as large as both the alignment of `start` and the room left allow.
      const bits = Math.min(trailingZeros32(start), floorLog2(end - start));
      out.push({ family: 'ipv4', first: start, prefixLength: 32 - bits });
      start += 2 ** bits;
    }
  }
  for (let i = 0; i < a.v6.length; i += 2) {
    let start = a.v6[i] as bigint;
    const end = a.v6[i + 1] as bigint;
    while (start < end) {
      const bits = Math.min(trailingZeros128(start), bitLength(end - start) - 1);
      out.push({ family: 'ipv6', first: start, prefixLength: 128 - bits });
      start += 1n << BigInt(bits);
    }
  }
  return out;
}

/** Trailing zero bits of an IPv4 address (32 for 0). */
function trailingZeros32(n: number): number {
  if (n === 0) return 32;
  const low = n & -n; // the lowest set bit, as an int32 (ToInt32 keeps the low bits)
  return 31 - Math.clz32(low);
}

/** floor(log2(n)) for 1 ≤ n ≤ 2^32. */
function floorLog2(n: number): number {
  return n >= 4294967296 ? 32 : 31 - Math.clz32(n);
}

/** The number of bits of a positive bigint. */
function bitLength(n: bigint): number {
  let bits = 0;
  while (n > 0xffffffffn) {
    n >>= 32n;
    bits += 32;
  }
  return bits + 32 - Math.clz32(Number(n));
}

/** Trailing zero bits of an IPv6 address (128 for 0). */
function trailingZeros128(n: bigint): number {
  if (n === 0n) return 128;
  let bits = 0;
  for (;;) {
    const low = Number(BigInt.asUintN(32, n));
    if (low !== 0) return bits + trailingZeros32(low);
    n >>= 32n;
    bits += 32;
  }
}
