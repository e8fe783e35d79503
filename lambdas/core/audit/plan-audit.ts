import type { Environment, Vantage } from '../environment';
import type { Flow, Party, Plan } from '../plan';
import { createNatRoutes, type NatRoutes, prefixListLookup } from './evaluate';
import { type Remediation, remediate } from './remediation';
import type { AuditRequirement, AuditResult, AuditVantage, Inventory } from './types';

/** Evaluates one requirement for one vantage (see `createAuditor` in evaluate.ts). */
/** The ids an environment names; only these (and what their rules and associations reference) are read. */
export interface InventoryScope {
  readonly securityGroupIds: readonly string[];
  readonly subnetIds: readonly string[];
}

/** The ids an environment's vantages name: what the audit of its plan reads (CLI and auditor Lambda alike). */
export function inventoryScope(environment: Pick<Environment, 'vantages'>): InventoryScope {
  return {
    securityGroupIds: [...new Set(environment.vantages.flatMap((v) => v.securityGroupIds))],
    subnetIds: [...new Set(environment.vantages.flatMap((v) => v.subnetIds))],
  };
}

export interface Auditor {
  audit(vantage: AuditVantage, requirement: AuditRequirement): AuditResult;
}

/** Resolves a host name to its addresses (IPv4 and IPv6). */
export type Resolve = (host: string) => Promise<string[]>;

/** The static verdict of one flow at one end that is a vantage, in one of its subnets. */
export interface FlowAudit {
  readonly flowId: string;
  readonly requirements: readonly string[];
  readonly optional: boolean;
  /** The vantage whose Security Groups, NACL and routes were read. */
  readonly vantage: string;
  readonly subnetId?: string;
  readonly securityGroupIds: readonly string[];
  readonly requirement: AuditRequirement;
  readonly result?: AuditResult;
  readonly remediation?: Remediation;
  /** Why this end could not be audited (an unresolvable host, no Security Groups, …). */
  readonly problem?: string;
}

const hostCidr = (address: string) => (address.includes(':') ? `${address}/128` : `${address}/32`);

/** The CIDRs (IPv4 and IPv6) of the given subnets, as the inventory's subnets record them. */
export function subnetCidrs(subnetIds: readonly string[], inventory: Inventory): string[] {
  return subnetIds.flatMap((id) => {
    const subnet = inventory.subnets.find((s) => s.SubnetId === id);
    if (!subnet) return [];
    return [
      ...(subnet.CidrBlock ? [subnet.CidrBlock] : []),
      ...(subnet.Ipv6CidrBlockAssociationSet ?? []).flatMap((a) =>
        a.Ipv6CidrBlock ? [a.Ipv6CidrBlock] : [],
      ),
    ];
  });
}

/** The CIDRs of a vantage's subnets, from the inventory's subnets. */
export function vantageCidrs(v: Vantage, inventory: Inventory): string[] {
  return subnetCidrs(v.subnetIds, inventory);
}

/** The audit's NAT gateway rule over an inventory (what a route fix judges a NAT gateway target by). */
function natRoutesOf(inventory: Inventory): NatRoutes {
  const prefixList = prefixListLookup(inventory);
  return createNatRoutes(inventory, (id) => prefixList(id)?.cidrs);
}

/**
 * Audits one requirement and builds its fix. The fix numbers NACL entries against the very ACL the
 * evaluation used (the subnet's own, or its VPC's default), and takes route targets from the very table.
 */
export function auditWithRemediation(
  auditor: Auditor,
  inventory: Inventory,
  vantage: AuditVantage,
  requirement: AuditRequirement,
  context: { readonly label: string; readonly vantageCidrs: readonly string[] },
): { result: AuditResult; remediation?: Remediation } {
  const result = auditor.audit(vantage, requirement);
  // Not audited: nothing is fixed until the missing exports are given (not seen is not blocked).
  if (result.status === 'not-audited') return { result };
  const aclId = result.layers.networkAcl?.networkAclId;
  const networkAcl =
    aclId !== undefined ? inventory.networkAcls.find((a) => a.NetworkAclId === aclId) : undefined;
  const tableId = result.layers.routes?.routeTableId;
  const routeTable =
    tableId !== undefined ? inventory.routeTables.find((t) => t.RouteTableId === tableId) : undefined;
  const remediation = remediate(result, vantage, requirement, {
    ...context,
    ...(networkAcl ? { networkAcl } : {}),
    ...(routeTable ? { routeTable } : {}),
    prefixLists: inventory.prefixLists,
    natRoutes: natRoutesOf(inventory),
  });
  return { result, remediation };
}

/**
 * Audits every flow of a plan that can be audited: the source vantage's outbound path (its Security
 * Groups, and per subnet its network ACL and routes) and, when the destination is a vantage, that
 * vantage's inbound path. One {@link FlowAudit} per flow, vantage and subnet; ends that cannot be
 * audited say why instead of disappearing.
 */
export async function auditPlan(
  p: Plan,
  env: Environment,
  inventory: Inventory,
  auditor: Auditor,
  resolve: Resolve,
): Promise<FlowAudit[]> {
  const vantages = new Map(env.vantages.map((v) => [v.name, v]));
  const resolved = new Map<string, Promise<string[]>>();
  const cidrsOf = async (party: Party): Promise<{ cidrs: string[]; problem?: string }> => {
    if (party.kind === 'vantage') {
      const v = vantages.get(party.vantage);
      const cidrs = v ? vantageCidrs(v, inventory) : [];
      return cidrs.length > 0
        ? { cidrs }
        : {
            cidrs,
            problem:
              `the subnets of vantage ${party.vantage} are not in the inventory (no CIDRs to audit against); ` +
              `export: aws ec2 describe-subnets --subnet-ids ${v?.subnetIds.join(' ') || 'subnet-…'}`,
          };
    }
    if (party.kind === 'cidr') return { cidrs: [party.address] };
    if (party.kind === 'ip') return { cidrs: [hostCidr(party.address)] };
    let pending = resolved.get(party.address);
    if (!pending) {
      pending = resolve(party.address);
      resolved.set(party.address, pending);
    }
    try {
      const addresses = await pending;
      return addresses.length > 0
        ? { cidrs: [...new Set(addresses.map(hostCidr))] }
        : { cidrs: [], problem: `${party.address} resolved to no address` };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      return { cidrs: [], problem: `${party.address} did not resolve (${code})` };
    }
  };

  const out: FlowAudit[] = [];
  const auditEnd = (
    flow: Flow,
    vantageName: string,
    direction: 'egress' | 'ingress',
    peer: { cidrs: string[]; problem?: string },
  ) => {
    const v = vantages.get(vantageName);
    const base = {
      flowId: flow.id,
      requirements: flow.requirements,
      optional: flow.optional,
      vantage: vantageName,
      securityGroupIds: v?.securityGroupIds ?? [],
    };
    const requirement: AuditRequirement = {
      direction,
      protocol: flow.protocol,
      ports: flow.ports,
      cidrs: peer.cidrs,
    };
    const problem =
      peer.problem ??
      (!v || v.securityGroupIds.length === 0
        ? `vantage ${vantageName} names no securityGroupIds: nothing to audit`
        : undefined);
    if (problem !== undefined || !v) {
      out.push({ ...base, requirement, problem: problem ?? `vantage ${vantageName} is unknown` });
      return;
    }
    const subnets: Array<string | undefined> = v.subnetIds.length > 0 ? v.subnetIds : [undefined];
    for (const subnetId of subnets) {
      const vantage: AuditVantage = {
        securityGroupIds: v.securityGroupIds,
        ...(subnetId ? { subnetId } : {}),
      };
      const { result, remediation } = auditWithRemediation(auditor, inventory, vantage, requirement, {
        label: flow.requirements.join(' '),
        vantageCidrs: vantageCidrs(v, inventory),
      });
      out.push({
        ...base,
        ...(subnetId ? { subnetId } : {}),
        requirement,
        result,
        ...(remediation ? { remediation } : {}),
      });
    }
  };

  for (const flow of p.flows) {
    if (!flow.audit) continue;
    const destinationVantage = flow.destination.vantage;
    if (flow.source.kind === 'vantage')
      auditEnd(flow, flow.source.vantage, 'egress', await cidrsOf(flow.destination));
    if (destinationVantage !== undefined)
      auditEnd(flow, destinationVantage, 'ingress', await cidrsOf(flow.source));
  }
  return out;
}
