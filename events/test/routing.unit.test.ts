import { describe, expect, it } from 'vitest';
import { channelSubject, CHAT_POLICY_SUBJECT, chatSubject, streamSubject, subjectFamilyOf, uniqueClaimSubject, userSubject } from '../src/index.js';

describe('subjectFamilyOf', () => {
  it('names the family of every subject the builders make', () => {
    expect(subjectFamilyOf(streamSubject('c1'))).toBe('stream');
    expect(subjectFamilyOf(channelSubject('c1'))).toBe('channel');
    expect(subjectFamilyOf(userSubject('u1'))).toBe('user');
    expect(subjectFamilyOf(uniqueClaimSubject('email', 'ab'.repeat(16)))).toBe('claim');
    expect(subjectFamilyOf(CHAT_POLICY_SUBJECT)).toBe('platform');
    expect(subjectFamilyOf(chatSubject('c1'))).toBe('chat');
  });

  it('names none for other subjects', () => {
    for (const s of ['evt', 'evt.stream', 'evt.stream.c1.x', 'evt.claim.email', 'evt.platform.other', 'evt.other.c1', 'chat', 'chat.c1.x', 'lease.publish.c1', 'tel.c1']) {
      expect(subjectFamilyOf(s), s).toBeUndefined();
    }
  });
});
