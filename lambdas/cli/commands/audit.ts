import { promises as dns } from 'node:dns';
import {
  auditPlan,
  auditWithRemediation,
  type FlowAudit,
  inventoryScope,
  type InventoryScope,
  subnetCidrs,
} from '../../core/audit/plan-audit';
import { auditChangeSet, type Remediation } from '../../core/audit/remediation';
import type { ChangeSet } from '../../core/finding/change-set';
import type {
  AuditRequirement,
  AuditResult,
  DecidedBy,
  Inventory,
  IpPermission,
  MissingBlock,
} from '../../core/audit/types';
import { type Catalog, defaultCatalog } from '../../core/catalog';
import { classifyAddress } from '../../core/environment';
import { plan } from '../../core/plan';
import { formatPortList, parsePortList, PortListError } from '../../core/ports';
import { parseCommandArgs, UsageError } from '../args';
import { readEnvironmentFile } from '../env-file';
import { type Io, type Paint, painter } from '../output';
import { createAuditor } from '../../core/audit/evaluate';
import { readInventoryFiles } from '../../core/audit/inventory';

export const auditHelp = `Usage:
  preflight audit --inventory FILE [--inventory FILE…] --security-group SG [--security-group SG…]
                  [--subnet SUBNET] --require DIRECTION:PROTOCOL:PORTS:CIDR [--require …] [--json]
  preflight audit --config FILE [--inventory FILE…] [--json]

Audits the AWS side statically: do the Security Groups (stateful, the union of every group on the
interface), the subnet's network ACL (stateless, ordered, both directions including the replies on
ports 1024-65535) and its route table (longest prefix match, blackholes) allow what the migration
needs? Each requirement is allowed, partial (with the exact ports and address blocks missing),
blocked, or not audited (nothing seen drops it, but a piece the inventory lacks could: each named,
with the export that brings it), with what decided it and, where the audit saw what drops it, the
fix: AWS CLI commands, CloudFormation and CDK snippets, and the request for the on-premises firewall.
The output ends with the change set: every fix merged into one script that can be applied as a whole
(rules merged per group, network ACL numbers that collide with nothing, routes to the target the table
already uses, or a question where none can be inferred).

The first form audits requirements given on the command line: DIRECTION is egress or ingress, PORTS
a list like 22,443,8000-8010, CIDR the peer (a single address is x.x.x.x/32). With --subnet, its
network ACL and route table are evaluated too.

The second form audits every flow of an environment's plan, for every vantage and subnet.

Inventory: AWS CLI JSON exports (describe-security-groups or describe-security-group-rules,
describe-network-interfaces, describe-network-acls, describe-route-tables, describe-subnets,
describe-nat-gateways, get-managed-prefix-list-entries or describe-prefix-lists), several files
merged; see the README. Without --inventory the audit reads the same data live with
the standard AWS credential chain (AWS_PROFILE, AWS_REGION, …), only for the ids it needs.

Options:
  --inventory FILE        an AWS CLI JSON export, or a folder of them; repeat for more (files
                          given without a flag count too, so --inventory exports/*.json works)
  --security-group SG     a Security Group on the vantage's interface; repeat for more
  --subnet SUBNET         the vantage's subnet: also audit its network ACL and routes
  --require SPEC          DIRECTION:PROTOCOL:PORTS:CIDR, e.g. egress:tcp:8000-8010:10.10.0.0/16
  --config FILE           an environment file: audit its whole plan
  --json                  {"findings":[{"require","status","missing","decidedBy","remediation"}],
                          "changeSet":{"awsCli","cloudFormation","cdk","questions","firewallRequests",…}}
  -h, --help              show this help

Exit status: 0 when everything is allowed, 1 when anything is partial, blocked or not audited (with --config,
optional flows are reported but do not fail it), 2 for usage or input errors.

Examples:
  preflight audit --inventory sgs.json --inventory acls.json --inventory rtbs.json \\
    --security-group sg-0123456789abcdef0 --subnet subnet-0123456789abcdef0 \\
    --require egress:tcp:443,8888:10.20.0.5/32 --require egress:tcp:5994:10.20.0.0/24
  preflight audit --config examples/wave-1.yaml --inventory export/*.json`;

/** Reads `egress:tcp:8000-8010:10.10.0.0/16` (IPv6 CIDRs keep their colons) into a requirement. */
export function parseRequireSpec(spec: string): AuditRequirement {
  const parts = spec.split(':');
  const [direction, protocol, ports] = parts;
  const cidr = parts.slice(3).join(':');
  const bad = (why: string) =>
    new UsageError(
      `--require ${JSON.stringify(spec)}: ${why}; write DIRECTION:PROTOCOL:PORTS:CIDR, e.g. egress:tcp:443:10.20.0.0/16`,
      'audit',
    );
  if (parts.length < 4) throw bad('it has fewer than four parts');
  if (direction !== 'egress' && direction !== 'ingress')
    throw bad(`direction ${JSON.stringify(direction)} is neither egress nor ingress`);
  if (protocol !== 'tcp' && protocol !== 'udp')
    throw bad(`protocol ${JSON.stringify(protocol)} is neither tcp nor udp`);
  let ranges;
  try {
    ranges = parsePortList(ports ?? '');
  } catch (err) {
    if (err instanceof PortListError) throw bad(err.message);
    throw err;
  }
  if (classifyAddress(cidr) !== 'cidr')
    throw bad(`${JSON.stringify(cidr)} is not a CIDR block (a single address is 10.20.0.5/32)`);
  return { direction, protocol, ports: ranges, cidrs: [cidr] };
}

/** A rule's peer, as the API names it: a CIDR, a prefix list or a group. */
function rulePeer(rule: IpPermission): string {
  return (
    rule.IpRanges?.[0]?.CidrIp ??
    rule.Ipv6Ranges?.[0]?.CidrIpv6 ??
    rule.PrefixListIds?.[0]?.PrefixListId ??
    rule.UserIdGroupPairs?.[0]?.GroupId ??
    '?'
  );
}

function ruleText(rule: IpPermission): string {
  const proto = rule.IpProtocol === '-1' ? 'all traffic' : rule.IpProtocol;
  const ports =
    rule.IpProtocol === '-1' || rule.FromPort === undefined
      ? ''
      : rule.FromPort === rule.ToPort
        ? ` ${rule.FromPort}`
        : ` ${rule.FromPort}-${rule.ToPort}`;
  return `${proto}${ports} ${rulePeer(rule)}`;
}

/** One line per deciding piece of configuration. */
export function describeDecision(d: DecidedBy): string {
  switch (d.layer) {
    case 'security-group':
      return `${d.groupId} ${d.direction} ${ruleText(d.rule)}`;
    case 'network-acl': {
      const e = d.entry;
      const what = e
        ? ` ${e.Protocol === '-1' ? 'all' : e.Protocol === '6' ? 'tcp' : e.Protocol === '17' ? 'udp' : `proto ${e.Protocol}`}` +
          `${e.PortRange ? ` ${e.PortRange.From}-${e.PortRange.To}` : ''} ${e.CidrBlock ?? e.Ipv6CidrBlock ?? ''}`
        : ' (the final * rule)';
      return `${d.networkAclId} ${d.direction} rule ${d.ruleNumber} ${d.effect === 'allows' ? 'allow' : 'deny'}${what}, ${d.path} path`;
    }
    case 'route': {
      const table = `${d.via ? `(through ${d.via}) ` : ''}${d.routeTableId}${d.mainTable ? ' (main)' : ''}`;
      return d.effect === 'allows'
        ? `${table} ${d.destination} → ${d.target}`
        : `${table} ${d.destination}${d.target ? ` → ${d.target}` : ''}: ${d.reason ?? 'denies'}`;
    }
  }
}

const STATUS_COLOUR = {
  allowed: 'green',
  partial: 'yellow',
  blocked: 'red',
  'not-audited': 'yellow',
} as const;

const blockText = (m: MissingBlock) =>
  `${m.protocol} ${m.fromPort === m.toPort ? m.fromPort : `${m.fromPort}-${m.toPort}`} ${m.cidr}`;

/** The text block of one finding: status, what is missing, what decided it and the fix. */
function renderFinding(
  title: string,
  result: AuditResult,
  remediation: Remediation | undefined,
  paint: Paint,
): string {
  const label = result.status === 'not-audited' ? 'NOT AUDITED' : result.status.toUpperCase();
  const lines = [`${title}  ${paint(STATUS_COLOUR[result.status], label)}`];
  const missing = result.missing.map(blockText);
  if (missing.length > 0) lines.push(`  missing     ${missing.join('; ')}`);
  const undecided = (result.undecided ?? []).map(blockText);
  if (undecided.length > 0) lines.push(`  undecided   ${undecided.join('; ')}`);
  const allows = result.decidedBy.filter((d) => d.effect === 'allows').map(describeDecision);
  const denies = result.decidedBy.filter((d) => d.effect === 'denies').map(describeDecision);
  for (const a of allows) lines.push(`  ${paint('grey', 'allowed by')}  ${a}`);
  for (const d of denies) lines.push(`  ${paint('grey', 'denied by')}   ${d}`);
  if (
    result.layers.securityGroups.length > 0 &&
    !result.decidedBy.some((d) => d.layer === 'security-group') &&
    // A rule that names a group or list the inventory lacks does match: only its peers are unknown.
    !(result.notEvaluated ?? []).some((p) => p.layer !== 'network-acl' && p.layer !== 'route-table')
  ) {
    lines.push(
      `  ${paint('grey', 'denied by')}   no rule of the Security Groups matches (they allow only what a rule names)`,
    );
  }
  for (const piece of result.notEvaluated ?? [])
    lines.push(`  ${paint('yellow', 'not in the inventory')}: ${piece.what}; export: ${piece.export}`);
  if (remediation && (result.status === 'partial' || result.status === 'blocked')) {
    const fixes = [
      ...(remediation.securityGroup?.awsCli ?? []),
      ...(remediation.networkAcl?.awsCli ?? []),
      ...(remediation.routes?.awsCli ?? []),
    ];
    if (fixes.length > 0)
      lines.push(`  ${paint('bold', 'fix (AWS CLI, this flow alone)')}`, ...fixes.map((f) => `    ${f}`));
    if (remediation.networkAcl?.warning) lines.push(`    ${paint('yellow', remediation.networkAcl.warning)}`);
    if (remediation.routes) lines.push(`    ${paint('grey', remediation.routes.note)}`);
  }
  // Not audited: nothing to fix until the missing exports are given, on either side.
  if (remediation) lines.push(`  ${paint('bold', 'on-prem firewall')}  ${remediation.onPremFirewall}`);
  return lines.join('\n');
}

/**
 * The change set, at the end of the text: the AWS CLI script to run as a whole (per-flow fixes above may
 * collide, this one does not), what must be answered first, and the on-premises firewall requests.
 */
export function renderChangeSet(cs: ChangeSet, paint: Paint): string {
  if (cs.awsCli.length === 0 && cs.questions.length === 0 && cs.firewallRequests.length === 0) return '';
  const lines = [
    '',
    paint('bold', 'Change set: every fix above, merged (apply these, not the per-flow fixes)'),
  ];
  if (cs.awsCli.length > 0) lines.push(`  ${paint('bold', 'AWS CLI')}`, ...cs.awsCli.map((c) => `    ${c}`));
  if (cs.questions.length > 0)
    lines.push(`  ${paint('yellow', 'to answer first')}`, ...cs.questions.map((q) => `    ${q.text}`));
  if (cs.firewallRequests.length > 0)
    lines.push(
      `  ${paint('bold', 'on-prem firewall requests')}`,
      ...cs.firewallRequests.map((r) => `    ${r.text}`),
    );
  if (cs.operations.length > 0)
    lines.push(
      `  ${paint('grey', 'CloudFormation and CDK: preflight audit … --json (changeSet.cloudFormation, changeSet.cdk)')}`,
    );
  return `${lines.join('\n')}\n`;
}

/** Reads the inventory from files, or live from EC2 for just these ids when no file is given. */
async function loadInventory(
  files: readonly string[],
  cwd: string,
  scope: InventoryScope,
): Promise<Inventory> {
  if (files.length > 0) return readInventoryFiles([...files], cwd);
  // Imported only here (a chunk of its own in the CLI bundle), so an audit of files never loads the AWS SDK.
  const ec2 = await import('../../aws/ec2-inventory.js');
  return ec2.readInventory(ec2.createEc2Client(), scope);
}

async function resolveHost(host: string): Promise<string[]> {
  const answers = await dns.lookup(host, { all: true });
  return answers.map((a) => a.address);
}

/** `preflight audit`: the static audit of Security Groups, network ACLs and routes, with the fixes. */
export async function auditCommand(argv: string[], io: Io, injected?: Catalog): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'audit',
    argv,
    {
      inventory: { type: 'string', multiple: true },
      'security-group': { type: 'string', multiple: true },
      subnet: { type: 'string' },
      require: { type: 'string', multiple: true },
      config: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    true,
  );
  const paint = painter(io.stdout, io.env);
  // Bare file arguments are inventory files too, so `--inventory exports/*.json` works as the shell expands it.
  const files = [...(values.inventory ?? []), ...positionals];

  if (values.config !== undefined) {
    if (values.require || values['security-group'] || values.subnet) {
      throw new UsageError(
        '--config audits the whole plan: leave out --require, --security-group and --subnet',
        'audit',
      );
    }
    const catalog = injected ?? defaultCatalog();
    const env = readEnvironmentFile(values.config, io.cwd, catalog);
    const inventory = await loadInventory(files, io.cwd, inventoryScope(env));
    const audits = await auditPlan(plan(env, catalog), env, inventory, createAuditor(inventory), resolveHost);
    return reportPlanAudit(env.name, audits, io, paint, values.json);
  }

  const requires = (values.require ?? []).map(parseRequireSpec);
  const groups = values['security-group'] ?? [];
  if (requires.length === 0)
    throw new UsageError(
      'give at least one --require DIRECTION:PROTOCOL:PORTS:CIDR, or --config FILE',
      'audit',
    );
  if (groups.length === 0)
    throw new UsageError("give the vantage's Security Groups with --security-group SG", 'audit');
  for (const g of groups) {
    if (!/^sg-(?:[0-9a-f]{8}|[0-9a-f]{17})$/.test(g))
      throw new UsageError(
        `--security-group: ${JSON.stringify(g)} is not a security group id (sg-…)`,
        'audit',
      );
  }
  if (values.subnet !== undefined && !/^subnet-(?:[0-9a-f]{8}|[0-9a-f]{17})$/.test(values.subnet)) {
    throw new UsageError(`--subnet: ${JSON.stringify(values.subnet)} is not a subnet id (subnet-…)`, 'audit');
  }
  const inventory = await loadInventory(files, io.cwd, {
    securityGroupIds: groups,
    subnetIds: values.subnet !== undefined ? [values.subnet] : [],
  });
  const auditor = createAuditor(inventory);
  const vantage = {
    securityGroupIds: groups,
    ...(values.subnet !== undefined ? { subnetId: values.subnet } : {}),
  };
  const vantageCidrs = values.subnet !== undefined ? subnetCidrs([values.subnet], inventory) : [];
  const specs = values.require ?? [];
  const findings = requires.map((requirement, i) => {
    const label = specs[i] ?? '';
    const { result, remediation } = auditWithRemediation(auditor, inventory, vantage, requirement, {
      label,
      vantageCidrs,
    });
    // No remediation for what was not seen (auditWithRemediation gives none when not audited).
    return { require: label, ...result, ...(remediation ? { remediation } : {}) };
  });
  const changeSet = auditChangeSet(findings.map((f) => ({ result: f, remediation: f.remediation })));
  if (values.json) {
    io.stdout.write(`${JSON.stringify({ findings, changeSet }, null, 2)}\n`);
  } else {
    io.stdout.write(
      `${findings.map((f) => renderFinding(f.require, f, f.remediation, paint)).join('\n\n')}\n` +
        renderChangeSet(changeSet, paint),
    );
  }
  return findings.every((f) => f.status === 'allowed') ? 0 : 1;
}

function reportPlanAudit(
  name: string,
  audits: readonly FlowAudit[],
  io: Io,
  paint: Paint,
  json: boolean,
): number {
  const failing = audits.filter((a) => a.problem !== undefined || a.result?.status !== 'allowed');
  const blocking = failing.filter((a) => !a.optional);
  const go = blocking.length === 0;
  if (json) {
    const findings = audits.map((a) => ({
      flowId: a.flowId,
      requirements: a.requirements,
      optional: a.optional,
      vantage: a.vantage,
      ...(a.subnetId ? { subnetId: a.subnetId } : {}),
      securityGroupIds: a.securityGroupIds,
      direction: a.requirement.direction,
      protocol: a.requirement.protocol,
      ports: a.requirement.ports,
      peers: a.requirement.cidrs,
      ...(a.result ?? {}),
      ...(a.remediation ? { remediation: a.remediation } : {}),
      ...(a.problem ? { problem: a.problem } : {}),
    }));
    // The summary counts the findings listed: one per flow, vantage and subnet.
    const summary = { counted: 'findings (one per flow, vantage and subnet)', ...countAudits(audits), go };
    const changeSet = auditChangeSet(audits);
    io.stdout.write(`${JSON.stringify({ environment: name, summary, findings, changeSet }, null, 2)}\n`);
  } else {
    // Subnets that share a network ACL and route table get the same answer: one block lists them all.
    const groups = new Map<string, { audit: FlowAudit; subnets: string[] }>();
    for (const a of audits) {
      const key = JSON.stringify([a.flowId, a.vantage, a.requirement, a.result, a.remediation, a.problem]);
      const group = groups.get(key) ?? { audit: a, subnets: [] };
      if (a.subnetId) group.subnets.push(a.subnetId);
      groups.set(key, group);
    }
    const blocks = [...groups.values()].map(({ audit: a, subnets }) => {
      const where = `${a.vantage}${subnets.length > 0 ? ` (${subnets.join(', ')})` : ''}`;
      const title =
        `${a.requirement.direction} ${a.requirement.protocol} ${formatPortList(a.requirement.ports)} ` +
        `${a.requirement.direction === 'egress' ? 'to' : 'from'} ${a.requirement.cidrs.join(',') || '?'} at ${where}` +
        paint('grey', ` (${a.requirements.join(', ')}${a.optional ? ', optional' : ''})`);
      if (a.problem !== undefined || !a.result)
        return `${title}  ${paint('yellow', 'NOT AUDITED')}: ${a.problem ?? 'no result'}`;
      return renderFinding(title, a.result, a.remediation, paint);
    });
    // The summary counts the blocks printed (subnets with the same answer share one).
    const shown = [...groups.values()].map((g) => g.audit);
    const printed = countAudits(shown);
    const failed = shown.filter(
      (a) => !a.optional && (a.problem !== undefined || a.result?.status !== 'allowed'),
    );
    const verdict = go
      ? paint('green', 'GO: the AWS side allows every required flow')
      : paint(
          'red',
          `NO-GO: ${failed.length} required flow audit${failed.length === 1 ? '' : 's'} above partial, blocked or not audited`,
        );
    io.stdout.write(
      `${paint('bold', `Audit of ${name}`)}\n\n${blocks.join('\n\n')}\n\n` +
        `${printed.allowed} allowed, ${printed.partial} partial, ${printed.blocked} blocked, ${printed.notAudited} not audited\n${verdict}\n` +
        renderChangeSet(auditChangeSet(audits), paint),
    );
  }
  if (audits.length === 0)
    io.stderr.write('preflight audit: the plan has no flow to audit (see preflight plan)\n');
  return go ? 0 : 1;
}

/** Counts audits by status; `notAudited` holds those that could not be made at all too. */
function countAudits(audits: readonly FlowAudit[]) {
  const count = (s: string) => audits.filter((a) => a.problem === undefined && a.result?.status === s).length;
  return {
    audited: audits.length,
    allowed: count('allowed'),
    partial: count('partial'),
    blocked: count('blocked'),
    notAudited: audits.filter(
      (a) => a.problem !== undefined || !a.result || a.result.status === 'not-audited',
    ).length,
  };
}
