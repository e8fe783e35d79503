import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';

// The API Lambda as API Gateway calls it: a REST proxy event in, a proxy result out, with the results table and
// the state machine mocked (aws-sdk-client-mock). Also: every handler's cold start refuses a bad environment,
// naming the variable.

const STATE_MACHINE_ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:preflight-check-run';
const SETTINGS = {
  AWS_REGION: 'eu-west-1',
  TABLE_NAME: 'preflight-results',
  RETENTION_DAYS: '30',
  STATE_MACHINE_ARN,
  ALLOWED_TARGET_CIDRS: '["10.0.0.0/8"]',
  SCHEDULE_GROUP: 'preflight-environments',
  SCHEDULER_ROLE_ARN: 'arn:aws:iam::123456789012:role/preflight-scheduler',
  EVENT_BUS_NAME: 'preflight-events',
  VANTAGES: JSON.stringify({ workers: { subnetIds: [], securityGroupIds: ['sg-0123456789abcdef0'] } }),
};
const saved = { ...process.env };
Object.assign(process.env, SETTINGS);

const ddb = mockClient(DynamoDBDocumentClient);
const sfn = mockClient(SFNClient);

// The module reads its settings at import: they are set above.
type ApiModule = typeof import('../../lambdas/handlers/api/handler');
const api = jest.requireActual<ApiModule>('../../lambdas/handlers/api/handler');

afterAll(() => {
  process.env = saved;
});
beforeEach(() => {
  ddb.reset();
  sfn.reset();
  ddb.on(PutCommand).resolves({});
  sfn.on(StartExecutionCommand).resolves({ executionArn: 'arn:aws:states:…', startDate: new Date() });
});

const context = {
  functionName: 'preflight-api',
  awsRequestId: 'req-1',
  invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:preflight-api',
  memoryLimitInMB: '512',
  functionVersion: '$LATEST',
  getRemainingTimeInMillis: () => 30_000,
} as unknown as Context;

/** A REST API proxy event as API Gateway sends it. */
function proxyEvent(overrides: Partial<APIGatewayProxyEvent>): APIGatewayProxyEvent {
  return {
    httpMethod: 'GET',
    path: '/',
    resource: '/{proxy+}',
    headers: {},
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    body: null,
    isBase64Encoded: false,
    requestContext: {} as APIGatewayProxyEvent['requestContext'],
    ...overrides,
  };
}

/** Calls the handler with the logs kept out of the test output. */
async function invoke(event: APIGatewayProxyEvent) {
  const quiet = jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
  const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
  try {
    return await api.handler(event, context);
  } finally {
    quiet.mockRestore();
    warn.mockRestore();
  }
}

function checkBody(target: string) {
  return JSON.stringify({
    environment: {
      name: 'wave-api',
      vantages: [{ name: 'workers', roles: ['target-worker'], securityGroupIds: ['sg-0123456789abcdef0'] }],
      flows: [{ name: 'db', to: [target], ports: '1433' }],
    },
  });
}

describe('toApiRequest', () => {
  it('decodes a base64 body and keeps the first value of a repeated query parameter', () => {
    // Arrange
    const event = proxyEvent({
      httpMethod: 'POST',
      path: '/checks',
      headers: { 'Content-Type': 'application/json' },
      queryStringParameters: { limit: '50' },
      multiValueQueryStringParameters: { limit: ['10', '50'] },
      body: Buffer.from('{"environmentName":"wave-1"}').toString('base64'),
      isBase64Encoded: true,
    });
    // Act
    const req = api.toApiRequest(event);
    // Assert
    expect(req).toEqual({
      method: 'POST',
      path: '/checks',
      query: { limit: '10' },
      headers: { 'Content-Type': 'application/json' },
      body: '{"environmentName":"wave-1"}',
    });
  });

  it('gives no body for a null body and copes with absent query and headers', () => {
    // Arrange
    const event = proxyEvent({
      path: '/health',
      headers: null as unknown as APIGatewayProxyEvent['headers'],
    });
    // Act
    const req = api.toApiRequest(event);
    // Assert
    expect(req).toEqual({ method: 'GET', path: '/health', query: {}, headers: {}, body: undefined });
  });
});

describe('the API handler', () => {
  it('answers GET /health with 200 in AWS mode, touching no table', async () => {
    // Act
    const res = await invoke(proxyEvent({ path: '/health' }));
    // Assert
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ status: 'ok', mode: 'aws' });
    expect(ddb.calls()).toHaveLength(0);
  });

  it('starts a check on an allowed target: 202, the run stored queued, one execution named after it', async () => {
    // Act
    const res = await invoke(
      proxyEvent({
        httpMethod: 'POST',
        path: '/checks',
        headers: { 'content-type': 'application/json' },
        body: checkBody('10.0.0.5'),
      }),
    );

    // Assert
    expect(res.statusCode).toBe(202);
    const { checkId, status } = JSON.parse(res.body) as { checkId: string; status: string };
    expect(status).toBe('queued');
    expect(res.headers?.location).toBe(`/checks/${checkId}`);
    const puts = ddb.commandCalls(PutCommand);
    expect(puts).toHaveLength(1);
    expect(puts[0]!.args[0].input).toMatchObject({
      TableName: 'preflight-results',
      Item: { checkId, status: 'queued', environmentName: 'wave-api', trigger: 'api' },
    });
    const starts = sfn.commandCalls(StartExecutionCommand);
    expect(starts).toHaveLength(1);
    expect(starts[0]!.args[0].input).toMatchObject({ stateMachineArn: STATE_MACHINE_ARN, name: checkId });
    expect(JSON.parse(starts[0]!.args[0].input.input!)).toMatchObject({
      checkId,
      environmentName: 'wave-api',
      trigger: 'api',
    });
  });

  it('refuses the instance metadata address with 422 naming the field, storing and starting nothing', async () => {
    // Act
    const res = await invoke(
      proxyEvent({
        httpMethod: 'POST',
        path: '/checks',
        headers: { 'content-type': 'application/json' },
        body: checkBody('169.254.169.254'),
      }),
    );

    // Assert
    expect(res.statusCode).toBe(422);
    expect(res.headers?.['content-type']).toContain('application/problem+json');
    expect(res.body).toContain('169.254.169.254');
    expect(res.body).toContain('environment.flows');
    expect(ddb.calls()).toHaveLength(0);
    expect(sfn.calls()).toHaveLength(0);
  });

  it('refuses a target outside ALLOWED_TARGET_CIDRS with 422', async () => {
    // Act
    const res = await invoke(
      proxyEvent({
        httpMethod: 'POST',
        path: '/checks',
        headers: { 'content-type': 'application/json' },
        body: checkBody('192.168.1.10'),
      }),
    );
    // Assert
    expect(res.statusCode).toBe(422);
    expect(res.body).toContain('10.0.0.0/8');
    expect(sfn.calls()).toHaveLength(0);
  });
});

describe("the handlers' cold start", () => {
  const HANDLERS = [
    '../../lambdas/handlers/api/handler',
    '../../lambdas/handlers/run/start',
    '../../lambdas/handlers/run/finish',
    '../../lambdas/handlers/run/fail',
  ];

  /** Loads `module` afresh with `env` changed, and returns what loading it threw. */
  function coldStartError(module: string, env: Record<string, string | undefined>): Error {
    const before = { ...process.env };
    for (const [k, v] of Object.entries(env)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    try {
      jest.isolateModules(() => jest.requireActual(module));
    } catch (err) {
      return err as Error;
    } finally {
      process.env = before;
    }
    throw new Error(`${module} loaded with ${JSON.stringify(env)}`);
  }

  it.each(HANDLERS)('of %s fails with a SettingsError naming TABLE_NAME when it is missing', (module) => {
    // Act
    const err = coldStartError(module, { TABLE_NAME: undefined });
    // Assert
    expect(err.name).toBe('SettingsError');
    expect(err.message).toContain('TABLE_NAME: is required');
    expect(err.message).toContain('redeploy the stack');
  });

  it.each([
    ['../../lambdas/handlers/api/handler', 'STATE_MACHINE_ARN', 'preflight-check-run'],
    ['../../lambdas/handlers/api/handler', 'ALLOWED_TARGET_CIDRS', '10.0.0.0/8'],
    ['../../lambdas/handlers/run/start', 'VANTAGES', '{"workers":{"subnetIds":[]}}'],
    ['../../lambdas/handlers/run/start', 'PROBE_BUDGET_MS', '10'],
    ['../../lambdas/handlers/run/finish', 'EVENT_BUS_NAME', ''],
    ['../../lambdas/handlers/run/fail', 'RETENTION_DAYS', '-1'],
  ])('of %s fails naming %s when it is %j', (module, name, value) => {
    // Act
    const err = coldStartError(module, { [name]: value });
    // Assert
    expect(err.name).toBe('SettingsError');
    expect(err.message).toContain(`${name}:`);
  });

  it('loads every handler with the settings the CDK app sets', () => {
    // Act + Assert
    for (const module of HANDLERS) {
      jest.isolateModules(() => {
        expect(typeof jest.requireActual<{ handler: unknown }>(module).handler).toBe('function');
      });
    }
  });
});
