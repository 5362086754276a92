/**
 * Creates the local tables and queues from the same data the CDK stack is built from: tables from
 * TABLES in shared/tables.ts, the fan-out and shard queue pairs with the settings lib/wiring.ts derives. A table,
 * index or TTL added there appears locally with no second edit.
 */
import {
  type AttributeDefinition,
  CreateTableCommand,
  type CreateTableCommandInput,
  type DynamoDBClient,
  type KeySchemaElement,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import {
  FANOUT_QUEUE,
  fanoutVisibilityTimeoutSeconds,
  SHARD_QUEUE,
  shardVisibilityTimeoutSeconds,
} from '../lib/wiring';
import {
  type KeyDefinition,
  TABLES,
  type TableDefinition,
  type TableName,
  type TableNames,
} from '../shared/tables';

function keySchema(partitionKey: KeyDefinition, sortKey: KeyDefinition | undefined): KeySchemaElement[] {
  const schema: KeySchemaElement[] = [{ AttributeName: partitionKey.name, KeyType: 'HASH' }];
  if (sortKey) schema.push({ AttributeName: sortKey.name, KeyType: 'RANGE' });
  return schema;
}

/** Every key attribute of the table and its indexes, once each (DynamoDB rejects duplicates and extras). */
function attributeDefinitions(definition: TableDefinition): AttributeDefinition[] {
  const keys: (KeyDefinition | undefined)[] = [definition.partitionKey, definition.sortKey];
  for (const index of definition.globalSecondaryIndexes ?? []) keys.push(index.partitionKey, index.sortKey);
  const byName = new Map<string, AttributeDefinition>();
  for (const key of keys) {
    if (key && !byName.has(key.name))
      byName.set(key.name, { AttributeName: key.name, AttributeType: key.type });
  }
  return [...byName.values()];
}

/** The CreateTable request for one entry of TABLES: on-demand, like the deployed tables. */
export function createTableInput(tableName: string, definition: TableDefinition): CreateTableCommandInput {
  const indexes = definition.globalSecondaryIndexes ?? [];
  return {
    TableName: tableName,
    AttributeDefinitions: attributeDefinitions(definition),
    KeySchema: keySchema(definition.partitionKey, definition.sortKey),
    BillingMode: 'PAY_PER_REQUEST',
    GlobalSecondaryIndexes:
      indexes.length === 0
        ? undefined
        : indexes.map((index) => ({
            IndexName: index.indexName,
            KeySchema: keySchema(index.partitionKey, index.sortKey),
            Projection: {
              ProjectionType: index.projection,
              ...(index.nonKeyAttributes === undefined ? {} : { NonKeyAttributes: index.nonKeyAttributes }),
            },
          })),
  };
}

/**
 * Creates one table per entry of TABLES, named `${prefix}-${name}`, with its indexes and TTL.
 * @returns the physical table names, as handlers receive them through the environment.
 */
export async function createTables(ddb: DynamoDBClient, prefix: string): Promise<TableNames> {
  const entries = Object.entries(TABLES) as [TableName, TableDefinition][];
  const names = Object.fromEntries(entries.map(([name]) => [name, `${prefix}-${name}`])) as TableNames;
  await Promise.all(
    entries.map(async ([name, definition]) => {
      await ddb.send(new CreateTableCommand(createTableInput(names[name], definition)));
      if (definition.timeToLiveAttribute !== undefined) {
        await ddb.send(
          new UpdateTimeToLiveCommand({
            TableName: names[name],
            TimeToLiveSpecification: { AttributeName: definition.timeToLiveAttribute, Enabled: true },
          }),
        );
      }
    }),
  );
  return names;
}

export interface QueueSettings {
  /** Receives of one message before it moves to the dead-letter queue. */
  maxReceiveCount: number;
  visibilityTimeoutSeconds: number;
}

export interface LocalQueue {
  url: string;
  arn: string;
}

/** The longest retention SQS allows, as the stack gives the dead-letter queue. */
const DEAD_LETTER_RETENTION_SECONDS = 14 * 24 * 60 * 60;

async function queueArn(sqs: SQSClient, url: string): Promise<string> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
  );
  const arn = Attributes?.QueueArn;
  if (arn === undefined) throw new Error(`The SQS emulator returned no QueueArn for ${url}`);
  return arn;
}

async function createQueue(
  sqs: SQSClient,
  name: string,
  attributes: Record<string, string>,
): Promise<LocalQueue> {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  if (QueueUrl === undefined) throw new Error(`The SQS emulator returned no URL for queue ${name}`);
  return { url: QueueUrl, arn: await queueArn(sqs, QueueUrl) };
}

/** The deployed defaults from lib/wiring.ts. */
export function defaultQueueSettings(): QueueSettings {
  return {
    maxReceiveCount: FANOUT_QUEUE.defaultMaxReceiveCount,
    visibilityTimeoutSeconds: fanoutVisibilityTimeoutSeconds(),
  };
}

/**
 * Creates a FIFO dead-letter queue, then the FIFO queue that redrives into it, with the attributes
 * lib/fanout-queues.ts gives each deployed pair (explicit deduplication ids, per-group throughput, the
 * visibility timeout and maxReceiveCount passed in).
 */
async function createFifoPair(
  sqs: SQSClient,
  names: { queue: string; deadLetter: string },
  settings: QueueSettings,
): Promise<{ queue: LocalQueue; deadLetter: LocalQueue }> {
  const deadLetter = await createQueue(sqs, names.deadLetter, {
    FifoQueue: 'true',
    ContentBasedDeduplication: 'false',
    MessageRetentionPeriod: String(DEAD_LETTER_RETENTION_SECONDS),
  });
  const queue = await createQueue(sqs, names.queue, {
    FifoQueue: 'true',
    ContentBasedDeduplication: 'false',
    DeduplicationScope: 'messageGroup',
    FifoThroughputLimit: 'perMessageGroupId',
    VisibilityTimeout: String(settings.visibilityTimeoutSeconds),
    RedrivePolicy: JSON.stringify({
      deadLetterTargetArn: deadLetter.arn,
      maxReceiveCount: settings.maxReceiveCount,
    }),
  });
  return { queue, deadLetter };
}

/**
 * Creates the fan-out queue pair (see createFifoPair).
 * @param settings @default defaultQueueSettings()
 */
export async function createQueues(
  sqs: SQSClient,
  prefix: string,
  settings: QueueSettings = defaultQueueSettings(),
): Promise<{ fanout: LocalQueue; deadLetter: LocalQueue }> {
  const { queue, deadLetter } = await createFifoPair(
    sqs,
    { queue: `${prefix}-fanout.fifo`, deadLetter: `${prefix}-dead-letter.fifo` },
    settings,
  );
  return { fanout: queue, deadLetter };
}

/**
 * Creates the shard queue pair of big conversations' shard jobs (see createFifoPair), with lib/wiring.ts's
 * visibility timeout and maxReceiveCount unless `settings` says otherwise.
 */
export async function createShardQueues(
  sqs: SQSClient,
  prefix: string,
  settings: QueueSettings = {
    maxReceiveCount: SHARD_QUEUE.defaultMaxReceiveCount,
    visibilityTimeoutSeconds: shardVisibilityTimeoutSeconds(),
  },
): Promise<{ shards: LocalQueue; shardDeadLetter: LocalQueue }> {
  const { queue, deadLetter } = await createFifoPair(
    sqs,
    { queue: `${prefix}-shards.fifo`, deadLetter: `${prefix}-shard-dead-letter.fifo` },
    settings,
  );
  return { shards: queue, shardDeadLetter: deadLetter };
}

/**
 * Creates the attachments bucket. fauxqs accepts any PUT a presigned URL sends (it checks no signature
 * and no encryption settings), so locally the size and type limits hold where the URL is asked for; on
 * AWS the signed headers hold them at upload too. fauxqs keeps no CORS rule: local/s3-cors.ts answers
 * for the bucket's.
 */
export async function createAttachmentsBucket(s3: S3Client, prefix: string): Promise<string> {
  const bucket = `${prefix}-attachments`;
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}
