import { printable } from '../../core/printable';
import { randomUUID } from 'node:crypto';
import type { Environment } from '../../core/environment';
import { type ExitOptions, exitCodeOf, readiness } from '../../core/finding/readiness';
import type { CheckRun, FindingRecord } from '../../core/store';
import { ApiError, callApi, problemMessage } from '../api-client';
import { renderCheck, sortFindings } from '../check-output';
import { type Io, painter } from '../output';
import { DEFAULT_WAIT_SECONDS, describeOpenRun, STILL_OPEN_EXIT, waitForRun } from './check-wait';

/** Every finding of a run, following the API's cursors. */
async function allFindings(api: string, checkId: string, env: NodeJS.ProcessEnv): Promise<FindingRecord[]> {
  const findings: FindingRecord[] = [];
  let cursor: string | undefined;
  do {
    const query = `limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const reply = await callApi(api, 'GET', `/checks/${checkId}?${query}`, { env });
    if (reply.status !== 200) throw new ApiError(`reading check ${checkId}: ${problemMessage(reply)}`);
    findings.push(...(reply.body.findings ?? []));
    cursor = reply.body.nextCursor;
  } while (cursor !== undefined);
  return findings;
}

/**
 * `preflight check --api URL`: starts the check in the service, waits for it (at most `waitSeconds`), prints it
 * with the one check renderer. Exit status from the one readiness function, as for a local check: 0 only for GO
 * (or INCOMPLETE when accepted), 1 otherwise; 3 when the run was still open after the wait (where it stands is
 * printed instead).
 */
export async function checkThroughApi(
  api: string,
  environment: Environment,
  io: Io,
  json: boolean,
  waitSeconds: number = DEFAULT_WAIT_SECONDS,
  exit: ExitOptions = {},
): Promise<number> {
  const started = await callApi(api, 'POST', '/checks', {
    body: { environment },
    headers: { 'idempotency-key': randomUUID() },
    env: io.env,
  });
  if (started.status !== 202) throw new ApiError(`the service refused the check: ${problemMessage(started)}`);
  const checkId: string = started.body.checkId;
  return followCheck(api, { ...started.body, checkId } as CheckRun, io, json, exit, waitSeconds);
}

/**
 * Waits for a run of the service to close (at most `waitSeconds`), then prints it with the one check renderer
 * and returns the exit status of its readiness.
 */
export async function followCheck(
  api: string,
  started: CheckRun,
  io: Io,
  json: boolean,
  exit: ExitOptions = {},
  waitSeconds: number = DEFAULT_WAIT_SECONDS,
): Promise<number> {
  const checkId = started.checkId;
  const waitMs = waitSeconds * 1000;
  const waited = await waitForRun(api, started, io, waitMs);
  if (!waited.closed) {
    if (json) {
      const { findingsRecorded } = waited;
      io.stdout.write(
        `${JSON.stringify({ ...waited.run, go: false, stillOpen: { waitedSeconds: waitSeconds, findingsRecorded } }, null, 2)}\n`,
      );
    }
    io.stderr.write(`preflight check: ${describeOpenRun(api, waited, waitMs)}\n`);
    return STILL_OPEN_EXIT;
  }
  const run = waited.run;
  const findings = await allFindings(api, checkId, io.env);
  const ready = readiness(run, findings);

  if (json) {
    io.stdout.write(
      `${JSON.stringify({ ...run, readiness: ready, go: ready.decision === 'GO', findings: sortFindings(findings) }, null, 2)}\n`,
    );
  } else {
    const paint = painter(io.stdout, io.env);
    io.stdout.write(
      renderCheck(
        [
          `${paint('bold', `Check ${checkId} of ${printable(run.environmentName)}`)}: ${printable(run.status)}${run.reason ? ` (${printable(run.reason)})` : ''}`,
        ],
        findings,
        ready,
        [],
        paint,
      ),
    );
  }
  return exitCodeOf(ready.decision, exit);
}
