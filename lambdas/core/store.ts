/**
 * The results store as the domain sees it: the records a check run leaves behind (zod schemas and their types
 * together) and the {@link ResultStore} interface the runner, the API and the CLI program against. No AWS SDK
 * here: `lambdas/aws/dynamo-store.ts` implements it over DynamoDB (and dynalite in local mode).
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { environmentSchema, type Environment } from './environment';
import { findingDetailSchema } from './finding/detail';
import type { PortService } from './identify';

// ---------------------------------------------------------------------------------------------------------------
// Check ids

/** Crockford's base32 alphabet (no I, L, O, U): sorts in the same order as the values it encodes. */
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * A check id is a ULID: 26 characters of Crockford base32, the first 10 the creation time in milliseconds
 * since the epoch (48 bits), the last 16 random (80 bits). Ids therefore sort by creation time as plain strings,
 * are safe in URLs and DynamoDB keys, and two runs created in the same millisecond do not collide.
 */
export const checkIdSchema = z.string().regex(/^[0-7][0-9A-HJKMNP-TV-Z]{25}$/, {
  error: (iss) =>
    `${JSON.stringify(iss.input)} is not a check id (26 characters of Crockford base32, e.g. 01J9ZK3V8Q4W5X6Y7Z8A9B0C1D)`,
});
export type CheckId = z.infer<typeof checkIdSchema>;

/** A new check id for a run created at `now`; `random` is injectable for tests. */
export function newCheckId(
  now: Date = new Date(),
  random: (bytes: number) => Uint8Array = randomBytes,
): CheckId {
  let ms = now.getTime();
  if (!Number.isSafeInteger(ms) || ms < 0)
    throw new RangeError(`cannot make a check id for the time ${String(now)}`);
  let time = '';
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[ms % 32] + time;
    ms = Math.floor(ms / 32);
  }
  const bytes = random(10);
  let rand = '';
  // 80 random bits as 16 base32 digits: 5 bits at a time.
  let acc = 0;
  let bits = 0;
  for (const byte of bytes) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      rand += CROCKFORD[(acc >> (bits - 5)) & 31];
      bits -= 5;
    }
    acc &= (1 << bits) - 1;
  }
  return time + rand;
}

/** The creation time encoded in a check id. */
export function checkIdTime(checkId: CheckId): Date {
  let ms = 0;
  for (const ch of checkId.slice(0, 10)) ms = ms * 32 + CROCKFORD.indexOf(ch);
  return new Date(ms);
}

// ---------------------------------------------------------------------------------------------------------------
// Records

/**
 * An instant as an ISO 8601 string in UTC (`2026-01-31T12:00:00.000Z`). Inputs with an offset or another
 * precision are normalised to `Date#toISOString()`'s form, so that stored times sort correctly as strings.
 */
export const isoTimeSchema = z.iso
  .datetime({ offset: true, error: (iss) => `${JSON.stringify(iss.input)} is not an ISO 8601 date-time` })
  .transform((text) => new Date(text).toISOString());

export const environmentNameSchema = environmentSchema.shape.name;

export const triggerSchema = z.enum(['api', 'schedule', 'cli']);
export type Trigger = z.infer<typeof triggerSchema>;

export const runStatusSchema = z.enum(['queued', 'running', 'succeeded', 'failed', 'partial']);
export type RunStatus = z.infer<typeof runStatusSchema>;

/** Statuses of a run that is not finished yet; a restart closes such runs when they are stale. */
export const OPEN_STATUSES: readonly RunStatus[] = ['queued', 'running'];

/** Whether a run in `status` is closed (no further status change is allowed). */
export function isClosed(status: RunStatus): boolean {
  return !OPEN_STATUSES.includes(status);
}

const STATUS_RANK: Record<RunStatus, number> = { queued: 0, running: 1, succeeded: 2, failed: 2, partial: 2 };

/**
 * The statuses a run may be in for it to move to `to`: strictly forward (queued → running → one closed status),
 * or staying in the same open status. A closed run never changes status again.
 */
export function statusesBefore(to: RunStatus): RunStatus[] {
  return runStatusSchema.options.filter(
    (from) => STATUS_RANK[from] < STATUS_RANK[to] || (from === to && !isClosed(to)),
  );
}

export const flowIdSchema = z.string().regex(/^f-[0-9a-z]+$/, {
  error: (iss) => `${JSON.stringify(iss.input)} is not a flow id (f-…)`,
});

/** A flow whose verdict changed since the previous run of the same environment. */
export const verdictChangeSchema = z
  .object({
    flowId: flowIdSchema,
    /** The verdict in the previous run; absent when the flow is new. */
    from: z.string().optional(),
    /** The verdict in this run; absent when the flow is gone. */
    to: z.string().optional(),
  })
  .strict();
export type VerdictChange = z.infer<typeof verdictChangeSchema>;

const countSchema = z.number().int().nonnegative();

export const checkRunSchema = z
  .object({
    checkId: checkIdSchema,
    environmentName: environmentNameSchema,
    trigger: triggerSchema,
    status: runStatusSchema,
    /** Why the run failed or is partial, in a sentence. */
    reason: z.string().optional(),
    createdAt: isoTimeSchema,
    startedAt: isoTimeSchema.optional(),
    finishedAt: isoTimeSchema.optional(),
    /** Findings by verdict. */
    counts: z.record(z.string(), countSchema),
    /** The required (not optional) findings by verdict, so that readiness is known from the run alone. */
    requiredCounts: z.record(z.string(), countSchema).optional(),
    /** The environment's profiles when the run was created (an inline environment is stored nowhere else). */
    profiles: z.array(z.string()).optional(),
    flowCount: countSchema,
    previousCheckId: checkIdSchema.optional(),
    changes: z.array(verdictChangeSchema).optional(),
  })
  .strict();
export type CheckRun = z.infer<typeof checkRunSchema>;

/** A new run in its first state: `queued`, created at `at`, nothing counted yet. */
export function queuedRun(
  environmentName: string,
  trigger: Trigger,
  at: Date = new Date(),
  profiles?: readonly string[],
): CheckRun {
  return {
    checkId: newCheckId(at),
    environmentName,
    trigger,
    status: 'queued',
    createdAt: at.toISOString(),
    counts: {},
    flowCount: 0,
    ...(profiles !== undefined ? { profiles: [...profiles] } : {}),
  };
}

/** What {@link ResultStore.updateRun} may change; the id, environment, trigger and creation time never change. */
export const runPatchSchema = checkRunSchema
  .omit({ checkId: true, environmentName: true, trigger: true, createdAt: true })
  .partial()
  .strict();
export type RunPatch = z.infer<typeof runPatchSchema>;

const serviceKindSchema = z.enum(['tls', 'http', 'ssh', 'smb']);
const portSchema = z.number().int().min(1).max(65535);

/** What answered on an open port (see `identify.ts`, which stays free of zod for the prober Lambda). */
export const serviceIdentitySchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('tls'),
      version: z.string(),
      subject: z.string(),
      issuer: z.string(),
      notBefore: z.string(),
      notAfter: z.string(),
      selfSigned: z.boolean(),
      hostnameMatch: z.enum(['match', 'mismatch', 'not-checked']),
      warning: z.string().optional(),
    })
    .strict(),
  z
    .object({
      kind: z.literal('http'),
      status: z.number().int().min(100).max(999),
      server: z.string().optional(),
      warning: z.string().optional(),
    })
    .strict(),
  z.object({ kind: z.literal('ssh'), banner: z.string() }).strict(),
  z.object({ kind: z.literal('smb'), dialect: z.string() }).strict(),
  z.object({ kind: z.literal('none'), expected: serviceKindSchema, reason: z.string() }).strict(),
  z.object({ kind: z.literal('skipped'), expected: serviceKindSchema, reason: z.string() }).strict(),
]);

export const portServiceSchema = z.object({ port: portSchema, service: serviceIdentitySchema }).strict();

// The schema and the engine's type describe the same values: each must be assignable to the other.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const serviceSchemaMatches: Same<z.infer<typeof portServiceSchema>, PortService> = true;
void serviceSchemaMatches;

/** One flow's combined verdict in one run. */
export const findingRecordSchema = z
  .object({
    checkId: checkIdSchema,
    environmentName: environmentNameSchema,
    flowId: flowIdSchema,
    /** The run's creation time, so that a flow's history sorts by run. */
    createdAt: isoTimeSchema,
    verdict: z.string().min(1),
    cause: z.string(),
    direction: z.enum(['egress', 'ingress', 'intra-vpc', 'outside']),
    /** The flow's ends as a person reads them (`vantage workers`, `10.20.0.15 (source-server)`). */
    source: z.string(),
    destination: z.string(),
    protocol: z.enum(['tcp', 'udp']),
    /** A port list such as `443,8000-8010`. */
    ports: z.string().regex(/^\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*$/, {
      error: (iss) => `${JSON.stringify(iss.input)} is not a port list (443,8000-8010)`,
    }),
    requirements: z.array(z.string()),
    optional: z.boolean(),
    /** What answered on the flow's open ports that were identified (TLS, HTTP, SSH, SMB), by port. */
    services: z.array(portServiceSchema).optional(),
    /** The typed detail: the vantages at its ends, what the probe saw, what the audit read, the fixes. */
    detail: findingDetailSchema.optional(),
  })
  .strict();
export type FindingRecord = z.infer<typeof findingRecordSchema>;

export const environmentRecordSchema = z
  .object({
    name: environmentNameSchema,
    environment: environmentSchema,
    createdAt: isoTimeSchema,
    updatedAt: isoTimeSchema,
  })
  .strict();
export type EnvironmentRecord = z.infer<typeof environmentRecordSchema>;

// ---------------------------------------------------------------------------------------------------------------
// Pages

export const PAGE_LIMIT_DEFAULT = 25;
export const PAGE_LIMIT_MAX = 100;

export const pageOptionsSchema = z
  .object({
    limit: z
      .number()
      .int()
      .min(1)
      .max(PAGE_LIMIT_MAX, {
        error: (iss) => `a page holds at most ${PAGE_LIMIT_MAX} items (got ${String(iss.input)})`,
      })
      .default(PAGE_LIMIT_DEFAULT),
    /** The `nextCursor` of the previous page, as it was returned. */
    cursor: z.string().min(1).optional(),
  })
  .strict();
export type PageOptions = z.input<typeof pageOptionsSchema>;

export const listRunsOptionsSchema = pageOptionsSchema
  .extend({
    /** Runs created at or after this time. */
    since: isoTimeSchema.optional(),
    /** Runs created at or before this time. */
    until: isoTimeSchema.optional(),
    status: runStatusSchema.optional(),
  })
  .strict()
  .refine((o) => o.since === undefined || o.until === undefined || o.since <= o.until, {
    error: 'since must not be after until',
    path: ['since'],
  });
export type ListRunsOptions = z.input<typeof listRunsOptionsSchema>;

/** One page of a listing; `nextCursor` is absent on the last page. */
export interface Page<T> {
  readonly items: T[];
  readonly nextCursor?: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Errors

/** Any failure of the results store; the subclasses say which kind. */
export class StoreError extends Error {
  override readonly name: string = 'StoreError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The record asked for does not exist (a 404). */
export class NotFoundError extends StoreError {
  override readonly name: string = 'NotFoundError';
}

/** The write conflicts with what is stored: the id exists, or the run is not in the expected status (a 409). */
export class ConflictError extends StoreError {
  override readonly name: string = 'ConflictError';
}

/** A pagination cursor that this store did not issue for this listing, or that was altered (a 400). */
export class CursorError extends StoreError {
  override readonly name: string = 'CursorError';
}

/** A record or an option the store refuses: bad field, limit out of range (a 400). `issues` are one line each. */
export class StoreValidationError extends StoreError {
  override readonly name: string = 'StoreValidationError';
  constructor(
    message: string,
    readonly issues: readonly string[] = [],
  ) {
    super(issues.length > 0 ? `${message}: ${issues.join('; ')}` : message);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The interface

/** Options of {@link ResultStore.updateRun}. */
export interface UpdateRunOptions {
  /** The update applies only while the run is in one of these statuses. */
  readonly expectStatus?: RunStatus | readonly RunStatus[];
}

/**
 * Where check runs, their findings and the environments live. Every method validates its input with the
 * schemas above and throws {@link StoreValidationError}, {@link NotFoundError}, {@link ConflictError},
 * {@link CursorError} or {@link StoreError}. Listings return {@link Page}s; pass `nextCursor` back as `cursor`.
 */
export interface ResultStore {
  /** Creates or replaces an environment; `createdAt` is kept from the first put. */
  putEnvironment(environment: Environment): Promise<EnvironmentRecord>;
  /** @throws NotFoundError */
  getEnvironment(name: string): Promise<EnvironmentRecord>;
  /** @throws NotFoundError */
  deleteEnvironment(name: string): Promise<void>;
  /** Environments by name, ascending. */
  listEnvironments(options?: PageOptions): Promise<Page<EnvironmentRecord>>;

  /** @throws ConflictError when a run with this id exists. */
  createRun(run: CheckRun): Promise<CheckRun>;
  /**
   * Changes a run and returns it as stored. A status change only moves forward (queued → running → succeeded,
   * failed or partial) and a closed run never changes status again; `expectStatus` narrows it further.
   * @throws NotFoundError, ConflictError naming the current status.
   */
  updateRun(checkId: string, patch: RunPatch, options?: UpdateRunOptions): Promise<CheckRun>;
  /** @throws NotFoundError */
  getRun(checkId: string): Promise<CheckRun>;
  /** Stores a run's findings (any number, written in batches); a finding of the same flow is replaced. */
  putFindings(checkId: string, findings: readonly FindingRecord[]): Promise<void>;
  /** A run's findings by flow id. */
  listFindings(checkId: string, options?: PageOptions): Promise<Page<FindingRecord>>;
  /** An environment's runs newest first, optionally between two times and in one status. */
  listRuns(environmentName: string, options?: ListRunsOptions): Promise<Page<CheckRun>>;
  /** One flow's findings across the environment's runs, newest first. */
  flowHistory(environmentName: string, flowId: string, options?: PageOptions): Promise<Page<FindingRecord>>;
  /** Every run still `queued` or `running` that was created before `olderThan`, oldest first. */
  listStaleRuns(olderThan: string): Promise<CheckRun[]>;
}
