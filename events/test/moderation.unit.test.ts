import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { decideRestriction, MAX_MODERATION_REASON_LENGTH, MAX_TIMEOUT_SECONDS, type EventClock } from '../src/index.js';

const NOW = Date.parse('2026-12-07T10:00:00.000Z');
const clock: EventClock = { now: () => NOW, randomBytes: (n) => randomBytes(n) };
const ctx = { channelId: 'chan', ownerUserId: 'owner', actorUserId: 'mod', producer: 'test' };

describe('chat restrictions (one set of rules for the API and the gateway)', () => {
  it('bans and times out with a cleaned reason; a timeout ends at the caller\'s clock plus its duration', () => {
    const ban = decideRestriction(clock, { kind: 'ban', userId: 'harry', reason: '  spam  ' }, ctx);
    expect(ban).toMatchObject({ ok: true, event: { type: 'ChatUserBanned', subject: 'evt.channel.chan', data: { channelId: 'chan', userId: 'harry', actorUserId: 'mod', reason: 'spam' } } });
    const timeout = decideRestriction(clock, { kind: 'timeout', userId: 'harry', durationSeconds: 600 }, ctx);
    expect(timeout).toMatchObject({ ok: true, event: { type: 'ChatUserTimedOut', data: { durationSeconds: 600, until: '2026-12-07T10:10:00.000Z', reason: '' } } });
    expect(decideRestriction(clock, { kind: 'unban', userId: 'harry' }, ctx)).toMatchObject({ ok: true, event: { type: 'ChatUserUnbanned', data: { userId: 'harry', actorUserId: 'mod' } } });
  });

  it('refuses the owner and oneself with CANNOT_RESTRICT, never an unban', () => {
    expect(decideRestriction(clock, { kind: 'ban', userId: 'owner' }, ctx)).toMatchObject({ ok: false, code: 'CANNOT_RESTRICT' });
    expect(decideRestriction(clock, { kind: 'timeout', userId: 'mod', durationSeconds: 60 }, ctx)).toMatchObject({ ok: false, code: 'CANNOT_RESTRICT' });
    expect(decideRestriction(clock, { kind: 'unban', userId: 'owner' }, ctx)).toMatchObject({ ok: true });
  });

  it('refuses a reason that does not clean and a duration out of range', () => {
    expect(decideRestriction(clock, { kind: 'ban', userId: 'harry', reason: 'x'.repeat(MAX_MODERATION_REASON_LENGTH + 1) }, ctx)).toMatchObject({ ok: false, code: 'INVALID_REASON' });
    expect(decideRestriction(clock, { kind: 'ban', userId: 'harry', reason: 'a\u0000b' }, ctx)).toMatchObject({ ok: false, code: 'INVALID_REASON' });
    for (const d of [0, 1.5, MAX_TIMEOUT_SECONDS + 1, Number.NaN]) {
      expect(decideRestriction(clock, { kind: 'timeout', userId: 'harry', durationSeconds: d }, ctx)).toMatchObject({ ok: false, code: 'INVALID_DURATION' });
    }
  });
});
