import {
  type AddressSet,
  addressSetOf,
  cidrSet,
  EMPTY_ADDRESSES,
  formatCidr,
  intersectAddresses,
  isEmptyAddressSet,
  parseCidr,
  subtractAddresses,
  toCidrs,
  unionAddresses,
} from './addresses';
import {
  type AclDraft,
  buildChangeSet,
  type ChangeSet,
  type FirewallRequest,
  firewallRequestText,
  type Fix,
  ruleDescription,
  type RouteChange,
  type RouteQuestion,
} from '../finding/change-set';
import { formatPortList, mergePortRanges } from '../ports';
import { compileRequirement, type NatRoutes } from './evaluate';
import { routeCarries, type RouteCarriage, routeTarget } from './routes';
import type {
  AuditRequirement,
  AuditResult,
  AuditVantage,
  IpPermission,
  MissingBlock,
  NetworkAcl,
  NetworkAclEntry,
  RouteTable,
} from './types';

/**
 * The fix for one audit result: the fewest rules that close each gap, never wider than the requirement,
 * as AWS CLI commands, a CloudFormation snippet and CDK code, plus the on-premises firewall request. The
 * structured parts (permissions, the ACL entries requested and those present, route changes and questions,
 * the firewall request) are what a change set merges (lambdas/core/finding/change-set.ts); the commands
 * here are this flow's alone, the change set's are the ones to apply together.
 */
export interface Remediation {
  /** Rules to add to one of the vantage's Security Groups (the first one given). */
  readonly securityGroup?: {
    readonly groupId: string;
    readonly direction: 'egress' | 'ingress';
    readonly permissions: readonly IpPermission[];
    readonly awsCli: readonly string[];
    readonly cloudFormation: string;
    readonly cdk: string;
  };
  /** Entries to add to the subnet's network ACL, numbered to come before the rules that deny. */
  readonly networkAcl?: {
    readonly networkAclId: string;
    /** The entries this flow needs, unnumbered (a change set numbers them against all others). */
    readonly requested: readonly AclDraft[];
    /** The ACL's entries as the audit read them (allows by number only): what numbering must avoid and beat. */
    readonly existing: readonly NetworkAclEntry[];
    /** The requested entries numbered for this flow alone (those with a free number). */
    readonly entries: readonly NetworkAclEntry[];
    readonly awsCli: readonly string[];
    readonly cloudFormation: string;
    /** Set when no free rule number comes early enough: the ACL must be renumbered by hand. */
    readonly warning?: string;
  };
  /** Addresses with no usable route: routes to add or blackholes to replace, or the question to answer. */
  readonly routes?: {
    readonly routeTableId: string | undefined;
    readonly cidrs: readonly string[];
    readonly changes: readonly RouteChange[];
    readonly questions: readonly RouteQuestion[];
    readonly awsCli: readonly string[];
    readonly note: string;
  };
  /** The request for the on-premises firewall team, as one sentence. */
  readonly onPremFirewall: string;
  /** The same request, structured (merged per source, destination and ports by a change set); always set by
   * {@link remediate} (optional for records written before it existed). */
  readonly firewallRequest?: FirewallRequest;
}

/** Context that makes the fix concrete: subnet CIDRs, a label for rule descriptions. */
export interface RemediationContext {
  /** The CIDRs of the vantage's subnets (the source of egress flows as on-prem firewalls see it). */
  readonly vantageCidrs: readonly string[];
  /** Put in rule descriptions, e.g. the requirement id; at most 255 characters are kept. */
  readonly label: string;
  /** The subnet's network ACL, so that new entries get free numbers ahead of the denying ones. */
  readonly networkAcl?: NetworkAcl;
  /** The subnet's route table, so that routes point where the table already sends neighbouring addresses. */
  readonly routeTable?: RouteTable;
  /** Managed prefix lists (id → CIDRs), to know what a prefix-list route holds. */
  readonly prefixLists?: ReadonlyMap<string, readonly string[]>;
  /**
   * How the audit followed NAT gateways (their own subnet tables), so that a route is fixed in the table that
   * dropped it and a NAT gateway is proposed as a target only where its table carries the addresses.
   * @default - no NAT gateway is followed: none is proposed as a target
   */
  readonly natRoutes?: NatRoutes;
}

const PROTOCOL_NUMBER = { tcp: '6', udp: '17' } as const;

const isV6 = (cidr: string) => cidr.includes(':');

/** Groups blocks by port range, keeping the CIDRs of each (fewest rules: one per port range and CIDR). */
function byPortRange(blocks: readonly MissingBlock[]): Array<{ from: number; to: number; cidrs: string[] }> {
  const groups = new Map<string, { from: number; to: number; cidrs: string[] }>();
  for (const b of blocks) {
    const key = `${b.fromPort}-${b.toPort}`;
    const g = groups.get(key) ?? { from: b.fromPort, to: b.toPort, cidrs: [] };
    if (!g.cidrs.includes(b.cidr)) g.cidrs.push(b.cidr);
    groups.set(key, g);
  }
  return [...groups.values()].sort((a, b) => a.from - b.from);
}

function permissionsFor(
  protocol: 'tcp' | 'udp',
  blocks: readonly MissingBlock[],
  label: string,
): IpPermission[] {
  const desc = ruleDescription([label]);
  return byPortRange(blocks).map((g) => {
    const v4 = g.cidrs.filter((c) => !isV6(c));
    const v6 = g.cidrs.filter(isV6);
    return {
      IpProtocol: protocol,
      FromPort: g.from,
      ToPort: g.to,
      ...(v4.length > 0 ? { IpRanges: v4.map((CidrIp) => ({ CidrIp, Description: desc })) } : {}),
      ...(v6.length > 0 ? { Ipv6Ranges: v6.map((CidrIpv6) => ({ CidrIpv6, Description: desc })) } : {}),
    };
  });
}

function securityGroupFix(
  groupId: string,
  requirement: AuditRequirement,
  blocks: readonly MissingBlock[],
  label: string,
): NonNullable<Remediation['securityGroup']> {
  const { direction, protocol } = requirement;
  const permissions = permissionsFor(protocol, blocks, label);
  const cs = buildChangeSet([{ securityGroup: { groupId, direction, permissions } }]);
  return {
    groupId,
    direction,
    permissions,
    awsCli: cs.awsCli,
    cloudFormation: cs.cloudFormation,
    cdk: cs.cdk,
  };
}

function networkAclFix(
  aclId: string,
  requirement: AuditRequirement,
  gaps: { request: readonly MissingBlock[]; return: readonly MissingBlock[] },
  networkAcl: NetworkAcl | undefined,
): NonNullable<Remediation['networkAcl']> {
  const protocolNumber = PROTOCOL_NUMBER[requirement.protocol];
  const requestEgress = requirement.direction === 'egress';
  const requested: AclDraft[] = [];
  const add = (egress: boolean, blocks: readonly MissingBlock[]) => {
    for (const g of byPortRange(blocks)) {
      for (const cidr of g.cidrs) {
        requested.push({
          Protocol: protocolNumber,
          RuleAction: 'allow',
          Egress: egress,
          ...(isV6(cidr) ? { Ipv6CidrBlock: cidr } : { CidrBlock: cidr }),
          PortRange: { From: g.from, To: g.to },
        });
      }
    }
  };
  add(requestEgress, gaps.request);
  add(!requestEgress, gaps.return);
  // What numbering needs: every number in use, and what each deny matches (an allow's match never matters).
  // Kept small, since it travels with every finding that needs an entry.
  const existing: NetworkAclEntry[] = (networkAcl?.Entries ?? []).map((e) =>
    e.RuleAction === 'deny'
      ? { ...e }
      : { RuleNumber: e.RuleNumber, Protocol: e.Protocol, RuleAction: e.RuleAction, Egress: e.Egress },
  );
  const cs = buildChangeSet([{ networkAcl: { networkAclId: aclId, requested, existing } }]);
  const entries = cs.operations.flatMap((op) => (op.action === 'create-network-acl-entry' ? [op.entry] : []));
  const warning = cs.questions.map((q) => q.text).join('; ');
  return {
    networkAclId: aclId,
    requested,
    existing,
    entries,
    awsCli: cs.awsCli,
    cloudFormation: cs.cloudFormation,
    ...(warning !== '' ? { warning } : {}),
  };
}

/** A table route usable as a model for a new one: it carries traffic (not a blackhole, not `local`). */
interface ModelRoute {
  readonly addresses: AddressSet;
  readonly first: number | bigint;
  readonly prefixLength: number;
  readonly v6: boolean;
  readonly target: string;
}

function modelRoutes(table: RouteTable | undefined): ModelRoute[] {
  const out: ModelRoute[] = [];
  for (const route of table?.Routes ?? []) {
    const target = routeTarget(route);
    const text = route.DestinationCidrBlock ?? route.DestinationIpv6CidrBlock;
    if (target === undefined || target === 'local' || text === undefined) continue;
    if (route.State?.toLowerCase() === 'blackhole') continue;
    if (route.EgressOnlyInternetGatewayId !== undefined || target.startsWith('eigw-')) continue;
    try {
      const cidr = parseCidr(text);
      out.push({
        addresses: cidrSet(cidr),
        first: cidr.first,
        prefixLength: cidr.prefixLength,
        v6: cidr.family === 'ipv6',
        target,
      });
    } catch {
      // A malformed route is reported by the audit itself; it is no model.
    }
  }
  return out;
}

/** Leading bits two addresses of one family share. */
function commonBits(a: number | bigint, b: number | bigint, v6: boolean): number {
  const width = v6 ? 128 : 32;
  let x = BigInt(a) ^ BigInt(b);
  let bits = 0;
  while (x > 0n) {
    x >>= 1n;
    bits++;
  }
  return width - bits;
}

/** Neighbouring prefixes share at least a /8 (IPv4) or a /32 (IPv6) with the destination. */
const NEIGHBOUR_BITS = { v4: 8, v6: 32 } as const;

/**
 * The target the table already uses for these addresses: the most specific route that covers them, else the
 * nearest neighbouring prefix. Undefined when none applies or the best candidates disagree. The caller
 * gives only models whose target would carry the addresses.
 */
function inferTarget(models: readonly ModelRoute[], addresses: AddressSet): string | undefined {
  const cidrs = toCidrs(addresses);
  const first = cidrs[0];
  if (!first) return undefined;
  const v6 = first.family === 'ipv6';
  const usable = models.filter((m) => m.v6 === v6);
  const decide = (scored: Array<{ m: ModelRoute; score: number }>): string | undefined => {
    const best = Math.max(...scored.map((s) => s.score));
    const targets = new Set(scored.filter((s) => s.score === best).map((s) => s.m.target));
    return targets.size === 1 ? [...targets][0] : undefined;
  };
  const covering = usable.filter((m) => isEmptyAddressSet(subtractAddresses(addresses, m.addresses)));
  if (covering.length > 0) return decide(covering.map((m) => ({ m, score: m.prefixLength })));
  const minimum = v6 ? NEIGHBOUR_BITS.v6 : NEIGHBOUR_BITS.v4;
  const near = usable
    .map((m) => ({
      m,
      score: Math.min(commonBits(m.first, first.first, v6), m.prefixLength, first.prefixLength),
    }))
    .filter((s) => s.score >= minimum);
  return near.length > 0 ? decide(near) : undefined;
}

const UNKNOWN_TABLE = 'the subnet’s route table (not in the inventory)';

/** A route table the fix may change: the vantage's, or the own table of a NAT gateway it sends traffic to. */
interface FixScope {
  /** The table's id as the audit's decisions name it (undefined: the vantage's table is not known). */
  readonly routeTableId: string | undefined;
  /** The NAT gateway whose own table this is; undefined for the vantage's table. */
  readonly via: string | undefined;
  readonly table: RouteTable | undefined;
  /** Whether a route from this table to a target would carry the addresses (see routeCarries). */
  readonly carries: (target: string, addresses: AddressSet) => RouteCarriage;
}

/**
 * Route changes for unrouted addresses, from what decided the route verdict: each blackhole route that
 * swallowed some of them is replaced; addresses that a route's target cannot carry (an internet gateway
 * toward private addresses, an egress-only internet gateway or a NAT gateway for an inbound flow), or that
 * no route matches, get a route of their own (or the route is replaced when it is exactly theirs).
 * Addresses a NAT gateway's own table drops are fixed in that table. Each points at the target the table
 * already uses for the covering or neighbouring prefix, among the targets the route rule says would carry
 * them; a question where none can be inferred.
 */
function routeFix(
  result: AuditResult,
  routeTableId: string | undefined,
  blocks: readonly MissingBlock[],
  requirement: AuditRequirement,
  context: RemediationContext,
): NonNullable<Remediation['routes']> {
  const cidrs = [...new Set(blocks.map((b) => b.cidr))];
  const need = compileRequirement(requirement);
  const nat = context.natRoutes;
  const changes: RouteChange[] = [];
  const questions: RouteQuestion[] = [];
  const scope: FixScope = {
    routeTableId,
    via: undefined,
    table: context.routeTable,
    carries: (target, addresses) => routeCarries(target, addresses, need, nat?.follow),
  };
  const viaNat = fixTable(result, scope, addressSetOf(cidrs), context, changes, questions);
  for (const [natId, addresses] of viaNat) {
    const own = nat?.table(natId);
    // Without the gateway's table at hand (a caller that gives no natRoutes), the table its decisions name
    // is asked about: no target is known to carry the addresses from there.
    const natScope: FixScope =
      own !== undefined && !('unknown' in own)
        ? {
            routeTableId: own.table.routeTableId,
            via: natId,
            table: own.routeTable,
            carries: (target, a) => routeCarries(target, a, need, undefined, own.privateNat),
          }
        : {
            routeTableId: result.decidedBy.flatMap((d) =>
              d.layer === 'route' && d.via === natId ? [d.routeTableId] : [],
            )[0],
            via: natId,
            table: undefined,
            carries: () => ({ carries: false, why: `${natId}’s route table was not given to the fix` }),
          };
    fixTable(result, natScope, addresses, context, changes, questions);
  }
  const cs = buildChangeSet([{ routes: { changes, questions } }]);
  const note =
    questions.length > 0
      ? cs.questions.map((q) => q.text).join(' ')
      : 'These addresses had no usable route from the subnet: the commands send them where the table already sends their neighbours.';
  return { routeTableId, cidrs, changes, questions, awsCli: cs.awsCli, note };
}

/**
 * The changes to one table for the addresses it left unrouted; returns, per NAT gateway, the addresses this
 * table sent to it that the gateway's own table dropped (fixed there).
 */
function fixTable(
  result: AuditResult,
  scope: FixScope,
  addresses: AddressSet,
  context: RemediationContext,
  changes: RouteChange[],
  questions: RouteQuestion[],
): Map<string, AddressSet> {
  const table = scope.routeTableId ?? UNKNOWN_TABLE;
  const models = modelRoutes(scope.table);
  const destinationSet = (destination: string): AddressSet => {
    try {
      if (destination.startsWith('pl-')) return addressSetOf(context.prefixLists?.get(destination) ?? []);
      return addressSetOf([destination]);
    } catch {
      return EMPTY_ADDRESSES;
    }
  };
  const propose = (action: 'create' | 'replace', destination: string, part: AddressSet) => {
    if (scope.routeTableId === undefined) {
      questions.push({ action, routeTableId: table, destination });
      return;
    }
    const usable = models.filter((m) => scope.carries(m.target, part).carries);
    const target = inferTarget(usable, part);
    if (target !== undefined) {
      changes.push({ action, routeTableId: table, destination, target });
      return;
    }
    // The target the table's own routes point to, when the route rule says it would not carry these: said.
    const natural = inferTarget(models, part);
    const refused = natural !== undefined ? scope.carries(natural, part) : undefined;
    questions.push({
      action,
      routeTableId: table,
      destination,
      ...(natural !== undefined && refused?.carries === false
        ? { passedOver: { target: natural, why: refused.why } }
        : {}),
      ...(scope.via !== undefined ? { via: scope.via } : {}),
    });
  };

  // Each route of this table that denies, and each that hands the addresses to a NAT gateway, one unit per
  // CIDR (a prefix list per entry), in the evaluator's order (most specific first, a CIDR route before a
  // prefix-list one): each address is cut once, by the route that decides it. A blackhole is replaced (once
  // per route); what another route cannot carry gets its own; what a NAT gateway's table drops is fixed there.
  let left = addresses;
  const mine = result.decidedBy.flatMap((d) =>
    d.layer === 'route' &&
    d.routeTableId === scope.routeTableId &&
    d.via === scope.via &&
    d.destination !== 'none'
      ? [d]
      : [],
  );
  const hops =
    scope.via === undefined ? mine.filter((d) => d.effect === 'allows' && d.target?.startsWith('nat-')) : [];
  const units = [...mine.filter((d) => d.effect === 'denies'), ...hops]
    .flatMap((x) =>
      (x.destination.startsWith('pl-')
        ? (context.prefixLists?.get(x.destination) ?? [])
        : [x.destination]
      ).map((cidr) => ({
        cidr,
        destination: x.destination,
        blackhole: x.effect === 'denies' && x.reason === 'blackhole',
        nat: x.effect === 'allows' ? x.target : undefined,
      })),
    )
    .flatMap((u) => {
      try {
        return [{ ...u, parsed: parseCidr(u.cidr) }];
      } catch {
        return [];
      }
    })
    .sort(
      (a, b) =>
        b.parsed.prefixLength - a.parsed.prefixLength ||
        Number(a.destination.startsWith('pl-')) - Number(b.destination.startsWith('pl-')),
    );
  const parts: Array<{ addresses: AddressSet; exactly?: string }> = [];
  const replaced = new Set<string>();
  const viaNat = new Map<string, AddressSet>();
  for (const u of units) {
    const part = intersectAddresses(left, cidrSet(u.parsed));
    if (isEmptyAddressSet(part)) continue;
    left = subtractAddresses(left, part);
    if (u.nat !== undefined) viaNat.set(u.nat, unionAddresses(viaNat.get(u.nat) ?? EMPTY_ADDRESSES, part));
    else if (u.blackhole) {
      if (!replaced.has(u.destination)) propose('replace', u.destination, destinationSet(u.destination));
      replaced.add(u.destination);
    } else parts.push({ addresses: part, ...(u.destination.startsWith('pl-') ? {} : { exactly: u.cidr }) });
  }
  parts.push({ addresses: left });
  for (const part of parts) {
    for (const cidr of toCidrs(part.addresses)) {
      const text = formatCidr(cidr);
      const same = part.exactly !== undefined && sameCidr(part.exactly, text);
      propose(same ? 'replace' : 'create', same ? (part.exactly as string) : text, cidrSet(cidr));
    }
  }
  return viaNat;
}

function sameCidr(a: string, b: string): boolean {
  try {
    return formatCidr(parseCidr(a)) === formatCidr(parseCidr(b));
  } catch {
    return false;
  }
}

/** The on-premises firewall request for the whole requirement, since that firewall's state cannot be read. */
export function firewallRequestOf(
  requirement: AuditRequirement,
  vantageCidrs: readonly string[],
): FirewallRequest {
  const vantage = [...vantageCidrs];
  const peers = [...requirement.cidrs];
  const [sources, destinations] = requirement.direction === 'egress' ? [vantage, peers] : [peers, vantage];
  return {
    protocol: requirement.protocol,
    sources,
    destinations,
    ports: mergePortRanges(requirement.ports),
  };
}

/** The one-line request for the on-premises firewall: the whole requirement, since its state cannot be read. */
export function onPremFirewallRequest(
  requirement: AuditRequirement,
  vantageCidrs: readonly string[],
): string {
  return firewallRequestLine(firewallRequestOf(requirement, vantageCidrs));
}

function firewallRequestLine(r: FirewallRequest): string {
  return firewallRequestText({ ...r, ports: formatPortList(r.ports) });
}

/**
 * Builds the fix for an audit result: Security Group rules for what the groups miss, NACL entries for
 * each blocked packet path, routes for unrouted addresses, and always the on-premises firewall request.
 * Rules cover exactly the missing blocks, one per port range and CIDR, never more than the requirement.
 */
export function remediate(
  result: AuditResult,
  vantage: AuditVantage,
  requirement: AuditRequirement,
  context: RemediationContext,
): Remediation {
  const { securityGroups, networkAcl, routes } = result.layers;
  const groupId = vantage.securityGroupIds[0];
  const firewallRequest = firewallRequestOf(requirement, context.vantageCidrs);
  return {
    ...(securityGroups.length > 0 && groupId !== undefined
      ? { securityGroup: securityGroupFix(groupId, requirement, securityGroups, context.label) }
      : {}),
    ...(networkAcl && (networkAcl.request.length > 0 || networkAcl.return.length > 0)
      ? {
          networkAcl: networkAclFix(networkAcl.networkAclId, requirement, networkAcl, context.networkAcl),
        }
      : {}),
    ...(routes && routes.missing.length > 0
      ? { routes: routeFix(result, routes.routeTableId, routes.missing, requirement, context) }
      : {}),
    onPremFirewall: firewallRequestLine(firewallRequest),
    firewallRequest,
  };
}

/** The change set of several remediations (the structured parts of each, merged). */
function changeSetOf(remediations: readonly Remediation[]): ChangeSet {
  return buildChangeSet(remediations.map(toFix));
}

/** The structured part of a remediation, as the change set reads it. */
export function toFix(r: Remediation): Fix {
  return {
    ...(r.securityGroup
      ? {
          securityGroup: {
            groupId: r.securityGroup.groupId,
            direction: r.securityGroup.direction,
            permissions: r.securityGroup.permissions.map((p) => ({ ...p })),
          },
        }
      : {}),
    ...(r.networkAcl
      ? {
          networkAcl: {
            networkAclId: r.networkAcl.networkAclId,
            requested: [...r.networkAcl.requested],
            existing: [...r.networkAcl.existing],
          },
        }
      : {}),
    ...(r.routes ? { routes: { changes: [...r.routes.changes], questions: [...r.routes.questions] } } : {}),
    ...(r.firewallRequest ? { firewallRequest: r.firewallRequest } : {}),
  };
}

/**
 * The change set of an audit: the fixes of every result that is not allowed, merged. A result that names ids
 * the inventory lacks gets no fix (what was not seen is not known to be blocked). The CLI's `audit` and the
 * check runs (through the remediation stored in each finding) use this same rule.
 */
export function auditChangeSet(
  audits: ReadonlyArray<{ readonly result?: AuditResult; readonly remediation?: Remediation }>,
): ChangeSet {
  return changeSetOf(audits.flatMap((a) => (needsFix(a.result) && a.remediation ? [a.remediation] : [])));
}

/** Whether an audit result calls for a fix: fully seen, and not allowed. */
export function needsFix(result: AuditResult | undefined): boolean {
  return result !== undefined && result.status !== 'allowed' && result.unknown.length === 0;
}
