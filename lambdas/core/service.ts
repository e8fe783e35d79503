/**
 * The service's contracts: what the API router (`lambdas/handlers/api/router.ts`) takes from whatever runs it and
 * what the adapters implement (the Step Functions starter, the DynamoDB idempotency cache, the Scheduler and the
 * local scheduler). They live here, outside the handlers, so that an adapter never imports from a handler.
 */
import type { Environment } from './environment';
import type { CheckRun, Trigger } from './store';

/** Bytes of a request body the API takes by default; more is a 413 (`ApiLimits.maxBodyBytes`). */
export const DEFAULT_MAX_BODY_BYTES = 256 * 1024;

/** A request as any front end (node:http, API Gateway) hands it over. Header names in any case. */
export interface ApiRequest {
  readonly method: string;
  /** The path without the query string, still percent-encoded (`/environments/wave-1`). */
  readonly path: string;
  readonly query: Readonly<Record<string, string | undefined>>;
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body: string | undefined;
}

export interface ApiResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Starts a check run; implemented by the local runner (`lambdas/local/runner.ts`) and the Step Functions starter (`lambdas/aws/step-functions.ts`). */
export interface CheckStarter {
  start(input: { environment: Environment; trigger: Trigger }): Promise<CheckRun>;
}

/**
 * Keeps each environment's schedule where schedules run: EventBridge Scheduler once deployed
 * (`lambdas/aws/scheduler.ts`), the in-process scheduler in local mode. The router calls it after storing or
 * deleting an environment, and puts the environment back as it was when it fails.
 */
export interface EnvironmentSchedules {
  /** Creates or updates the environment's schedule, or deletes it when the environment has none. */
  put(environment: Environment): Promise<void>;
  /** Deletes the environment's schedule; nothing happens when it has none. */
  remove(name: string): Promise<void>;
}

/** A schedule that could not be saved or deleted; `rejected` when the scheduler refused its definition. */
export class EnvironmentScheduleError extends Error {
  override readonly name = 'EnvironmentScheduleError';
  constructor(
    message: string,
    readonly rejected = false,
  ) {
    super(message);
  }
}

/**
 * Remembers which run an `Idempotency-Key` started. {@link MemoryIdempotencyCache} holds within one process;
 * `DynamoIdempotencyCache` (lambdas/aws) keeps the keys in the results table, for every process and container.
 */
export interface IdempotencyCache {
  /** The entry for `key`, or, when there is none, claims the key with `create()`'s eventual result. */
  getOrCreate(
    key: string,
    create: () => Promise<IdempotentEntry>,
  ): Promise<{ entry: IdempotentEntry; created: boolean }>;
}

export interface IdempotentEntry {
  readonly checkId: string;
  /** A hash of the request body, so that a key reused for another request is refused. */
  readonly fingerprint: string;
}

/** An in-process {@link IdempotencyCache}: concurrent retries share one creation; a failed creation frees the key. */
export class MemoryIdempotencyCache implements IdempotencyCache {
  private readonly entries = new Map<string, Promise<IdempotentEntry>>();
  constructor(private readonly maxEntries = 10_000) {}

  async getOrCreate(key: string, create: () => Promise<IdempotentEntry>) {
    const existing = this.entries.get(key);
    if (existing) return { entry: await existing, created: false };
    const pending = create();
    this.entries.set(key, pending);
    // The oldest keys go first when the cache is full (a Map iterates in insertion order).
    while (this.entries.size > this.maxEntries)
      this.entries.delete(this.entries.keys().next().value as string);
    try {
      return { entry: await pending, created: true };
    } catch (err) {
      this.entries.delete(key);
      throw err;
    }
  }
}
