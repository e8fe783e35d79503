/**
 * The route rule: the subnet's route table sends each peer address along its longest matching route; on
 * equal prefixes a static route wins over a prefix-list route, which wins over a propagated one (the VPC
 * guide's "How route priority works"). Routes are matched as an exact partition of the peer's addresses (a
 * /16 peer may be split across several routes). A `blackhole` route, no route at all, an internet gateway
 * (or egress-only one) towards private addresses, or an egress-only internet gateway or a NAT gateway for an
 * inbound flow drops the traffic. Outbound, a NAT gateway sends the traffic on along the route table of its
 * own subnet (followed by the caller); `local` and every other target (virtual private gateway, transit
 * gateway, peering, interface, …) carries it, and the verdict names it. Both directions of a flow use the
 * same routes here: replies to an ingress peer need a route back too.
 */
import {
  type AddressSet,
  addressSetOf,
  addressSetsIntersect,
  type Cidr,
  cidrSet,
  EMPTY_ADDRESSES,
  intersectAddresses,
  isEmptyAddressSet,
  parseCidr,
  subtractAddresses,
  unionAddresses,
} from './addresses';
import { addNotEvaluated, missingPrefixList, unfollowedNatGateway } from './not-evaluated';
import { type AuditNeed, type LayerVerdict, regionOf, statusOf } from './regions';
import { InventoryValueError } from './security-groups';
import type { DecidedBy, NotEvaluated, Route, RouteTable } from './types';

/** Addresses no internet gateway can reach: RFC 1918, shared address space (RFC 6598) and ULA (RFC 4193). */
export const PRIVATE_ADDRESSES: AddressSet = addressSetOf([
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '100.64.0.0/10',
  'fc00::/7',
]);

/** Why a route drops traffic. */
export const ROUTE_DENIALS = {
  blackhole: 'blackhole',
  noRoute: 'no route',
  privateViaInternet: 'internet gateway cannot reach private addresses',
  inboundViaEgressOnly: 'egress-only internet gateway admits no inbound connections',
  inboundViaNat: 'NAT gateway admits no inbound connections',
  internetViaPrivateNat: 'a private NAT gateway cannot use an internet gateway',
} as const;

/** How a route's target treats the traffic it carries. */
type TargetKind = 'blackhole' | 'internet' | 'egress-only' | 'nat' | 'carries';

/** Route priority on equal prefixes: static, then prefix list, then propagated (VPC guide). */
export const ROUTE_RANK = { static: 0, prefixList: 1, propagated: 2 } as const;

/** One destination of a route table (a prefix-list route gives one per list entry). */
export interface CompiledRoute {
  /** The route's destination as the API shows it: a CIDR block or a prefix list id. */
  readonly destination: string;
  readonly addresses: AddressSet;
  readonly prefixLength: number;
  /** Ties on prefix length: static (0) beats prefix list (1), which beats propagated (2); see ROUTE_RANK. */
  readonly rank: number;
  readonly target: string | undefined;
  readonly kind: TargetKind;
  /** What the verdict says when this route allows, or denies for each reason it can (built once). */
  readonly decided: RouteDecisions;
}

/** The verdict's words for one route: built once per route, shared by a prefix list's entries. */
export interface RouteDecisions {
  readonly allows: DecidedBy;
  readonly denies: ReadonlyMap<string, DecidedBy>;
}

function routeDecisions(
  routeTableId: string,
  mainTable: boolean,
  destination: string,
  target: string | undefined,
  via: string | undefined,
): RouteDecisions {
  const base = {
    layer: 'route',
    routeTableId,
    mainTable,
    destination,
    ...(target ? { target } : {}),
    ...(via ? { via } : {}),
  } as const;
  const denies = new Map<string, DecidedBy>(
    Object.values(ROUTE_DENIALS).map((reason) => [reason, { ...base, effect: 'denies', reason }]),
  );
  return { allows: { ...base, effect: 'allows' }, denies };
}

/** A route table ready for longest-prefix matching: destinations, most specific first. */
export interface CompiledRouteTable {
  readonly routeTableId: string;
  /** True when the table applies as its VPC's main table, not through an association of the subnet's own. */
  readonly mainTable: boolean;
  readonly routes: readonly CompiledRoute[];
  /** Prefix lists its routes name that the inventory lacks: any address could be theirs. */
  readonly unknown: readonly NotEvaluated[];
  /** What the verdict says of addresses no route matches. */
  readonly noRoute: DecidedBy;
}

/**
 * The table that applies to a subnet: the one explicitly associated with it, else its VPC's main table.
 * Undefined when neither is in the inventory.
 */
export function findSubnetRouteTable(
  tables: readonly RouteTable[],
  subnetId: string,
  vpcId: string | undefined,
): { table: RouteTable; mainTable: boolean } | undefined {
  const own = tables.find((t) => (t.Associations ?? []).some((a) => a.SubnetId === subnetId));
  if (own) return { table: own, mainTable: false };
  if (vpcId === undefined) return undefined;
  const main = tables.find((t) => t.VpcId === vpcId && (t.Associations ?? []).some((a) => a.Main === true));
  return main && { table: main, mainTable: true };
}

/** The route's target id as the console shows it (`local`, `igw-…`, `tgw-…`, a core network ARN, …). */
export function routeTarget(route: Route): string | undefined {
  return (
    route.GatewayId ??
    route.NatGatewayId ??
    route.TransitGatewayId ??
    route.VpcPeeringConnectionId ??
    route.LocalGatewayId ??
    route.CarrierGatewayId ??
    route.EgressOnlyInternetGatewayId ??
    route.CoreNetworkArn ??
    route.InstanceId ??
    route.NetworkInterfaceId
  );
}

function targetKind(route: Route, target: string | undefined): TargetKind {
  if (route.State?.toLowerCase() === 'blackhole') return 'blackhole';
  if (target?.startsWith('igw-')) return 'internet';
  if (route.EgressOnlyInternetGatewayId !== undefined || target?.startsWith('eigw-')) return 'egress-only';
  if (route.NatGatewayId !== undefined || target?.startsWith('nat-')) return 'nat';
  return 'carries';
}

function parsed(text: string, field: string): Cidr {
  try {
    return parseCidr(text);
  } catch (err) {
    throw new InventoryValueError(field, text, `is not a CIDR block (${(err as Error).message})`);
  }
}

/**
 * Compiles a table for longest-prefix matching; prefix-list routes expand to one destination per entry,
 * each with its own prefix length.
 * @param prefixList - the entries of a managed prefix list, or undefined when the inventory lacks it.
 * @param via - the NAT gateway whose subnet this table serves, when it is followed from another table.
 * @throws InventoryValueError when a route holds a malformed CIDR.
 */
export function compileRouteTable(
  table: RouteTable,
  mainTable: boolean,
  prefixList: (id: string) => readonly Cidr[] | undefined,
  via?: string,
): CompiledRouteTable {
  const routes: CompiledRoute[] = [];
  const unknown: NotEvaluated[] = [];
  (table.Routes ?? []).forEach((route, i) => {
    const field = `routeTables[${JSON.stringify(table.RouteTableId)}].Routes[${i}]`;
    const target = routeTarget(route);
    const kind = targetKind(route, target);
    const destination =
      route.DestinationCidrBlock ?? route.DestinationIpv6CidrBlock ?? route.DestinationPrefixListId ?? '';
    const decided = routeDecisions(table.RouteTableId, mainTable, destination, target, via);
    const cidrRank = route.Origin === 'EnableVgwRoutePropagation' ? ROUTE_RANK.propagated : ROUTE_RANK.static;
    const cidrText = route.DestinationCidrBlock ?? route.DestinationIpv6CidrBlock;
    if (cidrText !== undefined) {
      const key =
        route.DestinationCidrBlock !== undefined ? 'DestinationCidrBlock' : 'DestinationIpv6CidrBlock';
      const cidr = parsed(cidrText, `${field}.${key}`);
      routes.push({
        destination: cidrText,
        addresses: cidrSet(cidr),
        prefixLength: cidr.prefixLength,
        rank: cidrRank,
        target,
        kind,
        decided,
      });
    } else if (route.DestinationPrefixListId !== undefined) {
      const entries = prefixList(route.DestinationPrefixListId);
      if (entries === undefined) addNotEvaluated(unknown, missingPrefixList(route.DestinationPrefixListId));
      for (const cidr of entries ?? [])
        routes.push({
          destination: route.DestinationPrefixListId,
          addresses: cidrSet(cidr),
          prefixLength: cidr.prefixLength,
          rank: ROUTE_RANK.prefixList,
          target,
          kind,
          decided,
        });
    }
  });
  routes.sort((a, b) => b.prefixLength - a.prefixLength || a.rank - b.rank);
  const noRoute: DecidedBy = {
    layer: 'route',
    routeTableId: table.RouteTableId,
    mainTable,
    destination: 'none',
    effect: 'denies',
    reason: ROUTE_DENIALS.noRoute,
    ...(via ? { via } : {}),
  };
  return { routeTableId: table.RouteTableId, mainTable, routes, unknown, noRoute };
}

/**
 * Where a NAT gateway sends what reaches it: the route table of its own subnet, judged for the addresses
 * that reach it (the caller follows the gateway; a gateway or table the inventory lacks leaves them undecided).
 */
export type NatFollower = (natGatewayId: string, addresses: AddressSet, need: AuditNeed) => NatVerdict;

/** What a NAT gateway's own routes make of the addresses sent to it. */
export interface NatVerdict {
  readonly denied: AddressSet;
  readonly undecided: AddressSet;
  readonly decidedBy: readonly DecidedBy[];
  readonly unknown: readonly NotEvaluated[];
}

/** Splits what a route carries into what its target delivers and what it drops, with the words for each. */
function judgeRoute(
  route: CompiledRoute,
  hit: AddressSet,
  direction: 'egress' | 'ingress',
  privateNat: boolean,
): Array<[DecidedBy, AddressSet]> {
  const { allows, denies } = route.decided;
  const denial = (reason: string) => denies.get(reason) as DecidedBy;
  switch (route.kind) {
    case 'blackhole':
      return [[denial(ROUTE_DENIALS.blackhole), hit]];
    case 'nat':
      // A NAT gateway translates connections made from behind it; it accepts none from outside.
      return direction === 'ingress' ? [[denial(ROUTE_DENIALS.inboundViaNat), hit]] : [[allows, hit]];
    case 'egress-only':
    case 'internet':
      // Outbound, an egress-only gateway is an internet gateway for IPv6; inbound it admits nothing.
      if (route.kind === 'egress-only' && direction === 'ingress')
        return [[denial(ROUTE_DENIALS.inboundViaEgressOnly), hit]];
      if (privateNat && route.kind === 'internet')
        return [[denial(ROUTE_DENIALS.internetViaPrivateNat), hit]];
      return [
        [denial(ROUTE_DENIALS.privateViaInternet), intersectAddresses(hit, PRIVATE_ADDRESSES)],
        [allows, subtractAddresses(hit, PRIVATE_ADDRESSES)],
      ];
    default:
      return [[allows, hit]];
  }
}

/** The route layer's verdict on a need, naming the table. */
export interface RouteVerdict extends LayerVerdict {
  readonly routeTableId: string;
}

/** The addresses a table drops and those it leaves undecided, with the words for each. */
export interface RouteAddresses {
  readonly denied: AddressSet;
  readonly undecided: AddressSet;
  readonly decidedBy: readonly DecidedBy[];
  readonly unknown: readonly NotEvaluated[];
}

/**
 * Partitions addresses by longest prefix match (then route priority) and judges each part by its route's
 * target. A table that names a prefix list the inventory lacks decides nothing: any address could belong
 * to that list's entries, with any prefix length.
 * @param nat - follows a NAT gateway target; without it, what a NAT gateway receives is undecided.
 * @param privateNat - true for the table of a private NAT gateway's subnet (an internet gateway drops it).
 */
export function routeAddresses(
  table: CompiledRouteTable,
  addresses: AddressSet,
  need: AuditNeed,
  nat: NatFollower | undefined,
  privateNat = false,
): RouteAddresses {
  if (table.unknown.length > 0)
    return { denied: EMPTY_ADDRESSES, undecided: addresses, decidedBy: [], unknown: table.unknown };
  let remaining = addresses;
  let denied = EMPTY_ADDRESSES;
  let undecided = EMPTY_ADDRESSES;
  const decidedBy: DecidedBy[] = [];
  const unknown: NotEvaluated[] = [];
  for (const route of table.routes) {
    if (isEmptyAddressSet(remaining)) break;
    if (!addressSetsIntersect(remaining, route.addresses)) continue;
    const hit = intersectAddresses(remaining, route.addresses);
    remaining = subtractAddresses(remaining, hit);
    for (const [decision, part] of judgeRoute(route, hit, need.direction, privateNat)) {
      if (isEmptyAddressSet(part)) continue;
      if (decision.effect === 'denies') denied = unionAddresses(denied, part);
      if (!decidedBy.includes(decision)) decidedBy.push(decision);
      if (route.kind === 'nat' && decision.effect === 'allows') {
        if (nat === undefined || route.target === undefined) {
          undecided = unionAddresses(undecided, part);
          if (route.target !== undefined) addNotEvaluated(unknown, unfollowedNatGateway(route.target));
          continue;
        }
        const next = nat(route.target, part, need);
        denied = unionAddresses(denied, next.denied);
        undecided = unionAddresses(undecided, next.undecided);
        for (const d of next.decidedBy) if (!decidedBy.includes(d)) decidedBy.push(d);
        for (const u of next.unknown) addNotEvaluated(unknown, u);
      }
    }
  }
  if (!isEmptyAddressSet(remaining)) {
    denied = unionAddresses(denied, remaining);
    decidedBy.push(table.noRoute);
  }
  return { denied, undecided, decidedBy, unknown };
}

/**
 * The route rule: partitions the peer addresses by longest prefix match and judges each part by its
 * route's target, following NAT gateways through `nat`. What it denies is missing on every requirement
 * port; what a missing piece could decide is undecided.
 */
export function evaluateRoutes(table: CompiledRouteTable, need: AuditNeed, nat?: NatFollower): RouteVerdict {
  const r = routeAddresses(table, need.addresses, need, nat);
  const missing = regionOf(need.ports, r.denied);
  return {
    status: statusOf(missing, need.region),
    missing,
    decidedBy: r.decidedBy,
    unknown: r.unknown,
    undecided: regionOf(need.ports, r.undecided),
    routeTableId: table.routeTableId,
  };
}

/** Whether a proposed route would carry its addresses, and if not, why (in the audit's words). */
export type RouteCarriage = { readonly carries: true } | { readonly carries: false; readonly why: string };

/**
 * Whether a route from a table to `target` would carry these addresses, judged by the route rule itself
 * (a fix proposes no route that would be dropped again): an internet gateway toward private addresses, an
 * egress-only internet gateway or a NAT gateway for an inbound flow drop them; a NAT gateway carries them
 * only as far as its own table does (followed through `nat`; without it, or when its table is not in the
 * inventory, nothing is known and the route is no fix).
 * @param privateNat - true when the table is a private NAT gateway's own (an internet gateway drops it).
 */
export function routeCarries(
  target: string,
  addresses: AddressSet,
  need: AuditNeed,
  nat: NatFollower | undefined,
  privateNat = false,
): RouteCarriage {
  const table = compileRouteTable(
    {
      RouteTableId: 'proposed',
      Routes: [
        { DestinationCidrBlock: '0.0.0.0/0', GatewayId: target, State: 'active' },
        { DestinationIpv6CidrBlock: '::/0', GatewayId: target, State: 'active' },
      ],
    },
    false,
    () => undefined,
  );
  const r = routeAddresses(table, addresses, need, nat, privateNat);
  const denial = r.decidedBy.find((d) => d.effect === 'denies');
  if (denial?.layer === 'route')
    return {
      carries: false,
      why:
        denial.via !== undefined
          ? `in its own subnet’s route table ${denial.routeTableId}: ${denial.reason ?? 'dropped'}`
          : (denial.reason ?? 'it drops them'),
    };
  if (!isEmptyAddressSet(r.undecided) || r.unknown.length > 0)
    return {
      carries: false,
      why:
        r.unknown.length > 0
          ? `where it sends them is not in the inventory, which lacks ${r.unknown.map((u) => u.id).join(', ')}`
          : 'where it sends them is not followed',
    };
  return { carries: true };
}
