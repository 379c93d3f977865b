import { describe, expect, it } from 'vitest';
import { MAX_BANNED_TERMS } from '@live/events';
import { clockTime } from '../src/chat';
import {
  customTimeoutSeconds, describeLogEntry, moderatorsPath, parseBannedTerms, parseModerationLog, parseModerators, parseRestrictions,
  restrictionLabel, restrictionPath, TIMEOUT_CHOICES, userByNamePath, withTerm, type LogEntry,
} from '../src/chatModeration';

describe('chat moderation tools (pure)', () => {
  it('builds the API paths, escaping ids', () => {
    expect(restrictionPath('c 1', 'u/2')).toBe('/api/channels/c%201/chat/restrictions/u%2F2');
    expect(moderatorsPath('c1')).toBe('/api/channels/c1/moderators');
    expect(moderatorsPath('c1', 'u1')).toBe('/api/channels/c1/moderators/u1');
    expect(userByNamePath(' Bob ')).toBe('/api/users/by-name/Bob');
  });

  it('parses the API bodies, dropping malformed items and refusing a body without its list', () => {
    const ban = { userId: 'u1', username: 'bob', kind: 'ban', until: null, reason: 'spam', actorUserId: 'm', createdAt: '2026-12-07T10:00:00Z' };
    expect(parseRestrictions({ items: [ban, { ...ban, kind: 'mute' }, null] })).toEqual([{ userId: 'u1', username: 'bob', kind: 'ban', until: null, reason: 'spam', createdAt: '2026-12-07T10:00:00Z' }]);
    expect(() => parseRestrictions({})).toThrow();
    expect(parseModerators({ items: [{ userId: 'u', username: 'm', displayName: 'M', since: 'x' }, { userId: 1 }] })).toEqual([{ userId: 'u', username: 'm', since: 'x' }]);
    expect(parseBannedTerms({ terms: [{ pattern: 'a', action: 'block' }, { pattern: 'b', action: 'ban' }] })).toEqual([{ pattern: 'a', action: 'block' }]);
    expect(parseModerationLog({ items: [{ id: 'e', action: 'ChatUserBanned', actorUsername: 'm', targetUsername: null, detail: 5, createdAt: 'x' }] }))
      .toEqual([{ id: 'e', action: 'ChatUserBanned', actorUsername: 'm', targetUsername: null, detail: {}, createdAt: 'x' }]);
  });

  it('labels bans and timeouts; offers 1 min to 24 h and checks a custom length', () => {
    const base = { userId: 'u', username: 'u', reason: '', createdAt: 'x' };
    expect(restrictionLabel({ ...base, kind: 'ban', until: null })).toBe('Banned');
    const until = '2026-12-07T12:34:00.000Z';
    expect(restrictionLabel({ ...base, kind: 'timeout', until })).toBe(`Timed out until ${clockTime(Date.parse(until))}`);
    expect(TIMEOUT_CHOICES.map((c) => c.seconds)).toEqual([60, 600, 3600, 86_400]);
    expect(customTimeoutSeconds('5')).toBe(300);
    expect(customTimeoutSeconds(' 20160 ')).toBe(1_209_600);
    for (const bad of ['0', '20161', '1.5', '-3', 'ten', '']) expect(customTimeoutSeconds(bad)).toBeNull();
  });

  it('adds a banned term unless it is empty, listed already (any case) or the list is full', () => {
    expect(withTerm([{ pattern: 'gold', action: 'block' }], { pattern: ' coins ', action: 'hold' })).toEqual({ terms: [{ pattern: 'gold', action: 'block' }, { pattern: 'coins', action: 'hold' }] });
    expect(withTerm([], { pattern: '  ', action: 'block' })).toHaveProperty('error');
    expect(withTerm([{ pattern: 'gold', action: 'block' }], { pattern: 'GOLD', action: 'hold' })).toHaveProperty('error');
    const full = Array.from({ length: MAX_BANNED_TERMS }, (_, i) => ({ pattern: `t${i}`, action: 'block' as const }));
    expect(withTerm(full, { pattern: 'one more', action: 'block' })).toHaveProperty('error');
  });

  it('words the moderation log', () => {
    const e = (action: string, detail: Record<string, unknown> = {}): LogEntry => ({ id: 'e', action, actorUsername: 'mod', targetUsername: 'bob', detail, createdAt: 'x' });
    expect(describeLogEntry(e('ChatUserBanned', { reason: 'spam' }))).toBe('mod banned bob (spam)');
    expect(describeLogEntry(e('ChatUserTimedOut', { durationSeconds: 600, reason: '' }))).toBe('mod timed out bob for 10 min');
    expect(describeLogEntry(e('ChatUserUnbanned'))).toBe('mod lifted the ban or timeout of bob');
    expect(describeLogEntry(e('ChatBannedTermsSet', { terms: [] }))).toBe('mod changed the banned terms');
  });
});
