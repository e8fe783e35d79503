import { formatPortList, mergePortRanges } from '../ports';
import type {
  AuditRequirement,
  AuditResult,
  AuditVantage,
  IpPermission,
  MissingBlock,
  NetworkAcl,
  NetworkAclEntry,
} from './types';

/**
 * The fix for one audit result: the fewest rules that close each gap, never wider than the requirement,
 * as AWS CLI commands, a CloudFormation snippet and CDK code, plus the on-premises firewall request.
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
    readonly entries: readonly NetworkAclEntry[];
    readonly awsCli: readonly string[];
    readonly cloudFormation: string;
    /** Set when no free rule number comes early enough: the ACL must be renumbered by hand. */
    readonly warning?: string;
  };
  /** CIDRs with no usable route: a route to the on-premises gateway is needed. */
  readonly routes?: {
    readonly routeTableId: string | undefined;
    readonly cidrs: readonly string[];
    readonly awsCli: readonly string[];
    readonly note: string;
  };
  /** The request for the on-premises firewall team: source, destination, protocol and ports. */
  readonly onPremFirewall: string;
}

/** Context that makes the fix concrete: subnet CIDRs, a label for rule descriptions. */
export interface RemediationContext {
  /** The CIDRs of the vantage's subnets (the source of egress flows as on-prem firewalls see it). */
  readonly vantageCidrs: readonly string[];
  /** Put in rule descriptions, e.g. the requirement id; at most 255 characters are kept. */
  readonly label: string;
  /** The subnet's network ACL, so that new entries get free numbers ahead of the denying ones. */
  readonly networkAcl?: NetworkAcl;
}

const PROTOCOL_NUMBER = { tcp: '6', udp: '17' } as const;

const isV6 = (cidr: string) => cidr.includes(':');
const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const description = (label: string) => `preflight: ${label}`.slice(0, 255);

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
  const desc = description(label);
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
  const verb =
    direction === 'egress' ? 'authorize-security-group-egress' : 'authorize-security-group-ingress';
  const awsCli = [
    `aws ec2 ${verb} --group-id ${groupId} --ip-permissions ${shellQuote(JSON.stringify(permissions))}`,
  ];
  const cfnType = direction === 'egress' ? 'AWS::EC2::SecurityGroupEgress' : 'AWS::EC2::SecurityGroupIngress';
  const peerKey = (cidr: string) =>
    direction === 'egress'
      ? isV6(cidr)
        ? 'DestinationCidrIpv6'
        : 'DestinationCidrIp'
      : isV6(cidr)
        ? 'CidrIpv6'
        : 'CidrIp';
  const resources: string[] = [];
  const cdkLines: string[] = [
    `const sg = ec2.SecurityGroup.fromSecurityGroupId(this, 'PreflightSg', '${groupId}');`,
  ];
  const method = direction === 'egress' ? 'addEgressRule' : 'addIngressRule';
  for (const g of byPortRange(blocks)) {
    for (const cidr of g.cidrs) {
      const name = `Preflight${direction === 'egress' ? 'Egress' : 'Ingress'}${resources.length + 1}`;
      resources.push(
        [
          `  ${name}:`,
          `    Type: ${cfnType}`,
          '    Properties:',
          `      GroupId: ${groupId}`,
          `      IpProtocol: ${protocol}`,
          `      FromPort: ${g.from}`,
          `      ToPort: ${g.to}`,
          `      ${peerKey(cidr)}: ${cidr}`,
          `      Description: ${JSON.stringify(description(label))}`,
        ].join('\n'),
      );
      const peer = isV6(cidr) ? `ec2.Peer.ipv6('${cidr}')` : `ec2.Peer.ipv4('${cidr}')`;
      const port =
        g.from === g.to ? `ec2.Port.${protocol}(${g.from})` : `ec2.Port.${protocol}Range(${g.from}, ${g.to})`;
      cdkLines.push(`sg.${method}(${peer}, ${port}, ${JSON.stringify(description(label))});`);
    }
  }
  return {
    groupId,
    direction,
    permissions,
    awsCli,
    cloudFormation: `Resources:\n${resources.join('\n')}\n`,
    cdk: cdkLines.join('\n'),
  };
}

/**
 * The lowest-numbered explicit deny of the given direction that could match the new entry: a new allow
 * must come before it. Matching is judged conservatively (any overlap of protocol and ports; any deny
 * of the same address family), so the number chosen is always early enough.
 */
function firstDenyBefore(acl: NetworkAcl | undefined, egress: boolean, entry: NetworkAclEntry): number {
  let limit = 32767;
  for (const e of acl?.Entries ?? []) {
    if (e.Egress !== egress || e.RuleAction !== 'deny' || e.RuleNumber >= 32767) continue;
    const protocolOverlaps = e.Protocol === '-1' || e.Protocol === entry.Protocol;
    const from = e.PortRange?.From ?? 0;
    const to = e.PortRange?.To ?? 65535;
    const portsOverlap = !entry.PortRange || (from <= entry.PortRange.To && to >= entry.PortRange.From);
    const sameFamily = (e.Ipv6CidrBlock !== undefined) === (entry.Ipv6CidrBlock !== undefined);
    if (protocolOverlaps && portsOverlap && sameFamily) limit = Math.min(limit, e.RuleNumber);
  }
  return limit;
}

function networkAclFix(
  aclId: string,
  requirement: AuditRequirement,
  gaps: { request: readonly MissingBlock[]; return: readonly MissingBlock[] },
  context: RemediationContext,
): NonNullable<Remediation['networkAcl']> {
  const protocolNumber = PROTOCOL_NUMBER[requirement.protocol];
  const requestEgress = requirement.direction === 'egress';
  const drafts: Array<Omit<NetworkAclEntry, 'RuleNumber'>> = [];
  const add = (egress: boolean, blocks: readonly MissingBlock[]) => {
    for (const g of byPortRange(blocks)) {
      for (const cidr of g.cidrs) {
        drafts.push({
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

  const taken = new Set((context.networkAcl?.Entries ?? []).map((e) => `${e.Egress}:${e.RuleNumber}`));
  let warning: string | undefined;
  const entries: NetworkAclEntry[] = drafts.map((draft) => {
    const limit = firstDenyBefore(context.networkAcl, draft.Egress, draft as NetworkAclEntry);
    // Next in the ACL's own numbering (the next ten after its highest rule before the deny), when that
    // still comes first; otherwise count down from just below the deny.
    const before = [...taken]
      .filter((k) => k.startsWith(`${draft.Egress}:`))
      .map((k) => Number(k.slice(k.indexOf(':') + 1)))
      .filter((x) => x < limit);
    let n = (Math.floor(Math.max(0, ...before) / 10) + 1) * 10;
    if (n >= limit || taken.has(`${draft.Egress}:${n}`)) {
      n = limit - 1;
      while (n >= 1 && taken.has(`${draft.Egress}:${n}`)) n--;
    }
    if (n < 1) {
      warning = `no free rule number before rule ${limit} in ${aclId}: renumber its ${draft.Egress ? 'outbound' : 'inbound'} rules to make room`;
      n = limit;
    }
    taken.add(`${draft.Egress}:${n}`);
    return { RuleNumber: n, ...draft };
  });
  const awsCli = entries.map((e) => {
    const cidr = e.Ipv6CidrBlock ? `--ipv6-cidr-block ${e.Ipv6CidrBlock}` : `--cidr-block ${e.CidrBlock}`;
    return (
      `aws ec2 create-network-acl-entry --network-acl-id ${aclId} --rule-number ${e.RuleNumber} ` +
      `--protocol ${e.Protocol} --rule-action allow ${e.Egress ? '--egress' : '--ingress'} ${cidr} ` +
      `--port-range From=${e.PortRange?.From},To=${e.PortRange?.To}`
    );
  });
  const cloudFormation =
    'Resources:\n' +
    entries
      .map((e, i) =>
        [
          `  PreflightAclEntry${i + 1}:`,
          '    Type: AWS::EC2::NetworkAclEntry',
          '    Properties:',
          `      NetworkAclId: ${aclId}`,
          `      RuleNumber: ${e.RuleNumber}`,
          `      Protocol: ${e.Protocol}`,
          '      RuleAction: allow',
          `      Egress: ${e.Egress}`,
          e.Ipv6CidrBlock ? `      Ipv6CidrBlock: ${e.Ipv6CidrBlock}` : `      CidrBlock: ${e.CidrBlock}`,
          '      PortRange:',
          `        From: ${e.PortRange?.From}`,
          `        To: ${e.PortRange?.To}`,
        ].join('\n'),
      )
      .join('\n') +
    '\n';
  return { networkAclId: aclId, entries, awsCli, cloudFormation, ...(warning ? { warning } : {}) };
}

function routeFix(
  routeTableId: string | undefined,
  blocks: readonly MissingBlock[],
): NonNullable<Remediation['routes']> {
  const cidrs = [...new Set(blocks.map((b) => b.cidr))];
  const table = routeTableId ?? '<route table of the subnet>';
  return {
    routeTableId,
    cidrs,
    awsCli: cidrs.map(
      (cidr) =>
        `aws ec2 create-route --route-table-id ${table} ` +
        `${isV6(cidr) ? '--destination-ipv6-cidr-block' : '--destination-cidr-block'} ${cidr} ` +
        '--transit-gateway-id <tgw-… or use --gateway-id vgw-…>',
    ),
    note:
      'These addresses have no usable route from the subnet. Route them to the path that reaches on-premises ' +
      '(the transit gateway or virtual private gateway your VPN or Direct Connect uses), or replace a blackhole route.',
  };
}

/** The one-line request for the on-premises firewall: the whole requirement, since its state cannot be read. */
export function onPremFirewallRequest(
  requirement: AuditRequirement,
  vantageCidrs: readonly string[],
): string {
  const vantage = vantageCidrs.length > 0 ? vantageCidrs.join(',') : '<the vantage subnets’ CIDRs>';
  const peers = requirement.cidrs.join(',');
  const [source, destination] = requirement.direction === 'egress' ? [vantage, peers] : [peers, vantage];
  const ports = formatPortList(mergePortRanges(requirement.ports));
  return `permit ${requirement.protocol} from ${source} to ${destination} port ${ports} (and the replies)`;
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
  return {
    ...(securityGroups.length > 0 && groupId !== undefined
      ? { securityGroup: securityGroupFix(groupId, requirement, securityGroups, context.label) }
      : {}),
    ...(networkAcl && (networkAcl.request.length > 0 || networkAcl.return.length > 0)
      ? { networkAcl: networkAclFix(networkAcl.networkAclId, requirement, networkAcl, context) }
      : {}),
    ...(routes && routes.missing.length > 0 ? { routes: routeFix(routes.routeTableId, routes.missing) } : {}),
    onPremFirewall: onPremFirewallRequest(requirement, context.vantageCidrs),
  };
}
