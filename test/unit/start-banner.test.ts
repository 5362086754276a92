/** The banner `npm start` prints: every port it opened, in the first lines, with the variable that moves it. */
import { describe, expect, it } from 'vitest';
import { startBanner } from '../../local/banner';

describe('startBanner', () => {
  const sqs = 'http://sqs.us-east-1.localhost:9324/000000000000';

  it('lists every port npm start listens on, what it is and how to change it, before the URLs', () => {
    // Act
    const banner = startBanner(
      {
        webSocketUrl: 'ws://127.0.0.1:3001/local',
        webUrl: 'http://127.0.0.1:3002/',
        controlUrl: 'http://127.0.0.1:3002',
        managementEndpoint: 'http://127.0.0.1:3001/local',
        endpoints: {
          dynamodb: 'http://127.0.0.1:8001',
          sqs: 'http://sqs.us-east-1.localhost:9324',
          s3: 'http://s3.localhost:41234',
        },
        tables: {
          connections: 'local-connections',
          subscriptions: 'local-subscriptions',
          conversations: 'local-conversations',
          messages: 'local-messages',
          idempotency: 'local-idempotency',
        },
        queues: {
          fanout: { url: `${sqs}/local-fanout.fifo`, arn: 'arn:fanout' },
          deadLetter: { url: `${sqs}/local-dead-letter.fifo`, arn: 'arn:dead-letter' },
          shards: { url: `${sqs}/local-shards.fifo`, arn: 'arn:shards' },
          shardDeadLetter: { url: `${sqs}/local-shard-dead-letter.fifo`, arn: 'arn:shard-dead-letter' },
        },
      },
      '4.2',
    );

    // Assess
    const lines = banner.split('\n');
    expect(lines.slice(1, 5)).toEqual([
      'serverless-chat is running locally (ready in 4.2 s)',
      '',
      '  Ports        3001 WebSocket (WS_PORT), 3002 web page and control plane (CONTROL_PORT), 8001 DynamoDB Local (DYNAMODB_PORT),',
      '               9324 SQS and S3 (SQS_PORT), 41234 S3 for browsers (a free port); all on 127.0.0.1 only',
    ]);
    expect(banner).toContain('  WebSocket    ws://127.0.0.1:3001/local?token=<JWT>');
    expect(banner).toContain('  Web chat     http://127.0.0.1:3002/ ');
    expect(banner).toContain('  S3           http://s3.localhost:41234 ');
    expect(banner).toContain(
      '               fan-out local-fanout.fifo (DLQ local-dead-letter.fifo), shard jobs local-shards.fifo (DLQ local-shard-dead-letter.fifo)',
    );
  });
});
