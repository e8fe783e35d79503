/**
 * The combined verdict of a flow: what the live probe saw and what the static audit of the AWS side says,
 * turned into one verdict with a cause a person can act on. Pure functions, no I/O.
 */
import { describeNotEvaluated } from '../audit/not-evaluated';
import type { FlowAudit } from '../audit/plan-audit';
import type { AuditStatus, MissingBlock } from '../audit/types';
import { describeParty, type Flow } from '../plan';
import { formatPortList } from '../ports';
import type { ProbeResult, ProbeState } from '../probe';
import type { FindingRecord, VerdictChange } from '../store';
import { type FlowOutcome, judgeFlow } from '../verdict';

/** A flow's combined verdict, from the best to the least checkable. */
export type CombinedVerdict =
  | 'pass'
  | 'warn'
  | 'blocked-aws'
  | 'timeout-aws-allows'
  | 'timeout'
  | 'refused'
  | 'unreachable'
  | 'dns-error'
  | 'error'
  | 'audited-only'
  | 'not-checkable'
  | 'skipped';

/** A finding before it is tied to a run: everything {@link FindingRecord} holds except the run's fields. */
export type CombinedFinding = Omit<FindingRecord, 'checkId' | 'environmentName' | 'createdAt'> & {
  readonly verdict: CombinedVerdict;
};

/** What the audit step produced: the audits, or why there are none. */
export interface AuditOutcome {
  readonly audits: readonly FlowAudit[];
  /** Set when the audit did not run (no inventory, or it failed), in a sentence. */
  readonly skipped?: string;
}

/** What the probes produced for a flow's source vantage, or why there is nothing. */
export type ProbeOutcome =
  | { readonly results: ReadonlyMap<string, ProbeResult> }
  | { readonly results?: undefined; readonly problem: string };

// Not audited ranks above allowed (nothing verified it) and below what is seen to drop the flow.
const STATUS_RANK: Record<AuditStatus, number> = { allowed: 0, 'not-audited': 1, partial: 2, blocked: 3 };

/** The worst status of a flow's audits; undefined when none has a result. */
export function auditStatusOf(audits: readonly FlowAudit[]): AuditStatus | undefined {
  let worst: AuditStatus | undefined;
  for (const a of audits) {
    if (!a.result) continue;
    if (worst === undefined || STATUS_RANK[a.result.status] > STATUS_RANK[worst]) worst = a.result.status;
  }
  return worst;
}

const blocks = (list: readonly MissingBlock[]) =>
  [
    ...new Set(
      list.map(
        (b) =>
          `${b.protocol} ${b.fromPort === b.toPort ? b.fromPort : `${b.fromPort}-${b.toPort}`} ${b.cidr}`,
      ),
    ),
  ].join(', ');

/**
 * Names what blocks a flow on the AWS side, from each audit that is not `allowed`: the Security Groups that
 * lack a rule, the network ACL rule that denies (request or return path), the route that is missing or a
 * blackhole, and any id the inventory lacks.
 */
export function describeAwsBlock(audits: readonly FlowAudit[]): string {
  const parts: string[] = [];
  for (const a of audits) {
    const r = a.result;
    if (!r || r.status === 'allowed') continue;
    const where = `vantage ${a.vantage}${a.subnetId ? ` (${a.subnetId})` : ''}`;
    const dir = a.requirement.direction;
    if (r.layers.securityGroups.length > 0) {
      parts.push(
        `no ${dir} rule of ${a.securityGroupIds.join(', ')} on ${where} allows ${blocks(r.layers.securityGroups)}`,
      );
    }
    for (const d of r.decidedBy) {
      if (d.layer === 'network-acl' && d.effect === 'denies') {
        const rule = d.ruleNumber === '*' ? 'the final deny (*)' : `rule ${d.ruleNumber}`;
        parts.push(
          `network ACL ${d.networkAclId} ${d.direction} ${rule} denies the ${d.path} path on ${where}`,
        );
      } else if (d.layer === 'route' && d.effect === 'denies') {
        const reason = d.reason ?? 'no usable route';
        parts.push(
          `route table ${d.routeTableId}${d.mainTable ? ' (main)' : ''} to ${d.destination}: ${reason} on ${where}`,
        );
      }
    }
    if ((r.notEvaluated ?? []).length > 0) parts.push(describeNotEvaluated(r.notEvaluated ?? []));
    else if (r.unknown.length > 0) parts.push(`the inventory lacks ${r.unknown.join(', ')}`);
    if (parts.length === 0 && r.missing.length > 0)
      parts.push(`${where} does not allow ${blocks(r.missing)}`);
  }
  return [...new Set(parts)].join('; ');
}

/** Problems of audits that could not be made (an unresolvable host, no Security Groups, a missing export…). */
function auditProblems(audits: readonly FlowAudit[]): string[] {
  return [
    ...new Set(
      audits.flatMap((a) =>
        a.problem !== undefined
          ? [a.problem]
          : a.result?.status === 'not-audited'
            ? [describeNotEvaluated(a.result.notEvaluated ?? [])]
            : [],
      ),
    ),
  ];
}

/** Removes `undefined` members so that the detail is plain JSON. */
function toJson(value: unknown): FindingRecord['detail'] {
  return JSON.parse(JSON.stringify(value)) as FindingRecord['detail'];
}

function auditDetail(audits: readonly FlowAudit[], outcome: AuditOutcome) {
  if (outcome.skipped !== undefined && audits.length === 0) return { skipped: outcome.skipped };
  return {
    status: auditStatusOf(audits) ?? null,
    ends: audits.map((a) => ({
      vantage: a.vantage,
      subnetId: a.subnetId,
      direction: a.requirement.direction,
      securityGroupIds: a.securityGroupIds,
      status: a.result?.status,
      missing: a.result?.missing,
      decidedBy: a.result?.decidedBy,
      unknown: a.result?.unknown,
      notEvaluated: a.result?.notEvaluated,
      problem: a.problem,
    })),
  };
}

/** The live state that decides the verdict when several ports failed differently: the most telling first. */
const LIVE_PRIORITY: readonly ProbeState[] = ['dns-error', 'filtered', 'unreachable', 'closed', 'error'];

/**
 * Combines the probe and the audit of one flow into a finding.
 *
 * - `not-checkable`: both ends are outside the VPC (or neither is a vantage); never silently dropped.
 * - `blocked-aws`: the audit says `blocked` or `partial` and the probe did not get through: the cause names
 *   the Security Groups, network ACL rule or route, and `detail.remediation` holds the fix. A refusal is the
 *   exception: the host answered, so the packets got through and the verdict stays `refused` (with a note).
 * - `audited-only`: a flow that cannot be probed (ingress, CIDR destination) that the audit allows, or that
 *   could not be audited; `detail.audit.status` says which.
 * - For probed flows: `pass`; `warn` (every port connected, but on some the service identification found
 *   something else: a proxy's error page, an expired certificate, plain text on a TLS port, a middlebox that
 *   accepts and closes; the cause says which port and why, and `services` holds what answered); `dns-error`; `timeout-aws-allows` (filtered while AWS allows it: the on-prem
 *   firewall, VPN or route); `timeout` (filtered and the AWS side not audited); `unreachable`; `refused`;
 *   `error`; `skipped` (the time budget ran out or the probe did not run).
 */
export function combineFlow(
  flow: Flow,
  probe: ProbeOutcome,
  audits: readonly FlowAudit[],
  outcome: AuditOutcome,
): CombinedFinding {
  const base = {
    flowId: flow.id,
    direction: flow.direction,
    source: describeParty(flow.source),
    destination: describeParty(flow.destination),
    protocol: flow.protocol,
    ports: formatPortList(flow.ports),
    requirements: [...flow.requirements],
    optional: flow.optional,
  };
  const status = auditStatusOf(audits);
  const remediation = audits.flatMap((a) =>
    a.remediation && a.result && a.result.status !== 'allowed' && a.result.status !== 'not-audited'
      ? [{ vantage: a.vantage, subnetId: a.subnetId, ...a.remediation }]
      : [],
  );
  const finding = (verdict: CombinedVerdict, cause: string, live?: FlowOutcome): CombinedFinding => ({
    ...base,
    verdict,
    cause,
    ...(live?.services ? { services: live.services.map(({ port, service }) => ({ port, service })) } : {}),
    detail: toJson({
      why: flow.why,
      ...(live ? { probe: { verdict: live.verdict, cause: live.cause, ports: live.ports } } : {}),
      ...(flow.audit ? { audit: auditDetail(audits, outcome) } : {}),
      ...(remediation.length > 0 ? { remediation } : {}),
    }),
  });
  const awsBlocked = status === 'blocked' || status === 'partial';
  const blockedCause = () =>
    `blocked on the AWS side (${status}): ${describeAwsBlock(audits) || 'see the audit detail'}`;

  if (!flow.probe && !flow.audit) return finding('not-checkable', flow.why);

  if (!flow.probe) {
    if (awsBlocked) return finding('blocked-aws', `audited only; ${blockedCause()}`);
    if (status === 'allowed') return finding('audited-only', `AWS allows it (audited only: ${flow.why})`);
    const problems = auditProblems(audits);
    const why = outcome.skipped ?? (problems.length > 0 ? problems.join('; ') : 'no audit result');
    return finding('audited-only', `not audited: ${why} (${flow.why})`);
  }

  if (probe.results === undefined) {
    if (awsBlocked) return finding('blocked-aws', `${blockedCause()} (not probed: ${probe.problem})`);
    return finding('skipped', `not probed: ${probe.problem}`);
  }
  const live = judgeFlow(flow, probe.results);
  if (live.verdict === 'pass' || live.verdict === 'warn') {
    const note = awsBlocked
      ? ` (but the audit says ${status}: ${describeAwsBlock(audits)}; is the inventory out of date?)`
      : '';
    // Every port connected, so the network path works; `warn` says the answer on some port deserves a look.
    if (live.verdict === 'warn') return finding('warn', `${live.cause}${note}`, live);
    return finding('pass', `every port accepted a connection${note}`, live);
  }
  if (live.verdict === 'skipped') {
    if (awsBlocked) return finding('blocked-aws', `${blockedCause()} (probe: ${live.cause})`, live);
    return finding('skipped', live.cause, live);
  }
  const state = LIVE_PRIORITY.find((s) => live.ports[s] !== undefined) ?? 'error';
  if (state === 'dns-error') return finding('dns-error', live.cause, live);
  // A refusal came back from the host, so the AWS side let the packets through: the audit is not the cause.
  if (awsBlocked && state !== 'closed')
    return finding('blocked-aws', `${blockedCause()} (probe: ${live.cause})`, live);
  switch (state) {
    case 'filtered':
      if (status === 'allowed') {
        return finding(
          'timeout-aws-allows',
          `${live.ports.filtered} timed out although AWS allows it (Security Groups, network ACL and routes): ` +
            `look at the on-premises firewall, the VPN or the on-premises route back to the VPC`,
          live,
        );
      }
      return finding(
        'timeout',
        `${live.cause} (the AWS side was not audited: ${outcome.skipped ?? (auditProblems(audits).join('; ') || 'no audit result')})`,
        live,
      );
    case 'unreachable':
      return finding('unreachable', live.cause, live);
    case 'closed': {
      const note = awsBlocked
        ? ` (the audit says ${status}: ${describeAwsBlock(audits)}; the refusal shows packets got through: is the inventory out of date?)`
        : '';
      return finding('refused', `${live.cause}${note}`, live);
    }
    default:
      return finding('error', live.cause, live);
  }
}

/** Findings by verdict, for a run's `counts`. */
export function countVerdicts(findings: ReadonlyArray<{ readonly verdict: string }>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const f of findings) counts[f.verdict] = (counts[f.verdict] ?? 0) + 1;
  return counts;
}

/**
 * The flows whose verdict differs between two runs of the same environment, by flow id: a changed verdict
 * (`from` and `to`), a new flow (`to` only) and a gone one (`from` only), sorted by flow id. Without a
 * previous run there is nothing to compare with, so no changes.
 */
export function compareFindings(
  previous: ReadonlyArray<{ readonly flowId: string; readonly verdict: string }> | undefined,
  current: ReadonlyArray<{ readonly flowId: string; readonly verdict: string }>,
): VerdictChange[] {
  if (previous === undefined) return [];
  const before = new Map(previous.map((f) => [f.flowId, f.verdict]));
  const after = new Map(current.map((f) => [f.flowId, f.verdict]));
  const changes: VerdictChange[] = [];
  for (const [flowId, to] of after) {
    const from = before.get(flowId);
    if (from === undefined) changes.push({ flowId, to });
    else if (from !== to) changes.push({ flowId, from, to });
  }
  for (const [flowId, from] of before) if (!after.has(flowId)) changes.push({ flowId, from });
  return changes.sort((a, b) => (a.flowId < b.flowId ? -1 : a.flowId > b.flowId ? 1 : 0));
}
