/**
 * Probe jobs of on-premises vantages: what a run asks of `preflight agent`, how an agent takes one (a lease it
 * keeps with heartbeats), posts its results in pages and completes or releases it, and how a run waits for it.
 * The store interface is implemented over the results table by `lambdas/aws/dynamo-agent-jobs.ts`.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { printable } from '../printable';
import type { ProbeResult, ProbeTarget } from '../probe';
import { PROBE_STATES } from '../probe';
import { DEFAULT_MAX_BODY_BYTES } from '../service';
import { checkIdSchema, newCheckId } from '../store';
import type { SafetyMode } from '../target-policy';

/** How long a taken job stays with its agent without a heartbeat. */
export const AGENT_LEASE_MS = 30_000;
/** The longest an agent's poll for a job is held open by the API (API Gateway's limit is 29 s). */
export const AGENT_MAX_WAIT_SECONDS = 20;
/**
 * How long after a job's deadline the agent holding it may still post its results: the engine stops at the deadline
 * and the pages go out after it. In AWS the callback task waits this much beyond the budget (its TimeoutSeconds).
 */
export const AGENT_RESULTS_GRACE_SECONDS = 60;
/**
 * The callback task's timeouts of an on-prem vantage's shard, from its budget: no heartbeat within the budget (no
 * agent took the job, or the one that did went silent), or past the budget and the grace in which the agent may
 * still post what it probed (whole seconds, at least 1, as Step Functions takes them).
 */
export function agentTaskWait(budgetMs: number): { agentWaitSeconds: number; agentTimeoutSeconds: number } {
  const agentWaitSeconds = Math.max(1, Math.ceil(budgetMs / 1000));
  return { agentWaitSeconds, agentTimeoutSeconds: agentWaitSeconds + AGENT_RESULTS_GRACE_SECONDS };
}

/**
 * Results per page an agent posts at most (a page is one item of the store: compressed JSON, a few KB per
 * thousand results). A page is also bounded in bytes by the API's body limit: see {@link resultPages}.
 */
export const AGENT_RESULTS_PAGE = 1000;
/**
 * Bytes of results a page may hold under an API body limit: the limit less the page's envelope
 * (`{agent, page, last}`, well under a kilobyte). @default - under the API's default limit
 */
export function pageBytesFor(maxBodyBytes: number = DEFAULT_MAX_BODY_BYTES): number {
  return maxBodyBytes - 1024;
}
/** Bytes of results a page may hold under the API's default body limit. */
export const AGENT_PAGE_BYTES = pageBytesFor();

/**
 * `pending` (waiting for an agent), `taken` (leased to one), `done` (results complete), `failed` (its agent could
 * not run it, saying why), `expired` (too late).
 */
export type AgentJobStatus = 'pending' | 'taken' | 'done' | 'failed' | 'expired';

/** One probe job of an on-prem vantage, as stored. */
export interface AgentJob {
  readonly jobId: string;
  readonly checkId: string;
  readonly vantage: string;
  readonly environmentName: string;
  readonly targets: readonly ProbeTarget[];
  readonly probe: { readonly timeoutMs: number; readonly concurrency: number; readonly retries: number };
  /** The deployment's target policy: the agent checks every address against it again before connecting. */
  readonly policy: { readonly mode: SafetyMode; readonly allowedTargetCidrs: readonly string[] };
  readonly createdAt: string;
  /** ISO time: the run stops waiting then; results after it are refused. */
  readonly deadline: string;
  readonly status: AgentJobStatus;
  /** The agent holding the job (while `taken`, and the one that completed it). */
  readonly agentId?: string;
  /** ISO time the lease ends unless the agent heartbeats. */
  readonly leaseUntil?: string;
  /** Result pages posted so far (complete when `done`). */
  readonly pages?: number;
  /** The Step Functions task token of the callback task waiting for it (AWS). */
  readonly taskToken?: string;
  /** Why its agent could not run it (`failed`). */
  readonly error?: string;
}

/**
 * What a run gives to create a job; the store adds the status and the time, and the id unless one is given (a
 * derived id, {@link agentJobId}, makes the creation idempotent).
 */
export type NewAgentJob = Omit<
  AgentJob,
  'jobId' | 'status' | 'createdAt' | 'agentId' | 'leaseUntil' | 'pages' | 'error'
> & { readonly jobId?: string };

/**
 * The jobs of on-prem vantages in the results store. Every method names the vantage: a job is found only
 * under its own vantage, so an agent of vantage A can neither take, heartbeat, post to nor release B's jobs.
 * Errors: `NotFoundError` (no such job for the vantage), `ConflictError` (the job is not the caller's, or is
 * closed).
 */
export interface AgentJobStore {
  /**
   * Creates the job. With a `jobId` that exists already (a retried callback task, a redelivered invoke) no second
   * job is made: a job still `pending` or `taken` gets the new `taskToken` (an agent holding it keeps it, and its
   * heartbeats and completion then reach the live task); a job already `done` or `expired` is returned as it is.
   */
  create(job: NewAgentJob, now: Date): Promise<AgentJob>;
  get(vantage: string, jobId: string): Promise<AgentJob>;
  /** Leases the oldest available job of the vantage (pending, or taken with an expired lease) to `agentId`. */
  take(vantage: string, agentId: string, now: Date, leaseMs: number): Promise<AgentJob | undefined>;
  heartbeat(vantage: string, jobId: string, agentId: string, now: Date, leaseMs: number): Promise<AgentJob>;
  /** Stores one page of results (pages are numbered from 0; posting a page again replaces it). */
  putResults(
    vantage: string,
    jobId: string,
    agentId: string,
    page: number,
    results: readonly ProbeResult[],
    now: Date,
  ): Promise<void>;
  /** Marks the job `done` with `pages` pages of results. */
  complete(vantage: string, jobId: string, agentId: string, pages: number, now: Date): Promise<AgentJob>;
  /**
   * Closes a job its agent cannot run (`failed`, with the agent's reason): the run stops waiting for it at once
   * (in AWS its callback task fails), where a release would leave it to the next agent.
   */
  fail(vantage: string, jobId: string, agentId: string, reason: string, now: Date): Promise<AgentJob>;
  /** Gives the job back (`pending`) so another agent, or this one restarted, can take it. */
  release(vantage: string, jobId: string, agentId: string): Promise<AgentJob>;
  /** Closes a job still open (`expired`); returns the job as it ends (possibly `done` or `failed` after all). */
  expire(vantage: string, jobId: string): Promise<AgentJob>;
  /** Every result of a `done` job, pages in order. */
  results(vantage: string, jobId: string, pages: number): Promise<ProbeResult[]>;
  /**
   * Resolves when a job of the vantage may have become available (created or released through this same
   * object, i.e. in this process), or after `ms`, whichever is first. Lets a held poll answer at once locally.
   */
  waitForChange?(vantage: string, ms: number, signal?: AbortSignal): Promise<void>;
}

/** A new job id: a ULID, like check ids. */
export const newJobId = (now: Date = new Date()): string => newCheckId(now);

/**
 * The id of a run's agent job for one shard, the same each time it is asked (so that a retried callback task finds
 * the job its first attempt made): the run's time part and 80 bits of a hash of run, vantage and shard, in the
 * ULID shape of every job id.
 */
export function agentJobId(checkId: string, vantage: string, shard: number): string {
  const digest = createHash('sha256').update(`${checkId}|${vantage}|${shard}`).digest();
  return checkId.slice(0, 10) + newCheckId(new Date(0), (n) => digest.subarray(0, n)).slice(10);
}
export const jobIdSchema = checkIdSchema;

/** An agent's id: chosen by the agent at start-up (host name and process id, say). */
export const agentIdSchema = z.string().regex(/^[A-Za-z0-9._:-]{1,100}$/, {
  error: (iss) => `${JSON.stringify(iss.input)} is not an agent id (1-100 letters, digits and . _ : -)`,
});

/**
 * The error with which an on-prem vantage's callback task fails when its agent says it cannot run the job
 * (`SendTaskFailure`; its cause is the agent's reason).
 */
export const AGENT_JOB_FAILED = 'AgentJobFailed';

/** The reason the flows of an on-prem vantage are `skipped` when its agent could not run the job. */
export function agentFailedReason(vantage: string, why: string): string {
  return `the agent for vantage ${vantage} could not run the job: ${why}`;
}

/** The reason the flows of an on-prem vantage are `skipped` when its agent did not deliver in time. */
export function noAgentReason(vantage: string, budgetMs: number): string {
  return `no agent for vantage ${vantage} reported within ${Math.round(budgetMs / 1000)} s`;
}

/** One probe result as an agent posts it (the engine's shape; `service` is passed through as it is). */
export const postedResultSchema = z
  .object({
    host: z.string().min(1).max(253),
    port: z.number().int().min(1).max(65535),
    state: z.enum(PROBE_STATES as [string, ...string[]]),
    latencyMs: z.number().min(0).nullable(),
    code: z.string().max(100).optional(),
    attempts: z.number().int().min(0).max(100).optional(),
    address: z.string().max(100).optional(),
    service: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

export const postResultsBodySchema = z
  .object({
    agent: agentIdSchema,
    page: z.number().int().min(0).max(10_000),
    results: z.array(postedResultSchema).max(AGENT_RESULTS_PAGE),
    /** True on the last page: the job is then complete. */
    last: z.boolean(),
  })
  .strict();

export const agentBodySchema = z.object({ agent: agentIdSchema }).strict();

/**
 * What an agent says when it cannot run a job it holds: why, in a line a person reads in the run's findings (kept
 * printable: it is text from the agent's machine).
 */
export const failJobBodySchema = z
  .object({
    agent: agentIdSchema,
    reason: z
      .string()
      .max(1000)
      .transform((text) => printable(text).trim())
      .refine((text) => text.length > 0, { error: 'say why the job cannot run' }),
  })
  .strict();

/**
 * Splits results into the pages an agent posts: at most `pageSize` results and `maxBytes` bytes of JSON each (a
 * result with a TLS certificate's identity is several times a plain one, so a page of a fixed count can outgrow
 * the API's body limit). A result larger than `maxBytes` on its own is a page of its own. Always one page at
 * least, so that an empty job is completed too.
 */
export function resultPages<T>(results: readonly T[], pageSize: number, maxBytes: number): T[][] {
  const pages: T[][] = [];
  let page: T[] = [];
  let bytes = 2; // []
  for (const result of results) {
    const size = Buffer.byteLength(JSON.stringify(result), 'utf8') + 1; // and its comma
    if (page.length > 0 && (page.length >= pageSize || bytes + size > maxBytes)) {
      pages.push(page);
      page = [];
      bytes = 2;
    }
    page.push(result);
    bytes += size;
  }
  pages.push(page);
  return pages;
}

/** The `host|port` pairs of a job's targets: the only results an agent may post for it. */
export function jobPorts(job: Pick<AgentJob, 'targets'>): Set<string> {
  const out = new Set<string>();
  for (const t of job.targets) for (const port of t.ports) out.add(`${t.host}|${port}`);
  return out;
}

/** How a run's wait for an agent's job ended: its results, its agent's reason for not running it, or nothing. */
export type AgentJobOutcome =
  { readonly results: ProbeResult[] } | { readonly failed: string } | { readonly timedOut: true };

/**
 * Waits until the job is `done` (then its results), `failed` (then its agent's reason) or the deadline passes
 * (then expires it, unless it closed at the last moment). A job an agent holds (its lease still running) at the
 * deadline is waited for {@link AGENT_RESULTS_GRACE_SECONDS} more, as the API takes its pages that long (and in
 * AWS its callback task waits). Polls the store every `pollMs`.
 */
export async function awaitAgentJob(
  store: AgentJobStore,
  job: Pick<AgentJob, 'vantage' | 'jobId'>,
  deadline: number,
  options: { signal?: AbortSignal; pollMs?: number } = {},
): Promise<AgentJobOutcome> {
  const pollMs = options.pollMs ?? 200;
  const ended = async (current: AgentJob): Promise<AgentJobOutcome | undefined> => {
    if (current.status === 'done')
      return { results: await store.results(job.vantage, job.jobId, current.pages ?? 0) };
    if (current.status === 'failed') return { failed: current.error ?? 'no reason given' };
    return undefined;
  };
  for (;;) {
    const current = await store.get(job.vantage, job.jobId);
    const outcome = await ended(current);
    if (outcome) return outcome;
    const held = current.status === 'taken' && Date.parse(current.leaseUntil ?? '') > Date.now();
    const until = held ? deadline + AGENT_RESULTS_GRACE_SECONDS * 1000 : deadline;
    if (Date.now() >= until || options.signal?.aborted) break;
    // The signal outlives the wait (it is the run's): each pause removes its listener when it ends.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, Math.min(pollMs, Math.max(1, until - Date.now())));
      function done() {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', done);
        resolve();
      }
      options.signal?.addEventListener('abort', done, { once: true });
    });
  }
  return (await ended(await store.expire(job.vantage, job.jobId))) ?? { timedOut: true };
}
