/** The AWS clients of the handlers, created once per container and traced. */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoResultStore } from '../aws/dynamo-store';
import { DynamoRunData } from '../aws/dynamo-run-data';
import { tracer } from './observability';

/** The results store on the table the CDK app names, and the document client behind it. */
export function resultStore(settings: { TABLE_NAME: string; RETENTION_DAYS: number }): {
  store: DynamoResultStore;
  client: DynamoDBDocumentClient;
} {
  const client = DynamoDBDocumentClient.from(tracer.captureAWSv3Client(new DynamoDBClient({})), {
    marshallOptions: { removeUndefinedValues: true },
  });
  const store = new DynamoResultStore(client, {
    tableName: settings.TABLE_NAME,
    retentionDays: settings.RETENTION_DAYS,
  });
  return { store, client };
}

/** A run's data between its steps (plan, shards, shard outcomes, audit) in the same table. */
export function runData(
  settings: { TABLE_NAME: string; RETENTION_DAYS: number },
  client: DynamoDBDocumentClient,
): DynamoRunData {
  return new DynamoRunData(client, {
    tableName: settings.TABLE_NAME,
    retentionDays: settings.RETENTION_DAYS,
  });
}
