/**
 * The offline inventory: AWS CLI JSON exports (`aws ec2 describe-security-groups --output json > sgs.json`, …)
 * read, validated and merged into one {@link Inventory}. The live reader (lambdas/aws/ec2-inventory.ts) passes
 * the API's responses through the same validation, so both paths produce the same shapes.
 *
 * Validation is deliberately narrow: the fields the audit reads must have the right types (a port is a number, a
 * CIDR parses), every other field AWS prints (OwnerId, Tags, TagSet, Attachment, SecurityGroupArn, …) passes
 * through untouched, so real AWS output is never rejected.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { describeValue, formatIssues, formatPath } from '../errors';
import { JsonSyntaxError, parseJsonDocuments } from './json-documents';
import type {
  Inventory,
  IpPermission,
  NatGateway,
  NetworkAcl,
  NetworkInterface,
  RouteTable,
  SecurityGroup,
  Subnet,
} from './types';

/**
 * Raised when an inventory file cannot be read, is not valid JSON, does not validate, or disagrees with another
 * file. Each line of `problems` starts with the file it is about, e.g.
 * `sgs.json: SecurityGroups[3].IpPermissions[0].FromPort: expected number, got "x"`.
 */
export class InventoryError extends Error {
  override readonly name = 'InventoryError';
  constructor(readonly problems: readonly string[]) {
    super(
      problems.length === 1
        ? String(problems[0])
        : `${problems.length} problems in the inventory files:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
}

/** The top-level keys an export may carry, as the EC2 API (and so the AWS CLI) names them. */
export const INVENTORY_KEYS = [
  'SecurityGroups',
  'NetworkInterfaces',
  'NetworkAcls',
  'RouteTables',
  'Subnets',
  'Entries',
  'PrefixLists',
  'NatGateways',
  'SecurityGroupRules',
  'PrefixListId',
  'NextToken',
  'ResponseMetadata',
] as const;

/** Keys that carry no data: `PrefixListId`, `NextToken` or boto3's `ResponseMetadata` alone make no inventory. */
const NO_DATA_KEYS: readonly string[] = ['PrefixListId', 'NextToken', 'ResponseMetadata'];
const DATA_KEYS: readonly string[] = INVENTORY_KEYS.filter((k) => !NO_DATA_KEYS.includes(k));

/** Which AWS CLI command prints each data key, for error messages. */
const EXPORTED_BY: Readonly<Record<string, string>> = {
  SecurityGroups: 'describe-security-groups',
  NetworkInterfaces: 'describe-network-interfaces',
  NetworkAcls: 'describe-network-acls',
  RouteTables: 'describe-route-tables',
  Subnets: 'describe-subnets',
  Entries: 'get-managed-prefix-list-entries',
  PrefixLists: 'describe-prefix-lists',
  NatGateways: 'describe-nat-gateways',
  SecurityGroupRules: 'describe-security-group-rules',
};

/** Problems listed per file before the rest are summarised, so a wrong file does not flood the terminal. */
const MAX_PROBLEMS_PER_FILE = 20;

// ---------------------------------------------------------------------------------------------------------------
// Schemas: the fields the audit reads, each object loose so that AWS's other fields pass through.

const shown = (input: unknown) => describeValue(input);

function isCidr(text: string, family: 4 | 6): boolean {
  const slash = text.indexOf('/');
  if (slash <= 0) return false;
  const ip = text.slice(0, slash);
  const bits = text.slice(slash + 1);
  if (!(family === 4 ? isIPv4(ip) : isIPv6(ip)) || !/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

const cidr4 = z.string().refine((s) => isCidr(s, 4), {
  error: (iss) => `${shown(iss.input)} is not an IPv4 CIDR block (like 10.0.0.0/16)`,
});
const cidr6 = z.string().refine((s) => isCidr(s, 6), {
  error: (iss) => `${shown(iss.input)} is not an IPv6 CIDR block (like 2001:db8::/32)`,
});
const cidrAny = z.string().refine((s) => isCidr(s, 4) || isCidr(s, 6), {
  error: (iss) => `${shown(iss.input)} is not a CIDR block (like 10.0.0.0/16 or 2001:db8::/32)`,
});
const ipv4 = z.string().refine((s) => isIPv4(s), {
  error: (iss) => `${shown(iss.input)} is not an IPv4 address`,
});
const ipv6 = z.string().refine((s) => isIPv6(s), {
  error: (iss) => `${shown(iss.input)} is not an IPv6 address`,
});
/** Ports, or ICMP type/code; -1 means all. */
const port = z
  .number()
  .int()
  .min(-1, { error: (iss) => `${shown(iss.input)} is not a port (-1 to 65535)` })
  .max(65535, { error: (iss) => `${shown(iss.input)} is not a port (-1 to 65535)` });

const PREFIX_LIST_ID = /^pl-(?:[0-9a-f]{17}|[0-9a-f]{8})$/;
const prefixListIdSchema = z.string().regex(PREFIX_LIST_ID, {
  error: (iss) =>
    `${shown(iss.input)} is not a prefix list id ("pl-" and 8 or 17 hex digits, like pl-0123456789abcdef0)`,
});

const text = z.string();
const id = z.string().min(1, { error: 'is empty; expected an id' });

const ipPermissionSchema = z.looseObject({
  IpProtocol: text,
  FromPort: port.optional(),
  ToPort: port.optional(),
  IpRanges: z.array(z.looseObject({ CidrIp: cidr4, Description: text.optional() })).optional(),
  Ipv6Ranges: z.array(z.looseObject({ CidrIpv6: cidr6, Description: text.optional() })).optional(),
  PrefixListIds: z.array(z.looseObject({ PrefixListId: id, Description: text.optional() })).optional(),
  UserIdGroupPairs: z
    .array(
      z.looseObject({
        GroupId: id,
        UserId: text.optional(),
        VpcId: text.optional(),
        Description: text.optional(),
      }),
    )
    .optional(),
});

const securityGroupSchema = z.looseObject({
  GroupId: id,
  GroupName: text.optional(),
  VpcId: text.optional(),
  Description: text.optional(),
  IpPermissions: z.array(ipPermissionSchema).optional(),
  IpPermissionsEgress: z.array(ipPermissionSchema).optional(),
});

const networkAclEntrySchema = z.looseObject({
  // 32767 (IPv4) and 32768 (IPv6) are the final `*` rules as the API shows them.
  RuleNumber: z.number().int().min(0),
  Protocol: text,
  RuleAction: z.enum(['allow', 'deny']),
  Egress: z.boolean(),
  CidrBlock: cidr4.optional(),
  Ipv6CidrBlock: cidr6.optional(),
  PortRange: z.looseObject({ From: port, To: port }).optional(),
});

const networkAclSchema = z.looseObject({
  NetworkAclId: id,
  VpcId: text.optional(),
  IsDefault: z.boolean().optional(),
  Entries: z.array(networkAclEntrySchema).optional(),
  Associations: z
    .array(
      z.looseObject({
        NetworkAclAssociationId: text.optional(),
        NetworkAclId: text.optional(),
        SubnetId: text.optional(),
      }),
    )
    .optional(),
});

const routeSchema = z.looseObject({
  DestinationCidrBlock: cidr4.optional(),
  DestinationIpv6CidrBlock: cidr6.optional(),
  DestinationPrefixListId: text.optional(),
  GatewayId: text.optional(),
  NatGatewayId: text.optional(),
  TransitGatewayId: text.optional(),
  VpcPeeringConnectionId: text.optional(),
  NetworkInterfaceId: text.optional(),
  InstanceId: text.optional(),
  LocalGatewayId: text.optional(),
  CarrierGatewayId: text.optional(),
  EgressOnlyInternetGatewayId: text.optional(),
  CoreNetworkArn: text.optional(),
  State: text.optional(),
  Origin: text.optional(),
});

const routeTableSchema = z.looseObject({
  RouteTableId: id,
  VpcId: text.optional(),
  Routes: z.array(routeSchema).optional(),
  Associations: z
    .array(
      z.looseObject({
        Main: z.boolean().optional(),
        SubnetId: text.optional(),
        RouteTableId: text.optional(),
        GatewayId: text.optional(),
      }),
    )
    .optional(),
});

const networkInterfaceSchema = z.looseObject({
  NetworkInterfaceId: id,
  SubnetId: text.optional(),
  VpcId: text.optional(),
  Groups: z.array(z.looseObject({ GroupId: id, GroupName: text.optional() })).optional(),
  PrivateIpAddress: ipv4.optional(),
  PrivateIpAddresses: z
    .array(z.looseObject({ PrivateIpAddress: ipv4, Primary: z.boolean().optional() }))
    .optional(),
  Ipv6Addresses: z.array(z.looseObject({ Ipv6Address: ipv6 })).optional(),
  Ipv4Prefixes: z.array(z.looseObject({ Ipv4Prefix: cidr4 })).optional(),
  Ipv6Prefixes: z.array(z.looseObject({ Ipv6Prefix: cidr6 })).optional(),
  InterfaceType: text.optional(),
  Description: text.optional(),
  Association: z.looseObject({ PublicIp: text.optional() }).optional(),
});

const natGatewaySchema = z.looseObject({
  NatGatewayId: id,
  SubnetId: text.optional(),
  VpcId: text.optional(),
  ConnectivityType: text.optional(),
  State: text.optional(),
  NatGatewayAddresses: z
    .array(
      z.looseObject({
        PublicIp: text.optional(),
        PrivateIp: text.optional(),
        NetworkInterfaceId: text.optional(),
      }),
    )
    .optional(),
});

/** One rule of `describe-security-group-rules`: the per-rule shape of the same data as `IpPermissions`. */
const securityGroupRuleSchema = z.looseObject({
  SecurityGroupRuleId: text.optional(),
  GroupId: id,
  IsEgress: z.boolean(),
  IpProtocol: text,
  FromPort: port.optional(),
  ToPort: port.optional(),
  CidrIpv4: cidr4.optional(),
  CidrIpv6: cidr6.optional(),
  PrefixListId: text.optional(),
  ReferencedGroupInfo: z
    .looseObject({ GroupId: id, UserId: text.optional(), VpcId: text.optional() })
    .optional(),
  Description: text.optional(),
});

const subnetSchema = z.looseObject({
  SubnetId: id,
  VpcId: text.optional(),
  CidrBlock: cidr4.optional(),
  Ipv6CidrBlockAssociationSet: z.array(z.looseObject({ Ipv6CidrBlock: cidr6.optional() })).optional(),
});

const prefixListEntrySchema = z.looseObject({ Cidr: cidrAny, Description: text.optional() });

const managedPrefixListSchema = z.looseObject({
  PrefixListId: prefixListIdSchema,
  PrefixListName: text.optional(),
  AddressFamily: text.optional(),
  MaxEntries: z.number().optional(),
  Version: z.number().optional(),
  OwnerId: text.optional(),
  // describe-prefix-lists (AWS-managed lists such as S3's and DynamoDB's) prints the CIDRs beside the id.
  Cidrs: z.array(cidrAny).optional(),
});

/** One export object: any mix of the known keys (a `jq -s add` of several exports is one object). */
const documentSchema = z.object({
  SecurityGroups: z.array(securityGroupSchema).optional(),
  NetworkInterfaces: z.array(networkInterfaceSchema).optional(),
  NetworkAcls: z.array(networkAclSchema).optional(),
  RouteTables: z.array(routeTableSchema).optional(),
  Subnets: z.array(subnetSchema).optional(),
  Entries: z.array(prefixListEntrySchema).optional(),
  PrefixLists: z.array(managedPrefixListSchema).optional(),
  NatGateways: z.array(natGatewaySchema).optional(),
  SecurityGroupRules: z.array(securityGroupRuleSchema).optional(),
  PrefixListId: prefixListIdSchema.optional(),
  // boto3 adds the response's metadata (request id, HTTP status): nothing the audit reads.
  ResponseMetadata: z.unknown().optional(),
  // The CLI prints NextToken when --max-items cut the output; the page's items are still valid.
  NextToken: z.string().nullable().optional(),
});

/** A managed prefix list's description, from `describe-managed-prefix-lists` (metadata: it has no entries). */
export type ManagedPrefixList = z.infer<typeof managedPrefixListSchema>;

/** The CIDR entries of one managed prefix list, from `get-managed-prefix-list-entries`. */
export interface PrefixListEntries {
  readonly prefixListId: string;
  readonly cidrs: readonly string[];
}

/** What one export file (or one API response) contributes, validated but not yet merged. */
export interface InventoryPart {
  /** The file name (or API operation) it came from, used in every message about it. */
  readonly source: string;
  readonly securityGroups: readonly SecurityGroup[];
  readonly networkInterfaces: readonly NetworkInterface[];
  readonly networkAcls: readonly NetworkAcl[];
  readonly routeTables: readonly RouteTable[];
  readonly subnets: readonly Subnet[];
  readonly prefixListEntries: readonly PrefixListEntries[];
  /** Metadata from `describe-managed-prefix-lists`; accepted so that the export can be passed, not used by the audit. */
  readonly managedPrefixLists: readonly ManagedPrefixList[];
  readonly natGateways?: readonly NatGateway[];
  /** True when the part holds a `NetworkInterfaces` export (even an empty one). */
  readonly hasNetworkInterfaces?: boolean;
}

/**
 * Turns `describe-security-group-rules` output into groups with `IpPermissions`/`IpPermissionsEgress`, one
 * permission per rule (one peer each), so both exports of the same group read and compare alike.
 */
export function groupsFromRules(
  rules: ReadonlyArray<z.infer<typeof securityGroupRuleSchema>>,
): SecurityGroup[] {
  const groups = new Map<
    string,
    SecurityGroup & { IpPermissions: IpPermission[]; IpPermissionsEgress: IpPermission[] }
  >();
  for (const r of rules) {
    let g = groups.get(r.GroupId);
    if (!g) groups.set(r.GroupId, (g = { GroupId: r.GroupId, IpPermissions: [], IpPermissionsEgress: [] }));
    const p: IpPermission = { IpProtocol: r.IpProtocol };
    if (r.FromPort !== undefined) p.FromPort = r.FromPort;
    if (r.ToPort !== undefined) p.ToPort = r.ToPort;
    const description = r.Description !== undefined ? { Description: r.Description } : {};
    if (r.CidrIpv4 !== undefined) p.IpRanges = [{ CidrIp: r.CidrIpv4, ...description }];
    else if (r.CidrIpv6 !== undefined) p.Ipv6Ranges = [{ CidrIpv6: r.CidrIpv6, ...description }];
    else if (r.PrefixListId !== undefined)
      p.PrefixListIds = [{ PrefixListId: r.PrefixListId, ...description }];
    else if (r.ReferencedGroupInfo !== undefined)
      p.UserIdGroupPairs = [
        {
          GroupId: r.ReferencedGroupInfo.GroupId,
          ...(r.ReferencedGroupInfo.UserId !== undefined ? { UserId: r.ReferencedGroupInfo.UserId } : {}),
          ...(r.ReferencedGroupInfo.VpcId !== undefined ? { VpcId: r.ReferencedGroupInfo.VpcId } : {}),
          ...description,
        },
      ];
    (r.IsEgress ? g.IpPermissionsEgress : g.IpPermissions).push(p);
  }
  return [...groups.values()];
}

// ---------------------------------------------------------------------------------------------------------------
// Parsing one file

/** An inventory with nothing in it. */
export function emptyInventory(): Inventory {
  return {
    securityGroups: new Map(),
    networkInterfaces: [],
    networkAcls: [],
    routeTables: [],
    subnets: [],
    prefixLists: new Map(),
  };
}

/** The prefix-list ids (`pl-` + 8 or 17 hex digits) that appear in a file's base name. */
function prefixListIdsInName(source: string): string[] {
  const base = source.split(/[\\/]/).pop() ?? source;
  const found = base.match(/(?<![0-9A-Za-z])pl-(?:[0-9a-f]{17}|[0-9a-f]{8})(?![0-9A-Za-z])/g) ?? [];
  return [...new Set(found)];
}

const ID_HOWTO =
  'get-managed-prefix-list-entries does not print the list id: add it to the export ' +
  `(aws ec2 get-managed-prefix-list-entries --prefix-list-id pl-… --output json | jq '. + {PrefixListId: "pl-…"}' > pl-….json) ` +
  'or put the id in the file name (pl-0123456789abcdef0.json)';

/**
 * Validates one already-parsed export (an object with the API's top-level keys, or a list of such objects as
 * `jq -s .` prints them) and returns what it contributes.
 *
 * Prefix-list entries (`Entries`) belong to the list named by a top-level `"PrefixListId"` in the same object or,
 * when that is absent, by the one `pl-…` id in the file's name. A file name naming a different list than
 * `PrefixListId`, or two lists, is an error, as are entries with neither.
 *
 * @param source - the file name (or API operation), used in messages and for the prefix-list id rule.
 * @throws InventoryError listing every problem as `source: path: what is wrong (value)`.
 */
export function parseInventoryDocument(source: string, value: unknown): InventoryPart {
  const documents: Array<{ prefix: PropertyKey[]; value: unknown }> = Array.isArray(value)
    ? value.map((v, i) => ({ prefix: [i], value: v }))
    : [{ prefix: [], value }];
  const problems: string[] = [];
  const part = {
    source,
    securityGroups: [] as SecurityGroup[],
    networkInterfaces: [] as NetworkInterface[],
    networkAcls: [] as NetworkAcl[],
    routeTables: [] as RouteTable[],
    subnets: [] as Subnet[],
    prefixListEntries: [] as PrefixListEntries[],
    managedPrefixLists: [] as ManagedPrefixList[],
    natGateways: [] as NatGateway[],
    hasNetworkInterfaces: false,
  };
  if (Array.isArray(value) && value.length === 0) {
    problems.push(`an empty list: expected an export object with one of the keys ${DATA_KEYS.join(', ')}`);
  }
  for (const doc of documents) {
    const at = (path: readonly PropertyKey[], message: string) => {
      const where = formatPath([...doc.prefix, ...path]);
      problems.push(where === '' ? message : `${where}: ${message}`);
    };
    if (doc.value === null || typeof doc.value !== 'object' || Array.isArray(doc.value)) {
      at(
        [],
        `expected an export object such as {"SecurityGroups": […]}, got ${describeValue(doc.value)}: ` +
          'export with `aws ec2 describe-… --output json` and no --query',
      );
      continue;
    }
    const keys = Object.keys(doc.value);
    const unknown = keys.filter((k) => !(INVENTORY_KEYS as readonly string[]).includes(k));
    for (const key of unknown) {
      at(
        [],
        `unknown top-level key ${JSON.stringify(key)}: an inventory file holds the output of aws ec2 describe-… ` +
          `with the keys ${INVENTORY_KEYS.join(', ')}`,
      );
    }
    if (unknown.length > 0) continue;
    if (!keys.some((k) => DATA_KEYS.includes(k))) {
      at(
        [],
        `none of the inventory keys (${DATA_KEYS.join(', ')}): ` +
          `export with ${Object.values(EXPORTED_BY)
            .map((c) => `aws ec2 ${c}`)
            .join(', ')}`,
      );
      continue;
    }
    const parsed = documentSchema.safeParse(doc.value);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((iss) => ({ ...iss, path: [...doc.prefix, ...iss.path] }));
      problems.push(...formatIssues(issues, value));
      continue;
    }
    const d = parsed.data;
    part.securityGroups.push(...(d.SecurityGroups ?? []));
    part.networkInterfaces.push(...(d.NetworkInterfaces ?? []));
    part.networkAcls.push(...(d.NetworkAcls ?? []));
    part.routeTables.push(...(d.RouteTables ?? []));
    part.subnets.push(...(d.Subnets ?? []));
    part.managedPrefixLists.push(...(d.PrefixLists ?? []));
    part.natGateways.push(...(d.NatGateways ?? []));
    part.securityGroups.push(...groupsFromRules(d.SecurityGroupRules ?? []));
    if (d.NetworkInterfaces !== undefined) part.hasNetworkInterfaces = true;
    for (const list of d.PrefixLists ?? [])
      if (list.Cidrs !== undefined)
        part.prefixListEntries.push({ prefixListId: list.PrefixListId, cidrs: list.Cidrs });
    if (d.PrefixListId !== undefined && d.Entries === undefined) {
      at(['PrefixListId'], `${JSON.stringify(d.PrefixListId)} is given but there are no Entries beside it`);
      continue;
    }
    if (d.Entries !== undefined) {
      const fromName = prefixListIdsInName(source);
      let listId = d.PrefixListId;
      if (listId !== undefined && fromName.length > 0 && !fromName.includes(listId)) {
        at(
          ['PrefixListId'],
          `${JSON.stringify(listId)} disagrees with the prefix list named in the file name (${fromName.join(', ')}): ` +
            'rename the file or correct PrefixListId',
        );
        continue;
      }
      if (listId === undefined && fromName.length > 1) {
        at(
          ['Entries'],
          `the file name names several prefix lists (${fromName.join(', ')}): add "PrefixListId" to the export`,
        );
        continue;
      }
      listId ??= fromName[0];
      if (listId === undefined) {
        at(['Entries'], `cannot tell which prefix list these entries belong to: ${ID_HOWTO}`);
        continue;
      }
      part.prefixListEntries.push({ prefixListId: listId, cidrs: d.Entries.map((e) => e.Cidr) });
    }
  }
  if (problems.length > 0) throw new InventoryError(capped(source, problems));
  return part;
}

function capped(source: string, problems: readonly string[]): string[] {
  const lines = problems.slice(0, MAX_PROBLEMS_PER_FILE).map((p) => `${source}: ${p}`);
  if (problems.length > MAX_PROBLEMS_PER_FILE) {
    lines.push(`${source}: … and ${problems.length - MAX_PROBLEMS_PER_FILE} more problems`);
  }
  return lines;
}

/** Adds `(line L, column C)` to JSON.parse messages that give a position. */
function jsonProblem(content: string, err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const trimmed = content.trimStart();
  if (trimmed === '') return 'is empty: expected the JSON printed by aws ec2 describe-… --output json';
  let where = '';
  const position = /at position (\d+)/.exec(message);
  if (position && !/\(line \d+/.test(message)) {
    const before = content.slice(0, Number(position[1]));
    const line = before.split('\n').length;
    const column = before.length - before.lastIndexOf('\n');
    where = ` (line ${line}, column ${column})`;
  }
  return `not valid JSON: ${message}${where}${notJsonHint(content)}`;
}

function notJsonHint(content: string): string {
  return /^[{[]/.test(content.trimStart())
    ? ''
    : ': it does not start with { or [; export with --output json (not text, table or yaml) and check the command succeeded';
}

/**
 * Parses one AWS CLI JSON export. Accepts the output of `aws ec2 describe-security-groups`,
 * `describe-network-interfaces`, `describe-network-acls`, `describe-route-tables`, `describe-subnets`,
 * `get-managed-prefix-list-entries` (with its list id, see {@link parseInventoryDocument}) and
 * `describe-managed-prefix-lists` (metadata only), alone or combined into one object (`jq -s add`) or one list
 * (`jq -s .`). `NextToken` is tolerated. A leading byte-order mark is ignored.
 *
 * @param name - the file name, shown in every message and read for a `pl-…` id.
 * @throws InventoryError naming the file, the path and the value; invalid JSON gives JSON.parse's message.
 */
export function parseInventoryFile(name: string, content: string): InventoryPart {
  const body = content.charCodeAt(0) === 0xfeff ? content.slice(1) : content;
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    // Several documents one after the other (`cat a.json b.json`), or an error JSON.parse does not place.
    const concatenated = /^Unexpected non-whitespace character after JSON/.test(message);
    if (body.trim() === '' || (!concatenated && /at position \d+/.test(message)))
      throw new InventoryError([`${name}: ${jsonProblem(body, err)}`]);
    try {
      const { documents } = parseJsonDocuments(body);
      value = documents.length === 1 ? documents[0] : documents;
    } catch (inner) {
      if (!(inner instanceof JsonSyntaxError)) throw inner;
      throw new InventoryError([`${name}: ${inner.message}${notJsonHint(body)}`]);
    }
  }
  return parseInventoryDocument(name, value);
}

// ---------------------------------------------------------------------------------------------------------------
// Merging

/** A schema with every object strict-to-shape (unknown keys stripped): the fields the audit reads, and no others. */
function auditView(schema: z.ZodType): z.ZodType {
  if (schema instanceof z.ZodObject) {
    const shape: Record<string, z.ZodType> = {};
    for (const [key, field] of Object.entries(schema.shape as Record<string, z.ZodType>))
      shape[key] = auditView(field);
    return z.object(shape);
  }
  if (schema instanceof z.ZodArray) return z.array(auditView(schema.element as z.ZodType));
  if (schema instanceof z.ZodOptional) return auditView(schema.unwrap() as z.ZodType).optional();
  return schema;
}

/**
 * Canonical JSON: keys sorted, and arrays sorted too, since no list in the inventory is ordered by position;
 * an empty list reads as an absent one (older exports leave out `"Ipv6Ranges": []`).
 */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).sort().join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

interface Kind<T> {
  readonly key: string;
  readonly idField: keyof T & string;
  /** What the audit reads of one item, as plain data: two items agree when their views do. */
  readonly view: { parse(item: unknown): unknown };
}

const protocolName: Readonly<Record<string, string>> = {
  '6': 'tcp',
  '17': 'udp',
  '1': 'icmp',
  '58': 'icmpv6',
};

/** One rule per peer, in words (`tcp 443 10.0.0.0/16`): descriptions, user ids and tags decide nothing. */
function ruleWords(p: IpPermission): string[] {
  const proto = protocolName[p.IpProtocol.toLowerCase()] ?? p.IpProtocol.toLowerCase();
  const ports =
    proto === '-1'
      ? 'all traffic'
      : `${proto} ${p.FromPort ?? -1}${p.ToPort !== p.FromPort ? `-${p.ToPort ?? -1}` : ''}`;
  return [
    ...(p.IpRanges ?? []).map((r) => `${ports} ${r.CidrIp}`),
    ...(p.Ipv6Ranges ?? []).map((r) => `${ports} ${r.CidrIpv6}`),
    ...(p.PrefixListIds ?? []).map((r) => `${ports} ${r.PrefixListId}`),
    ...(p.UserIdGroupPairs ?? []).map((r) => `${ports} ${r.GroupId}`),
  ];
}

/**
 * A group as the audit reads it: its VPC and its rules one peer at a time, so that a
 * `describe-security-group-rules` export, a newer export with `"Ipv6Ranges": []` or one with other
 * descriptions compare equal to the same rules written otherwise.
 */
const securityGroupView = {
  parse(item: unknown) {
    const g = item as SecurityGroup;
    const words = (list: readonly IpPermission[] | undefined) => [
      ...new Set((list ?? []).flatMap(ruleWords)),
    ];
    return {
      ...(g.VpcId !== undefined ? { VpcId: g.VpcId } : {}),
      IpPermissions: words(g.IpPermissions).map((w) => `ingress ${w}`),
      IpPermissionsEgress: words(g.IpPermissionsEgress).map((w) => `egress ${w}`),
    };
  },
};

const KINDS = {
  securityGroups: { key: 'SecurityGroups', idField: 'GroupId', view: securityGroupView },
  networkInterfaces: {
    key: 'NetworkInterfaces',
    idField: 'NetworkInterfaceId',
    view: auditView(networkInterfaceSchema),
  },
  networkAcls: { key: 'NetworkAcls', idField: 'NetworkAclId', view: auditView(networkAclSchema) },
  routeTables: { key: 'RouteTables', idField: 'RouteTableId', view: auditView(routeTableSchema) },
  subnets: { key: 'Subnets', idField: 'SubnetId', view: auditView(subnetSchema) },
  natGateways: { key: 'NatGateways', idField: 'NatGatewayId', view: auditView(natGatewaySchema) },
} satisfies {
  securityGroups: Kind<SecurityGroup>;
  networkInterfaces: Kind<NetworkInterface>;
  networkAcls: Kind<NetworkAcl>;
  routeTables: Kind<RouteTable>;
  subnets: Kind<Subnet>;
  natGateways: Kind<NatGateway>;
};

/** Merges one kind of resource by id; the same id twice must agree on every field the audit reads. */
function mergeById<T extends object>(
  parts: readonly InventoryPart[],
  items: (part: InventoryPart) => readonly T[],
  kind: Kind<T>,
  problems: string[],
): Map<string, T> {
  const merged = new Map<string, { item: T; source: string; view: Record<string, unknown> }>();
  for (const part of parts) {
    for (const item of items(part)) {
      const itemId = String(item[kind.idField]);
      const view = kind.view.parse(item) as Record<string, unknown>;
      const seen = merged.get(itemId);
      if (seen === undefined) {
        merged.set(itemId, { item, source: part.source, view });
        continue;
      }
      // A VPC one export leaves out (describe-security-group-rules has none) is not a disagreement.
      if (seen.view.VpcId === undefined || view.VpcId === undefined) {
        seen.view.VpcId ??= view.VpcId;
        delete view.VpcId;
        if (seen.view.VpcId !== undefined) view.VpcId = seen.view.VpcId;
      }
      if (canonical(seen.view) === canonical(view)) continue;
      const fields = [...new Set([...Object.keys(seen.view), ...Object.keys(view)])]
        .filter((f) => canonical(seen.view[f]) !== canonical(view[f]))
        .sort();
      const elsewhere = seen.source === part.source ? 'twice in this file' : `also in ${seen.source}`;
      // Rules are named one by one: which the first export has and the other lacks, and the other way round.
      const details = fields.flatMap((f) => {
        const a = seen.view[f];
        const b = view[f];
        if (!Array.isArray(a) || !Array.isArray(b) || !a.every((x) => typeof x === 'string')) return [];
        const only = (x: unknown[], y: unknown[]) => x.filter((w) => !y.includes(w)).map(String);
        const first = only(a, b);
        const second = only(b, a);
        return [
          `${f}: ${[
            ...(first.length > 0 ? [`only in ${seen.source}: ${first.join(', ')}`] : []),
            ...(second.length > 0 ? [`only in ${part.source}: ${second.join(', ')}`] : []),
          ].join('; ')}`,
        ];
      });
      problems.push(
        `${part.source}: ${kind.key}: ${itemId} is ${elsewhere} with a different ${fields.join(', ')}` +
          `${details.length > 0 ? ` (${details.join('; ')})` : ''}: ` +
          'the exports disagree; pass only the newer one, or export all files again at the same time',
      );
    }
  }
  return new Map([...merged].map(([k, v]) => [k, v.item]));
}

/**
 * Merges validated parts into one inventory.
 *
 * - The same resource id (security group, network interface, NACL, route table, subnet) in several parts is kept
 *   once when every field the audit reads is equal (the order of lists such as rules or routes does not matter;
 *   fields the audit ignores, such as Tags, may differ and the first part's copy is kept). When they differ, the
 *   exports were taken at different times and neither can be trusted silently: that is an {@link InventoryError}
 *   naming the id, both files and the fields that differ. No "later file wins".
 * - The entries of one prefix list from several parts are united (deduplicated, first-seen order): a large list
 *   may be exported in pages, and an entry that appears in any export is treated as part of the list.
 * - `describe-managed-prefix-lists` metadata is accepted but not kept: the inventory needs entries.
 *
 * @throws InventoryError listing every conflict; nothing is returned half-merged.
 */
export function mergeInventory(parts: readonly InventoryPart[]): Inventory {
  const problems: string[] = [];
  const securityGroups = mergeById(parts, (p) => p.securityGroups, KINDS.securityGroups, problems);
  const networkInterfaces = mergeById(parts, (p) => p.networkInterfaces, KINDS.networkInterfaces, problems);
  const networkAcls = mergeById(parts, (p) => p.networkAcls, KINDS.networkAcls, problems);
  const routeTables = mergeById(parts, (p) => p.routeTables, KINDS.routeTables, problems);
  const subnets = mergeById(parts, (p) => p.subnets, KINDS.subnets, problems);
  const natGateways = mergeById(parts, (p) => p.natGateways ?? [], KINDS.natGateways, problems);
  if (problems.length > 0) throw new InventoryError(problems);

  const prefixLists = new Map<string, string[]>();
  for (const part of parts) {
    for (const { prefixListId, cidrs } of part.prefixListEntries) {
      const list = prefixLists.get(prefixListId) ?? [];
      for (const cidr of cidrs) if (!list.includes(cidr)) list.push(cidr);
      prefixLists.set(prefixListId, list);
    }
  }
  return {
    securityGroups,
    networkInterfaces: [...networkInterfaces.values()],
    networkAcls: [...networkAcls.values()],
    routeTables: [...routeTables.values()],
    subnets: [...subnets.values()],
    prefixLists,
    natGateways,
    networkInterfacesRead: parts.some((p) => p.hasNetworkInterfaces === true),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Reading files

/** Decodes a file, honouring a UTF-8 or UTF-16 byte-order mark (PowerShell 5's `>` writes UTF-16LE). */
function decode(bytes: Buffer): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return bytes.subarray(2).toString('utf16le');
  if (bytes[0] === 0xfe && bytes[1] === 0xff) {
    const swapped = Buffer.from(bytes.subarray(2));
    swapped.swap16();
    return swapped.toString('utf16le');
  }
  return bytes.toString('utf8');
}

function readProblem(shownName: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOENT'
      ? 'no such file'
      : code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : (code ?? String(err));
  return `${shownName}: cannot read: ${why}`;
}

/**
 * Reads, validates and merges inventory files (see {@link parseInventoryFile} and {@link mergeInventory}). A folder
 * stands for the `.json` files directly in it, in name order. Every file is read and checked before anything is
 * merged, and every problem of every file is reported together.
 *
 * @param paths - files or folders, relative to `cwd` unless absolute; shown in messages as given.
 * @throws InventoryError for a missing or unreadable file, an empty folder, invalid JSON or content, or a conflict.
 */
export function readInventoryFiles(paths: readonly string[], cwd: string = process.cwd()): Inventory {
  const problems: string[] = [];
  const files: string[] = [];
  for (const path of paths) {
    const full = resolve(cwd, path);
    try {
      if (statSync(full).isDirectory()) {
        const inside = readdirSync(full)
          .filter((f) => f.toLowerCase().endsWith('.json'))
          .sort();
        if (inside.length === 0)
          problems.push(
            `${path}: a folder with no .json files: pass the exports, or the folder that holds them`,
          );
        files.push(...inside.map((f) => join(path, f)));
      } else files.push(path);
    } catch (err) {
      problems.push(readProblem(path, err));
    }
  }
  const parts: InventoryPart[] = [];
  for (const file of files) {
    let content: string;
    try {
      content = decode(readFileSync(resolve(cwd, file)));
    } catch (err) {
      problems.push(readProblem(file, err));
      continue;
    }
    try {
      parts.push(parseInventoryFile(file, content));
    } catch (err) {
      if (!(err instanceof InventoryError)) throw err;
      problems.push(...err.problems);
    }
  }
  if (problems.length > 0) throw new InventoryError(problems);
  return mergeInventory(parts);
}
