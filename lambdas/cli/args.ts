import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A mistake in how a command was called; the CLI prints it with a pointer to `--help` and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
  }
}

/** A problem with a file or value the user gave (not with the call itself); exits 2 without the help pointer. */
export class InputError extends Error {
  override readonly name = 'InputError';
}

export type Options = NonNullable<ParseArgsConfig['options']>;

/** Parses a command's arguments strictly: unknown options and missing values are usage errors. */
export function parseCommandArgs<O extends Options>(
  command: string,
  argv: string[],
  options: O,
  allowPositionals = false,
) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals });
  } catch (err) {
    const message = (err as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    throw new UsageError(message.charAt(0).toLowerCase() + message.slice(1), command);
  }
}

/** Reads an integer option such as `--timeout 3000`, checking its range; `undefined` when not given. */
export function intOption(
  command: string,
  flag: string,
  value: string | undefined,
  min: number,
  max: number,
  unit = '',
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) {
    throw new UsageError(
      `--${flag}: ${JSON.stringify(value)} is not a whole number${unit ? ` of ${unit}` : ''}`,
      command,
    );
  }
  if (n < min || n > max) throw new UsageError(`--${flag}: ${n} is out of range (${min}-${max})`, command);
  return n;
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;
const DURATION_UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Reads a duration option such as `--for 10m` (units ms, s, m, h; a bare number is seconds) into
 * milliseconds, checking its range; `undefined` when not given.
 */
export function durationOption(
  command: string,
  flag: string,
  value: string | undefined,
  minMs: number,
  maxMs: number,
): number | undefined {
  if (value === undefined) return undefined;
  const m = DURATION.exec(value.trim());
  if (!m) {
    throw new UsageError(
      `--${flag}: ${JSON.stringify(value)} is not a duration; write e.g. 90s, 10m or 1h`,
      command,
    );
  }
  const ms = Math.round(Number(m[1]) * (DURATION_UNIT_MS[m[2] ?? 's'] ?? 1000));
  if (ms < minMs || ms > maxMs) {
    throw new UsageError(
      `--${flag}: ${JSON.stringify(value)} is out of range (${formatDuration(minMs)}-${formatDuration(maxMs)})`,
      command,
    );
  }
  return ms;
}

/** A duration for people: `90 s`, `10 min`, `2 h`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000 || ms % 60_000 !== 0) return `${Math.round(ms / 100) / 10} s`;
  if (ms < 7_200_000 || ms % 3_600_000 !== 0) return `${ms / 60_000} min`;
  return `${ms / 3_600_000} h`;
}
