/**
 * The bench's one price table, and the arithmetic that turns counted usage into dollars. us-east-1 list
 * prices, on demand, first tier, no free tier; each says where it comes from and when it was read, so a
 * stale one is easy to spot and change here.
 */

/** One list price: dollars per `unit`. */
export interface Price {
  dollars: number;
  unit: string;
  source: string;
  /** When the price was read from its source (it may have held long before). */
  asOf: string;
}

export const PRICES = {
  apiGatewayMessage: {
    dollars: 1.0 / 1e6,
    unit: 'WebSocket message (32 KB unit), either direction, first billion a month',
    source: 'Amazon API Gateway pricing, WebSocket APIs',
    asOf: '2025-06',
  },
  lambdaRequest: {
    dollars: 0.2 / 1e6,
    unit: 'Lambda request',
    source: 'AWS Lambda pricing',
    asOf: '2025-06',
  },
  lambdaGbSecond: {
    dollars: 0.0000133334,
    unit: 'GB-second on arm64, first 7.5 billion a month',
    source: 'AWS Lambda pricing',
    asOf: '2025-06',
  },
  dynamoWriteUnit: {
    dollars: 0.625 / 1e6,
    unit: 'DynamoDB on-demand write request unit',
    source: 'Amazon DynamoDB pricing, on-demand (after the November 2024 cut)',
    asOf: '2025-06',
  },
  dynamoReadUnit: {
    dollars: 0.125 / 1e6,
    unit: 'DynamoDB on-demand read request unit',
    source: 'Amazon DynamoDB pricing, on-demand (after the November 2024 cut)',
    asOf: '2025-06',
  },
  sqsFifoRequest: {
    dollars: 0.5 / 1e6,
    unit: 'SQS FIFO request (64 KB unit)',
    source: 'Amazon SQS pricing',
    asOf: '2025-06',
  },
  logIngestionGb: {
    dollars: 0.5,
    unit: 'GB of CloudWatch Logs ingested (Standard class)',
    source: 'Amazon CloudWatch pricing, Logs',
    asOf: '2025-06',
  },
  eventBridgeEvent: {
    dollars: 1.0 / 1e6,
    unit: 'EventBridge custom event (64 KB unit)',
    source: 'Amazon EventBridge pricing',
    asOf: '2025-06',
  },
  s3ReadRequest: {
    dollars: 0.4 / 1e6,
    unit: 'S3 Standard GET or HEAD request',
    source: 'Amazon S3 pricing, requests',
    asOf: '2025-06',
  },
  s3WriteRequest: {
    dollars: 5.0 / 1e6,
    unit: 'S3 Standard PUT, COPY, POST or LIST request',
    source: 'Amazon S3 pricing, requests',
    asOf: '2025-06',
  },
} as const satisfies Record<string, Price>;

/** API Gateway bills a WebSocket message in units of 32 KB. */
export const API_GATEWAY_UNIT_BYTES = 32 * 1024;

/** Usage that has a price, as the meter counts it over a scenario. */
export interface Usage {
  /** Billed WebSocket message units in and out (inbound frames and every frame the clients received). */
  apiGatewayUnits: number;
  lambdaRequests: number;
  lambdaGbSeconds: number;
  readUnits: number;
  writeUnits: number;
  sqsRequests: number;
  logBytes: number;
  eventBridgeEvents: number;
  s3ReadRequests: number;
  s3WriteRequests: number;
}

/** The services of a bill, in the order the table and the chart show them. */
export const BILL_LINES = ['API Gateway', 'Lambda', 'DynamoDB', 'SQS', 'CloudWatch Logs', 'Other'] as const;
export type BillLine = (typeof BILL_LINES)[number];

/** Dollars per line of the bill. */
export type Bill = Record<BillLine, number>;

/** Billed 32 KB units of a WebSocket frame of `bytes` (an empty frame is still one message). */
export function apiGatewayUnits(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / API_GATEWAY_UNIT_BYTES));
}

/** GB-seconds of an invocation, as Lambda bills it: duration rounded up to the millisecond, at its memory. */
export function gbSeconds(durationMs: number, memoryMiB: number): number {
  return (Math.ceil(durationMs) / 1000) * (memoryMiB / 1024);
}

/** Prices `usage` line by line. */
export function priceUsage(usage: Usage): Bill {
  return {
    'API Gateway': usage.apiGatewayUnits * PRICES.apiGatewayMessage.dollars,
    Lambda:
      usage.lambdaRequests * PRICES.lambdaRequest.dollars +
      usage.lambdaGbSeconds * PRICES.lambdaGbSecond.dollars,
    DynamoDB:
      usage.readUnits * PRICES.dynamoReadUnit.dollars + usage.writeUnits * PRICES.dynamoWriteUnit.dollars,
    SQS: usage.sqsRequests * PRICES.sqsFifoRequest.dollars,
    'CloudWatch Logs': (usage.logBytes / 1024 ** 3) * PRICES.logIngestionGb.dollars,
    Other:
      usage.eventBridgeEvents * PRICES.eventBridgeEvent.dollars +
      usage.s3ReadRequests * PRICES.s3ReadRequest.dollars +
      usage.s3WriteRequests * PRICES.s3WriteRequest.dollars,
  };
}

export function billTotal(bill: Bill): number {
  return BILL_LINES.reduce((sum, line) => sum + bill[line], 0);
}

/** Write units the floor allows a message: the message item itself, under 1 KB. */
export const FLOOR_WRITE_UNITS = 1;

/**
 * The least one message can cost: its inbound frame, one outbound frame per connection that must hear
 * of it (the sender's own connection hears through its ack), and the write that stores it. No design
 * goes under it without coalescing several messages into one frame.
 */
export function floorPerMessage(recipientConnections: number): number {
  return (
    (1 + recipientConnections) * PRICES.apiGatewayMessage.dollars +
    FLOOR_WRITE_UNITS * PRICES.dynamoWriteUnit.dollars
  );
}
