/**
 * Restream destinations through `app.inject()` against real PostgreSQL and nats-server with the
 * real projector: only the owner (or an admin) lists and changes them; URLs and keys are checked;
 * the key is stored sealed (the event and the read model hold no plaintext, and it opens with the
 * configured secret) and answered only masked; the ingest node's Restream* events show as each
 * destination's state; without RESTREAM_KEY_SECRET the API refuses to add one.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { channelSubject, EVENTS_STREAM, streamEvent, systemClock } from '@live/events';
import { waitForProjection } from '@live/db';
import { appendEvent, readEvents } from '@live/messaging';
import { openSecret, restreamSealingKey } from '@live/auth';
import { startBackends, type Backends } from './harness.js';
import { buildApp } from '../src/app.js';

const logger = pino({ level: process.env.TEST_LOG ?? 'silent' });
const sealing = restreamSealingKey(randomBytes(32).toString('base64'));
const jwtKeys = [{ kid: 'k1', secret: 'restream-api-test-secret-0123456789abcdef' }];
let backends: Backends;
let app: FastifyInstance;
let unconfigured: FastifyInstance;
const tokens: Record<string, string> = {};

async function register(username: string): Promise<void> {
  const r = await app.inject({ method: 'POST', url: '/api/users/register', payload: { username, email: `${username}@example.com`, password: `pw-${username}-0123456789` } });
  expect(r.statusCode, r.body).toBe(201);
  tokens[username] = (r.json() as { accessToken: string }).accessToken;
}
const as = (u: string) => ({ authorization: `Bearer ${tokens[u]}` });
const base = '/api/channels/streamer_1/restream-destinations';

beforeAll(async () => {
  backends = await startBackends('api-restream-int', logger);
  app = await buildApp({ db: backends.db, messaging: backends.messaging, config: { jwtKeys, adminUsernames: ['root_admin'], restreamSealing: sealing } });
  unconfigured = await buildApp({ db: backends.db, messaging: backends.messaging, config: { jwtKeys } });
  for (const u of ['streamer_1', 'stranger_2', 'root_admin']) await register(u);
  expect((await app.inject({ method: 'POST', url: '/api/channels', headers: as('streamer_1'), payload: {} })).statusCode).toBe(201);
}, 120_000);
afterAll(async () => {
  await app?.close();
  await unconfigured?.close();
  await backends?.stop();
});

it('lets the owner and admins manage destinations, checks them, seals the key and shows the push state', async () => {
  const key = 'live_987654321_secretKEY';
  const add = (who: string, payload: object, a = app) => a.inject({ method: 'POST', url: base, headers: as(who), payload });
  // Checks.
  for (const url of ['http://example.com/app', 'rtmp://u:p@example.com/app', 'rtmp://example.com/app?x=1', 'not a url']) {
    const r = await add('streamer_1', { name: 'Twitch', url, key });
    expect(r.statusCode, url).toBe(400);
    expect(r.json()).toMatchObject({ code: 'INVALID_RESTREAM_DESTINATION' });
  }
  expect((await add('streamer_1', { name: 'Twitch', url: 'rtmp://example.com/app', key: 'has space' })).json()).toMatchObject({ code: 'INVALID_RESTREAM_DESTINATION' });
  expect((await add('streamer_1', { name: 'Twitch', url: 'rtmp://example.com/app', key }, unconfigured)).json()).toMatchObject({ code: 'RESTREAM_NOT_CONFIGURED' });
  // Who.
  expect((await add('stranger_2', { name: 'Twitch', url: 'rtmp://example.com/app', key })).json()).toMatchObject({ code: 'NOT_CHANNEL_OWNER' });
  expect((await app.inject({ method: 'GET', url: base, headers: as('stranger_2') })).statusCode).toBe(403);
  expect((await app.inject({ method: 'GET', url: base })).statusCode).toBe(401);

  const r = await add('streamer_1', { name: 'Twitch', url: 'rtmps://live.example.com:443/app/', key });
  expect(r.statusCode, r.body).toBe(201);
  const d = r.json() as { id: string };
  expect(d).toMatchObject({ name: 'Twitch', url: 'rtmps://live.example.com:443/app', maskedKey: '********tKEY', enabled: true, state: 'idle', attempt: 0 });
  expect(r.body).not.toContain(key);
  expect((await add('root_admin', { name: 'Admin added', url: 'rtmp://example.com/app', key: 'short' })).json()).toMatchObject({ maskedKey: '********' });

  // Stored sealed: neither the event nor the row holds the key; the row's opens with the secret.
  const stored = (await readEvents(backends.messaging.js, EVENTS_STREAM, channelSubject('streamer_1'))).map((e) => JSON.stringify(e.event));
  expect(stored.some((e) => e.includes('RestreamDestinationAdded'))).toBe(true);
  expect(stored.some((e) => e.includes(key))).toBe(false);
  const row = await backends.db.selectFrom('restream_destinations').selectAll().where('id', '=', d.id).executeTakeFirstOrThrow();
  expect(row.key_sealed).not.toContain(key);
  expect(openSecret(sealing, row.key_sealed)).toBe(key);

  // Another channel's destination is not found through this one.
  await register('other_3');
  expect((await app.inject({ method: 'POST', url: '/api/channels', headers: as('other_3'), payload: {} })).statusCode).toBe(201);
  expect((await app.inject({ method: 'PATCH', url: `/api/channels/other_3/restream-destinations/${d.id}`, headers: as('other_3'), payload: { enabled: false } })).json())
    .toMatchObject({ code: 'RESTREAM_DESTINATION_NOT_FOUND' });

  // The ingest node's events become the destination's state.
  const base2 = { channelId: 'streamer_1', sessionId: 'sess-1', destinationId: d.id, ingestNodeId: 'ingest-a' };
  await appendEvent(backends.messaging.js, streamEvent(systemClock, 'RestreamStarted', { ...base2, attempt: 1 }, { producer: 'test' }));
  const seq = (await appendEvent(backends.messaging.js, streamEvent(systemClock, 'RestreamReconnecting', { ...base2, attempt: 1, reason: 'Connection refused', retryInMs: 1000 }, { producer: 'test' }))).seq;
  expect(await waitForProjection(backends.db, seq)).toBe(true);
  const listed = (await app.inject({ method: 'GET', url: base, headers: as('streamer_1') })).json() as { items: Array<Record<string, unknown>> };
  expect(listed.items.find((i) => i.id === d.id)).toMatchObject({ state: 'reconnecting', attempt: 1, reason: 'Connection refused', sessionId: 'sess-1' });

  // Change (a new key, masked again), then remove.
  const patched = await app.inject({ method: 'PATCH', url: `${base}/${d.id}`, headers: as('streamer_1'), payload: { key: 'another-key-0000', enabled: false } });
  expect(patched.json()).toMatchObject({ enabled: false, maskedKey: '********0000', url: 'rtmps://live.example.com:443/app' });
  expect((await app.inject({ method: 'DELETE', url: `${base}/${d.id}`, headers: as('streamer_1') })).statusCode).toBe(204);
  expect(((await app.inject({ method: 'GET', url: base, headers: as('streamer_1') })).json() as { items: Array<{ id: string }> }).items.map((i) => i.id)).not.toContain(d.id);
}, 60_000);
