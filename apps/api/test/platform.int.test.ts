/**
 * Channels, stream keys, streams, follows and notifications through `app.inject()` against a real
 * PostgreSQL and nats-server, with the real projector building the read models from EVENTS (the
 * playback policy included); and
 * the replay check: rebuilding every read model from the log into empty tables gives the same rows;
 * and every event stored on the way conforms to the published AsyncAPI document.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { EVENT_SUBJECT_FAMILIES, EVENTS_STREAM, streamEvent, subjectFamilyOf, systemClock, type DomainEvent } from '@live/events';
import { ASYNCAPI_DOCUMENT } from '@live/events/asyncapi';
import { Ajv } from 'ajv';
import { randomBytes } from 'node:crypto';
import { restreamSealingKey } from '@live/auth';
import { createReadModelSchema, hashStreamKey, projectEvent, READ_MODEL_TABLES, readModelRows, waitForProjection, type Db } from '@live/db';
import { appendEvent, readEvents, type Messaging } from '@live/messaging';
import { startProjector } from '@live/projector';
import { startBackends, type Backends } from './harness.js';
import { buildApp } from '../src/app.js';

const logger = pino({ level: process.env.TEST_LOG ?? 'silent' });
let backends: Backends;
let db: Db;
let m: Messaging;
let app: FastifyInstance;

interface Session { userId: string; accessToken: string }

async function register(username: string): Promise<Session> {
  const r = await app.inject({ method: 'POST', url: '/api/users/register', payload: { username, email: `${username}@example.com`, password: `pw-${username}-0123456789` } });
  expect(r.statusCode, r.body).toBe(201);
  const b = r.json() as { user: { userId: string }; accessToken: string };
  return { userId: b.user.userId, accessToken: b.accessToken };
}
const auth = (s: Session) => ({ authorization: `Bearer ${s.accessToken}` });
async function eventCount(): Promise<number> {
  return (await m.jsm.streams.info(EVENTS_STREAM)).state.messages;
}

beforeAll(async () => {
  backends = await startBackends('api-platform-int', logger);
  ({ db, messaging: m } = backends);
  app = await buildApp({
    db, messaging: m,
    config: {
      jwtKeys: [{ kid: 'k1', secret: 'platform-test-secret-0123456789abcdef' }], ingestUrl: 'rtmp://ingest.example:1935/live', srtIngestUrl: 'srt://ingest.example:9000', whipIngestBaseUrl: 'https://ingest.example/whip/',
      restreamSealing: restreamSealingKey(randomBytes(32).toString('base64')),
    },
  });
}, 120_000);
afterAll(async () => {
  await app?.close();
  await backends?.stop();
});

let alice: Session; // streamer
let bob: Session; // viewer, follower
let carol: Session; // moderator of alice's channel
let aliceKey = '';
let aliceKeyId = '';

describe('channels and stream keys', () => {
  it('lets a user create one channel, named after them, and set its metadata', async () => {
    alice = await register('Alice_1');
    bob = await register('bob_2');
    carol = await register('carol_3');
    const r = await app.inject({ method: 'POST', url: '/api/channels', headers: auth(alice), payload: { displayName: 'Alice plays' } });
    expect(r.statusCode, r.body).toBe(201);
    expect(r.json()).toMatchObject({ channelId: 'alice_1', ownerUserId: alice.userId, displayName: 'Alice plays', live: false, followers: 0 });
    const again = await app.inject({ method: 'POST', url: '/api/channels', headers: auth(alice), payload: {} });
    expect([again.statusCode, again.json().code]).toEqual([409, 'CHANNEL_EXISTS']);
    const taken = await app.inject({ method: 'POST', url: '/api/channels', headers: auth(bob), payload: { channelId: 'alice_1' } });
    expect([taken.statusCode, taken.json().code]).toEqual([409, 'CHANNEL_EXISTS']);

    const p = await app.inject({ method: 'PATCH', url: '/api/channels/alice_1', headers: auth(alice), payload: { title: 'Speedrunning Celeste', category: 'gaming', tags: ['speedrun', 'platformer'], language: 'en' } });
    expect(p.statusCode, p.body).toBe(200);
    expect(p.json()).toMatchObject({ title: 'Speedrunning Celeste', category: 'gaming', tags: ['speedrun', 'platformer'], language: 'en', mature: false, description: '' });
    // The description: cleaned, kept by later changes of other fields, shown to anyone.
    const d = await app.inject({ method: 'PATCH', url: '/api/channels/alice_1', headers: auth(alice), payload: { description: '  Any% runs.\nNo spoilers, please.  ' } });
    expect([d.statusCode, d.json().description], d.body).toEqual([200, 'Any% runs.\nNo spoilers, please.']);
    await app.inject({ method: 'PATCH', url: '/api/channels/alice_1', headers: auth(alice), payload: { mature: false } });
    const seen = await app.inject({ method: 'GET', url: '/api/channels/alice_1' });
    expect(seen.json()).toMatchObject({ title: 'Speedrunning Celeste', description: 'Any% runs.\nNo spoilers, please.' });
  });

  it('refuses metadata changes by others and bad metadata, writing nothing', async () => {
    const before = await eventCount();
    const cases: Array<[Record<string, string>, unknown, number, string]> = [
      [{}, { title: 'x' }, 401, 'UNAUTHENTICATED'],
      [auth(bob), { title: 'x' }, 403, 'NOT_CHANNEL_OWNER'],
      [auth(alice), { category: 'not-a-category' }, 400, 'VALIDATION_FAILED'],
      [auth(alice), { title: 'evil \u202Eevil' }, 400, 'VALIDATION_FAILED'],
      [auth(alice), { tags: ['UPPER'] }, 400, 'VALIDATION_FAILED'],
      [auth(alice), { mature: 'yes' }, 400, 'VALIDATION_FAILED'],
      [auth(alice), { description: 'x'.repeat(301) }, 400, 'VALIDATION_FAILED'],
      [auth(alice), {}, 400, 'VALIDATION_FAILED'],
    ];
    for (const [headers, payload, status, code] of cases) {
      const r = await app.inject({ method: 'PATCH', url: '/api/channels/alice_1', headers, payload: payload as object });
      expect([r.statusCode, r.json().code], JSON.stringify(payload)).toEqual([status, code]);
    }
    const bad = await app.inject({ method: 'PATCH', url: '/api/channels/alice_1', headers: { ...auth(alice), 'content-type': 'application/json' }, payload: '{"title":' });
    expect([bad.statusCode, bad.json().code]).toEqual([400, 'BAD_JSON']);
    expect(await eventCount()).toBe(before);
  });

  it('issues a key shown once and stored hashed, lists it masked, rotates and revokes it', async () => {
    const r = await app.inject({ method: 'POST', url: '/api/channels/alice_1/stream-keys', headers: auth(alice), payload: { label: 'OBS at home', allowedCidrs: ['127.0.0.0/8', '::1'] } });
    expect(r.statusCode, r.body).toBe(201);
    const issued = r.json() as { streamKey: string; key: { keyId: string; masked: string; expiresAt: string; allowedCidrs: string[] }; ingestUrl: string };
    expect(issued.streamKey).toMatch(/^live_[A-Za-z0-9_-]{32}$/);
    expect(issued.ingestUrl).toBe('rtmp://ingest.example:1935/live');
    // SRT and WHIP when the API knows their public URLs; WHIP's names the channel
    expect(r.json()).toMatchObject({ srtUrl: 'srt://ingest.example:9000', whipUrl: 'https://ingest.example/whip/alice_1' });
    expect(issued.key.masked).toBe(`********${issued.streamKey.slice(-4)}`);
    expect(issued.key.allowedCidrs).toEqual(['127.0.0.0/8', '::1/128']);
    // Default expiry: 30 days.
    expect(Math.round((Date.parse(issued.key.expiresAt) - Date.now()) / 86_400_000)).toBe(30);
    const row = await db.selectFrom('stream_keys').selectAll().where('id', '=', issued.key.keyId).executeTakeFirstOrThrow();
    expect(row.key_hash).toBe(hashStreamKey(issued.streamKey));
    expect(JSON.stringify(row)).not.toContain(issued.streamKey);
    // The log holds the hash, never the key.
    const log = await readEvents(m.js, EVENTS_STREAM, 'evt.channel.alice_1');
    expect(JSON.stringify(log)).not.toContain(issued.streamKey);

    const list = await app.inject({ method: 'GET', url: '/api/channels/alice_1/stream-keys', headers: auth(alice) });
    expect(list.json().items).toEqual([expect.objectContaining({ keyId: issued.key.keyId, status: 'active', label: 'OBS at home' })]);
    expect(list.body).not.toContain(issued.streamKey);
    expect((await app.inject({ method: 'GET', url: '/api/channels/alice_1/stream-keys', headers: auth(bob) })).json().code).toBe('NOT_CHANNEL_OWNER');

    const rot = await app.inject({ method: 'POST', url: `/api/channels/alice_1/stream-keys/${issued.key.keyId}/rotate`, headers: auth(alice) });
    expect(rot.statusCode, rot.body).toBe(201);
    const rotated = rot.json() as { streamKey: string; key: { keyId: string; label: string; allowedCidrs: string[] } };
    expect(rotated.streamKey).not.toBe(issued.streamKey);
    expect(rotated.key).toMatchObject({ label: 'OBS at home', allowedCidrs: ['127.0.0.0/8', '::1/128'] });
    const after = (await app.inject({ method: 'GET', url: '/api/channels/alice_1/stream-keys', headers: auth(alice) })).json().items as Array<{ keyId: string; status: string }>;
    expect(after.find((k) => k.keyId === issued.key.keyId)?.status).toBe('revoked');
    expect(after.find((k) => k.keyId === rotated.key.keyId)?.status).toBe('active');
    const again = await app.inject({ method: 'POST', url: `/api/channels/alice_1/stream-keys/${issued.key.keyId}/rotate`, headers: auth(alice) });
    expect([again.statusCode, again.json().code]).toEqual([409, 'STREAM_KEY_REVOKED']);

    const del = await app.inject({ method: 'DELETE', url: `/api/channels/alice_1/stream-keys/${rotated.key.keyId}`, headers: auth(alice) });
    expect(del.statusCode).toBe(204);
    expect((await db.selectFrom('stream_keys').select('status').where('id', '=', rotated.key.keyId).executeTakeFirstOrThrow()).status).toBe('revoked');
    expect((await app.inject({ method: 'DELETE', url: '/api/channels/alice_1/stream-keys/nope', headers: auth(alice) })).json().code).toBe('STREAM_KEY_NOT_FOUND');
    const badCidr = await app.inject({ method: 'POST', url: '/api/channels/alice_1/stream-keys', headers: auth(alice), payload: { allowedCidrs: ['10.0.0.0/33'] } });
    expect([badCidr.statusCode, badCidr.json().code]).toEqual([400, 'VALIDATION_FAILED']);
  });

  it('prepares a broadcast: a fresh key when none is usable, then the same key reference', async () => {
    const r = await app.inject({ method: 'POST', url: '/api/streams/start', headers: auth(alice), payload: { title: 'Any% attempts', tags: ['speedrun'] } });
    expect(r.statusCode, r.body).toBe(200);
    const b = r.json() as { streamKey: string; keyId: string; maskedKey: string; ingestUrl: string; playbackUrl: string; channel: { title: string } };
    expect(b.streamKey).toMatch(/^live_/);
    expect(b).toMatchObject({ ingestUrl: 'rtmp://ingest.example:1935/live', srtUrl: 'srt://ingest.example:9000', whipUrl: 'https://ingest.example/whip/alice_1', playbackUrl: '/live/alice_1/master.m3u8', maskedKey: `********${b.streamKey.slice(-4)}` });
    expect(b.channel.title).toBe('Any% attempts');
    aliceKey = b.streamKey;
    aliceKeyId = b.keyId;
    const again = (await app.inject({ method: 'POST', url: '/api/streams/start', headers: auth(alice), payload: {} })).json();
    expect(again).toMatchObject({ keyId: aliceKeyId, streamKey: null });
    const none = await app.inject({ method: 'POST', url: '/api/streams/start', headers: auth(bob), payload: {} });
    expect([none.statusCode, none.json().code]).toEqual([404, 'CHANNEL_NOT_FOUND']);
  });

  it('lets the owner appoint moderators; moderators cannot manage keys', async () => {
    const put = await app.inject({ method: 'PUT', url: `/api/channels/alice_1/moderators/${carol.userId}`, headers: auth(alice) });
    expect(put.statusCode).toBe(204);
    const list = await app.inject({ method: 'GET', url: '/api/channels/alice_1/moderators' });
    expect(list.json().items).toEqual([expect.objectContaining({ userId: carol.userId, username: 'carol_3' })]);
    expect((await app.inject({ method: 'PUT', url: `/api/channels/alice_1/moderators/${bob.userId}`, headers: auth(carol) })).json().code).toBe('FORBIDDEN');
    expect((await app.inject({ method: 'GET', url: '/api/channels/alice_1/stream-keys', headers: auth(carol) })).json().code).toBe('FORBIDDEN');
  });
});

describe('follows, going live and notifications', () => {
  it('follows and unfollows with counts', async () => {
    for (const who of [bob, carol]) expect((await app.inject({ method: 'PUT', url: '/api/channels/alice_1/follow', headers: auth(who) })).statusCode).toBe(204);
    expect((await app.inject({ method: 'PUT', url: '/api/channels/alice_1/follow', headers: auth(bob) })).statusCode).toBe(204); // idempotent
    let followers = (await app.inject({ method: 'GET', url: '/api/channels/alice_1/followers?limit=1' })).json();
    expect(followers.total).toBe(2);
    expect(followers.items).toHaveLength(1);
    const page2 = (await app.inject({ method: 'GET', url: `/api/channels/alice_1/followers?limit=1&cursor=${followers.nextCursor}` })).json();
    expect(new Set([followers.items[0].userId, page2.items[0].userId])).toEqual(new Set([bob.userId, carol.userId]));
    expect((await app.inject({ method: 'GET', url: '/api/channels/alice_1/followers?cursor=bm90LWEtY3Vyc29y' })).json().code).toBe('INVALID_CURSOR');
    expect((await app.inject({ method: 'DELETE', url: '/api/channels/alice_1/follow', headers: auth(carol) })).statusCode).toBe(204);
    followers = (await app.inject({ method: 'GET', url: '/api/channels/alice_1/followers' })).json();
    expect(followers.total).toBe(1);
    const following = (await app.inject({ method: 'GET', url: `/api/users/${bob.userId}/following` })).json();
    expect(following).toMatchObject({ total: 1, items: [{ channelId: 'alice_1', live: false }] });
    expect((await app.inject({ method: 'GET', url: '/api/channels/alice_1', headers: auth(bob) })).json()).toMatchObject({ followers: 1, following: true });
    expect((await app.inject({ method: 'PUT', url: '/api/channels/nope/follow', headers: auth(bob) })).json().code).toBe('CHANNEL_NOT_FOUND');
    expect((await app.inject({ method: 'PUT', url: '/api/channels/alice_1/follow' })).json().code).toBe('UNAUTHENTICATED');
  });

  it('pushes FollowedChannelWentLive to an online follower over SSE and keeps it for later', { timeout: 60_000 }, async () => {
    await app.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const ac = new AbortController();
    const res = await fetch(`${base}/api/notifications/stream?access_token=${bob.accessToken}`, { signal: ac.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    const readUntil = async (marker: string): Promise<string> => {
      while (!text.includes(marker)) {
        const { value, done } = await reader.read();
        if (done) return text;
        text += new TextDecoder().decode(value);
      }
      return text;
    };
    // The route subscribes before it writes ": connected"; the app shares `m`'s connection, so a
    // flush (PING/PONG) after that proves the server has the subscription.
    expect(await readUntil(': connected')).toContain(': connected');
    await m.nc.flush();
    const received = readUntil('event: FollowedChannelWentLive');
    // The ingest node and the worker would append these; here they are appended directly.
    const sessionId = '01900000-0000-7000-8000-000000000001';
    const started = streamEvent(systemClock, 'StreamPublishStarted', { channelId: 'alice_1', sessionId, ingestNodeId: 'n1', relayUrl: 'http://x/relay.flv', app: 'live', source: {} }, { producer: 'test' });
    await appendEvent(m.js, started);
    const ready = streamEvent(systemClock, 'RenditionsReady', { channelId: 'alice_1', sessionId, masterPlaylistKey: `sessions/${sessionId}/master.m3u8`, renditions: [] }, { producer: 'test' });
    const seq = (await appendEvent(m.js, ready)).seq;
    let timer: NodeJS.Timeout | undefined;
    const got = await Promise.race([received, new Promise<string>((_, rej) => { timer = setTimeout(() => rej(new Error(`no SSE event; got ${JSON.stringify(text)}`)), 50_000); })]);
    clearTimeout(timer);
    ac.abort();
    expect(got).toContain('"channelId":"alice_1"');
    expect(got).toContain(`"sessionId":"${sessionId}"`);
    await waitForProjection(db, seq);

    // Kept: bob (follower) has it unread; carol (unfollowed) has nothing.
    const list = (await app.inject({ method: 'GET', url: '/api/notifications', headers: auth(bob) })).json();
    expect(list).toMatchObject({ unread: 1, items: [{ type: 'FollowedChannelWentLive', channelId: 'alice_1', title: 'Any% attempts', read: false }] });
    expect((await app.inject({ method: 'GET', url: '/api/notifications', headers: auth(carol) })).json().items).toEqual([]);
    expect((await app.inject({ method: 'POST', url: '/api/notifications/read', headers: auth(bob) })).statusCode).toBe(204);
    expect((await app.inject({ method: 'GET', url: '/api/notifications', headers: auth(bob) })).json()).toMatchObject({ unread: 0, items: [{ read: true }] });
    expect((await app.inject({ method: 'GET', url: '/api/notifications/stream' })).json().code).toBe('UNAUTHENTICATED');

    // Live state by channel id and by session id.
    const byChannel = (await app.inject({ method: 'GET', url: '/api/streams/alice_1' })).json();
    expect(byChannel).toMatchObject({ live: true, status: 'live', sessionId, channelId: 'alice_1', playbackUrl: '/live/alice_1/master.m3u8', viewers: 0 });
    expect((await app.inject({ method: 'GET', url: `/api/streams/${sessionId}` })).json()).toMatchObject({ live: true, sessionId });
  });

  it('stops a live stream only for its owner (an event the ingest node acts on)', async () => {
    expect((await app.inject({ method: 'POST', url: '/api/streams/alice_1/stop', headers: auth(bob) })).json().code).toBe('NOT_CHANNEL_OWNER');
    const r = await app.inject({ method: 'POST', url: '/api/streams/alice_1/stop', headers: auth(alice) });
    expect(r.statusCode, r.body).toBe(202);
    const log = await readEvents(m.js, EVENTS_STREAM, 'evt.stream.alice_1');
    expect(log.at(-1)?.event).toMatchObject({ type: 'StreamStopRequested', data: { channelId: 'alice_1', actorUserId: alice.userId } });
    const ended = streamEvent(systemClock, 'StreamPublishEnded', { channelId: 'alice_1', sessionId: (log.at(-1)!.event.data as { sessionId: string }).sessionId, reason: 'kicked', bytesReceived: 1, durationMs: 1 }, { producer: 'test' });
    await waitForProjection(db, (await appendEvent(m.js, ended)).seq);
    expect((await app.inject({ method: 'GET', url: '/api/streams/alice_1' })).json()).toMatchObject({ live: false, status: 'ended' });
    expect((await app.inject({ method: 'POST', url: '/api/streams/alice_1/stop', headers: auth(alice) })).json().code).toBe('STREAM_NOT_LIVE');
    expect((await app.inject({ method: 'GET', url: '/api/streams/nobody_here' })).json().code).toBe('STREAM_NOT_FOUND');
  });
});

describe('unique usernames', () => {
  it('takes over a claim abandoned by a crashed registration, but not a recent one', async () => {
    const { createHash } = await import('node:crypto');
    const { domainEvent, uniqueClaimSubject } = await import('@live/events');
    const claim = (username: string, ageMs: number) => {
      const digest = createHash('sha256').update(`username:${username}`, 'utf8').digest('hex').slice(0, 40);
      const clock = { now: () => Date.now() - ageMs, randomBytes: systemClock.randomBytes };
      return appendEvent(m.js, domainEvent(clock, 'UniqueValueClaimed', uniqueClaimSubject('username', digest), { kind: 'username', value: username, userId: `ghost-${username}` }, { producer: 'test' }), { expectedLastSubjectSequence: 0 });
    };
    await claim('ghost_old', 10 * 60_000);
    await claim('ghost_new', 1000);
    const reg = (username: string) => app.inject({ method: 'POST', url: '/api/users/register', payload: { username, email: `${username}@example.com`, password: 'a long enough password' } });
    expect((await reg('ghost_old')).statusCode).toBe(201);
    const recent = await reg('ghost_new');
    expect([recent.statusCode, recent.json().code]).toEqual([409, 'USERNAME_TAKEN']);
  });
});

describe('a projector that is down', () => {
  it('still accepts a command (it is in the log) and the read model catches up when the projector is back', async () => {
    await backends.projector.stop();
    const quick = await buildApp({ db, messaging: m, config: { jwtKeys: [{ kid: 'k1', secret: 'platform-test-secret-0123456789abcdef' }], projectionTimeoutMs: 100 } });
    try {
      const dora = await (async () => {
        const r = await quick.inject({ method: 'POST', url: '/api/users/register', payload: { username: 'dora_4', email: 'dora@example.com', password: 'a long enough password' } });
        expect(r.statusCode, r.body).toBe(201);
        return r.json() as { user: { userId: string }; accessToken: string };
      })();
      const r = await quick.inject({ method: 'POST', url: '/api/channels', headers: { authorization: `Bearer ${dora.accessToken}` }, payload: {} });
      expect(r.statusCode, r.body).toBe(201);
      expect(r.json()).toMatchObject({ channelId: 'dora_4', ownerUserId: dora.user.userId, live: false });
      expect(await db.selectFrom('channels').select('id').where('id', '=', 'dora_4').executeTakeFirst()).toBeUndefined();
    } finally {
      await quick.close();
      backends.projector = await startProjector({ db, messaging: m, logger, durable: 'api-platform-int-projector' });
    }
    const log = await readEvents(m.js, EVENTS_STREAM, 'evt.>');
    expect(await waitForProjection(db, log.at(-1)!.seq, 10_000)).toBe(true);
    expect((await app.inject({ method: 'GET', url: '/api/channels/dora_4' })).json()).toMatchObject({ channelId: 'dora_4', displayName: 'dora_4' });
  });
});

describe('housekeeping', () => {
  it('deletes expired refresh tokens and stale sign-in counters, keeping live ones', async () => {
    const { deleteExpiredRefreshTokens } = await import('../src/auth/refresh.js');
    const { deleteStaleLoginFailures } = await import('../src/auth/throttle.js');
    const now = Date.now();
    await db.insertInto('auth_refresh_tokens').values([
      { id: 'hk-old', family_id: 'f', user_id: 'u', token_hash: 'hk-old', expires_at: new Date(now - 3 * 86_400_000), used_at: null, revoked_at: null },
      { id: 'hk-live', family_id: 'f', user_id: 'u', token_hash: 'hk-live', expires_at: new Date(now + 86_400_000), used_at: null, revoked_at: null },
    ]).execute();
    await db.insertInto('auth_login_failures').values([
      { key: 'hk:stale', window_start: new Date(now - 3 * 3600_000), failures: 3, blocked_until: null },
      { key: 'hk:blocked', window_start: new Date(now - 3 * 3600_000), failures: 10, blocked_until: new Date(now + 60_000) },
      { key: 'hk:recent', window_start: new Date(now - 60_000), failures: 1, blocked_until: null },
    ]).execute();
    expect(await deleteExpiredRefreshTokens(db, now)).toBe(1);
    expect(await deleteStaleLoginFailures(db, now, 900)).toBe(1);
    expect((await db.selectFrom('auth_refresh_tokens').select('id').where('id', 'like', 'hk-%').execute()).map((r) => r.id)).toEqual(['hk-live']);
    expect((await db.selectFrom('auth_login_failures').select('key').where('key', 'like', 'hk:%').orderBy('key').execute()).map((r) => r.key)).toEqual(['hk:blocked', 'hk:recent']);
  });
});

describe('chat moderation', () => {
  it('projects room settings, banned terms, restrictions, the moderation queue and the audit log (rebuilt by the replay below)', async () => {
    const { channelSubject, domainEvent } = await import('@live/events');
    const put = (url: string, who: Session, payload: object) => app.inject({ method: 'PUT', url, headers: auth(who), payload });
    expect((await put('/api/channels/alice_1/chat/settings', carol, { slowModeSeconds: 10, followersOnly: false, emoteOnly: false, linksAllowed: false, duplicateFilter: true })).statusCode).toBe(200);
    expect((await put('/api/channels/alice_1/chat/banned-terms', alice, { terms: [{ pattern: 'spoiler', action: 'hold' }] })).statusCode).toBe(200);
    const timeout = await app.inject({ method: 'POST', url: '/api/channels/alice_1/chat/restrictions', headers: auth(carol), payload: { userId: bob.userId, durationSeconds: 600, reason: 'cool down' } });
    expect(timeout.statusCode, timeout.body).toBe(201);
    // A gateway would append these two.
    const held = domainEvent(systemClock, 'ChatMessageHeld', channelSubject('alice_1'), { channelId: 'alice_1', userId: bob.userId, username: 'bob_2', kind: 'message', text: 'spoiler: it ends', term: 'spoiler', sessionId: null }, { producer: 'test' });
    const report = domainEvent(systemClock, 'ChatMessageReported', channelSubject('alice_1'), { channelId: 'alice_1', messageId: 'm1', messageSeq: 1, reporterUserId: bob.userId, reason: 'rude', authorUserId: carol.userId, authorUsername: 'carol_3', text: 'hm' }, { producer: 'test' });
    await appendEvent(m.js, held);
    await waitForProjection(db, (await appendEvent(m.js, report)).seq);
    const approve = await app.inject({ method: 'POST', url: `/api/moderation/queue/${held.id}/resolve`, headers: auth(alice), payload: { resolution: 'approved' } });
    expect(approve.json()).toMatchObject({ status: 'approved' });
    const dismiss = await app.inject({ method: 'POST', url: `/api/moderation/queue/${report.id}/resolve`, headers: auth(carol), payload: { resolution: 'dismissed' } });
    expect(dismiss.json()).toMatchObject({ status: 'dismissed' });
    const log = (await app.inject({ method: 'GET', url: '/api/channels/alice_1/chat/log', headers: auth(alice) })).json() as { items: Array<{ action: string }> };
    expect(log.items.map((i) => i.action)).toEqual(['ModerationItemResolved', 'ModerationItemResolved', 'ChatUserTimedOut', 'ChatBannedTermsSet', 'ChatSettingsChanged']);
  });
});

describe('playback policy', () => {
  it('projects the policy and its allow-list (rebuilt by the replay below)', async () => {
    const r = await app.inject({ method: 'PUT', url: '/api/channels/alice_1/playback-policy', headers: auth(alice), payload: { visibility: 'allowlist', allowList: [bob.userId], encryption: { enabled: true, rotateEverySegments: 6 } } });
    expect(r.statusCode, r.body).toBe(200);
    const row = await db.selectFrom('channels').select(['playback_visibility', 'playback_encrypted', 'playback_key_rotation_segments']).where('id', '=', 'alice_1').executeTakeFirstOrThrow();
    expect(row).toEqual({ playback_visibility: 'allowlist', playback_encrypted: true, playback_key_rotation_segments: 6 });
    expect(await db.selectFrom('channel_playback_allowlist').selectAll().execute()).toEqual([{ channel_id: 'alice_1', user_id: bob.userId }]);
  });
});

describe('restreaming', () => {
  it('projects a destination the owner adds (rebuilt by the replay below)', async () => {
    const r = await app.inject({ method: 'POST', url: '/api/channels/alice_1/restream-destinations', headers: auth(alice), payload: { name: 'Elsewhere', url: 'rtmp://restream.example/app', key: 'live_abc123' } });
    expect(r.statusCode, r.body).toBe(201);
    expect(await db.selectFrom('restream_destinations').select(['channel_id', 'name']).execute()).toEqual([{ channel_id: 'alice_1', name: 'Elsewhere' }]);
  });
});

describe('replay', () => {
  it('rebuilds every read model from EVENTS into empty tables with the same rows, and a second replay changes nothing', async () => {
    expect(aliceKey).not.toBe('');
    expect(aliceKeyId).not.toBe('');
    const all = await readEvents(m.js, EVENTS_STREAM, 'evt.>');
    expect(all.length).toBeGreaterThan(20);
    await waitForProjection(db, all.at(-1)!.seq);
    await createReadModelSchema(db, 'replay_check');
    const replay = db.withSchema('replay_check');
    const apply = async (events: Array<{ seq: number; event: DomainEvent }>) => {
      let applied = 0;
      for (const { seq, event } of events) if ((await projectEvent(replay, event, seq)).applied) applied++;
      return applied;
    };
    expect(await apply(all)).toBe(all.length);
    for (const table of Object.keys(READ_MODEL_TABLES) as Array<keyof typeof READ_MODEL_TABLES>) {
      const live = await readModelRows(db, table);
      const rebuilt = await readModelRows(db, table, 'replay_check');
      expect(rebuilt, table).toEqual(live);
      if (table !== 'projection_offsets') expect(live.length, table).toBeGreaterThan(0);
    }
    const before = await readModelRows(db, 'follows', 'replay_check');
    expect(await apply(all)).toBe(0);
    expect(await readModelRows(db, 'follows', 'replay_check')).toEqual(before);
    expect(await readModelRows(db, 'channels', 'replay_check')).toEqual(await readModelRows(db, 'channels'));
  });
});

describe('published event API', () => {
  it('serves the AsyncAPI document, and every event the API stored above conforms to it (payload schema and subject family)', async () => {
    const r = await app.inject({ method: 'GET', url: '/docs/asyncapi.json' });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual(ASYNCAPI_DOCUMENT);
    const ajv = new Ajv({ strict: false, validateFormats: false });
    ajv.addSchema({ components: (ASYNCAPI_DOCUMENT as { components: unknown }).components }, 'doc');
    const all = await readEvents(m.js, EVENTS_STREAM, 'evt.>');
    const seen = new Set<string>();
    for (const { event } of all) {
      seen.add(event.type);
      const ok = ajv.validate({ $ref: `doc#/components/schemas/${event.type}` }, JSON.parse(JSON.stringify(event)));
      expect(ok, `${event.type}: ${ajv.errorsText()}`).toBe(true);
      expect(EVENT_SUBJECT_FAMILIES[event.type], `${event.type} on ${event.subject}`).toContain(subjectFamilyOf(event.subject));
    }
    expect(seen.size).toBeGreaterThan(10);
  });
});
