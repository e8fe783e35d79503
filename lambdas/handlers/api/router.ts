/**
 * The HTTP API as one framework-free function, {@link handleRequest}: a plain request in, a plain response out.
 * The local server (`lambdas/local/server.ts`) calls it now; an API Gateway handler will call it later. Every
 * input is validated with zod before anything is stored or started, and every error is problem+json naming the
 * bad fields; a bad input never yields a 500.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Catalog } from '../../core/catalog';
import {
  EnvironmentError,
  type Environment,
  environmentSchema,
  parseEnvironment,
} from '../../core/environment';
import { countProbePairs, plan } from '../../core/plan';
import { formatPortList } from '../../core/ports';
import { buildReport, renderReport } from '../../core/report';
import { MAX_FLOWS_PER_RUN, MAX_PROBE_PAIRS_PER_RUN } from '../../core/run/shards';
import { checkEnvironmentSafety, type Resolver, type SafetyMode, systemResolver } from '../../core/safety';
import {
  type CheckRun,
  ConflictError,
  type FindingRecord,
  CursorError,
  isClosed,
  NotFoundError,
  PAGE_LIMIT_MAX,
  type ResultStore,
  StoreError,
  StoreValidationError,
} from '../../core/store';
import {
  type ApiRequest,
  type ApiResponse,
  type CheckStarter,
  DEFAULT_MAX_BODY_BYTES,
  EnvironmentScheduleError,
  type EnvironmentSchedules,
  type IdempotencyCache,
  MemoryIdempotencyCache,
} from '../../core/service';
import { AGENT_ROUTES, type AgentApiDeps } from './agent-routes';
import { readiness, runReadiness } from '../../core/finding/readiness';
import { VERDICT_TABLE } from '../../core/finding/verdicts';
import { buildOpenApi } from './openapi';
import { type FieldError, ProblemError, splitProblem, validationProblem } from './problem';
import {
  listChecksQuerySchema,
  PAGE_LIMIT_DEFAULT,
  pageQuerySchema,
  pathParamSchemas,
  reportQuerySchema,
  startCheckBodySchema,
} from './schemas';

// ---------------------------------------------------------------------------------------------------------------
// Contracts (the service's own, shared with the adapters, are in lambdas/core/service.ts)

/** Limits on what one request may ask for. */
export interface ApiLimits {
  /** Bytes of a request body; more is a 413. @default 262144 (256 KiB) */
  readonly maxBodyBytes: number;
  /** Flows in the plan of one run; more is a 422. @default MAX_FLOWS_PER_RUN (20,000) */
  readonly maxFlowsPerRun: number;
  /**
   * host:port pairs one run probes (summed over its vantages); more is a 422. A 1,000-host PrimaryIO HDM wave is
   * about 65,000. @default MAX_PROBE_PAIRS_PER_RUN (200,000)
   */
  readonly maxProbePairsPerRun: number;
  /** Items of one page. @default 100 (the store's maximum) */
  readonly maxPageSize: number;
}

export const DEFAULT_LIMITS: ApiLimits = {
  maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
  maxFlowsPerRun: MAX_FLOWS_PER_RUN,
  maxProbePairsPerRun: MAX_PROBE_PAIRS_PER_RUN,
  maxPageSize: PAGE_LIMIT_MAX,
};

export interface ApiDeps {
  readonly store: ResultStore;
  readonly catalog: Catalog;
  readonly starter: CheckStarter;
  readonly mode: SafetyMode;
  readonly allowedTargetCidrs: readonly string[];
  /** @default {@link DEFAULT_LIMITS} */
  readonly limits?: Partial<ApiLimits>;
  /** @default - the system resolver */
  readonly resolve?: Resolver;
  /** @default - one cache per deps object, in memory */
  readonly idempotency?: IdempotencyCache;
  /** @default - none: schedules are left to whoever reads the stored environments */
  readonly schedules?: EnvironmentSchedules;
  /** The agent routes' jobs and settings. @default - none: the agent routes answer 404 */
  readonly agents?: AgentApiDeps;
}

// ---------------------------------------------------------------------------------------------------------------
// Responses

const JSON_TYPE = 'application/json';

function json(status: number, body: unknown, headers: Record<string, string> = {}): ApiResponse {
  return { status, headers: { 'content-type': JSON_TYPE, ...headers }, body: JSON.stringify(body) };
}

function problemResponse(p: ProblemError): ApiResponse {
  return {
    status: p.status,
    headers: { 'content-type': 'application/problem+json', ...p.headers },
    body: JSON.stringify(p.toBody()),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Input helpers

interface Context {
  readonly req: ApiRequest;
  readonly deps: ApiDeps;
  readonly limits: ApiLimits;
  readonly params: Readonly<Record<string, string>>;
  readonly headers: Readonly<Record<string, string>>;
}

function parseWith<T extends z.ZodType>(
  schema: T,
  input: unknown,
  detail: string,
  prefix: PropertyKey[] = [],
): z.output<T> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw validationProblem(detail, parsed.error.issues, input, prefix);
  return parsed.data;
}

function param(ctx: Context, name: keyof typeof pathParamSchemas): string {
  return parseWith(pathParamSchemas[name], ctx.params[name], `the path parameter ${name} is not valid`, [
    'path',
    name,
  ]) as string;
}

function queryOf(ctx: Context): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(ctx.req.query)) if (v !== undefined) out[k] = v;
  return out;
}

function pageOptions(ctx: Context) {
  const q = parseWith(pageQuerySchema, queryOf(ctx), 'the query string is not valid', ['query']);
  return { limit: checkLimit(ctx, q.limit), ...(q.cursor !== undefined ? { cursor: q.cursor } : {}) };
}

function checkLimit(ctx: Context, limit: number | undefined): number {
  const max = Math.min(ctx.limits.maxPageSize, PAGE_LIMIT_MAX);
  if (limit === undefined) return Math.min(PAGE_LIMIT_DEFAULT, max);
  if (limit < 1 || limit > max) {
    throw new ProblemError(400, 'validation-error', 'the query string is not valid', [
      { path: 'query.limit', message: `a page holds 1 to ${max} items (got ${limit})` },
    ]);
  }
  return limit;
}

/** The deepest a request body may nest arrays and objects (an environment needs 5). */
export const MAX_JSON_DEPTH = 64;

/**
 * How deep `text` nests arrays and objects, read without parsing (so that a body nesting 50,000 levels never
 * reaches a recursive parser, serializer or validator). Brackets inside strings do not count.
 */
export function nestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) max = Math.max(max, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

function readJsonBody(ctx: Context): unknown {
  const body = ctx.req.body;
  if (body === undefined || body === '') {
    throw new ProblemError(400, 'missing-body', 'this request needs a JSON body');
  }
  // Required, not assumed: a body without a type is what a cross-site form, beacon or no-cors fetch sends.
  const type = ctx.headers['content-type'];
  if (type === undefined || !/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(type)) {
    throw new ProblemError(
      415,
      'unsupported-media-type',
      `the body must be sent as Content-Type: application/json (got ${type === undefined ? 'no Content-Type' : JSON.stringify(type)})`,
    );
  }
  const depth = nestingDepth(body);
  if (depth > MAX_JSON_DEPTH) {
    throw new ProblemError(
      400,
      'malformed-json',
      `the body nests ${depth} levels deep; a request nests at most ${MAX_JSON_DEPTH}`,
    );
  }
  try {
    return JSON.parse(body) as unknown;
  } catch (err) {
    throw new ProblemError(400, 'malformed-json', `the body is not valid JSON: ${(err as Error).message}`);
  }
}

/** Validates an environment against the schema and the catalog; fields are named under `prefix`. */
function validateEnvironment(raw: unknown, catalog: Catalog, prefix: PropertyKey[]): Environment {
  const parsed = environmentSchema.safeParse(raw);
  if (!parsed.success)
    throw validationProblem('the environment is not valid', parsed.error.issues, raw, prefix);
  try {
    // parseEnvironment parses again, from the raw input: the parsed one has its port lists already read.
    return parseEnvironment(raw, catalog);
  } catch (err) {
    if (err instanceof EnvironmentError) {
      throw new ProblemError(
        400,
        'validation-error',
        'the environment is not valid',
        err.problems.map((p) => splitProblem(p, prefix)),
      );
    }
    throw err;
  }
}

/** The safety rules and the flow limit; a refusal is a 422 naming each field. */
async function vetEnvironment(ctx: Context, env: Environment, prefix: PropertyKey[]): Promise<void> {
  const planned = plan(env, ctx.deps.catalog);
  const flows = planned.flows.length;
  const errors: FieldError[] = [];
  const where = prefix.length > 0 ? String(prefix[0]) : '(top level)';
  if (flows > ctx.limits.maxFlowsPerRun) {
    errors.push({
      path: where,
      message: `the environment plans ${flows} flows; one run checks at most ${ctx.limits.maxFlowsPerRun}: split it`,
    });
  }
  const pairs = countProbePairs(planned);
  if (pairs > ctx.limits.maxProbePairsPerRun) {
    errors.push({
      path: where,
      message: `the environment would probe ${pairs} host:port pairs; one run probes at most ${ctx.limits.maxProbePairsPerRun}: split it into waves`,
    });
  }
  const problems = await checkEnvironmentSafety(
    env,
    ctx.deps.catalog,
    { mode: ctx.deps.mode, allowedTargetCidrs: ctx.deps.allowedTargetCidrs },
    ctx.deps.resolve ?? systemResolver,
  );
  for (const p of problems) errors.push(splitProblem(`${p.path}: ${p.message}`, prefix));
  if (errors.length > 0) {
    throw new ProblemError(
      422,
      'unsafe-target',
      'the environment asks for targets this service will not probe',
      errors,
    );
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Handlers

async function listProfiles(ctx: Context): Promise<ApiResponse> {
  if (Object.keys(queryOf(ctx)).length > 0)
    parseWith(z.object({}).strict(), queryOf(ctx), 'the query string is not valid', ['query']);
  const items = ctx.deps.catalog.profiles.map((p) => ({
    id: p.id,
    name: p.name,
    vendor: p.vendor,
    description: p.description,
    requirementCount: p.requirements.length,
  }));
  return json(200, { items });
}

async function getProfile(ctx: Context): Promise<ApiResponse> {
  const id = param(ctx, 'profileId');
  const p = ctx.deps.catalog.profile(id);
  if (!p) {
    const known = ctx.deps.catalog.profiles.map((x) => x.id).join(', ');
    throw new ProblemError(404, 'not-found', `no profile ${JSON.stringify(id)} (known: ${known})`);
  }
  return json(200, {
    id: p.id,
    name: p.name,
    vendor: p.vendor,
    description: p.description,
    requirementCount: p.requirements.length,
    requirements: p.requirements.map((r) => ({
      id: r.id,
      from: r.from,
      to: r.to,
      protocol: r.protocol,
      ports: formatPortList(r.ports),
      purpose: r.purpose,
      optional: r.optional,
      source: r.source,
    })),
  });
}

async function putEnvironment(ctx: Context): Promise<ApiResponse> {
  const name = param(ctx, 'name');
  const raw = readJsonBody(ctx);
  if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
    const bodyName = (raw as Record<string, unknown>).name;
    if (bodyName !== undefined && bodyName !== name) {
      throw new ProblemError(400, 'validation-error', 'the environment is not valid', [
        {
          path: 'name',
          message: `${JSON.stringify(bodyName)} differs from the name in the path (${JSON.stringify(name)})`,
        },
      ]);
    }
  }
  const withName = raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? { ...raw, name } : raw;
  const env = validateEnvironment(withName, ctx.deps.catalog, []);
  await vetEnvironment(ctx, env, []);
  const schedules = ctx.deps.schedules;
  const previous = schedules ? await storedEnvironment(ctx, name) : undefined;
  const record = await ctx.deps.store.putEnvironment(env);
  if (schedules) {
    await withScheduleOrUndo(
      () => schedules.put(env),
      previous ? `environment ${name} was left as it was` : `environment ${name} was not stored`,
      () => (previous ? ctx.deps.store.putEnvironment(previous) : ctx.deps.store.deleteEnvironment(name)),
    );
  }
  return json(200, record);
}

/** The stored definition of an environment, or undefined when there is none. */
async function storedEnvironment(ctx: Context, name: string): Promise<Environment | undefined> {
  try {
    return (await ctx.deps.store.getEnvironment(name)).environment;
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

/**
 * Runs a schedule change that follows a change of the stored environment; when it fails, puts the environment
 * back with `undo` and answers with a problem saying what happened to each (never a half-written environment
 * silently: an environment stored without its schedule would never be checked, one deleted with its schedule
 * left would start failing runs).
 */
async function withScheduleOrUndo(
  change: () => Promise<void>,
  undone: string,
  undo: () => Promise<unknown>,
): Promise<void> {
  try {
    await change();
  } catch (err) {
    let outcome = undone;
    try {
      await undo();
    } catch (undoErr) {
      outcome = `the environment could not be put back as it was either (${(undoErr as Error).message}): PUT or DELETE it again`;
    }
    if (!(err instanceof EnvironmentScheduleError)) throw err;
    if (err.rejected) {
      throw new ProblemError(422, 'schedule-rejected', `the schedule was refused; ${outcome}`, [
        { path: 'schedule', message: err.message },
      ]);
    }
    throw new ProblemError(502, 'schedule-failed', `${err.message}; ${outcome}; try again`);
  }
}

async function getEnvironment(ctx: Context): Promise<ApiResponse> {
  return json(200, await ctx.deps.store.getEnvironment(param(ctx, 'name')));
}

async function deleteEnvironment(ctx: Context): Promise<ApiResponse> {
  const name = param(ctx, 'name');
  const schedules = ctx.deps.schedules;
  const previous = schedules ? await storedEnvironment(ctx, name) : undefined;
  await ctx.deps.store.deleteEnvironment(name);
  if (schedules && previous) {
    await withScheduleOrUndo(
      () => schedules.remove(name),
      `environment ${name} was not deleted`,
      () => ctx.deps.store.putEnvironment(previous),
    );
  }
  return { status: 204, headers: {}, body: '' };
}

async function listEnvironments(ctx: Context): Promise<ApiResponse> {
  return json(200, await ctx.deps.store.listEnvironments(pageOptions(ctx)));
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,200}$/;

async function startCheck(ctx: Context): Promise<ApiResponse> {
  const raw = readJsonBody(ctx);
  const body = parseWith(startCheckBodySchema, raw, 'the request body is not valid');
  const key = ctx.headers['idempotency-key'];
  if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
    throw new ProblemError(400, 'validation-error', 'the Idempotency-Key header is not valid', [
      { path: 'headers.idempotency-key', message: 'use 1 to 200 visible ASCII characters (a UUID, say)' },
    ]);
  }
  const fingerprint = createHash('sha256').update(JSON.stringify(raw)).digest('hex');

  const create = async (): Promise<CheckRun> => {
    let env: Environment;
    if (body.environmentName !== undefined) {
      try {
        env = (await ctx.deps.store.getEnvironment(body.environmentName)).environment;
      } catch (err) {
        if (err instanceof NotFoundError) {
          throw new ProblemError(
            404,
            'not-found',
            `no environment named ${JSON.stringify(body.environmentName)}`,
            [
              {
                path: 'environmentName',
                message: `${JSON.stringify(body.environmentName)}: no such environment (PUT /environments/{name} first)`,
              },
            ],
          );
        }
        throw err;
      }
      // A stored environment passed the rules when it was put, but names can resolve elsewhere by now.
      await vetEnvironment(ctx, env, []);
    } else {
      env = validateEnvironment(body.environment, ctx.deps.catalog, ['environment']);
      await vetEnvironment(ctx, env, ['environment']);
    }
    return ctx.deps.starter.start({ environment: env, trigger: 'api' });
  };

  let run: CheckRun;
  if (key === undefined) {
    run = await create();
  } else {
    const cache = ctx.deps.idempotency ?? defaultCache(ctx.deps);
    let started: CheckRun | undefined;
    const { entry } = await cache.getOrCreate(key, async () => {
      started = await create();
      return { checkId: started.checkId, fingerprint };
    });
    if (entry.fingerprint !== fingerprint) {
      throw new ProblemError(
        409,
        'idempotency-key-reused',
        'this Idempotency-Key was used for a different request; use a new key for a new check',
      );
    }
    run = started ?? (await ctx.deps.store.getRun(entry.checkId));
  }
  const location = `/checks/${run.checkId}`;
  return json(202, { checkId: run.checkId, status: run.status }, { location });
}

const caches = new WeakMap<ApiDeps, IdempotencyCache>();
function defaultCache(deps: ApiDeps): IdempotencyCache {
  let cache = caches.get(deps);
  if (!cache) {
    cache = new MemoryIdempotencyCache();
    caches.set(deps, cache);
  }
  return cache;
}

/** Every finding of a run, following the store's pages. */
async function allFindings(ctx: Context, checkId: string): Promise<FindingRecord[]> {
  const findings: FindingRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await ctx.deps.store.listFindings(checkId, {
      limit: PAGE_LIMIT_MAX,
      ...(cursor !== undefined ? { cursor } : {}),
    });
    findings.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return findings;
}

async function getCheck(ctx: Context): Promise<ApiResponse> {
  const checkId = param(ctx, 'checkId');
  const page = pageOptions(ctx);
  const run = await ctx.deps.store.getRun(checkId);
  const findings = await ctx.deps.store.listFindings(checkId, page);
  // A closed run's readiness from every finding (with the flows to verify listed), on its first page; an open
  // run's, and later pages', from its counts (the same function, without reading every finding again).
  const ready =
    isClosed(run.status) && page.cursor === undefined
      ? readiness(run, await allFindings(ctx, checkId))
      : runReadiness(run);
  return json(200, {
    ...run,
    readiness: ready,
    findings: findings.items,
    ...(findings.nextCursor !== undefined ? { nextCursor: findings.nextCursor } : {}),
  });
}

/**
 * The policy of an HTML report served by the API: it is a self-contained document with no script, so nothing
 * may run or load; its own stylesheets (by their hashes) are the only thing it applies.
 */
function reportCsp(html: string): string {
  const styles = [...html.matchAll(/<style>([\s\S]*?)<\/style>/g)].map(
    (m) =>
      `'sha256-${createHash('sha256')
        .update(m[1] ?? '')
        .digest('base64')}'`,
  );
  return [
    "default-src 'none'",
    `style-src ${styles.length > 0 ? styles.join(' ') : "'none'"}`,
    "img-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/**
 * A run's readiness report in one format: every page of its findings, grouped by the profiles of the stored
 * environment when it still exists (else by every profile of each requirement).
 */
async function getReport(ctx: Context): Promise<ApiResponse> {
  const checkId = param(ctx, 'checkId');
  const { format } = parseWith(reportQuerySchema, queryOf(ctx), 'the query string is not valid', ['query']);
  let run: CheckRun;
  try {
    run = await ctx.deps.store.getRun(checkId);
  } catch (err) {
    if (err instanceof NotFoundError) {
      throw new ProblemError(404, 'not-found', `no check run ${checkId}`, [
        {
          path: 'path.checkId',
          message: `${checkId}: no such run (GET /checks?environment=NAME lists them)`,
        },
      ]);
    }
    throw err;
  }
  const findings = await allFindings(ctx, checkId);
  // The run records its environment's profiles (inline environments too); older runs: the stored environment's.
  let profiles: readonly string[] | undefined = run.profiles;
  if (profiles === undefined) {
    try {
      profiles = (await ctx.deps.store.getEnvironment(run.environmentName)).environment.profiles;
    } catch (err) {
      // A deleted environment: the report groups by every profile of each requirement.
      if (!(err instanceof NotFoundError)) throw err;
    }
  }
  const report = buildReport(run, findings, ctx.deps.catalog, profiles ? { profiles } : {});
  const rendered = renderReport(report, format);
  return {
    status: 200,
    headers: {
      'content-type': rendered.contentType,
      'x-content-type-options': 'nosniff',
      ...(rendered.extension === 'html' ? { 'content-security-policy': reportCsp(rendered.body) } : {}),
      'content-disposition': `inline; filename="preflight-${run.environmentName}-${run.checkId}.${rendered.extension}"`,
      'x-preflight-readiness': report.readiness.decision,
    },
    body: rendered.body,
  };
}

async function listChecks(ctx: Context): Promise<ApiResponse> {
  const q = parseWith(listChecksQuerySchema, queryOf(ctx), 'the query string is not valid', ['query']);
  if (q.since !== undefined && q.until !== undefined && q.since > q.until) {
    throw new ProblemError(400, 'validation-error', 'the query string is not valid', [
      { path: 'query.since', message: `${q.since} is after until (${q.until})` },
    ]);
  }
  const { environment, limit, ...rest } = q;
  const page = await ctx.deps.store.listRuns(environment, { ...rest, limit: checkLimit(ctx, limit) });
  return json(200, { ...page, items: page.items.map((run) => ({ ...run, readiness: runReadiness(run) })) });
}

async function flowHistory(ctx: Context): Promise<ApiResponse> {
  const name = param(ctx, 'name');
  const flowId = param(ctx, 'flowId');
  return json(200, await ctx.deps.store.flowHistory(name, flowId, pageOptions(ctx)));
}

async function verdicts(): Promise<ApiResponse> {
  return json(200, { verdicts: VERDICT_TABLE });
}

async function health(ctx: Context): Promise<ApiResponse> {
  return json(200, { status: 'ok', mode: ctx.deps.mode });
}

let openApiText: string | undefined;
async function openApi(): Promise<ApiResponse> {
  openApiText ??= JSON.stringify(buildOpenApi());
  return { status: 200, headers: { 'content-type': JSON_TYPE }, body: openApiText };
}

// ---------------------------------------------------------------------------------------------------------------
// Routing

type Handler = (ctx: Context) => Promise<ApiResponse>;

interface Route {
  /** Segments; `{name}` binds a parameter. */
  readonly pattern: readonly string[];
  readonly methods: Readonly<Record<string, Handler>>;
}

const route = (path: string, methods: Record<string, Handler>): Route => ({
  pattern: path.split('/').filter(Boolean),
  methods,
});

/** Every route; `openapi.ts` documents the same paths. */
export const ROUTES: readonly Route[] = [
  route('/health', { GET: health }),
  route('/openapi.json', { GET: openApi }),
  route('/verdicts', { GET: verdicts }),
  route('/profiles', { GET: listProfiles }),
  route('/profiles/{profileId}', { GET: getProfile }),
  route('/environments', { GET: listEnvironments }),
  route('/environments/{name}', { GET: getEnvironment, PUT: putEnvironment, DELETE: deleteEnvironment }),
  route('/environments/{name}/flows/{flowId}/history', { GET: flowHistory }),
  route('/checks', { GET: listChecks, POST: startCheck }),
  route('/checks/{checkId}', { GET: getCheck }),
  route('/checks/{checkId}/report', { GET: getReport }),
  ...AGENT_ROUTES.map((r) => route(r.path, r.methods)),
];

function match(path: string): { route: Route; params: Record<string, string> } | undefined {
  const segments = path.split('/').filter(Boolean);
  for (const r of ROUTES) {
    if (r.pattern.length !== segments.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < segments.length; i++) {
      const want = r.pattern[i] as string;
      const got = segments[i] as string;
      if (want.startsWith('{')) {
        let decoded: string;
        try {
          decoded = decodeURIComponent(got);
        } catch {
          throw new ProblemError(
            400,
            'bad-path',
            `the path segment ${JSON.stringify(got)} is not valid percent-encoding`,
          );
        }
        params[want.slice(1, -1)] = decoded;
      } else if (want !== got) {
        ok = false;
        break;
      }
    }
    if (ok) return { route: r, params };
  }
  return undefined;
}

function storeProblem(err: unknown): ProblemError | undefined {
  if (err instanceof ProblemError) return err;
  if (err instanceof NotFoundError) return new ProblemError(404, 'not-found', err.message);
  if (err instanceof ConflictError) return new ProblemError(409, 'conflict', err.message);
  if (err instanceof CursorError) {
    return new ProblemError(400, 'bad-cursor', err.message, [
      { path: 'query.cursor', message: 'not a cursor this listing issued: pass nextCursor back unchanged' },
    ]);
  }
  if (err instanceof StoreValidationError) {
    const errors = err.issues.map((i) => splitProblem(i));
    return new ProblemError(400, 'validation-error', err.message, errors);
  }
  // The store itself failed on its side (a damaged record in the local data folder, a DynamoDB outage): this
  // request cannot be answered, the others still can.
  if (err instanceof StoreError && (err.cause as { $fault?: string } | undefined)?.$fault === 'server') {
    return new ProblemError(
      503,
      'store-unavailable',
      'the results store could not answer this request (a damaged record, or the store is down); other requests are not affected',
    );
  }
  return undefined;
}

/**
 * Handles one API request. Never throws: a bad input is a 4xx problem+json naming the fields; anything
 * unexpected is a 500 whose detail says nothing of the internals (the error goes to `onError`, or the console).
 */
export async function handleRequest(
  req: ApiRequest,
  deps: ApiDeps,
  onError: (err: unknown) => void = (err) => console.error('preflight api: unexpected error', err),
): Promise<ApiResponse> {
  const limits: ApiLimits = { ...DEFAULT_LIMITS, ...deps.limits };
  try {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k.toLowerCase()] = v;
    if (req.body !== undefined && Buffer.byteLength(req.body, 'utf8') > limits.maxBodyBytes) {
      throw new ProblemError(413, 'body-too-large', `the body is larger than ${limits.maxBodyBytes} bytes`);
    }
    const found = match(req.path);
    if (!found)
      throw new ProblemError(404, 'no-route', `no route ${JSON.stringify(req.path)}; see /openapi.json`);
    const method = req.method.toUpperCase();
    const handler = found.route.methods[method];
    if (!handler) {
      const allow = Object.keys(found.route.methods).join(', ');
      throw new ProblemError(
        405,
        'method-not-allowed',
        `${method} is not allowed here (allowed: ${allow})`,
        [],
        {
          allow,
        },
      );
    }
    return await handler({ req, deps, limits, params: found.params, headers });
  } catch (err) {
    const problem = storeProblem(err);
    if (problem) return problemResponse(problem);
    onError(err);
    return problemResponse(
      new ProblemError(500, 'internal', 'something went wrong on our side; try again later'),
    );
  }
}
