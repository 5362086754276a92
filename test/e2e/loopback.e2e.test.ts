/**
 * The local runtime on the developer's machine (issue 15, point 9): every socket it listens on is on
 * loopback, so other hosts cannot reach DynamoDB Local, fauxqs or the control plane; and no page of
 * another site open in the same browser can act through it, neither cross-origin nor through DNS
 * rebinding (a Host that is not a name of loopback).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { request } from 'node:http';
import { connect as connectTcp } from 'node:net';
import { networkInterfaces } from 'node:os';
import { beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { LocalRuntime } from '../../local/runtime';
import { routeEvent } from '../support/api-gateway';
import { useLocalRuntime } from '../support/local-runtime';
import type { Frame } from './chat-client';
import { connectAs, createConversation, letAnyoneAdd } from './helpers';

const { runtime, track } = useLocalRuntime();
// Not a test of consent: the users these tests add to groups let anyone add them.
beforeAll(() => letAnyoneAdd(runtime(), ['bob']));

/** Every port the runtime reports, by what listens there. */
function reportedPorts(started: LocalRuntime) {
  const port = (url: string) => Number(new URL(url).port);
  return {
    webSocket: port(started.webSocketUrl),
    control: port(started.controlUrl),
    dynamodb: port(started.endpoints.dynamodb),
    sqs: port(started.endpoints.sqs),
    s3: port(started.endpoints.s3),
  };
}

/** The socket inodes a process holds open (its `/proc/<pid>/fd` links `socket:[inode]`). */
function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match?.[1] !== undefined) inodes.add(match[1]);
    } catch {
      // The fd closed between the listing and the read.
    }
  }
  return inodes;
}

/** An address of /proc/net/tcp{,6} (hex, each 32-bit word little-endian) as its bytes in network order. */
function addressBytes(hex: string): number[] {
  const bytes: number[] = [];
  for (let word = 0; word < hex.length; word += 8)
    for (let byte = 6; byte >= 0; byte -= 2)
      bytes.push(Number.parseInt(hex.slice(word + byte, word + byte + 2), 16));
  return bytes;
}

function isLoopbackAddress(bytes: number[]): boolean {
  if (bytes.length === 4) return bytes[0] === 127;
  const v4Mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  if (v4Mapped) return bytes[12] === 127;
  return bytes.slice(0, 15).every((b) => b === 0) && bytes[15] === 1;
}

/** The listening TCP sockets among `inodes`: port and whether the address is loopback. */
function listeningSockets(inodes: Set<string>): { port: number; address: string; loopback: boolean }[] {
  return ['/proc/net/tcp', '/proc/net/tcp6'].flatMap((table) =>
    readFileSync(table, 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((fields) => fields[3] === '0A' && inodes.has(fields[9] ?? ''))
      .map((fields) => {
        const [hex = '', port = ''] = (fields[1] ?? '').split(':');
        const bytes = addressBytes(hex);
        return {
          port: Number.parseInt(port, 16),
          address: bytes.join('.'),
          loopback: isLoopbackAddress(bytes),
        };
      }),
  );
}

/** The Java process of DynamoDB Local on this port. */
function dynamoDbLocalPid(port: number): number {
  const pids = execFileSync('pgrep', ['-f', `DynamoDBLocal.jar.*-port ${port}`], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map(Number);
  if (pids.length !== 1 || pids[0] === undefined)
    throw new Error(`Expected one DynamoDB Local, found ${pids}`);
  return pids[0];
}

/** How a TCP connection to `host:port` ends: 'connected', or the error code. */
function tryConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connectTcp({ host, port, timeout: 5_000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve('timeout');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/** One HTTP request with exactly these headers (fetch would not let a test set Host). */
function httpRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.once('error', reject);
    req.end(options.body);
  });
}

const EVIL = 'http://evil.example';

describe('the local runtime on this machine', () => {
  it("listens on loopback only, in this process and DynamoDB Local's", () => {
    // Prepare
    const ports = reportedPorts(runtime());
    const inodes = new Set([...socketInodes(process.pid), ...socketInodes(dynamoDbLocalPid(ports.dynamodb))]);

    // Act
    const sockets = listeningSockets(inodes);

    // Assess
    expect(sockets.map((socket) => socket.port)).toEqual(expect.arrayContaining(Object.values(ports)));
    expect(sockets.filter((socket) => !socket.loopback)).toEqual([]);
  });

  it("refuses connections on this machine's other addresses", async (context) => {
    // Prepare
    const address = Object.values(networkInterfaces())
      .flat()
      .find((info) => info !== undefined && !info.internal && info.family === 'IPv4')?.address;
    if (address === undefined) {
      context.skip('this machine has no non-loopback IPv4 interface to connect through');
      return;
    }
    const ports = reportedPorts(runtime());

    // Act
    const outcomes = await Promise.all(
      Object.entries(ports).map(async ([name, port]) => [name, await tryConnect(address, port)]),
    );

    // Assess
    expect(Object.fromEntries(outcomes)).toEqual(
      Object.fromEntries(Object.keys(ports).map((name) => [name, 'ECONNREFUSED'])),
    );
  });

  it('refuses a text/plain POST from another origin that would invoke send as a forged user, and writes nothing', async () => {
    // Prepare: alice and bob share a conversation; a page of another site forges bob's send.
    const alice = await track(connectAs(runtime(), 'alice'));
    const conversationId = await createConversation(alice, ['bob']);
    const forged = (clientMessageId: string) =>
      JSON.stringify(
        routeEvent({
          userId: 'bob',
          body: {
            action: 'send',
            requestId: clientMessageId,
            conversationId,
            clientMessageId,
            body: 'forged',
          },
        }),
      );
    const invocations = `${runtime().controlUrl}/functions/send/invocations`;

    // Act
    const fromAnotherSite = await httpRequest(invocations, {
      method: 'POST',
      headers: { origin: EVIL, 'content-type': 'text/plain;charset=UTF-8' },
      body: forged('forged-1'),
    });
    const plainTextWithoutOrigin = await httpRequest(invocations, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: forged('forged-2'),
    });
    const jsonFromAnotherSite = await httpRequest(invocations, {
      method: 'POST',
      headers: { origin: EVIL, 'content-type': 'application/json' },
      body: forged('forged-3'),
    });

    // Assess: all refused, and the conversation's history is empty.
    expect(fromAnotherSite.status).toBe(403);
    expect(JSON.parse(fromAnotherSite.body)).toEqual({
      message: `Refused: requests from ${EVIL} are not accepted here`,
    });
    expect(plainTextWithoutOrigin.status).toBe(415);
    expect(jsonFromAnotherSite.status).toBe(403);
    const history = await alice.request({ action: 'history', conversationId });
    expect(history).toMatchObject({ type: 'ack', messages: [] });

    // Assess: the same invocation as a tool on this machine makes it (JSON, no Origin) does run, so the
    // refusals above are what kept the message out.
    const fromATool = await httpRequest(invocations, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: forged('tool-1'),
    });
    expect(fromATool.status).toBe(200);
    const after = await alice.request({ action: 'history', conversationId });
    expect((after.messages as Frame[]).map((message) => message.body)).toEqual(['forged']);
  });

  it("answers the page's own origin under each name of loopback", async () => {
    // Prepare
    const { control } = reportedPorts(runtime());

    // Act
    const answers = await Promise.all(
      [`localhost:${control}`, `127.0.0.1:${control}`, `[::1]:${control}`].map((host) =>
        httpRequest(`${runtime().controlUrl}/config.json`, { headers: { host, origin: `http://${host}` } }),
      ),
    );

    // Assess
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200]);
  });

  it('refuses a Host that is not a name of loopback (DNS rebinding) on every HTTP listener', async () => {
    // Prepare: a name of the attacker's that resolves to 127.0.0.1 makes the page same-origin with it.
    const started = runtime();
    const rebound = (url: string) => `evil.example:${new URL(url).port}`;
    const s3Port = new URL(started.endpoints.s3).port;

    // Act
    const answers = {
      control: await httpRequest(`${started.controlUrl}/token?user=alice`, {
        headers: { host: rebound(started.controlUrl) },
      }),
      dynamodb: await httpRequest(started.endpoints.dynamodb, {
        method: 'POST',
        headers: {
          host: rebound(started.endpoints.dynamodb),
          'content-type': 'application/x-amz-json-1.0',
          'x-amz-target': 'DynamoDB_20120810.ListTables',
        },
        body: '{}',
      }),
      sqs: await httpRequest(`http://127.0.0.1:${new URL(started.endpoints.sqs).port}/_fauxqs/queues`, {
        headers: { host: rebound(started.endpoints.sqs) },
      }),
      s3: await httpRequest(`http://127.0.0.1:${s3Port}/`, { headers: { host: `evil.example:${s3Port}` } }),
    };

    // Assess
    expect(
      Object.fromEntries(Object.entries(answers).map(([name, answer]) => [name, answer.status])),
    ).toEqual({
      control: 403,
      dynamodb: 403,
      sqs: 403,
      s3: 403,
    });
    expect(answers.control.body).not.toContain('token');
  });

  it('refuses any browser page at DynamoDB Local and fauxqs, which no page needs', async () => {
    // Prepare: SNS's query protocol is a form POST, which a page may send to any origin without a preflight.
    const started = runtime();
    const subscribe = new URLSearchParams({
      Action: 'Subscribe',
      TopicArn: 'arn:aws:sns:us-east-1:000000000000:evil',
      Protocol: 'sqs',
      Endpoint: started.queues.fanout.arn,
    }).toString();

    // Act
    const answers = {
      dynamodbPreflight: await httpRequest(started.endpoints.dynamodb, {
        method: 'OPTIONS',
        headers: { origin: EVIL, 'access-control-request-method': 'POST' },
      }),
      snsForm: await httpRequest(`http://127.0.0.1:${new URL(started.endpoints.sqs).port}/`, {
        method: 'POST',
        headers: { origin: EVIL, 'content-type': 'application/x-www-form-urlencoded' },
        body: subscribe,
      }),
    };

    // Assess
    expect(answers.dynamodbPreflight.status).toBe(403);
    expect(answers.snsForm.status).toBe(403);
  });

  it('lets a page of any origin open a WebSocket, as API Gateway does: the token is the guard', async () => {
    // Prepare
    const url = await runtime().connectUrl('alice');

    // Act
    const socket = new WebSocket(url, { origin: EVIL });
    const opened = await new Promise<boolean>((resolve) => {
      socket.once('open', () => resolve(true));
      socket.once('error', () => resolve(false));
    });
    socket.close();

    // Assess
    expect(opened).toBe(true);
  });
});
