import type { z } from 'zod';
import { formatIssues } from '../../core/errors';

/** Raised when a step's input is not what the state machine passes; names each field and value. */
export class StepInputError extends Error {
  override readonly name = 'StepInputError';
}

/** Parses a step's input, or throws a {@link StepInputError} naming the fields. */
export function parseWith<S extends z.ZodType>(schema: S, raw: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new StepInputError(
      `${what} is not valid: ${formatIssues(parsed.error.issues as z.core.$ZodIssue[], raw).join('; ')}`,
    );
  }
  return parsed.data;
}
