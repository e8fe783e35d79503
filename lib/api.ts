import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { z } from 'zod';
import { environmentSchema } from '../lambdas/core/environment';
import { ROUTES } from '../lambdas/handlers/api/router';
import { problemType } from '../lambdas/handlers/api/problem';
import { startCheckBodyDocSchema } from '../lambdas/handlers/api/schemas';
import { PreflightFunction, TABLE_ACCESS } from './function';

/** Props of {@link PreflightApi}. */
export interface PreflightApiProps {
  readonly table: dynamodb.ITableV2;
  readonly stateMachine: sfn.IStateMachine;
  /** The deployment's allowed target CIDRs, applied to every environment before it is stored or checked. */
  readonly allowedTargetCidrs: readonly string[];
  readonly retentionDays: number;
  /** Steady requests per second of the stage. */
  readonly rateLimit: number;
  /** Burst of the stage. */
  readonly burstLimit: number;
  /** @default 30 */
  readonly logRetentionDays?: number;
}

/**
 * The request bodies API Gateway validates before the Lambda runs (the Lambda validates them again, with zod).
 * A PUT may leave `name` out (the path names the environment), as the router accepts.
 */
export const BODY_MODELS: Readonly<Record<string, { readonly name: string; readonly schema: z.ZodType }>> = {
  'PUT /environments/{name}': { name: 'Environment', schema: environmentSchema.partial({ name: true }) },
  'POST /checks': { name: 'StartCheck', schema: startCheckBodyDocSchema },
};

/**
 * The `detail` of a gateway response: API Gateway's validator message as the content of a JSON string. The
 * message holds quotes (`["name"]`), so it is escaped; escapeJavaScript also escapes `'`, which JSON does not
 * allow escaped, so that one is put back.
 */
export const VALIDATION_DETAIL = `$util.escapeJavaScript($context.error.validationErrorString).replaceAll("\\\\'","'")`;

/** A gateway response body in the router's problem+json shape; `detail` is {@link VALIDATION_DETAIL} or text. */
function problemTemplate(status: number, kind: string, title: string, detail: string): string {
  const fixed = JSON.stringify({ type: problemType(kind), title, status });
  const inner = detail === VALIDATION_DETAIL ? detail : JSON.stringify(detail).slice(1, -1);
  return `${fixed.slice(0, -1)},"detail":"${inner}"}`;
}

/** A zod schema as the JSON Schema draft 4 API Gateway models take, for the input side (defaults optional). */
export function modelSchema(schema: z.ZodType): Record<string, unknown> {
  return z.toJSONSchema(schema, { target: 'draft-4', io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
}

/**
 * The HTTPS API: API Gateway (REST, regional) with IAM authorization on every method, the routes of the router
 * (taken from its own `ROUTES`, so the two cannot drift), request validation (parameters, and the bodies of
 * `PUT /environments/{name}` and `POST /checks` against models generated from the same zod schemas), stage
 * throttling, JSON access logs, X-Ray tracing, and validation errors answered as problem+json.
 */
export class PreflightApi extends Construct {
  readonly api: apigw.RestApi;
  readonly function: PreflightFunction;

  constructor(scope: Construct, id: string, props: PreflightApiProps) {
    super(scope, id);
    this.function = new PreflightFunction(this, 'Handler', {
      function: 'api',
      description: 'the HTTPS API: environments, checks, findings, history',
      memorySize: 512,
      environment: { ALLOWED_TARGET_CIDRS: JSON.stringify(props.allowedTargetCidrs) },
      ...(props.logRetentionDays !== undefined ? { logRetentionDays: props.logRetentionDays } : {}),
    }).bindTable({ table: props.table, access: TABLE_ACCESS.api, retentionDays: props.retentionDays });
    props.stateMachine.grantStartExecution(this.function.fn);
    // The agent routes complete (and heartbeat) the callback tasks of this state machine's on-prem vantages.
    props.stateMachine.grantTaskResponse(this.function.fn);
    this.function.fn.addEnvironment('STATE_MACHINE_ARN', props.stateMachine.stateMachineArn);

    const accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.api = new apigw.RestApi(this, 'Api', {
      description: 'preflight: pre-flight port checks for migrations into AWS',
      endpointConfiguration: { types: [apigw.EndpointType.REGIONAL] },
      cloudWatchRole: true,
      cloudWatchRoleRemovalPolicy: RemovalPolicy.DESTROY,
      defaultMethodOptions: { authorizationType: apigw.AuthorizationType.IAM },
      deployOptions: {
        stageName: 'v1',
        tracingEnabled: true,
        loggingLevel: apigw.MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        metricsEnabled: true,
        throttlingRateLimit: props.rateLimit,
        throttlingBurstLimit: props.burstLimit,
        accessLogDestination: new apigw.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigw.AccessLogFormat.jsonWithStandardFields({
          caller: true,
          httpMethod: true,
          ip: true,
          protocol: true,
          requestTime: true,
          resourcePath: true,
          responseLength: true,
          status: true,
          user: true,
        }),
      },
    });

    Validations.of(this.api).acknowledge(
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        reason:
          "API Gateway's account-level CloudWatch role (needed for execution logs) is documented with this AWS-managed policy",
      },
      {
        id: 'AwsSolutions-APIG3',
        reason:
          'every method requires SigV4 IAM authorization and the stage is throttled; a WAF web ACL is left to the account-wide Firewall Manager policy where one exists',
      },
      {
        id: 'AwsSolutions-COG4',
        reason: 'the API is authorized with IAM (SigV4) on every method, not with a Cognito user pool',
      },
    );

    const validator = new apigw.RequestValidator(this, 'Validator', {
      restApi: this.api,
      requestValidatorName: 'parameters-and-body',
      validateRequestBody: true,
      validateRequestParameters: true,
    });
    const models = new Map<string, apigw.IModel>();
    for (const [key, { name, schema }] of Object.entries(BODY_MODELS)) {
      const model = new apigw.CfnModel(this, `${name}Model`, {
        restApiId: this.api.restApiId,
        name,
        contentType: 'application/json',
        schema: modelSchema(schema),
      });
      models.set(key, apigw.Model.fromModelName(this, `${name}ModelRef`, model.ref));
    }

    const integration = new apigw.LambdaIntegration(this.function.fn, { proxy: true });
    for (const route of ROUTES) {
      let resource: apigw.IResource = this.api.root;
      for (const segment of route.pattern)
        resource = resource.getResource(segment) ?? resource.addResource(segment);
      const params = route.pattern.filter((s) => s.startsWith('{')).map((s) => s.slice(1, -1));
      for (const method of Object.keys(route.methods)) {
        const key = `${method} /${route.pattern.join('/')}`;
        const model = models.get(key);
        resource.addMethod(method, integration, {
          authorizationType: apigw.AuthorizationType.IAM,
          requestValidator: validator,
          requestParameters: Object.fromEntries(params.map((p) => [`method.request.path.${p}`, true])),
          ...(model ? { requestModels: { 'application/json': model } } : {}),
        });
      }
    }

    // API Gateway's own 4xx answers in the API's problem+json shape (and its type scheme), naming what failed.
    const problem = (status: number, type: string, title: string, detail: string) => ({
      'application/json': problemTemplate(status, type, title, detail),
    });
    const problemHeaders = { 'Content-Type': "'application/problem+json'" };
    this.api.addGatewayResponse('BadRequestBody', {
      type: apigw.ResponseType.BAD_REQUEST_BODY,
      statusCode: '400',
      responseHeaders: problemHeaders,
      templates: problem(400, 'validation-error', 'the request body is not valid', VALIDATION_DETAIL),
    });
    this.api.addGatewayResponse('BadRequestParameters', {
      type: apigw.ResponseType.BAD_REQUEST_PARAMETERS,
      statusCode: '400',
      responseHeaders: problemHeaders,
      templates: problem(400, 'validation-error', 'the request parameters are not valid', VALIDATION_DETAIL),
    });
    this.api.addGatewayResponse('AccessDenied', {
      type: apigw.ResponseType.ACCESS_DENIED,
      statusCode: '403',
      responseHeaders: problemHeaders,
      templates: problem(
        403,
        'forbidden',
        'not allowed',
        'sign the request with SigV4 (service execute-api) as an IAM principal allowed to invoke this API',
      ),
    });
    this.api.addGatewayResponse('Throttled', {
      type: apigw.ResponseType.THROTTLED,
      statusCode: '429',
      responseHeaders: problemHeaders,
      templates: problem(
        429,
        'throttled',
        'too many requests',
        'the stage throttles requests: retry with backoff',
      ),
    });
  }
}
