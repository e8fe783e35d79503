import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { TABLE_DEFINITION } from '../../lambdas/aws/dynamo-store';
import { PreflightStack } from '../../lib/preflight-stack';
import { ResultsTable } from '../../lib/store';

const templateOf = (build: (stack: Stack) => void) => {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Test');
  build(stack);
  return Template.fromStack(stack);
};

describe('the results table', () => {
  it('is the table the runtime store expects: same keys and indexes, TTL on expiresAt', () => {
    // Act
    const template = templateOf((stack) => new ResultsTable(stack, 'Results'));
    // Assert
    template.resourceCountIs('AWS::DynamoDB::GlobalTable', 1);
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      KeySchema: TABLE_DEFINITION.KeySchema,
      BillingMode: 'PAY_PER_REQUEST',
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      GlobalSecondaryIndexes: (TABLE_DEFINITION.GlobalSecondaryIndexes ?? []).map((index) => ({
        IndexName: index.IndexName,
        KeySchema: index.KeySchema,
        Projection: { ProjectionType: 'ALL' },
      })),
    });
  });

  it('keeps the history safe: point-in-time recovery, encryption, deletion protection and RETAIN', () => {
    // Act
    const template = templateOf((stack) => new ResultsTable(stack, 'Results'));
    // Assert
    template.hasResource('AWS::DynamoDB::GlobalTable', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: Match.objectLike({
        SSESpecification: { SSEEnabled: true },
        Replicas: [
          Match.objectLike({
            PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
            DeletionProtectionEnabled: true,
          }),
        ],
      }),
    });
  });

  it('lets a test stack opt out of protection explicitly', () => {
    // Act
    const template = templateOf(
      (stack) =>
        new ResultsTable(stack, 'Results', {
          removalPolicy: RemovalPolicy.DESTROY,
          deletionProtection: false,
        }),
    );
    // Assert
    template.hasResource('AWS::DynamoDB::GlobalTable', { DeletionPolicy: 'Delete' });
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      Replicas: [Match.objectLike({ DeletionProtectionEnabled: false })],
    });
  });

  it('is part of the preflight stack', () => {
    // Act
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const template = Template.fromStack(new PreflightStack(app, 'Preflight'));
    // Assert
    template.resourceCountIs('AWS::DynamoDB::GlobalTable', 1);
  });
});
