/**
 * A small, explicit retry for AWS throttling, on top of the SDK's own (adaptive) retries: when a burst of audits
 * exhausts the SDK's attempts, the call waits longer and tries again instead of failing the whole check run.
 */

/** Error names (codes) AWS services use for "slow down". */
export const THROTTLING_ERROR_NAMES: ReadonlySet<string> = new Set([
  'ThrottlingException',
  'RequestLimitExceeded',
  'Throttling',
  'TooManyRequestsException',
  'RequestThrottled',
  'RequestThrottledException',
  'ThrottledException',
  'SlowDown',
  'EC2ThrottledException',
  'BandwidthLimitExceeded',
]);

/** Tuning for {@link withThrottlingRetry}; tests inject `sleep` and `random`. */
export interface ThrottlingRetryOptions {
  /** Attempts in all, the first one included. @default 5 */
  readonly maxAttempts?: number;
  /** The wait before the second attempt; it doubles each time. @default 250 */
  readonly baseDelayMs?: number;
  /** The longest single wait. @default 8000 */
  readonly maxDelayMs?: number;
  /** @default - a real timer */
  readonly sleep?: (ms: number) => Promise<void>;
  /** A number in [0, 1) for the jitter. @default Math.random */
  readonly random?: () => number;
}

/** The defaults of {@link ThrottlingRetryOptions}: about 4 s of waiting in all before giving up. */
export const THROTTLING_RETRY_DEFAULTS = { maxAttempts: 5, baseDelayMs: 250, maxDelayMs: 8000 } as const;

/** Raised when an operation is still throttled after every attempt. */
export class ThrottledError extends Error {
  override readonly name = 'ThrottledError';
  constructor(
    readonly operation: string,
    readonly attempts: number,
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(
      `${operation} was still throttled by AWS after ${attempts} attempts (${code}): the account's API request ` +
        'rate is used up, by this run or by other callers in the same account and region; wait a minute and try again',
      options,
    );
  }
}

/** The error's AWS name or code when it means "slow down" (a 429 counts too), else undefined. */
export function throttlingCode(err: unknown): string | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const e = err as {
    name?: unknown;
    Code?: unknown;
    code?: unknown;
    $metadata?: { httpStatusCode?: unknown };
    $retryable?: { throttling?: unknown };
  };
  for (const candidate of [e.name, e.Code, e.code]) {
    if (typeof candidate === 'string' && THROTTLING_ERROR_NAMES.has(candidate)) return candidate;
  }
  if (e.$retryable?.throttling === true || e.$metadata?.httpStatusCode === 429) {
    return typeof e.name === 'string' ? e.name : 'HTTP 429';
  }
  return undefined;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `attempt`, retrying it on throttling errors with exponential backoff and "equal jitter": the n-th wait is
 * half of `min(maxDelayMs, baseDelayMs × 2^(n-1))` plus a random share of the other half, so retries from several
 * callers spread out but never hammer the API at once. Any other error is rethrown at once.
 *
 * @param operation - the API operation's name, for the error message.
 * @throws ThrottledError when every attempt was throttled.
 */
export async function withThrottlingRetry<T>(
  operation: string,
  attempt: () => Promise<T>,
  options: ThrottlingRetryOptions = {},
): Promise<T> {
  const maxAttempts = Math.max(1, options.maxAttempts ?? THROTTLING_RETRY_DEFAULTS.maxAttempts);
  const base = options.baseDelayMs ?? THROTTLING_RETRY_DEFAULTS.baseDelayMs;
  const cap = options.maxDelayMs ?? THROTTLING_RETRY_DEFAULTS.maxDelayMs;
  const sleep = options.sleep ?? realSleep;
  const random = options.random ?? Math.random;
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      const code = throttlingCode(err);
      if (code === undefined) throw err;
      if (n >= maxAttempts) throw new ThrottledError(operation, n, code, { cause: err });
      const ceiling = Math.min(cap, base * 2 ** (n - 1));
      await sleep(Math.round(ceiling / 2 + random() * (ceiling / 2)));
    }
  }
}
