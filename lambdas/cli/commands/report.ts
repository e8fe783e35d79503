import { exitCodeOf } from '../../core/finding/readiness';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  type Report,
  REPORT_FORMATS,
  reportFormatSchema,
  reportSchema,
  renderReport,
} from '../../core/report';
import { checkIdSchema } from '../../core/store';
import { ApiError, callApi, problemMessage } from '../api-client';
import { InputError, parseCommandArgs, UsageError } from '../args';
import type { Io } from '../output';

export const reportHelp = `Usage: preflight report RUN_ID [--format md|html|junit|csv|json] [--output FILE]
                        [--fail-on-no-go [--accept-incomplete]] [--api URL]

The readiness report of a stored check run, from the preflight service (\`preflight serve\` or the
deployed API; requests to a deployed API are signed with SigV4): the go/no-go line, pass/warn/fail
per profile and per vantage, every failing flow with its cause and the fix (AWS CLI, CloudFormation,
CDK, the on-premises firewall request), and the evidence (when, vantage, subnet, probe results, the
rules the audit evaluated). Run ids: preflight history --environment NAME.

Formats:
  md      Markdown (default), for a ticket, a pull request or a wiki page
  html    one self-contained page that prints well, for a change board (no scripts, no external files)
  junit   JUnit XML for a CI gate: one testcase per flow (failure: a failing required flow; skipped:
          not verified live, or an optional flow failing) and a go/no-go testcase that fails when NO-GO
  csv     one row per flow (RFC 4180), for a spreadsheet
  json    the report model

Options:
  --format F        md, html, junit, csv or json (default md)
  --json            the same as --format json
  --output FILE     write the report to FILE instead of stdout
  --fail-on-no-go   exit 1 unless the report says GO (for a pipeline gate; README "Verdicts and readiness")
  --accept-incomplete
                    with --fail-on-no-go: exit 0 on INCOMPLETE too (flows not verified live accepted)
  --api URL         the service (default: $PREFLIGHT_API, else http://127.0.0.1:8787)
  -h, --help        show this help

Exit status: 0 the report was produced (whatever its readiness), 1 not GO with --fail-on-no-go
(INCOMPLETE accepted with --accept-incomplete), 2 a usage error, an unknown run or an unreachable service.

Examples:
  preflight report 01J9ZK3V8Q4W5X6Y7Z8A9B0C1D
  preflight report 01J9ZK3V8Q4W5X6Y7Z8A9B0C1D --format html --output wave-1.html
  preflight report 01J9ZK3V8Q4W5X6Y7Z8A9B0C1D --format junit --output preflight.xml --fail-on-no-go`;

/**
 * `preflight report RUN_ID`: reads the report model from the service (`GET /checks/{id}/report?format=json`)
 * and renders it here in the format asked for, with the same renderers the API uses.
 */
export async function reportCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    'report',
    argv,
    {
      format: { type: 'string' },
      json: { type: 'boolean', default: false },
      output: { type: 'string' },
      'fail-on-no-go': { type: 'boolean', default: false },
      'accept-incomplete': { type: 'boolean', default: false },
      api: { type: 'string' },
    },
    true,
  );
  if (positionals.length === 0)
    throw new UsageError('RUN_ID is required (run ids: preflight history --environment NAME)', 'report');
  if (positionals.length > 1)
    throw new UsageError(
      `one RUN_ID at a time (got ${positionals.map((p) => JSON.stringify(p)).join(', ')})`,
      'report',
    );
  const checkId = positionals[0] as string;
  const id = checkIdSchema.safeParse(checkId);
  if (!id.success)
    throw new UsageError(`RUN_ID: ${id.error.issues[0]?.message ?? 'not a check id'}`, 'report');
  if (values.json && values.format !== undefined && values.format !== 'json')
    throw new UsageError(`--json and --format ${values.format} ask for two formats: give one`, 'report');
  const requested = values.json ? 'json' : (values.format ?? 'md');
  const parsedFormat = reportFormatSchema.safeParse(requested);
  if (!parsedFormat.success) {
    throw new UsageError(
      `--format: ${JSON.stringify(requested)} is not a report format (${REPORT_FORMATS.join(', ')})`,
      'report',
    );
  }
  const format = parsedFormat.data;

  const api = values.api ?? io.env.PREFLIGHT_API ?? 'http://127.0.0.1:8787';
  const path = `/checks/${encodeURIComponent(checkId)}/report?format=json`;
  const reply = await callApi(api, 'GET', path, { env: io.env });
  if (reply.status === 404) {
    throw new InputError(
      `no check run ${checkId} in the service at ${api}: list the runs with \`preflight history --environment NAME\``,
    );
  }
  if (reply.status >= 400 && reply.status < 500) throw new UsageError(problemMessage(reply), 'report');
  if (reply.status !== 200) throw new ApiError(`GET ${path}: ${problemMessage(reply)}`);
  const parsed = reportSchema.safeParse(reply.body);
  if (!parsed.success) {
    throw new ApiError(
      `GET ${path}: the service sent a report this preflight cannot read (${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}); are the CLI and the service the same version?`,
    );
  }
  const report: Report = parsed.data;
  const rendered = renderReport(report, format);

  if (values.output !== undefined) {
    const file = resolve(io.cwd, values.output);
    try {
      writeFileSync(file, rendered.body);
    } catch (err) {
      throw new InputError(
        `--output ${values.output}: cannot write it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      );
    }
    io.stderr.write(`${report.readiness.line}\nreport written to ${values.output} (${format})\n`);
  } else {
    io.stdout.write(rendered.body);
  }
  return values['fail-on-no-go']
    ? exitCodeOf(report.readiness.decision, { acceptIncomplete: values['accept-incomplete'] })
    : 0;
}
