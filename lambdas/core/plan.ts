import { createHash } from 'node:crypto';
import type { Catalog, Placement, Protocol, Requirement } from './catalog';
import { type AddressKind, classifyAddress, type Environment } from './environment';
import { countPorts, formatPortList, parsePortList, type PortRange } from './ports';

/** A flow's direction as seen from the target VPC. */
export type Direction = 'egress' | 'ingress' | 'intra-vpc' | 'outside';

/** One end of a flow: a vantage (subnets + Security Groups in the VPC) or an address of an endpoint role. */
export type Party =
  | { readonly kind: 'vantage'; readonly vantage: string; readonly roles: readonly string[] }
  | {
      readonly kind: AddressKind;
      /** Host name, IP address or CIDR block, as written in the environment. */
      readonly address: string;
      readonly roles: readonly string[];
      readonly placement: Placement;
      /** Set when the role is also placed on a vantage, so the audit can read that vantage's inbound rules. */
      readonly vantage?: string;
    };

/** A requirement made concrete, with how it will be checked. */
export interface Flow {
  /** Stable across runs for the same ends, protocol and ports. */
  readonly id: string;
  readonly direction: Direction;
  readonly source: Party;
  readonly destination: Party;
  readonly protocol: Protocol;
  readonly ports: readonly PortRange[];
  /** The catalog requirement ids (or `custom:<name>` for the environment's own flows) merged into this flow. */
  readonly requirements: readonly string[];
  readonly purposes: readonly string[];
  /** True only when every merged requirement is optional. */
  readonly optional: boolean;
  /** Probed live from the source vantage. */
  readonly probe: boolean;
  /** Audited statically against Security Groups, network ACLs and routes. */
  readonly audit: boolean;
  /** Why the flow is checked the way it is, in a sentence. */
  readonly why: string;
}

/** A requirement that produced no flow, and why. */
export interface Unplaced {
  readonly requirement: string;
  readonly profiles: readonly string[];
  readonly reason: string;
}

export interface Plan {
  readonly environment: string;
  readonly profiles: readonly string[];
  readonly flows: readonly Flow[];
  readonly unplaced: readonly Unplaced[];
  readonly excluded: readonly string[];
  readonly summary: {
    readonly flows: number;
    readonly probed: number;
    readonly auditOnly: number;
    readonly notCheckable: number;
    readonly unplaced: number;
    readonly excluded: number;
  };
}

/** A probe job for one vantage: each host with the union of its ports over the vantage's probed flows. */
export interface VantageTargets {
  readonly vantage: string;
  readonly targets: ReadonlyArray<{ readonly host: string; readonly ports: number[] }>;
}

function directionOf(from: Placement, to: Placement): Direction {
  if (from === 'cloud') return to === 'cloud' ? 'intra-vpc' : 'egress';
  return to === 'cloud' ? 'ingress' : 'outside';
}

function placementOf(party: Party): Placement {
  return party.kind === 'vantage' ? 'cloud' : party.placement;
}

function partyKey(p: Party): string {
  return p.kind === 'vantage' ? `vantage:${p.vantage}` : `${p.kind}:${p.address.toLowerCase()}`;
}

/** Describes a party for people: `vantage workers` or `10.20.0.5 (source-server)`. */
export function describeParty(p: Party): string {
  if (p.kind === 'vantage') return `vantage ${p.vantage}`;
  return p.roles.length > 0 ? `${p.address} (${p.roles.join(', ')})` : p.address;
}

function checksFor(
  source: Party,
  destination: Party,
  direction: Direction,
): Pick<Flow, 'probe' | 'audit' | 'why'> {
  if (direction === 'outside') {
    return { probe: false, audit: false, why: 'both ends are outside the VPC: not checkable from the VPC' };
  }
  if (source.kind === 'vantage') {
    if (destination.kind === 'vantage') {
      return { probe: false, audit: true, why: 'both ends are vantages with no address: audited only' };
    }
    if (destination.kind === 'cidr') {
      return {
        probe: false,
        audit: true,
        why: 'the destination is a CIDR block: audited only (list hosts to probe them)',
      };
    }
    return { probe: true, audit: true, why: `probed live from vantage ${source.vantage} and audited` };
  }
  const target = destination.vantage;
  if (target !== undefined) {
    return {
      probe: false,
      audit: true,
      why: `starts outside the vantages, so it cannot be probed from the VPC: audited against vantage ${target}'s inbound rules`,
    };
  }
  return {
    probe: false,
    audit: false,
    why: `neither end is a vantage: place ${source.roles.join('/')} or ${destination.roles.join('/')} on a vantage to check it`,
  };
}

function flowId(
  direction: Direction,
  source: Party,
  destination: Party,
  protocol: Protocol,
  ports: readonly PortRange[],
) {
  const key = [direction, partyKey(source), partyKey(destination), protocol, formatPortList(ports)].join('|');
  return `f-${createHash('sha256').update(key).digest('hex').slice(0, 16)}`;
}

interface Draft {
  source: Party;
  destination: Party;
  protocol: Protocol;
  ports: PortRange[];
  requirement: string;
  purpose: string;
  optional: boolean;
}

/**
 * Turns an environment and the catalog into flows: every requirement of the environment's profiles between
 * every placed source and destination, plus the environment's own flows. Flows with the same ends, protocol
 * and ports merge (their requirements and roles are listed together). A requirement whose roles are not all
 * placed is listed under `unplaced` with the reason; nothing is silently dropped.
 */
export function plan(env: Environment, catalog: Catalog): Plan {
  const excluded = new Set(env.exclude);
  const drafts: Draft[] = [];
  const unplaced: Unplaced[] = [];

  /** The vantages holding a role (or a more specific kind of it). */
  const vantagesFor = (roleId: string) => {
    const kinds = new Set(catalog.specializations(roleId));
    return env.vantages.filter((v) => v.roles.some((r) => kinds.has(r)));
  };
  /** The endpoint addresses of a role and its more specific kinds, each with the role it was listed under. */
  const endpointsFor = (roleId: string) =>
    catalog
      .specializations(roleId)
      .flatMap((kind) => (env.endpoints[kind] ?? []).map((address) => ({ kind, address })));

  const partiesFor = (roleId: string, as: 'source' | 'destination'): Party[] => {
    const vantages = vantagesFor(roleId);
    const addresses = endpointsFor(roleId);
    const vantageParties: Party[] = vantages.map((v) => ({
      kind: 'vantage',
      vantage: v.name,
      roles: [roleId],
    }));
    // A source on a vantage is probed from there; its addresses add nothing.
    if (as === 'source' && vantages.length > 0) return vantageParties;
    if (addresses.length === 0) return vantageParties;
    return addresses.map(({ kind, address }) => {
      const inVantage = vantagesFor(kind)[0]?.name;
      const role = catalog.role(kind);
      return {
        kind: classifyAddress(address) as AddressKind,
        address,
        roles: [kind],
        placement: inVantage !== undefined ? 'cloud' : (role?.placement ?? 'on-prem'),
        ...(inVantage !== undefined ? { vantage: inVantage } : {}),
      };
    });
  };

  const requirements = new Map<string, Requirement>();
  for (const profileId of env.profiles) {
    for (const req of catalog.profile(profileId)?.requirements ?? []) requirements.set(req.id, req);
  }
  for (const req of requirements.values()) {
    if (excluded.has(req.id)) continue;
    const profiles = req.profiles.filter((p) => env.profiles.includes(p));
    if (req.optional && !env.includeOptional) {
      unplaced.push({ requirement: req.id, profiles, reason: 'optional, and includeOptional is false' });
      continue;
    }
    const sources = partiesFor(req.from, 'source');
    const destinations = partiesFor(req.to, 'destination');
    const missing = [
      ...(sources.length === 0 ? [req.from] : []),
      ...(destinations.length === 0 && req.to !== req.from ? [req.to] : []),
    ];
    if (missing.length > 0) {
      unplaced.push({
        requirement: req.id,
        profiles,
        reason: missing.map((r) => `role ${r} is on no vantage and has no endpoints`).join('; '),
      });
      continue;
    }
    for (const source of sources) {
      for (const destination of destinations) {
        drafts.push({
          source,
          destination,
          protocol: req.protocol,
          ports: req.ports,
          requirement: req.id,
          purpose: req.purpose,
          optional: req.optional,
        });
      }
    }
  }

  for (const custom of env.flows) {
    const from = custom.from ?? env.vantages[0]?.name ?? '';
    for (const address of custom.to) {
      drafts.push({
        source: { kind: 'vantage', vantage: from, roles: [] },
        destination: {
          kind: classifyAddress(address) as AddressKind,
          address,
          roles: [],
          placement: custom.placement,
        },
        protocol: custom.protocol,
        ports: parsePortList(custom.ports),
        requirement: `custom:${custom.name}`,
        purpose: custom.purpose ?? `${custom.name} (your own flow)`,
        optional: false,
      });
    }
  }

  const flows = mergeDrafts(drafts);
  const probed = flows.filter((f) => f.probe).length;
  const notCheckable = flows.filter((f) => !f.probe && !f.audit).length;
  return {
    environment: env.name,
    profiles: env.profiles,
    flows,
    unplaced,
    excluded: [...excluded],
    summary: {
      flows: flows.length,
      probed,
      auditOnly: flows.length - probed - notCheckable,
      notCheckable,
      unplaced: unplaced.length,
      excluded: excluded.size,
    },
  };
}

const union = (a: readonly string[], b: readonly string[]) => [...new Set([...a, ...b])];

function mergeParty(a: Party, b: Party): Party {
  return { ...a, roles: union(a.roles, b.roles) };
}

function mergeDrafts(drafts: readonly Draft[]): Flow[] {
  const byKey = new Map<string, Flow>();
  for (const d of drafts) {
    const ports = formatPortList(d.ports);
    const key = [partyKey(d.source), partyKey(d.destination), d.protocol, ports].join('|');
    const existing = byKey.get(key);
    if (existing) {
      byKey.set(key, {
        ...existing,
        source: mergeParty(existing.source, d.source),
        destination: mergeParty(existing.destination, d.destination),
        requirements: union(existing.requirements, [d.requirement]),
        purposes: union(existing.purposes, [d.purpose]),
        optional: existing.optional && d.optional,
      });
      continue;
    }
    const direction = directionOf(placementOf(d.source), placementOf(d.destination));
    byKey.set(key, {
      id: flowId(direction, d.source, d.destination, d.protocol, d.ports),
      direction,
      source: d.source,
      destination: d.destination,
      protocol: d.protocol,
      ports: d.ports,
      requirements: [d.requirement],
      purposes: [d.purpose],
      optional: d.optional,
      ...checksFor(d.source, d.destination, direction),
    });
  }
  return [...byKey.values()];
}

/** Probed TCP flows grouped by `groupOf(flow)`: each group's hosts with the union of their ports. */
/** The vantage that probes a flow live and the address it connects to, or undefined when it is not probed. */
function probedBy(f: Flow): { vantage: string; address: string } | undefined {
  if (!f.probe || f.protocol !== 'tcp' || f.source.kind !== 'vantage' || f.destination.kind === 'vantage')
    return undefined;
  return { vantage: f.source.vantage, address: f.destination.address };
}

function collectTargets(
  p: Plan,
  groupOf: (vantage: string) => string,
): Map<string, VantageTargets['targets']> {
  const groups = new Map<string, Map<string, Set<number>>>();
  for (const f of p.flows) {
    const by = probedBy(f);
    if (!by) continue;
    const key = groupOf(by.vantage);
    const hosts = groups.get(key) ?? new Map<string, Set<number>>();
    groups.set(key, hosts);
    const ports = hosts.get(by.address) ?? new Set<number>();
    hosts.set(by.address, ports);
    for (const r of f.ports) for (let port = r.from; port <= r.to; port++) ports.add(port);
  }
  return new Map(
    [...groups].map(([key, hosts]) => [
      key,
      [...hosts].map(([host, ports]) => ({ host, ports: [...ports].sort((a, b) => a - b) })),
    ]),
  );
}

/** The probe jobs of a plan, one per vantage with at least one probed TCP flow. */
export function probeTargets(p: Plan): VantageTargets[] {
  return [...collectTargets(p, (vantage) => vantage)].map(([vantage, targets]) => ({ vantage, targets }));
}

/** Every probe target of a plan in one job, for a single machine standing in for all its vantages. */
export function probeTargetsFromHere(p: Plan): VantageTargets['targets'] {
  return collectTargets(p, () => 'here').get('here') ?? [];
}

/**
 * How many host:port pairs the plan's probe jobs hold, summed over vantages (each vantage probes its own), counted
 * from the ranges without listing the ports, so that an oversized plan is measured before anything is expanded.
 */
export function countProbePairs(p: Plan): number {
  const perTarget = new Map<string, PortRange[]>();
  for (const f of p.flows) {
    const by = probedBy(f);
    if (!by) continue;
    const key = `${by.vantage}\u0000${by.address}`;
    const ranges = perTarget.get(key) ?? [];
    ranges.push(...f.ports);
    perTarget.set(key, ranges);
  }
  let pairs = 0;
  for (const ranges of perTarget.values()) pairs += countPorts(ranges);
  return pairs;
}
