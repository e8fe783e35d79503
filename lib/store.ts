import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { TABLE_DEFINITION, TTL_ATTRIBUTE } from '../lambdas/aws/dynamo-store';

/** Props of {@link ResultsTable}. */
export interface ResultsTableProps {
  /**
   * What happens to the table when the stack is deleted or the construct removed.
   * @default RemovalPolicy.RETAIN - the history of checks outlives the stack
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Whether DynamoDB refuses to delete the table.
   * @default true
   */
  readonly deletionProtection?: boolean;
}

const attribute = (name: string): dynamodb.Attribute => ({ name, type: dynamodb.AttributeType.STRING });

/**
 * The results store: the single table the runtime's `DynamoResultStore` reads and writes, with the same
 * keys and indexes (taken from its `TABLE_DEFINITION`, so the two cannot drift), on-demand billing,
 * point-in-time recovery, encryption at rest, the `expiresAt` TTL for retention, deletion protection and
 * a RETAIN policy.
 */
export class ResultsTable extends Construct {
  /** The table; grant access with `table.grantReadData(fn)` / `grantReadWriteData(fn)`. */
  readonly table: dynamodb.TableV2;

  constructor(scope: Construct, id: string, props: ResultsTableProps = {}) {
    super(scope, id);
    const [hash, range] = TABLE_DEFINITION.KeySchema ?? [];
    this.table = new dynamodb.TableV2(this, 'Table', {
      partitionKey: attribute(hash?.AttributeName ?? 'PK'),
      ...(range?.AttributeName ? { sortKey: attribute(range.AttributeName) } : {}),
      billing: dynamodb.Billing.onDemand(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryptionV2.awsManagedKey(),
      timeToLiveAttribute: TTL_ATTRIBUTE,
      deletionProtection: props.deletionProtection ?? true,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      globalSecondaryIndexes: (TABLE_DEFINITION.GlobalSecondaryIndexes ?? []).map((index) => {
        const [gsiHash, gsiRange] = index.KeySchema ?? [];
        return {
          indexName: index.IndexName ?? '',
          partitionKey: attribute(gsiHash?.AttributeName ?? ''),
          ...(gsiRange?.AttributeName ? { sortKey: attribute(gsiRange.AttributeName) } : {}),
          projectionType: dynamodb.ProjectionType.ALL,
        };
      }),
    });
  }
}
