/**
 * The live inventory: reads from EC2 exactly what the audit needs for the Security Groups and subnets an
 * environment names, and nothing account-wide. Responses go through the same validation as offline exports
 * ({@link parseInventoryDocument}), so the audit sees one shape either way.
 */
import {
  DescribeNatGatewaysCommand,
  DescribeNetworkAclsCommand,
  DescribeNetworkInterfacesCommand,
  DescribeRouteTablesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  EC2Client,
  GetManagedPrefixListEntriesCommand,
  type NatGateway as Ec2NatGateway,
  type NetworkAcl as Ec2NetworkAcl,
  type NetworkInterface as Ec2NetworkInterface,
  type RouteTable as Ec2RouteTable,
  type SecurityGroup as Ec2SecurityGroup,
  type Subnet as Ec2Subnet,
} from '@aws-sdk/client-ec2';
import {
  InventoryError,
  type InventoryPart,
  mergeInventory,
  parseInventoryDocument,
} from '../core/audit/inventory';
import type { Inventory } from '../core/audit/types';
import { ThrottledError, type ThrottlingRetryOptions, withThrottlingRetry } from './throttling';

/** The read-only IAM actions {@link readInventory} calls; grant exactly these to the auditor. */
export const EC2_INVENTORY_ACTIONS = [
  'ec2:DescribeSecurityGroups',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeSubnets',
  'ec2:DescribeNetworkAcls',
  'ec2:DescribeRouteTables',
  'ec2:GetManagedPrefixListEntries',
  'ec2:DescribeNatGateways',
] as const;

/** The SDK retry settings of {@link createEc2Client}. */
export const EC2_CLIENT_RETRY = { retryMode: 'adaptive', maxAttempts: 6 } as const;

/**
 * Creates the EC2 client the auditor uses: the SDK's `adaptive` retry mode (client-side rate limiting that backs
 * off when EC2 throttles) with a few more attempts than the default 3.
 * @param region - @default - the SDK's resolution: AWS_REGION, then the profile's region.
 */
export function createEc2Client(region?: string): EC2Client {
  return new EC2Client({ ...(region !== undefined ? { region } : {}), ...EC2_CLIENT_RETRY });
}

/** Raised when the live inventory cannot be read; the message names the id, the operation or what to configure. */
export class Ec2InventoryError extends Error {
  override readonly name = 'Ec2InventoryError';
  constructor(
    message: string,
    /** The EC2 operation that failed, e.g. `DescribeSecurityGroups`. */
    readonly operation: string,
    /** The AWS error code (`InvalidGroup.NotFound`, `UnauthorizedOperation`, …), when there is one. */
    readonly code?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

import type { InventoryScope } from '../core/audit/plan-audit';
export type { InventoryScope } from '../core/audit/plan-audit';

/** Tuning for {@link readInventory}; the defaults suit an auditor Lambda. */
export interface ReadInventoryOptions {
  /** Our retry on throttling, beyond the SDK's. @default - `THROTTLING_RETRY_DEFAULTS` (./throttling) */
  readonly retry?: ThrottlingRetryOptions;
  /** How many prefix lists are read at once. @default 4 */
  readonly concurrency?: number;
}

/** Ids per request: keeps each `GroupIds`/`SubnetIds` list and each filter's values well within EC2's limits. */
const IDS_PER_REQUEST = 100;

/** What a failing call was about, for messages. */
interface Subject {
  readonly what: string;
  readonly ids: readonly string[];
  /** Where the user configured these ids. */
  readonly configuredIn: string;
}

interface Context {
  readonly client: EC2Client;
  readonly options: ReadInventoryOptions;
}

const unique = (values: Iterable<string | undefined>): string[] =>
  [...new Set(values)].filter((v): v is string => v !== undefined && v !== '');

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

async function regionOf(client: EC2Client): Promise<string | undefined> {
  try {
    return await client.config.region();
  } catch {
    return undefined;
  }
}

const CREDENTIAL_REJECTED = new Set([
  'AuthFailure',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'ExpiredToken',
  'ExpiredTokenException',
  'RequestExpired',
  'SignatureDoesNotMatch',
  'InvalidAccessKeyId',
]);
const NOT_ALLOWED = new Set(['UnauthorizedOperation', 'AccessDenied', 'AccessDeniedException']);
const NETWORK = new Set([
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
]);
const OFFLINE_HINT = 'or audit offline from exports with --inventory FILE';

/** Turns an SDK error into one line that says what went wrong with which id, and what to do. */
async function explain(
  err: unknown,
  operation: string,
  client: EC2Client,
  subject?: Subject,
): Promise<Ec2InventoryError> {
  if (err instanceof Ec2InventoryError) return err;
  if (err instanceof ThrottledError)
    return new Ec2InventoryError(err.message, operation, err.code, { cause: err });
  const e = (err ?? {}) as { name?: string; message?: string; code?: string };
  const name = e.name ?? 'Error';
  const message = e.message ?? String(err);
  const fail = (text: string) => new Ec2InventoryError(text, operation, name, { cause: err });

  if (/\.NotFound$/.test(name) || /\.Malformed$/.test(name)) {
    const mentioned = unique(message.match(/\b[a-z]+-[0-9a-zA-Z]+\b/g) ?? []).filter((t) =>
      subject ? subject.ids.includes(t) : true,
    );
    const ids = mentioned.length > 0 ? mentioned : (subject?.ids ?? []);
    const what = subject?.what ?? 'resource';
    const where = subject ? `check ${subject.configuredIn}` : 'check the id';
    if (name.endsWith('.Malformed')) {
      return fail(`${ids.join(', ')} is not a valid ${what} id (${operation}: ${name}): ${where}`);
    }
    const region = await regionOf(client);
    return fail(
      `${what} ${ids.join(', ')} does not exist${region ? ` in ${region}` : ''} for these credentials ` +
        `(${operation}: ${name}): ${where}, and that AWS_REGION and the credentials point at the account that owns it`,
    );
  }
  if (NOT_ALLOWED.has(name)) {
    return fail(
      `these credentials may not call ec2:${operation} (${name}): grant the auditor the read-only actions ` +
        `${EC2_INVENTORY_ACTIONS.join(', ')}, ${OFFLINE_HINT}`,
    );
  }
  if (name === 'CredentialsProviderError') {
    return fail(
      'no AWS credentials found: set AWS_PROFILE (then `aws sso login` if it uses SSO) or AWS_ACCESS_KEY_ID and ' +
        `AWS_SECRET_ACCESS_KEY, ${OFFLINE_HINT}`,
    );
  }
  if (CREDENTIAL_REJECTED.has(name)) {
    return fail(
      `AWS rejected the credentials (${name}: ${message}): refresh them (\`aws sso login\`, new keys or a new ` +
        `session token) and check the system clock, ${OFFLINE_HINT}`,
    );
  }
  if (/region is missing/i.test(message)) {
    return fail(`no AWS region configured: set AWS_REGION or a region in the AWS profile, ${OFFLINE_HINT}`);
  }
  if ((e.code !== undefined && NETWORK.has(e.code)) || name === 'TimeoutError') {
    const region = await regionOf(client);
    return fail(
      `cannot reach the EC2 API (${e.code ?? name}): allow HTTPS to ec2.${region ?? '<region>'}.amazonaws.com ` +
        `(a NAT gateway or an ec2 interface VPC endpoint), ${OFFLINE_HINT}`,
    );
  }
  return fail(`${operation} failed (${name}): ${message}`);
}

/** One call with the throttling retry; every failure becomes an {@link Ec2InventoryError}. */
async function call<O>(
  ctx: Context,
  operation: string,
  send: () => Promise<O>,
  subject?: Subject,
): Promise<O> {
  try {
    return await withThrottlingRetry(operation, send, ctx.options.retry);
  } catch (err) {
    throw await explain(err, operation, ctx.client, subject);
  }
}

/**
 * Every page of a paginated operation. A NextToken loop rather than the SDK's `paginate…` helpers, so that a
 * throttled page is retried alone instead of the whole listing starting over.
 */
async function allPages<O extends { NextToken?: string | undefined }>(
  ctx: Context,
  operation: string,
  page: (nextToken: string | undefined) => Promise<O>,
  subject?: Subject,
): Promise<O[]> {
  const pages: O[] = [];
  let token: string | undefined;
  for (;;) {
    const current = token;
    const result = await call(ctx, operation, () => page(current), subject);
    pages.push(result);
    const next = result.NextToken || undefined;
    // The same token twice would loop for ever (the SDK's paginators guard the same way with stopOnSameToken).
    if (next === undefined || next === current) return pages;
    token = next;
  }
}

const withToken = (token: string | undefined) => (token !== undefined ? { NextToken: token } : {});

function missing(
  subject: Subject,
  found: Iterable<string | undefined>,
  operation: string,
): Ec2InventoryError {
  const have = new Set(found);
  const absent = subject.ids.filter((i) => !have.has(i));
  return new Ec2InventoryError(
    `${subject.what} ${absent.join(', ')} not returned by ${operation}: check ${subject.configuredIn} and the region`,
    operation,
  );
}

interface GroupSide {
  readonly groups: Ec2SecurityGroup[];
  readonly interfaces: Ec2NetworkInterface[];
  readonly prefixListIds: string[];
}

/** The named groups, the interfaces in them and in the groups their rules reference, and their prefix lists. */
async function readGroupSide(ctx: Context, groupIds: readonly string[]): Promise<GroupSide> {
  if (groupIds.length === 0) return { groups: [], interfaces: [], prefixListIds: [] };
  const groups: Ec2SecurityGroup[] = [];
  for (const ids of chunks(groupIds, IDS_PER_REQUEST)) {
    const subject = { what: 'security group', ids, configuredIn: 'securityGroupIds (--security-group)' };
    const pages = await allPages(
      ctx,
      'DescribeSecurityGroups',
      (t) => ctx.client.send(new DescribeSecurityGroupsCommand({ GroupIds: ids, ...withToken(t) })),
      subject,
    );
    const found = pages.flatMap((p) => p.SecurityGroups ?? []);
    if (ids.some((i) => !found.some((g) => g.GroupId === i)))
      throw missing(
        subject,
        found.map((g) => g.GroupId),
        'DescribeSecurityGroups',
      );
    groups.push(...found);
  }
  const rules = groups.flatMap((g) => [...(g.IpPermissions ?? []), ...(g.IpPermissionsEgress ?? [])]);
  // The named groups' own interfaces too: a group often references itself, and other vantages' flows target them.
  const referenced = unique([
    ...groupIds,
    ...rules.flatMap((r) => (r.UserIdGroupPairs ?? []).map((p) => p.GroupId)),
  ]);
  const interfaces: Ec2NetworkInterface[] = [];
  for (const ids of chunks(referenced, IDS_PER_REQUEST)) {
    const pages = await allPages(ctx, 'DescribeNetworkInterfaces', (t) =>
      ctx.client.send(
        new DescribeNetworkInterfacesCommand({
          Filters: [{ Name: 'group-id', Values: ids }],
          ...withToken(t),
        }),
      ),
    );
    interfaces.push(...pages.flatMap((p) => p.NetworkInterfaces ?? []));
  }
  const prefixListIds = unique(rules.flatMap((r) => (r.PrefixListIds ?? []).map((p) => p.PrefixListId)));
  return { groups, interfaces, prefixListIds };
}

interface SubnetSide {
  readonly subnets: Ec2Subnet[];
  readonly networkAcls: Ec2NetworkAcl[];
  readonly routeTables: Ec2RouteTable[];
  readonly prefixListIds: string[];
}

/** The named subnets, their NACLs (plus their VPCs' default NACL) and route tables (plus their VPCs' main table). */
async function readSubnetSide(ctx: Context, subnetIds: readonly string[]): Promise<SubnetSide> {
  if (subnetIds.length === 0) return { subnets: [], networkAcls: [], routeTables: [], prefixListIds: [] };
  const subnets: Ec2Subnet[] = [];
  for (const ids of chunks(subnetIds, IDS_PER_REQUEST)) {
    const subject = { what: 'subnet', ids, configuredIn: 'subnetIds (--subnet)' };
    const pages = await allPages(
      ctx,
      'DescribeSubnets',
      (t) => ctx.client.send(new DescribeSubnetsCommand({ SubnetIds: ids, ...withToken(t) })),
      subject,
    );
    const found = pages.flatMap((p) => p.Subnets ?? []);
    if (ids.some((i) => !found.some((s) => s.SubnetId === i)))
      throw missing(
        subject,
        found.map((s) => s.SubnetId),
        'DescribeSubnets',
      );
    subnets.push(...found);
  }
  const vpcIds = unique(subnets.map((s) => s.VpcId));

  const aclQueries = [
    ...chunks(subnetIds, IDS_PER_REQUEST).map((ids) => [{ Name: 'association.subnet-id', Values: ids }]),
    ...chunks(vpcIds, IDS_PER_REQUEST).map((ids) => [
      { Name: 'vpc-id', Values: ids },
      { Name: 'default', Values: ['true'] },
    ]),
  ];
  const tableQueries = [
    ...chunks(subnetIds, IDS_PER_REQUEST).map((ids) => [{ Name: 'association.subnet-id', Values: ids }]),
    ...chunks(vpcIds, IDS_PER_REQUEST).map((ids) => [
      { Name: 'vpc-id', Values: ids },
      { Name: 'association.main', Values: ['true'] },
    ]),
  ];
  const [aclPages, tablePages] = await Promise.all([
    Promise.all(
      aclQueries.map((Filters) =>
        allPages(ctx, 'DescribeNetworkAcls', (t) =>
          ctx.client.send(new DescribeNetworkAclsCommand({ Filters, ...withToken(t) })),
        ),
      ),
    ),
    Promise.all(
      tableQueries.map((Filters) =>
        allPages(ctx, 'DescribeRouteTables', (t) =>
          ctx.client.send(new DescribeRouteTablesCommand({ Filters, ...withToken(t) })),
        ),
      ),
    ),
  ]);
  const networkAcls = aclPages.flat().flatMap((p) => p.NetworkAcls ?? []);
  const routeTables = tablePages.flat().flatMap((p) => p.RouteTables ?? []);
  const prefixListIds = unique(
    routeTables.flatMap((t) => (t.Routes ?? []).map((r) => r.DestinationPrefixListId)),
  );
  return { subnets, networkAcls, routeTables, prefixListIds };
}

interface NatSide {
  readonly natGateways: Ec2NatGateway[];
  readonly routeTables: Ec2RouteTable[];
  readonly prefixListIds: string[];
}

/**
 * The NAT gateways the tables' active routes send traffic to, and the route tables of their subnets (where
 * the traffic goes next). A NAT gateway that no longer exists is left out: the audit then names it.
 */
async function readNatSide(
  ctx: Context,
  tables: readonly Ec2RouteTable[],
  knownSubnets: readonly string[],
): Promise<NatSide> {
  const ids = unique(
    tables.flatMap((t) =>
      (t.Routes ?? []).map((r) => (r.State === 'blackhole' ? undefined : r.NatGatewayId)),
    ),
  );
  if (ids.length === 0) return { natGateways: [], routeTables: [], prefixListIds: [] };
  const natGateways: Ec2NatGateway[] = [];
  for (const chunk of chunks(ids, IDS_PER_REQUEST)) {
    try {
      const pages = await allPages(ctx, 'DescribeNatGateways', (t) =>
        ctx.client.send(new DescribeNatGatewaysCommand({ NatGatewayIds: chunk, ...withToken(t) })),
      );
      natGateways.push(...pages.flatMap((p) => p.NatGateways ?? []));
    } catch (err) {
      if (!(err instanceof Ec2InventoryError && err.code?.endsWith('NotFound'))) throw err;
    }
  }
  const subnetIds = unique(natGateways.map((n) => n.SubnetId)).filter((id) => !knownSubnets.includes(id));
  const pages = await Promise.all(
    chunks(subnetIds, IDS_PER_REQUEST).map((chunk) =>
      allPages(ctx, 'DescribeRouteTables', (t) =>
        ctx.client.send(
          new DescribeRouteTablesCommand({
            Filters: [{ Name: 'association.subnet-id', Values: chunk }],
            ...withToken(t),
          }),
        ),
      ),
    ),
  );
  const routeTables = pages.flat().flatMap((p) => p.RouteTables ?? []);
  const prefixListIds = unique(
    routeTables.flatMap((t) => (t.Routes ?? []).map((r) => r.DestinationPrefixListId)),
  );
  return { natGateways, routeTables, prefixListIds };
}

/** One prefix list's entries, or undefined when the list is gone (the audit then reports its id as unknown). */
async function readPrefixList(ctx: Context, prefixListId: string): Promise<InventoryPart | undefined> {
  const subject = {
    what: 'prefix list',
    ids: [prefixListId],
    configuredIn: 'the Security Group rules and routes that reference it',
  };
  let pages;
  try {
    pages = await allPages(
      ctx,
      'GetManagedPrefixListEntries',
      (t) =>
        ctx.client.send(
          new GetManagedPrefixListEntriesCommand({ PrefixListId: prefixListId, ...withToken(t) }),
        ),
      subject,
    );
  } catch (err) {
    if (err instanceof Ec2InventoryError && err.code?.endsWith('.NotFound')) return undefined;
    throw err;
  }
  const document = { PrefixListId: prefixListId, Entries: pages.flatMap((p) => p.Entries ?? []) };
  return validated('GetManagedPrefixListEntries', document);
}

/** Passes an API response through the offline validation, so both sources give the audit the same shapes. */
function validated(operation: string, document: Record<string, unknown>): InventoryPart {
  try {
    return parseInventoryDocument(`EC2 ${operation}`, document);
  } catch (err) {
    if (err instanceof InventoryError) {
      throw new Ec2InventoryError(
        `the EC2 API returned data the audit cannot read: ${err.message}`,
        operation,
        undefined,
        { cause: err },
      );
    }
    throw err;
  }
}

/**
 * Reads the inventory for the given Security Groups and subnets, and only for them:
 *
 * - DescribeSecurityGroups for the named groups (`GroupIds`);
 * - DescribeNetworkInterfaces filtered by `group-id`, for the named groups and the groups their rules reference
 *   in `UserIdGroupPairs` (their addresses decide what a group reference covers);
 * - DescribeSubnets for the named subnets (`SubnetIds`);
 * - DescribeNetworkAcls filtered by `association.subnet-id`, plus each of those subnets' VPC's default NACL;
 * - DescribeRouteTables filtered by `association.subnet-id`, plus each of those VPCs' main table;
 * - DescribeNatGateways for the NAT gateways active routes send traffic to, and DescribeRouteTables filtered by
 *   `association.subnet-id` for their subnets (the audit follows a NAT gateway to its own subnet's routes);
 * - GetManagedPrefixListEntries for every prefix list the rules and routes reference. A list that no longer
 *   exists is left out (the audit then names it as unknown) rather than failing the read.
 *
 * Empty id lists make no call (an empty `GroupIds` would list the whole account). Every paginated call follows
 * NextToken; throttled calls are retried with backoff ({@link withThrottlingRetry}) on top of the SDK's retries.
 *
 * @throws Ec2InventoryError naming the missing id, the IAM action or the setting to fix.
 */
export async function readInventory(
  client: EC2Client,
  scope: InventoryScope,
  options: ReadInventoryOptions = {},
): Promise<Inventory> {
  const ctx: Context = { client, options };
  const [groupSide, subnetSide] = await Promise.all([
    readGroupSide(ctx, unique(scope.securityGroupIds)),
    readSubnetSide(ctx, unique(scope.subnetIds)),
  ]);
  const natSide = await readNatSide(ctx, subnetSide.routeTables, unique(scope.subnetIds));
  const prefixListIds = unique([
    ...groupSide.prefixListIds,
    ...subnetSide.prefixListIds,
    ...natSide.prefixListIds,
  ]);
  const prefixLists = await mapLimit(prefixListIds, options.concurrency ?? 4, (id) =>
    readPrefixList(ctx, id),
  );
  return mergeInventory([
    validated('DescribeSecurityGroups', { SecurityGroups: groupSide.groups }),
    validated('DescribeNetworkInterfaces', { NetworkInterfaces: groupSide.interfaces }),
    validated('DescribeSubnets', { Subnets: subnetSide.subnets }),
    validated('DescribeNetworkAcls', { NetworkAcls: subnetSide.networkAcls }),
    validated('DescribeRouteTables', { RouteTables: subnetSide.routeTables }),
    ...(natSide.natGateways.length > 0
      ? [
          validated('DescribeNatGateways', { NatGateways: natSide.natGateways }),
          validated('DescribeRouteTables', { RouteTables: natSide.routeTables }),
        ]
      : []),
    ...prefixLists.filter((p): p is InventoryPart => p !== undefined),
  ]);
}
