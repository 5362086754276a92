/** What `npm start` prints once the runtime is up: where everything is, every port it opened first. */
import type { LocalRuntime } from './runtime';

const portOf = (url: string): string => new URL(url).port;
/** A queue URL ends in the queue's name. */
const queueName = (url: string): string => new URL(url).pathname.split('/').pop() ?? url;

/**
 * The banner of a running runtime: a Ports line naming each port `npm start` listens on (all on
 * 127.0.0.1) and the variable that moves it, then the URLs and the commands to try.
 */
export function startBanner(
  runtime: Pick<
    LocalRuntime,
    'webSocketUrl' | 'webUrl' | 'controlUrl' | 'managementEndpoint' | 'endpoints' | 'tables' | 'queues'
  >,
  readySeconds: string,
): string {
  const ports = [
    `${portOf(runtime.webSocketUrl)} WebSocket (WS_PORT)`,
    `${portOf(runtime.controlUrl)} web page and control plane (CONTROL_PORT)`,
    `${portOf(runtime.endpoints.dynamodb)} DynamoDB Local (DYNAMODB_PORT)`,
    `${portOf(runtime.endpoints.sqs)} SQS and S3 (SQS_PORT)`,
    `${portOf(runtime.endpoints.s3)} S3 for browsers (a free port)`,
  ];
  const q = runtime.queues;
  return `
serverless-chat is running locally (ready in ${readySeconds} s)

  Ports        ${ports.slice(0, 3).join(', ')},
               ${ports.slice(3).join(', ')}; all on 127.0.0.1 only
  WebSocket    ${runtime.webSocketUrl}?token=<JWT>
  Web chat     ${runtime.webUrl}   (open it in two windows: sign in as alice in one, bob in the other)
  Terminal     npm run chat -- --user alice --to bob      (then, as bob: npm run chat -- --user bob --conversation <id>)
  Get a token  npm run -s token -- alice     (or: curl -s '${runtime.controlUrl}/token?user=alice&format=text')
  Try it       npm run ws -- alice           (one JSON frame per line; this terminal stays busy, so use a second one)
  Management   ${runtime.managementEndpoint}/@connections/{connectionId}
  DynamoDB     ${runtime.endpoints.dynamodb}   (tables: ${Object.values(runtime.tables).join(', ')})
  SQS          ${runtime.endpoints.sqs}   (all FIFO; from other processes use 127.0.0.1)
               fan-out ${queueName(q.fanout.url)} (DLQ ${queueName(q.deadLetter.url)}), shard jobs ${queueName(q.shards.url)} (DLQ ${queueName(q.shardDeadLetter.url)})
  S3           ${runtime.endpoints.s3}   (attachments: presigned URLs name this CORS front of fauxqs's S3)
  Redrive      npm run redrive -- --dry-run

Ctrl-C stops everything. Open a second terminal for the commands above.
`;
}
