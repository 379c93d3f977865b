/**
 * The recordings routes through `app.inject()` against a real PostgreSQL and nats-server, with
 * the real projector: a channel's recordings are listed (live sessions are not recordings),
 * renamed (RecordingRenamed, the title everywhere the session is read), deleted by their owner
 * only (RecordingDeletionRequested in the log; from the answer on, every read of the session is a
 * 404), and the retention setting is read and set (RecordingRetentionSet). The removal of the
 * files by the worker's workflow is apps/worker/test/recordings.int.test.ts; the whole chain
 * through the dashboard is apps/web/test/dashboard.e2e.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import { ALL_CHANNEL_SUBJECTS, ALL_STREAM_SUBJECTS, EVENTS_STREAM, streamEvent, systemClock, type EventEnvelope } from '@live/events';
import { waitForProjection, type Db } from '@live/db';
import { appendEvent, readEvents, type Messaging } from '@live/messaging';
import { bearer, registerUser, startBackends, type Backends, type TestUser } from './harness.js';
import { buildApp } from '../src/app.js';

const logger = pino({ level: process.env.TEST_LOG ?? 'silent' });
let backends: Backends;
let db: Db;
let m: Messaging;
let app: FastifyInstance;

type Session = TestUser;
const register = (username: string) => registerUser(app, username);
const auth = bearer;

/** Appends a session's lifecycle (started; then ended; then its VOD) and waits for the read model. */
async function session(channelId: string, upTo: 'live' | 'ended' | 'vod'): Promise<string> {
  const sessionId = randomUUID();
  const base = { channelId, sessionId };
  const events: EventEnvelope[] = [streamEvent(systemClock, 'StreamPublishStarted', { ...base, ingestNodeId: 'n1', relayUrl: 'http://x/relay.flv', app: 'live', source: {} }, { producer: 'test' })];
  if (upTo !== 'live') events.push(streamEvent(systemClock, 'StreamPublishEnded', { ...base, reason: 'unpublished', bytesReceived: 1, durationMs: 60_000 }, { producer: 'test' }));
  if (upTo === 'vod') {
    events.push(streamEvent(systemClock, 'VodReady', { ...base, durationSeconds: 61.44, masterPlaylistKey: `sessions/${sessionId}/vod.m3u8`, mp4Key: `sessions/${sessionId}/vod.mp4`, renditions: ['480p'] }, { producer: 'test' }));
  }
  let seq = 0;
  for (const e of events) seq = (await appendEvent(m.js, e)).seq;
  await waitForProjection(db, seq);
  return sessionId;
}

beforeAll(async () => {
  backends = await startBackends('api-recordings-int', logger);
  ({ db, messaging: m } = backends);
  app = await buildApp({ db, messaging: m, config: { jwtKeys: [{ kid: 'k1', secret: 'recordings-test-secret-0123456789abcdef' }] } });
}, 120_000);
afterAll(async () => {
  await app?.close();
  await backends?.stop();
});

let ann: Session;
let bob: Session;
let vod = '';
let processing = '';
let older = '';

describe('recordings', () => {
  it('lists a channel\'s recordings, newest first, to its owner only', async () => {
    ann = await register('ann_rec');
    bob = await register('bob_rec');
    expect((await app.inject({ method: 'POST', url: '/api/channels', headers: auth(ann), payload: {} })).statusCode).toBe(201);
    older = await session('ann_rec', 'vod');
    vod = await session('ann_rec', 'vod');
    processing = await session('ann_rec', 'ended');
    const r = await app.inject({ method: 'GET', url: '/api/channels/ann_rec/recordings', headers: auth(ann) });
    expect(r.statusCode, r.body).toBe(200);
    const items = r.json().items as Array<{ sessionId: string; status: string; durationSeconds: number | null; vodUrl: string | null }>;
    expect(items.map((i) => [i.sessionId, i.status])).toEqual([[processing, 'ended'], [vod, 'vod'], [older, 'vod']]);
    expect(items[1]).toMatchObject({ durationSeconds: 61.44, vodUrl: `/sessions/${vod}/vod.m3u8` });
    const other = await app.inject({ method: 'GET', url: '/api/channels/ann_rec/recordings', headers: auth(bob) });
    expect([other.statusCode, other.json().code]).toEqual([403, 'NOT_CHANNEL_OWNER']);
    expect((await app.inject({ method: 'GET', url: '/api/channels/ann_rec/recordings' })).statusCode).toBe(401);
  });

  it('renames a recording: RecordingRenamed, and the new title wherever the session is read', async () => {
    const bad = await app.inject({ method: 'PATCH', url: `/api/recordings/${vod}`, headers: auth(ann), payload: { title: '   ' } });
    expect([bad.statusCode, bad.json().code]).toEqual([400, 'VALIDATION_FAILED']);
    const notOwner = await app.inject({ method: 'PATCH', url: `/api/recordings/${vod}`, headers: auth(bob), payload: { title: 'Mine now' } });
    expect([notOwner.statusCode, notOwner.json().code]).toEqual([403, 'NOT_CHANNEL_OWNER']);
    const r = await app.inject({ method: 'PATCH', url: `/api/recordings/${vod}`, headers: auth(ann), payload: { title: '  Any% world record  ' } });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toMatchObject({ sessionId: vod, title: 'Any% world record' });
    const s = await app.inject({ method: 'GET', url: `/api/streams/${vod}` });
    expect(s.json().title).toBe('Any% world record');
    const log = await readEvents(m.js, EVENTS_STREAM, ALL_STREAM_SUBJECTS);
    expect(log.at(-1)?.event).toMatchObject({ type: 'RecordingRenamed', data: { channelId: 'ann_rec', sessionId: vod, title: 'Any% world record', actorUserId: ann.userId } });
  });

  it('refuses to delete a live session or one still being packaged, and a stranger\'s', async () => {
    const live = await session('ann_rec', 'live');
    const a = await app.inject({ method: 'DELETE', url: `/api/recordings/${live}`, headers: auth(ann) });
    expect([a.statusCode, a.json().code]).toEqual([409, 'RECORDING_LIVE']);
    const b = await app.inject({ method: 'DELETE', url: `/api/recordings/${processing}`, headers: auth(ann) });
    expect([b.statusCode, b.json().code]).toEqual([409, 'RECORDING_PROCESSING']);
    const c = await app.inject({ method: 'DELETE', url: `/api/recordings/${vod}`, headers: auth(bob) });
    expect([c.statusCode, c.json().code]).toEqual([403, 'NOT_CHANNEL_OWNER']);
    const d = await app.inject({ method: 'DELETE', url: `/api/recordings/${randomUUID()}`, headers: auth(ann) });
    expect([d.statusCode, d.json().code]).toEqual([404, 'RECORDING_NOT_FOUND']);
  });

  it('deletes a recording: RecordingDeletionRequested in the log, and a 404 for every read of it from the answer on', async () => {
    const r = await app.inject({ method: 'DELETE', url: `/api/recordings/${vod}`, headers: auth(ann) });
    expect(r.statusCode, r.body).toBe(202);
    expect(r.json()).toEqual({ sessionId: vod, status: 'deleting' });
    const log = await readEvents(m.js, EVENTS_STREAM, ALL_STREAM_SUBJECTS);
    expect(log.at(-1)?.event).toMatchObject({ type: 'RecordingDeletionRequested', data: { channelId: 'ann_rec', sessionId: vod, reason: 'owner', actorUserId: ann.userId } });
    const reads = await Promise.all([
      app.inject({ method: 'GET', url: `/api/streams/${vod}` }),
      app.inject({ method: 'POST', url: `/api/streams/${vod}/playback-token`, payload: {} }),
      app.inject({ method: 'PATCH', url: `/api/recordings/${vod}`, headers: auth(ann), payload: { title: 'Back?' } }),
      app.inject({ method: 'DELETE', url: `/api/recordings/${vod}`, headers: auth(ann) }),
    ]);
    expect(reads.map((x) => [x.statusCode, x.json().code])).toEqual([[404, 'STREAM_NOT_FOUND'], [404, 'STREAM_NOT_FOUND'], [404, 'RECORDING_NOT_FOUND'], [404, 'RECORDING_NOT_FOUND']]);
    const list = await app.inject({ method: 'GET', url: '/api/channels/ann_rec/recordings', headers: auth(ann) });
    expect((list.json().items as Array<{ sessionId: string }>).map((i) => i.sessionId)).toEqual([processing, older]);
    const streams = await app.inject({ method: 'GET', url: '/api/streams?channelId=ann_rec' });
    expect((streams.json().items as Array<{ sessionId: string }>).some((i) => i.sessionId === vod)).toBe(false);
  });

  it('the worker\'s RecordingDeleted (retention) drops a recording from the read model too', async () => {
    const ev = streamEvent(systemClock, 'RecordingDeleted', { channelId: 'ann_rec', sessionId: older, reason: 'retention', objectsDeleted: 3, bytesFreed: 1234, actorUserId: null }, { producer: 'test' });
    await waitForProjection(db, (await appendEvent(m.js, ev)).seq);
    expect((await app.inject({ method: 'GET', url: `/api/streams/${older}` })).statusCode).toBe(404);
  });

  it('reads and sets the retention: days or null, bounded, owner only', async () => {
    const get = await app.inject({ method: 'GET', url: '/api/channels/ann_rec/recording-retention', headers: auth(ann) });
    expect(get.json()).toEqual({ channelId: 'ann_rec', retentionDays: null });
    const set = await app.inject({ method: 'PUT', url: '/api/channels/ann_rec/recording-retention', headers: auth(ann), payload: { retentionDays: 30 } });
    expect(set.statusCode, set.body).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/api/channels/ann_rec/recording-retention', headers: auth(ann) })).json().retentionDays).toBe(30);
    expect((await db.selectFrom('channels').select('recording_retention_days').where('id', '=', 'ann_rec').executeTakeFirstOrThrow()).recording_retention_days).toBe(30);
    for (const retentionDays of [0, 3651, 1.5, 'x']) {
      const bad = await app.inject({ method: 'PUT', url: '/api/channels/ann_rec/recording-retention', headers: auth(ann), payload: { retentionDays } });
      expect([bad.statusCode, bad.json().code]).toEqual([400, 'VALIDATION_FAILED']);
    }
    const stranger = await app.inject({ method: 'PUT', url: '/api/channels/ann_rec/recording-retention', headers: auth(bob), payload: { retentionDays: 1 } });
    expect(stranger.statusCode).toBe(403);
    await app.inject({ method: 'PUT', url: '/api/channels/ann_rec/recording-retention', headers: auth(ann), payload: { retentionDays: null } });
    expect((await app.inject({ method: 'GET', url: '/api/channels/ann_rec/recording-retention', headers: auth(ann) })).json().retentionDays).toBeNull();
    const log = await readEvents(m.js, EVENTS_STREAM, ALL_CHANNEL_SUBJECTS);
    expect(log.filter((e) => e.event.type === 'RecordingRetentionSet').map((e) => (e.event.data as { retentionDays: number | null }).retentionDays)).toEqual([30, null]);
  });
});
