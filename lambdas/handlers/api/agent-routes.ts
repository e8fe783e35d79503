/**
 * The routes `preflight agent` calls, all under `/agents/{vantage}/`: the long poll for a job, heartbeats,
 * results in pages and the release. In AWS each on-prem vantage's machine role may invoke only
 * `/agents/{its vantage}/*`; here, a job is found only under its own vantage, so a call for another
 * vantage's job is a 404 whatever the caller.
 */
import { z } from 'zod';
import {
  AGENT_LEASE_MS,
  AGENT_MAX_WAIT_SECONDS,
  AGENT_RESULTS_GRACE_SECONDS,
  AGENT_RESULTS_PAGE,
  type AgentJob,
  agentBodySchema,
  agentIdSchema,
  type AgentJobStore,
  failJobBodySchema,
  jobIdSchema,
  jobPorts,
  pageBytesFor,
  postResultsBodySchema,
} from '../../core/agent/jobs';
import { environmentNameSchema, NotFoundError } from '../../core/store';
import type { ProbeResult } from '../../core/probe';
import { ProblemError, validationProblem } from './problem';

/** What the API needs to serve agents. */
export interface AgentApiDeps {
  readonly jobs: AgentJobStore;
  /** @default {@link AGENT_LEASE_MS} */
  readonly leaseMs?: number;
  /** How often a held poll looks for a job. @default 250 */
  readonly pollMs?: number;
  /** @default - the system clock */
  readonly now?: () => Date;
  /** Called when a job completes (AWS: `SendTaskSuccess` with the job's task token). */
  readonly onComplete?: (job: AgentJob) => Promise<void>;
  /** Called on each heartbeat, and when an agent takes the job (AWS: `SendTaskHeartbeat`). */
  readonly onHeartbeat?: (job: AgentJob) => Promise<void>;
  /** Called when the agent says it cannot run the job (AWS: `SendTaskFailure` with its reason). */
  readonly onFail?: (job: AgentJob) => Promise<void>;
  /** Aborted when the service stops: held polls answer 204 at once, so that the server can close. */
  readonly stopping?: AbortSignal;
}

/** The part of a request an agent route reads (the router's context has it). */
export interface AgentRouteContext {
  readonly req: {
    readonly query: Readonly<Record<string, string | undefined>>;
    readonly body: string | undefined;
  };
  readonly params: Readonly<Record<string, string>>;
  readonly deps: { readonly agents?: AgentApiDeps };
  /** The router's limits: a results page must fit its body limit. */
  readonly limits?: { readonly maxBodyBytes: number };
}

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

const json = (status: number, body: unknown): Reply => ({
  status,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

function agentsOf(ctx: AgentRouteContext): AgentApiDeps {
  if (!ctx.deps.agents) {
    throw new ProblemError(
      404,
      'no-route',
      'this service takes no agents (no on-prem vantages are configured)',
    );
  }
  return ctx.deps.agents;
}

function parse<T extends z.ZodType>(
  schema: T,
  input: unknown,
  detail: string,
  prefix: PropertyKey[],
): z.output<T> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw validationProblem(detail, parsed.error.issues, input, prefix);
  return parsed.data;
}

function pathOf(ctx: AgentRouteContext): { vantage: string; jobId?: string } {
  const vantage = parse(
    environmentNameSchema,
    ctx.params.vantage,
    'the path parameter vantage is not valid',
    ['path', 'vantage'],
  );
  if (ctx.params.jobId === undefined) return { vantage };
  const jobId = parse(jobIdSchema, ctx.params.jobId, 'the path parameter jobId is not valid', [
    'path',
    'jobId',
  ]);
  return { vantage, jobId };
}

function bodyOf(ctx: AgentRouteContext): unknown {
  if (ctx.req.body === undefined || ctx.req.body === '') {
    throw new ProblemError(400, 'validation-error', 'a JSON body is required', [
      { path: 'body', message: 'missing' },
    ]);
  }
  try {
    return JSON.parse(ctx.req.body) as unknown;
  } catch {
    throw new ProblemError(400, 'validation-error', 'the body is not JSON', [
      { path: 'body', message: 'not valid JSON' },
    ]);
  }
}

/** A job not found under this vantage: the same answer whether it does not exist or is another vantage's. */
async function jobFor(agents: AgentApiDeps, vantage: string, jobId: string): Promise<AgentJob> {
  try {
    return await agents.jobs.get(vantage, jobId);
  } catch (err) {
    if (err instanceof NotFoundError) {
      throw new ProblemError(404, 'not-found', `no job ${jobId} for vantage ${vantage}`, [
        { path: 'path.jobId', message: `${jobId}: no such job of vantage ${vantage}` },
      ]);
    }
    throw err;
  }
}

/**
 * What an agent receives: the job without the store's bookkeeping, and how to keep it: a heartbeat every third of
 * its lease, or of the job's own budget when that is shorter (in AWS the callback task's HeartbeatSeconds is the
 * budget: a 6 s budget needs a heartbeat every 2 s, not every 10), at least one a second.
 */
function offer(job: AgentJob, leaseMs: number, maxBodyBytes: number | undefined) {
  const { taskToken: _token, ...rest } = job;
  const budgetMs = Date.parse(job.deadline) - Date.parse(job.createdAt);
  return {
    job: rest,
    leaseMs,
    heartbeatMs: Math.max(1000, Math.floor(Math.min(leaseMs, budgetMs > 0 ? budgetMs : leaseMs) / 3)),
    pageSize: AGENT_RESULTS_PAGE,
    maxPageBytes: pageBytesFor(maxBodyBytes),
  };
}

export const pollQuerySchema = z
  .object({
    agent: agentIdSchema,
    wait: z
      .string()
      .regex(/^\d{1,2}$/, { error: (iss) => `${JSON.stringify(iss.input)} is not a number of seconds` })
      .transform(Number)
      .refine((n) => n <= AGENT_MAX_WAIT_SECONDS, { error: `at most ${AGENT_MAX_WAIT_SECONDS} seconds` })
      .optional(),
  })
  .strict();

/** `GET /agents/{vantage}/jobs?agent=ID&wait=S`: a job (200) within `wait` seconds, else 204. */
export async function pollAgentJob(ctx: AgentRouteContext): Promise<Reply> {
  const agents = agentsOf(ctx);
  const { vantage } = pathOf(ctx);
  const query = parse(pollQuerySchema, { ...ctx.req.query }, 'the query string is not valid', ['query']);
  const now = agents.now ?? (() => new Date());
  const leaseMs = agents.leaseMs ?? AGENT_LEASE_MS;
  const until = Date.now() + (query.wait ?? AGENT_MAX_WAIT_SECONDS) * 1000;
  for (;;) {
    const job = await agents.jobs.take(vantage, query.agent, now(), leaseMs);
    if (job) {
      // An agent took it: the task's heartbeat clock now measures this agent's silence.
      await agents.onHeartbeat?.(job);
      return json(200, offer(job, leaseMs, ctx.limits?.maxBodyBytes));
    }
    const left = until - Date.now();
    if (left <= 0 || agents.stopping?.aborted) return { status: 204, headers: {}, body: '' };
    const pause = Math.min(agents.pollMs ?? 250, left);
    if (agents.jobs.waitForChange) {
      // Woken as soon as a job of this vantage is created or released in this process (the local service).
      await agents.jobs.waitForChange(vantage, pause, agents.stopping);
      continue;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, pause);
      function done() {
        clearTimeout(timer);
        agents.stopping?.removeEventListener('abort', done);
        resolve();
      }
      agents.stopping?.addEventListener('abort', done, { once: true });
    });
  }
}

/** `POST /agents/{vantage}/jobs/{jobId}/heartbeat` `{agent}`: extends the lease; 409 when it is lost. */
export async function heartbeatAgentJob(ctx: AgentRouteContext): Promise<Reply> {
  const agents = agentsOf(ctx);
  const { vantage, jobId } = pathOf(ctx) as { vantage: string; jobId: string };
  const { agent } = parse(agentBodySchema, bodyOf(ctx), 'the body is not valid', ['body']);
  await jobFor(agents, vantage, jobId);
  const now = (agents.now ?? (() => new Date()))();
  const job = await agents.jobs.heartbeat(vantage, jobId, agent, now, agents.leaseMs ?? AGENT_LEASE_MS);
  await agents.onHeartbeat?.(job);
  return json(200, { jobId, status: job.status, leaseUntil: job.leaseUntil, deadline: job.deadline });
}

/**
 * `POST /agents/{vantage}/jobs/{jobId}/results` `{agent, page, results, last}`: one page of results; the last
 * page completes the job. Every result must be a port of the job's targets (422 naming it otherwise).
 */
export async function postAgentResults(ctx: AgentRouteContext): Promise<Reply> {
  const agents = agentsOf(ctx);
  const { vantage, jobId } = pathOf(ctx) as { vantage: string; jobId: string };
  const body = parse(postResultsBodySchema, bodyOf(ctx), 'the body is not valid', ['body']);
  const job = await jobFor(agents, vantage, jobId);
  const allowed = jobPorts(job);
  const foreign = body.results.findIndex((r) => !allowed.has(`${r.host}|${r.port}`));
  if (foreign >= 0) {
    const r = body.results[foreign]!;
    throw new ProblemError(422, 'not-a-target', `results must be ports of the job's targets`, [
      { path: `body.results[${foreign}]`, message: `${r.host}:${r.port} is not a target of job ${jobId}` },
    ]);
  }
  const now = (agents.now ?? (() => new Date()))();
  // The engine stops at the deadline and the pages go out after it: they are taken for a grace period more.
  const lastCall = Date.parse(job.deadline) + AGENT_RESULTS_GRACE_SECONDS * 1000;
  if (now.getTime() > lastCall && job.status !== 'done') {
    throw new ProblemError(
      409,
      'conflict',
      `job ${jobId} is past its deadline (${job.deadline}) and the ${AGENT_RESULTS_GRACE_SECONDS} s after it for results: the run stopped waiting`,
    );
  }
  await agents.jobs.putResults(vantage, jobId, body.agent, body.page, body.results as ProbeResult[], now);
  if (!body.last) return json(200, { jobId, page: body.page, status: 'taken' });
  const done = await agents.jobs.complete(vantage, jobId, body.agent, body.page + 1, now);
  await agents.onComplete?.(done);
  return json(200, { jobId, page: body.page, status: done.status });
}

/** `POST /agents/{vantage}/jobs/{jobId}/release` `{agent}`: the job goes back to pending (an agent stopping). */
export async function releaseAgentJob(ctx: AgentRouteContext): Promise<Reply> {
  const agents = agentsOf(ctx);
  const { vantage, jobId } = pathOf(ctx) as { vantage: string; jobId: string };
  const { agent } = parse(agentBodySchema, bodyOf(ctx), 'the body is not valid', ['body']);
  await jobFor(agents, vantage, jobId);
  const job = await agents.jobs.release(vantage, jobId, agent);
  return json(200, { jobId, status: job.status });
}

/**
 * `POST /agents/{vantage}/jobs/{jobId}/fail` `{agent, reason}`: the agent holding the job cannot run it (its probe
 * engine failed, every target is outside what it may probe…): the job is closed `failed` and the run stops waiting
 * for it at once, the vantage's flows `skipped` with the reason. (A stopping agent releases instead: the job may
 * still be run by another.)
 */
export async function failAgentJob(ctx: AgentRouteContext): Promise<Reply> {
  const agents = agentsOf(ctx);
  const { vantage, jobId } = pathOf(ctx) as { vantage: string; jobId: string };
  const { agent, reason } = parse(failJobBodySchema, bodyOf(ctx), 'the body is not valid', ['body']);
  await jobFor(agents, vantage, jobId);
  const now = (agents.now ?? (() => new Date()))();
  const job = await agents.jobs.fail(vantage, jobId, agent, reason, now);
  await agents.onFail?.(job);
  return json(200, { jobId, status: job.status });
}

/** The agent routes, for the router's table. */
export const AGENT_ROUTES = [
  { path: '/agents/{vantage}/jobs', methods: { GET: pollAgentJob } },
  { path: '/agents/{vantage}/jobs/{jobId}/heartbeat', methods: { POST: heartbeatAgentJob } },
  { path: '/agents/{vantage}/jobs/{jobId}/results', methods: { POST: postAgentResults } },
  { path: '/agents/{vantage}/jobs/{jobId}/release', methods: { POST: releaseAgentJob } },
  { path: '/agents/{vantage}/jobs/{jobId}/fail', methods: { POST: failAgentJob } },
] as const;
