/**
 * How `preflight check --api` waits for its run: it polls the run until it is closed, for at most `--wait`
 * seconds. A run still open by then is not waited for any longer: the command says where it stands (status,
 * how long it has been running, what was recorded so far) and how to look at it later, and exits
 * {@link STILL_OPEN_EXIT} — a deployed run is closed by the service whatever happens (the execution status rule),
 * but a command in a pipeline must not hang on it.
 */
import type { CheckRun } from '../../core/store';
import { ApiError, callApi, problemMessage } from '../api-client';
import { formatMs, type Io, ProgressLine } from '../output';

/** How long `check --api` waits for its run by default, in seconds: longer than a deployed run may take. */
export const DEFAULT_WAIT_SECONDS = 1800;
/** The exit status when the run was still open after the wait (neither GO nor NO-GO: not decided yet). */
export const STILL_OPEN_EXIT = 3;

const CLOSED = new Set(['succeeded', 'failed', 'partial']);
const POLL_MS = 300;

/** The run as the API has it now. */
async function readRun(api: string, checkId: string, env: NodeJS.ProcessEnv): Promise<CheckRun> {
  const reply = await callApi(api, 'GET', `/checks/${checkId}?limit=1`, { env });
  if (reply.status !== 200) throw new ApiError(`reading check ${checkId}: ${problemMessage(reply)}`);
  return reply.body as CheckRun;
}

/** How many findings the run has recorded so far (following the cursors). */
async function recordedFindings(api: string, checkId: string, env: NodeJS.ProcessEnv): Promise<number> {
  let count = 0;
  let cursor: string | undefined;
  do {
    const query = `limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const reply = await callApi(api, 'GET', `/checks/${checkId}?${query}`, { env });
    if (reply.status !== 200) throw new ApiError(`reading check ${checkId}: ${problemMessage(reply)}`);
    count += (reply.body.findings ?? []).length;
    cursor = reply.body.nextCursor;
  } while (cursor !== undefined);
  return count;
}

/** The outcome of {@link waitForRun}: the run closed, or the run as it stood when the wait ran out. */
export type WaitOutcome =
  | { readonly closed: true; readonly run: CheckRun }
  | { readonly closed: false; readonly run: CheckRun; readonly findingsRecorded: number };

/**
 * Polls the run until it is closed or `waitMs` have passed since `began`, showing progress on stderr.
 * @param first - the run as the start request returned it (its id and status at least)
 */
export async function waitForRun(
  api: string,
  first: CheckRun,
  io: Io,
  waitMs: number,
  began = Date.now(),
): Promise<WaitOutcome> {
  const progress = new ProgressLine(io.stderr, 0, 250);
  let run = first;
  try {
    while (!CLOSED.has(run.status)) {
      const left = began + waitMs - Date.now();
      if (left <= 0) {
        // Where it stands now (the start answer holds only the id and status), unless it closed meanwhile.
        run = await readRun(api, run.checkId, io.env);
        if (CLOSED.has(run.status)) break;
        return { closed: false, run, findingsRecorded: await recordedFindings(api, run.checkId, io.env) };
      }
      progress.update(`check ${run.checkId}: ${run.status} · ${formatMs(Date.now() - began)}`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(POLL_MS, left)));
      run = await readRun(api, run.checkId, io.env);
    }
  } finally {
    progress.done();
  }
  return { closed: true, run };
}

/** A duration for people: `45 s`, `2 min 5 s`, `30 min`, `1 h 10 min`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  if (h > 0) return m > 0 ? `${h} h ${m} min` : `${h} h`;
  return rest > 0 ? `${m} min ${rest} s` : `${m} min`;
}

/** Where a run that is still open stands, in words, with how to look at it later. */
export function describeOpenRun(
  api: string,
  outcome: Extract<WaitOutcome, { closed: false }>,
  waitMs: number,
  now = Date.now(),
): string {
  const { run, findingsRecorded } = outcome;
  const since = run.startedAt
    ? `running since ${run.startedAt} (${formatDuration(now - Date.parse(run.startedAt))})`
    : `queued since ${run.createdAt}, not started yet`;
  const counts = Object.entries(run.counts ?? {})
    .map(([verdict, n]) => `${n} ${verdict}`)
    .join(', ');
  const recorded =
    findingsRecorded > 0
      ? `${findingsRecorded} finding${findingsRecorded === 1 ? '' : 's'} recorded${counts ? ` (${counts})` : ''}`
      : 'no findings recorded yet';
  return (
    `check ${run.checkId} of ${run.environmentName} is still ${run.status} after waiting ${formatDuration(waitMs)} (--wait): ` +
    `${since}; ${recorded}. It goes on in the service: see it with ` +
    `\`preflight report ${run.checkId} --api ${api}\` or GET ${api.replace(/\/+$/, '')}/checks/${run.checkId}`
  );
}
