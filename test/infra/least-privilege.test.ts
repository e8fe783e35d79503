import type { Template } from 'aws-cdk-lib/assertions';
import { TABLE_ACCESS } from '../../lib/function';
import { synthStack } from './support';

// Issue 11 item 10: least privilege on the table, and the SNS topic and KMS key policies conditioned on who
// publishes on whose behalf.

type Resources = Record<string, { Type: string; Properties?: Record<string, unknown> }>;
interface Statement {
  Sid?: string;
  Effect: string;
  Principal?: unknown;
  Action: string | string[];
  Condition?: Record<string, Record<string, unknown>>;
}

const { template } = synthStack();
const resourcesOf = (t: Template, type: string): Resources => t.findResources(type) as Resources;
const list = (v: string | string[]) => (Array.isArray(v) ? v : [v]);

/** The DynamoDB actions granted to the role of the function whose description starts with `prefix`. */
function tableActionsOf(prefix: string): string[] {
  const fn = Object.values(resourcesOf(template, 'AWS::Lambda::Function')).find((f) =>
    String(f.Properties?.Description).startsWith(prefix),
  );
  if (!fn) throw new Error(`no function described ${prefix}`);
  const role = (fn.Properties?.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
  return Object.values(resourcesOf(template, 'AWS::IAM::Policy'))
    .filter((p) => (p.Properties?.Roles as Array<{ Ref: string }>).some((r) => r.Ref === role))
    .flatMap((p) => (p.Properties?.PolicyDocument as { Statement: Statement[] }).Statement)
    .flatMap((s) => list(s.Action))
    .filter((a) => a.startsWith('dynamodb:'))
    .sort();
}

describe('table access per function', () => {
  it.each([
    ['api', 'preflight api:'],
    ['start', 'preflight start:'],
    ['finish', 'preflight finish:'],
    ['fail', 'preflight fail:'],
  ] as const)('grants %s exactly the actions its code sends', (fn, description) => {
    expect(tableActionsOf(description)).toEqual([...TABLE_ACCESS[fn]].sort());
  });

  it('grants no role a Scan, a stream read or DescribeTable', () => {
    const all = Object.values(resourcesOf(template, 'AWS::IAM::Policy')).flatMap((p) =>
      (p.Properties?.PolicyDocument as { Statement: Statement[] }).Statement.flatMap((s) => list(s.Action)),
    );
    for (const action of [
      'dynamodb:Scan',
      'dynamodb:GetRecords',
      'dynamodb:GetShardIterator',
      'dynamodb:DescribeStream',
      'dynamodb:ListStreams',
      'dynamodb:DescribeTable',
      'dynamodb:BatchGetItem',
      'dynamodb:ConditionCheckItem',
    ]) {
      expect(all).not.toContain(action);
    }
  });
});

describe('the notification topic and its key', () => {
  const statements = (): Array<{ where: string; s: Statement }> => [
    ...Object.values(resourcesOf(template, 'AWS::SNS::TopicPolicy')).flatMap((p) =>
      (p.Properties?.PolicyDocument as { Statement: Statement[] }).Statement.map((s) => ({
        where: 'topic',
        s,
      })),
    ),
    ...Object.values(resourcesOf(template, 'AWS::KMS::Key')).flatMap((k) =>
      (k.Properties?.KeyPolicy as { Statement: Statement[] }).Statement.map((s) => ({ where: 'key', s })),
    ),
  ];
  const service = (s: Statement) => (s.Principal as { Service?: string } | undefined)?.Service;

  it('lets the services publish only for this account and for its own rule and alarms', () => {
    // Arrange
    const granted = statements().filter(({ s }) => s.Effect === 'Allow' && service(s) !== undefined);
    // Assert: EventBridge and CloudWatch, on the topic and on the key, each with both conditions
    expect(granted.map(({ where, s }) => `${where} ${service(s)}`).sort()).toEqual([
      'key cloudwatch.amazonaws.com',
      'key events.amazonaws.com',
      'topic cloudwatch.amazonaws.com',
      'topic events.amazonaws.com',
    ]);
    for (const { s } of granted) {
      expect(s.Condition?.StringEquals?.['aws:SourceAccount']).toEqual({ Ref: 'AWS::AccountId' });
      const sourceArn = s.Condition?.ArnLike?.['aws:SourceArn'] ?? s.Condition?.ArnEquals?.['aws:SourceArn'];
      expect(sourceArn).toBeDefined();
    }
    // The topic names its rule exactly
    const topicEvents = granted.find(
      ({ where, s }) => where === 'topic' && service(s) === 'events.amazonaws.com',
    );
    expect(topicEvents?.s.Condition?.ArnLike?.['aws:SourceArn']).toEqual({
      'Fn::GetAtt': [expect.stringMatching(/^NotificationsStateChanged/), 'Arn'],
    });
  });

  it('has no statement twice', () => {
    const seen = statements().map(({ where, s }) =>
      JSON.stringify([where, s.Effect, s.Principal, list(s.Action).sort(), s.Condition ?? null]),
    );
    expect(new Set(seen).size).toBe(seen.length);
  });
});
