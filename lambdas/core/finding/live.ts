import { type PortService } from '../identify';
import type { Flow } from '../plan';
import { formatPortList, portsToRanges } from '../ports';
import type { ProbeResult, ProbeState } from '../probe';
import { serviceWarnings } from './evidence';

/**
 * What the live probes of one probed flow showed, before the audit is taken into account: an input of
 * {@link combineFlow} (lambdas/core/run/combine.ts), which alone gives verdicts. `connected`: every port
 * accepted a connection; `warned`: so did every port, but on some the service identification found something
 * other than the expected service; `failed`: some port did not connect; `unprobed`: the rest connected but
 * some ports were never probed (the time budget ran out).
 */
export type LiveOutcome = 'connected' | 'warned' | 'failed' | 'unprobed';

export interface LiveEvidence {
  readonly flowId: string;
  readonly outcome: LiveOutcome;
  /** A sentence a person can act on. */
  readonly cause: string;
  /** Probed ports by state, as port lists (`443,8000-8010`). */
  readonly ports: Partial<Record<ProbeState, string>>;
  /** What answered on the open ports that were identified, by port; absent when none was. */
  readonly services?: readonly PortService[];
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
export function judgeLive(flow: Flow, results: ReadonlyMap<string, ProbeResult>): LiveEvidence {
  if (flow.destination.kind === 'vantage') {
    return { flowId: flow.id, outcome: 'unprobed', cause: flow.why, ports: {} };
  }
  const host = flow.destination.address;
  const byState = new Map<ProbeState, { ports: number[]; codes: Set<string> }>();
  const services: PortService[] = [];
  for (const range of flow.ports) {
    for (let port = range.from; port <= range.to; port++) {
      const r = results.get(`${host}|${port}`);
      const state: ProbeState = r?.state ?? 'skipped';
      if (r?.service && state === 'open') services.push({ port, service: r.service });
      const entry = byState.get(state) ?? { ports: [], codes: new Set<string>() };
      entry.ports.push(port);
      if (r?.code) entry.codes.add(r.code);
      byState.set(state, entry);
    }
  }
  const ports: Partial<Record<ProbeState, string>> = {};
  for (const [state, { ports: list }] of byState) ports[state] = formatPortList(portsToRanges(list));

  const identified = services.length > 0 ? { services } : {};
  // Identification warnings follow what failed: a refused port matters more than an odd answer on another.
  const warnings = serviceWarnings(services);
  const withWarnings = (cause: string) => (warnings ? `${cause}; ${warnings}` : cause);

  const failing = [...byState].filter(([state]) => state !== 'open' && state !== 'skipped');
  if (failing.length === 0) {
    const skipped = byState.get('skipped');
    if (skipped) {
      const cause = withWarnings(`${ports.skipped}: ${EXPLAIN.skipped}`);
      return { flowId: flow.id, outcome: 'unprobed', cause, ports, ...identified };
    }
    if (warnings) return { flowId: flow.id, outcome: 'warned', cause: warnings, ports, ...identified };
    return {
      flowId: flow.id,
      outcome: 'connected',
      cause: 'every port accepted a connection',
      ports,
      ...identified,
    };
  }
  const cause = failing
    .map(([state, { codes }]) => {
      const code = codes.size > 0 ? ` (${[...codes].join(', ')})` : '';
      return `${ports[state]} ${state}${code}: ${EXPLAIN[state as Exclude<ProbeState, 'open'>]}`;
    })
    .join('; ');
  return { flowId: flow.id, outcome: 'failed', cause: withWarnings(cause), ports, ...identified };
}

/** Indexes probe results by `host|port` for {@link judgeLive}. */
export function indexResults(results: readonly ProbeResult[]): Map<string, ProbeResult> {
  return new Map(results.map((r) => [`${r.host}|${r.port}`, r]));
}
