import { classifyAddress } from '../../core/address-kind';
import type { Catalog } from '../../core/catalog';
import type { Environment } from '../../core/environment';
import { describeAnswer, serviceWarning } from '../../core/finding/evidence';
import { SERVICE_KINDS, SERVICE_PORTS, type ServiceIdentity, type ServiceKind } from '../../core/identify';
import { expandPorts, parsePortList, PortListError } from '../../core/ports';
import {
  type IdentifyOptions,
  PROBE_DEFAULTS,
  PROBE_STATES,
  probe,
  type ProbeResult,
  type ProbeRun,
  type ProbeState,
  type ProbeTarget,
} from '../../core/probe';
import { intOption, parseCommandArgs, UsageError } from '../args';
import {
  descriptorWarning,
  formatMs,
  interruptSignal,
  type Io,
  type Paint,
  painter,
  ProgressLine,
  table,
} from '../output';

export const probeHelp = `Usage: preflight probe --target HOST:PORTS [--target …] [--config FILE]
                       [--timeout MS] [--concurrency N] [--retries N] [--budget MS]
                       [--service PORT:KIND …] [--no-identify] [--json]

Probes TCP ports live from this machine and classifies each one:
  open         a listener accepted the connection
  closed       refused: the host was reached but nothing listens on the port
  filtered     no answer: a firewall, Security Group, NACL, route or VPN drops it
  unreachable  ICMP host/network unreachable (EHOSTUNREACH/ENETUNREACH)
  dns-error    the host name did not resolve
  error        anything else, with its code
  skipped      not probed before the time budget ran out

HOST is a host name, an IPv4 address or an IPv6 address in brackets ([fd00::5]); PORTS is a list
such as 22,443,8000-8010. Timeouts adapt to each host's round-trip time (like nmap), and what
looks filtered is retried, so a lost SYN is not reported as a firewall. A host that has answered
nothing yet gets one attempt per port lasting past the kernel's own SYN retransmission (about
1.1-1.25 s), retried only once the host shows loss.

An open port of a known service is then identified on the same connection, within the same
time budget: a TLS handshake on 443, 8443 and 2376 (protocol, certificate subject, issuer,
expiry, self-signed, hostname match), GET / on 8080, 8081, 18080 and 5985 (status and Server
header), the SSH banner on 22, an SMB2 NEGOTIATE on 445 (dialect). An answer from something
else (a proxy's 502, an expired certificate, plain text on a TLS port, a connection closed at
once) is shown as "warn" with the reason; the port stays open.

Options:
  --target HOST:PORTS  a host and its ports; repeat for more hosts
  --config FILE        an environment file: its probe settings are the defaults, and without
                       --target every live-probed flow of its plan is probed
  --timeout MS         ceiling for one attempt (default 3000; the environment's probe.timeoutMs)
  --concurrency N      sockets in flight at once, 1-${PROBE_DEFAULTS.maxConcurrency} (default ${PROBE_DEFAULTS.concurrency})
  --retries N          most extra attempts for a port that looks filtered, 0-5 (default 2):
                       one per port, more once the host shows packet loss
  --budget MS          stop after this long and mark the rest skipped (default: no limit)
  --service PORT:KIND  identify PORT as KIND (tls, http, ssh or smb) too; repeat for more
  --no-identify        only connect: identify no service
  --json               {"results":[{"host","port","state","latencyMs","code"?,"service"?}],
                       "durationMs"}; service is {"kind":"tls"|"http"|"ssh"|"smb"|"none"|"skipped",…}
  -h, --help           show this help

Exit status: 0 when every port is open (with or without a warn), 1 when any is not, 2 for usage
or input errors.

Examples:
  preflight probe --target 10.20.0.5:443,8888 --target app01.corp.example:5994
  preflight probe --target [::1]:22 --json
  preflight probe --config examples/wave-1.yaml`;

/**
 * The engine's `identify` option from `--no-identify` and `--service PORT:KIND` flags: `false`, the default
 * port table with the given ports added (or changed), or undefined for the default.
 */
export function identifyOption(
  command: string,
  noIdentify: boolean,
  specs: readonly string[] | undefined,
): false | IdentifyOptions | undefined {
  if (noIdentify) {
    if (specs && specs.length > 0)
      throw new UsageError('--service and --no-identify contradict each other; give one', command);
    return false;
  }
  if (!specs || specs.length === 0) return undefined;
  const services: Record<number, ServiceKind> = { ...SERVICE_PORTS };
  for (const spec of specs) {
    const match = /^(\d{1,5}):([a-z]+)$/.exec(spec.trim());
    const port = Number(match?.[1]);
    if (!match || port < 1 || port > 65535) {
      throw new UsageError(`--service: ${JSON.stringify(spec)} is not PORT:KIND, e.g. 8888:tls`, command);
    }
    const kind = match[2] as ServiceKind;
    if (!SERVICE_KINDS.includes(kind)) {
      throw new UsageError(
        `--service: ${JSON.stringify(match[2])} is not a service kind (${SERVICE_KINDS.join(', ')})`,
        command,
      );
    }
    services[port] = kind;
  }
  return { services };
}

/** What answered on a port, for the DETAIL column: a warning in yellow, an identification cut short in grey. */
export function serviceDetail(service: ServiceIdentity, paint: Paint): string {
  const text = describeAnswer(service);
  if (service.kind === 'skipped') return paint('grey', text);
  return serviceWarning(service) === undefined ? text : paint('yellow', `warn: ${text}`);
}

/** Reads `HOST:PORTS` (IPv6 in brackets) into a probe target. */
export function parseTargetSpec(spec: string): ProbeTarget {
  let host: string;
  let ports: string;
  if (spec.startsWith('[')) {
    const close = spec.indexOf(']');
    if (close < 0 || spec[close + 1] !== ':') {
      throw new UsageError(
        `--target: ${JSON.stringify(spec)} is not HOST:PORTS (write IPv6 as [fd00::5]:443)`,
        'probe',
      );
    }
    host = spec.slice(1, close);
    ports = spec.slice(close + 2);
    if (classifyAddress(host) !== 'ip' || !host.includes(':')) {
      throw new UsageError(`--target: ${JSON.stringify(host)} in brackets is not an IPv6 address`, 'probe');
    }
  } else {
    const colon = spec.indexOf(':');
    if (colon < 0)
      throw new UsageError(
        `--target: ${JSON.stringify(spec)} has no ports; write HOST:PORTS, e.g. db01:1433`,
        'probe',
      );
    host = spec.slice(0, colon);
    ports = spec.slice(colon + 1);
    if (ports.includes(':')) {
      throw new UsageError(
        `--target: ${JSON.stringify(spec)} looks like a bare IPv6 address; write it in brackets: [${spec.slice(0, spec.lastIndexOf(':'))}]:PORTS`,
        'probe',
      );
    }
    const kind = classifyAddress(host);
    if (kind === 'cidr' || kind === undefined) {
      throw new UsageError(`--target: ${JSON.stringify(host)} is not a host name or IP address`, 'probe');
    }
  }
  try {
    return { host, ports: expandPorts(parsePortList(ports)) };
  } catch (err) {
    if (err instanceof PortListError) throw new UsageError(`--target ${spec}: ${err.message}`, 'probe');
    throw err;
  }
}

const STATE_COLOUR: Record<ProbeState, Parameters<Paint>[0]> = {
  open: 'green',
  closed: 'red',
  filtered: 'yellow',
  unreachable: 'red',
  'dns-error': 'magenta',
  error: 'magenta',
  skipped: 'grey',
};

/** Summarises states as `333 open, 324 closed, …` in a fixed order. */
export function countStates(results: readonly ProbeResult[], paint: Paint = (_c, t) => t): string {
  const counts = new Map<ProbeState, number>();
  for (const r of results) counts.set(r.state, (counts.get(r.state) ?? 0) + 1);
  return PROBE_STATES.filter((s) => counts.has(s))
    .map((s) => paint(STATE_COLOUR[s], `${counts.get(s)} ${s}`))
    .join(', ');
}

/**
 * The human table: one block per host, consecutive ports in the same state folded into a range
 * (a thousand closed ports are one line, not a thousand).
 */
export function renderProbeTable(run: ProbeRun, paint: Paint): string {
  const byHost = new Map<string, ProbeResult[]>();
  for (const r of run.results) byHost.set(r.host, [...(byHost.get(r.host) ?? []), r]);
  const blocks: string[] = [];
  for (const [host, results] of byHost) {
    const address = results.find((r) => r.address && r.address !== host)?.address;
    const rows: string[][] = [['PORT', 'STATE', 'LATENCY', 'DETAIL'].map((h) => paint('bold', h))];
    const sorted = [...results].sort((a, b) => a.port - b.port);
    for (let i = 0; i < sorted.length;) {
      const first = sorted[i] as ProbeResult;
      let j = i + 1;
      while (j < sorted.length) {
        const next = sorted[j] as ProbeResult;
        const prev = sorted[j - 1] as ProbeResult;
        if (
          next.port !== prev.port + 1 ||
          next.state !== first.state ||
          (next.code ?? '') !== (first.code ?? '') ||
          next.service !== undefined ||
          first.service !== undefined
        )
          break;
        j++;
      }
      const run = sorted.slice(i, j);
      const last = run[run.length - 1] as ProbeResult;
      const ports = run.length === 1 ? String(first.port) : `${first.port}-${last.port}`;
      const latencies = run.map((r) => r.latencyMs).filter((l): l is number => l !== null);
      const latency =
        latencies.length === 0 ? '-' : formatMs(Math.max(...latencies)) + (run.length > 1 ? ' max' : '');
      const detail = first.service
        ? serviceDetail(first.service, paint)
        : paint('grey', [first.code, run.length > 1 ? `${run.length} ports` : ''].filter(Boolean).join(', '));
      rows.push([ports, paint(STATE_COLOUR[first.state], first.state), latency, detail]);
      i = j;
    }
    blocks.push(
      `${paint('bold', host)}${address ? paint('grey', ` (${address})`) : ''}  ${countStates(results, paint)}\n${table(rows, '  ')}`,
    );
  }
  return blocks.join('\n\n');
}

/** An environment file's probe settings and the targets of its plan that are probed live from here. */
async function readConfig(
  path: string,
  io: Io,
  injected: Catalog | undefined,
): Promise<{ probe: Environment['probe']; targets: readonly ProbeTarget[] }> {
  const [{ defaultCatalog }, { plan, probeTargetsFromHere }, { readEnvironmentFile }] = await Promise.all([
    import('../../core/catalog/index.js'),
    import('../../core/plan.js'),
    import('../env-file.js'),
  ]);
  const catalog = injected ?? defaultCatalog();
  const env = readEnvironmentFile(path, io.cwd, catalog);
  return { probe: env.probe, targets: probeTargetsFromHere(plan(env, catalog)) };
}

/** `preflight probe`: live TCP probes with an exit status a script can use. */
export async function probeCommand(argv: string[], io: Io, injected?: Catalog): Promise<number> {
  const { values } = parseCommandArgs('probe', argv, {
    target: { type: 'string', multiple: true },
    config: { type: 'string' },
    timeout: { type: 'string' },
    concurrency: { type: 'string' },
    retries: { type: 'string' },
    budget: { type: 'string' },
    service: { type: 'string', multiple: true },
    'no-identify': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  });
  // The catalog, the environment schemas and the planner are only needed for --config: a plain --target probe
  // does not load them (nor zod and the YAML parser with them), so it starts faster.
  const env = values.config !== undefined ? await readConfig(values.config, io, injected) : undefined;
  let targets: readonly ProbeTarget[] = (values.target ?? []).map(parseTargetSpec);
  if (targets.length === 0) {
    if (!env)
      throw new UsageError(
        'give at least one --target HOST:PORTS, or --config FILE to probe its plan',
        'probe',
      );
    targets = env.targets;
    if (targets.length === 0) {
      io.stderr.write(
        `preflight probe: the plan of ${values.config} has no flow to probe live (see preflight plan)\n`,
      );
      return 0;
    }
  }
  const timeoutMs =
    intOption('probe', 'timeout', values.timeout, 1, 600_000, 'milliseconds') ?? env?.probe.timeoutMs;
  const concurrency =
    intOption('probe', 'concurrency', values.concurrency, 1, PROBE_DEFAULTS.maxConcurrency) ??
    env?.probe.concurrency;
  const retries = intOption('probe', 'retries', values.retries, 0, 5) ?? env?.probe.retries;
  const budgetMs = intOption('probe', 'budget', values.budget, 1, 86_400_000, 'milliseconds');
  const identify = identifyOption('probe', values['no-identify'], values.service);

  const progress = new ProgressLine(io.stderr);
  const interrupt = interruptSignal();
  let run: ProbeRun;
  try {
    run = await probe(targets, {
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      ...(concurrency !== undefined ? { concurrency } : {}),
      ...(retries !== undefined ? { retries } : {}),
      ...(budgetMs !== undefined ? { budgetMs } : {}),
      ...(identify !== undefined ? { identify } : {}),
      signal: interrupt.signal,
      onProgress: (p) =>
        progress.update(
          `probing ${p.done}/${p.total} ports · ${p.counts.open} open · ${p.counts.filtered} filtered · ${p.inFlight} in flight · ${formatMs(p.elapsedMs)}`,
        ),
    });
  } finally {
    progress.done();
    interrupt.dispose();
  }
  io.stderr.write(
    descriptorWarning('probe', run.stats.descriptorLimit, concurrency ?? PROBE_DEFAULTS.concurrency),
  );

  if (values.json) {
    const results = run.results.map((r) => ({
      host: r.host,
      ...(r.address !== undefined ? { address: r.address } : {}),
      port: r.port,
      state: r.state,
      latencyMs: r.latencyMs,
      ...(r.code !== undefined ? { code: r.code } : {}),
      attempts: r.attempts,
      ...(r.service !== undefined ? { service: r.service } : {}),
    }));
    io.stdout.write(`${JSON.stringify({ results, durationMs: run.durationMs })}\n`);
  } else {
    const paint = painter(io.stdout, io.env);
    const hosts = new Set(run.results.map((r) => r.host)).size;
    io.stdout.write(`${renderProbeTable(run, paint)}\n\n`);
    io.stdout.write(
      `${run.results.length} ports on ${hosts} host${hosts === 1 ? '' : 's'} in ${formatMs(run.durationMs)}: ${countStates(run.results, paint)}\n`,
    );
    const warned = run.results.filter((r) => r.service && serviceWarning(r.service) !== undefined);
    if (warned.length > 0) {
      io.stdout.write(
        paint(
          'yellow',
          `warn: the answer on ${warned.length} open port${warned.length === 1 ? '' : 's'} deserves a look (see DETAIL)\n`,
        ),
      );
    }
    if (run.results.some((r) => r.state === 'skipped')) {
      io.stdout.write(
        paint('grey', 'skipped ports were not probed: the time budget ran out or the run was interrupted\n'),
      );
    }
  }
  return run.results.every((r) => r.state === 'open') ? 0 : 1;
}
