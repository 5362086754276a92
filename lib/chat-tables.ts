import { RemovalPolicy } from 'aws-cdk-lib';
import {
  type Attribute,
  AttributeType,
  BillingMode,
  ProjectionType,
  Table,
  TableEncryption,
} from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { type KeyDefinition, TABLES, type TableDefinition, type TableName } from '../shared/tables';
import { DEFAULT_TABLE_THROUGHPUT, type TableThroughputCap } from './capacity';

export interface ChatTablesProps {
  /**
   * What happens to the tables (and the messages in them) when they leave the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * On-demand throughput cap per table, applied to the table and to each of its indexes.
   * @default DEFAULT_TABLE_THROUGHPUT (lib/capacity.ts) for every table
   */
  readonly throughput?: Partial<Record<TableName, TableThroughputCap>>;
}

/**
 * One DynamoDB table per entry of TABLES in shared/tables.ts. Keys, indexes and TTL come from that data,
 * which the local runtime also uses, so the deployed and local key design cannot drift apart.
 * Every table is on-demand with a throughput cap (so a runaway cannot buy unbounded capacity), encrypted
 * with the AWS-managed key and has point-in-time recovery.
 */
export class ChatTables extends Construct {
  readonly tables: Record<TableName, Table>;

  constructor(scope: Construct, id: string, props: ChatTablesProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const entries = Object.entries(TABLES) as [TableName, TableDefinition][];
    this.tables = Object.fromEntries(
      entries.map(([name, definition]) => [
        name,
        this.createTable(
          name,
          definition,
          removalPolicy,
          props.throughput?.[name] ?? DEFAULT_TABLE_THROUGHPUT,
        ),
      ]),
    ) as Record<TableName, Table>;
  }

  /** The tables as a list, for code that treats them all alike (alarms, outputs). */
  get all(): [TableName, Table][] {
    return Object.entries(this.tables) as [TableName, Table][];
  }

  private createTable(
    name: TableName,
    definition: TableDefinition,
    removalPolicy: RemovalPolicy,
    cap: TableThroughputCap,
  ): Table {
    const table = new Table(this, constructId(name), {
      partitionKey: toAttribute(definition.partitionKey),
      sortKey: definition.sortKey && toAttribute(definition.sortKey),
      timeToLiveAttribute: definition.timeToLiveAttribute,
      billingMode: BillingMode.PAY_PER_REQUEST,
      maxReadRequestUnits: cap.maxReadRequestUnits,
      maxWriteRequestUnits: cap.maxWriteRequestUnits,
      encryption: TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy,
    });
    for (const index of definition.globalSecondaryIndexes ?? []) {
      table.addGlobalSecondaryIndex({
        indexName: index.indexName,
        partitionKey: toAttribute(index.partitionKey),
        sortKey: index.sortKey && toAttribute(index.sortKey),
        projectionType: ProjectionType[index.projection],
        maxReadRequestUnits: cap.maxReadRequestUnits,
        maxWriteRequestUnits: cap.maxWriteRequestUnits,
        ...(index.nonKeyAttributes === undefined ? {} : { nonKeyAttributes: index.nonKeyAttributes }),
      });
    }
    return table;
  }
}

function toAttribute(key: KeyDefinition): Attribute {
  return { name: key.name, type: key.type === 'S' ? AttributeType.STRING : AttributeType.NUMBER };
}

/** `connections` → `Connections`, the construct id (and logical id prefix) of that table. */
export function constructId(name: string): string {
  return `${name.charAt(0).toUpperCase()}${name.slice(1)}`;
}
