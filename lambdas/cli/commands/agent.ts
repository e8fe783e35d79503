import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { environmentNameSchema } from '../../core/store';
import {
  AGENT_PAGE_BYTES,
  AGENT_RESULTS_GRACE_SECONDS,
  type AgentJob,
  resultPages,
} from '../../core/agent/jobs';
import { printable } from '../../core/printable';
import { POLICY_REFUSED, probeStep } from '../../core/run/probe-step';
import { PROBE_DEFAULTS, PROBE_STATES, type ProbeResult } from '../../core/probe';
import { ApiError, type ApiReply, callApi, problemMessage } from '../api-client';
import { formatDuration, InputError, intOption, parseCommandArgs, UsageError } from '../args';
import type { Io } from '../output';

export const agentHelp = `Usage: preflight agent --api URL --vantage NAME [--once] [--concurrency N] [--unsigned]

Runs the probe engine on a machine of an on-prem vantage (placement: on-prem in the environment
file): it long-polls the preflight API for its vantage's probe jobs, probes exactly the job's targets
(identifying what answers, like \`preflight probe\`), re-checking every address against the
deployment's allowed target CIDRs before it connects, posts the results in pages and heartbeats while
it works. Outbound HTTPS only: nothing listens on this machine.

It says what it does on stderr. It survives the API restarting (it retries with backoff and jitter).
Ctrl-C (SIGINT) or SIGTERM stops it: a job it holds is released for the next agent, not lost.

Requests to an API that is not on loopback are signed with SigV4 from the standard AWS credential chain
(environment, profile, credential_process: IAM Roles Anywhere's aws_signing_helper on a machine outside
AWS); the machine's role needs only execute-api:Invoke on /agents/NAME/* (the stack outputs that policy).

Options:
  --api URL          the preflight API (default: $PREFLIGHT_API); e.g. https://abc.execute-api.eu-west-1.amazonaws.com/prod
  --vantage NAME     the on-prem vantage this machine belongs to (its jobs only)
  --once             wait for one job, run it, post its results, exit 0
  --concurrency N    sockets in flight at once, 1-${PROBE_DEFAULTS.maxConcurrency} (default: the environment's probe.concurrency)
  --unsigned         never sign: a local \`preflight serve\` reached over the network (no IAM in front)
  -h, --help         show this help

Examples:
  preflight agent --api https://abc123.execute-api.eu-west-1.amazonaws.com/prod --vantage dc1
  node preflight-agent.js --api http://10.20.0.9:8787 --vantage dc1 --unsigned --once`;

const BACKOFF_BASE_MS = 250;
const BACKOFF_MAX_MS = 5_000;

/** Full jitter: a random wait up to base·2^attempt, capped (so restarted APIs are not stampeded). */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(attempt, 10));
  return Math.round(BACKOFF_BASE_MS / 2 + random() * (ceiling - BACKOFF_BASE_MS / 2));
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/** A reply that says the API is not there right now (a restart, a gateway error, throttling). */
const transient = (reply: ApiReply) => reply.status >= 500 || reply.status === 429 || reply.status === 408;

interface Offer {
  readonly job: AgentJob;
  readonly heartbeatMs: number;
  readonly pageSize: number;
  /** Bytes of results a page may hold (absent from an older API: its default body limit). */
  readonly maxPageBytes?: number;
}

function countStates(results: readonly ProbeResult[]): string {
  const counts = new Map<string, number>();
  for (const r of results) counts.set(r.state, (counts.get(r.state) ?? 0) + 1);
  return PROBE_STATES.filter((state) => counts.has(state))
    .map((state) => `${counts.get(state)} ${state}`)
    .join(', ');
}

/**
 * `preflight agent`: polls for its vantage's jobs, runs them, posts the results. Resolves with the exit status
 * when stopped (SIGINT/SIGTERM or `signal`), after one job with `--once`, or at once on a configuration error.
 */
export async function agentCommand(argv: string[], io: Io, signal?: AbortSignal): Promise<number> {
  const { values } = parseCommandArgs('agent', argv, {
    api: { type: 'string' },
    vantage: { type: 'string' },
    once: { type: 'boolean', default: false },
    concurrency: { type: 'string' },
    unsigned: { type: 'boolean', default: false },
  });
  const api = values.api ?? io.env.PREFLIGHT_API;
  if (api === undefined) throw new UsageError('--api URL is required (or set PREFLIGHT_API)', 'agent');
  if (values.vantage === undefined) throw new UsageError('--vantage NAME is required', 'agent');
  const vantage = values.vantage;
  if (!environmentNameSchema.safeParse(vantage).success) {
    throw new UsageError(
      `--vantage: ${JSON.stringify(vantage)} is not a vantage name (a-z, 0-9 and '-')`,
      'agent',
    );
  }
  const concurrency = intOption('agent', 'concurrency', values.concurrency, 1, PROBE_DEFAULTS.maxConcurrency);
  try {
    new URL(api);
  } catch {
    throw new UsageError(`--api: ${JSON.stringify(api)} is not a URL (e.g. http://127.0.0.1:8787)`, 'agent');
  }
  const agent = `${hostname()
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .slice(0, 60)}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const say = (text: string) => io.stderr.write(`agent ${vantage}: ${text}\n`);

  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  signal?.addEventListener('abort', onSignal, { once: true });
  const base = `/agents/${encodeURIComponent(vantage)}/jobs`;
  const call = (
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    requestSignal: AbortSignal,
  ): Promise<ApiReply> =>
    callApi(api, method, path, {
      env: io.env,
      signal: requestSignal,
      ...(body !== undefined ? { body } : {}),
      ...(values.unsigned ? { sign: false } : {}),
    });

  /**
   * Calls until the API answers something that is not transient, retrying with backoff while it is away;
   * undefined when stopped (or past `until`).
   */
  const persist = async (
    what: string,
    attemptCall: (s: AbortSignal) => Promise<ApiReply>,
    until = Number.POSITIVE_INFINITY,
    stopSignal: AbortSignal = stop.signal,
  ): Promise<ApiReply | undefined> => {
    for (let attempt = 0; !stopSignal.aborted && Date.now() < until; attempt++) {
      let problem: string;
      try {
        const reply = await attemptCall(stopSignal);
        if (!transient(reply)) {
          if (attempt > 0) say(`${what}: the API answers again`);
          return reply;
        }
        problem = problemMessage(reply);
      } catch (err) {
        if (stopSignal.aborted) return undefined;
        if (err instanceof Error && /Credential/.test(err.name)) {
          throw new InputError(
            `cannot sign requests to ${api}: ${err.message}. Give this machine AWS credentials (an IAM Roles Anywhere ` +
              `credential_process profile, AWS_PROFILE, or environment variables), or pass --unsigned for a local preflight serve`,
          );
        }
        if (!(err instanceof ApiError)) throw err;
        problem = err.message;
      }
      const wait = backoffMs(attempt);
      say(`${what}: ${problem}; retrying in ${formatDuration(wait)}`);
      await sleep(wait, stopSignal);
    }
    return undefined;
  };

  const runJob = async ({ job, heartbeatMs, pageSize, maxPageBytes }: Offer): Promise<void> => {
    const ports = job.targets.reduce((n, t) => n + t.ports.length, 0);
    say(
      `took job ${job.jobId} of run ${job.checkId} (${job.environmentName}): ${ports} ports on ${job.targets.length} hosts, until ${job.deadline}`,
    );
    const deadline = Date.parse(job.deadline);
    const work = new AbortController();
    const onStop = () => work.abort();
    stop.signal.addEventListener('abort', onStop, { once: true });
    let lost = false;
    // Set once the job is being closed (its last page or its failure sent): a heartbeat crossing it is refused.
    let closing = false;
    const jobPath = `${base}/${job.jobId}`;
    const beat = setInterval(() => {
      void call('POST', `${jobPath}/heartbeat`, { agent }, work.signal).then(
        (reply) => {
          if ((reply.status === 409 || reply.status === 404) && !closing) {
            lost = true;
            say(`job ${job.jobId}: ${problemMessage(reply)}; stopping it`);
            work.abort();
          }
        },
        (err: unknown) => {
          if (!work.signal.aborted) say(`heartbeat of job ${job.jobId} failed: ${(err as Error).message}`);
        },
      );
    }, heartbeatMs);
    const started = Date.now();
    // Heartbeats go on while the results are posted (after the deadline, in the API's grace for them).
    try {
      await probeAndPost();
    } finally {
      clearInterval(beat);
      stop.signal.removeEventListener('abort', onStop);
    }

    async function probeAndPost(): Promise<void> {
      let results: ProbeResult[];
      let refusals: readonly string[];
      try {
        const out = await probeStep(
          {
            vantage,
            targets: job.targets,
            timeoutMs: job.probe.timeoutMs,
            concurrency: concurrency ?? job.probe.concurrency,
            retries: job.probe.retries,
            deadline,
          },
          { signal: work.signal, policy: job.policy },
        );
        results = out.results;
        refusals = out.refusals ?? [];
      } catch (err) {
        if (lost || stop.signal.aborted) throw err;
        // This agent cannot run the job: the run is told at once rather than waiting out its budget.
        await failJob(`the probe engine failed: ${(err as Error).message}`);
        return;
      }
      for (const r of refusals) say(`refused to probe ${r}`);
      if (lost) return;
      if (!stop.signal.aborted && results.length > 0 && results.every((r) => r.code === POLICY_REFUSED)) {
        await failJob(`every target is outside what this agent may probe: ${refusals.join('; ')}`);
        return;
      }
      if (stop.signal.aborted) {
        // Released, not lost: the next agent (or this one restarted) takes it while the run still waits.
        const reply = await call('POST', `${jobPath}/release`, { agent }, AbortSignal.timeout(5_000)).catch(
          (err: unknown) => ({ status: 0, body: { detail: (err as Error).message } }),
        );
        say(
          reply.status === 200
            ? `stopped: released job ${job.jobId}`
            : `stopped: could not release job ${job.jobId} (${problemMessage(reply as ApiReply)}); it returns to the queue when its lease ends`,
        );
        return;
      }
      say(
        `probed ${results.length} ports in ${formatDuration(Date.now() - started)}: ${countStates(results)}`,
      );
      const split = resultPages(results, pageSize, maxPageBytes ?? AGENT_PAGE_BYTES);
      const pages = split.length;
      for (let page = 0; page < pages; page++) {
        const body = { agent, page, results: split[page], last: page === pages - 1 };
        if (body.last) closing = true;
        const reply = await persist(
          `posting page ${page + 1}/${pages}`,
          (s) => call('POST', `${jobPath}/results`, body, s),
          deadline + AGENT_RESULTS_GRACE_SECONDS * 1000,
        );
        if (!reply) {
          say(`job ${job.jobId}: results not posted (stopped, or the API stayed away past the deadline)`);
          return;
        }
        if (reply.status !== 200) {
          say(`job ${job.jobId}: the API refused the results: ${problemMessage(reply)}`);
          return;
        }
      }
      say(
        `job ${job.jobId} done: ${results.length} results posted in ${pages} page${pages === 1 ? '' : 's'}`,
      );
    }

    async function failJob(reason: string): Promise<void> {
      closing = true;
      const reply = await persist(
        'reporting that the job cannot run',
        (s) => call('POST', `${jobPath}/fail`, { agent, reason: printable(reason).slice(0, 1000) }, s),
        deadline + AGENT_RESULTS_GRACE_SECONDS * 1000,
      );
      say(
        reply?.status === 200
          ? `job ${job.jobId} cannot run here (${reason}): the run was told`
          : `job ${job.jobId} cannot run here (${reason}); the API did not take the report${reply ? `: ${problemMessage(reply)}` : ''}`,
      );
    }
  };

  try {
    say(`polling ${api.replace(/\/+$/, '')}${base} as ${agent}${values.once ? ' (one job)' : ''}`);
    for (;;) {
      const reply = await persist('polling for a job', (s) =>
        call(
          'GET',
          `${base}?agent=${encodeURIComponent(agent)}&wait=20`,
          undefined,
          AbortSignal.any([s, AbortSignal.timeout(35_000)]),
        ),
      );
      if (!reply) {
        say('stopped');
        return 0;
      }
      if (reply.status === 204) continue;
      if (reply.status !== 200) {
        throw new InputError(`the API refused this agent's poll: ${problemMessage(reply)}`);
      }
      await runJob(reply.body as Offer);
      if (values.once) return 0;
      if (stop.signal.aborted) return 0;
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    signal?.removeEventListener('abort', onSignal);
  }
}
