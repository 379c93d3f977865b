import { describe, expect, it } from 'vitest';
import {
  DEFAULT_CHAT_SETTINGS, UserLimits, decideChatSend, decidingTerm, hideAuthorMessages, isHiddenChatLine, needsFollowerCheck, restrictionAt,
  type BannedTerm, type ChatRoomSettings, type ChatSendContext,
} from '../src/index.js';

const NOW = Date.parse('2026-12-07T10:00:00.000Z');
const none = (): BannedTerm | null => null;
const term = (pattern: string, action: BannedTerm['action']) => (text: string): BannedTerm | null => (text.includes(pattern) ? { pattern, action } : null);

function ctx(over: Partial<ChatSendContext> = {}, settings: Partial<ChatRoomSettings> = {}): ChatSendContext {
  return {
    userId: 'viewer', moderator: false, restriction: null, settings: { ...DEFAULT_CHAT_SETTINGS, ...settings }, limits: new UserLimits({ capacity: 5, windowMs: 5000 }),
    rateLimit: { capacity: 5, windowMs: 5000 }, globalTerm: none, channelTerm: none, follower: false, now: NOW, ...over,
  };
}

describe('decideChatSend (one set of rules for the gateway and POST /api/streams/{id}/chat)', () => {
  it('accepts a message with its text cleaned (NFC, trimmed), and an emote', () => {
    expect(decideChatSend({ kind: 'message', text: '  cafe\u0301  ' }, ctx())).toEqual({ ok: true, kind: 'message', text: 'caf\u00e9', heldBy: null });
    expect(decideChatSend({ kind: 'emote', text: 'gg' }, ctx())).toEqual({ ok: true, kind: 'emote', text: 'gg', heldBy: null });
  });

  it('refuses a banned user with BANNED and a timed-out one with TIMED_OUT and the time left, before anything else', () => {
    expect(decideChatSend({ kind: 'message', text: 'hi' }, ctx({ restriction: { kind: 'ban' } }))).toEqual({ ok: false, code: 'BANNED', message: 'you are banned from this chat' });
    expect(decideChatSend({ kind: 'message', text: '' }, ctx({ restriction: { kind: 'timeout', remainingMs: 900 } }))).toMatchObject({ ok: false, code: 'TIMED_OUT', retryAfterMs: 900 });
    expect(decideChatSend({ kind: 'message', text: 'hi' }, ctx({ moderator: true, restriction: { kind: 'ban' } }))).toMatchObject({ code: 'BANNED' });
  });

  it('refuses bad text: too long, empty, control characters', () => {
    expect(decideChatSend({ kind: 'message', text: 'x'.repeat(501) }, ctx())).toMatchObject({ ok: false, code: 'MESSAGE_TOO_LONG' });
    expect(decideChatSend({ kind: 'message', text: '   ' }, ctx())).toMatchObject({ ok: false, code: 'INVALID_TEXT' });
    expect(decideChatSend({ kind: 'message', text: 'a\u0007' }, ctx())).toMatchObject({ ok: false, code: 'INVALID_TEXT' });
  });

  it('rate-limits: one token per message, then RATE_LIMITED with the wait', () => {
    const c = ctx();
    for (let i = 0; i < 5; i++) expect(decideChatSend({ kind: 'emote', text: 'gg' }, c)).toMatchObject({ ok: true });
    expect(decideChatSend({ kind: 'emote', text: 'gg' }, c)).toMatchObject({ ok: false, code: 'RATE_LIMITED', retryAfterMs: 1000 });
  });

  it('applies the room modes to viewers but not to moderators', () => {
    expect(decideChatSend({ kind: 'message', text: 'hi' }, ctx({}, { emoteOnly: true }))).toMatchObject({ ok: false, code: 'EMOTE_ONLY' });
    expect(decideChatSend({ kind: 'emote', text: 'gg' }, ctx({}, { emoteOnly: true }))).toMatchObject({ ok: true });
    expect(decideChatSend({ kind: 'message', text: 'see example.com' }, ctx({}, { linksAllowed: false }))).toMatchObject({ ok: false, code: 'LINKS_NOT_ALLOWED' });
    expect(decideChatSend({ kind: 'message', text: 'hi' }, ctx({}, { followersOnly: true }))).toMatchObject({ ok: false, code: 'FOLLOWERS_ONLY' });
    expect(decideChatSend({ kind: 'message', text: 'hi' }, ctx({ follower: true }, { followersOnly: true }))).toMatchObject({ ok: true });
    expect(decideChatSend({ kind: 'message', text: 'see example.com' }, ctx({ moderator: true }, { linksAllowed: false, emoteOnly: true, followersOnly: true }))).toMatchObject({ ok: true });
    expect(needsFollowerCheck({ ...DEFAULT_CHAT_SETTINGS, followersOnly: true }, false)).toBe(true);
    expect(needsFollowerCheck({ ...DEFAULT_CHAT_SETTINGS, followersOnly: true }, true)).toBe(false);
  });

  it('counts slow mode and duplicates from what was stored (reserve / stored)', () => {
    const c = ctx({}, { slowModeSeconds: 10 });
    expect(decideChatSend({ kind: 'message', text: 'one' }, c)).toMatchObject({ ok: true });
    c.limits.reserve('viewer', NOW).stored('one', NOW);
    expect(decideChatSend({ kind: 'message', text: 'two' }, { ...c, now: NOW + 4000 })).toMatchObject({ ok: false, code: 'SLOW_MODE', retryAfterMs: 6000 });
    const d = ctx();
    d.limits.reserve('viewer', NOW).stored('Same  text', NOW);
    expect(decideChatSend({ kind: 'message', text: 'same text' }, { ...d, now: NOW + 1000 })).toMatchObject({ ok: false, code: 'DUPLICATE_MESSAGE' });
    expect(decideChatSend({ kind: 'message', text: 'same text' }, { ...d, now: NOW + 31_000 })).toMatchObject({ ok: true });
  });

  it('blocks a block term and holds a hold term; a block term of either list wins', () => {
    expect(decideChatSend({ kind: 'message', text: 'buy gold' }, ctx({ channelTerm: term('gold', 'block') }))).toMatchObject({ ok: false, code: 'BLOCKED_TERM' });
    expect(decideChatSend({ kind: 'message', text: 'buy gold' }, ctx({ globalTerm: term('gold', 'hold') }))).toEqual({ ok: true, kind: 'message', text: 'buy gold', heldBy: 'gold' });
    expect(decidingTerm({ pattern: 'g', action: 'hold' }, { pattern: 'c', action: 'block' })).toEqual({ pattern: 'c', action: 'block' });
    expect(decidingTerm(null, { pattern: 'c', action: 'hold' })).toEqual({ pattern: 'c', action: 'hold' });
    expect(decidingTerm(null, null)).toBeNull();
  });
});

describe('restrictionAt', () => {
  it('is a ban for null, a timeout with the ms left until it ends, else nothing', () => {
    expect(restrictionAt(null, NOW)).toEqual({ kind: 'ban' });
    expect(restrictionAt(NOW + 500, NOW)).toEqual({ kind: 'timeout', remainingMs: 500 });
    expect(restrictionAt(NOW, NOW)).toBeNull();
    expect(restrictionAt(undefined, NOW)).toBeNull();
  });
});

describe('hidden chat lines', () => {
  it('hides an author\'s messages up to their latest ban or timeout, keeps later ones, and others\' messages', () => {
    const hidden = new Map<string, number>();
    hideAuthorMessages(hidden, 'spam', '2026-12-07T10:00:00.000Z');
    hideAuthorMessages(hidden, 'spam', '2026-12-07T09:00:00.000Z'); // an older ban does not shorten it
    hideAuthorMessages(hidden, 'spam', 'not a time');
    expect(isHiddenChatLine({ userId: 'spam', at: '2026-12-07T09:59:59.000Z' }, hidden)).toBe(true);
    expect(isHiddenChatLine({ userId: 'spam', at: '2026-12-07T10:00:00.000Z' }, hidden)).toBe(true);
    expect(isHiddenChatLine({ userId: 'spam', at: '2026-12-07T10:00:00.001Z' }, hidden)).toBe(false);
    expect(isHiddenChatLine({ userId: 'kind', at: '2026-12-07T09:00:00.000Z' }, hidden)).toBe(false);
  });
});
