import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO } from './cli';

/** `preflight serve` in its own process, as `npm start` runs it (the CLI bundle in dist/). */
export interface Service {
  readonly child: ChildProcessWithoutNullStreams;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Everything it printed so far, stdout and stderr. */
  output(): string;
  /** Stops it with SIGTERM; resolves with its exit status. */
  stop(): Promise<number | null>;
}

/** Starts `preflight serve --port 0 --data DIR` plus `args` (which may give its own --port), and waits for its URL. */
export async function startService(dataDir: string, args: readonly string[] = []): Promise<Service> {
  const child = spawn(process.execPath, [
    join(REPO, 'bin', 'preflight.js'),
    'serve',
    ...(args.includes('--port') ? [] : ['--port', '0']),
    '--data',
    dataDir,
    ...args,
  ]);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the service did not start: ${out}`)), 30_000);
    child.stdout.on('data', () => {
      const m = /preflight service on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the service exited (${code}): ${out}`));
    });
  });
  return {
    child,
    url,
    output: () => out,
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
