import type { Flow } from './plan';
import { formatPortList, portsToRanges } from './ports';
import type { ProbeResult, ProbeState } from './probe';

/**
 * A flow's verdict from live probes alone. The combined verdict with the static audit comes later in the
 * check-run pipeline; this one already says *why* a probed flow fails.
 */
export type LiveVerdict = 'pass' | 'fail' | 'skipped' | 'audit-only' | 'not-checkable';

export interface FlowOutcome {
  readonly flowId: string;
  readonly verdict: LiveVerdict;
  /** A sentence a person can act on. */
  readonly cause: string;
  /** Probed ports by state, as port lists (`443,8000-8010`). */
  readonly ports: Partial<Record<ProbeState, string>>;
}

const EXPLAIN: Record<Exclude<ProbeState, 'open'>, string> = {
  closed: 'refused: the host was reached but nothing listens there (is the service running?)',
  filtered: 'no answer: a firewall, Security Group, network ACL, route or VPN drops it',
  unreachable: 'host or network unreachable (ICMP): a missing route, or a firewall rejecting it',
  'dns-error': 'the host name did not resolve',
  error: 'the connection failed',
  skipped: 'not probed: the time budget ran out',
};

/**
 * Judges one probed flow from the probe results of its destination host.
 * @param results - results keyed by `host|port`, from the run that probed the flow's source vantage.
 */
export function judgeFlow(flow: Flow, results: ReadonlyMap<string, ProbeResult>): FlowOutcome {
  if (!flow.probe || flow.destination.kind === 'vantage') {
    return {
      flowId: flow.id,
      verdict: flow.audit ? 'audit-only' : 'not-checkable',
      cause: flow.why,
      ports: {},
    };
  }
  const host = flow.destination.address;
  const byState = new Map<ProbeState, { ports: number[]; codes: Set<string> }>();
  for (const range of flow.ports) {
    for (let port = range.from; port <= range.to; port++) {
      const r = results.get(`${host}|${port}`);
      const state: ProbeState = r?.state ?? 'skipped';
      const entry = byState.get(state) ?? { ports: [], codes: new Set<string>() };
      entry.ports.push(port);
      if (r?.code) entry.codes.add(r.code);
      byState.set(state, entry);
    }
  }
  const ports: Partial<Record<ProbeState, string>> = {};
  for (const [state, { ports: list }] of byState) ports[state] = formatPortList(portsToRanges(list));

  const failing = [...byState].filter(([state]) => state !== 'open' && state !== 'skipped');
  if (failing.length === 0) {
    const skipped = byState.get('skipped');
    if (!skipped)
      return { flowId: flow.id, verdict: 'pass', cause: 'every port accepted a connection', ports };
    return { flowId: flow.id, verdict: 'skipped', cause: `${ports.skipped}: ${EXPLAIN.skipped}`, ports };
  }
  const cause = failing
    .map(([state, { codes }]) => {
      const code = codes.size > 0 ? ` (${[...codes].join(', ')})` : '';
      return `${ports[state]} ${state}${code}: ${EXPLAIN[state as Exclude<ProbeState, 'open'>]}`;
    })
    .join('; ');
  return { flowId: flow.id, verdict: 'fail', cause, ports };
}

/** Indexes probe results by `host|port` for {@link judgeFlow}. */
export function indexResults(results: readonly ProbeResult[]): Map<string, ProbeResult> {
  return new Map(results.map((r) => [`${r.host}|${r.port}`, r]));
}
