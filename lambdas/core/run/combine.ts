/**
 * The combined verdict of a flow: what the live probe saw and what the static audit of the AWS side says,
 * turned into one verdict with a cause a person can act on. Pure functions, no I/O.
 */
import { describeNotEvaluated } from '../audit/not-evaluated';
import type { FlowAudit } from '../audit/plan-audit';
import type { AuditStatus } from '../audit/types';
import type { FindingDetail, RemediationDetail } from '../finding/detail';
import { describeDecision, describeMissing, describePortService } from '../finding/evidence';
import { judgeLive, type LiveEvidence } from '../finding/live';
import type { Verdict } from '../finding/verdicts';
import { describeParty, type Flow } from '../plan';
import { formatPortList } from '../ports';
import type { ProbeResult, ProbeState } from '../probe';
import type { FindingRecord, VerdictChange } from '../store';

/** A finding before it is tied to a run: everything {@link FindingRecord} holds except the run's fields. */
export type CombinedFinding = Omit<FindingRecord, 'checkId' | 'environmentName' | 'createdAt' | 'detail'> & {
  readonly verdict: Verdict;
  readonly detail: FindingDetail;
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
        `no ${dir} rule of ${a.securityGroupIds.join(', ')} on ${where} allows ${describeMissing(r.layers.securityGroups)}`,
      );
    }
    for (const d of r.decidedBy) {
      if (d.effect === 'denies') parts.push(`${describeDecision(d)} on ${where}`);
    }
    if ((r.notEvaluated ?? []).length > 0) parts.push(describeNotEvaluated(r.notEvaluated ?? []));
    else if (r.unknown.length > 0) parts.push(`the inventory lacks ${r.unknown.join(', ')}`);
    if (parts.length === 0 && r.missing.length > 0)
      parts.push(`${where} does not allow ${describeMissing(r.missing)}`);
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

/** Removes `undefined` members so that the detail is plain JSON (as the store keeps it). */
function toJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function auditDetail(audits: readonly FlowAudit[], outcome: AuditOutcome): FindingDetail['audit'] {
  if (outcome.skipped !== undefined && audits.length === 0) return { skipped: outcome.skipped, ends: [] };
  return {
    status: auditStatusOf(audits) ?? null,
    ends: audits.map((a) => ({
      vantage: a.vantage,
      subnetId: a.subnetId,
      direction: a.requirement.direction,
      securityGroupIds: [...a.securityGroupIds],
      status: a.result?.status,
      rules: (a.result?.decidedBy ?? []).map(describeDecision),
      ...(a.result && a.result.missing.length > 0 ? { missing: describeMissing(a.result.missing) } : {}),
      unknown: [...(a.result?.unknown ?? [])],
      // A not-audited end names what the inventory lacks and the export that would bring it.
      problem:
        a.problem ??
        (a.result?.status === 'not-audited' ? describeNotEvaluated(a.result.notEvaluated ?? []) : undefined),
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
 * - `audited-only`: a flow that cannot be probed (ingress, CIDR destination) that the audit allows;
 *   `not-audited`: such a flow that could not be audited either (no inventory, the local check, a problem).
 *   Both are not verified live (see lambdas/core/finding/verdicts.ts).
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
  const finding = (verdict: Verdict, cause: string, live?: LiveEvidence): CombinedFinding => ({
    ...base,
    verdict,
    cause,
    ...(live?.services ? { services: live.services.map(({ port, service }) => ({ port, service })) } : {}),
    detail: toJson<FindingDetail>({
      why: flow.why,
      ...(flow.source.kind === 'vantage' ? { sourceVantage: flow.source.vantage } : {}),
      ...(flow.destination.kind === 'vantage' ? { destinationVantage: flow.destination.vantage } : {}),
      ...(live ? { probe: { cause: live.cause, ports: live.ports } } : {}),
      ...(probe.results === undefined && flow.probe ? { notProbed: probe.problem } : {}),
      ...(live?.services ? { answered: live.services.map(describePortService) } : {}),
      ...(flow.audit ? { audit: auditDetail(audits, outcome) } : {}),
      // The full fix (permissions, entries) is kept: the change set merges them.
      ...(remediation.length > 0 ? { remediation: remediation as RemediationDetail[] } : {}),
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
    // The plan's `why` says how the flow would be audited; only its first clause (why it is not probed) holds here.
    const notProbed = flow.why.split(':')[0] ?? flow.why;
    return finding('not-audited', `not probed (${notProbed}) and not audited: ${why}`);
  }

  if (probe.results === undefined) {
    if (awsBlocked) return finding('blocked-aws', `${blockedCause()} (not probed: ${probe.problem})`);
    return finding('skipped', `not probed: ${probe.problem}`);
  }
  const live = judgeLive(flow, probe.results);
  if (live.outcome === 'connected' || live.outcome === 'warned') {
    const note = awsBlocked
      ? ` (but the audit says ${status}: ${describeAwsBlock(audits)}; is the inventory out of date?)`
      : '';
    // Every port connected, so the network path works; `warn` says the answer on some port deserves a look.
    if (live.outcome === 'warned') return finding('warn', `${live.cause}${note}`, live);
    return finding('pass', `every port accepted a connection${note}`, live);
  }
  if (live.outcome === 'unprobed') {
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
      return finding('refused', `${cloudRefusalCause(flow, live) ?? live.cause}${note}`, live);
    }
    default:
      return finding('error', live.cause, live);
  }
}

/**
 * The cause of a refusal by a cloud destination on a flow into the VPC (probed by an on-prem agent): the packets
 * crossed the interconnect and every AWS layer, and nothing listens yet. Undefined for any other flow.
 */
export function cloudRefusalCause(flow: Flow, live: LiveEvidence): string | undefined {
  const refused = live.ports.closed;
  if (flow.direction !== 'ingress' || refused === undefined || flow.destination.kind === 'vantage')
    return undefined;
  return (
    `${refused} refused by ${describeParty(flow.destination)}: path open; start the service, ` +
    `or run \`preflight respond --ports ${refused}\` there`
  );
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
