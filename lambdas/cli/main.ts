import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { InputError, UsageError } from './args';
import type { Io } from './output';

const mainHelp = `preflight: prove that every port a migration into AWS needs is really open.

Usage: preflight <command> [options]

Commands:
  catalog   the migration tools' port requirements, as data (profiles, roles, requirements)
  plan      turn an environment file into flows, and say how each will be checked
  probe     probe TCP ports live and classify each one (open, closed, filtered, …)
  audit     audit Security Groups, network ACLs and routes statically; print the rule that fixes each gap
  check     plan + live probes from this machine: a verdict and cause per flow
  serve     the service locally: HTTP API, embedded store, check runner
  history   the stored runs of an environment, or one flow across runs
  report    a run's readiness report (go/no-go, failing flows with fixes): md, html, junit, csv, json

Run 'preflight <command> --help' for a command's options.
Every command that reports takes --json. Exit status: 0 all good, 1 something failed, 2 usage or input error.

Get started:
  preflight catalog
  preflight plan --config examples/wave-1.yaml
  preflight check --config examples/localhost.yaml`;

interface Command {
  readonly run: (argv: string[], io: Io) => Promise<number>;
  readonly help: string;
}

/**
 * Each command's module, loaded only when that command runs (or its help is asked for): `catalog`, `plan`
 * and `probe` never load the store, the AWS SDK, the API client, the reports or the dashboard. The bundle
 * in dist/ keeps each dynamic import a chunk of its own (see bin/build-cli.js), so what a command does not
 * import is not even read from disk.
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  catalog: async () => {
    const m = await import('./commands/catalog.js');
    return { run: m.catalogCommand, help: m.catalogHelp };
  },
  plan: async () => {
    const m = await import('./commands/plan.js');
    return { run: m.planCommand, help: m.planHelp };
  },
  probe: async () => {
    const m = await import('./commands/probe.js');
    return { run: m.probeCommand, help: m.probeHelp };
  },
  audit: async () => {
    const m = await import('./commands/audit.js');
    return { run: m.auditCommand, help: m.auditHelp };
  },
  check: async () => {
    const m = await import('./commands/check.js');
    return { run: m.checkCommand, help: m.checkHelp };
  },
  serve: async () => {
    const m = await import('./commands/serve.js');
    return { run: m.serveCommand, help: m.serveHelp };
  },
  history: async () => {
    const m = await import('./commands/history.js');
    return { run: m.historyCommand, help: m.historyHelp };
  },
  report: async () => {
    const m = await import('./commands/report.js');
    return { run: m.reportCommand, help: m.reportHelp };
  },
};

/** The package's version, from the nearest package.json above this file (source or bundle). */
function version(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    try {
      return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      if (dirname(dir) === dir) return 'unknown';
    }
  }
}

// The AWS SDK warns on every run under Node 20 that its 2027 releases need Node 22. The CLI talks only to
// the embedded store and (for a live audit) EC2; the deployed Lambdas run Node 22. Users can still see it
// by setting the variable to false.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const processIo: Io = {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
};

/**
 * Errors that are the user's input or environment, told in one line: matched by name, so that neither a
 * command's modules nor the AWS SDK are loaded just to recognise their errors.
 */
const EXPECTED_ERRORS = new Set([
  'CatalogError',
  'ProbeOptionsError',
  'InventoryError',
  'Ec2InventoryError',
  'ThrottledError',
  'AuditRequirementError',
  'CidrError',
  'InventoryValueError',
  'StoreError',
  'ApiError',
  'SafetyConfigError',
]);

/**
 * Runs the CLI and returns its exit status. Expected failures (usage, input, catalog) are printed as one
 * clear line on stderr; nothing here prints a stack trace.
 */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    const topic = name === 'help' ? rest[0] : undefined;
    const load = topic !== undefined ? COMMANDS[topic] : undefined;
    io.stdout.write(`${load ? (await load()).help : mainHelp}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    io.stdout.write(`${version()}\n`);
    return 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    io.stderr.write(
      `preflight: unknown command ${JSON.stringify(name)}; commands: ${Object.keys(COMMANDS).join(', ')} (preflight --help)\n`,
    );
    return 2;
  }
  const command = await load();
  if (rest.includes('-h') || rest.includes('--help')) {
    io.stdout.write(`${command.help}\n`);
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`preflight ${name}: ${err.message}\nRun 'preflight ${name} --help' for usage.\n`);
      return 2;
    }
    if (err instanceof InputError || (err instanceof Error && EXPECTED_ERRORS.has(err.name))) {
      io.stderr.write(`preflight ${name}: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}
