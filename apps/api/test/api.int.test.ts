/**
 * The API against a real PostgreSQL, through `app.inject()`: listings from the read model, and
 * bad input answered with catalogue errors (`{ code, message }`, no stack traces).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { startServices, type RunningServices } from '@live/dev';
import { createDb, ensureChannelWithKey, migrateToLatest, type Db } from '@live/db';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/app.js';

let services: RunningServices;
let db: Db;
let app: FastifyInstance;

beforeAll(async () => {
  services = await startServices({ logger: pino({ level: 'silent' }), name: 'api-int', external: { natsUrl: 'nats://127.0.0.1:1', temporalAddress: '127.0.0.1:1', temporalUiUrl: null } });
  db = createDb(services.endpoints.databaseUrl, 4);
  await migrateToLatest(db);
  await ensureChannelWithKey(db, { slug: 'demo', displayName: 'Demo <b>channel</b>', title: 'Hello' });
  await db.insertInto('stream_sessions').values([
    { session_id: 'old', channel_id: 'demo', status: 'vod', started_at: new Date('2026-01-01T00:00:00Z'), ended_at: new Date('2026-01-01T00:30:00Z'), renditions: '[]', vod_master_playlist_key: 'sessions/old/vod.m3u8', vod_mp4_key: 'sessions/old/vod.mp4', duration_seconds: 1800, last_seq: 5 },
    { session_id: 'now', channel_id: 'demo', status: 'live', started_at: new Date('2025-12-31T00:00:00Z'), renditions: JSON.stringify([{ name: '720p', width: 1280, height: 720, bandwidth: 3300000, codecs: 'avc1.4d401f,mp4a.40.2', passthrough: false }]), master_playlist_key: 'sessions/now/master.m3u8', last_seq: 9 },
  ]).execute();
  app = await buildApp({ db, config: { jwtKeys: [{ kid: 'k1', secret: 'read-only-test-secret-0123456789abcdef' }] } });
}, 90_000);
afterAll(async () => {
  await app?.close();
  await db?.destroy();
  await services?.stop();
});

describe('api', () => {
  it('lists live sessions first with playback URLs, then VODs', async () => {
    const r = await app.inject({ method: 'GET', url: '/api/streams' });
    expect(r.statusCode).toBe(200);
    const body = r.json() as { items: Array<Record<string, unknown>> };
    expect(body.items.map((i) => [i.sessionId, i.status])).toEqual([['now', 'live'], ['old', 'vod']]);
    expect(body.items[0]).toMatchObject({ playbackUrl: '/live/demo/master.m3u8', dashUrl: '/live/demo/manifest.mpd', vodUrl: null, vodDashUrl: null, renditions: ['720p'], channelName: 'Demo <b>channel</b>' });
    expect(body.items[1]).toMatchObject({ playbackUrl: null, dashUrl: null, vodUrl: '/sessions/old/vod.m3u8', vodDashUrl: '/sessions/old/vod.mpd', vodMp4Url: '/sessions/old/vod.mp4', durationSeconds: 1800 });
  });

  it('returns one session, or STREAM_NOT_FOUND', async () => {
    expect((await app.inject({ method: 'GET', url: '/api/streams/old' })).json()).toMatchObject({ sessionId: 'old', status: 'vod', live: false });
    const r = await app.inject({ method: 'GET', url: '/api/streams/nope' });
    expect([r.statusCode, r.json()]).toEqual([404, { code: 'STREAM_NOT_FOUND', message: 'No such stream.' }]);
  });

  it('answers commands with EVENT_LOG_UNAVAILABLE when it runs without NATS, writing nothing', async () => {
    const r = await app.inject({ method: 'POST', url: '/api/users/register', payload: { username: 'nobody', email: 'n@example.com', password: 'long enough password' } });
    expect([r.statusCode, (r.json() as { code: string }).code]).toEqual([503, 'EVENT_LOG_UNAVAILABLE']);
    expect(await db.selectFrom('users').selectAll().execute()).toEqual([]);
  });

  it.each([
    ['/api/streams?limit=abc', 400, 'VALIDATION_FAILED'],
    ['/api/streams?limit=100000', 400, 'VALIDATION_FAILED'],
    ['/api/streams?limit=0', 400, 'VALIDATION_FAILED'],
    ["/api/streams?channelId=x'%20or%201=1--", 400, 'VALIDATION_FAILED'],
    ['/api/streams/%E2%80%AE%F0%9F%98%80', 400, 'VALIDATION_FAILED'],
    ['/api/streams?limt=5', 400, 'VALIDATION_FAILED'],
    ['/api/streams/search?q=x&sort=desc', 400, 'VALIDATION_FAILED'],
    ['/api/nothing-here', 404, 'NOT_FOUND'],
  ])('%s → %i %s', async (url, status, code) => {
    const r = await app.inject({ method: 'GET', url });
    expect(r.statusCode).toBe(status);
    const body = r.json() as { code: string; message: string };
    expect(body.code).toBe(code);
    expect(JSON.stringify(body)).not.toMatch(/\bat .*\.ts:\d+/); // no stack trace
  });

  it('answers a malformed JSON body with a catalogue error', async () => {
    const r = await app.inject({ method: 'POST', url: '/api/streams', headers: { 'content-type': 'application/json' }, payload: '{"a":' });
    expect(r.statusCode).toBeGreaterThanOrEqual(400);
    expect(r.statusCode).toBeLessThan(500);
    expect(Object.keys(r.json() as object).sort()).toEqual(['code', 'message']);
  });

  it('is healthy and ready, and exposes metrics', async () => {
    expect((await app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await app.inject({ method: 'GET', url: '/readyz' })).json()).toEqual({ status: 'ok' });
    expect((await app.inject({ method: 'GET', url: '/metrics' })).body).toMatch(/process_cpu_seconds_total/);
  });
});
