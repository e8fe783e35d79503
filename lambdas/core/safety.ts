/**
 * The safety rules of DESIGN.md: the service probes only what an environment declares, only on the ports of its
 * profiles plus its own flows, and only inside the deployment's `allowedTargetCidrs`. Host names are resolved
 * and every address they resolve to is checked. Link-local and instance-metadata addresses, `0.0.0.0/8`,
 * multicast and broadcast are always refused; loopback is refused in AWS mode and allowed in local mode (so that
 * a newcomer can try the service against their own machine), but it must still be inside `allowedTargetCidrs`.
 *
 * The same functions serve the API (before anything is stored or started) and the prober (right before it
 * connects, since a name can resolve differently later).
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Catalog } from './catalog';
import { CidrError, parseCidr as parseAddressBlock } from './audit/addresses';
import { classifyAddress, type Environment } from './environment';
import { formatPath } from './errors';
import { plan } from './plan';
import { mergePortRanges, parsePortList, type PortRange } from './ports';

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

/**
 * Checks one address, host name or CIDR as written at `path`; host names are resolved and every address is
 * checked. Returns one problem per refusal (empty when the target is allowed).
 */
export async function checkTarget(
  path: string,
  target: string,
  policy: TargetPolicy,
  resolve: Resolver = systemResolver,
): Promise<SafetyProblem[]> {
  const shown = JSON.stringify(target);
  const kind = classifyAddress(target);
  if (kind === undefined) return [{ path, message: `${shown} is not a host name, IP address or CIDR block` }];
  if (kind !== 'hostname') {
    const why = refusalOf(target, policy);
    return why ? [{ path, message: `${shown} ${why}: refused` }] : [];
  }
  let addresses: string[];
  try {
    addresses = await resolve(target);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return [
      {
        path,
        message: `${shown} does not resolve (${typeof code === 'string' ? code : (err as Error).message}), so it cannot be checked against the allowed target CIDRs: refused`,
      },
    ];
  }
  if (addresses.length === 0) {
    return [{ path, message: `${shown} resolves to no address, so it cannot be checked: refused` }];
  }
  const problems: SafetyProblem[] = [];
  for (const address of addresses) {
    const why = isIP(address.replace(/%.*$/, '')) ? refusalOf(address, policy) : 'is not an IP address';
    if (why) problems.push({ path, message: `${shown} resolves to ${address}, which ${why}: refused` });
  }
  return problems;
}

/** The ports an environment may be probed on: its profiles' requirements plus its own flows. */
export function allowedPorts(env: Environment, catalog: Catalog): { tcp: PortRange[]; udp: PortRange[] } {
  const tcp: PortRange[] = [];
  const udp: PortRange[] = [];
  for (const id of env.profiles) {
    for (const r of catalog.profile(id)?.requirements ?? [])
      (r.protocol === 'udp' ? udp : tcp).push(...r.ports);
  }
  for (const f of env.flows) (f.protocol === 'udp' ? udp : tcp).push(...parsePortList(f.ports));
  return { tcp: mergePortRanges(tcp), udp: mergePortRanges(udp) };
}

const inRanges = (ranges: readonly PortRange[], p: PortRange) =>
  ranges.some((r) => r.from <= p.from && p.to <= r.to);

/**
 * Applies every safety rule to a validated environment: each endpoint address and each address of its own flows
 * is inside the allowed CIDRs and not forbidden (host names resolved, every address checked), and every flow of
 * its plan stays on the ports of its profiles and its own flows.
 * @returns the problems, each naming the field and the value; empty when the environment may be checked.
 * @throws SafetyConfigError when `policy.allowedTargetCidrs` holds something that is not a CIDR.
 */
export async function checkEnvironmentSafety(
  env: Environment,
  catalog: Catalog,
  policy: TargetPolicy,
  resolve: Resolver = systemResolver,
): Promise<SafetyProblem[]> {
  parseAllowedCidrs(policy.allowedTargetCidrs);
  const targets: Array<{ path: string; target: string }> = [];
  for (const [role, addresses] of Object.entries(env.endpoints)) {
    addresses.forEach((target, i) => targets.push({ path: formatPath(['endpoints', role, i]), target }));
  }
  env.flows.forEach((f, i) =>
    f.to.forEach((target, j) => targets.push({ path: formatPath(['flows', i, 'to', j]), target })),
  );
  // One lookup per distinct name, however often it is written.
  const lookups = new Map<string, Promise<string[]>>();
  const cachedResolve: Resolver = (name) => {
    const key = name.toLowerCase();
    let p = lookups.get(key);
    if (!p) {
      p = resolve(name);
      lookups.set(key, p);
    }
    return p;
  };
  const perTarget = await Promise.all(
    targets.map((t) => checkTarget(t.path, t.target, policy, cachedResolve)),
  );
  const problems = perTarget.flat();

  const ports = allowedPorts(env, catalog);
  for (const flow of plan(env, catalog).flows) {
    const allowed = flow.protocol === 'udp' ? ports.udp : ports.tcp;
    for (const range of flow.ports) {
      if (!inRanges(allowed, range)) {
        problems.push({
          path: 'flows',
          message: `flow ${flow.id} would reach port(s) ${range.from}-${range.to}/${flow.protocol}, which neither the profiles nor the environment's own flows declare: refused`,
        });
      }
    }
  }
  return problems;
}
