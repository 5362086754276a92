/**
 * Feeds the bench's meter from the local runtime: the invocation guard's SDK requests, DynamoDB's
 * consumed capacity, the function loader's invocations, the functions' log lines, and the frames of
 * the bench's own WebSocket clients.
 */
import type { RawData } from 'ws';
import { observeInvocations } from '../local/functions';
import { observeConsumedCapacity } from '../shared/consumed-capacity';
import { currentInvocation, observeAwsRequests } from '../shared/invocation';
import type { ChatClient } from '../test/e2e/chat-client';
import type { BillMeter } from './meter';

/** An attached meter, and when it last heard of anything. */
export interface Instrumentation {
  /** `performance.now()` of the last event the runtime reported. */
  lastEventAt(): number;
}

type Write = NodeJS.WriteStream['write'];

/**
 * Routes what a function writes to `stream` (Powertools log lines, EMF metrics) to the meter instead of
 * the terminal: on Lambda it goes to CloudWatch Logs, which bills it by the byte. What the bench itself
 * writes, outside any invocation, passes through.
 */
function interceptFunctionOutput(stream: NodeJS.WriteStream, onBytes: (fn: string, bytes: number) => void) {
  const write = stream.write;
  stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
    const invocation = currentInvocation();
    if (invocation === undefined)
      return (write as (...args: unknown[]) => boolean).call(stream, chunk, ...rest);
    onBytes(invocation.functionName, typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength);
    const callback = rest.find((arg): arg is () => void => typeof arg === 'function');
    callback?.();
    return true;
  }) as Write;
}

/**
 * Attaches `meter` to the runtime's reports for the life of the process; it counts only while started.
 * Never detached: an invocation that outlived its timeout may still log while the runtime stops, and
 * its lines stay off the terminal too.
 */
export function instrument(meter: BillMeter): Instrumentation {
  let last = performance.now();
  const heard =
    <T>(count: (event: T) => void) =>
    (event: T) => {
      last = performance.now();
      count(event);
    };
  observeAwsRequests(heard((request) => meter.awsRequest(request)));
  observeConsumedCapacity(heard((report) => meter.capacity(report)));
  observeInvocations(heard((record) => meter.invocation(record)));
  interceptFunctionOutput(process.stdout, (fn, bytes) => meter.log(fn, bytes));
  interceptFunctionOutput(process.stderr, (fn, bytes) => meter.log(fn, bytes));
  return { lastEventAt: () => last };
}

function byteLength(data: RawData | string): number {
  if (typeof data === 'string') return Buffer.byteLength(data);
  if (Array.isArray(data)) return data.reduce((sum, part) => sum + part.byteLength, 0);
  return data.byteLength;
}

/** Counts every frame `client` sends (inbound to API Gateway) and receives (outbound from it). */
export function meterClient(client: ChatClient, meter: BillMeter): ChatClient {
  const { socket } = client;
  socket.on('message', (data) => meter.frame('out', byteLength(data)));
  const send = socket.send.bind(socket);
  socket.send = ((data: string, ...rest: unknown[]) => {
    meter.frame('in', byteLength(data));
    return (send as (...args: unknown[]) => void)(data, ...rest);
  }) as typeof socket.send;
  return client;
}
