/**
 * The API Lambda behind API Gateway (REST, IAM authorization on every method): turns the proxy event into an
 * {@link ApiRequest}, runs the same router as the local server, and maps its response back. Checks start on the
 * state machine; environments, runs and findings live in the results table.
 */
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { DynamoAgentJobStore } from '../../aws/dynamo-agent-jobs';
import { DynamoIdempotencyCache } from '../../aws/dynamo-idempotency';
import { SchedulerEnvironmentSchedules } from '../../aws/scheduler';
import { StepFunctionsCallbacks } from '../../aws/sfn-callbacks';
import { StepFunctionsStarter } from '../../aws/step-functions';
import { defaultCatalog } from '../../core/catalog';
import { resultStore } from '../clients';
import { instrument } from '../instrument';
import { instruments, logger, tracer } from '../observability';
import { readSettings } from '../settings';
import type { ApiRequest, ApiResponse } from '../../core/service';
import { type ApiDeps, handleRequest } from './router';

/** An API Gateway proxy event as the router's request: the resource path, single-valued query and headers. */
export function toApiRequest(event: APIGatewayProxyEvent): ApiRequest {
  const query: Record<string, string | undefined> = { ...(event.queryStringParameters ?? {}) };
  // API Gateway gives a repeated parameter's last value; keep the first, as the local server does.
  for (const [k, values] of Object.entries(event.multiValueQueryStringParameters ?? {}))
    if (values && values.length > 0) query[k] = values[0];
  const body =
    event.body === null || event.body === undefined
      ? undefined
      : event.isBase64Encoded
        ? Buffer.from(event.body, 'base64').toString('utf8')
        : event.body;
  return { method: event.httpMethod, path: event.path, query, headers: { ...(event.headers ?? {}) }, body };
}

export function toProxyResult(res: ApiResponse): APIGatewayProxyResult {
  return { statusCode: res.status, headers: res.headers, body: res.body };
}

const settings = readSettings([
  'TABLE_NAME',
  'RETENTION_DAYS',
  'STATE_MACHINE_ARN',
  'ALLOWED_TARGET_CIDRS',
  'SCHEDULE_GROUP',
  'SCHEDULER_ROLE_ARN',
]);
const { store, client } = resultStore(settings);
const sfn = tracer.captureAWSv3Client(new SFNClient({}));
const callbacks = new StepFunctionsCallbacks(sfn);
const deps: ApiDeps = {
  store,
  catalog: defaultCatalog(),
  starter: new StepFunctionsStarter(sfn, store, settings.STATE_MACHINE_ARN),
  mode: 'aws',
  allowedTargetCidrs: settings.ALLOWED_TARGET_CIDRS,
  idempotency: new DynamoIdempotencyCache(client, { tableName: settings.TABLE_NAME }),
  schedules: new SchedulerEnvironmentSchedules(tracer.captureAWSv3Client(new SchedulerClient({})), {
    groupName: settings.SCHEDULE_GROUP,
    stateMachineArn: settings.STATE_MACHINE_ARN,
    roleArn: settings.SCHEDULER_ROLE_ARN,
  }),
  // The agent routes over the same table. API Gateway ends a request at 29 s: a held poll lasts at most 20 s.
  // A job's last page completes its callback task; heartbeats are passed on to it.
  agents: {
    jobs: new DynamoAgentJobStore(client, { tableName: settings.TABLE_NAME }),
    onComplete: callbacks.onComplete,
    onHeartbeat: callbacks.onHeartbeat,
    onFail: callbacks.onFail,
  },
};

export const handler = instrument('api', instruments, async (event: APIGatewayProxyEvent) =>
  toProxyResult(
    await handleRequest(toApiRequest(event), deps, (err) => logger.error('unexpected error', err as Error)),
  ),
);
