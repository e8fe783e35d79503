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
