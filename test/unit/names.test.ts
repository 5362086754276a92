import { describe, expect, it } from 'vitest';
import { conversationName } from '../../client/names';

describe('conversationName', () => {
  it('is the title when there is one', () => {
    expect(conversationName({ title: 'Lunch', members: ['alice', 'bob'] }, 'alice')).toBe('Lunch');
  });

  it('names the other members, the same rule for each of them', () => {
    const group = { conversationId: '63cdb6c7-0000', members: ['alice', 'bob', 'carol'] };
    expect(conversationName(group, 'alice')).toBe('bob, carol');
    expect(conversationName(group, 'bob')).toBe('alice, carol');
    expect(conversationName(group, 'carol')).toBe('alice, bob');
  });

  it('names the other member of a direct conversation', () => {
    expect(conversationName({ members: ['alice', 'bob'] }, 'bob')).toBe('alice');
  });

  it('counts the others past three', () => {
    const members = ['me', 'alice', 'bob', 'carol', 'dave', 'erin'];
    expect(conversationName({ members }, 'me')).toBe('alice, bob, carol and 2 others');
    expect(conversationName({ members: members.slice(0, 5) }, 'me')).toBe('alice, bob, carol and 1 other');
  });

  it('counts from memberCount when the list names only the first members', () => {
    expect(conversationName({ members: ['alice', 'bob', 'carol', 'dave'], memberCount: 10 }, 'zoe')).toBe(
      'alice, bob, carol and 6 others',
    );
    expect(conversationName({ members: ['alice', 'bob', 'carol', 'dave'], memberCount: 10 }, 'bob')).toBe(
      'alice, carol, dave and 6 others',
    );
    expect(conversationName({ members: ['alice', 'bob'], memberCount: 2 }, 'bob')).toBe('alice');
  });

  it('is "Just you" when no one else is left', () => {
    expect(conversationName({ members: ['alice'] }, 'alice')).toBe('Just you');
    expect(conversationName({ members: ['alice'], memberCount: 1, title: '  ' }, 'alice')).toBe('Just you');
  });

  it('falls back to the id when the members are not known', () => {
    expect(conversationName({ conversationId: '63cdb6c7-1234' }, 'alice')).toBe('Conversation 63cdb6c7');
    expect(conversationName({ conversationId: '63cdb6c7-1234', members: [], memberCount: 3 }, 'alice')).toBe(
      'Conversation 63cdb6c7',
    );
  });
});
