import { ArnFormat, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { EVENT_SOURCE, STATE_CHANGED } from '../lambdas/core/run/steps';

/** Props of {@link Notifications}. */
export interface NotificationsProps {
  /** Subscribed to the topic (AWS sends a confirmation mail first). @default - no subscription */
  readonly email?: string;
}

/**
 * Where changes go: the service's event bus carries one "Preflight Check State Changed" event per flow whose
 * verdict changed; a rule sends them, as a readable line, to an SNS topic (encrypted with a key of its own that
 * EventBridge and CloudWatch alarms may use; TLS required), with an email subscription from the config. The
 * alarms publish to the same topic.
 */
export class Notifications extends Construct {
  readonly bus: events.EventBus;
  readonly topic: sns.Topic;
  readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: NotificationsProps = {}) {
    super(scope, id);
    this.bus = new events.EventBus(this, 'Bus', { description: 'preflight: check state changes' });
    const key = new kms.Key(this, 'TopicKey', {
      description: 'preflight: encrypts the notification topic',
      enableKeyRotation: true,
    });
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'preflight',
      masterKey: key,
      enforceSSL: true,
    });
    if (props.email) this.topic.addSubscription(new subscriptions.EmailSubscription(props.email));

    // Who may publish, and use the key to: EventBridge for the rules on this service's bus and CloudWatch for
    // this account's alarms, each only on behalf of this account and of those sources (aws:SourceAccount,
    // aws:SourceArn), so no other account's rule or alarm can use the topic through the service principals.
    // The key policy cannot name the rule's own ARN (the rule targets the topic, which the key encrypts: a
    // cycle), so it names the rules of this bus; the topic policy names the rule exactly.
    const stack = Stack.of(this);
    const account = stack.account;
    const busRules = stack.formatArn({
      service: 'events',
      resource: 'rule',
      resourceName: `${this.bus.eventBusName}/*`,
    });
    const alarms = stack.formatArn({
      service: 'cloudwatch',
      resource: 'alarm',
      resourceName: '*',
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    const publishers = [
      {
        sid: 'EventBridgeRules',
        service: 'events.amazonaws.com',
        keySource: busRules,
        topicSource: () => this.rule.ruleArn,
      },
      {
        sid: 'CloudWatchAlarms',
        service: 'cloudwatch.amazonaws.com',
        keySource: alarms,
        topicSource: () => alarms,
      },
    ];
    for (const p of publishers) {
      key.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: `Publish${p.sid}`,
          principals: [new iam.ServicePrincipal(p.service)],
          actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          resources: ['*'],
          conditions: {
            StringEquals: { 'aws:SourceAccount': account },
            ArnLike: { 'aws:SourceArn': p.keySource },
          },
        }),
      );
    }

    this.rule = new events.Rule(this, 'StateChanged', {
      eventBus: this.bus,
      description: 'preflight: a flow verdict changed between two runs',
      eventPattern: { source: [EVENT_SOURCE], detailType: [STATE_CHANGED] },
    });
    // A target of our own: the library's SnsTopic target grants events.amazonaws.com on the topic and the key
    // without any condition (and a second time on the key); the grants above and below replace those.
    const message = events.RuleTargetInput.fromText(
      `preflight: ${events.EventField.fromPath('$.detail.environmentName')} flow ${events.EventField.fromPath('$.detail.flowId')} changed from ${events.EventField.fromPath('$.detail.from')} to ${events.EventField.fromPath('$.detail.to')} in check ${events.EventField.fromPath('$.detail.checkId')}: ${events.EventField.fromPath('$.detail.cause')}`,
    );
    this.rule.addTarget({ bind: () => ({ arn: this.topic.topicArn, input: message }) });
    for (const p of publishers) {
      this.topic.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: `Publish${p.sid}`,
          principals: [new iam.ServicePrincipal(p.service)],
          actions: ['sns:Publish'],
          resources: [this.topic.topicArn],
          conditions: {
            StringEquals: { 'aws:SourceAccount': account },
            ArnLike: { 'aws:SourceArn': p.topicSource() },
          },
        }),
      );
    }
  }
}
