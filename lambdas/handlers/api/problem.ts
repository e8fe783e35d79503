/**
 * Errors of the HTTP API as RFC 9457 problem details (`application/problem+json`), each naming the bad fields.
 */
import type { z } from 'zod';
import { formatIssues, formatPath } from '../../core/errors';

/** One bad field: its path (`vantages[0].subnetIds[1]`, `query.limit`) and what is wrong with it. */
export interface FieldError {
  readonly path: string;
  readonly message: string;
}

/** The body of every error response. */
export interface ProblemBody {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly errors?: readonly FieldError[];
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
};

/** A response the router turns into problem+json; thrown anywhere below it. */
export class ProblemError extends Error {
  override readonly name = 'ProblemError';
  constructor(
    readonly status: number,
    /** A short kebab-case kind, the last part of `type`. */
    readonly kind: string,
    readonly detail: string,
    readonly errors: readonly FieldError[] = [],
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(detail);
  }

  toBody(): ProblemBody {
    return {
      type: `urn:preflight:problem:${this.kind}`,
      title: TITLES[this.status] ?? 'Error',
      status: this.status,
      detail: this.detail,
      ...(this.errors.length > 0 ? { errors: this.errors } : {}),
    };
  }
}

/** Splits this project's one-line problems (`path: message`) into field errors. */
export function splitProblem(line: string, prefix: readonly PropertyKey[] = []): FieldError {
  const at = line.indexOf(': ');
  const path = at > 0 && !line.slice(0, at).includes(' ') ? line.slice(0, at) : '';
  const message = path ? line.slice(at + 2) : line;
  const full = [formatPath(prefix), path].filter((p) => p !== '' && p !== '(top level)').join('.');
  return { path: full || '(top level)', message };
}

/** A 400 naming every field zod rejected; `prefix` places the fields (`['query']`, `['environment']`). */
export function validationProblem(
  detail: string,
  issues: readonly z.core.$ZodIssue[],
  root: unknown,
  prefix: readonly PropertyKey[] = [],
): ProblemError {
  // formatIssues joins the keys of one unrecognized_keys issue with '; ': one field error each.
  const lines = formatIssues(issues, root).flatMap((l) => l.split('; '));
  return new ProblemError(
    400,
    'validation-error',
    detail,
    lines.map((l) => splitProblem(l, prefix)),
  );
}
