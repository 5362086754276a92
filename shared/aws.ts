/**
 * SDK clients, created once per Lambda container. Endpoints come from the SDK's own configuration
 * (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_SQS, ...), so the same code talks to
 * AWS, LocalStack or the local runtime without knowing which.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { requireEnv } from './env';
import { TABLE_ENV, type TableName, type TableNames } from './tables';

export function createDocumentClient(): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(new DynamoDBClient({}), {
    marshallOptions: { removeUndefinedValues: true },
  });
}

export function createSqsClient(): SQSClient {
  return new SQSClient({});
}

/** Reads the physical names of the given tables from the environment; fails naming a missing variable. */
export function tableNamesFromEnv<T extends TableName>(
  names: readonly T[],
  env: NodeJS.ProcessEnv = process.env,
): Pick<TableNames, T> {
  const result = {} as Pick<TableNames, T>;
  for (const name of names) result[name] = requireEnv(TABLE_ENV[name], env);
  return result;
}
