import type { z } from 'zod';

type Issue = z.core.$ZodIssue;
type PathKey = PropertyKey;

/** Formats a zod issue path as `vantages[0].securityGroupIds[1]`. */
export function formatPath(path: readonly PathKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$-]*$/.test(key)) out += out === '' ? key : `.${key}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

function valueAt(root: unknown, path: readonly PathKey[]): { found: boolean; value: unknown } {
  let cur: unknown = root;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object' || !(key in (cur as object)))
      return { found: false, value: undefined };
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return { found: true, value: cur };
}

/** A short, single-line rendering of a received value for error messages. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value))
    return value.length === 0 ? 'an empty list' : `a list (${truncate(JSON.stringify(value))})`;
  if (typeof value === 'object') return `an object (${truncate(JSON.stringify(value))})`;
  return truncate(JSON.stringify(value));
}

function truncate(text: string, max = 80): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/**
 * Turns zod issues into one line each, `path: what is wrong (the value received)`.
 * `root` is the parsed input, so that each line can show the offending value even when zod's issue does not carry it.
 */
export function formatIssues(issues: readonly Issue[], root: unknown): string[] {
  return issues.map((issue) => formatIssue(issue, root));
}

function formatIssue(issue: Issue, root: unknown): string {
  const where = formatPath(issue.path) || '(top level)';
  const { found, value } = valueAt(root, issue.path);
  switch (issue.code) {
    case 'invalid_type':
      if (!found || value === undefined) return `${where}: is required (${issue.expected})`;
      return `${where}: expected ${issue.expected}, got ${describeValue(value)}`;
    case 'unrecognized_keys':
      return issue.keys
        .map((k) => `${formatPath([...issue.path, k])}: unknown field ${JSON.stringify(k)}`)
        .join('; ');
    case 'invalid_value':
      return `${where}: ${describeValue(value)} is not one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    default: {
      // This project's own messages already name the value they reject; zod's generic ones do not.
      const shown = describeValue(value);
      return issue.message.includes(shown)
        ? `${where}: ${issue.message}`
        : `${where}: ${issue.message} (got ${shown})`;
    }
  }
}
