/**
 * The change set: every fix of a run (or of an audit) merged into one set that can be applied as it is.
 * Security Group rules are merged per group and direction; network ACL entries are numbered uniquely per
 * ACL and direction, never on a number the ACL already uses, each ahead of the first deny it must beat;
 * routes point at a target the table already uses, or are a question (never a placeholder in a command);
 * on-premises firewall requests are merged per source, destination and ports.
 *
 * Pure: it reads the structured parts of the per-finding remediation (see lambdas/core/audit/remediation.ts),
 * which the store keeps in each finding's detail, so a report computes the same change set as the audit did.
 */
import { z } from 'zod';
import { addressSetOf, addressSetsIntersect } from '../audit/addresses';
import { protocolScope } from '../audit/regions';
import type { IpPermission, NetworkAclEntry } from '../audit/types';
import { formatPortList, mergePortRanges, type PortRange } from '../ports';

// ---------------------------------------------------------------------------------------------------------------
// What a fix carries (the structured part of a remediation, as stored in a finding's detail)

const portRangeSchema = z.object({ From: z.number().int(), To: z.number().int() });

/** A network ACL entry to add, before it has a number. */
export const aclDraftSchema = z.object({
  Protocol: z.string(),
  RuleAction: z.literal('allow'),
  Egress: z.boolean(),
  CidrBlock: z.string().optional(),
  Ipv6CidrBlock: z.string().optional(),
  PortRange: portRangeSchema.optional(),
});
export type AclDraft = z.infer<typeof aclDraftSchema>;

const aclEntrySchema = z.object({
  RuleNumber: z.number().int(),
  Protocol: z.string(),
  RuleAction: z.enum(['allow', 'deny']),
  Egress: z.boolean(),
  CidrBlock: z.string().optional(),
  Ipv6CidrBlock: z.string().optional(),
  PortRange: portRangeSchema.optional(),
});

const permissionSchema = z.object({
  IpProtocol: z.string(),
  FromPort: z.number().int().optional(),
  ToPort: z.number().int().optional(),
  IpRanges: z.array(z.object({ CidrIp: z.string(), Description: z.string().optional() })).optional(),
  Ipv6Ranges: z.array(z.object({ CidrIpv6: z.string(), Description: z.string().optional() })).optional(),
});

/** A route to add (`create`) or to point elsewhere (`replace`, for a blackhole), with a known target. */
export const routeChangeSchema = z.object({
  action: z.enum(['create', 'replace']),
  routeTableId: z.string(),
  /** A CIDR block (IPv4 or IPv6) or a managed prefix list id (`pl-…`). */
  destination: z.string(),
  /** The target id the table already uses nearby (`tgw-…`, `vgw-…`, `pcx-…`, …). */
  target: z.string(),
});
export type RouteChange = z.infer<typeof routeChangeSchema>;

/** Addresses whose route target cannot be inferred from the table: a person must say where they go. */
export const routeQuestionSchema = z.object({
  routeTableId: z.string(),
  destination: z.string(),
  /** Whether the destination exists as a blackhole route (to replace) or is missing (to create). */
  action: z.enum(['create', 'replace']),
  /** The NAT gateway whose own subnet's table this is (it drops what the gateway sends on). */
  via: z.string().optional(),
  /** The target the table's routes point to nearby, which the audit says would not carry these addresses. */
  passedOver: z.object({ target: z.string(), why: z.string() }).optional(),
});
export type RouteQuestion = z.infer<typeof routeQuestionSchema>;

/** The request for the on-premises firewall team. */
export const firewallRequestSchema = z.object({
  protocol: z.enum(['tcp', 'udp']),
  /** CIDRs; empty when the vantage's subnets are not known (the request says so). */
  sources: z.array(z.string()),
  destinations: z.array(z.string()),
  ports: z.array(z.object({ from: z.number().int(), to: z.number().int() })),
});
export type FirewallRequest = z.infer<typeof firewallRequestSchema>;

/**
 * The structured part of one remediation: what the change set merges. Unknown fields are ignored, so the
 * whole per-finding remediation (with its rendered commands) can be given.
 */
export const fixSchema = z.object({
  securityGroup: z
    .object({
      groupId: z.string(),
      direction: z.enum(['egress', 'ingress']),
      permissions: z.array(permissionSchema),
    })
    .optional(),
  networkAcl: z
    .object({
      networkAclId: z.string(),
      /** The entries to add, unnumbered. */
      requested: z.array(aclDraftSchema),
      /** The ACL's entries as the audit read them: new numbers must avoid them and precede their denies. */
      existing: z.array(aclEntrySchema),
    })
    .optional(),
  routes: z
    .object({
      changes: z.array(routeChangeSchema),
      questions: z.array(routeQuestionSchema),
    })
    .optional(),
  firewallRequest: firewallRequestSchema.optional(),
});
export type Fix = z.infer<typeof fixSchema>;

/** Reads the fixes out of stored remediation details; parts of another shape (older records) are skipped. */
export function readFixes(remediations: readonly unknown[]): Fix[] {
  return remediations.flatMap((r) => {
    const parsed = fixSchema.safeParse(r);
    return parsed.success ? [parsed.data] : [];
  });
}

// ---------------------------------------------------------------------------------------------------------------
// The change set

/** One change to the AWS configuration, in the terms of the EC2 API. */
export type ChangeOperation =
  | {
      readonly action: 'authorize-security-group-egress' | 'authorize-security-group-ingress';
      readonly groupId: string;
      readonly permissions: readonly IpPermission[];
    }
  | {
      readonly action: 'create-network-acl-entry';
      readonly networkAclId: string;
      readonly entry: NetworkAclEntry;
    }
  | ({ readonly action: 'create-route' | 'replace-route' } & Omit<RouteChange, 'action'>);

/** Something the change set cannot decide alone; it is said, never turned into a guessed command. */
export type ChangeSetQuestion =
  | ({ readonly kind: 'route-target'; readonly text: string } & RouteQuestion)
  | {
      readonly kind: 'network-acl-room';
      readonly networkAclId: string;
      readonly entry: AclDraft;
      /** The rule number of the deny the entry must precede. */
      readonly before: number;
      readonly text: string;
    };

/** A firewall request as a table row. */
export interface FirewallRow {
  readonly protocol: 'tcp' | 'udp';
  readonly sources: string[];
  readonly destinations: string[];
  readonly ports: string;
  /** The row as one sentence: `permit tcp from A to B port 443 (and the replies)`. */
  readonly text: string;
}

export interface ChangeSet {
  /** Ordered: Security Group rules, then network ACL entries, then routes. */
  readonly operations: ChangeOperation[];
  /** The same operations as AWS CLI commands, in the same order (a script, one command a line). */
  readonly awsCli: string[];
  /** One CloudFormation template (YAML) with every resource; empty when there is nothing to add. */
  readonly cloudFormation: string;
  /** One CDK (TypeScript) snippet for a stack's constructor; empty when there is nothing to add. */
  readonly cdk: string;
  /** What a person must answer before the set is complete. */
  readonly questions: ChangeSetQuestion[];
  /** The on-premises firewall requests, merged. */
  readonly firewallRequests: FirewallRow[];
}

const RULE_NUMBER_MAX = 32766;
const IMPLICIT_DENY = 32767;

const isV6 = (cidr: string) => cidr.includes(':');
const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
const DESCRIPTION_PREFIX = 'preflight: ';

/** A rule description from the labels of the requirements it serves (AWS keeps 255 characters). */
export function ruleDescription(labels: readonly string[]): string {
  return `${DESCRIPTION_PREFIX}${labels.join(', ')}`.slice(0, 255);
}

const labelsOf = (description: string | undefined): string[] =>
  description === undefined
    ? []
    : (description.startsWith(DESCRIPTION_PREFIX)
        ? description.slice(DESCRIPTION_PREFIX.length)
        : description
      )
        .split(', ')
        .filter((s) => s !== '');

const sortText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

// ----- Security Groups ------------------------------------------------------------------------------------------

interface SgBlock {
  protocol: string;
  cidr: string;
  ranges: PortRange[];
  labels: Set<string>;
}

/** Merges rules per group and direction: per protocol and CIDR, their port ranges joined. */
function mergeSecurityGroups(fixes: readonly Fix[]): ChangeOperation[] {
  const groups = new Map<
    string,
    { groupId: string; direction: 'egress' | 'ingress'; blocks: Map<string, SgBlock> }
  >();
  for (const f of fixes) {
    const sg = f.securityGroup;
    if (!sg) continue;
    const gkey = `${sg.groupId}|${sg.direction}`;
    const group = groups.get(gkey) ?? { groupId: sg.groupId, direction: sg.direction, blocks: new Map() };
    groups.set(gkey, group);
    for (const p of sg.permissions) {
      const range = { from: p.FromPort ?? 0, to: p.ToPort ?? 65535 };
      const peers = [
        ...(p.IpRanges ?? []).map((r) => ({ cidr: r.CidrIp, d: r.Description })),
        ...(p.Ipv6Ranges ?? []).map((r) => ({ cidr: r.CidrIpv6, d: r.Description })),
      ];
      for (const { cidr, d } of peers) {
        const bkey = `${p.IpProtocol}|${cidr}`;
        const block = group.blocks.get(bkey) ?? {
          protocol: p.IpProtocol,
          cidr,
          ranges: [],
          labels: new Set(),
        };
        block.ranges.push(range);
        for (const l of labelsOf(d)) block.labels.add(l);
        group.blocks.set(bkey, block);
      }
    }
  }
  const out: ChangeOperation[] = [];
  for (const g of [...groups.values()].sort((a, b) =>
    sortText(`${a.groupId}|${a.direction}`, `${b.groupId}|${b.direction}`),
  )) {
    // One permission per protocol and port range, holding every CIDR that needs exactly that range.
    const perms = new Map<
      string,
      { protocol: string; range: PortRange; peers: Array<{ cidr: string; desc: string }> }
    >();
    for (const b of g.blocks.values()) {
      const desc = ruleDescription([...b.labels].sort(sortText));
      for (const range of mergePortRanges(b.ranges)) {
        const key = `${b.protocol}|${range.from}|${range.to}`;
        const perm = perms.get(key) ?? { protocol: b.protocol, range, peers: [] };
        perm.peers.push({ cidr: b.cidr, desc });
        perms.set(key, perm);
      }
    }
    const permissions: IpPermission[] = [...perms.values()]
      .sort(
        (a, b) => sortText(a.protocol, b.protocol) || a.range.from - b.range.from || a.range.to - b.range.to,
      )
      .map(({ protocol, range, peers }) => {
        const sorted = [...peers].sort((a, b) => sortText(a.cidr, b.cidr));
        const v4 = sorted.filter((p) => !isV6(p.cidr));
        const v6 = sorted.filter((p) => isV6(p.cidr));
        return {
          IpProtocol: protocol,
          FromPort: range.from,
          ToPort: range.to,
          ...(v4.length > 0 ? { IpRanges: v4.map((p) => ({ CidrIp: p.cidr, Description: p.desc })) } : {}),
          ...(v6.length > 0
            ? { Ipv6Ranges: v6.map((p) => ({ CidrIpv6: p.cidr, Description: p.desc })) }
            : {}),
        };
      });
    if (permissions.length === 0) continue;
    out.push({
      action:
        g.direction === 'egress' ? 'authorize-security-group-egress' : 'authorize-security-group-ingress',
      groupId: g.groupId,
      permissions,
    });
  }
  return out;
}

// ----- Network ACLs ---------------------------------------------------------------------------------------------

const PROTOCOL_NAMES: Record<string, string> = { '6': 'tcp', '17': 'udp' };

function cidrOf(e: { CidrBlock?: string | undefined; Ipv6CidrBlock?: string | undefined }): string {
  return e.CidrBlock ?? e.Ipv6CidrBlock ?? '';
}

/** A deny entry of an ACL, read once: what it matches. */
interface CompiledDeny {
  readonly ruleNumber: number;
  readonly egress: boolean;
  readonly scope: ReturnType<typeof protocolScope>;
  readonly from: number;
  readonly to: number;
  /** Undefined when the block cannot be read: it is then taken to match every address (the safe answer). */
  readonly addresses: ReturnType<typeof addressSetOf> | undefined;
}

function compileDenies(existing: readonly NetworkAclEntry[]): CompiledDeny[] {
  return existing
    .filter((e) => e.RuleAction === 'deny' && e.RuleNumber < IMPLICIT_DENY)
    .map((e) => {
      // Protocols as the evaluator reads them (`6`, `tcp` and `TCP` are one protocol; `-1` is all of them).
      const scope = protocolScope(e.Protocol);
      let addresses: CompiledDeny['addresses'];
      try {
        addresses = addressSetOf([cidrOf(e)]);
      } catch {
        addresses = undefined;
      }
      return {
        ruleNumber: e.RuleNumber,
        egress: e.Egress,
        scope,
        from: scope === 'all' ? 0 : (e.PortRange?.From ?? 0),
        to: scope === 'all' ? 65535 : (e.PortRange?.To ?? 65535),
        addresses,
      };
    })
    .sort((a, b) => a.ruleNumber - b.ruleNumber);
}

/**
 * The rule number of the first deny of the ACL that matches part of the entry (same direction, protocol,
 * ports and addresses): the new allow must come before it. The implicit final deny when none does.
 */
function firstMatchingDeny(denies: readonly CompiledDeny[], entry: AclDraft): number {
  let addresses: ReturnType<typeof addressSetOf> | undefined;
  try {
    addresses = addressSetOf([cidrOf(entry)]);
  } catch {
    addresses = undefined;
  }
  const scope = protocolScope(entry.Protocol);
  for (const d of denies) {
    if (d.egress !== entry.Egress) continue;
    if (d.scope !== 'all' && d.scope !== scope) continue;
    if (entry.PortRange && (d.from > entry.PortRange.To || d.to < entry.PortRange.From)) continue;
    if (d.addresses && addresses && !addressSetsIntersect(d.addresses, addresses)) continue;
    return d.ruleNumber;
  }
  return IMPLICIT_DENY;
}

/** Rule numbers in use in one direction of an ACL, kept sorted. */
class NumbersInUse {
  private readonly sorted: number[];
  private readonly set: Set<number>;
  constructor(numbers: Iterable<number>) {
    this.set = new Set(numbers);
    this.sorted = [...this.set].sort((a, b) => a - b);
  }
  has(n: number): boolean {
    return this.set.has(n);
  }
  /** The highest number in use below `limit`, or 0. */
  highestBelow(limit: number): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.sorted[mid] as number) < limit) lo = mid + 1;
      else hi = mid;
    }
    return lo > 0 ? (this.sorted[lo - 1] as number) : 0;
  }
  add(n: number): void {
    this.set.add(n);
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.sorted[mid] as number) < n) lo = mid + 1;
      else hi = mid;
    }
    this.sorted.splice(lo, 0, n);
  }
}

/**
 * Numbers new entries of one ACL. Each gets the next ten after the highest number in use ahead of its deny
 * in its direction (the ACL's own numbering), or else the highest free number just below the deny; a
 * number is never reused and nothing that exists is renumbered. An entry with no free number ahead of its
 * deny is returned unplaced.
 */
export function numberAclEntries(
  existing: readonly NetworkAclEntry[],
  drafts: readonly AclDraft[],
): { placed: NetworkAclEntry[]; unplaced: Array<{ entry: AclDraft; before: number }> } {
  const denies = compileDenies(existing);
  const inUse = {
    true: new NumbersInUse(existing.filter((e) => e.Egress).map((e) => e.RuleNumber)),
    false: new NumbersInUse(existing.filter((e) => !e.Egress).map((e) => e.RuleNumber)),
  };
  const withLimits = drafts
    .map((entry) => ({ entry, limit: firstMatchingDeny(denies, entry) }))
    .sort((a, b) => a.limit - b.limit);
  const placed: NetworkAclEntry[] = [];
  const unplaced: Array<{ entry: AclDraft; before: number }> = [];
  for (const { entry, limit } of withLimits) {
    const taken = inUse[`${entry.Egress}`];
    const free = (n: number) => n >= 1 && n <= RULE_NUMBER_MAX && n < limit && !taken.has(n);
    let n = (Math.floor(taken.highestBelow(limit) / 10) + 1) * 10;
    if (!free(n)) {
      n = Math.min(limit, RULE_NUMBER_MAX + 1) - 1;
      while (n >= 1 && !free(n)) n--;
    }
    if (n < 1) {
      unplaced.push({ entry, before: limit });
      continue;
    }
    taken.add(n);
    placed.push({ RuleNumber: n, ...entry });
  }
  return { placed, unplaced };
}

function describeAclEntry(e: AclDraft): string {
  const protocol = PROTOCOL_NAMES[e.Protocol] ?? `protocol ${e.Protocol}`;
  const ports = e.PortRange
    ? ` port ${formatPortList([{ from: e.PortRange.From, to: e.PortRange.To }])}`
    : '';
  return `${e.Egress ? 'outbound' : 'inbound'} allow ${protocol}${ports} ${e.Egress ? 'to' : 'from'} ${cidrOf(e)}`;
}

/** Merges entries per ACL and direction (port ranges joined per protocol and CIDR), then numbers them. */
function mergeNetworkAcls(fixes: readonly Fix[]): {
  operations: ChangeOperation[];
  questions: ChangeSetQuestion[];
} {
  const acls = new Map<
    string,
    { existing: Map<string, NetworkAclEntry>; blocks: Map<string, { draft: AclDraft; ranges: PortRange[] }> }
  >();
  for (const f of fixes) {
    const n = f.networkAcl;
    if (!n) continue;
    const acl = acls.get(n.networkAclId) ?? { existing: new Map(), blocks: new Map() };
    acls.set(n.networkAclId, acl);
    for (const e of n.existing) acl.existing.set(`${e.Egress}:${e.RuleNumber}`, e);
    for (const d of n.requested) {
      const key = `${d.Egress}|${d.Protocol}|${cidrOf(d)}`;
      const block = acl.blocks.get(key) ?? { draft: d, ranges: [] };
      block.ranges.push(
        d.PortRange ? { from: d.PortRange.From, to: d.PortRange.To } : { from: 0, to: 65535 },
      );
      acl.blocks.set(key, block);
    }
  }
  const operations: ChangeOperation[] = [];
  const questions: ChangeSetQuestion[] = [];
  for (const [networkAclId, acl] of [...acls].sort(([a], [b]) => sortText(a, b))) {
    const drafts: AclDraft[] = [...acl.blocks.values()].flatMap(({ draft, ranges }) =>
      mergePortRanges(ranges).map((r) => {
        const { PortRange: _ignored, ...rest } = draft;
        return { ...rest, PortRange: { From: r.from, To: r.to } };
      }),
    );
    const { placed, unplaced } = numberAclEntries([...acl.existing.values()], drafts);
    for (const entry of placed.sort(
      (a, b) => Number(b.Egress) - Number(a.Egress) || a.RuleNumber - b.RuleNumber,
    ))
      operations.push({ action: 'create-network-acl-entry', networkAclId, entry });
    for (const { entry, before } of unplaced)
      questions.push({
        kind: 'network-acl-room',
        networkAclId,
        entry,
        before,
        text:
          `no free rule number before rule ${before} in ${networkAclId} for ${describeAclEntry(entry)}: ` +
          `renumber its ${entry.Egress ? 'outbound' : 'inbound'} rules to make room, then add the entry ahead of rule ${before}`,
      });
  }
  return { operations, questions };
}

// ----- Routes ---------------------------------------------------------------------------------------------------

/** Merges route changes per table and destination; a destination given two different targets is asked. */
function mergeRoutes(fixes: readonly Fix[]): {
  operations: ChangeOperation[];
  questions: ChangeSetQuestion[];
} {
  const changes = new Map<string, RouteChange[]>();
  const asked = new Map<string, RouteQuestion>();
  for (const f of fixes) {
    for (const c of f.routes?.changes ?? []) {
      const key = `${c.routeTableId}|${c.destination}`;
      const list = changes.get(key) ?? [];
      if (!list.some((x) => x.target === c.target && x.action === c.action)) list.push(c);
      changes.set(key, list);
    }
    for (const q of f.routes?.questions ?? []) asked.set(`${q.routeTableId}|${q.destination}`, q);
  }
  const operations: ChangeOperation[] = [];
  for (const [key, list] of [...changes].sort(([a], [b]) => sortText(a, b))) {
    const [only, ...others] = list;
    if (!only) continue;
    if (others.length > 0) {
      asked.set(key, { routeTableId: only.routeTableId, destination: only.destination, action: only.action });
      continue;
    }
    asked.delete(key);
    operations.push({
      action: only.action === 'create' ? 'create-route' : 'replace-route',
      routeTableId: only.routeTableId,
      destination: only.destination,
      target: only.target,
    });
  }
  const questions: ChangeSetQuestion[] = [...asked.values()]
    .sort((a, b) => sortText(`${a.routeTableId}|${a.destination}`, `${b.routeTableId}|${b.destination}`))
    .map((q) => ({
      kind: 'route-target',
      ...q,
      text: routeQuestionText(q, changes.get(`${q.routeTableId}|${q.destination}`)),
    }));
  return { operations, questions };
}

function routeQuestionText(q: RouteQuestion, conflicting: readonly RouteChange[] | undefined): string {
  const table = q.via !== undefined ? `${q.routeTableId} (the table of ${q.via}’s subnet)` : q.routeTableId;
  const what =
    q.action === 'replace'
      ? `the blackhole route ${q.destination} in ${q.routeTableId} must be replaced`
      : `${q.destination} has no usable route in ${q.routeTableId}`;
  if (conflicting && conflicting.length > 1)
    return `Which target should ${q.destination} use in ${table}? The findings disagree (${conflicting.map((c) => c.target).join(' or ')}).`;
  const way =
    q.passedOver !== undefined
      ? `the table’s routes nearby point to ${q.passedOver.target}, which would not carry it (${q.passedOver.why}), and no other route shows the way`
      : 'no route of the table covers or neighbours it to show the way';
  return (
    `Which gateway reaches ${q.destination} from ${table}? ${what[0]?.toUpperCase()}${what.slice(1)}, and ` +
    `${way}: point it at the transit gateway or virtual private gateway your VPN or Direct Connect uses.`
  );
}

/** The AWS CLI option that names a route target, from the target id's prefix. */
export function routeTargetOption(target: string): string {
  if (target.startsWith('arn:')) return '--core-network-arn';
  const prefix = target.slice(0, target.indexOf('-') + 1);
  switch (prefix) {
    case 'tgw-':
      return '--transit-gateway-id';
    case 'pcx-':
      return '--vpc-peering-connection-id';
    case 'nat-':
      return '--nat-gateway-id';
    case 'eni-':
      return '--network-interface-id';
    case 'i-':
      return '--instance-id';
    case 'lgw-':
      return '--local-gateway-id';
    case 'cagw-':
      return '--carrier-gateway-id';
    case 'eigw-':
      return '--egress-only-internet-gateway-id';
    case 'vpce-':
      // A Gateway Load Balancer endpoint: describe-route-tables shows it as a GatewayId, but it is set so.
      return '--vpc-endpoint-id';
    default:
      return '--gateway-id'; // vgw-, igw-
  }
}

const ROUTE_TARGET_PROPERTY: Record<string, string> = {
  '--core-network-arn': 'CoreNetworkArn',
  '--transit-gateway-id': 'TransitGatewayId',
  '--vpc-peering-connection-id': 'VpcPeeringConnectionId',
  '--nat-gateway-id': 'NatGatewayId',
  '--network-interface-id': 'NetworkInterfaceId',
  '--instance-id': 'InstanceId',
  '--local-gateway-id': 'LocalGatewayId',
  '--carrier-gateway-id': 'CarrierGatewayId',
  '--egress-only-internet-gateway-id': 'EgressOnlyInternetGatewayId',
  '--vpc-endpoint-id': 'VpcEndpointId',
  '--gateway-id': 'GatewayId',
};

/** The property of an EC2 `Route` (API and CloudFormation alike) that holds this target. */
export function routeTargetProperty(target: string): string {
  return ROUTE_TARGET_PROPERTY[routeTargetOption(target)] ?? 'GatewayId';
}

function destinationOption(destination: string): string {
  if (destination.startsWith('pl-')) return '--destination-prefix-list-id';
  return isV6(destination) ? '--destination-ipv6-cidr-block' : '--destination-cidr-block';
}

function destinationProperty(destination: string): string {
  if (destination.startsWith('pl-')) return 'DestinationPrefixListId';
  return isV6(destination) ? 'DestinationIpv6CidrBlock' : 'DestinationCidrBlock';
}

// ----- Firewall requests ----------------------------------------------------------------------------------------

const UNKNOWN_SOURCE = 'the vantage subnets’ CIDRs (not in the inventory)';

/** The request as one sentence. */
export function firewallRequestText(r: {
  protocol: string;
  sources: readonly string[];
  destinations: readonly string[];
  ports: string;
}): string {
  const list = (cidrs: readonly string[]) => (cidrs.length > 0 ? cidrs.join(',') : UNKNOWN_SOURCE);
  return `permit ${r.protocol} from ${list(r.sources)} to ${list(r.destinations)} port ${r.ports} (and the replies)`;
}

/**
 * Merges requests exactly: identical ones once; the same source and destination with their ports joined;
 * then the same source and ports with their destinations joined. Each step only unites rows that differ in
 * one field, so the rows permit exactly the union of the requests.
 */
function mergeFirewall(fixes: readonly Fix[]): FirewallRow[] {
  const list = (xs: readonly string[]) => [...new Set(xs)].sort(sortText);
  const bySourceAndDestination = new Map<
    string,
    { protocol: 'tcp' | 'udp'; sources: string[]; destinations: string[]; ports: PortRange[] }
  >();
  for (const f of fixes) {
    const r = f.firewallRequest;
    if (!r) continue;
    const sources = list(r.sources);
    const destinations = list(r.destinations);
    const key = JSON.stringify([r.protocol, sources, destinations]);
    const row = bySourceAndDestination.get(key) ?? { protocol: r.protocol, sources, destinations, ports: [] };
    row.ports.push(...r.ports);
    bySourceAndDestination.set(key, row);
  }
  const bySourceAndPorts = new Map<
    string,
    { protocol: 'tcp' | 'udp'; sources: string[]; destinations: string[]; ports: string }
  >();
  for (const row of bySourceAndDestination.values()) {
    const ports = formatPortList(mergePortRanges(row.ports));
    const key = JSON.stringify([row.protocol, row.sources, ports]);
    const merged = bySourceAndPorts.get(key) ?? {
      protocol: row.protocol,
      sources: row.sources,
      destinations: [],
      ports,
    };
    merged.destinations = list([...merged.destinations, ...row.destinations]);
    bySourceAndPorts.set(key, merged);
  }
  return [...bySourceAndPorts.values()]
    .sort((a, b) =>
      sortText(
        JSON.stringify([a.sources, a.destinations, a.protocol]),
        JSON.stringify([b.sources, b.destinations, b.protocol]),
      ),
    )
    .map((r) => ({ ...r, text: firewallRequestText(r) }));
}

// ----- Rendering ------------------------------------------------------------------------------------------------

/** One operation as an AWS CLI command. */
export function awsCliCommand(op: ChangeOperation): string {
  switch (op.action) {
    case 'authorize-security-group-egress':
    case 'authorize-security-group-ingress':
      return `aws ec2 ${op.action} --group-id ${op.groupId} --ip-permissions ${shellQuote(JSON.stringify(op.permissions))}`;
    case 'create-network-acl-entry': {
      const e = op.entry;
      const cidr =
        e.Ipv6CidrBlock !== undefined
          ? `--ipv6-cidr-block ${e.Ipv6CidrBlock}`
          : `--cidr-block ${e.CidrBlock}`;
      const ports = e.PortRange ? ` --port-range From=${e.PortRange.From},To=${e.PortRange.To}` : '';
      return (
        `aws ec2 create-network-acl-entry --network-acl-id ${op.networkAclId} --rule-number ${e.RuleNumber} ` +
        `--protocol ${e.Protocol} --rule-action ${e.RuleAction} ${e.Egress ? '--egress' : '--ingress'} ${cidr}${ports}`
      );
    }
    case 'create-route':
    case 'replace-route':
      return (
        `aws ec2 ${op.action} --route-table-id ${op.routeTableId} ${destinationOption(op.destination)} ${op.destination} ` +
        `${routeTargetOption(op.target)} ${op.target}`
      );
  }
}

const yamlString = (s: string) => JSON.stringify(s);

function cloudFormationOf(operations: readonly ChangeOperation[]): string {
  if (operations.length === 0) return '';
  const resources: string[] = [];
  const comments: string[] = [];
  let sg = 0;
  let acl = 0;
  let route = 0;
  for (const op of operations) {
    switch (op.action) {
      case 'authorize-security-group-egress':
      case 'authorize-security-group-ingress': {
        const egress = op.action === 'authorize-security-group-egress';
        for (const p of op.permissions) {
          const peers = [
            // Both resource types name the peer CidrIp / CidrIpv6 (there is no DestinationCidrIp).
            ...(p.IpRanges ?? []).map((r) => ({
              key: 'CidrIp',
              cidr: r.CidrIp,
              d: r.Description,
            })),
            ...(p.Ipv6Ranges ?? []).map((r) => ({
              key: 'CidrIpv6',
              cidr: r.CidrIpv6,
              d: r.Description,
            })),
          ];
          for (const peer of peers) {
            sg++;
            resources.push(
              [
                `  Preflight${egress ? 'Egress' : 'Ingress'}${sg}:`,
                `    Type: AWS::EC2::SecurityGroup${egress ? 'Egress' : 'Ingress'}`,
                '    Properties:',
                `      GroupId: ${op.groupId}`,
                `      IpProtocol: ${p.IpProtocol}`,
                `      FromPort: ${p.FromPort}`,
                `      ToPort: ${p.ToPort}`,
                `      ${peer.key}: ${peer.cidr}`,
                ...(peer.d !== undefined ? [`      Description: ${yamlString(peer.d)}`] : []),
              ].join('\n'),
            );
          }
        }
        break;
      }
      case 'create-network-acl-entry': {
        const e = op.entry;
        acl++;
        resources.push(
          [
            `  PreflightAclEntry${acl}:`,
            '    Type: AWS::EC2::NetworkAclEntry',
            '    Properties:',
            `      NetworkAclId: ${op.networkAclId}`,
            `      RuleNumber: ${e.RuleNumber}`,
            `      Protocol: ${e.Protocol}`,
            `      RuleAction: ${e.RuleAction}`,
            `      Egress: ${e.Egress}`,
            e.Ipv6CidrBlock !== undefined
              ? `      Ipv6CidrBlock: ${e.Ipv6CidrBlock}`
              : `      CidrBlock: ${e.CidrBlock}`,
            ...(e.PortRange
              ? ['      PortRange:', `        From: ${e.PortRange.From}`, `        To: ${e.PortRange.To}`]
              : []),
          ].join('\n'),
        );
        break;
      }
      case 'create-route':
        route++;
        resources.push(
          [
            `  PreflightRoute${route}:`,
            '    Type: AWS::EC2::Route',
            '    Properties:',
            `      RouteTableId: ${op.routeTableId}`,
            `      ${destinationProperty(op.destination)}: ${op.destination}`,
            `      ${routeTargetProperty(op.target)}: ${op.target}`,
          ].join('\n'),
        );
        break;
      case 'replace-route':
        // CloudFormation cannot change a route it did not create: the CLI command does it.
        comments.push(
          `# Not expressible here: ${op.routeTableId}'s blackhole route ${op.destination} is replaced with: ${awsCliCommand(op)}`,
        );
        break;
    }
  }
  return (
    [
      "AWSTemplateFormatVersion: '2010-09-09'",
      'Description: preflight change set',
      ...comments,
      ...(resources.length > 0 ? ['Resources:', ...resources] : []),
    ].join('\n') + '\n'
  );
}

const cdkId = (s: string) => s.replace(/[^A-Za-z0-9]/g, '');

function cdkOf(operations: readonly ChangeOperation[]): string {
  if (operations.length === 0) return '';
  const lines: string[] = [];
  const declared = new Set<string>();
  let acl = 0;
  let route = 0;
  for (const op of operations) {
    switch (op.action) {
      case 'authorize-security-group-egress':
      case 'authorize-security-group-ingress': {
        const egress = op.action === 'authorize-security-group-egress';
        const name = `sg${cdkId(op.groupId.slice(3))}`;
        if (!declared.has(name) && declared.add(name))
          // allowAllOutbound: false, or CDK silently drops egress rules added to an imported group.
          lines.push(
            `const ${name} = ec2.SecurityGroup.fromSecurityGroupId(this, 'Preflight${cdkId(op.groupId)}', '${op.groupId}', { allowAllOutbound: false, mutable: true });`,
          );
        for (const p of op.permissions) {
          const port =
            p.FromPort === p.ToPort
              ? `ec2.Port.${p.IpProtocol}(${p.FromPort})`
              : `ec2.Port.${p.IpProtocol}Range(${p.FromPort}, ${p.ToPort})`;
          const peers = [
            ...(p.IpRanges ?? []).map((r) => ({ peer: `ec2.Peer.ipv4('${r.CidrIp}')`, d: r.Description })),
            ...(p.Ipv6Ranges ?? []).map((r) => ({
              peer: `ec2.Peer.ipv6('${r.CidrIpv6}')`,
              d: r.Description,
            })),
          ];
          for (const { peer, d } of peers)
            lines.push(
              `${name}.${egress ? 'addEgressRule' : 'addIngressRule'}(${peer}, ${port}${d !== undefined ? `, ${JSON.stringify(d)}` : ''});`,
            );
        }
        break;
      }
      case 'create-network-acl-entry': {
        const e = op.entry;
        acl++;
        lines.push(
          `new ec2.CfnNetworkAclEntry(this, 'PreflightAclEntry${acl}', { networkAclId: '${op.networkAclId}', ` +
            `ruleNumber: ${e.RuleNumber}, protocol: ${Number(e.Protocol)}, ruleAction: '${e.RuleAction}', egress: ${e.Egress}, ` +
            `${e.Ipv6CidrBlock !== undefined ? `ipv6CidrBlock: '${e.Ipv6CidrBlock}'` : `cidrBlock: '${e.CidrBlock}'`}` +
            `${e.PortRange ? `, portRange: { from: ${e.PortRange.From}, to: ${e.PortRange.To} }` : ''} });`,
        );
        break;
      }
      case 'create-route': {
        route++;
        const prop = (s: string) => `${s[0]?.toLowerCase()}${s.slice(1)}`;
        lines.push(
          `new ec2.CfnRoute(this, 'PreflightRoute${route}', { routeTableId: '${op.routeTableId}', ` +
            `${prop(destinationProperty(op.destination))}: '${op.destination}', ${prop(routeTargetProperty(op.target))}: '${op.target}' });`,
        );
        break;
      }
      case 'replace-route':
        lines.push(
          `// ${op.routeTableId}'s blackhole route ${op.destination}: CDK cannot change it; run: ${awsCliCommand(op)}`,
        );
        break;
    }
  }
  return lines.join('\n');
}

/**
 * Merges fixes into one change set. Order: Security Group rules (per group and direction), network ACL
 * entries (per ACL, outbound first, by rule number), routes. The same fixes always give the same set.
 */
export function buildChangeSet(fixes: readonly Fix[]): ChangeSet {
  const acls = mergeNetworkAcls(fixes);
  const routes = mergeRoutes(fixes);
  const operations = [...mergeSecurityGroups(fixes), ...acls.operations, ...routes.operations];
  return {
    operations,
    awsCli: operations.map(awsCliCommand),
    cloudFormation: cloudFormationOf(operations),
    cdk: cdkOf(operations),
    questions: [...acls.questions, ...routes.questions],
    firewallRequests: mergeFirewall(fixes),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The JSON form (in reports and the OpenAPI document)

/** The change set as JSON: `awsCli` is the contract (ordered command strings); the rest details it. */
export const changeSetSchema = z
  .object({
    operations: z.array(z.looseObject({ action: z.string() })),
    awsCli: z.array(z.string()),
    cloudFormation: z.string(),
    cdk: z.string(),
    questions: z.array(z.looseObject({ kind: z.string(), text: z.string() })),
    firewallRequests: z.array(
      z
        .object({
          protocol: z.enum(['tcp', 'udp']),
          sources: z.array(z.string()),
          destinations: z.array(z.string()),
          ports: z.string(),
          text: z.string(),
        })
        .strict(),
    ),
  })
  .strict();

/** The change set of stored findings: each finding's `detail.remediation` (a list), merged. */
export function changeSetOfDetails(details: readonly unknown[]): ChangeSet {
  return buildChangeSet(
    readFixes(
      details.flatMap((d) => {
        const list =
          d !== null && typeof d === 'object' ? (d as { remediation?: unknown }).remediation : undefined;
        return Array.isArray(list) ? list : [];
      }),
    ),
  );
}
