import type { Template } from 'aws-cdk-lib/assertions';
import { scheduleInput } from '../../lambdas/core/run/identity';
import { SCHEDULE_ACTIONS } from '../../lib/schedules';
import { exampleConfig, synthStack } from './support';

// Every run is closed (the execution status rule → the failure step) and environment schedules in AWS (the
// scheduler role, the API's rights on its schedule group): what the template says, for the demo and the example
// config. cdk-nag over the same stacks is in nag.test.ts.

type Resource = { Type: string; Properties: Record<string, unknown> };
interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

const resources = (template: Template, type: string): Array<[string, Resource]> =>
  Object.entries(template.findResources(type) as Record<string, Resource>);

const only = <T>(items: T[], what: string): T => {
  if (items.length !== 1) throw new Error(`expected one ${what}, found ${items.length}`);
  return items[0] as T;
};

/** Every statement of the policies attached to the role with logical id `role`. */
function statementsOf(template: Template, role: string): Statement[] {
  return resources(template, 'AWS::IAM::Policy')
    .filter(([, p]) => (p.Properties.Roles as Array<{ Ref: string }>).some((r) => r.Ref === role))
    .flatMap(([, p]) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}

const actionsOf = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);

/** The function whose description starts with `prefix`: its logical id, role and environment. */
function functionOf(template: Template, prefix: string) {
  const [id, fn] = only(
    resources(template, 'AWS::Lambda::Function').filter(([, f]) =>
      String(f.Properties.Description).startsWith(`preflight ${prefix}`),
    ),
    `function described "${prefix}"`,
  );
  return {
    id,
    role: (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0],
    variables: (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables,
  };
}

const groupId = (template: Template, name: 'Group' | 'EnvironmentGroup') =>
  only(
    resources(template, 'AWS::Scheduler::ScheduleGroup').filter(([id]) => id.startsWith(`Schedules${name}`)),
    `schedule group ${name}`,
  );

describe.each([
  ['the demo', () => synthStack()],
  ['the example config', () => synthStack(exampleConfig())],
])('%s', (_name, build) => {
  const { template } = build();
  const machine = only(
    resources(template, 'AWS::StepFunctions::StateMachine').map(([id]) => id),
    'state machine',
  );
  const fail = functionOf(template, 'fail:');
  const api = functionOf(template, 'api:');
  const [envGroupId, envGroup] = groupId(template, 'EnvironmentGroup');
  const [configGroupId] = groupId(template, 'Group');
  const schedulerRole = only(
    resources(template, 'AWS::IAM::Role')
      .filter(([, r]) =>
        JSON.stringify(r.Properties.AssumeRolePolicyDocument).includes('scheduler.amazonaws.com'),
      )
      .map(([id]) => id),
    'scheduler role',
  );

  it('sends executions of the state machine that end FAILED, TIMED_OUT or ABORTED to the failure step', () => {
    // Act
    const rules = resources(template, 'AWS::Events::Rule').filter(([, r]) =>
      JSON.stringify(r.Properties.EventPattern).includes('aws.states'),
    );
    const [, rule] = only(rules, 'execution status rule');

    // Assert
    expect(rule.Properties.EventBusName).toBeUndefined(); // the default bus, where Step Functions sends them
    expect(rule.Properties.EventPattern).toEqual({
      source: ['aws.states'],
      'detail-type': ['Step Functions Execution Status Change'],
      detail: { stateMachineArn: [{ Ref: machine }], status: ['FAILED', 'TIMED_OUT', 'ABORTED'] },
    });
    const target = only(rule.Properties.Targets as Array<Record<string, unknown>>, 'target');
    expect(target.Arn).toEqual({ 'Fn::GetAtt': [fail.id, 'Arn'] });
    expect(target.Input ?? target.InputTransformer ?? target.InputPath).toBeUndefined(); // the whole event
    expect(target.RetryPolicy).toEqual({ MaximumEventAgeInSeconds: 86400, MaximumRetryAttempts: 8 });
    expect(target.DeadLetterConfig).toEqual({ Arn: { 'Fn::GetAtt': [expect.any(String), 'Arn'] } });
    const permission = resources(template, 'AWS::Lambda::Permission').filter(([, p]) =>
      JSON.stringify(p.Properties.FunctionName).includes(fail.id),
    );
    expect(permission.map(([, p]) => p.Properties.Principal)).toEqual(['events.amazonaws.com']);
  });

  it('alarms on status events that could not be delivered', () => {
    // Act
    const alarms = resources(template, 'AWS::CloudWatch::Alarm').filter(
      ([, a]) => a.Properties.Namespace === 'AWS/SQS',
    );
    // Assert
    expect(only(alarms, 'dead-letter alarm')[1].Properties).toMatchObject({
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Threshold: 1,
      AlarmActions: [{ Ref: expect.stringMatching(/^NotificationsTopic/) }],
    });
  });

  it("has a scheduler role that only Scheduler, for the stack's own groups, may assume and that may only start the state machine", () => {
    // Act
    const [, role] = only(
      resources(template, 'AWS::IAM::Role').filter(([id]) => id === schedulerRole),
      'role',
    );
    const statements = statementsOf(template, schedulerRole);

    // Assert
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    expect((role.Properties.AssumeRolePolicyDocument as { Statement: Statement[] }).Statement).toEqual([
      {
        Action: 'sts:AssumeRole',
        Effect: 'Allow',
        Principal: { Service: 'scheduler.amazonaws.com' },
        Condition: {
          StringEquals: {
            'aws:SourceAccount': expect.anything(),
            'aws:SourceArn': [
              { 'Fn::GetAtt': [configGroupId, 'Arn'] },
              { 'Fn::GetAtt': [envGroupId, 'Arn'] },
            ],
          },
        },
      },
    ]);
    expect(statements).toEqual([
      { Action: 'states:StartExecution', Effect: 'Allow', Resource: { Ref: machine } },
    ]);
  });

  it('lets the API manage schedules of its own group only, and pass the scheduler role only to Scheduler', () => {
    // Act
    const statements = statementsOf(template, api.role);
    const scheduling = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('scheduler:')));
    const passing = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('iam:')));

    // Assert
    const groupName = envGroup.Properties.Name as string;
    expect(scheduling).toHaveLength(1);
    expect(actionsOf(scheduling[0]!).sort()).toEqual([...SCHEDULE_ACTIONS].sort());
    expect(JSON.stringify(scheduling[0]!.Resource)).toContain(`:schedule/${groupName}/*`);
    expect(JSON.stringify(scheduling[0]!.Resource)).not.toContain('schedule-group');
    expect(passing).toEqual([
      {
        Action: 'iam:PassRole',
        Effect: 'Allow',
        Resource: { 'Fn::GetAtt': [schedulerRole, 'Arn'] },
        Condition: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
      },
    ]);
    expect(api.variables).toMatchObject({
      SCHEDULE_GROUP: groupName,
      SCHEDULER_ROLE_ARN: { 'Fn::GetAtt': [schedulerRole, 'Arn'] },
    });
    // No other function may touch schedules or pass roles.
    for (const [, fn] of resources(template, 'AWS::Lambda::Function')) {
      const role = (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
      if (role === api.role) continue;
      const theirs = statementsOf(template, role).flatMap(actionsOf);
      expect(theirs.filter((a) => a.startsWith('scheduler:') || a === 'iam:PassRole')).toEqual([]);
    }
  });

  it("starts the config's schedules with the same role and with the invocation Scheduler fills in", () => {
    // Act
    const schedules = resources(template, 'AWS::Scheduler::Schedule');
    // Assert
    for (const [, s] of schedules) {
      const target = s.Properties.Target as { RoleArn: unknown; Input: string; Arn: unknown };
      expect(target.RoleArn).toEqual({ 'Fn::GetAtt': [schedulerRole, 'Arn'] });
      expect(target.Arn).toEqual({ Ref: machine });
      const input = JSON.parse(target.Input) as { environmentName: string };
      expect(input).toEqual(scheduleInput(input.environmentName));
    }
  });
});
