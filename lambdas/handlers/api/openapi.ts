/**
 * The OpenAPI 3.1 document of the HTTP API, generated from the zod schemas the router validates with
 * (`z.toJSONSchema`), so that documentation and validation cannot drift apart.
 */
import { z } from 'zod';
import {
  checkWithFindingsSchema,
  environmentRecordSchema,
  environmentSchema,
  healthSchema,
  listChecksQuerySchema,
  pageQuerySchema,
  pageSchema,
  pathParamSchemas,
  problemSchema,
  profileDetailSchema,
  profileSummarySchema,
  reportQuerySchema,
  reportSchema,
  startCheckBodyDocSchema,
  startCheckResponseSchema,
  checkRunViewSchema,
  verdictTableSchema,
} from './schemas';
import { checkRunSchema, findingRecordSchema } from '../../core/store';
import {
  agentBodySchema,
  failJobBodySchema,
  jobIdSchema,
  postResultsBodySchema,
} from '../../core/agent/jobs';
import { pollQuerySchema } from './agent-routes';

type JsonSchema = Record<string, unknown>;

function schemaOf(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const out = z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' }) as JsonSchema;
  delete out.$schema;
  return out;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

const jsonContent = (name: string) => ({ 'application/json': { schema: ref(name) } });

const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: ref('Problem') } },
});

const errors = {
  '400': problem('The input is not valid; `errors` names each bad field.'),
  '404': problem('Not found.'),
  '413': problem('The body is too large.'),
};

function queryParameters(schema: z.ZodObject): unknown[] {
  const json = schemaOf(schema, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, s]) => ({
    name,
    in: 'query',
    required: json.required?.includes(name) ?? false,
    schema: s,
  }));
}

/** The routes of `preflight agent` (see agent-routes.ts); each on-prem vantage's machine may call only its own. */
function agentPaths() {
  const vantage = {
    name: 'vantage',
    in: 'path',
    required: true,
    schema: schemaOf(pathParamSchemas.name, 'input'),
  };
  const jobId = { name: 'jobId', in: 'path', required: true, schema: schemaOf(jobIdSchema, 'input') };
  const conflict = problem(
    'The job is not held by this agent (another took it, or it is closed), or past its deadline.',
  );
  const post = (summary: string, body: string) => ({
    post: {
      summary,
      parameters: [vantage, jobId],
      requestBody: { required: true, content: jsonContent(body) },
      responses: { '200': { description: 'Done' }, ...errors, '409': conflict },
    },
  });
  return {
    '/agents/{vantage}/jobs': {
      get: {
        summary: "The vantage's next probe job, leased to the calling agent (a long poll)",
        parameters: [vantage, ...queryParameters(pollQuerySchema)],
        responses: {
          '200': { description: 'A job, its lease and heartbeat interval, and the page size of results' },
          '204': { description: 'No job within the wait' },
          ...errors,
        },
      },
    },
    '/agents/{vantage}/jobs/{jobId}/heartbeat': post(
      'Extends the lease of a job the agent holds',
      'AgentBody',
    ),
    '/agents/{vantage}/jobs/{jobId}/results': {
      post: {
        ...post('One page of results; the last page completes the job', 'AgentResults').post,
        responses: {
          '200': { description: 'Stored' },
          ...errors,
          '409': conflict,
          '422': problem("A result is not a port of the job's targets."),
        },
      },
    },
    '/agents/{vantage}/jobs/{jobId}/release': post('Gives the job back (an agent stopping)', 'AgentBody'),
    '/agents/{vantage}/jobs/{jobId}/fail': post(
      'The agent cannot run the job, saying why: the run stops waiting for it (its flows skipped with the reason)',
      'AgentFailure',
    ),
  };
}

function pathParameter(name: keyof typeof pathParamSchemas) {
  return { name, in: 'path', required: true, schema: schemaOf(pathParamSchemas[name], 'input') };
}

/** The OpenAPI document served at `/openapi.json`. */
export function buildOpenApi(): Record<string, unknown> {
  const page = queryParameters(pageQuerySchema);
  return {
    openapi: '3.1.0',
    info: {
      title: 'preflight',
      version: '0.1.0',
      description:
        'Pre-flight port checks for migrations into AWS. Errors are application/problem+json with the offending field paths.',
    },
    paths: {
      '/health': {
        get: {
          summary: 'Liveness',
          responses: { '200': { description: 'OK', content: jsonContent('Health') } },
        },
      },
      '/verdicts': {
        get: {
          summary:
            'The verdict table: per verdict its class, whether it keeps a run from GO, label, symbol, next step',
          responses: { '200': { description: 'The table', content: jsonContent('VerdictTable') } },
        },
      },
      '/profiles': {
        get: {
          summary: 'The catalog profiles',
          responses: { '200': { description: 'Profiles', content: jsonContent('ProfilePage') } },
        },
      },
      '/profiles/{profileId}': {
        get: {
          summary: 'One profile with its requirements',
          parameters: [pathParameter('profileId')],
          responses: {
            '200': { description: 'The profile', content: jsonContent('ProfileDetail') },
            ...errors,
          },
        },
      },
      '/environments': {
        get: {
          summary: 'Environments by name',
          parameters: page,
          responses: { '200': { description: 'A page', content: jsonContent('EnvironmentPage') }, ...errors },
        },
      },
      '/environments/{name}': {
        parameters: [pathParameter('name')],
        get: {
          summary: 'One environment',
          responses: {
            '200': { description: 'The environment', content: jsonContent('EnvironmentRecord') },
            ...errors,
          },
        },
        put: {
          summary: 'Create or replace an environment (and its schedule)',
          requestBody: { required: true, content: jsonContent('Environment') },
          responses: {
            '200': { description: 'Stored', content: jsonContent('EnvironmentRecord') },
            ...errors,
            '422': problem(
              'A target is outside the allowed CIDRs or forbidden, the plan is too large, or the scheduler refused the schedule.',
            ),
            '502': problem('The schedule could not be saved; the environment was left as it was.'),
          },
        },
        delete: {
          summary: 'Delete an environment (and its schedule)',
          responses: {
            '204': { description: 'Deleted' },
            ...errors,
            '502': problem('The schedule could not be deleted; the environment was not deleted.'),
          },
        },
      },
      '/environments/{name}/flows/{flowId}/history': {
        get: {
          summary: "One flow's findings across runs, newest first",
          parameters: [pathParameter('name'), pathParameter('flowId'), ...page],
          responses: { '200': { description: 'A page', content: jsonContent('FindingPage') }, ...errors },
        },
      },
      '/checks': {
        get: {
          summary: "An environment's runs, newest first",
          parameters: queryParameters(listChecksQuerySchema),
          responses: { '200': { description: 'A page', content: jsonContent('CheckRunPage') }, ...errors },
        },
        post: {
          summary: 'Start a check of a stored or an inline environment',
          parameters: [
            {
              name: 'Idempotency-Key',
              in: 'header',
              required: false,
              schema: { type: 'string', minLength: 1, maxLength: 200 },
              description: 'A retried request with the same key and body returns the same run.',
            },
          ],
          requestBody: { required: true, content: jsonContent('StartCheck') },
          responses: {
            '202': {
              description: 'Started',
              headers: { Location: { schema: { type: 'string' }, description: '/checks/{checkId}' } },
              content: jsonContent('StartCheckResponse'),
            },
            ...errors,
            '409': problem('The Idempotency-Key was used for another request.'),
            '422': problem('A target is outside the allowed CIDRs or forbidden, or the plan is too large.'),
          },
        },
      },
      '/checks/{checkId}': {
        get: {
          summary: 'A run with a page of its findings',
          parameters: [pathParameter('checkId'), ...page],
          responses: {
            '200': { description: 'The run', content: jsonContent('CheckWithFindings') },
            ...errors,
          },
        },
      },
      '/checks/{checkId}/report': {
        get: {
          summary: "A run's readiness report: go/no-go, per profile and vantage, failing flows with fixes",
          description:
            'Markdown (default), self-contained HTML for printing, JUnit XML for a CI gate (a failing go/no-go ' +
            'testcase when NO-GO), CSV (one row per flow) or the JSON model. The X-Preflight-Readiness header ' +
            'carries GO or NO-GO.',
          parameters: [pathParameter('checkId'), ...queryParameters(reportQuerySchema)],
          responses: {
            '200': {
              description: 'The report in the format asked for',
              headers: {
                'X-Preflight-Readiness': { schema: { type: 'string', enum: ['GO', 'NO-GO'] } },
              },
              content: {
                'text/markdown': { schema: { type: 'string' } },
                'text/html': { schema: { type: 'string' } },
                'application/xml': { schema: { type: 'string' } },
                'text/csv': { schema: { type: 'string' } },
                ...jsonContent('Report'),
              },
            },
            ...errors,
          },
        },
      },
      '/openapi.json': {
        get: { summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1' } } },
      },
      ...agentPaths(),
    },
    components: {
      schemas: {
        Environment: schemaOf(environmentSchema, 'input'),
        EnvironmentRecord: schemaOf(environmentRecordSchema, 'output'),
        EnvironmentPage: schemaOf(pageSchema(environmentRecordSchema), 'output'),
        StartCheck: schemaOf(startCheckBodyDocSchema, 'input'),
        StartCheckResponse: schemaOf(startCheckResponseSchema, 'output'),
        CheckRun: schemaOf(checkRunSchema, 'output'),
        CheckRunPage: schemaOf(pageSchema(checkRunViewSchema), 'output'),
        VerdictTable: schemaOf(verdictTableSchema, 'output'),
        CheckWithFindings: schemaOf(checkWithFindingsSchema, 'output'),
        FindingPage: schemaOf(pageSchema(findingRecordSchema), 'output'),
        Report: schemaOf(reportSchema, 'output'),
        ProfilePage: schemaOf(pageSchema(profileSummarySchema), 'output'),
        ProfileDetail: schemaOf(profileDetailSchema, 'output'),
        Health: schemaOf(healthSchema, 'output'),
        Problem: schemaOf(problemSchema, 'output'),
        AgentBody: schemaOf(agentBodySchema, 'input'),
        AgentFailure: schemaOf(failJobBodySchema, 'input'),
        AgentResults: schemaOf(postResultsBodySchema, 'input'),
      },
    },
  };
}
