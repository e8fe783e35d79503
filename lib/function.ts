import { type CfnResource, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { join } from 'node:path';
import {
  BUNDLE_SETTINGS,
  CATALOG_DATA_DIR,
  FUNCTIONS,
  type FunctionName,
  type FunctionSpec,
  PROJECT_ROOT,
} from './bundling';

/** Props of {@link PreflightFunction}. */
export interface PreflightFunctionProps {
  /** Which of the service's functions (its handler and bundling come from `FUNCTIONS`). */
  readonly function: FunctionName;
  readonly description: string;
  /** @default Duration.seconds(30) */
  readonly timeout?: Duration;
  /** @default 256 */
  readonly memorySize?: number;
  /** Variables beyond the Powertools ones set here. @default - none */
  readonly environment?: Readonly<Record<string, string>>;
  /** Days the function's log group keeps its logs. @default 30 */
  readonly logRetentionDays?: number;
  /** Place the function in a VPC (a prober): its subnets and Security Groups. @default - outside any VPC */
  readonly vpc?: {
    readonly vpc: ec2.IVpc;
    readonly subnets: ec2.ISubnet[];
    readonly securityGroups: ec2.ISecurityGroup[];
  };
}

/** A DynamoDB action a function's code sends (see {@link TABLE_ACCESS}). */
export type TableAction =
  | 'dynamodb:GetItem'
  | 'dynamodb:PutItem'
  | 'dynamodb:UpdateItem'
  | 'dynamodb:DeleteItem'
  | 'dynamodb:Query'
  | 'dynamodb:BatchWriteItem';

/**
 * The table access of each function: exactly the actions its code sends (least privilege; no Scan, no stream
 * reads, no DescribeTable), each traced to the store calls that need it. A test records the commands the code
 * really sends and compares them with these lists.
 */
export const TABLE_ACCESS = {
  // environments (UpdateItem put, GetItem, Query list, DeleteItem), runs (PutItem create, UpdateItem when the
  // start fails, GetItem, Query lists, findings, history), Idempotency-Keys (PutItem, GetItem, UpdateItem, DeleteItem)
  api: [
    'dynamodb:GetItem',
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
    'dynamodb:Query',
  ],
  // the environment and the run (GetItem), a scheduled run (PutItem), running (UpdateItem), failStep's findings (Query)
  start: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query'],
  // the run (GetItem), the findings (BatchWriteItem), counts and close (UpdateItem), previous run and findings (Query)
  finish: ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:Query', 'dynamodb:BatchWriteItem'],
  // the findings recorded so far (Query), close (UpdateItem), the run (GetItem)
  fail: ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:Query'],
  // a shard's job (Query of the run's data), its outcome and an on-prem vantage's agent job (PutItem), that job
  // and its result pages (GetItem), a retried callback task's token and a timed-out job's close (UpdateItem)
  shard: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query'],
  // the run's plan (Query of the run's data), its audits (PutItem)
  audit: ['dynamodb:PutItem', 'dynamodb:Query'],
} as const satisfies Record<string, readonly TableAction[]>;

/** The table access a function is granted with {@link PreflightFunction.bindTable}. */
export type TableAccess = readonly TableAction[];

const retentionOf = (days: number): logs.RetentionDays => {
  const known = Object.values(logs.RetentionDays).filter((v): v is number => typeof v === 'number' && v > 0);
  // The smallest retention CloudWatch offers that keeps the logs at least `days`.
  return (known.sort((a, b) => a - b).find((d) => d >= days) ??
    logs.RetentionDays.TEN_YEARS) as logs.RetentionDays;
};

/**
 * The cdk-nag finding id of a wildcard under a resource's ARN (`Resource::<Logical.Arn>/index/*`), so that an
 * acknowledgment names exactly that finding.
 */
export function wildcardFinding(resource: Construct, suffix: string): string {
  const cfn = (resource.node.defaultChild ?? resource) as CfnResource;
  return `AwsSolutions-IAM5[Resource::<${Stack.of(resource).resolve(cfn.logicalId) as string}.Arn>${suffix}]`;
}

/**
 * The Lambda defaults of the service in one place: Node.js 24 on ARM, esbuild bundles with source maps, active
 * X-Ray tracing, JSON logs in a log group of its own with a retention, Powertools settings, and a role of its own
 * with nothing attached but its logs, tracing and (in a VPC) the network-interface actions a VPC function needs —
 * no managed policies. Intent methods grant access and set the variable that names the resource together.
 */
export class PreflightFunction extends Construct {
  readonly fn: nodejs.NodejsFunction;
  readonly role: iam.Role;
  /** Which handler this is and how it is bundled. */
  readonly spec: FunctionSpec;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: PreflightFunctionProps) {
    super(scope, id);
    const spec: FunctionSpec = FUNCTIONS[props.function];
    this.spec = spec;
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: retentionOf(props.logRetentionDays ?? 30),
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `preflight ${props.function}: ${props.description}`,
    });
    this.logGroup.grantWrite(this.role);
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: props.vpc
        ? "X-Ray's PutTraceSegments/PutTelemetryRecords and the VPC attachment's network-interface actions accept no resource but '*'"
        : "X-Ray's PutTraceSegments/PutTelemetryRecords accept no resource but '*'",
    });
    if (props.vpc) {
      // What Lambda needs to attach a function to the VPC (the AWSLambdaVPCAccessExecutionRole actions); EC2
      // does not scope these to resources, so they are granted on '*' (acknowledged for cdk-nag with this reason).
      this.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'VpcNetworkInterfaces',
          actions: [
            'ec2:CreateNetworkInterface',
            'ec2:DescribeNetworkInterfaces',
            'ec2:DescribeSubnets',
            'ec2:DeleteNetworkInterface',
            'ec2:AssignPrivateIpAddresses',
            'ec2:UnassignPrivateIpAddresses',
          ],
          resources: ['*'],
        }),
      );
    }
    this.fn = new nodejs.NodejsFunction(this, 'Function', {
      entry: join(PROJECT_ROOT, spec.entry),
      handler: 'handler',
      description: `preflight ${props.function}: ${props.description}`,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 256,
      timeout: props.timeout ?? Duration.seconds(30),
      tracing: lambda.Tracing.ACTIVE,
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: 'preflight',
        POWERTOOLS_METRICS_NAMESPACE: 'Preflight',
        POWERTOOLS_LOG_LEVEL: 'INFO',
        ...props.environment,
      },
      ...(props.vpc
        ? {
            vpc: props.vpc.vpc,
            vpcSubnets: { subnets: props.vpc.subnets },
            securityGroups: props.vpc.securityGroups,
            allowPublicSubnet: false,
          }
        : {}),
      bundling: {
        ...BUNDLE_SETTINGS,
        ...(spec.catalog
          ? {
              commandHooks: {
                beforeBundling: () => [],
                beforeInstall: () => [],
                afterBundling: (_input: string, output: string) => [
                  `cp -r "${CATALOG_DATA_DIR}" "${output}/catalog"`,
                ],
              },
            }
          : {}),
      },
    });
  }

  /** Grants the table access and names the table in `TABLE_NAME` (with the results' retention). */
  bindTable(options: { table: dynamodb.ITableV2; access: TableAccess; retentionDays: number }): this {
    // On the table and its indexes (Query reads the secondary indexes).
    options.table.grant(this.fn, ...options.access);
    Validations.of(this.role).acknowledge({
      id: wildcardFinding(options.table, '/index/*'),
      reason:
        "the results store queries the table's own secondary indexes (runs by environment, status, flow history)",
    });
    this.fn.addEnvironment('TABLE_NAME', options.table.tableName);
    this.fn.addEnvironment('RETENTION_DAYS', String(options.retentionDays));
    return this;
  }

  /** Allows `events:PutEvents` on the bus and names it in `EVENT_BUS_NAME`. */
  bindEventBus(bus: events.IEventBus): this {
    bus.grantPutEventsTo(this.fn);
    this.fn.addEnvironment('EVENT_BUS_NAME', bus.eventBusName);
    return this;
  }
}
