import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { type ChatClient, type ChatMessage, connect } from '../../client';

/** A real socket server that acks every send and pushes the message back, as fan-out would. */
async function startServer() {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(server, 'listening');
  const urls: string[] = [];
  server.on('connection', (socket, request) => {
    urls.push(request.url ?? '');
    socket.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Record<string, unknown>;
      const reply = (fields: object) => socket.send(JSON.stringify({ type: 'ack', ...fields }));
      if (frame.action === 'subscribe')
        reply({
          action: 'subscribe',
          requestId: frame.requestId,
          conversationId: 'c1',
          messages: [],
          hasMore: false,
          lastSeq: 0,
        });
      if (frame.action === 'send') {
        reply({
          action: 'send',
          requestId: frame.requestId,
          conversationId: 'c1',
          seq: 1,
          sentAt: 't',
          duplicate: false,
        });
        socket.send(
          JSON.stringify({
            type: 'message',
            conversationId: 'c1',
            seq: 1,
            senderId: 'alice',
            body: frame.body,
            sentAt: 't',
          }),
        );
      }
    });
  });
  return { server, urls, url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/local` };
}

describe('with the ws package (Node 20)', () => {
  let chat: ChatClient | undefined;
  let server: WebSocketServer | undefined;
  afterEach(async () => {
    chat?.close();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('connects with the token, sends, and receives the message in its stream', async () => {
    const started = await startServer();
    server = started.server;
    chat = connect({ url: started.url, tokenProvider: () => 'jwt ä', WebSocket });
    const stream = chat.conversation('c1', { afterSeq: 0 });
    const received: ChatMessage[] = [];
    stream.on('message', (m) => received.push(m));

    const ack = await chat.send('c1', 'hello 👋').acked;

    expect(ack).toEqual({ conversationId: 'c1', seq: 1, sentAt: 't', duplicate: false });
    await expect.poll(() => received.map((m) => m.body)).toEqual(['hello 👋']);
    expect(started.urls).toEqual([`/local?token=${encodeURIComponent('jwt ä').replace('%20', '+')}`]);
  });
});
