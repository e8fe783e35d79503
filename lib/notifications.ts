import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
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
    for (const service of ['events.amazonaws.com', 'cloudwatch.amazonaws.com']) {
      key.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: `Publish-${service.split('.')[0]}`,
          principals: [new iam.ServicePrincipal(service)],
          actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          resources: ['*'],
        }),
      );
    }
    this.topic = new sns.Topic(this, 'Topic', {
      displayName: 'preflight',
      masterKey: key,
      enforceSSL: true,
    });
    if (props.email) this.topic.addSubscription(new subscriptions.EmailSubscription(props.email));
    this.rule = new events.Rule(this, 'StateChanged', {
      eventBus: this.bus,
      description: 'preflight: a flow verdict changed between two runs',
      eventPattern: { source: [EVENT_SOURCE], detailType: [STATE_CHANGED] },
      targets: [
        new eventTargets.SnsTopic(this.topic, {
          message: events.RuleTargetInput.fromText(
            `preflight: ${events.EventField.fromPath('$.detail.environmentName')} flow ${events.EventField.fromPath('$.detail.flowId')} changed from ${events.EventField.fromPath('$.detail.from')} to ${events.EventField.fromPath('$.detail.to')} in check ${events.EventField.fromPath('$.detail.checkId')}: ${events.EventField.fromPath('$.detail.cause')}`,
          ),
        }),
      ],
    });
  }
}
