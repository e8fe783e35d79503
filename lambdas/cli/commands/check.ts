import { type Catalog, defaultCatalog } from '../../core/catalog';
import { describeService } from '../../core/identify';
import { describeParty, plan, probeTargetsFromHere } from '../../core/plan';
import { formatPortList } from '../../core/ports';
import { probe, type ProbeRun } from '../../core/probe';
import { indexResults, judgeFlow, type LiveVerdict } from '../../core/verdict';
import { intOption, parseCommandArgs, UsageError } from '../args';
import { checkThroughApi } from './check-api';
import { DEFAULT_WAIT_SECONDS } from './check-wait';
import { identifyOption } from './probe';
import { readEnvironmentFile } from '../env-file';
import { formatMs, interruptSignal, type Io, type Paint, painter, ProgressLine, table } from '../output';

export const checkHelp = `Usage: preflight check --config FILE [--timeout MS] [--concurrency N] [--api URL [--wait SECONDS]]
                       [--json] [--exit-zero] [--service PORT:KIND …] [--no-identify]

Runs a check of an environment from this machine: plans its flows, probes every flow that can be
probed live, and gives each flow a verdict with its cause:
  pass           every port accepted a connection
  warn           every port accepted a connection, but on some something other than the
                 expected service answered (a proxy's error page, an expired certificate, plain
                 text on a TLS port, a connection closed at once); listed, but not NO-GO
  fail           closed (nothing listening), filtered (dropped), unreachable, DNS or other errors
  skipped        the time budget ran out before it was probed
  audit-only     cannot be probed from the VPC (ingress, CIDR or vantage-to-vantage flows)
  not-checkable  both ends are outside the VPC

Open ports of known services are identified as \`preflight probe\` does (TLS on 443, 8443, 2376;
HTTP on 8080, 8081, 18080, 5985; SSH on 22; SMB on 445), within the same time budget.

This machine stands in for every vantage of the file: the vantages' subnets and Security Groups
are not applied here. (Checks from inside the VPC run through the service.)

With --api URL the check runs in the preflight service instead (\`preflight serve\`, or the API
deployed in your VPC, where each vantage probes from its own subnets): it is stored there, and this
command waits for it and prints its verdicts. Requests to a deployed API are signed with SigV4 from
the standard AWS credential chain. It waits at most --wait seconds: a run still open by then is
left to the service (which closes every run, whatever happens), and the command says where it
stands (status, time running, findings recorded so far) and exits 3.

Options:
  --config FILE      the environment file (see examples/)
  --api URL          run the check in the service at URL (e.g. http://127.0.0.1:8787)
  --wait SECONDS     with --api: wait at most this long for the run, 1-86400 (default: ${DEFAULT_WAIT_SECONDS})
  --timeout MS       ceiling for one probe attempt (default: the file's probe.timeoutMs, 3000)
  --concurrency N    sockets in flight at once, 1-512 (default: the file's probe.concurrency, 256)
  --service PORT:KIND
                     identify PORT as KIND (tls, http, ssh or smb) too; repeat for more
  --no-identify      only connect: identify no service
  --json             machine-readable output
  --exit-zero        exit 0 even when flows fail (for demos and reports)
  -h, --help         show this help

Exit status: 0 when every required probed flow passes or warns, 1 when any fails or is skipped
(optional flows are reported but do not fail the check), 2 for usage or input errors, 3 when
the run in the service was still open after --wait (--exit-zero does not change it). A warn is
not NO-GO: the network path works; it is listed under the table for someone to look at.

Example:
  preflight check --config examples/localhost.yaml`;

const VERDICT_ORDER: readonly LiveVerdict[] = [
  'fail',
  'skipped',
  'warn',
  'pass',
  'audit-only',
  'not-checkable',
];

const VERDICT_COLOUR: Record<LiveVerdict, Parameters<Paint>[0]> = {
  pass: 'green',
  warn: 'yellow',
  fail: 'red',
  skipped: 'yellow',
  'audit-only': 'blue',
  'not-checkable': 'grey',
};

/** `preflight check`: plan + live probes from this machine, a verdict per flow. */
export async function checkCommand(argv: string[], io: Io, injected?: Catalog): Promise<number> {
  const { values } = parseCommandArgs('check', argv, {
    config: { type: 'string' },
    timeout: { type: 'string' },
    concurrency: { type: 'string' },
    json: { type: 'boolean', default: false },
    'exit-zero': { type: 'boolean', default: false },
    api: { type: 'string' },
    wait: { type: 'string' },
    service: { type: 'string', multiple: true },
    'no-identify': { type: 'boolean', default: false },
  });
  const catalog = injected ?? defaultCatalog();
  if (values.config === undefined) throw new UsageError('--config FILE is required', 'check');
  const env = readEnvironmentFile(values.config, io.cwd, catalog);
  if (values.wait !== undefined && values.api === undefined) {
    throw new UsageError('--wait applies to checks in the service (--api URL)', 'check');
  }
  if (values.api !== undefined) {
    if (
      values.timeout !== undefined ||
      values.concurrency !== undefined ||
      values.service !== undefined ||
      values['no-identify']
    ) {
      throw new UsageError(
        "--timeout, --concurrency, --service and --no-identify apply to local checks; the service uses the file's probe settings",
        'check',
      );
    }
    const wait = intOption('check', 'wait', values.wait, 1, 86_400, 'seconds') ?? DEFAULT_WAIT_SECONDS;
    const code = await checkThroughApi(values.api, env, io, values.json, wait);
    return values['exit-zero'] && code === 1 ? 0 : code;
  }
  const timeoutMs =
    intOption('check', 'timeout', values.timeout, 1, 600_000, 'milliseconds') ?? env.probe.timeoutMs;
  const concurrency = intOption('check', 'concurrency', values.concurrency, 1, 512) ?? env.probe.concurrency;
  const identify = identifyOption('check', values['no-identify'], values.service);
  const startedAt = new Date();
  const thePlan = plan(env, catalog);

  const targets = probeTargetsFromHere(thePlan);
  const progress = new ProgressLine(io.stderr);
  let run: ProbeRun = { results: [], durationMs: 0, stats: { maxInFlight: 0, attempts: 0, hosts: {} } };
  if (targets.length > 0) {
    const interrupt = interruptSignal();
    try {
      run = await probe(targets, {
        timeoutMs,
        concurrency,
        retries: env.probe.retries,
        ...(identify !== undefined ? { identify } : {}),
        signal: interrupt.signal,
        onProgress: (p) => progress.update(`probing ${p.done}/${p.total} ports · ${formatMs(p.elapsedMs)}`),
      });
    } finally {
      progress.done();
      interrupt.dispose();
    }
  }
  const index = indexResults(run.results);
  // Worst first: what blocks the migration leads, what cannot be checked from here comes last.
  const outcomes = thePlan.flows
    .map((flow) => ({ flow, ...judgeFlow(flow, index) }))
    .sort(
      (a, b) =>
        VERDICT_ORDER.indexOf(a.verdict) - VERDICT_ORDER.indexOf(b.verdict) ||
        Number(a.flow.optional) - Number(b.flow.optional),
    );
  const count = (v: LiveVerdict) => outcomes.filter((o) => o.verdict === v).length;
  const blocking = outcomes.filter(
    (o) => (o.verdict === 'fail' || o.verdict === 'skipped') && !o.flow.optional,
  );
  const summary = {
    pass: count('pass'),
    warn: count('warn'),
    fail: count('fail'),
    skipped: count('skipped'),
    auditOnly: count('audit-only'),
    notCheckable: count('not-checkable'),
    unplaced: thePlan.unplaced.length,
    go: blocking.length === 0,
  };

  if (values.json) {
    const out = {
      environment: env.name,
      mode: 'local',
      startedAt: startedAt.toISOString(),
      durationMs: Date.now() - startedAt.getTime(),
      summary,
      flows: outcomes.map(({ flow, verdict, cause, ports, services }) => ({
        ...flow,
        verdict,
        cause,
        probed: ports,
        ...(services ? { services } : {}),
      })),
      unplaced: thePlan.unplaced,
      probe: { durationMs: run.durationMs, results: run.results },
    };
    io.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } else {
    const paint = painter(io.stdout, io.env);
    const vantages = env.vantages.map((v) => v.name).join(', ');
    const lines = [
      `${paint('bold', `Check of ${env.name}`)} from this machine, standing in for vantage ${vantages} ` +
        paint('grey', '(subnets and Security Groups not applied locally)'),
      '',
      table(
        [
          ['VERDICT', 'FROM', 'TO', 'PORTS', 'CAUSE'].map((h) => paint('bold', h)),
          ...outcomes.map(({ flow, verdict, cause, services }) => [
            paint(VERDICT_COLOUR[verdict], verdict) + (flow.optional ? paint('grey', ' (optional)') : ''),
            describeParty(flow.source),
            describeParty(flow.destination),
            `${formatPortList(flow.ports)}/${flow.protocol}`,
            verdict === 'pass'
              ? paint(
                  'grey',
                  (services ?? []).map((s) => `${s.port}: ${describeService(s.service)}`).join('; '),
                )
              : verdict === 'fail' || verdict === 'warn'
                ? cause
                : paint('grey', cause),
          ]),
        ],
        '  ',
      ),
    ];
    if (thePlan.unplaced.length > 0) {
      lines.push(
        '',
        `${thePlan.unplaced.length} requirement${thePlan.unplaced.length === 1 ? ' has' : 's have'} no flow (see preflight plan): ${thePlan.unplaced.map((u) => u.requirement).join(', ')}`,
      );
    }
    const warned = outcomes.filter((o) => o.verdict === 'warn');
    if (warned.length > 0) {
      lines.push(
        '',
        paint(
          'yellow',
          `WARN: ${warned.length} flow${warned.length === 1 ? '' : 's'} connect${warned.length === 1 ? 's' : ''}, but something other than the expected service answered (not NO-GO; look before the migration):`,
        ),
        ...warned.map(
          (o) =>
            `  ${describeParty(o.flow.source)} -> ${describeParty(o.flow.destination)} ${formatPortList(o.flow.ports)}/${o.flow.protocol}: ${o.cause}`,
        ),
      );
    }
    lines.push(
      '',
      `${summary.pass} pass, ${summary.warn} warn, ${summary.fail} fail, ${summary.skipped} skipped, ${summary.auditOnly} audit only, ` +
        `${summary.notCheckable} not checkable; probes took ${formatMs(run.durationMs)}`,
      summary.go
        ? paint(
            'green',
            `GO: every required flow that can be probed from here passes${warned.length > 0 ? ` (${warned.length} with a warning, listed above)` : ''}`,
          )
        : paint(
            'red',
            `NO-GO: ${blocking.length} required flow${blocking.length === 1 ? '' : 's'} failed or went unprobed`,
          ),
    );
    io.stdout.write(`${lines.join('\n')}\n`);
  }
  return summary.go || values['exit-zero'] ? 0 : 1;
}
