/**
 * The HTTP side of chat against real servers (nats-server with the EVENTS, CHAT and LEASES
 * streams, embedded PostgreSQL, the read-model projector): room settings, banned terms, bans
 * and timeouts, the moderation queue (reports deleted from the history, held messages
 * released under their own id), the audit log, history paging, the loaders the chat gateways
 * use, and the presence aggregator turning gateway reports into viewer counts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import {
  CHAT_STREAM, DEFAULT_CHAT_SETTINGS, EVENTS_STREAM, MAX_BANNED_TERMS, MAX_TIMEOUT_SECONDS, PRESENCE_EXPIRY_MS,
  channelSubject, chatPresenceSubject, chatSubject, domainEvent, streamEvent, systemClock, type ChatLine, type EventClock,
} from '@live/events';
import { isFollowing, isPlatformAdmin, loadChatRoom, loadGlobalBannedTerms, waitForProjection, type Db } from '@live/db';
import { appendChatMessage, appendEvent, readEvents, type Messaging } from '@live/messaging';
import { startPresenceAggregator, type PresenceAggregator } from '@live/projector';
import { startBackends, type Backends } from './harness.js';
import { buildApp } from '../src/app.js';

const logger = pino({ level: process.env.TEST_LOG ?? 'silent' });
const CH = 'owner_c';
let backends: Backends;
let db: Db;
let m: Messaging;
let app: FastifyInstance;

interface Session { userId: string; accessToken: string }
let owner: Session;
let mod: Session;
let viewer: Session;
let other: Session;
let admin: Session;

async function register(username: string): Promise<Session> {
  const r = await app.inject({ method: 'POST', url: '/api/users/register', payload: { username, email: `${username}@example.com`, password: `pw-${username}-0123456789` } });
  expect(r.statusCode, r.body).toBe(201);
  const b = r.json() as { user: { userId: string }; accessToken: string };
  return { userId: b.user.userId, accessToken: b.accessToken };
}
const auth = (s?: Session): Record<string, string> => (s ? { authorization: `Bearer ${s.accessToken}` } : {});
async function call(method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, who?: Session, payload?: unknown): Promise<LightMyRequestResponse> {
  return app.inject({ method, url, headers: auth(who), ...(payload !== undefined ? { payload: payload as object } : {}) });
}
function expectError(r: LightMyRequestResponse, status: number, code: string): void {
  expect({ status: r.statusCode, code: (r.json() as { code?: string }).code }, r.body).toEqual({ status, code });
}
async function eventCount(): Promise<number> {
  return (await m.jsm.streams.info(EVENTS_STREAM)).state.messages;
}
/** Appends an event as a chat gateway would and waits for the read models. */
async function appendProjected(event: Parameters<typeof appendEvent>[1]): Promise<void> {
  expect(await waitForProjection(db, (await appendEvent(m.js, event)).seq)).toBe(true);
}
async function until<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T;
  for (;;) {
    last = await fn();
    if (ok(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
async function history(query = '', id = CH): Promise<{ messages: ChatLine[]; nextBefore: number | null }> {
  const r = await call('GET', `/api/streams/${id}/chat${query}`);
  expect(r.statusCode, r.body).toBe(200);
  return r.json();
}

beforeAll(async () => {
  backends = await startBackends('api-chat-int', logger);
  ({ db, messaging: m } = backends);
  app = await buildApp({
    db, messaging: m,
    config: { jwtKeys: [{ kid: 'k1', secret: 'chat-test-secret-0123456789abcdefghij' }], adminUsernames: ['chat_admin'] },
    rateLimit: { max: 100_000, timeWindowMs: 60_000 },
  });
  owner = await register(CH);
  mod = await register('mod_c');
  viewer = await register('viewer_c');
  other = await register('other_c');
  admin = await register('chat_admin');
  expect((await call('POST', '/api/channels', owner, {})).statusCode).toBe(201);
  expect((await call('PUT', `/api/channels/${CH}/moderators/${mod.userId}`, owner)).statusCode).toBe(204);
}, 120_000);
afterAll(async () => {
  await app?.close();
  await backends?.stop();
});

describe('room settings', () => {
  it('are the defaults until a moderator changes them; others and bad bodies change nothing', async () => {
    expect((await call('GET', `/api/channels/${CH}/chat/settings`)).json()).toEqual(DEFAULT_CHAT_SETTINGS);
    expectError(await call('GET', '/api/channels/nope/chat/settings'), 404, 'CHANNEL_NOT_FOUND');
    const wanted = { slowModeSeconds: 30, followersOnly: true, emoteOnly: false, linksAllowed: false, duplicateFilter: true };
    const before = await eventCount();
    expectError(await call('PUT', `/api/channels/${CH}/chat/settings`, undefined, wanted), 401, 'UNAUTHENTICATED');
    expectError(await call('PUT', `/api/channels/${CH}/chat/settings`, viewer, wanted), 403, 'NOT_CHAT_MODERATOR');
    expectError(await call('PUT', '/api/channels/nope/chat/settings', mod, wanted), 404, 'CHANNEL_NOT_FOUND');
    for (const bad of [
      { ...wanted, slowModeSeconds: 3601 }, { ...wanted, slowModeSeconds: -1 }, { ...wanted, slowModeSeconds: 1.5 },
      { ...wanted, emoteOnly: 'yes' }, { ...wanted, extra: 1 }, { slowModeSeconds: 5 },
    ]) {
      expectError(await call('PUT', `/api/channels/${CH}/chat/settings`, mod, bad), 400, 'VALIDATION_FAILED');
    }
    expect(await eventCount()).toBe(before);

    const r = await call('PUT', `/api/channels/${CH}/chat/settings`, mod, wanted);
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toEqual(wanted);
    expect((await call('GET', `/api/channels/${CH}/chat/settings`)).json()).toEqual(wanted);
    expect((await loadChatRoom(db, CH))?.settings).toEqual(wanted);
    expect(await eventCount()).toBe(before + 1);
    // The same settings again: nothing to record.
    expect((await call('PUT', `/api/channels/${CH}/chat/settings`, owner, wanted)).statusCode).toBe(200);
    expect(await eventCount()).toBe(before + 1);
    const log = await readEvents(m.js, EVENTS_STREAM, channelSubject(CH));
    expect(log.at(-1)?.event).toMatchObject({ type: 'ChatSettingsChanged', data: { channelId: CH, actorUserId: mod.userId, settings: wanted } });
  });
});

describe('banned terms', () => {
  const terms = [{ pattern: 'bad\\s*word', action: 'block' }, { pattern: 'spam+', action: 'hold' }];

  it('lets moderators replace the channel list, validated as RE2, and refuses everyone else', async () => {
    const before = await eventCount();
    expectError(await call('GET', `/api/channels/${CH}/chat/banned-terms`), 401, 'UNAUTHENTICATED');
    expectError(await call('GET', `/api/channels/${CH}/chat/banned-terms`, viewer), 403, 'NOT_CHAT_MODERATOR');
    expectError(await call('PUT', `/api/channels/${CH}/chat/banned-terms`, viewer, { terms }), 403, 'NOT_CHAT_MODERATOR');
    for (const bad of [
      { terms: [{ pattern: '(?<=a)b', action: 'block' }] }, // look-behind: not RE2
      { terms: [{ pattern: 'a(', action: 'hold' }] },
      { terms: [{ pattern: '', action: 'block' }] },
      { terms: [{ pattern: 'x'.repeat(201), action: 'block' }] },
      { terms: [{ pattern: 'ok', action: 'delete' }] },
      { terms: Array.from({ length: MAX_BANNED_TERMS + 1 }, (_, i) => ({ pattern: `t${i}`, action: 'block' })) },
      { terms: 'spam' },
      {},
    ]) {
      expectError(await call('PUT', `/api/channels/${CH}/chat/banned-terms`, mod, bad), 400, 'VALIDATION_FAILED');
    }
    expect(await eventCount()).toBe(before);

    const r = await call('PUT', `/api/channels/${CH}/chat/banned-terms`, mod, { terms });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toEqual({ terms });
    expect((await call('GET', `/api/channels/${CH}/chat/banned-terms`, owner)).json()).toEqual({ terms });
    expect((await call('GET', `/api/channels/${CH}/chat/banned-terms`, admin)).json()).toEqual({ terms });
    expect((await loadChatRoom(db, CH))?.terms).toEqual(terms);
    // Replacing shortens the list.
    expect((await call('PUT', `/api/channels/${CH}/chat/banned-terms`, owner, { terms: [terms[1]] })).json()).toEqual({ terms: [terms[1]] });
    expect((await loadChatRoom(db, CH))?.terms).toEqual([terms[1]]);
    expect(await eventCount()).toBe(before + 2);
  });

  it('keeps a global list that only admins read and set, on evt.platform.chat', async () => {
    const global = [{ pattern: 'scam\\.example', action: 'block' }];
    const before = await eventCount();
    expectError(await call('GET', '/api/chat/banned-terms', owner), 403, 'FORBIDDEN');
    expectError(await call('PUT', '/api/chat/banned-terms', mod, { terms: global }), 403, 'FORBIDDEN');
    expectError(await call('PUT', '/api/chat/banned-terms', undefined, { terms: global }), 401, 'UNAUTHENTICATED');
    expectError(await call('PUT', '/api/chat/banned-terms', admin, { terms: [{ pattern: '\\', action: 'block' }] }), 400, 'VALIDATION_FAILED');
    expect(await eventCount()).toBe(before);
    expect((await call('PUT', '/api/chat/banned-terms', admin, { terms: global })).statusCode).toBe(200);
    expect((await call('GET', '/api/chat/banned-terms', admin)).json()).toEqual({ terms: global });
    expect(await loadGlobalBannedTerms(db)).toEqual(global);
    const log = await readEvents(m.js, EVENTS_STREAM, 'evt.platform.chat');
    expect(log.map((e) => e.event)).toEqual([expect.objectContaining({ type: 'ChatBannedTermsSet', data: { channelId: '', actorUserId: admin.userId, terms: global } })]);
    // The channel list is separate.
    expect((await loadChatRoom(db, CH))?.terms).toEqual([{ pattern: 'spam+', action: 'hold' }]);
  });
});

describe('bans and timeouts', () => {
  it('bans and times out users; nobody restricts the owner or themselves; bad requests change nothing', async () => {
    const url = `/api/channels/${CH}/chat/restrictions`;
    const before = await eventCount();
    expectError(await call('POST', url, undefined, { userId: other.userId }), 401, 'UNAUTHENTICATED');
    expectError(await call('POST', url, viewer, { userId: other.userId }), 403, 'NOT_CHAT_MODERATOR');
    expectError(await call('GET', url, viewer), 403, 'NOT_CHAT_MODERATOR');
    expectError(await call('POST', url, mod, { userId: owner.userId }), 403, 'CANNOT_RESTRICT');
    expectError(await call('POST', url, mod, { userId: mod.userId, durationSeconds: 10 }), 403, 'CANNOT_RESTRICT');
    expectError(await call('POST', url, admin, { userId: owner.userId }), 403, 'CANNOT_RESTRICT');
    expectError(await call('POST', url, mod, { userId: 'nobody' }), 404, 'USER_NOT_FOUND');
    expectError(await call('POST', '/api/channels/nope/chat/restrictions', mod, { userId: other.userId }), 404, 'CHANNEL_NOT_FOUND');
    for (const bad of [
      { userId: other.userId, durationSeconds: 0 }, { userId: other.userId, durationSeconds: MAX_TIMEOUT_SECONDS + 1 },
      { userId: other.userId, reason: 'x'.repeat(201) }, { userId: other.userId, reason: 'evil \u202Etext' }, { userId: 'a.b' }, {},
    ]) {
      expectError(await call('POST', url, mod, bad), 400, 'VALIDATION_FAILED');
    }
    expect(await eventCount()).toBe(before);

    const ban = await call('POST', url, mod, { userId: other.userId, reason: 'spamming links' });
    expect(ban.statusCode, ban.body).toBe(201);
    expect(ban.json()).toMatchObject({ userId: other.userId, username: 'other_c', kind: 'ban', until: null, reason: 'spamming links', actorUserId: mod.userId });
    const t0 = Date.now();
    const timeout = await call('POST', url, owner, { userId: viewer.userId, durationSeconds: 60 });
    expect(timeout.statusCode, timeout.body).toBe(201);
    const until = Date.parse(timeout.json().until as string);
    expect(until - t0).toBeGreaterThan(55_000);
    expect(until - t0).toBeLessThan(65_000);

    const list = (await call('GET', url, mod)).json().items as Array<{ userId: string; kind: string }>;
    expect(list.map((i) => [i.userId, i.kind]).sort()).toEqual([[other.userId, 'ban'], [viewer.userId, 'timeout']].sort());
    const room = await loadChatRoom(db, CH);
    expect(room?.restrictions).toEqual(expect.arrayContaining([{ userId: other.userId, until: null }, { userId: viewer.userId, until: new Date(until) }]));
    expect(room?.restrictions).toHaveLength(2);
    // A timeout is over at its end: the loader checks against `now`.
    expect((await loadChatRoom(db, CH, new Date(until + 1)))?.restrictions).toEqual([{ userId: other.userId, until: null }]);

    expect((await call('DELETE', `${url}/${other.userId}`, viewer)).statusCode).toBe(403);
    const n = await eventCount();
    expect((await call('DELETE', `${url}/${other.userId}`, mod)).statusCode).toBe(204);
    expect(await eventCount()).toBe(n + 1);
    expect((await call('DELETE', `${url}/${other.userId}`, mod)).statusCode).toBe(204); // nothing left to lift
    expect(await eventCount()).toBe(n + 1);
    expect((await loadChatRoom(db, CH))?.restrictions).toEqual([{ userId: viewer.userId, until: new Date(until) }]);
    // Lift the timeout too (the viewer reports messages below).
    expect((await call('DELETE', `${url}/${viewer.userId}`, owner)).statusCode).toBe(204);
  });
});

describe('loaders for the gateways', () => {
  it('load a room, follows and admin status', async () => {
    expect(await loadChatRoom(db, 'nope')).toBeNull();
    const room = await loadChatRoom(db, CH);
    expect(room).toMatchObject({ channelId: CH, ownerUserId: owner.userId, moderatorIds: [mod.userId], liveSessionId: null, viewerCount: 0 });
    expect(await isFollowing(db, viewer.userId, CH)).toBe(false);
    expect((await call('PUT', `/api/channels/${CH}/follow`, viewer)).statusCode).toBe(204);
    expect(await isFollowing(db, viewer.userId, CH)).toBe(true);
    expect(await isPlatformAdmin(db, admin.userId)).toBe(true);
    expect(await isPlatformAdmin(db, owner.userId)).toBe(false);
    expect(await isPlatformAdmin(db, 'nobody')).toBe(false);
  });
});

/** Messages appended to the room as a gateway would, oldest first, with their CHAT sequences. */
const sent: ChatLine[] = [];

describe('history and the moderation queue', () => {
  it('pages the room history, newest page first, anonymously', async () => {
    for (let i = 1; i <= 7; i++) {
      const ev = domainEvent(systemClock, 'ChatMessageAccepted', chatSubject(CH), {
        channelId: CH, userId: i % 2 ? viewer.userId : other.userId, username: i % 2 ? 'viewer_c' : 'other_c', kind: 'message', text: `message ${i}`, sessionId: null,
      }, { producer: 'test' });
      const { seq } = await appendChatMessage(m, ev);
      sent.push({ id: ev.id, seq, kind: 'message', userId: ev.data.userId, username: ev.data.username, text: ev.data.text, at: ev.occurredAt });
    }
    expect(await history()).toEqual({ messages: sent, nextBefore: null });
    const p1 = await history('?limit=3');
    expect(p1).toEqual({ messages: sent.slice(4), nextBefore: sent[4]!.seq });
    const p2 = await history(`?limit=3&before=${p1.nextBefore}`);
    expect(p2).toEqual({ messages: sent.slice(1, 4), nextBefore: sent[1]!.seq });
    const p3 = await history(`?limit=3&before=${p2.nextBefore}`);
    expect(p3).toEqual({ messages: sent.slice(0, 1), nextBefore: null });
    expectError(await call('GET', '/api/streams/nobody_here/chat'), 404, 'STREAM_NOT_FOUND');
    for (const q of ['?limit=0', '?limit=101', '?before=0', '?before=x', '?other=1']) expectError(await call('GET', `/api/streams/${CH}/chat${q}`), 400, 'VALIDATION_FAILED');
  });

  it('deletes a reported message from the history when a moderator says so, closing every report of it', async () => {
    const target = sent[2]!;
    const report = (reporter: Session, reason: string) => domainEvent(systemClock, 'ChatMessageReported', channelSubject(CH), {
      channelId: CH, messageId: target.id, messageSeq: target.seq, reporterUserId: reporter.userId, reason,
      authorUserId: target.userId, authorUsername: target.username, text: target.text,
    }, { producer: 'test' });
    const r1 = report(viewer, 'rude');
    const r2 = report(mod, 'also rude');
    await appendProjected(r1);
    await appendProjected(r2);

    expectError(await call('GET', '/api/moderation/queue'), 401, 'UNAUTHENTICATED');
    expect((await call('GET', '/api/moderation/queue', viewer)).json()).toEqual({ items: [] });
    expectError(await call('GET', `/api/moderation/queue?channelId=${CH}`, viewer), 403, 'NOT_CHAT_MODERATOR');
    expectError(await call('GET', '/api/moderation/queue?status=gone', mod), 400, 'VALIDATION_FAILED');
    for (const who of [mod, owner, admin]) {
      const items = (await call('GET', '/api/moderation/queue', who)).json().items as Array<Record<string, unknown>>;
      expect(items.map((i) => i.id), 'queue').toEqual([r1.id, r2.id]);
    }
    const item = (await call('GET', `/api/moderation/queue?channelId=${CH}`, mod)).json().items[0];
    expect(item).toMatchObject({
      id: r1.id, channelId: CH, kind: 'report', messageId: target.id, messageSeq: target.seq, authorUserId: target.userId, text: target.text,
      reason: 'rude', reporterUserId: viewer.userId, status: 'open', resolvedBy: null,
    });

    const before = await eventCount();
    const url = `/api/moderation/queue/${r1.id}/resolve`;
    expectError(await call('POST', url, undefined, { resolution: 'deleted' }), 401, 'UNAUTHENTICATED');
    expectError(await call('POST', url, viewer, { resolution: 'deleted' }), 403, 'NOT_CHAT_MODERATOR');
    expectError(await call('POST', url, mod, { resolution: 'approved' }), 409, 'RESOLUTION_NOT_APPLICABLE');
    expectError(await call('POST', url, mod, { resolution: 'banned' }), 400, 'VALIDATION_FAILED');
    expectError(await call('POST', url, mod, {}), 400, 'VALIDATION_FAILED');
    expectError(await call('POST', '/api/moderation/queue/nope/resolve', mod, { resolution: 'deleted' }), 404, 'MODERATION_ITEM_NOT_FOUND');
    expect(await eventCount()).toBe(before);

    const r = await call('POST', url, mod, { resolution: 'deleted' });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toMatchObject({ id: r1.id, status: 'deleted', resolvedBy: mod.userId });
    expect((await history()).messages).toEqual(sent.filter((l) => l.id !== target.id));
    // Erased from CHAT storage too, not just hidden.
    expect(await m.jsm.streams.getMessage(CHAT_STREAM, { seq: target.seq }).catch(() => null)).toBeNull();
    expect(await m.jsm.streams.getMessage(CHAT_STREAM, { seq: sent[3]!.seq })).not.toBeNull();
    const deleted = (await readEvents(m.js, EVENTS_STREAM, channelSubject(CH))).map((e) => e.event).filter((e) => e.type === 'ChatMessageDeleted');
    expect(deleted).toEqual([expect.objectContaining({ data: { channelId: CH, messageId: target.id, messageSeq: target.seq, authorUserId: target.userId, actorUserId: mod.userId, reason: 'reported' } })]);
    // The other report of the same message was closed with it.
    const closed = (await call('GET', `/api/moderation/queue?channelId=${CH}&status=deleted`, owner)).json().items as Array<{ id: string }>;
    expect(closed.map((i) => i.id)).toEqual([r1.id, r2.id]);
    expectError(await call('POST', url, owner, { resolution: 'dismissed' }), 409, 'MODERATION_ITEM_RESOLVED');
    expectError(await call('POST', `/api/moderation/queue/${r2.id}/resolve`, owner, { resolution: 'deleted' }), 409, 'MODERATION_ITEM_RESOLVED');
  });

  it('dismisses a report leaving the message, and refuses to erase a message the report does not name', async () => {
    const kept = sent[3]!;
    const dismissed = domainEvent(systemClock, 'ChatMessageReported', channelSubject(CH), {
      channelId: CH, messageId: kept.id, messageSeq: kept.seq, reporterUserId: viewer.userId, reason: 'meh', authorUserId: kept.userId, authorUsername: kept.username, text: kept.text,
    }, { producer: 'test' });
    // A report whose sequence points at another message (a bug or a forged report).
    const forged = domainEvent(systemClock, 'ChatMessageReported', channelSubject(CH), {
      channelId: CH, messageId: kept.id, messageSeq: sent[0]!.seq, reporterUserId: viewer.userId, reason: 'x', authorUserId: kept.userId, authorUsername: kept.username, text: kept.text,
    }, { producer: 'test' });
    await appendProjected(dismissed);
    await appendProjected(forged);
    const r = await call('POST', `/api/moderation/queue/${dismissed.id}/resolve`, owner, { resolution: 'dismissed' });
    expect(r.json()).toMatchObject({ status: 'dismissed', resolvedBy: owner.userId });
    expectError(await call('POST', `/api/moderation/queue/${forged.id}/resolve`, owner, { resolution: 'deleted' }), 409, 'RESOLUTION_NOT_APPLICABLE');
    expect((await history()).messages.map((l) => l.id)).toEqual(expect.arrayContaining([sent[0]!.id, kept.id]));
    expect((await call('POST', `/api/moderation/queue/${forged.id}/resolve`, owner, { resolution: 'dismissed' })).statusCode).toBe(200);
  });

  it('releases an approved held message into the room under the held message id', async () => {
    const held = domainEvent(systemClock, 'ChatMessageHeld', channelSubject(CH), {
      channelId: CH, userId: viewer.userId, username: 'viewer_c', kind: 'message', text: 'spammm or not?', term: 'spam+', sessionId: null,
    }, { producer: 'test' });
    await appendProjected(held);
    const items = (await call('GET', `/api/moderation/queue?channelId=${CH}`, mod)).json().items;
    expect(items).toEqual([expect.objectContaining({ id: held.id, kind: 'held', messageId: held.id, messageSeq: null, reason: 'spam+', text: 'spammm or not?', reporterUserId: null })]);
    expect((await history()).messages.map((l) => l.id)).not.toContain(held.id);
    expectError(await call('POST', `/api/moderation/queue/${held.id}/resolve`, mod, { resolution: 'deleted' }), 409, 'RESOLUTION_NOT_APPLICABLE');

    const r = await call('POST', `/api/moderation/queue/${held.id}/resolve`, owner, { resolution: 'approved' });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toMatchObject({ status: 'approved', resolvedBy: owner.userId });
    const last = (await history()).messages.at(-1);
    expect(last).toMatchObject({ id: held.id, kind: 'message', userId: viewer.userId, username: 'viewer_c', text: 'spammm or not?' });
    expect(last!.seq).toBeGreaterThan(sent.at(-1)!.seq);
    expectError(await call('POST', `/api/moderation/queue/${held.id}/resolve`, owner, { resolution: 'approved' }), 409, 'MODERATION_ITEM_RESOLVED');
    expect((await history()).messages.filter((l) => l.id === held.id)).toHaveLength(1);
  });
});

describe('moderation audit log', () => {
  it('lists every moderation action of the room, newest first, to moderators only', async () => {
    const url = `/api/channels/${CH}/chat/log`;
    expectError(await call('GET', url), 401, 'UNAUTHENTICATED');
    expectError(await call('GET', url, viewer), 403, 'NOT_CHAT_MODERATOR');
    const all = (await call('GET', `${url}?limit=100`, mod)).json() as { items: Array<{ action: string; createdAt: string; actorUserId: string; actorUsername: string | null; targetUserId: string | null; detail: Record<string, unknown> }>; nextBefore: number | null };
    expect(all.nextBefore).toBeNull();
    expect(all.items.map((i) => i.action)).toEqual([
      'ModerationItemResolved', // approved held
      'ModerationItemResolved', 'ModerationItemResolved', // dismissed forged, dismissed
      'ModerationItemResolved', 'ChatMessageDeleted', // deleted report
      'ChatUserUnbanned', 'ChatUserUnbanned', 'ChatUserTimedOut', 'ChatUserBanned',
      'ChatBannedTermsSet', 'ChatBannedTermsSet', 'ChatSettingsChanged',
    ]);
    const times = all.items.map((i) => Date.parse(i.createdAt));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect(all.items.find((i) => i.action === 'ChatUserBanned')).toMatchObject({ actorUserId: mod.userId, actorUsername: 'mod_c', targetUserId: other.userId, detail: { reason: 'spamming links' } });
    expect(all.items.find((i) => i.action === 'ChatUserTimedOut')?.detail).toMatchObject({ durationSeconds: 60 });
    expect(all.items[0]).toMatchObject({ targetUserId: viewer.userId, detail: { resolution: 'approved', kind: 'held' } });
    // Paging gives the same rows.
    const p1 = (await call('GET', `${url}?limit=5`, owner)).json();
    const p2 = (await call('GET', `${url}?limit=5&before=${p1.nextBefore}`, owner)).json();
    const p3 = (await call('GET', `${url}?limit=5&before=${p2.nextBefore}`, owner)).json();
    expect(p3.nextBefore).toBeNull();
    expect(p3.items).toHaveLength(2);
    expectError(await call('GET', `${url}?before=0`, owner), 400, 'VALIDATION_FAILED');
    expect([...p1.items, ...p2.items, ...p3.items]).toEqual(all.items);
  });
});

describe('presence', () => {
  const aggregators: PresenceAggregator[] = [];
  afterAll(async () => {
    for (const a of aggregators) await a.stop();
  });

  it('sums the gateways\' reports into the live stream\'s viewers, once per change, and forgets a silent gateway', async () => {
    const sessionId = '01900000-0000-7000-8000-00000000c001';
    await appendProjected(streamEvent(systemClock, 'StreamPublishStarted', { channelId: CH, sessionId, ingestNodeId: 'n1', relayUrl: 'http://x/relay.flv', app: 'live', source: {} }, { producer: 'test' }));
    // The history is also reachable by session id.
    expect((await history('', sessionId)).messages.length).toBeGreaterThan(0);

    // The clock the aggregators judge silence by: it stands still unless the test moves it, so a
    // report's age is what the test set, however slowly this machine runs.
    let now = Date.now();
    const clock: EventClock = { now: () => now, randomBytes: systemClock.randomBytes };
    // Two projector processes: only the lease holder appends.
    aggregators.push(startPresenceAggregator({ messaging: m, logger, clock, holder: 'test-a' }));
    aggregators.push(startPresenceAggregator({ messaging: m, logger, clock, holder: 'test-b' }));
    const rooms: Record<string, Record<string, number>> = { 'gw-a': { [CH]: 3, other_room: 1 }, 'gw-b': { [CH]: 2 } };
    const publish = () => {
      for (const [gatewayId, r] of Object.entries(rooms)) m.nc.publish(chatPresenceSubject(gatewayId), JSON.stringify({ gatewayId, rooms: r, at: Date.now() }));
      // Malformed reports are ignored.
      m.nc.publish(chatPresenceSubject('gw-bad'), 'not json');
      m.nc.publish(chatPresenceSubject('gw-bad'), JSON.stringify({ gatewayId: 'gw-bad', rooms: { [CH]: -50 }, at: 1 }));
      m.nc.publish(chatPresenceSubject('gw-bad'), JSON.stringify({ gatewayId: 'gw-bad', rooms: { 'bad.room': 7 }, at: 1 }));
    };
    publish();
    const timer = setInterval(publish, 300);
    const viewers = () => call('GET', `/api/streams/${CH}`).then((r) => (r.json() as { viewers: number }).viewers);
    const counts = async () => (await readEvents(m.js, EVENTS_STREAM, channelSubject(CH))).map((e) => e.event).filter((e) => e.type === 'ChannelViewersCounted').map((e) => (e.data as { viewers: number }).viewers);
    try {
      await until('5 viewers', viewers, (v) => v === 5);
      expect((await loadChatRoom(db, CH))?.viewerCount).toBe(5);

      // gw-b falls silent; gw-a keeps reporting. The aggregators subscribe on this connection, so
      // a flush (its PONG comes after every message published before it) means they have heard
      // gw-b's last report. Then the clock moves to just short of the expiry, gw-a is heard again
      // at that time, and the clock moves on past gw-b's expiry: gw-b's last report is then older
      // than PRESENCE_EXPIRY_MS, gw-a's is not.
      delete rooms['gw-b'];
      await m.nc.flush();
      now += PRESENCE_EXPIRY_MS - 500;
      publish();
      await m.nc.flush();
      now += 1000;
      await until('3 viewers after gw-b went silent', viewers, (v) => v === 3);

      // A new broadcast resets the read model to 0; the current total is counted again.
      await appendProjected(streamEvent(systemClock, 'StreamPublishEnded', { channelId: CH, sessionId, reason: 'unpublished', bytesReceived: 1, durationMs: 1 }, { producer: 'test' }));
      await appendProjected(streamEvent(systemClock, 'StreamPublishStarted', { channelId: CH, sessionId: '01900000-0000-7000-8000-00000000c002', ingestNodeId: 'n1', relayUrl: 'http://x/relay.flv', app: 'live', source: {} }, { producer: 'test' }));
      await until('3 viewers again in the new session', viewers, (v) => v === 3);

      delete rooms['gw-a'];
      await m.nc.flush(); // gw-a's last report heard before the clock moves past its expiry
      now += PRESENCE_EXPIRY_MS + 1000;
      await until('a drop to 0 counted', counts, (c) => c.at(-1) === 0);
    } finally {
      clearInterval(timer);
    }
    // One event per change, though two aggregators ran: 5, 3, then 3 again for the new session
    // (twice if a round fell between its end and the next start), then 0.
    const c = await counts();
    expect(c.slice(0, 3)).toEqual([5, 3, 3]);
    expect(c.at(-1)).toBe(0);
    expect(c.slice(3, -1).every((v) => v === 3) && c.length <= 5, JSON.stringify(c)).toBe(true);
    await until('0 viewers', viewers, (v) => v === 0);
    const otherRoom = (await readEvents(m.js, EVENTS_STREAM, channelSubject('other_room'))).map((e) => e.event.data);
    expect(otherRoom).toEqual([{ channelId: 'other_room', viewers: 1 }, { channelId: 'other_room', viewers: 0 }]);
  }, 40_000);
});

describe('sending over HTTP (POST /api/streams/{id}/chat, the WebSocket\'s rules)', () => {
  const SC = 'sender_c';
  let sowner: Session;
  let alice: Session;
  let bob: Session;
  const send = (who: Session | undefined, body: unknown, id = SC) => call('POST', `/api/streams/${id}/chat`, who, body);

  it('accepts a message into the room and refuses bad bodies with catalogue errors', async () => {
    sowner = await register(SC);
    alice = await register('alice_s');
    bob = await register('bob_s');
    expect((await call('POST', '/api/channels', sowner, {})).statusCode).toBe(201);
    // Moderators name users by username (the web app's ban and appoint forms).
    expect((await call('GET', '/api/users/by-name/ALICE_S')).json()).toMatchObject({ userId: alice.userId, username: 'alice_s' });
    expectError(await call('GET', '/api/users/by-name/nobody_s'), 404, 'USER_NOT_FOUND');
    expectError(await call('GET', '/api/users/by-name/a.b'), 400, 'VALIDATION_FAILED');
    const r = await send(alice, { text: '  hello from a bot  ' });
    expect(r.statusCode, r.body).toBe(201);
    const ok = r.json() as { id: string; status: string; seq: number };
    expect(ok).toMatchObject({ status: 'accepted' });
    expect((await history('', SC)).messages).toEqual([expect.objectContaining({ id: ok.id, seq: ok.seq, userId: alice.userId, username: 'alice_s', text: 'hello from a bot', kind: 'message' })]);
    const emote = await send(bob, { emote: 'gg' });
    expect(emote.statusCode, emote.body).toBe(201);

    expectError(await send(undefined, { text: 'hi' }), 401, 'UNAUTHENTICATED');
    expectError(await send(alice, { text: 'hi' }, 'nobody_here'), 404, 'STREAM_NOT_FOUND');
    for (const bad of [{}, { text: 'a', emote: 'gg' }, { emote: 'nope' }, { text: 5 }, { text: 'a', extra: 1 }]) expectError(await send(alice, bad), 400, 'VALIDATION_FAILED');
    const raw = (payload: string) => app.inject({ method: 'POST', url: `/api/streams/${SC}/chat`, headers: { ...auth(alice), 'content-type': 'application/json' }, payload });
    expectError(await raw('{"text":'), 400, 'BAD_JSON');
    expectError(await raw(JSON.stringify({ text: 'x'.repeat(9000) })), 413, 'PAYLOAD_TOO_LARGE');
    expectError(await send(alice, { text: 'x'.repeat(501) }), 400, 'MESSAGE_TOO_LONG');
    expectError(await send(alice, { text: '   ' }), 400, 'INVALID_TEXT');
    expectError(await send(alice, { text: 'hello from a bot' }), 409, 'DUPLICATE_MESSAGE');
  });

  it('refuses blocked terms and holds held ones, as the gateway does', async () => {
    const put = await call('PUT', `/api/channels/${SC}/chat/banned-terms`, sowner, { terms: [{ pattern: 'cheap gold', action: 'block' }, { pattern: 'free\\s+coins', action: 'hold' }] });
    expect(put.statusCode, put.body).toBe(200);
    expectError(await send(alice, { text: 'buy CHEAP GOLD now' }), 422, 'BLOCKED_TERM');
    const held = await send(alice, { text: 'free   coins here' });
    expect(held.statusCode, held.body).toBe(202);
    expect(held.json()).toMatchObject({ status: 'held', seq: null });
    const queue = (await call('GET', `/api/moderation/queue?channelId=${SC}`, sowner)).json() as { items: Array<{ id: string; kind: string }> };
    expect(queue.items).toEqual([expect.objectContaining({ id: held.json().id, kind: 'held' })]);
    // The owner is not held to the room's terms.
    expect((await send(sowner, { text: 'cheap gold is a banned term here' })).statusCode).toBe(201);
  });

  it('refuses a timed-out user with TIMED_OUT and a banned one with BANNED; their earlier messages leave the history for good', async () => {
    const url = `/api/channels/${SC}/chat/restrictions`;
    expect((await call('POST', url, sowner, { userId: bob.userId, durationSeconds: 600 })).statusCode).toBe(201);
    const timedOut = await send(bob, { text: 'am I still here?' });
    expectError(timedOut, 403, 'TIMED_OUT');
    expect(Number(timedOut.headers['retry-after'])).toBeGreaterThan(590);
    expect((await history('', SC)).messages.map((l) => l.userId)).not.toContain(bob.userId);

    const aliceBefore = (await history('', SC)).messages.filter((l) => l.userId === alice.userId);
    expect(aliceBefore).toHaveLength(1);
    expect((await call('POST', url, sowner, { userId: alice.userId, reason: 'spam' })).statusCode).toBe(201);
    expectError(await send(alice, { text: 'let me in' }), 403, 'BANNED');
    const afterBan = (await history('', SC)).messages;
    expect(afterBan.map((l) => l.userId)).not.toContain(alice.userId);
    expect(afterBan.map((l) => l.userId)).toContain(sowner.userId);

    // Unbanned: what she sends now is shown; what she sent before the ban stays hidden (as on Twitch).
    expect((await call('DELETE', `${url}/${alice.userId}`, sowner)).statusCode).toBe(204);
    const back = await send(alice, { text: 'sorry' });
    expect(back.statusCode, back.body).toBe(201);
    expect((await history('', SC)).messages.filter((l) => l.userId === alice.userId).map((l) => l.text)).toEqual(['sorry']);
  });
});
