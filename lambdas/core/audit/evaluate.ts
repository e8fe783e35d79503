/**
 * The static audit: one requirement of one vantage, judged layer by layer (Security Groups, then with a
 * subnet its network ACL and route table) by exact set arithmetic over ports × addresses. Pure: the
 * inventory is data, nothing here calls AWS or touches files.
 */
import type { PortRange } from '../ports';
import { type AddressSet, type Cidr, cidrSet, EMPTY_ADDRESSES, parseCidr, unionAddresses } from './addresses';
import {
  type CompiledNetworkAcl,
  compileNetworkAcl,
  EPHEMERAL_PORTS,
  evaluateNetworkAcl,
  findSubnetNetworkAcl,
  subnetAddresses,
} from './network-acls';
import {
  addNotEvaluated,
  missingNatGateway,
  missingNatRoutes,
  missingNetworkAcl,
  missingRouteTable,
  missingSecurityGroup,
  unknownGroupMembers,
} from './not-evaluated';
import {
  auditStatus,
  type AuditNeed,
  EMPTY_REGION,
  type Region,
  regionOf,
  regionsEqual,
  subtractRegions,
  toMissingBlocks,
  unionRegions,
} from './regions';
import {
  type CompiledRouteTable,
  compileRouteTable,
  evaluateRoutes,
  findSubnetRouteTable,
  type NatFollower,
  type NatVerdict,
  routeAddresses,
} from './routes';
import {
  createSecurityGroupCache,
  evaluateSecurityGroups,
  InventoryValueError,
  memberAddresses,
  type PeerResolver,
} from './security-groups';
import type {
  AuditRequirement,
  AuditResult,
  AuditVantage,
  DecidedBy,
  Inventory,
  MissingBlock,
  NatGateway,
  NetworkInterface,
  NotEvaluated,
  RouteTable,
  SecurityGroup,
} from './types';

/** Raised when a requirement cannot be audited: a malformed CIDR, a port out of range, an unknown direction… */
export class AuditRequirementError extends Error {
  override readonly name = 'AuditRequirementError';
  constructor(
    readonly field: string,
    readonly value: unknown,
    readonly reason: string,
  ) {
    super(`${field}: ${JSON.stringify(value)} ${reason}`);
  }
}

/**
 * Validates a requirement and compiles it into the sets the layers evaluate.
 * @throws AuditRequirementError naming the field and the value received.
 */
export function compileRequirement(requirement: AuditRequirement): AuditNeed {
  const { direction, protocol, ports, cidrs } = requirement;
  if (direction !== 'egress' && direction !== 'ingress')
    throw new AuditRequirementError('requirement.direction', direction, 'is not "egress" or "ingress"');
  if (protocol !== 'tcp' && protocol !== 'udp')
    throw new AuditRequirementError('requirement.protocol', protocol, 'is not "tcp" or "udp"');
  if (!Array.isArray(ports) || ports.length === 0)
    throw new AuditRequirementError('requirement.ports', ports, 'is empty; give at least one port range');
  ports.forEach((r, i) => {
    const ok =
      Number.isInteger(r?.from) && Number.isInteger(r?.to) && r.from >= 1 && r.to <= 65535 && r.from <= r.to;
    if (!ok)
      throw new AuditRequirementError(
        `requirement.ports[${i}]`,
        r,
        'is not a port range; ports run from 1 to 65535, with from ≤ to',
      );
  });
  if (!Array.isArray(cidrs) || cidrs.length === 0)
    throw new AuditRequirementError(
      'requirement.cidrs',
      cidrs,
      'is empty; give at least one peer CIDR block',
    );
  let addresses = EMPTY_ADDRESSES;
  cidrs.forEach((text, i) => {
    let cidr: Cidr;
    try {
      cidr = parseCidr(String(text));
    } catch (err) {
      throw new AuditRequirementError(
        `requirement.cidrs[${i}]`,
        text,
        `is not usable: ${(err as Error).message}`,
      );
    }
    addresses = unionAddresses(addresses, cidrSet(cidr));
  });
  const region = regionOf(ports, addresses);
  return { direction, protocol, ports: region.map((s) => ({ from: s.from, to: s.to })), addresses, region };
}

/** Tuning of the audit. */
export interface AuditorOptions {
  /**
   * The ports replies are sent to, checked on the NACL return path.
   * @default - 1024-65535, the range AWS recommends opening for replies
   */
  readonly ephemeralPorts?: PortRange;
}

/** Audits requirements against one inventory. */
export interface Auditor {
  /**
   * The static verdict of one requirement for one vantage.
   * @throws AuditRequirementError when the requirement is malformed.
   * @throws InventoryValueError when a part of the inventory it reads holds a malformed CIDR.
   */
  audit(vantage: AuditVantage, requirement: AuditRequirement): AuditResult;
}

/** What a subnet contributes: its ACL and route table, compiled once. */
interface SubnetContext {
  readonly acl: CompiledNetworkAcl | undefined;
  readonly routes: CompiledRouteTable | undefined;
  /** The subnet's own addresses, which its ACL does not filter. */
  readonly local: AddressSet;
  readonly vpcId: string | undefined;
}

const NAT_INTERFACE = /^Interface for NAT Gateway (nat-[0-9a-f]+)$/;

/**
 * A NAT gateway by id: from a `describe-nat-gateways` export, else from its network interface
 * (`InterfaceType` `nat_gateway`, described `Interface for NAT Gateway nat-…`; an Elastic IP on it makes it
 * public, its absence private).
 */
export function findNatGateway(inventory: Inventory, natGatewayId: string): NatGateway | undefined {
  const listed = inventory.natGateways?.get(natGatewayId);
  if (listed) return listed;
  const eni = inventory.networkInterfaces.find(
    (e) => e.InterfaceType === 'nat_gateway' && NAT_INTERFACE.exec(e.Description ?? '')?.[1] === natGatewayId,
  );
  if (!eni) return undefined;
  return {
    NatGatewayId: natGatewayId,
    ...(eni.SubnetId !== undefined ? { SubnetId: eni.SubnetId } : {}),
    ...(eni.VpcId !== undefined ? { VpcId: eni.VpcId } : {}),
    ConnectivityType: eni.Association?.PublicIp !== undefined ? 'public' : 'private',
  };
}

/** The VPC of a subnet, from the subnets, else the ACL or route table associations, else its interfaces. */
function subnetVpc(inventory: Inventory, subnetId: string): string | undefined {
  const named = (
    list: ReadonlyArray<{ VpcId?: string; Associations?: ReadonlyArray<{ SubnetId?: string }> }>,
  ) =>
    list.find((x) => x.VpcId !== undefined && (x.Associations ?? []).some((a) => a.SubnetId === subnetId))
      ?.VpcId;
  return (
    inventory.subnets.find((s) => s.SubnetId === subnetId)?.VpcId ??
    named(inventory.networkAcls) ??
    named(inventory.routeTables) ??
    inventory.networkInterfaces.find((e) => e.SubnetId === subnetId && e.VpcId !== undefined)?.VpcId
  );
}

/** Groups every interface under each of its groups (no parsing: addresses are read per group on demand). */
function interfacesByGroup(interfaces: readonly NetworkInterface[]): Map<string, NetworkInterface[]> {
  const out = new Map<string, NetworkInterface[]>();
  for (const eni of interfaces)
    for (const g of eni.Groups ?? []) {
      const list = out.get(g.GroupId);
      if (list) list.push(eni);
      else out.set(g.GroupId, [eni]);
    }
  return out;
}

/** A NAT gateway's own subnet table, compiled, or what the inventory lacks to find it. */
export type NatTable =
  | {
      readonly table: CompiledRouteTable;
      /** The table as the inventory holds it (a fix takes its route targets from it). */
      readonly routeTable: RouteTable;
      readonly privateNat: boolean;
    }
  | { readonly unknown: NotEvaluated };

/** How the audit follows NAT gateways: each one's own subnet table, compiled once per gateway. */
export interface NatRoutes {
  readonly table: (natGatewayId: string) => NatTable;
  /** One hop: a NAT gateway's own table that sends the traffic to a NAT gateway again is not followed. */
  readonly follow: NatFollower;
}

/**
 * Follows NAT gateways through an inventory: the auditor's rule, shared with the fixes (a route the change
 * set proposes to a NAT gateway is judged by where that gateway sends the traffic).
 * @param prefixList - the parsed entries of a managed prefix list, or undefined when the inventory lacks it.
 */
export function createNatRoutes(
  inventory: Inventory,
  prefixList: (id: string) => readonly Cidr[] | undefined,
): NatRoutes {
  const tables = new Map<string, NatTable>();
  const table = (natId: string): NatTable => {
    let entry = tables.get(natId);
    if (entry === undefined) {
      const nat = findNatGateway(inventory, natId);
      if (nat?.SubnetId === undefined) entry = { unknown: missingNatGateway(natId) };
      else {
        const vpcId = nat.VpcId ?? subnetVpc(inventory, nat.SubnetId);
        const found = findSubnetRouteTable(inventory.routeTables, nat.SubnetId, vpcId);
        entry = found
          ? {
              table: compileRouteTable(found.table, found.mainTable, prefixList, natId),
              routeTable: found.table,
              privateNat: nat.ConnectivityType === 'private',
            }
          : { unknown: missingNatRoutes(natId, nat.SubnetId, vpcId) };
      }
      tables.set(natId, entry);
    }
    return entry;
  };
  const follow: NatFollower = (natId, addresses, need): NatVerdict => {
    const entry = table(natId);
    if ('unknown' in entry)
      return { denied: EMPTY_ADDRESSES, undecided: addresses, decidedBy: [], unknown: [entry.unknown] };
    return routeAddresses(entry.table, addresses, need, undefined, entry.privateNat);
  };
  return { table, follow };
}

/**
 * A lookup of the inventory's managed prefix lists, parsed on first use.
 * @throws InventoryValueError (on use) when an entry is not a CIDR block.
 */
export function prefixListLookup(
  inventory: Inventory,
): (id: string) => { cidrs: Cidr[]; set: AddressSet } | undefined {
  const prefixLists = new Map<string, { cidrs: Cidr[]; set: AddressSet } | undefined>();
  return (id) => {
    if (!prefixLists.has(id)) {
      const entries = inventory.prefixLists.get(id);
      const cidrs = entries?.map((text, i) => {
        try {
          return parseCidr(text);
        } catch (err) {
          const field = `prefixLists[${JSON.stringify(id)}][${i}]`;
          throw new InventoryValueError(field, text, `is not a CIDR block (${(err as Error).message})`);
        }
      });
      const set = cidrs?.reduce((acc, c) => unionAddresses(acc, cidrSet(c)), EMPTY_ADDRESSES);
      prefixLists.set(id, cidrs && set && { cidrs, set });
    }
    return prefixLists.get(id);
  };
}

/**
 * Creates an auditor over an inventory. What it reads is resolved on first use and kept: a rule's peers
 * (its CIDRs parsed, prefix lists and group members looked up), prefix lists, group members, and each
 * subnet's ACL and route table. Auditing many requirements against many groups therefore costs little
 * more than the matching itself.
 */
export function createAuditor(inventory: Inventory, options: AuditorOptions = {}): Auditor {
  const ephemeral = options.ephemeralPorts ?? EPHEMERAL_PORTS;
  const prefixList = prefixListLookup(inventory);
  const members = new Map<string, AddressSet | undefined>();
  const subnets = new Map<string, SubnetContext>();
  const groupCache = createSecurityGroupCache();
  let byGroup: Map<string, NetworkInterface[]> | undefined;

  const interfacesRead = inventory.networkInterfacesRead !== false;
  const resolver: PeerResolver = {
    prefixList: (id) => prefixList(id)?.set,
    groupMembers: (id) => {
      // With no interfaces exported at all, no group's membership is known: not even an empty one.
      if (!interfacesRead) return { unknown: unknownGroupMembers(id) };
      if (!members.has(id)) {
        byGroup ??= interfacesByGroup(inventory.networkInterfaces);
        const enis = byGroup.get(id);
        // A group no interface names is empty when the inventory knows the group, unknown otherwise.
        const known = enis !== undefined || inventory.securityGroups.has(id);
        members.set(id, known ? memberAddresses(id, enis ?? []) : undefined);
      }
      const addresses = members.get(id);
      return addresses ? { addresses } : { unknown: missingSecurityGroup(id) };
    },
  };
  const subnet = (subnetId: string): SubnetContext => {
    let ctx = subnets.get(subnetId);
    if (!ctx) {
      const vpcId = subnetVpc(inventory, subnetId);
      const acl = findSubnetNetworkAcl(inventory.networkAcls, subnetId);
      const table = findSubnetRouteTable(inventory.routeTables, subnetId, vpcId);
      ctx = {
        acl: acl && compileNetworkAcl(acl),
        routes: table && compileRouteTable(table.table, table.mainTable, (id) => prefixList(id)?.cidrs),
        local: subnetAddresses(inventory.subnets.find((s) => s.SubnetId === subnetId)),
        vpcId,
      };
      subnets.set(subnetId, ctx);
    }
    return ctx;
  };
  const nat = createNatRoutes(inventory, (id) => prefixList(id)?.cidrs);

  return {
    audit(vantage, requirement) {
      const need = compileRequirement(requirement);
      // Layers often leave the same region (the whole need, or nothing): list each one's blocks once.
      const listed = new Map<Region, MissingBlock[]>();
      const blocks = (r: Region) => {
        let out = listed.get(r);
        if (out === undefined) listed.set(r, (out = toMissingBlocks(r, need.protocol)));
        return out;
      };
      const notEvaluated: NotEvaluated[] = [];
      const groups: SecurityGroup[] = [];
      for (const id of vantage.securityGroupIds) {
        const g = inventory.securityGroups.get(id);
        if (g) groups.push(g);
        else addNotEvaluated(notEvaluated, missingSecurityGroup(id));
      }
      const sg = evaluateSecurityGroups(groups, need, resolver, groupCache);
      sg.unknown.forEach((u) => addNotEvaluated(notEvaluated, u));
      // A group of the interface the inventory lacks could allow whatever the others leave.
      const sgMissing = groups.length < vantage.securityGroupIds.length ? EMPTY_REGION : sg.missing;
      let undecided =
        groups.length < vantage.securityGroupIds.length
          ? unionRegions(sg.missing, sg.undecided)
          : sg.undecided;
      let missing = sgMissing;
      const decidedBy: DecidedBy[] = [...sg.decidedBy];
      const layers: { -readonly [K in keyof AuditResult['layers']]: AuditResult['layers'][K] } = {
        securityGroups: blocks(sgMissing),
      };
      if (vantage.subnetId !== undefined) {
        const ctx = subnet(vantage.subnetId);
        if (ctx.acl) {
          const acl = evaluateNetworkAcl(ctx.acl, need, ephemeral, ctx.local);
          missing = unionRegions(missing, acl.missing);
          decidedBy.push(...acl.decidedBy);
          layers.networkAcl = {
            networkAclId: acl.networkAclId,
            request: blocks(acl.request),
            return: blocks(acl.return),
          };
        } else {
          addNotEvaluated(notEvaluated, missingNetworkAcl(vantage.subnetId));
          undecided = need.region;
        }
        if (ctx.routes) {
          const routes = evaluateRoutes(ctx.routes, need, nat.follow);
          missing = unionRegions(missing, routes.missing);
          undecided = unionRegions(undecided, routes.undecided);
          decidedBy.push(...routes.decidedBy);
          routes.unknown.forEach((u) => addNotEvaluated(notEvaluated, u));
          layers.routes = { routeTableId: routes.routeTableId, missing: blocks(routes.missing) };
        } else {
          addNotEvaluated(notEvaluated, missingRouteTable(vantage.subnetId, ctx.vpcId));
          undecided = need.region;
          layers.routes = { routeTableId: undefined, missing: [] };
        }
      }
      // What is seen to drop is missing whatever the unseen pieces hold; the rest they could still drop.
      if (undecided.length > 0 && missing.length > 0) undecided = subtractRegions(undecided, missing);
      // The union is often the whole need or one layer's own region: reuse its blocks then.
      if (regionsEqual(missing, need.region)) missing = need.region;
      else if (regionsEqual(missing, sg.missing)) missing = sg.missing;
      return {
        status: auditStatus(missing, undecided, need.region),
        missing: blocks(missing),
        layers,
        decidedBy,
        unknown: [...new Set(notEvaluated.map((u) => u.id))],
        notEvaluated,
        undecided: blocks(undecided),
      };
    },
  };
}
