/**
 * The target policy of DESIGN.md's safety rules, with no dependency beyond Node (the prober Lambda carries it
 * and must stay small): which addresses may be targets in which mode, inside the deployment's
 * `allowedTargetCidrs`. Link-local and instance-metadata addresses, `0.0.0.0/8`, multicast and broadcast are
 * always refused; loopback is refused in AWS mode and allowed in local mode. `safety.ts` applies it to whole
 * environments.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { CidrError, parseCidr as parseAddressBlock } from './audit/addresses';

/** Which deployment the rules are applied for. */
export type SafetyMode = 'local' | 'aws';

/** Resolves a host name to every address it has (IPv4 and IPv6); injectable for tests. */
export type Resolver = (hostname: string) => Promise<string[]>;

/** The system resolver (`getaddrinfo`), every address. */
export const systemResolver: Resolver = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((a) => a.address);

/** One refused value: the field path (`endpoints.vcenter[0]`) and what is wrong with it. */
export interface SafetyProblem {
  readonly path: string;
  readonly message: string;
}

/** Raised when a deployment setting (an allowed CIDR) cannot be read. */
export class SafetyConfigError extends Error {
  override readonly name = 'SafetyConfigError';
}

// ---------------------------------------------------------------------------------------------------------------
// Addresses as numbers

/** An IP address as a number, with its family; IPv4-mapped IPv6 addresses are read as IPv4. */
export interface IpValue {
  readonly family: 4 | 6;
  readonly value: bigint;
}

/** An IP block: the first and last address it holds. */
export interface IpBlock {
  readonly family: 4 | 6;
  readonly first: bigint;
  readonly last: bigint;
  readonly text: string;
}

/** One address through the audit's parser (the project's one IP parser), as a bigint; undefined when not one. */
function addressValue(text: string): IpValue | undefined {
  const family = isIP(text);
  if (family === 0) return undefined;
  try {
    const c = parseAddressBlock(text);
    return { family: family === 4 ? 4 : 6, value: BigInt(c.first) };
  } catch (err) {
    if (err instanceof CidrError) return undefined;
    throw err;
  }
}

/** Reads an IP address (strips an IPv6 zone); returns undefined when it is not one. */
export function parseIp(text: string): IpValue | undefined {
  const ip = addressValue(text.replace(/%.*$/, ''));
  if (ip === undefined || ip.family === 4) return ip;
  // ::ffff:a.b.c.d reaches the IPv4 address a.b.c.d: judge it as that.
  if (ip.value >> 32n === 0xffffn) return { family: 4, value: ip.value & 0xffffffffn };
  return ip;
}

/** Reads a CIDR block (`10.0.0.0/8`) or a single address (as a /32 or /128). */
export function parseCidr(text: string): IpBlock | undefined {
  const slash = text.indexOf('/');
  const ip = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (!ip) return undefined;
  const width = ip.family === 4 ? 32 : 128;
  const bitsText = slash < 0 ? String(width) : text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bitsText)) return undefined;
  // An IPv4-mapped block such as ::ffff:10.0.0.0/104 becomes 10.0.0.0/8.
  const mappedFrom = slash >= 0 && isIP(text.slice(0, slash)) === 6 && ip.family === 4 ? 96 : 0;
  const bits = Number(bitsText) - mappedFrom;
  if (bits < 0 || bits > width) return undefined;
  const hostBits = BigInt(width - bits);
  const first = (ip.value >> hostBits) << hostBits;
  const last = first | ((1n << hostBits) - 1n);
  return { family: ip.family, first, last, text };
}

function block(text: string): IpBlock {
  const b = parseCidr(text);
  if (!b) throw new SafetyConfigError(`${JSON.stringify(text)} is not a CIDR block`);
  return b;
}

const contains = (outer: IpBlock, inner: IpBlock) =>
  outer.family === inner.family && outer.first <= inner.first && inner.last <= outer.last;

const overlaps = (a: IpBlock, b: IpBlock) => a.family === b.family && a.first <= b.last && b.first <= a.last;

// ---------------------------------------------------------------------------------------------------------------
// The rules

interface ForbiddenRange {
  readonly block: IpBlock;
  readonly what: string;
  /** Refused in AWS mode only. */
  readonly awsOnly?: boolean;
}

/** Ranges never probed, with what they are; loopback only in AWS mode. */
const FORBIDDEN: readonly ForbiddenRange[] = [
  { block: block('169.254.0.0/16'), what: 'link-local/instance metadata' },
  { block: block('fd00:ec2::254/128'), what: 'the instance metadata service (IPv6)' },
  { block: block('fe80::/10'), what: 'link-local (IPv6)' },
  { block: block('0.0.0.0/8'), what: 'an unspecified/"this network" address (0.0.0.0/8)' },
  { block: block('::/128'), what: 'the unspecified address (::)' },
  { block: block('224.0.0.0/4'), what: 'multicast' },
  { block: block('ff00::/8'), what: 'multicast (IPv6)' },
  { block: block('255.255.255.255/32'), what: 'broadcast' },
  { block: block('127.0.0.0/8'), what: 'loopback (allowed in local mode only)', awsOnly: true },
  { block: block('::1/128'), what: 'loopback (allowed in local mode only)', awsOnly: true },
];

/** Local mode's default `allowedTargetCidrs`: loopback and the private ranges. */
export const LOCAL_ALLOWED_TARGET_CIDRS: readonly string[] = [
  '127.0.0.0/8',
  '::1/128',
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  'fc00::/7',
];

/** The deployment's policy: which mode and which target CIDRs. */
export interface TargetPolicy {
  readonly mode: SafetyMode;
  readonly allowedTargetCidrs: readonly string[];
}

/**
 * Reads `allowedTargetCidrs` once.
 * @throws SafetyConfigError naming the bad entry.
 */
export function parseAllowedCidrs(cidrs: readonly string[]): IpBlock[] {
  return cidrs.map(block);
}

/**
 * Why a block (an address or a CIDR) may not be a target under `policy`, or undefined when it may.
 * A CIDR must lie wholly inside one allowed block and touch no forbidden range.
 */
export function refusalOf(target: string, policy: TargetPolicy): string | undefined {
  const b = parseCidr(target);
  if (!b) return 'is not an IP address or CIDR block';
  for (const f of FORBIDDEN) {
    if (f.awsOnly && policy.mode === 'local') continue;
    if (overlaps(f.block, b)) return `is ${f.what}`;
  }
  const allowed = parseAllowedCidrs(policy.allowedTargetCidrs);
  if (!allowed.some((a) => contains(a, b))) {
    const list = policy.allowedTargetCidrs.length > 0 ? policy.allowedTargetCidrs.join(', ') : 'none';
    return `is outside the allowed target CIDRs (${list})`;
  }
  return undefined;
}

/** What {@link vetTarget} decided about one target. */
export type TargetDecision =
  /** May be probed; `addresses` are what it resolved to (the target itself for an address or a CIDR). */
  | { readonly kind: 'allowed'; readonly addresses: readonly string[] }
  /** Refused: one reason per refused address (`is link-local/…`, `resolves to 10.0.0.1, which is …`). */
  | { readonly kind: 'refused'; readonly reasons: readonly string[] }
  /** A name that does not resolve (or to no address): nothing to vet, nothing to probe; `code` says why. */
  | { readonly kind: 'unresolved'; readonly code: string };

/**
 * The one answer to "may this target be probed under `policy`": an address or CIDR is judged as written; a host
 * name is resolved once and every address it has must be allowed. The API (when an environment is stored) and
 * the probe step (right before it connects) both ask this.
 */
export async function vetTarget(
  target: string,
  policy: TargetPolicy,
  resolve: Resolver = systemResolver,
): Promise<TargetDecision> {
  if (parseCidr(target)) {
    const why = refusalOf(target, policy);
    return why ? { kind: 'refused', reasons: [why] } : { kind: 'allowed', addresses: [target] };
  }
  let addresses: string[];
  try {
    addresses = await resolve(target);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return { kind: 'unresolved', code: typeof code === 'string' ? code : 'ENOTFOUND' };
  }
  if (addresses.length === 0) return { kind: 'unresolved', code: 'ENODATA' };
  const reasons = addresses.flatMap((a) => {
    const why = isIP(a.replace(/%.*$/, '')) ? refusalOf(a, policy) : 'is not an IP address';
    return why ? [`resolves to ${a}, which ${why}`] : [];
  });
  return reasons.length > 0 ? { kind: 'refused', reasons } : { kind: 'allowed', addresses };
}
