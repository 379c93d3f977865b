/** The chat panel's pure state: frames folded by the reducer, socket decisions, texts. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_CHAT_SETTINGS, type ChatLine, type ChatServerFrame } from '@live/events';
import {
  canSendText, chatReconnectDelayMs, chatReducer, chatSocketUrl, chatTextLength, closeDecision, describeModeChange, feedbackText,
  clockTime, INFO_FEEDBACK_MS, INITIAL_CHAT_STATE, lineCount, MAX_KEPT_CHAT_ENTRIES, modeBadges, parseServerFrame, restrictionText, waitLabel,
  type ChatAction, type ChatState,
} from '../src/chat';
import { moderationQueuePath, parseModerationQueue, resolutionsFor, resolvePath } from '../src/moderation';

const NOW = 1_750_000_000_000;

const line = (seq: number, over: Partial<ChatLine> = {}): ChatLine => ({
  id: `m${seq}`, seq, kind: 'message', userId: 'u1', username: 'alice', text: `hello ${seq}`, at: '2025-06-15T12:00:00.000Z', ...over,
});
const msg = (l: ChatLine): ChatServerFrame => ({ type: 'message', ...l });
const welcome = (viewers = 3): ChatServerFrame => ({ type: 'welcome', room: 'nova', connectionId: 'c1', settings: DEFAULT_CHAT_SETTINGS, viewers });
const frame = (f: ChatServerFrame, now = NOW): ChatAction => ({ type: 'frame', frame: f, now });
const run = (actions: ChatAction[], from: ChatState = INITIAL_CHAT_STATE): ChatState => actions.reduce(chatReducer, from);
const texts = (s: ChatState) => s.entries.map((e) => (e.type === 'line' ? e.line.text : `[${e.text}]`));
const ids = (s: ChatState) => s.entries.flatMap((e) => (e.type === 'line' ? [e.line.id] : []));

describe('joining and messages', () => {
  it('shows the backlog after the welcome, then live messages, tracking the last seq', () => {
    const s = run([
      frame(welcome(7)),
      frame({ type: 'history', messages: [line(3), line(5)], complete: true }),
      frame(msg(line(9))),
      frame({ type: 'emote', ...line(11, { kind: 'emote', text: 'fire' }) }),
    ]);
    expect(s.connection).toBe('open');
    expect(s.viewers).toBe(7);
    expect(ids(s)).toEqual(['m3', 'm5', 'm9', 'm11']);
    expect(s.lastSeq).toBe(11);
    expect(lineCount(s)).toBe(4);
  });

  it('keeps markup as the literal text it is', () => {
    const s = run([frame(welcome()), frame(msg(line(1, { text: '<img src=x onerror="window.__xss=1">hello' })))]);
    expect(texts(s)).toEqual(['<img src=x onerror="window.__xss=1">hello']);
  });

  it('drops duplicates by id and orders by seq when a resume overlaps what was shown', () => {
    const before = run([frame(welcome()), frame({ type: 'history', messages: [line(1), line(2)], complete: true }), frame(msg(line(4)))]);
    const after = run([
      { type: 'closed', code: 1006, now: NOW, retryInMs: 1000 },
      { type: 'connecting' },
      frame(welcome()),
      // The gateway replays everything after ?after=4, and the same line may also come live.
      frame({ type: 'history', messages: [line(4), line(6), line(7)], complete: true }),
      frame(msg(line(7))),
      frame(msg(line(3))), // late, older: inserted in place
    ], before);
    expect(ids(after)).toEqual(['m1', 'm2', 'm3', 'm4', 'm6', 'm7']);
    expect(after.lastSeq).toBe(7);
  });

  it('says when a resume could not replay everything that was missed', () => {
    const s = run([
      frame(welcome()), frame(msg(line(10))),
      { type: 'closed', code: 1001, now: NOW, retryInMs: 1000 }, { type: 'connecting' }, frame(welcome()),
      frame({ type: 'history', messages: [line(500)], complete: false }),
    ]);
    expect(texts(s)).toEqual(['hello 10', 'hello 500', '[Some messages were missed while disconnected.]']);
  });

  it(`keeps at most ${MAX_KEPT_CHAT_ENTRIES} entries, dropping the oldest`, () => {
    const lines = Array.from({ length: MAX_KEPT_CHAT_ENTRIES + 20 }, (_, i) => line(i + 1));
    const s = run([frame(welcome()), frame({ type: 'history', messages: lines, complete: true })]);
    expect(s.entries.length).toBe(MAX_KEPT_CHAT_ENTRIES);
    expect(ids(s)[0]).toBe('m21');
  });

  it('updates the viewer count and shows notices', () => {
    const s = run([frame(welcome(2)), frame({ type: 'viewers', count: 41 }), frame({ type: 'notice', code: 'LIVE', text: 'The stream is live', at: 'x' })]);
    expect(s.viewers).toBe(41);
    expect(texts(s)).toEqual(['[The stream is live]']);
  });
});

describe('moderation', () => {
  const base = () => run([
    frame(welcome()),
    frame({ type: 'history', messages: [line(1), line(2, { userId: 'u2', username: 'troll' }), line(3, { userId: 'u2', username: 'troll' })], complete: true }),
  ]);

  it('turns a deleted message into a tombstone, also when it arrives again later', () => {
    let s = chatReducer(base(), frame({ type: 'moderation', action: 'delete', messageId: 'm2', actorUserId: 'mod', at: 'x' }));
    expect(s.entries.map((e) => e.type === 'line' && e.status)).toEqual(['visible', 'deleted', 'visible']);
    // A deletion of a message not (yet) held: it stays deleted when it shows up.
    s = run([frame({ type: 'moderation', action: 'delete', messageId: 'm9', actorUserId: 'mod', at: 'x' }), frame(msg(line(9)))], s);
    const last = s.entries[s.entries.length - 1]!;
    expect(last.type === 'line' && last.status).toBe('deleted');
  });

  it('greys the lines of a banned or timed-out user', () => {
    const s = chatReducer(base(), frame({ type: 'moderation', action: 'ban', userId: 'u2', actorUserId: 'mod', at: 'x' }));
    expect(s.entries.map((e) => e.type === 'line' && e.status)).toEqual(['visible', 'removed', 'removed']);
    expect(s.restriction).toBeNull(); // someone else
  });

  it('restricts the signed-in user when they are timed out, banned, and unbanned', () => {
    const me = run([frame({ type: 'authenticated', userId: 'u2', username: 'troll', moderator: false })], base());
    const timedOut = chatReducer(me, frame({ type: 'moderation', action: 'timeout', userId: 'u2', durationSeconds: 600, actorUserId: 'mod', at: 'x' }));
    expect(timedOut.restriction).toEqual({ kind: 'timeout', until: NOW + 600_000 });
    expect(restrictionText(timedOut.restriction, NOW + 1000)).toBe(`You are timed out until ${clockTime(NOW + 600_000)} (9 min 59 s left).`);
    expect(restrictionText(timedOut.restriction, NOW + 600_000)).toBeNull();
    const banned = chatReducer(timedOut, frame({ type: 'moderation', action: 'ban', userId: 'u2', actorUserId: 'mod', at: 'x' }));
    expect(restrictionText(banned.restriction, NOW)).toBe('You are banned from this chat.');
    expect(chatReducer(banned, frame({ type: 'moderation', action: 'unban', userId: 'u2', actorUserId: 'mod', at: 'x' })).restriction).toBeNull();
    // A new connection forgets a ban (it may have been lifted meanwhile; the gateway repeats it), not a timeout.
    expect(chatReducer(banned, frame(welcome())).restriction).toBeNull();
    expect(chatReducer(timedOut, frame(welcome())).restriction).toEqual(timedOut.restriction);
  });

  it('applies room settings and announces what changed', () => {
    const next = { ...DEFAULT_CHAT_SETTINGS, slowModeSeconds: 30, emoteOnly: true };
    const s = chatReducer(base(), frame({ type: 'mode', settings: next, actorUserId: 'mod', at: 't1' }));
    expect(s.settings).toEqual(next);
    expect(texts(s).slice(-2)).toEqual(['[Slow mode is on: one message every 30 s.]', '[Emote-only mode is on.]']);
    expect(modeBadges(next)).toEqual(['Slow mode 30 s', 'Emote-only']);
    expect(describeModeChange(next, { ...next, followersOnly: true, linksAllowed: false })).toEqual(['Followers-only mode is on.', 'Links are not allowed.']);
  });
});

describe('sending and its answers', () => {
  const open = () => run([frame(welcome()), frame({ type: 'authenticated', userId: 'u1', username: 'alice', moderator: true, ref: 'c1' })]);

  it('knows who it is (and whether a moderator) once authenticated', () => {
    expect(open().me).toEqual({ userId: 'u1', username: 'alice', moderator: true });
  });

  it('counts slow mode down, and puts the refused text back', () => {
    const s = run([
      { type: 'sent', ref: 'c2', pending: { kind: 'message', text: 'too soon' } },
      frame({ type: 'slow_mode', slowModeSeconds: 30, retryAfterMs: 12_400, ref: 'c2' }),
    ], open());
    expect(s.pending).toEqual({});
    expect(s.feedback).toMatchObject({ code: 'SLOW_MODE', until: NOW + 12_400, failedText: 'too soon' });
    expect(feedbackText(s.feedback, NOW)).toBe('Slow mode is on. You can send again in 13 s.');
    expect(feedbackText(s.feedback, NOW + 12_000)).toBe('Slow mode is on. You can send again in 1 s.');
    expect(feedbackText(s.feedback, NOW + 12_400)).toBeNull();
  });

  it.each([
    ['RATE_LIMITED', 2000, 'You are sending messages too quickly. You can send again in 2 s.'],
    ['FOLLOWERS_ONLY', undefined, 'This chat is in followers-only mode: follow the channel to chat.'],
    ['EMOTE_ONLY', undefined, 'This chat is in emote-only mode: send an emote.'],
    ['BLOCKED_TERM', undefined, 'Your message contains a blocked term.'],
    ['LINKS_NOT_ALLOWED', undefined, 'Links are not allowed in this chat.'],
  ] as const)('shows %s inline', (code, retryAfterMs, text) => {
    const s = run([
      { type: 'sent', ref: 'c2', pending: { kind: 'message', text: 'hi' } },
      frame({ type: 'error', code, message: 'server words', ref: 'c2', ...(retryAfterMs ? { retryAfterMs } : {}) }),
    ], open());
    expect(feedbackText(s.feedback, NOW)).toBe(text);
    expect(s.feedback?.failedText).toBe('hi');
  });

  it('takes the restriction the gateway announces on signing in, so the send box is disabled before a send', () => {
    const until = '2026-12-07T12:34:00.000Z';
    const banned = run([frame({ type: 'authenticated', userId: 'u2', username: 'troll', moderator: false, restriction: { kind: 'ban' } })], open());
    expect(banned.restriction).toEqual({ kind: 'banned', until: null });
    const timedOut = run([frame({ type: 'authenticated', userId: 'u2', username: 'troll', moderator: false, restriction: { kind: 'timeout', until } })], open());
    expect(timedOut.restriction).toEqual({ kind: 'timeout', until: Date.parse(until) });
    expect(restrictionText(timedOut.restriction, Date.parse(until) - 60_000)).toBe(`You are timed out until ${clockTime(Date.parse(until))} (1 min left).`);
    // Signed in again without a restriction (lifted meanwhile): none.
    expect(run([frame({ type: 'authenticated', userId: 'u2', username: 'troll', moderator: false })], banned).restriction).toBeNull();
    // A malformed restriction is dropped, the frame kept.
    const f = parseServerFrame(JSON.stringify({ type: 'authenticated', userId: 'u2', username: 't', moderator: false, restriction: { kind: 'timeout', until: 'soon' } }));
    expect(f).toEqual({ type: 'authenticated', userId: 'u2', username: 't', moderator: false });
  });

  it('writes the end of a timeout as hh:mm in the local time zone', () => {
    expect(clockTime(new Date(2026, 11, 7, 9, 5, 59).getTime())).toBe('09:05');
    expect(clockTime(new Date(2026, 11, 7, 23, 40).getTime())).toBe('23:40');
  });

  it('turns BANNED into a standing restriction', () => {
    const s = chatReducer(open(), frame({ type: 'error', code: 'BANNED', message: 'x', ref: 'c2' }));
    expect(s.restriction).toEqual({ kind: 'banned', until: null });
    expect(s.feedback).toBeNull();
    expect(restrictionText(s.restriction, NOW)).toBe('You are banned from this chat.');
  });

  it('turns TIMED_OUT with a wait into a restriction', () => {
    const s = chatReducer(open(), frame({ type: 'error', code: 'TIMED_OUT', message: 'x', retryAfterMs: 90_000 }));
    expect(s.restriction).toEqual({ kind: 'timeout', until: NOW + 90_000 });
  });

  it('tells a restricted reporter why the report was refused, besides the restriction', () => {
    const s = run([
      { type: 'sent', ref: 'r1', pending: { kind: 'report', text: '' } },
      frame({ type: 'error', code: 'TIMED_OUT', message: 'x', ref: 'r1', retryAfterMs: 60_000 }),
    ], open());
    expect(s.restriction).toEqual({ kind: 'timeout', until: NOW + 60_000 });
    expect(s.feedback?.code).toBe('TIMED_OUT');
  });

  it('uses the server message for codes it has no text for', () => {
    const s = chatReducer(open(), frame({ type: 'error', code: 'INVALID_FIELD', message: 'reason is too long' }));
    expect(feedbackText(s.feedback, NOW)).toBe('reason is too long');
  });

  it('leaves an expired token on a sent frame to the socket owner (it refreshes and re-sends)', () => {
    const s = run([
      { type: 'sent', ref: 'c2', pending: { kind: 'message', text: 'hi' } },
      frame({ type: 'error', code: 'TOKEN_EXPIRED', message: 'x', ref: 'c2' }),
    ], open());
    expect(s.feedback).toBeNull();
    expect(s.pending).toEqual({});
  });

  it('says when a message is held for review, and thanks for a report, for a while', () => {
    const held = run([{ type: 'sent', ref: 'c3', pending: { kind: 'message', text: 'hm' } }, frame({ type: 'ack', ref: 'c3', id: 'e1', status: 'held' })], open());
    expect(feedbackText(held.feedback, NOW)).toBe('Your message is held for review by the moderators.');
    expect(feedbackText(held.feedback, NOW + INFO_FEEDBACK_MS)).toBeNull();
    const reported = run([{ type: 'sent', ref: 'c4', pending: { kind: 'report', text: '' } }, frame({ type: 'ack', ref: 'c4', id: 'e2', status: 'done' })], open());
    expect(reported.feedback?.code).toBe('REPORTED');
  });

  it('clears a send error once a message is accepted', () => {
    const s = run([
      frame({ type: 'error', code: 'DUPLICATE_MESSAGE', message: 'x', ref: 'c2' }),
      { type: 'sent', ref: 'c3', pending: { kind: 'message', text: 'new' } },
      frame({ type: 'ack', ref: 'c3', id: 'e1', status: 'accepted', seq: 5 }),
    ], open());
    expect(s.feedback).toBeNull();
  });

  it('forgets pending frames and the identity as needed', () => {
    const s = run([{ type: 'sent', ref: 'c2', pending: { kind: 'message', text: 'x' } }, { type: 'closed', code: 1006, now: NOW, retryInMs: 2000 }], open());
    expect(s).toMatchObject({ connection: 'reconnecting', retryAt: NOW + 2000, pending: {}, closedReason: 'Lost the connection to chat.' });
    expect(chatReducer(s, { type: 'signed_out' }).me).toBeNull();
  });

  it('stops for good on 4004', () => {
    expect(chatReducer(open(), { type: 'closed', code: 4004, now: NOW, retryInMs: null })).toMatchObject({ connection: 'closed', closedReason: 'This channel has no chat room.' });
  });
});

describe('socket decisions', () => {
  it('builds the room URL on the page origin, with the resume cursor', () => {
    expect(chatSocketUrl({ protocol: 'http:', host: '127.0.0.1:5173' }, 'nova', null)).toBe('ws://127.0.0.1:5173/chat/nova');
    expect(chatSocketUrl({ protocol: 'https:', host: 'live.example' }, 'a b', 42)).toBe('wss://live.example/chat/a%20b?after=42');
  });

  it('reconnects on everything but a missing room, with a growing jittered delay', () => {
    expect([1000, 1001, 1006, 1009, 4008, 4009].map((c) => closeDecision(c).reconnect)).toEqual([true, true, true, true, true, true]);
    expect(closeDecision(4004).reconnect).toBe(false);
    expect([1, 2, 3, 4, 6, 20].map((n) => chatReconnectDelayMs(n, 0.5))).toEqual([1000, 2000, 4000, 8000, 30_000, 30_000]);
    expect(chatReconnectDelayMs(1, 0)).toBe(750);
    expect(chatReconnectDelayMs(1, 0.999)).toBe(1250);
  });

  it('counts characters as the gateway does (code points after NFC)', () => {
    expect(chatTextLength('héllo')).toBe(5);
    expect(chatTextLength('he\u0301llo')).toBe(5); // e + combining acute → é
    expect(chatTextLength('👍🏽')).toBe(2);
    expect(canSendText('  ')).toBe(false);
    expect(canSendText('x'.repeat(500))).toBe(true);
    expect(canSendText('😀'.repeat(500))).toBe(true);
    expect(canSendText('x'.repeat(501))).toBe(false);
  });

  it('formats waits', () => {
    expect([0, 1.2, 59, 60, 185, 599, 3600, 7260, 90_000, 86_400].map(waitLabel)).toEqual([
      '0 s', '2 s', '59 s', '1 min', '3 min 05 s', '9 min 59 s', '1 h', '2 h 1 min', '1 d 1 h', '1 d',
    ]);
  });
});

describe('parsing frames', () => {
  it('accepts the protocol frames', () => {
    expect(parseServerFrame(JSON.stringify(welcome()))).toEqual(welcome());
    expect(parseServerFrame(JSON.stringify(msg(line(1))))).toEqual(msg(line(1)));
    expect(parseServerFrame('{"type":"pong"}')).toEqual({ type: 'pong' });
    expect(parseServerFrame('{"type":"error","code":"BANNED","message":"no","ref":"c1"}')).toMatchObject({ code: 'BANNED', ref: 'c1' });
  });

  it('drops malformed history lines and ignores what it does not understand', () => {
    expect(parseServerFrame(JSON.stringify({ type: 'history', complete: true, messages: [line(1), { id: 'x' }, null] }))).toEqual({
      type: 'history', complete: true, messages: [line(1)],
    });
    expect(parseServerFrame('not json')).toBeNull();
    expect(parseServerFrame('[]')).toBeNull();
    expect(parseServerFrame('{"type":"future"}')).toBeNull();
    expect(parseServerFrame(JSON.stringify({ ...msg(line(1)), seq: 'one' }))).toBeNull();
    expect(parseServerFrame('{"type":"viewers","count":"many"}')).toBeNull();
  });
});

describe('moderation queue', () => {
  const item = { id: 'r1', channelId: 'nova', kind: 'report', messageId: 'm1', messageSeq: 4, authorUserId: 'u2', authorUsername: 'troll', text: '<b>spam</b>', reason: 'Spam', reporterUserId: 'u1', sessionId: null, status: 'open', createdAt: '2025-01-01T00:00:00Z', resolvedBy: null, resolvedAt: null };

  it('reads GET /api/moderation/queue, dropping malformed items', () => {
    expect(parseModerationQueue({ items: [item, { ...item, id: 7 }, { ...item, id: 'h1', kind: 'held', reason: 'free\\s*money' }] })).toEqual([
      { id: 'r1', channelId: 'nova', kind: 'report', messageId: 'm1', authorUsername: 'troll', text: '<b>spam</b>', reason: 'Spam', createdAt: '2025-01-01T00:00:00Z' },
      { id: 'h1', channelId: 'nova', kind: 'held', messageId: 'm1', authorUsername: 'troll', text: '<b>spam</b>', reason: 'free\\s*money', createdAt: '2025-01-01T00:00:00Z' },
    ]);
    expect(parseModerationQueue(null)).toEqual([]);
    expect(parseModerationQueue({ items: 'x' })).toEqual([]);
  });

  it('offers what each kind allows, and builds the paths', () => {
    expect(resolutionsFor('held').map((r) => r.resolution)).toEqual(['approved', 'dismissed']);
    expect(resolutionsFor('report').map((r) => r.resolution)).toEqual(['deleted', 'dismissed']);
    expect(moderationQueuePath('nova_1')).toBe('/api/moderation/queue?channelId=nova_1&status=open');
    expect(resolvePath('01a/b')).toBe('/api/moderation/queue/01a%2Fb/resolve');
  });
});

describe('feedbackText', () => {
  it('never shows more than the wait the server gave, even with a clock reading older than the answer', () => {
    const at = 1_800_000_000_000;
    const f = { tone: 'error' as const, code: 'SLOW_MODE', text: 'Slow mode is on.', until: at + 120_000, failedText: 'third', at };
    expect(feedbackText(f, at - 900)).toBe('Slow mode is on. You can send again in 2 min.');
    expect(feedbackText(f, at + 500)).toBe('Slow mode is on. You can send again in 2 min.');
    expect(feedbackText(f, at + 1500)).toBe('Slow mode is on. You can send again in 1 min 59 s.');
  });
});
