import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { main } from '../../lambdas/cli/main';

export const REPO = join(__dirname, '..', '..');

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function capture(isTTY: boolean) {
  const stream = new PassThrough() as PassThrough & { isTTY?: boolean };
  stream.isTTY = isTTY;
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  return { stream, text: () => text };
}

/** Runs the CLI in this process with captured output (fast; for most tests). */
export async function runCli(
  argv: string[],
  opts: { tty?: boolean; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<CliResult> {
  const out = capture(opts.tty ?? false);
  const err = capture(opts.tty ?? false);
  const code = await main(argv, {
    stdout: out.stream,
    stderr: err.stream,
    env: opts.env ?? {},
    cwd: opts.cwd ?? REPO,
  });
  await new Promise((resolve) => setImmediate(resolve));
  return { code, stdout: out.text(), stderr: err.text() };
}

/** Runs `bin/preflight.js` as its own process, as a user would (exit status, no stack traces). */
export function runCliProcess(argv: string[], cwd = REPO): CliResult {
  const r = spawnSync(process.execPath, [join(REPO, 'bin', 'preflight.js'), ...argv], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '' },
    timeout: 60_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
