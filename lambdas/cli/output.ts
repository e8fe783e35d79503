/** Terminal output helpers: colour only on a terminal (and never with NO_COLOR), aligned tables, a progress line. */

export type Colour = 'red' | 'green' | 'yellow' | 'blue' | 'magenta' | 'cyan' | 'grey' | 'bold';

const CODES: Record<Colour, [number, number]> = {
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  blue: [34, 39],
  magenta: [35, 39],
  cyan: [36, 39],
  grey: [90, 39],
  bold: [1, 22],
};

/** Where a command writes; tests pass in-memory streams. */
export interface Io {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
}

export type Paint = (colour: Colour, text: string) => string;

/** A painter that colours only when the stream is a terminal and NO_COLOR is unset (FORCE_COLOR forces it). */
export function painter(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): Paint {
  const on = env.FORCE_COLOR ? env.FORCE_COLOR !== '0' : Boolean(stream.isTTY) && !env.NO_COLOR;
  if (!on) return (_c, text) => text;
  return (c, text) => `\u001b[${CODES[c][0]}m${text}\u001b[${CODES[c][1]}m`;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;
const visibleLength = (s: string) => s.replace(ANSI, '').length;

/** Renders rows as left-aligned columns separated by two spaces; cells may carry colour codes. */
export function table(rows: ReadonlyArray<readonly string[]>, indent = ''): string {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, visibleLength(cell))));
  return rows
    .map(
      (row) =>
        indent +
        row
          .map((cell, i) =>
            i === row.length - 1 ? cell : cell + ' '.repeat((widths[i] ?? 0) - visibleLength(cell)),
          )
          .join('  ')
          .trimEnd(),
    )
    .join('\n');
}

/** Milliseconds for people: `0.4 ms`, `12 ms`, `1.23 s`. */
export function formatMs(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

/**
 * A single self-rewriting status line on a terminal's stderr. It stays silent for the first `delayMs`
 * (short runs print nothing) and redraws at most every `intervalMs`.
 */
export class ProgressLine {
  private last = 0;
  private shown = false;
  private readonly started = Date.now();

  constructor(
    private readonly stream: NodeJS.WritableStream & { isTTY?: boolean },
    private readonly delayMs = 400,
    private readonly intervalMs = 100,
  ) {}

  /** Redraws the line with `text` when it is due. */
  update(text: string): void {
    if (!this.stream.isTTY) return;
    const now = Date.now();
    if (now - this.started < this.delayMs || now - this.last < this.intervalMs) return;
    this.last = now;
    this.shown = true;
    this.stream.write(`\r\u001b[K${text}`);
  }

  /** Erases the line, if it was ever drawn. */
  done(): void {
    if (this.shown) this.stream.write('\r\u001b[K');
    this.shown = false;
  }
}

/**
 * Turns the first Ctrl-C into an abort signal, so a long probe stops and still reports what it has
 * (the rest `skipped`); a second Ctrl-C ends the process as usual. Call `dispose` when done.
 */
export function interruptSignal(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGINT', onSignal);
  return { signal: controller.signal, dispose: () => process.removeListener('SIGINT', onSignal) };
}

/**
 * What a command tells the user when its probe ran out of file descriptors (the engine then holds fewer sockets
 * and tries the ports that got none again, so the results stand, only slower), or the empty string when it did not.
 */
export function descriptorWarning(
  command: string,
  descriptorLimit: number | undefined,
  asked: number,
): string {
  if (descriptorLimit === undefined) return '';
  return (
    `preflight ${command}: this process may open too few files for ${asked} sockets at once (the open-files ` +
    `limit, ulimit -n): it probed with ${descriptorLimit}, which took longer; raise the limit (ulimit -n ` +
    `${Math.max(1024, asked * 2)}) or lower --concurrency\n`
  );
}
