/**
 * The send function and attachments: a message may name only an attachment confirmUpload verified, of
 * the size and type it claims, uploaded by its sender (one HeadObject, only for such messages); deleting
 * the message deletes its object.
 */
import { DeleteObjectCommand, HeadObjectCommand, NotFound, S3Client } from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { createSendHandler } from '../../lambdas/send/routes';
import { sendMessage } from '../../lambdas/send/send';
import { encodeQueueBody } from '../../shared/queue-body';
import { invoke } from './fakes/edit-function';
import {
  awsCalls,
  caller,
  ddbMock,
  frame,
  makeDeps,
  messageAt,
  NOW,
  rawFrame,
  replyOf,
  sendEvent,
  sqsMock,
  TABLE_NAMES,
  useSendFunctionMocks,
} from './fakes/send-function';

useSendFunctionMocks();

const BUCKET = 'test-attachments';
const s3 = new S3Client({ region: 'eu-west-1' });
const s3Mock = mockClient(s3);
const attachments = { s3, bucket: BUCKET };
const ATTACHMENT = {
  key: 'conversations/c1/0b7f3c1e-6a52-4d1f-9c11-2f5d7a9e8b40',
  contentType: 'image/png' as const,
  size: 68,
};

/** The object confirmUpload made of alice's upload. */
const givenConfirmed = (fields: { ContentType?: string; ContentLength?: number; uploader?: string } = {}) =>
  s3Mock.on(HeadObjectCommand, { Key: ATTACHMENT.key }).resolves({
    ContentType: fields.ContentType ?? 'image/png',
    ContentLength: fields.ContentLength ?? 68,
    Metadata: { uploader: fields.uploader ?? 'alice' },
  });

beforeEach(() => {
  s3Mock.reset();
});

describe('send with an attachment', () => {
  it('checks the object with one HeadObject, then stores the reference with the message and enqueues it', async () => {
    // Prepare
    givenConfirmed();

    // Act
    await sendMessage(makeDeps({ attachments }), frame({ attachment: ATTACHMENT }), caller());

    // Assess
    expect(s3Mock).toHaveReceivedCommandExactlyOnceWith(HeadObjectCommand, {
      Bucket: BUCKET,
      Key: ATTACHMENT.key,
    });
    const stored = ddbMock.commandCalls(PutCommand, { TableName: TABLE_NAMES.messages })[0]?.args[0].input
      .Item;
    expect(stored).toMatchObject({ seq: 42, attachment: ATTACHMENT });
    expect(sqsMock).toHaveReceivedCommandWith(SendMessageCommand, {
      MessageBody: encodeQueueBody({
        ...messageAt(42, { attachment: ATTACHMENT }),
        senderConnectionId: 'conn-alice',
      }),
    });
  });

  it('sends a plain-text message without any S3 call', async () => {
    // Act
    await sendMessage(makeDeps({ attachments }), frame(), caller());

    // Assess
    expect(s3Mock.calls()).toHaveLength(0);
  });

  it.each([
    ['a key never uploaded or confirmed', undefined, 'not_found'],
    ['another size than the object', { ContentLength: 69 }, 'invalid_request'],
    ['another type than the object', { ContentType: 'application/pdf' }, 'invalid_request'],
    ['an object another member uploaded', { uploader: 'bob' }, 'invalid_request'],
  ])('refuses %s with %s and writes nothing', async (_case, object, code) => {
    // Prepare
    if (object === undefined)
      s3Mock.on(HeadObjectCommand).rejects(new NotFound({ message: 'no', $metadata: {} }));
    else givenConfirmed(object);
    const handler = createSendHandler(makeDeps({ attachments }));

    // Act
    const reply = replyOf(await handler(sendEvent(rawFrame({ attachment: ATTACHMENT }))));

    // Assess
    expect(reply).toMatchObject({ type: 'error', code });
    // Only the member check and send token were taken: no claim, no message, nothing enqueued.
    expect(awsCalls()).toEqual(['UpdateCommand']);
    expect(sqsMock.calls()).toHaveLength(0);
  });

  it('refuses every attachment when the function has no bucket', async () => {
    // Prepare
    const handler = createSendHandler(makeDeps());

    // Act
    const reply = replyOf(await handler(sendEvent(rawFrame({ attachment: ATTACHMENT }))));

    // Assess
    expect(reply).toMatchObject({ type: 'error', code: 'invalid_request' });
    expect(ddbMock).not.toHaveReceivedCommandWith(PutCommand, { TableName: TABLE_NAMES.messages });
  });
});

describe('delete of a message with an attachment', () => {
  const withAttachment = () =>
    ddbMock.on(UpdateCommand, { TableName: TABLE_NAMES.messages }).resolves({
      Attributes: { conversationId: 'c1', seq: 7, senderId: 'alice', body: 'pic', attachment: ATTACHMENT },
    });

  it('deletes its object once the message is marked deleted, and acks', async () => {
    // Prepare
    withAttachment();

    // Act
    const reply = await invoke({ action: 'delete' }, 'alice', { attachments });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', version: 1, deletedAt: NOW.toISOString(), duplicate: false });
    expect(s3Mock).toHaveReceivedCommandExactlyOnceWith(DeleteObjectCommand, {
      Bucket: BUCKET,
      Key: ATTACHMENT.key,
    });
  });

  it("acks the delete when the object's delete fails (logged; the message is deleted either way)", async () => {
    // Prepare
    withAttachment();
    s3Mock.on(DeleteObjectCommand).rejects(new Error('S3 is down'));

    // Act
    const reply = await invoke({ action: 'delete' }, 'alice', { attachments });

    // Assess
    expect(reply).toMatchObject({ type: 'ack', duplicate: false });
    expect(sqsMock).toHaveReceivedCommand(SendMessageCommand);
  });

  it('makes no S3 call for a message without an attachment', async () => {
    // Act
    await invoke({ action: 'delete' }, 'alice', { attachments });

    // Assess
    expect(s3Mock.calls()).toHaveLength(0);
  });
});
