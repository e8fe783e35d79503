import { randomUUID } from 'node:crypto';
import type { Environment } from '../../core/environment';
import { type ExitOptions, exitCodeOf, readiness } from '../../core/finding/readiness';
import { type CheckRun, type FindingRecord, isClosed } from '../../core/store';
import { ApiError, callApi, problemMessage } from '../api-client';
import { renderCheck, sortFindings } from '../check-output';
import { formatMs, type Io, painter, ProgressLine } from '../output';

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
 * `preflight check --api URL`: starts the check in the service, waits for it, prints its verdicts.
 * Exit status as for a local check (the one readiness function): 0 only for GO, or INCOMPLETE when accepted.
 */
export async function checkThroughApi(
  api: string,
  environment: Environment,
  io: Io,
  json: boolean,
  exit: ExitOptions = {},
): Promise<number> {
  const started = await callApi(api, 'POST', '/checks', {
    body: { environment },
    headers: { 'idempotency-key': randomUUID() },
    env: io.env,
  });
  if (started.status !== 202) throw new ApiError(`the service refused the check: ${problemMessage(started)}`);
  return followCheck(api, started.body as CheckRun, io, json, exit);
}

/**
 * Waits for a run of the service to close, then prints it with the one check renderer and returns the exit
 * status of its readiness.
 */
export async function followCheck(
  api: string,
  started: CheckRun,
  io: Io,
  json: boolean,
  exit: ExitOptions = {},
): Promise<number> {
  const checkId = started.checkId;
  const progress = new ProgressLine(io.stderr, 0, 250);
  const began = Date.now();
  let run: CheckRun = started;
  while (!isClosed(run.status)) {
    progress.update(`check ${checkId}: ${run.status} · ${formatMs(Date.now() - began)}`);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const reply = await callApi(api, 'GET', `/checks/${checkId}?limit=1`, { env: io.env });
    if (reply.status !== 200) throw new ApiError(`reading check ${checkId}: ${problemMessage(reply)}`);
    run = reply.body;
  }
  progress.done();
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
          `${paint('bold', `Check ${checkId} of ${run.environmentName}`)}: ${run.status}${run.reason ? ` (${run.reason})` : ''}`,
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
