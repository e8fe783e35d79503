/**
 * Probe jobs of on-premises vantages: what a run asks of `preflight agent`, how an agent takes one (a lease it
 * keeps with heartbeats), posts its results in pages and completes or releases it, and how a run waits for it.
 * The store interface is implemented over the results table by `lambdas/aws/dynamo-agent-jobs.ts`.
 */
import { z } from 'zod';
import type { ProbeResult, ProbeTarget } from '../probe';
import { PROBE_STATES } from '../probe';
import { checkIdSchema, newCheckId } from '../store';
import type { SafetyMode } from '../target-policy';

/** How long a taken job stays with its agent without a heartbeat. */
export const AGENT_LEASE_MS = 30_000;
/** The longest an agent's poll for a job is held open by the API (API Gateway's limit is 29 s). */
export const AGENT_MAX_WAIT_SECONDS = 20;
/**
 * Results per page an agent posts at most (a page is one item of the store: compressed JSON, a few KB per
 * thousand results). A page is also bounded in bytes by the API's body limit: see {@link resultPages}.
 */
export const AGENT_RESULTS_PAGE = 1000;
/** Bytes a results page's body may have when the API does not say (its default body limit, less the envelope). */
export const AGENT_PAGE_BYTES = 256 * 1024 - 1024;

/** `pending` (waiting for an agent), `taken` (leased to one), `done` (results complete), `expired` (too late). */
export type AgentJobStatus = 'pending' | 'taken' | 'done' | 'expired';

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
}

/** What a run gives to create a job; the store adds the id, the status and the time. */
export type NewAgentJob = Omit<
  AgentJob,
  'jobId' | 'status' | 'createdAt' | 'agentId' | 'leaseUntil' | 'pages'
>;

/**
 * The jobs of on-prem vantages in the results store. Every method names the vantage: a job is found only
 * under its own vantage, so an agent of vantage A can neither take, heartbeat, post to nor release B's jobs.
 * Errors: `NotFoundError` (no such job for the vantage), `ConflictError` (the job is not the caller's, or is
 * closed).
 */
export interface AgentJobStore {
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
  /** Gives the job back (`pending`) so another agent, or this one restarted, can take it. */
  release(vantage: string, jobId: string, agentId: string): Promise<AgentJob>;
  /** Closes a job that is not done (`expired`); returns the job as it ends (possibly `done` after all). */
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
export const jobIdSchema = checkIdSchema;

/** An agent's id: chosen by the agent at start-up (host name and process id, say). */
export const agentIdSchema = z.string().regex(/^[A-Za-z0-9._:-]{1,100}$/, {
  error: (iss) => `${JSON.stringify(iss.input)} is not an agent id (1-100 letters, digits and . _ : -)`,
});

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

/**
 * Waits until the job is `done` (then its results) or the deadline passes (then expires it and returns
 * undefined, unless it completed at the last moment). Polls the store every `pollMs`.
 */
export async function awaitAgentJob(
  store: AgentJobStore,
  job: Pick<AgentJob, 'vantage' | 'jobId'>,
  deadline: number,
  options: { signal?: AbortSignal; pollMs?: number } = {},
): Promise<ProbeResult[] | undefined> {
  const pollMs = options.pollMs ?? 200;
  for (;;) {
    const current = await store.get(job.vantage, job.jobId);
    if (current.status === 'done') return store.results(job.vantage, job.jobId, current.pages ?? 0);
    if (Date.now() >= deadline || options.signal?.aborted) break;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.min(pollMs, Math.max(1, deadline - Date.now())));
      options.signal?.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });
  }
  const closed = await store.expire(job.vantage, job.jobId);
  return closed.status === 'done' ? store.results(job.vantage, job.jobId, closed.pages ?? 0) : undefined;
}
