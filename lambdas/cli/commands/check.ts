import { type Catalog, defaultCatalog } from '../../core/catalog';
import { indexResults } from '../../core/finding/live';
import { exitCodeOf, readiness } from '../../core/finding/readiness';
import { plan, probeTargetsFromHere } from '../../core/plan';
import { PROBE_DEFAULTS, probe, type ProbeRun } from '../../core/probe';
import { combineFlow } from '../../core/run/combine';
import { intOption, parseCommandArgs, UsageError } from '../args';
import { renderCheck, sortFindings } from '../check-output';
import { checkThroughApi } from './check-api';
import { DEFAULT_WAIT_SECONDS } from './check-wait';
import { identifyOption } from './probe';
import { readEnvironmentFile } from '../env-file';
import { descriptorWarning, formatMs, interruptSignal, type Io, painter, ProgressLine } from '../output';

/** Why a local check has no audit: it reads no AWS configuration. */
export const LOCAL_AUDIT_SKIPPED =
  'the local check does not audit AWS (audit with `preflight audit --config FILE --inventory DIR`, or run the check in the service)';

export const checkHelp = `Usage: preflight check --config FILE [--timeout MS] [--concurrency N] [--api URL [--wait SECONDS]]
                       [--json] [--accept-incomplete] [--exit-zero] [--service PORT:KIND …] [--no-identify]

Runs a check of an environment from this machine: plans its flows, probes every flow that can be
probed live, and gives each flow a verdict with its cause, from the one verdict table (\`preflight
catalog\` lists profiles; README "Verdicts and readiness" lists the verdicts). The local check does not
audit AWS: flows that cannot be probed from here are \`not-audited\` or \`not-checkable\`, never passing.

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
  --concurrency N    sockets in flight at once, 1-${PROBE_DEFAULTS.maxConcurrency} (default: the file's probe.concurrency, ${PROBE_DEFAULTS.concurrency})
  --service PORT:KIND
                     identify PORT as KIND (tls, http, ssh or smb) too; repeat for more
  --no-identify      only connect: identify no service
  --json             machine-readable output
  --accept-incomplete
                     exit 0 on INCOMPLETE too (you accept required flows not verified live)
  --exit-zero        exit 0 whatever the readiness (for demos and reports)
  -h, --help         show this help

Readiness (README "Verdicts and readiness"): GO when every required flow was verified live and
passes or warns; NO-GO when a required flow fails; INCOMPLETE when nothing required fails but
required flows were not verified live (each is listed with how to verify it).
Exit status: 0 only for GO (and for INCOMPLETE with --accept-incomplete), 1 otherwise, 2 for usage or
input errors, 3 when the run in the service was still open after --wait (--exit-zero does not change
it). A warn does not stop GO: the network path works; it is listed for someone to look at.

Example:
  preflight check --config examples/localhost.yaml`;

/** `preflight check`: plan + live probes from this machine, a verdict per flow. */
export async function checkCommand(argv: string[], io: Io, injected?: Catalog): Promise<number> {
  const { values } = parseCommandArgs('check', argv, {
    config: { type: 'string' },
    timeout: { type: 'string' },
    concurrency: { type: 'string' },
    json: { type: 'boolean', default: false },
    'exit-zero': { type: 'boolean', default: false },
    'accept-incomplete': { type: 'boolean', default: false },
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
    const code = await checkThroughApi(values.api, env, io, values.json, wait, {
      acceptIncomplete: values['accept-incomplete'],
    });
    return values['exit-zero'] && code === 1 ? 0 : code;
  }
  const timeoutMs =
    intOption('check', 'timeout', values.timeout, 1, 600_000, 'milliseconds') ?? env.probe.timeoutMs;
  const concurrency =
    intOption('check', 'concurrency', values.concurrency, 1, PROBE_DEFAULTS.maxConcurrency) ??
    env.probe.concurrency;
  const identify = identifyOption('check', values['no-identify'], values.service);
  const startedAt = new Date();
  const thePlan = plan(env, catalog);

  const targets = probeTargetsFromHere(thePlan);
  const progress = new ProgressLine(io.stderr);
  let run: ProbeRun = { results: [], durationMs: 0, stats: { maxInFlight: 0, attempts: 0, hosts: {} } };
  let interrupted = false;
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
      interrupted = interrupt.signal.aborted;
      progress.done();
      interrupt.dispose();
    }
    io.stderr.write(descriptorWarning('check', run.stats.descriptorLimit, concurrency));
  }
  const index = indexResults(run.results);
  // The same combine as the service, with the audit marked as not run: one vocabulary everywhere.
  const findings = sortFindings(
    thePlan.flows.map((flow) =>
      combineFlow(flow, { results: index }, [], { audits: [], skipped: LOCAL_AUDIT_SKIPPED }),
    ),
  );
  const localRun = interrupted
    ? { status: 'partial', reason: 'interrupted before every port was probed' }
    : { status: 'succeeded' };
  const ready = readiness(localRun, findings);

  if (values.json) {
    const out = {
      environment: env.name,
      mode: 'local',
      status: localRun.status,
      startedAt: startedAt.toISOString(),
      durationMs: Date.now() - startedAt.getTime(),
      readiness: ready,
      go: ready.decision === 'GO',
      findings,
      unplaced: thePlan.unplaced,
      probe: { durationMs: run.durationMs, results: run.results },
    };
    io.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } else {
    const paint = painter(io.stdout, io.env);
    const vantages = env.vantages.map((v) => v.name).join(', ');
    const notes = [
      ...(thePlan.unplaced.length > 0
        ? [
            `${thePlan.unplaced.length} requirement${thePlan.unplaced.length === 1 ? ' has' : 's have'} no flow (see preflight plan): ${thePlan.unplaced.map((u) => u.requirement).join(', ')}`,
          ]
        : []),
      paint('grey', `probes took ${formatMs(run.durationMs)}; AWS not audited by a local check`),
    ];
    io.stdout.write(
      renderCheck(
        [
          `${paint('bold', `Check of ${env.name}`)} from this machine, standing in for vantage ${vantages} ` +
            paint('grey', '(subnets and Security Groups not applied locally)'),
        ],
        findings,
        ready,
        notes,
        paint,
      ),
    );
  }
  return values['exit-zero']
    ? 0
    : exitCodeOf(ready.decision, { acceptIncomplete: values['accept-incomplete'] });
}
