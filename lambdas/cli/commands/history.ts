import { printable } from '../../core/printable';
import { ruleOf } from '../../core/finding/verdicts';
import { ApiError, callApi, problemMessage } from '../api-client';
import { verdictSummary } from '../check-output';
import { intOption, parseCommandArgs, UsageError } from '../args';
import { type Io, painter, table } from '../output';

export const historyHelp = `Usage: preflight history --environment NAME [--flow FLOW_ID] [--status STATUS]
                         [--since TIME] [--until TIME] [--limit N] [--api URL] [--json]

Lists the stored check runs of an environment, newest first, from the preflight service (\`preflight
serve\` or the deployed API; requests to a deployed API are signed with SigV4). With --flow, the
history of one flow across runs instead (flow ids: preflight plan).

Options:
  --environment NAME  the environment
  --flow FLOW_ID      one flow's verdicts across runs
  --status STATUS     only runs in this status (queued, running, succeeded, failed, partial)
  --since TIME        runs created at or after this ISO time (e.g. 2026-11-01T00:00:00Z)
  --until TIME        runs created at or before this ISO time
  --limit N           how many, 1-100 (default 25); the rest is a page away (--cursor)
  --cursor CURSOR     the next page, as the previous output gave it
  --api URL           the service (default: $PREFLIGHT_API, else http://127.0.0.1:8787)
  --json              the API's page as JSON: {"items":[…],"nextCursor"?}
  -h, --help          show this help`;

/** `preflight history`: runs of an environment, or one flow's verdicts, from the service. */
export async function historyCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parseCommandArgs('history', argv, {
    environment: { type: 'string' },
    flow: { type: 'string' },
    status: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    limit: { type: 'string' },
    cursor: { type: 'string' },
    api: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  if (values.environment === undefined) throw new UsageError('--environment NAME is required', 'history');
  const limit = intOption('history', 'limit', values.limit, 1, 100);
  const api = values.api ?? io.env.PREFLIGHT_API ?? 'http://127.0.0.1:8787';
  const query = new URLSearchParams();
  if (values.flow === undefined) query.set('environment', values.environment);
  for (const key of ['status', 'since', 'until', 'cursor'] as const) {
    const v = values[key];
    if (v !== undefined) query.set(key, v);
  }
  if (limit !== undefined) query.set('limit', String(limit));
  const path =
    values.flow === undefined
      ? `/checks?${query}`
      : `/environments/${encodeURIComponent(values.environment)}/flows/${encodeURIComponent(values.flow)}/history?${query}`;
  const reply = await callApi(api, 'GET', path, { env: io.env });
  if (reply.status >= 400 && reply.status < 500) throw new UsageError(problemMessage(reply), 'history');
  if (reply.status !== 200) throw new ApiError(`GET ${path}: ${problemMessage(reply)}`);
  if (values.json) {
    io.stdout.write(`${JSON.stringify(reply.body, null, 2)}\n`);
    return 0;
  }
  const paint = painter(io.stdout, io.env);
  const items: Array<Record<string, unknown>> = reply.body.items ?? [];
  const rows =
    values.flow === undefined
      ? [
          ['CHECK', 'CREATED', 'TRIGGER', 'STATUS', 'READINESS', 'VERDICTS'].map((h) => paint('bold', h)),
          ...items.map((r) => {
            // The service computes readiness (the one function); a reply without it is shown as unknown.
            const decision = (r.readiness as { decision?: string } | undefined)?.decision ?? '?';
            return [
              String(r.checkId),
              String(r.createdAt),
              String(r.trigger),
              printable(String(r.status)) +
                (r.reason ? paint('grey', ` (${printable(String(r.reason))})`) : ''),
              paint(
                decision === 'GO' ? 'green' : decision === 'NO-GO' ? 'red' : 'yellow',
                printable(decision),
              ),
              verdictSummary(
                Object.entries((r.counts as Record<string, number>) ?? {}).flatMap(([verdict, n]) =>
                  Array.from({ length: n }, () => ({ verdict })),
                ),
              ),
            ];
          }),
        ]
      : [
          ['CHECK', 'CREATED', 'VERDICT', 'CLASS', 'CAUSE'].map((h) => paint('bold', h)),
          ...items.map((f) => {
            const rule = ruleOf(String(f.verdict));
            return [
              String(f.checkId),
              String(f.createdAt),
              `${rule.symbol} ${printable(String(f.verdict))}`,
              rule.class,
              printable(String(f.cause ?? '')),
            ];
          }),
        ];
  io.stdout.write(
    items.length === 0
      ? `no ${values.flow === undefined ? 'runs' : 'history'} for ${values.environment}\n`
      : `${table(rows, '')}\n${reply.body.nextCursor ? paint('grey', `more: --cursor ${reply.body.nextCursor}\n`) : ''}`,
  );
  return 0;
}
