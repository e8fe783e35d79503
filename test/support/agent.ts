import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO } from './cli';

/** `preflight agent` as its own process (the CLI, or the single-file bundle given as `script`). */
export interface AgentProcess {
  readonly child: ChildProcessWithoutNullStreams;
  /** What it said on stderr so far. */
  output(): string;
  /** Resolves once its stderr matches `pattern` (rejects when it exits first or after `timeoutMs`). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  readonly exited: Promise<number | null>;
  /** Sends `signal` (SIGTERM by default) unless it has exited; resolves with its exit status. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function startAgent(
  args: readonly string[],
  options: { script?: string; cwd?: string; command?: readonly string[] } = {},
): AgentProcess {
  const argv = options.command ?? [
    process.execPath,
    ...(options.script ? [options.script] : [join(REPO, 'bin', 'preflight.js'), 'agent']),
  ];
  const [exe, ...pre] = argv as [string, ...string[]];
  const child = spawn(exe, [...pre, ...args], {
    cwd: options.cwd ?? REPO,
    env: { ...process.env, NO_COLOR: '1' },
  });
  let err = '';
  const waiters = new Set<() => void>();
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
    for (const w of [...waiters]) w();
  });
  child.stdout.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => err,
    exited,
    waitFor: (pattern, timeoutMs = 30_000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (pattern.test(err)) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`the agent did not say ${pattern} within ${timeoutMs} ms:\n${err}`));
        }, timeoutMs);
        void exited.then(() => {
          if (!pattern.test(err)) {
            clearTimeout(timer);
            reject(new Error(`the agent exited before saying ${pattern}:\n${err}`));
          }
        });
        waiters.add(check);
        check();
      }),
    stop: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
