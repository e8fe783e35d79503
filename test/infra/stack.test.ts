import { Match, Template } from 'aws-cdk-lib/assertions';
import { EC2_INVENTORY_ACTIONS } from '../../lambdas/aws/ec2-inventory';
import { scheduleInput } from '../../lambdas/core/run/identity';
import { MAX_PROBE_BUDGET_SECONDS } from '../../lambdas/core/environment';
import { MAX_SHARDS } from '../../lambdas/core/run/shards';
import { ROUTES } from '../../lambdas/handlers/api/router';
import { DeployConfigError, parseDeployConfig } from '../../lib/config';
import { STATES } from '../../lib/orchestration';
import { exampleConfig, synthStack } from './support';

type Resources = Record<string, { Type: string; Properties?: Record<string, unknown> }>;

// One synth per stack for the whole file: the assertions only read the templates.
const demo = synthStack();
const example = synthStack(exampleConfig());
const config = exampleConfig();

const resourcesOf = (template: Template, type: string): Resources =>
  template.findResources(type) as Resources;

/** The IAM actions each policy attached to a role grants, by the role's logical id. */
function actionsByRole(template: Template): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const policy of Object.values(resourcesOf(template, 'AWS::IAM::Policy'))) {
    const props = policy.Properties as {
      Roles: Array<{ Ref: string }>;
      PolicyDocument: { Statement: Array<{ Action: string | string[] }> };
    };
    const actions = props.PolicyDocument.Statement.flatMap((s) =>
      Array.isArray(s.Action) ? s.Action : [s.Action],
    );
    for (const role of props.Roles) out.set(role.Ref, [...(out.get(role.Ref) ?? []), ...actions]);
  }
  return out;
}

/** The logical id of the role of the function whose description starts with `prefix`. */
function roleOf(template: Template, prefix: string): string {
  const fn = Object.values(resourcesOf(template, 'AWS::Lambda::Function')).find((f) =>
    String(f.Properties?.Description).startsWith(prefix),
  );
  if (!fn) throw new Error(`no function described ${prefix}`);
  return ((fn.Properties?.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'] as [string, string])[0];
}

describe.each([
  ['the demo', demo.template],
  ['the example config', example.template],
])('%s', (_name, template) => {
  it('grants no IAM action with a wildcard, in any policy', () => {
    // Act
    const actions = [...actionsByRole(template).values()].flat();
    // Assert
    expect(actions.length).toBeGreaterThan(0);
    expect(actions.filter((a) => a === '*' || /:\*$/.test(a))).toEqual([]);
  });

  it('runs every function on Node.js 22 or newer, on ARM, traced, logging to a group with a retention', () => {
    // Act
    const functions = Object.values(resourcesOf(template, 'AWS::Lambda::Function'));
    // Assert
    expect(functions).not.toHaveLength(0);
    for (const f of functions) {
      expect(Number(/^nodejs(\d+)\.x$/.exec(String(f.Properties?.Runtime))?.[1])).toBeGreaterThanOrEqual(22);
      expect(f.Properties?.Architectures).toEqual(['arm64']);
      expect(f.Properties?.TracingConfig).toEqual({ Mode: 'Active' });
      expect(f.Properties?.LoggingConfig).toMatchObject({ LogFormat: 'JSON', LogGroup: expect.anything() });
    }
    for (const g of Object.values(resourcesOf(template, 'AWS::Logs::LogGroup')))
      expect(g.Properties?.RetentionInDays).toEqual(expect.any(Number));
  });

  it('allows the auditor exactly the EC2 reads the inventory reader makes, and nothing else of EC2', () => {
    // Act
    const actions = actionsByRole(template).get(roleOf(template, 'preflight audit')) ?? [];
    // Assert
    expect(actions.filter((a) => a.startsWith('ec2:')).sort()).toEqual([...EC2_INVENTORY_ACTIONS].sort());
    // Beside EC2: its logs, tracing, and the results table, where it stores the run's audits.
    expect(actions.filter((a) => !/^(ec2|logs|xray|dynamodb):/.test(a))).toEqual([]);
    expect(actions).toEqual(expect.arrayContaining(['dynamodb:PutItem', 'dynamodb:Query']));
  });

  it('gives a prober no AWS API access beyond its logs, tracing and the VPC attachment', () => {
    // Act
    const actions = actionsByRole(template).get(roleOf(template, 'preflight probe')) ?? [];
    // Assert
    expect(new Set(actions.map((a) => a.split(':')[0]))).toEqual(new Set(['logs', 'xray', 'ec2']));
    expect(actions.filter((a) => a.startsWith('ec2:')).sort()).toEqual([
      'ec2:AssignPrivateIpAddresses',
      'ec2:CreateNetworkInterface',
      'ec2:DeleteNetworkInterface',
      'ec2:DescribeNetworkInterfaces',
      'ec2:DescribeSubnets',
      'ec2:UnassignPrivateIpAddresses',
    ]);
  });

  it('puts IAM authorization on every API method, validates requests, throttles the stage and logs access', () => {
    // Act
    const methods = Object.values(resourcesOf(template, 'AWS::ApiGateway::Method'));
    const expected = ROUTES.reduce((n, r) => n + Object.keys(r.methods).length, 0);
    // Assert
    expect(methods).toHaveLength(expected);
    for (const m of methods) {
      expect(m.Properties?.AuthorizationType).toBe('AWS_IAM');
      expect(m.Properties?.RequestValidatorId).toEqual(expect.anything());
    }
    template.hasResourceProperties('AWS::ApiGateway::RequestValidator', {
      ValidateRequestBody: true,
      ValidateRequestParameters: true,
    });
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      TracingEnabled: true,
      AccessLogSetting: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('requestId') },
      MethodSettings: Match.arrayWith([
        Match.objectLike({ ThrottlingRateLimit: 10, ThrottlingBurstLimit: 20, LoggingLevel: 'ERROR' }),
      ]),
    });
  });

  it('validates the bodies of PUT /environments/{name} and POST /checks with models from the zod schemas', () => {
    // Act
    const models = Object.values(resourcesOf(template, 'AWS::ApiGateway::Model'));
    const withModel = Object.values(resourcesOf(template, 'AWS::ApiGateway::Method')).filter(
      (m) => m.Properties?.RequestModels !== undefined,
    );
    // Assert
    expect(models.map((m) => m.Properties?.Name).sort()).toEqual(['Environment', 'StartCheck']);
    const environment = models.find((m) => m.Properties?.Name === 'Environment')?.Properties?.Schema as {
      $schema: string;
      required: string[];
    };
    expect(environment.$schema).toBe('http://json-schema.org/draft-04/schema#');
    // A PUT may leave the name out: the path names the environment (issue 11 item 6; see gateway.test.ts)
    expect(environment.required).toEqual(expect.arrayContaining(['vantages']));
    expect(environment.required).not.toContain('name');
    expect(withModel.map((m) => m.Properties?.HttpMethod).sort()).toEqual(['POST', 'PUT']);
  });

  it('has point-in-time recovery, deletion protection and a retained results table', () => {
    // Assert
    template.hasResource('AWS::DynamoDB::GlobalTable', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        Replicas: [
          Match.objectLike({
            PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
            DeletionProtectionEnabled: true,
          }),
        ],
      }),
    });
  });

  it('runs the steps of a check run in the state machine, with retries, catches, logging and tracing', () => {
    // Act
    const machine = Object.values(resourcesOf(template, 'AWS::StepFunctions::StateMachine'))[0];
    const definition = JSON.parse(
      JSON.stringify(machine?.Properties?.DefinitionString).replace(/\{\\"Fn::GetAtt[^}]*\}/g, '""'),
    ) as unknown;
    const text = JSON.stringify(machine?.Properties?.DefinitionString);
    // Assert
    expect(definition).toBeDefined();
    for (const state of Object.values(STATES)) expect(text).toContain(`\\"${state}\\"`);
    expect(text).toContain('\\"Type\\":\\"Map\\"');
    // A Distributed Map over the shard numbers, its output not kept in the state, its concurrency bounded.
    expect(text).toContain('\\"ItemsPath\\":\\"$.shards\\"');
    expect(text).toContain(
      '\\"ProcessorConfig\\":{\\"Mode\\":\\"DISTRIBUTED\\",\\"ExecutionType\\":\\"STANDARD\\"}',
    );
    expect(text).toContain('\\"ResultPath\\":null');
    expect(text).toContain('\\"MaxConcurrency\\":40');
    expect(text).toContain('Lambda.TooManyRequestsException');
    expect(text).toContain('\\"BackoffRate\\":2');
    expect(text).toContain('\\"ResultPath\\":\\"$.auditError\\"');
    expect(machine?.Properties).toMatchObject({
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: false },
    });
  });

  it("waits for each on-prem vantage's agent in a callback task bounded by the environment's probe budget", () => {
    // Act
    const machine = Object.values(resourcesOf(template, 'AWS::StepFunctions::StateMachine'))[0];
    const text = JSON.stringify(machine?.Properties?.DefinitionString);
    const at = text.indexOf(`\\"${STATES.awaitAgent}\\":{`);
    // The state's own fields: Retry and Catch first, then its type, timeouts, resource and Parameters.
    const state = text.slice(at, text.indexOf('\\"Parameters\\"', at) + 600);
    // Assert: the token-waiting Lambda integration, its token passed, a heartbeat within the shard's own budget
    // (the environment's, which the load step puts in the item), a timeout with the results' grace; no fixed
    // wait (the deployment's budget is not the environment's).
    expect(at).toBeGreaterThan(0);
    expect(state).toContain(':states:::lambda:invoke.waitForTaskToken');
    expect(state).toContain('\\"taskToken.$\\":\\"$$.Task.Token\\"');
    expect(state).toContain('\\"HeartbeatSecondsPath\\":\\"$.agentWaitSeconds\\"');
    expect(state).toContain('\\"TimeoutSecondsPath\\":\\"$.agentTimeoutSeconds\\"');
    expect(state).not.toMatch(/\\"(Heartbeat|Timeout)Seconds\\":/);
    // The execution's own timeout covers every wave of shards waiting the longest an environment may ask.
    const timeouts = [...text.matchAll(/\\"TimeoutSeconds\\":(\d+)/g)].map((m) => Number(m[1]));
    expect(Math.max(...timeouts)).toBeGreaterThanOrEqual(
      (MAX_PROBE_BUDGET_SECONDS + 60) * Math.ceil(MAX_SHARDS / 40),
    );
    expect(state).toContain(
      '\\"Catch\\":[{\\"ErrorEquals\\":[\\"States.ALL\\"],\\"ResultPath\\":\\"$.error\\",\\"Next\\":\\"Store shard\\"}]',
    );
    expect(text).toContain('\\"IsPresent\\":true');
  });

  it("lets the API complete, heartbeat or fail only this state machine's tasks, and the shard step end a retried one", () => {
    // Act
    const machine = Object.keys(resourcesOf(template, 'AWS::StepFunctions::StateMachine'))[0]!;
    const api = roleOf(template, 'preflight api');
    const statements = Object.values(resourcesOf(template, 'AWS::IAM::Policy'))
      .filter((p) => (p.Properties?.Roles as Array<{ Ref: string }>).some((r) => r.Ref === api))
      .flatMap(
        (p) =>
          (p.Properties?.PolicyDocument as { Statement: Array<{ Action: unknown; Resource: unknown }> })
            .Statement,
      );
    const callbacks = statements.filter((s) => JSON.stringify(s.Action).includes('states:SendTask'));
    // Assert
    expect(callbacks).toEqual([
      {
        Action: ['states:SendTaskSuccess', 'states:SendTaskFailure', 'states:SendTaskHeartbeat'],
        Effect: 'Allow',
        Resource: { Ref: machine },
      },
    ]);
    const shard = roleOf(template, 'preflight shard');
    const shardCallbacks = Object.values(resourcesOf(template, 'AWS::IAM::Policy'))
      .filter((p) => (p.Properties?.Roles as Array<{ Ref: string }>).some((r) => r.Ref === shard))
      .flatMap(
        (p) =>
          (p.Properties?.PolicyDocument as { Statement: Array<{ Action: unknown; Resource: unknown }> })
            .Statement,
      )
      .filter((s) => JSON.stringify(s.Action).includes('states:SendTask'));
    expect(shardCallbacks).toEqual([
      {
        Action: ['states:SendTaskSuccess', 'states:SendTaskFailure'],
        Effect: 'Allow',
        Resource: { Ref: machine },
      },
    ]);
    expect(
      [...actionsByRole(template).entries()]
        .filter(([, actions]) => actions.some((a) => a.startsWith('states:SendTask')))
        .map(([role]) => role)
        .sort(),
    ).toEqual([api, shard].sort());
  });

  it('sends the state-changed events of its bus to an encrypted topic, and alarms there too', () => {
    // Assert
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: { source: ['preflight'], 'detail-type': ['Preflight Check State Changed'] },
      Targets: [Match.objectLike({ Arn: Match.anyValue() })],
    });
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    const alarms = Object.values(resourcesOf(template, 'AWS::CloudWatch::Alarm'));
    expect(alarms.map((a) => a.Properties?.MetricName)).toEqual(
      expect.arrayContaining(['RunsFailed', 'ExecutionsFailed', 'Errors', 'Throttles']),
    );
    for (const a of alarms) expect(a.Properties?.AlarmActions).toEqual([expect.anything()]);
  });
});

describe('the demo (no config)', () => {
  it('builds its own VPC with isolated subnets only, no NAT, flow logs on, and one prober in it', () => {
    // Assert
    demo.template.resourceCountIs('AWS::EC2::VPC', 1);
    demo.template.resourceCountIs('AWS::EC2::NatGateway', 0);
    demo.template.resourceCountIs('AWS::EC2::InternetGateway', 0);
    demo.template.resourceCountIs('AWS::EC2::FlowLog', 1);
    expect(demo.stack.probers.map((p) => p.vantage)).toEqual(['demo']);
    demo.template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('^preflight probe'),
      VpcConfig: { SubnetIds: [Match.anyValue(), Match.anyValue()], SecurityGroupIds: [Match.anyValue()] },
    });
  });

  it('schedules nothing and subscribes nobody', () => {
    demo.template.resourceCountIs('AWS::Scheduler::Schedule', 0);
    demo.template.resourceCountIs('AWS::SNS::Subscription', 0);
  });
});

describe('the example config', () => {
  it("places each vantage's prober in exactly the config's subnets and Security Groups", () => {
    // Act
    const probers = Object.values(resourcesOf(example.template, 'AWS::Lambda::Function')).filter((f) =>
      String(f.Properties?.Description).startsWith('preflight probe'),
    );
    // Assert
    expect(probers).toHaveLength(config.vantages.length);
    for (const v of config.vantages) {
      const prober = probers.find((p) => String(p.Properties?.Description).includes(`vantage ${v.name} `));
      expect(prober?.Properties?.VpcConfig).toEqual({
        SubnetIds: v.subnetIds,
        SecurityGroupIds: v.securityGroupIds,
      });
      expect(
        JSON.parse(
          String(
            (prober?.Properties?.Environment as { Variables: Record<string, string> }).Variables
              .ALLOWED_TARGET_CIDRS,
          ),
        ),
      ).toEqual(config.allowedTargetCidrs);
    }
    example.template.resourceCountIs('AWS::EC2::VPC', 0);
    example.template.resourceCountIs('AWS::EC2::SecurityGroup', 0);
  });

  it('tells the start step which probers are deployed, in which subnets and groups', () => {
    // Act
    const start = Object.values(resourcesOf(example.template, 'AWS::Lambda::Function')).find((f) =>
      String(f.Properties?.Description).startsWith('preflight start'),
    );
    const vantages = JSON.parse(
      String((start?.Properties?.Environment as { Variables: Record<string, string> }).Variables.VANTAGES),
    ) as unknown;
    // Assert
    expect(vantages).toEqual(
      Object.fromEntries(
        config.vantages.map((v) => [
          v.name,
          { subnetIds: v.subnetIds, securityGroupIds: v.securityGroupIds },
        ]),
      ),
    );
  });

  it('has one schedule per scheduled environment, starting the state machine with its name', () => {
    // Act
    const schedules = Object.values(resourcesOf(example.template, 'AWS::Scheduler::Schedule'));
    // Assert
    expect(schedules).toHaveLength(config.schedules.length);
    for (const s of config.schedules) {
      const found = schedules.find(
        (r) =>
          (r.Properties?.Target as { Input: string }).Input === JSON.stringify(scheduleInput(s.environment)),
      );
      expect(found?.Properties).toMatchObject({
        ScheduleExpression: s.expression,
        ...(s.timeZone ? { ScheduleExpressionTimezone: s.timeZone } : {}),
      });
    }
  });

  it('subscribes the notification email to the topic', () => {
    example.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: config.notificationEmail,
    });
  });

  it('is deployed to the account and region of the config', () => {
    expect(example.stack.account).toBe(config.account);
    expect(example.stack.region).toBe(config.region);
  });
});

describe('the deployment config', () => {
  it('names the field and the value of every mistake', () => {
    // Arrange
    const raw = {
      vpc: { vpcId: 'vpc-1', availabilityZones: ['eu-west-1a'] },
      vantages: [
        { name: 'w', subnetIds: ['subnet-0123456789abcdef0'], securityGroupIds: ['sg-12'] },
        { name: 'w', subnetIds: [], securityGroupIds: ['sg-0123456789abcdef0'] },
      ],
      allowedTargetCidrs: ['10.0.0.0/33'],
      schedules: [{ environment: 'wave-1', expression: 'rate(0 hours)' }],
      notificationEmail: 'nobody',
    };
    // Act
    const message = (() => {
      try {
        parseDeployConfig(raw, {}, 'deploy.yaml');
        return '';
      } catch (err) {
        expect(err).toBeInstanceOf(DeployConfigError);
        return (err as Error).message;
      }
    })();
    // Assert
    expect(message).toMatch(/^deploy\.yaml: /);
    expect(message).toContain('vpc.vpcId: "vpc-1" is not a VPC id');
    expect(message).toContain('vantages[0].securityGroupIds[0]: "sg-12" is not a security group id');
    expect(message).toContain('vantages[1].subnetIds');
    expect(message).toContain('vantages[1].name: vantage "w" is named twice');
    expect(message).toContain('allowedTargetCidrs[0]: "10.0.0.0/33" is not a CIDR block');
    expect(message).toContain('schedules[0].expression');
    expect(message).toContain('notificationEmail: "nobody" is not an email address');
  });

  it('takes single settings from context over the file', () => {
    // Act
    const parsed = parseDeployConfig(
      { ...structuredClone(config), stackName: 'FromFile' },
      { region: 'eu-central-1', allowedTargetCidrs: '10.1.0.0/16, 10.2.0.0/16', retentionDays: '30' },
    );
    // Assert
    expect(parsed).toMatchObject({
      stackName: 'FromFile',
      region: 'eu-central-1',
      allowedTargetCidrs: ['10.1.0.0/16', '10.2.0.0/16'],
      retentionDays: 30,
    });
  });
});
