/**
 * Signed playback through `app.inject()` against real PostgreSQL and nats-server with the real
 * projector: the playback policy as an event (owner/admin only, schema-checked), and the token
 * route's authorisation matrix (anonymous, follower, non-follower, allow-listed, moderator,
 * owner, admin) for public, followers-only and allow-list channels.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { EVENTS_STREAM, streamEvent, systemClock } from '@live/events';
import { channelPlaybackPolicy, waitForProjection, type Db } from '@live/db';
import { appendEvent, readEvents, type Messaging } from '@live/messaging';
import { parseJwtKeys, verifyPlaybackToken } from '@live/auth';
import { startBackends, type Backends } from './harness.js';
import { buildApp } from '../src/app.js';

const logger = pino({ level: process.env.TEST_LOG ?? 'silent' });
const playbackKeys = parseJwtKeys('pk1:api-playback-test-secret-0123456789abcdef');
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
const auth = (s: Session | null): Record<string, string> => (s ? { authorization: `Bearer ${s.accessToken}` } : {});
async function eventCount(): Promise<number> {
  return (await m.jsm.streams.info(EVENTS_STREAM)).state.messages;
}

let owner: Session;
let follower: Session;
let stranger: Session;
let listed: Session;
let mod: Session;
let admin: Session;

beforeAll(async () => {
  backends = await startBackends('api-playback-int', logger);
  ({ db, messaging: m } = backends);
  app = await buildApp({
    db, messaging: m,
    config: { jwtKeys: [{ kid: 'k1', secret: 'playback-api-test-secret-0123456789abcdef' }], playbackKeys, adminUsernames: ['root_admin'] },
  });
  owner = await register('owner_1');
  follower = await register('follower_2');
  stranger = await register('stranger_3');
  listed = await register('listed_4');
  mod = await register('mod_5');
  admin = await register('root_admin');
  expect((await app.inject({ method: 'POST', url: '/api/channels', headers: auth(owner), payload: {} })).statusCode).toBe(201);
  expect((await app.inject({ method: 'PUT', url: '/api/channels/owner_1/follow', headers: auth(follower) })).statusCode).toBe(204);
  expect((await app.inject({ method: 'PUT', url: `/api/channels/owner_1/moderators/${mod.userId}`, headers: auth(owner) })).statusCode).toBe(204);
  const seq = (await appendEvent(m.js, streamEvent(systemClock, 'StreamPublishStarted', {
    channelId: 'owner_1', sessionId: 'sess_1', ingestNodeId: 'n1', relayUrl: 'http://127.0.0.1:1/relay', app: 'live', source: {},
  }, { producer: 'test' }))).seq;
  expect(await waitForProjection(db, seq)).toBe(true);
}, 120_000);
afterAll(async () => {
  await app?.close();
  await backends?.stop();
});

const setPolicy = (who: Session | null, payload: unknown) => app.inject({ method: 'PUT', url: '/api/channels/owner_1/playback-policy', headers: auth(who), payload: payload as object });
const askToken = (who: Session | null, id = 'owner_1', payload: unknown = {}, remoteAddress = '127.0.0.1') =>
  app.inject({ method: 'POST', url: `/api/streams/${id}/playback-token`, headers: auth(who), payload: payload as object, remoteAddress });

describe('playback policy', () => {
  it('is public and unencrypted until changed', async () => {
    const r = await app.inject({ method: 'GET', url: '/api/channels/owner_1/playback-policy', headers: auth(owner) });
    expect(r.json()).toEqual({ channelId: 'owner_1', visibility: 'public', allowList: [], allowListUsernames: [], encryption: { enabled: false, rotateEverySegments: 0 }, bindAddress: false });
    expect((await app.inject({ method: 'GET', url: '/api/channels/owner_1/playback-policy', headers: auth(mod) })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/api/channels/owner_1/playback-policy', headers: auth(stranger) })).json().code).toBe('NOT_CHANNEL_OWNER');
  });

  it('refuses changes by others and bad bodies, writing nothing', async () => {
    const before = await eventCount();
    const cases: Array<[Session | null, unknown, number, string]> = [
      [null, { visibility: 'followers' }, 401, 'UNAUTHENTICATED'],
      [stranger, { visibility: 'followers' }, 403, 'NOT_CHANNEL_OWNER'],
      [mod, { visibility: 'followers' }, 403, 'FORBIDDEN'],
      [owner, {}, 400, 'VALIDATION_FAILED'],
      [owner, { visibility: 'secret' }, 400, 'VALIDATION_FAILED'],
      [owner, { visibility: 'public', extra: 1 }, 400, 'VALIDATION_FAILED'],
      [owner, { visibility: 'public', encryption: { enabled: true, rotate: 3 } }, 400, 'VALIDATION_FAILED'],
      [owner, { visibility: 'public', encryption: { enabled: true, rotateEverySegments: -1 } }, 400, 'VALIDATION_FAILED'],
      [owner, { visibility: 'allowlist', allowList: ['a', 'a'] }, 400, 'VALIDATION_FAILED'],
      [owner, { visibility: 'allowlist', allowList: ['../x'] }, 400, 'VALIDATION_FAILED'],
      [owner, { visibility: 'allowlist', allowList: Array.from({ length: 1001 }, (_, i) => `u${i}`) }, 400, 'VALIDATION_FAILED'],
      [owner, { visibility: 'allowlist', allowList: ['no-such-user'] }, 404, 'USER_NOT_FOUND'],
      [owner, { visibility: 'allowlist', allowListUsernames: ['listed_4', 'nobody_here'] }, 404, 'USER_NOT_FOUND'],
      [owner, { visibility: 'allowlist', allowListUsernames: [''] }, 400, 'VALIDATION_FAILED'],
    ];
    for (const [who, payload, status, code] of cases) {
      const r = await setPolicy(who, payload);
      expect([r.statusCode, r.json().code], JSON.stringify(payload).slice(0, 80)).toEqual([status, code]);
      expect(r.body).not.toMatch(/\bat .*\.ts:\d+/);
    }
    const bad = await app.inject({ method: 'PUT', url: '/api/channels/owner_1/playback-policy', headers: { ...auth(owner), 'content-type': 'application/json' }, payload: '{"visibility":' });
    expect([bad.statusCode, bad.json().code]).toEqual([400, 'BAD_JSON']);
    expect((await app.inject({ method: 'PUT', url: '/api/channels/nobody/playback-policy', headers: auth(admin), payload: { visibility: 'public' } })).json().code).toBe('CHANNEL_NOT_FOUND');
    expect(await eventCount()).toBe(before);
  });

  it('appends ChannelPlaybackPolicyChanged and answers once the read model has it', async () => {
    const before = (await channelPlaybackPolicy(db, 'owner_1'))!.version;
    const r = await setPolicy(owner, { visibility: 'allowlist', allowList: [listed.userId, follower.userId], encryption: { enabled: true, rotateEverySegments: 10 } });
    expect(r.statusCode, r.body).toBe(200);
    const sorted = [listed.userId, follower.userId].sort();
    const names = sorted.map((id) => (id === listed.userId ? 'listed_4' : 'follower_2'));
    expect(r.json()).toEqual({ channelId: 'owner_1', visibility: 'allowlist', allowList: sorted, allowListUsernames: names, encryption: { enabled: true, rotateEverySegments: 10 }, bindAddress: false });
    expect(await channelPlaybackPolicy(db, 'owner_1', { withAllowList: true })).toEqual({
      channelId: 'owner_1', visibility: 'allowlist', allowList: sorted, encryption: { enabled: true, rotateEverySegments: 10 }, bindAddress: false, version: before + 1,
    });
    const log = await readEvents(m.js, EVENTS_STREAM, 'evt.channel.owner_1');
    expect(log.at(-1)?.event).toMatchObject({ type: 'ChannelPlaybackPolicyChanged', data: { visibility: 'allowlist', actorUserId: owner.userId } });
    // An admin may change it too; a new policy replaces the allow-list.
    expect((await setPolicy(admin, { visibility: 'allowlist', allowList: [listed.userId] })).statusCode).toBe(200);
    expect((await channelPlaybackPolicy(db, 'owner_1', { withAllowList: true }))?.allowList).toEqual([listed.userId]);
    // By usernames (any case, with ids merged): what the dashboard sends; the view names them.
    const byName = await setPolicy(owner, { visibility: 'allowlist', allowList: [listed.userId], allowListUsernames: ['FOLLOWER_2', 'listed_4'] });
    expect(byName.statusCode, byName.body).toBe(200);
    expect(byName.json()).toMatchObject({ allowList: sorted, allowListUsernames: names });
    const read = await app.inject({ method: 'GET', url: '/api/channels/owner_1/playback-policy', headers: auth(owner) });
    expect(read.json()).toMatchObject({ allowList: sorted, allowListUsernames: names });
  });
});

describe('playback tokens', () => {
  type Who = 'anonymous' | 'follower' | 'stranger' | 'listed' | 'moderator' | 'owner' | 'admin';
  const who = (w: Who): Session | null => ({ anonymous: null, follower, stranger, listed, moderator: mod, owner, admin })[w];
  const matrix: Array<['public' | 'followers' | 'allowlist', Record<Who, number | string>]> = [
    ['public', { anonymous: 200, follower: 200, stranger: 200, listed: 200, moderator: 200, owner: 200, admin: 200 }],
    ['followers', { anonymous: 'UNAUTHENTICATED', follower: 200, stranger: 'PLAYBACK_FOLLOWERS_ONLY', listed: 'PLAYBACK_FOLLOWERS_ONLY', moderator: 200, owner: 200, admin: 200 }],
    ['allowlist', { anonymous: 'UNAUTHENTICATED', follower: 'PLAYBACK_NOT_ALLOWED', stranger: 'PLAYBACK_NOT_ALLOWED', listed: 200, moderator: 200, owner: 200, admin: 200 }],
  ];

  it.each(matrix)('authorises %s channels by who asks', async (visibility, expected) => {
    expect((await setPolicy(owner, { visibility, allowList: [listed.userId] })).statusCode).toBe(200);
    for (const [w, want] of Object.entries(expected) as Array<[Who, number | string]>) {
      const r = await askToken(who(w));
      if (want === 200) {
        expect(r.statusCode, `${visibility}/${w}: ${r.body}`).toBe(200);
        const b = r.json() as { token: string; expiresAt: string; query: string };
        expect(b.query).toBe(`token=${b.token}`);
        expect(r.headers['cache-control']).toBe('no-store');
        const claims = verifyPlaybackToken(b.token, playbackKeys, { channelId: 'owner_1', sessionId: 'sess_1', clientAddress: '203.0.113.9' });
        expect(claims).toMatchObject({ channelId: 'owner_1', sessionId: null, viewerId: null, addressBound: false });
        expect(claims.exp * 1000).toBe(Date.parse(b.expiresAt));
        expect(Math.round((Date.parse(b.expiresAt) - Date.now()) / 60_000)).toBe(10);
      } else {
        expect([r.statusCode >= 400 && r.statusCode < 500, r.json().code], `${visibility}/${w}`).toEqual([true, want]);
      }
    }
  });

  it('scopes a token asked by session id to that session, and binds the address on request', async () => {
    await setPolicy(owner, { visibility: 'public' });
    const r = await askToken(follower, 'sess_1', { bindAddress: true }, '203.0.113.9');
    expect(r.statusCode, r.body).toBe(200);
    const { token } = r.json() as { token: string };
    expect(verifyPlaybackToken(token, playbackKeys, { channelId: 'owner_1', sessionId: 'sess_1', clientAddress: '203.0.113.9' })).toMatchObject({ sessionId: 'sess_1', addressBound: true });
    expect(() => verifyPlaybackToken(token, playbackKeys, { channelId: 'owner_1', sessionId: 'sess_1', clientAddress: '203.0.113.10' })).toThrow(/another client address/);
    expect(() => verifyPlaybackToken(token, playbackKeys, { channelId: 'owner_1', sessionId: 'sess_2', clientAddress: '203.0.113.9' })).toThrow(/another stream/);
  });

  it('puts the policy version in every token, and binds every token of a bindAddress channel', async () => {
    expect((await setPolicy(owner, { visibility: 'public' })).statusCode).toBe(200);
    const v1 = (await channelPlaybackPolicy(db, 'owner_1'))!.version;
    const loose = (await askToken(follower, 'owner_1', {}, '203.0.113.9')).json() as { token: string };
    const scope = { channelId: 'owner_1', sessionId: 'sess_1', clientAddress: '203.0.113.9' };
    expect(verifyPlaybackToken(loose.token, playbackKeys, { ...scope, policyVersion: v1 })).toMatchObject({ policyVersion: v1, addressBound: false });
    const r = await setPolicy(owner, { visibility: 'public', bindAddress: true });
    expect([r.statusCode, r.json().bindAddress]).toEqual([200, true]);
    const p = (await channelPlaybackPolicy(db, 'owner_1'))!;
    expect([p.version, p.bindAddress]).toEqual([v1 + 1, true]);
    const log = await readEvents(m.js, EVENTS_STREAM, 'evt.channel.owner_1');
    expect(log.at(-1)?.event).toMatchObject({ type: 'ChannelPlaybackPolicyChanged', version: 2, data: { bindAddress: true } });
    // The earlier token is older than the policy now; a new one is bound although nobody asked.
    expect(() => verifyPlaybackToken(loose.token, playbackKeys, { ...scope, policyVersion: p.version })).toThrow(/policy changed/);
    for (const who of [null, follower]) {
      const { token } = (await askToken(who, 'owner_1', {}, '203.0.113.9')).json() as { token: string };
      expect(verifyPlaybackToken(token, playbackKeys, { ...scope, policyVersion: p.version })).toMatchObject({ policyVersion: p.version, addressBound: true });
      expect(() => verifyPlaybackToken(token, playbackKeys, { ...scope, clientAddress: '203.0.113.10' })).toThrow(/another client address/);
    }
    expect((await setPolicy(owner, { visibility: 'public' })).json().bindAddress).toBe(false);
  });

  it('refuses unknown streams, unknown fields and bad JSON', async () => {
    expect([(await askToken(owner, 'nope')).statusCode, (await askToken(owner, 'nope')).json().code]).toEqual([404, 'STREAM_NOT_FOUND']);
    const extra = await askToken(owner, 'owner_1', { bindAddress: true, channelId: 'x' });
    expect([extra.statusCode, extra.json().code]).toEqual([400, 'VALIDATION_FAILED']);
    const wrongType = await askToken(owner, 'owner_1', { bindAddress: 'yes' });
    expect([wrongType.statusCode, wrongType.json().code]).toEqual([400, 'VALIDATION_FAILED']);
    const bad = await app.inject({ method: 'POST', url: '/api/streams/owner_1/playback-token', headers: { ...auth(owner), 'content-type': 'application/json' }, payload: '{"bindAddress":' });
    expect([bad.statusCode, bad.json().code]).toEqual([400, 'BAD_JSON']);
    expect((await app.inject({ method: 'POST', url: '/api/streams/..%2Fx/playback-token', payload: {} })).json().code).toBe('VALIDATION_FAILED');
  });

  it('documents both routes in the OpenAPI description', async () => {
    const spec = (await app.inject({ method: 'GET', url: '/docs/json' })).json() as { paths: Record<string, Record<string, unknown>> };
    expect(Object.keys(spec.paths['/api/streams/{id}/playback-token'] ?? {})).toContain('post');
    expect(Object.keys(spec.paths['/api/channels/{channelId}/playback-policy'] ?? {})).toEqual(expect.arrayContaining(['get', 'put']));
  });
});
