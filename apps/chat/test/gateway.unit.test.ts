/** Pure parts of the gateway: frame parsing, per-user limits, link detection, room state. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_CHAT_SETTINGS, UUID_V7_PATTERN, containsLink, formatUuidV7, restrictionRefusal, UserLimits, uuidV7Time, type ChatLine, type DomainEvent } from '@live/events';
import { bannedTermsProblem, compileBannedTerms } from '@live/events/terms';
import { parseClientFrame } from '../src/protocol.js';
import { Room } from '../src/room.js';
import { reportIdOf } from '../src/reports.js';

describe('parseClientFrame', () => {
  it('accepts every frame type of the protocol', () => {
    expect(parseClientFrame('{"type":"message","text":"hi","ref":"a1"}')).toEqual({ ok: true, frame: { type: 'message', text: 'hi', ref: 'a1' } });
    expect(parseClientFrame('{"type":"emote","emote":"gg"}')).toEqual({ ok: true, frame: { type: 'emote', emote: 'gg' } });
    expect(parseClientFrame('{"type":"auth","token":"x.y.z"}')).toEqual({ ok: true, frame: { type: 'auth', token: 'x.y.z' } });
    expect(parseClientFrame('{"type":"ping"}')).toEqual({ ok: true, frame: { type: 'ping' } });
    expect(parseClientFrame('{"type":"report","messageId":"m1","reason":"spam"}')).toMatchObject({ ok: true });
    expect(parseClientFrame('{"type":"moderate","action":{"kind":"timeout","userId":"u1","durationSeconds":600,"reason":"calm down"}}'))
      .toEqual({ ok: true, frame: { type: 'moderate', action: { kind: 'timeout', userId: 'u1', durationSeconds: 600, reason: 'calm down' } } });
    expect(parseClientFrame('{"type":"moderate","action":{"kind":"settings","settings":{"slowModeSeconds":30,"emoteOnly":true}}}'))
      .toEqual({ ok: true, frame: { type: 'moderate', action: { kind: 'settings', settings: { slowModeSeconds: 30, emoteOnly: true } } } });
  });

  it('refuses malformed frames with the protocol codes, echoing a valid ref', () => {
    expect(parseClientFrame('nope')).toMatchObject({ ok: false, code: 'BAD_FRAME' });
    expect(parseClientFrame('[]')).toMatchObject({ ok: false, code: 'BAD_FRAME' });
    expect(parseClientFrame('null')).toMatchObject({ ok: false, code: 'BAD_FRAME' });
    expect(parseClientFrame('{"type":"yell","ref":"r"}')).toMatchObject({ ok: false, code: 'UNKNOWN_TYPE', ref: 'r' });
    expect(parseClientFrame('{"text":"no type"}')).toMatchObject({ ok: false, code: 'UNKNOWN_TYPE' });
    expect(parseClientFrame('{"type":"message"}')).toMatchObject({ ok: false, code: 'INVALID_FIELD' });
    expect(parseClientFrame('{"type":"message","text":"x","html":true}')).toMatchObject({ ok: false, code: 'INVALID_FIELD' });
    expect(parseClientFrame('{"type":"emote","emote":"<script>"}')).toMatchObject({ ok: false, code: 'INVALID_FIELD' });
    expect(parseClientFrame('{"type":"ping","ref":""}')).toMatchObject({ ok: false, code: 'INVALID_FIELD' });
    expect(parseClientFrame(`{"type":"ping","ref":"${'x'.repeat(65)}"}`)).toMatchObject({ ok: false, code: 'INVALID_FIELD' });
    expect(parseClientFrame('{"type":"moderate","action":{"kind":"timeout","userId":"u","durationSeconds":0}}')).toMatchObject({ ok: false, code: 'INVALID_FIELD' });
    expect(parseClientFrame('{"type":"moderate","action":{"kind":"timeout","userId":"u","durationSeconds":1209601}}')).toMatchObject({ ok: false, code: 'INVALID_FIELD' });
    expect(parseClientFrame('{"type":"moderate","action":{"kind":"ban","userId":"../x"}}')).toMatchObject({ ok: false, code: 'INVALID_FIELD' });
    expect(parseClientFrame('{"type":"moderate","action":{"kind":"settings","settings":{}}}')).toMatchObject({ ok: false, code: 'INVALID_FIELD' });
    expect(parseClientFrame('{"type":"moderate","action":{"kind":"settings","settings":{"slowModeSeconds":3601}}}')).toMatchObject({ ok: false, code: 'INVALID_FIELD' });
    expect(parseClientFrame('{"type":"moderate","action":{"kind":"settings","settings":{"admin":true}}}')).toMatchObject({ ok: false, code: 'INVALID_FIELD' });
    expect(parseClientFrame('{"type":"report","messageId":"m","reason":7}')).toMatchObject({ ok: false, code: 'INVALID_FIELD' });
  });
});

describe('UserLimits', () => {
  it('is a token bucket of 20 per 5 s that says how long to wait', () => {
    const l = new UserLimits({ capacity: 20, windowMs: 5000 });
    for (let i = 0; i < 20; i++) expect(l.take('u', 1000)).toBe(0);
    expect(l.take('u', 1000)).toBeCloseTo(250, 5); // one token refills every 250 ms
    expect(l.take('u', 1100)).toBeCloseTo(150, 5);
    expect(l.take('u', 1250)).toBe(0);
    expect(l.take('other', 1250)).toBe(0); // per user
    expect(l.take('u', 6250)).toBe(0); // refilled (capped at 20)
    for (let i = 0; i < 19; i++) expect(l.take('u', 6250)).toBe(0);
    expect(l.take('u', 6250)).toBeGreaterThan(0);
  });

  it('counts slow mode from the last reservation and duplicates from the last stored text', () => {
    const l = new UserLimits();
    expect(l.slowModeWait('u', 10, 0)).toBe(0);
    const r = l.reserve('u', 1000);
    expect(l.slowModeWait('u', 10, 1500)).toBe(9500); // in flight counts for slow mode
    expect(l.isDuplicate('u', 'hello world', 1500)).toBe(false); // but not for duplicates yet
    r.stored('Hello  World', 1000);
    expect(l.slowModeWait('u', 10, 4000)).toBe(7000);
    expect(l.slowModeWait('u', 0, 4000)).toBe(0);
    expect(l.slowModeWait('u', 10, 11_000)).toBe(0);
    expect(l.isDuplicate('u', 'hello world', 20_000)).toBe(true);
    expect(l.isDuplicate('u', 'hello world!', 20_000)).toBe(false);
    expect(l.isDuplicate('u', 'hello world', 31_001)).toBe(false);
    expect(l.isDuplicate('v', 'hello world', 20_000)).toBe(false);
    l.sweep(10_000_000);
    expect(l.size).toBe(0);
  });

  it('forgets a failed message\'s reservation, whatever else was in flight, and never makes its retry a duplicate', () => {
    const l = new UserLimits();
    l.reserve('u', 1000).stored('first', 1000);
    l.reserve('u', 2000).release();
    expect(l.isDuplicate('u', 'second', 3000)).toBe(false);
    expect(l.isDuplicate('u', 'first', 3000)).toBe(true);
    expect(l.slowModeWait('u', 10, 3000)).toBe(8000); // from the first again
    // Two appends in flight, the later one stored, then the earlier fails: its retry is no duplicate.
    const a = l.reserve('u', 4000);
    const b = l.reserve('u', 5000);
    b.stored('B', 5100);
    a.release();
    expect(l.isDuplicate('u', 'A', 6000)).toBe(false);
    expect(l.slowModeWait('u', 10, 6000)).toBe(9000);
    // Both fail, in either order: slow mode counts from the last stored message again.
    const c = l.reserve('u', 7000);
    const d = l.reserve('u', 8000);
    d.release();
    c.release();
    c.stored('late', 9000); // settled already: ignored
    expect(l.slowModeWait('u', 10, 9000)).toBe(6000);
    expect(l.isDuplicate('u', 'B', 9000)).toBe(true);
  });
});

describe('containsLink', () => {
  it('finds the links spam uses and leaves ordinary text alone', () => {
    for (const t of ['go to https://x.y', 'www.example.org', 'buy at cheap-stuff.com now', 'HTTP://SHOUT.TV', 'ftp://files', 'visit twitch.tv/foo']) expect(containsLink(t)).toBe(true);
    for (const t of ['hello world', 'the score is 2.5', 'e.g. this', 'version 1.2.3', 'gg wp']) expect(containsLink(t)).toBe(false);
  });
});

describe('banned terms', () => {
  it('validates RE2 patterns and matches case-insensitively, block before hold', () => {
    expect(bannedTermsProblem([{ pattern: 'sp[a@]m', action: 'block' }])).toBeNull();
    expect(bannedTermsProblem([{ pattern: '(a+)+\\1', action: 'block' }])).toMatch(/not a valid RE2/); // back-references are not RE2
    expect(bannedTermsProblem([{ pattern: '', action: 'hold' }])).toMatch(/1\.\.200/);
    expect(bannedTermsProblem([{ pattern: 'x', action: 'delete' as never }])).toMatch(/block or hold/);
    const m = compileBannedTerms([{ pattern: 'maybe', action: 'hold' }, { pattern: 'sp[a@]m', action: 'block' }]);
    expect(m('SP@M and maybe')).toEqual({ pattern: 'sp[a@]m', action: 'block' });
    expect(m('Maybe later')).toEqual({ pattern: 'maybe', action: 'hold' });
    expect(m('fine')).toBeNull();
    // linear time: a pattern that makes back-tracking engines explode returns at once
    const evil = compileBannedTerms([{ pattern: '(a|aa)+$', action: 'block' }]);
    const t0 = Date.now();
    expect(evil(`${'a'.repeat(5000)}!`)).toBeNull();
    // milliseconds in linear time; a back-tracking engine would not finish in years, so a
    // generous bound tells them apart even on a loaded machine
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});

describe('Room', () => {
  const line = (seq: number, id = `m${seq}`): ChatLine => ({ id, seq, kind: 'message', userId: 'u', username: 'u', text: `t${seq}`, at: '2026-01-01T00:00:00Z' });
  const room = () => new Room({
    channelId: 'c', ownerUserId: 'owner', moderatorIds: ['mod'], liveSessionId: null, viewerCount: 0, settings: DEFAULT_CHAT_SETTINGS,
    restrictions: [{ userId: 'banned', until: null }, { userId: 'late', until: new Date(5000) }], terms: [], hiddenAuthors: [],
  }, { capacity: 20, windowMs: 5000 });
  const ev = (type: string, data: Record<string, unknown>): DomainEvent => ({
    id: 'e', type, version: 1, occurredAt: '2026-01-01T00:00:00Z', subject: 'evt.channel.c', data: { channelId: 'c', ...data }, meta: { correlationId: 'e', causationId: null, producer: 't' },
  }) as DomainEvent;

  it('serves the last 50 on join, everything after a cursor on resume, and drops tombstoned lines', () => {
    const r = room();
    for (let s = 1; s <= 120; s += 2) r.addLine(line(s));
    expect(r.addLine(line(5))).toBe(false); // already held: a redelivery
    expect(r.history(undefined).messages.map((l) => l.seq)).toEqual(Array.from({ length: 50 }, (_, i) => 21 + 2 * i));
    expect(r.history(100)).toEqual({ messages: [101, 103, 105, 107, 109, 111, 113, 115, 117, 119].map((s) => line(s)), complete: true });
    expect(r.removeLine('m101')?.seq).toBe(101);
    expect(r.history(100).messages.map((l) => l.seq)[0]).toBe(103);
    expect(r.line('m101')).toBeUndefined();
  });

  it('leaves out a banned or timed-out author\'s earlier messages for good, and shows what they send after the unban', () => {
    const r = room();
    const at = (seq: number, userId: string, iso: string): ChatLine => ({ ...line(seq), userId, at: iso });
    r.addLine(at(1, 'spam', '2026-01-01T00:00:00Z'));
    r.addLine(at(2, 'kind', '2026-01-01T00:00:00Z'));
    r.apply(ev('ChatUserBanned', { userId: 'spam', actorUserId: 'mod', reason: '' })); // occurredAt 00:00:00
    expect(r.history(undefined).messages.map((l) => l.seq)).toEqual([2]);
    expect(r.addLine(at(3, 'spam', '2026-01-01T00:00:00Z'))).toBe(false); // raced the ban: hidden, not broadcast
    r.apply(ev('ChatUserUnbanned', { userId: 'spam', actorUserId: 'mod' }));
    expect(r.addLine(at(4, 'spam', '2026-01-01T00:00:01Z'))).toBe(true);
    expect(r.history(undefined).messages.map((l) => l.seq)).toEqual([2, 4]);
    const reopened = new Room({
      channelId: 'c', ownerUserId: 'owner', moderatorIds: [], liveSessionId: null, viewerCount: 0, settings: DEFAULT_CHAT_SETTINGS,
      restrictions: [], terms: [], hiddenAuthors: [{ userId: 'spam', through: new Date('2026-01-01T00:00:00Z') }],
    }, { capacity: 20, windowMs: 5000 });
    expect([1, 4].map((seq) => reopened.addLine(at(seq, 'spam', seq === 1 ? '2026-01-01T00:00:00Z' : '2026-01-01T00:00:01Z')))).toEqual([false, true]);
  });

  it('keeps at most 1,000 lines and says when a resume cursor is older than what it holds', () => {
    const r = room();
    for (let s = 1; s <= 1100; s++) r.addLine(line(s));
    expect(r.size).toBe(1000);
    expect(r.history(50).complete).toBe(false);
    expect(r.history(100).complete).toBe(true);
  });

  it('knows moderators, bans and timeouts, and applies moderation events idempotently', () => {
    const r = room();
    expect(r.isModerator({ userId: 'owner', username: 'o', admin: false })).toBe(true);
    expect(r.isModerator({ userId: 'mod', username: 'm', admin: false })).toBe(true);
    expect(r.isModerator({ userId: 'x', username: 'x', admin: true })).toBe(true);
    expect(r.isModerator({ userId: 'x', username: 'x', admin: false })).toBe(false);
    expect(r.restrictionOf('banned', 0)).toEqual({ kind: 'ban' });
    expect(r.restrictionOf('late', 4000)).toEqual({ kind: 'timeout', remainingMs: 1000 });
    expect(r.restrictionOf('late', 5000)).toBeNull();
    expect(r.apply(ev('ChatUserBanned', { userId: 'x', actorUserId: 'mod', reason: '' }))).toMatchObject({ type: 'moderation', action: 'ban', userId: 'x' });
    r.apply(ev('ChatUserBanned', { userId: 'x', actorUserId: 'mod', reason: '' }));
    expect(r.restrictionOf('x', 0)).toEqual({ kind: 'ban' });
    r.apply(ev('ChatUserUnbanned', { userId: 'x', actorUserId: 'mod' }));
    expect(r.restrictionOf('x', 0)).toBeNull();
    r.apply(ev('ChannelModeratorAdded', { userId: 'x', actorUserId: 'owner' }));
    expect(r.isModerator({ userId: 'x', username: 'x', admin: false })).toBe(true);
    r.apply(ev('ChannelModeratorRemoved', { userId: 'x', actorUserId: 'owner' }));
    expect(r.isModerator({ userId: 'x', username: 'x', admin: false })).toBe(false);
    expect(r.apply(ev('ChatSettingsChanged', { actorUserId: 'mod', settings: { ...DEFAULT_CHAT_SETTINGS, emoteOnly: true } }))).toMatchObject({ type: 'mode' });
    expect(r.settings.emoteOnly).toBe(true);
    r.apply(ev('ChatBannedTermsSet', { actorUserId: 'mod', terms: [{ pattern: 'bad', action: 'block' }] }));
    expect(r.channelTerm('so BAD')).toEqual({ pattern: 'bad', action: 'block' });
    expect(r.apply(ev('ChannelViewersCounted', { viewers: 7 }))).toEqual({ type: 'viewers', count: 7 });
    expect(r.apply(ev('ChannelViewersCounted', { viewers: 7 }))).toBeNull();
  });
});

describe('restrictionRefusal', () => {
  it('refuses a ban with BANNED and a timeout with TIMED_OUT and the time left', () => {
    expect(restrictionRefusal({ kind: 'ban' })).toEqual({ code: 'BANNED', message: 'you are banned from this chat' });
    expect(restrictionRefusal({ kind: 'timeout', remainingMs: 1234 })).toEqual({ code: 'TIMED_OUT', message: 'you are timed out in this chat', retryAfterMs: 1234 });
  });
});

describe('reportIdOf', () => {
  const messageId = formatUuidV7(Date.parse('2026-11-20T10:00:00Z'), new Uint8Array(10).fill(7));
  it('is one UUIDv7 per room, message and reporter, timed like the message', () => {
    const id = reportIdOf('room', messageId, 'leo');
    expect(id).toMatch(UUID_V7_PATTERN);
    expect(reportIdOf('room', messageId, 'leo')).toBe(id);
    expect(uuidV7Time(id)).toBe(uuidV7Time(messageId));
    const others = [reportIdOf('room', messageId, 'kim'), reportIdOf('room2', messageId, 'leo'), reportIdOf('room', formatUuidV7(1, new Uint8Array(10)), 'leo')];
    expect(new Set([id, ...others]).size).toBe(4);
  });
  it('does not let ids run into each other across fields', () => {
    expect(reportIdOf('a', 'b-c', 'd')).not.toBe(reportIdOf('a-b', 'c', 'd'));
    expect(reportIdOf('r', 'not-a-uuid', 'u')).toMatch(UUID_V7_PATTERN); // any message id still gives a valid id
  });
});
