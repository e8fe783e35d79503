import { randomUUID } from 'node:crypto';
import type { Environment } from '../../core/environment';
import type { CheckRun, FindingRecord } from '../../core/store';
import { ApiError, callApi, problemMessage } from '../api-client';
import { type Io, type Paint, painter, table } from '../output';
import { DEFAULT_WAIT_SECONDS, describeOpenRun, STILL_OPEN_EXIT, waitForRun } from './check-wait';

/** Verdicts that mean the flow works or cannot be judged from the VPC; anything else fails the check. */
// A warn (open, but answered by something unexpected) does not block, as in the local check and the reports.
const OK_VERDICTS = new Set(['pass', 'warn', 'audited-only', 'not-checkable']);

const colourOf = (verdict: string): Parameters<Paint>[0] =>
  verdict === 'pass' ? 'green' : verdict === 'audited-only' || verdict === 'not-checkable' ? 'grey' : 'red';

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
 * `preflight check --api URL`: starts the check in the service, waits for it (at most `waitSeconds`), prints its
 * verdicts. Exit status as for a local check: 0 when every required flow passes, 1 otherwise; 3 when the run was
 * still open after the wait (where it stands is printed instead).
 */
export async function checkThroughApi(
  api: string,
  environment: Environment,
  io: Io,
  json: boolean,
  waitSeconds: number = DEFAULT_WAIT_SECONDS,
): Promise<number> {
  const started = await callApi(api, 'POST', '/checks', {
    body: { environment },
    headers: { 'idempotency-key': randomUUID() },
    env: io.env,
  });
  if (started.status !== 202) throw new ApiError(`the service refused the check: ${problemMessage(started)}`);
  const checkId: string = started.body.checkId;
  const waitMs = waitSeconds * 1000;
  const waited = await waitForRun(api, { ...started.body, checkId } as CheckRun, io, waitMs);
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
  const failing = findings.filter((f) => !OK_VERDICTS.has(f.verdict) && !f.optional);
  const go = run.status !== 'failed' && failing.length === 0;

  if (json) {
    io.stdout.write(`${JSON.stringify({ ...run, findings, go }, null, 2)}\n`);
  } else {
    const paint = painter(io.stdout, io.env);
    const rows = [
      ['VERDICT', 'FROM', 'TO', 'PORTS', 'CAUSE'].map((h) => paint('bold', h)),
      ...findings.map((f) => [
        paint(colourOf(f.verdict), f.verdict) + (f.optional ? paint('grey', ' (optional)') : ''),
        f.source,
        f.destination,
        `${f.ports}/${f.protocol}`,
        f.verdict === 'pass' ? '' : f.cause,
      ]),
    ];
    const counts = Object.entries(run.counts ?? {})
      .map(([verdict, n]) => `${n} ${verdict}`)
      .join(', ');
    io.stdout.write(
      `${paint('bold', `Check ${checkId} of ${run.environmentName}`)}: ${run.status}${run.reason ? ` (${run.reason})` : ''}\n\n` +
        `${table(rows, '  ')}\n\n${counts}\n` +
        (go
          ? paint('green', 'GO: every required flow passes or is audited only')
          : paint(
              'red',
              `NO-GO: ${failing.length} required flow${failing.length === 1 ? '' : 's'} failing`,
            )) +
        '\n',
    );
  }
  return go ? 0 : 1;
}
