import { describe, expectTypeOf, it } from 'vitest';
import type { Actions, ChatClient, Conversation, SendAck } from '../../client';
import type { AckOf, RequestOf } from '../../shared/protocol';

describe('the SDK types, from the action table', () => {
  it("answers `send` with the server's ack of send, so a changed ack fails the SDK's typecheck too", () => {
    expectTypeOf<Actions['send']['ack']>().toEqualTypeOf<AckOf<'send'>>();
    expectTypeOf<SendAck>().toEqualTypeOf<AckOf<'send'>>();
    expectTypeOf<ReturnType<ChatClient['request']>>().toEqualTypeOf<Promise<Actions[keyof Actions]['ack']>>();
    expectTypeOf<ChatClient['retry']>().returns.resolves.toEqualTypeOf<AckOf<'send'>>();
  });

  it("takes each action's frame without the action and requestId the SDK sets", () => {
    expectTypeOf<Actions['send']['fields']>().toEqualTypeOf<
      Omit<RequestOf<'send'>, 'action' | 'requestId'>
    >();
    expectTypeOf<Actions['history']['fields']>().toEqualTypeOf<
      Omit<RequestOf<'history'>, 'action' | 'requestId'>
    >();
  });

  it("gives every method the ack of the server's route", () => {
    expectTypeOf<ChatClient['addMembers']>().returns.resolves.toEqualTypeOf<AckOf<'addMembers'>>();
    expectTypeOf<ChatClient['markRead']>().returns.resolves.toEqualTypeOf<AckOf<'read'>>();
    expectTypeOf<ChatClient['createConversation']>().returns.resolves.toEqualTypeOf<Conversation>();
    expectTypeOf<AckOf<'createConversation'>>().toEqualTypeOf<{ conversation: Conversation }>();
  });

  it('leaves the keepalive out of the actions an app sends', () => {
    expectTypeOf<'ping'>().not.toExtend<keyof Actions>();
  });
});
