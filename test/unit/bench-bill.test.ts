import { describe, expect, it } from 'vitest';
import {
  BillMeter,
  callsByOperation,
  PLATFORM_LOG_BYTES_PER_INVOCATION,
  UNITS_PER_TRANSACTION_ITEM,
  usageOf,
} from '../../bench/meter';
import {
  API_GATEWAY_UNIT_BYTES,
  apiGatewayUnits,
  billTotal,
  floorPerMessage,
  gbSeconds,
  PRICES,
  priceUsage,
  type Usage,
} from '../../bench/prices';
import { billRow, REPORT_END, REPORT_START, replaceSection, svgChart } from '../../bench/report';

const capacity = { refused: false, transactItems: undefined };

/** The stream one 1:1 message makes: an inbound frame, its ack and one push, a send and a fan-out. */
function oneMessage(meter: BillMeter): void {
  meter.frame('in', 120);
  meter.frame('out', 90);
  meter.frame('out', 300);
  meter.awsRequest({ client: 'DynamoDBClient', command: 'UpdateItemCommand', functionName: 'send' });
  meter.capacity({
    command: 'UpdateItemCommand',
    functionName: 'send',
    readUnits: 0,
    writeUnits: 1,
    ...capacity,
  });
  meter.awsRequest({ client: 'DynamoDBClient', command: 'TransactWriteItemsCommand', functionName: 'send' });
  // DynamoDB Local answers 2 units for a transaction on one table, whatever its items: counted from them.
  meter.capacity({
    command: 'TransactWriteItemsCommand',
    functionName: 'send',
    readUnits: 0,
    writeUnits: 2,
    refused: false,
    transactItems: 2,
  });
  meter.awsRequest({ client: 'SQSClient', command: 'SendMessageCommand', functionName: 'send' });
  meter.log('send', 200);
  meter.invocation({ functionName: 'send', durationMs: 99.2, memoryMiB: 256, records: undefined });
  meter.awsRequest({ client: 'DynamoDBClient', command: 'QueryCommand', functionName: 'fanout' });
  meter.capacity({
    command: 'QueryCommand',
    functionName: 'fanout',
    readUnits: 0.5,
    writeUnits: 0,
    ...capacity,
  });
  meter.awsRequest({
    client: 'ApiGatewayManagementApiClient',
    command: 'PostToConnectionCommand',
    functionName: 'fanout',
  });
  meter.log('fanout', 100);
  meter.invocation({ functionName: 'fanout', durationMs: 50, memoryMiB: 512, records: 1 });
}

describe('BillMeter', () => {
  it('adds up a known stream of calls, capacity, invocations, logs and frames', () => {
    // Prepare
    const meter = new BillMeter();
    meter.start();

    // Act
    oneMessage(meter);
    oneMessage(meter);
    const counts = meter.stop();

    // Assess
    expect(counts.frames).toEqual({ in: 2, out: 4, bytesIn: 240, bytesOut: 780, units: 6 });
    expect(counts.functions.send).toMatchObject({
      invocations: 2,
      readUnits: 0,
      writeUnits: 2 * (1 + 2 * UNITS_PER_TRANSACTION_ITEM),
      logBytes: 400,
      calls: { 'DynamoDB.UpdateItem': 2, 'DynamoDB.TransactWriteItems': 2, 'SQS.SendMessage': 2 },
    });
    expect(counts.functions.send?.gbSeconds).toBeCloseTo(2 * 0.1 * 0.25, 10);
    expect(counts.functions.fanout?.gbSeconds).toBeCloseTo(2 * 0.05 * 0.5, 10);
    expect(counts.eventSourceRequests).toBe(4);
    expect(counts.logBytes).toBe(600 + 4 * PLATFORM_LOG_BYTES_PER_INVOCATION);
    expect(callsByOperation(counts)['DynamoDB.TransactWriteItems']).toEqual({
      requests: 2,
      readUnits: 0,
      writeUnits: 8,
    });
  });

  it('turns the counts into priced usage: SQS from the functions and the event source, pushes as frames', () => {
    // Prepare
    const meter = new BillMeter();
    meter.start();
    oneMessage(meter);

    // Act
    const usage = usageOf(meter.stop());

    // Assess
    expect(usage).toMatchObject({
      apiGatewayUnits: 3,
      lambdaRequests: 2,
      readUnits: 0.5,
      writeUnits: 5,
      sqsRequests: 3,
      eventBridgeEvents: 0,
      s3ReadRequests: 0,
    });
  });

  it('counts nothing before start or after stop, and starts each count afresh', () => {
    // Prepare
    const meter = new BillMeter();
    oneMessage(meter);
    meter.start();
    oneMessage(meter);
    meter.stop();

    // Act
    oneMessage(meter);
    meter.start();
    const fresh = meter.stop();

    // Assess
    expect(fresh.frames.in).toBe(0);
    expect(fresh.functions).toEqual({});
  });

  it('counts a refused write as the units the model gives it, not per transaction item', () => {
    // Prepare
    const meter = new BillMeter();
    meter.start();

    // Act
    meter.capacity({
      command: 'TransactWriteItemsCommand',
      functionName: 'send',
      readUnits: 0,
      writeUnits: 4,
      refused: true,
      transactItems: 2,
    });

    // Assess
    expect(meter.stop().functions.send?.writeUnits).toBe(4);
  });
});

describe('the price arithmetic', () => {
  it('bills frames in 32 KB units, an empty frame as one', () => {
    expect(apiGatewayUnits(0)).toBe(1);
    expect(apiGatewayUnits(API_GATEWAY_UNIT_BYTES)).toBe(1);
    expect(apiGatewayUnits(API_GATEWAY_UNIT_BYTES + 1)).toBe(2);
  });

  it('bills duration rounded up to the millisecond at the configured memory', () => {
    expect(gbSeconds(99.2, 1024)).toBeCloseTo(0.1, 10);
    expect(gbSeconds(1000, 512)).toBeCloseTo(0.5, 10);
  });

  it('prices each line of usage from the one table', () => {
    // Prepare
    const usage: Usage = {
      apiGatewayUnits: 4,
      lambdaRequests: 2,
      lambdaGbSeconds: 1,
      readUnits: 8,
      writeUnits: 10,
      sqsRequests: 3,
      logBytes: 1024 ** 3,
      eventBridgeEvents: 1,
      s3ReadRequests: 1,
      s3WriteRequests: 1,
    };

    // Act
    const bill = priceUsage(usage);

    // Assess
    expect(bill['API Gateway']).toBeCloseTo(4e-6, 12);
    expect(bill.Lambda).toBeCloseTo(0.4e-6 + 0.0000133334, 12);
    expect(bill.DynamoDB).toBeCloseTo(8 * 0.125e-6 + 10 * 0.625e-6, 12);
    expect(bill.SQS).toBeCloseTo(1.5e-6, 12);
    expect(bill['CloudWatch Logs']).toBeCloseTo(0.5, 12);
    expect(bill.Other).toBeCloseTo(1e-6 + 0.4e-6 + 5e-6, 12);
    expect(billTotal(bill)).toBeCloseTo(
      Object.values(bill).reduce((sum, dollars) => sum + dollars, 0),
      12,
    );
  });

  it('puts the floor at one inbound frame, one outbound per connection and one write unit', () => {
    expect(floorPerMessage(2) * 1e6).toBeCloseTo(3 + 0.625, 10);
    expect(floorPerMessage(100) * 1e6).toBeCloseTo(101 + 0.625, 10);
  });

  it('names a source and a date for every price', () => {
    for (const price of Object.values(PRICES)) {
      expect(price.source).not.toBe('');
      expect(price.asOf).toMatch(/^\d{4}-\d{2}/);
    }
  });
});

describe('the report', () => {
  const meter = new BillMeter();
  meter.start();
  oneMessage(meter);
  const row = billRow(
    { id: 'one-to-one', title: '1:1 <chat>' },
    { counts: meter.stop(), messages: 1, recipientConnections: 2, retries: 0 },
  );

  it('prices a scenario per message against its floor', () => {
    expect(row.floor).toBeCloseTo(floorPerMessage(2), 12);
    expect(row.total).toBeCloseTo(billTotal(row.bill), 12);
    expect(row.usage.apiGatewayUnits).toBe(3);
  });

  it('replaces only the section between the markers of the page', () => {
    // Prepare
    const page = `# Cost\nprose\n${REPORT_START}\nold\n${REPORT_END}\nmore prose\n`;

    // Act
    const written = replaceSection(page, 'new');

    // Assess
    expect(written).toBe(`# Cost\nprose\n${REPORT_START}\nnew\n${REPORT_END}\nmore prose\n`);
    expect(() => replaceSection('# no markers', 'new')).toThrow(/markers/);
  });

  it('draws a plain SVG with escaped labels', () => {
    const svg = svgChart([row], '2026-12-07');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('1:1 &lt;chat&gt;');
    expect(svg).toContain('floor');
  });
});
