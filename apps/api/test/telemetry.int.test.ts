/**
 * Player telemetry and the analytics routes against real servers (nats-server with the
 * TELEMETRY stream, embedded PostgreSQL, the read-model projector), through `app.inject()`:
 * an accepted batch lands in TELEMETRY once however often it is posted; wrong types, unknown
 * fields, future and stale timestamps, huge batches, unknown sessions and floods are refused
 * with catalogue codes, counted in `beacons_refused_total{code}`, and append nothing; the
 * analytics routes refuse the wrong callers and bad ranges, answer 503 without ClickHouse, and
 * (with an embedded chDB holding the beacons this API accepted) report them.
 * chDB binds one data directory per process: this file opens one client (vitest's default
 * `forks` pool gives each file its own process).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAnalyticsClient, migrateAnalytics, playbackBeaconRow, type ClickHouseClient } from '@live/analytics';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import {
  MAX_BEACON_AGE_MS, MAX_BEACON_BATCH_BYTES, MAX_BEACON_CLOCK_SKEW_MS, MAX_BEACONS_PER_BATCH, TELEMETRY_STREAM,
  beaconId, telemetrySubject, type Beacon, type StoredBeacon,
} from '@live/events';
import type { Db } from '@live/db';
import type { Messaging } from '@live/messaging';
import { startBackends, type Backends } from './harness.js';
import { buildApp } from '../src/app.js';

const logger = pino({ level: process.env.TEST_LOG ?? 'silent' });
const JWT = { kid: 'k1', secret: 'telemetry-test-secret-0123456789abcdef' };
const SESSION = 'sess-telemetry-1';
let backends: Backends;
let db: Db;
let m: Messaging;
let app: FastifyInstance;
const extraApps: FastifyInstance[] = [];

interface User { userId: string; accessToken: string }
let owner: User;
let other: User;
let admin: User;
let channelId: string;

async function register(a: FastifyInstance, username: string): Promise<User> {
  const r = await a.inject({ method: 'POST', url: '/api/users/register', payload: { username, email: `${username}@example.com`, password: `pw-${username}-0123456789` } });
  expect(r.statusCode, r.body).toBe(201);
  const b = r.json() as { user: { userId: string }; accessToken: string };
  return { userId: b.user.userId, accessToken: b.accessToken };
}
const auth = (u?: User): Record<string, string> => (u ? { authorization: `Bearer ${u.accessToken}` } : {});

beforeAll(async () => {
  backends = await startBackends('telemetry-int', logger);
  ({ db, messaging: m } = backends);
  app = await buildApp({
    db, messaging: m, config: { jwtKeys: [JWT], adminUsernames: ['tele_admin'] },
    rateLimit: { max: 100_000, timeWindowMs: 60_000 }, beaconRateLimit: { max: 100_000, timeWindowMs: 60_000 },
  });
  owner = await register(app, 'tele_owner');
  other = await register(app, 'tele_other');
  admin = await register(app, 'tele_admin');
  const ch = await app.inject({ method: 'POST', url: '/api/channels', headers: auth(owner), payload: {} });
  expect(ch.statusCode, ch.body).toBe(201);
  channelId = (ch.json() as { channelId: string }).channelId;
  await db.insertInto('stream_sessions').values({
    session_id: SESSION, channel_id: channelId, status: 'live', started_at: new Date(Date.now() - 3600_000), renditions: '[]', last_seq: 1,
  }).execute();
}, 120_000);

afterAll(async () => {
  for (const a of extraApps) await a.close();
  await app?.close();
  await backends?.stop();
});

// ---------------------------------------------------------------------------------------------
// Helpers.

function beacons(now = Date.now()): Beacon[] {
  return [
    { type: 'session_start', seq: 0, at: now - 12_000, live: true, autoplay: true },
    { type: 'first_frame', seq: 1, at: now - 11_000, ttffMs: 850, rendition: '720p' },
    { type: 'rendition_switch', seq: 2, at: now - 11_000, from: null, to: '720p', reason: 'initial' },
    { type: 'rebuffer_start', seq: 3, at: now - 6_000, position: 4.5 },
    { type: 'rebuffer_end', seq: 4, at: now - 5_000, position: 4.5, durationMs: 1000 },
    { type: 'error', seq: 5, at: now - 4_000, fatal: false, code: 'mediaError/bufferStalledError' },
    { type: 'heartbeat', seq: 6, at: now - 2_000, position: 9.1, rendition: '720p', bandwidthKbps: 5120.5, liveLatencyMs: 6200, droppedFrames: 3, playingMs: 9000 },
    { type: 'session_end', seq: 7, at: now, playingMs: 1500 },
  ];
}
const batch = (over: Record<string, unknown> = {}) => ({ playbackSessionId: randomUUID(), sessionId: SESSION, viewerId: randomUUID(), beacons: beacons(), ...over });

async function post(body: unknown, opts: { a?: FastifyInstance; user?: User; headers?: Record<string, string>; ip?: string } = {}): Promise<LightMyRequestResponse> {
  return (opts.a ?? app).inject({
    method: 'POST', url: '/api/beacons', headers: { 'content-type': 'application/json', ...auth(opts.user), ...opts.headers },
    payload: typeof body === 'string' ? body : JSON.stringify(body), ...(opts.ip ? { remoteAddress: opts.ip } : {}),
  });
}
function expectError(r: LightMyRequestResponse, status: number, code: string): void {
  expect({ status: r.statusCode, code: (r.json() as { code?: string }).code }, r.body).toEqual({ status, code });
}
async function telemetryCount(): Promise<number> {
  return (await m.jsm.streams.info(TELEMETRY_STREAM)).state.messages;
}
/** Every stored beacon on `tel.<channelId>`, in stream order. */
async function storedBeacons(): Promise<StoredBeacon[]> {
  const consumer = await m.js.consumers.get(TELEMETRY_STREAM, { filter_subjects: telemetrySubject(channelId) });
  const info = await consumer.info(true);
  const out: StoredBeacon[] = [];
  if (info.num_pending === 0) return out;
  const messages = await consumer.consume();
  for await (const msg of messages) {
    out.push(msg.json<StoredBeacon>());
    if (msg.info.pending === 0) break;
  }
  await messages.close().catch(() => undefined);
  return out;
}
/** Value of one sample of the app's `/metrics` (0 when absent). */
async function metric(a: FastifyInstance, name: string, labels = ''): Promise<number> {
  const text = (await a.inject({ method: 'GET', url: '/metrics' })).body;
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

// ---------------------------------------------------------------------------------------------

describe('POST /api/beacons', () => {
  it('appends one StoredBeacon per beacon to TELEMETRY, once even when the batch is posted twice', async () => {
    const b = batch();
    const before = await telemetryCount();
    const acceptedBefore = await metric(app, 'beacons_accepted_total', '{type="heartbeat"}');
    const r1 = await post(b);
    expect([r1.statusCode, r1.json()]).toEqual([202, { accepted: 8 }]);
    const r2 = await post(b); // a retry after a lost answer
    expect([r2.statusCode, r2.json()]).toEqual([202, { accepted: 8 }]);
    expect(await telemetryCount()).toBe(before + 8);
    const mine = (await storedBeacons()).filter((s) => s.playbackSessionId === b.playbackSessionId);
    expect(mine.map((s) => s.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const hb = mine.find((s) => s.type === 'heartbeat')!;
    expect(hb).toMatchObject({ ...b.beacons[6], playbackSessionId: b.playbackSessionId, channelId, sessionId: SESSION, viewerId: b.viewerId, userId: null });
    expect(Math.abs(hb.receivedAt - Date.now())).toBeLessThan(60_000);
    expect(beaconId(hb)).toBe(`${b.playbackSessionId}:6`);
    // Duplicates are not counted twice in the alerting counters either.
    expect(await metric(app, 'beacons_accepted_total', '{type="heartbeat"}')).toBe(acceptedBefore + 1);
  });

  it('attributes beacons to the signed-in caller', async () => {
    const b = batch({ beacons: [{ type: 'session_start', seq: 0, at: Date.now(), live: false, autoplay: false }] });
    expect((await post(b, { user: other })).statusCode).toBe(202);
    const [s] = (await storedBeacons()).filter((x) => x.playbackSessionId === b.playbackSessionId);
    expect(s).toMatchObject({ type: 'session_start', userId: other.userId, live: false });
  });

  const hb = (over: Record<string, unknown>) => ({ type: 'heartbeat', seq: 0, at: Date.now(), position: 1, rendition: '720p', bandwidthKbps: 1000, liveLatencyMs: null, droppedFrames: 0, playingMs: 1000, ...over });
  it.each<[string, unknown, number, string]>([
    ['seq as a string', batch({ beacons: [hb({ seq: '1' })] }), 400, 'VALIDATION_FAILED'],
    ['a fractional seq', batch({ beacons: [hb({ seq: 1.5 })] }), 400, 'VALIDATION_FAILED'],
    ['a negative duration', batch({ beacons: [{ type: 'rebuffer_end', seq: 0, at: Date.now(), position: 1, durationMs: -5 }] }), 400, 'VALIDATION_FAILED'],
    ['an unknown beacon type', batch({ beacons: [{ type: 'mined_bitcoin', seq: 0, at: Date.now() }] }), 400, 'VALIDATION_FAILED'],
    ['an unknown field in a beacon', batch({ beacons: [hb({ cpu: 99 })] }), 400, 'VALIDATION_FAILED'],
    ['an unknown field in the batch', { ...batch(), extra: true }, 400, 'VALIDATION_FAILED'],
    ['a missing field', batch({ beacons: [{ type: 'first_frame', seq: 0, at: Date.now(), rendition: '720p' }] }), 400, 'VALIDATION_FAILED'],
    ['a bad reason', batch({ beacons: [{ type: 'rendition_switch', seq: 0, at: Date.now(), from: null, to: '720p', reason: 'whim' }] }), 400, 'VALIDATION_FAILED'],
    ['a playback session id that is no UUID', batch({ playbackSessionId: 'abc' }), 400, 'VALIDATION_FAILED'],
    ['a session id with a NATS wildcard', batch({ sessionId: 'a.>' }), 400, 'VALIDATION_FAILED'],
    ['no beacons', batch({ beacons: [] }), 400, 'VALIDATION_FAILED'],
    ['the same seq twice', batch({ beacons: [hb({ seq: 3 }), hb({ seq: 3 })] }), 400, 'VALIDATION_FAILED'],
    ['a good beacon next to a bad one', batch({ beacons: [hb({ seq: 0 }), hb({ seq: 1, bandwidthKbps: 'fast' })] }), 400, 'VALIDATION_FAILED'],
    ['a beacon from the future', batch({ beacons: [hb({ at: Date.now() + MAX_BEACON_CLOCK_SKEW_MS + 60_000 })] }), 400, 'BEACON_TIME_IN_FUTURE'],
    ['a beacon older than allowed', batch({ beacons: [hb({ seq: 0 }), hb({ seq: 1, at: Date.now() - MAX_BEACON_AGE_MS - 60_000 })] }), 400, 'BEACON_TOO_OLD'],
    ['too many beacons', batch({ beacons: Array.from({ length: MAX_BEACONS_PER_BATCH + 1 }, (_, i) => hb({ seq: i })) }), 413, 'BEACON_BATCH_TOO_LARGE'],
    ['a body over the byte limit', batch({ beacons: [hb({ rendition: 'x'.repeat(MAX_BEACON_BATCH_BYTES) })] }), 413, 'PAYLOAD_TOO_LARGE'],
    ['an unknown stream session', batch({ sessionId: 'no-such-session' }), 422, 'BEACON_SESSION_UNKNOWN'],
    ['malformed JSON', '{"beacons": [', 400, 'BAD_JSON'],
  ])('refuses %s, counts it and appends nothing', async (_what, body, status, code) => {
    const before = await telemetryCount();
    const refusedBefore = await metric(app, 'beacons_refused_total', `{code="${code}"}`);
    expectError(await post(body), status, code);
    expect(await metric(app, 'beacons_refused_total', `{code="${code}"}`)).toBe(refusedBefore + 1);
    expect(await telemetryCount()).toBe(before);
  });

  it('refuses a bad access token even though anonymous beacons are allowed, and counts the auth failure', async () => {
    const before = await metric(app, 'api_auth_failures_total', '{code="TOKEN_INVALID"}');
    expectError(await post(batch(), { headers: { authorization: 'Bearer not.a.token' } }), 401, 'TOKEN_INVALID');
    expect(await metric(app, 'api_auth_failures_total', '{code="TOKEN_INVALID"}')).toBe(before + 1);
    expect(await metric(app, 'beacons_refused_total', '{code="TOKEN_INVALID"}')).toBe(1);
  });

  it('counts failed sign-ins in api_auth_failures_total', async () => {
    const before = await metric(app, 'api_auth_failures_total', '{code="INVALID_CREDENTIALS"}');
    const r = await app.inject({ method: 'POST', url: '/api/users/login', payload: { username: 'tele_owner', password: 'wrong password 123' } });
    expectError(r, 401, 'INVALID_CREDENTIALS');
    expect(await metric(app, 'api_auth_failures_total', '{code="INVALID_CREDENTIALS"}')).toBe(before + 1);
  });

  it('limits batches per address more strictly than the global limit', async () => {
    const a = await buildApp({ db, messaging: m, config: { jwtKeys: [JWT] }, rateLimit: { max: 1000, timeWindowMs: 60_000 }, beaconRateLimit: { max: 2, timeWindowMs: 60_000 } });
    extraApps.push(a);
    const ip = '203.0.113.7';
    expect((await post(batch(), { a, ip })).statusCode).toBe(202);
    expect((await post(batch(), { a, ip })).statusCode).toBe(202);
    const before = await telemetryCount();
    const r = await post(batch(), { a, ip });
    expectError(r, 429, 'RATE_LIMITED');
    expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
    expect(await telemetryCount()).toBe(before);
    expect(await metric(a, 'beacons_refused_total', '{code="RATE_LIMITED"}')).toBe(1);
    // Another address, and other routes from the same address, are not affected.
    expect((await post(batch(), { a, ip: '203.0.113.8' })).statusCode).toBe(202);
    expect((await a.inject({ method: 'GET', url: '/api/streams', remoteAddress: ip })).statusCode).toBe(200);
  });

  it('answers EVENT_LOG_UNAVAILABLE without NATS', async () => {
    const a = await buildApp({ db, config: { jwtKeys: [JWT] } });
    extraApps.push(a);
    expectError(await post(batch(), { a }), 503, 'EVENT_LOG_UNAVAILABLE');
  });
});

it('documents the telemetry and analytics routes in the OpenAPI description', async () => {
  const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json() as { paths: Record<string, Record<string, { tags?: string[] }>> };
  expect(doc.paths['/api/beacons']?.post?.tags).toEqual(['telemetry']);
  expect(doc.paths['/api/streams/{id}/analytics']?.get?.tags).toEqual(['analytics']);
  expect(doc.paths['/api/analytics/overview']?.get?.tags).toEqual(['analytics']);
});

describe('analytics routes without ClickHouse', () => {
  const get = (url: string, u?: User) => app.inject({ method: 'GET', url, headers: auth(u) });

  it('require a caller who owns the channel (or an admin)', async () => {
    expectError(await get(`/api/streams/${channelId}/analytics`), 401, 'UNAUTHENTICATED');
    expectError(await get(`/api/streams/${channelId}/analytics`, other), 403, 'NOT_CHANNEL_OWNER');
    expectError(await get(`/api/streams/${SESSION}/analytics`, other), 403, 'NOT_CHANNEL_OWNER');
    expectError(await get('/api/streams/nothing_here/analytics', owner), 404, 'STREAM_NOT_FOUND');
    expectError(await get('/api/analytics/overview'), 401, 'UNAUTHENTICATED');
    expectError(await get('/api/analytics/overview', owner), 403, 'FORBIDDEN');
  });

  it.each([
    ['?interval=5', 'VALIDATION_FAILED'],
    ['?interval=abc', 'VALIDATION_FAILED'],
    ['?interval=86401', 'VALIDATION_FAILED'],
    ['?from=yesterday', 'VALIDATION_FAILED'],
    ['?bogus=1', 'VALIDATION_FAILED'],
    ['?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z', 'ANALYTICS_RANGE_INVALID'],
    ['?from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:00Z', 'ANALYTICS_RANGE_INVALID'],
    ['?from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z&interval=86400', 'ANALYTICS_RANGE_INVALID'],
    ['?from=2026-01-01T00:00:00Z&to=2026-01-03T00:00:00Z&interval=10', 'ANALYTICS_RANGE_INVALID'],
  ])('refuse %s with %s', async (q, code) => {
    expectError(await get(`/api/streams/${channelId}/analytics${q}`, owner), 400, code);
  });

  it('answer ANALYTICS_UNAVAILABLE to permitted callers when no ClickHouse client is configured', async () => {
    expectError(await get(`/api/streams/${channelId}/analytics`, owner), 503, 'ANALYTICS_UNAVAILABLE');
    expectError(await get(`/api/streams/${SESSION}/analytics?interval=300`, admin), 503, 'ANALYTICS_UNAVAILABLE');
    expectError(await get('/api/analytics/overview', admin), 503, 'ANALYTICS_UNAVAILABLE');
    expectError(await get('/api/analytics/overview?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z', admin), 400, 'ANALYTICS_RANGE_INVALID');
  });
});

describe('analytics routes with ClickHouse (embedded chDB)', () => {
  let dir: string;
  let client: ClickHouseClient;
  let a: FastifyInstance;
  const VOD = 'sess-telemetry-vod';
  const t0 = Date.now() - 30 * 60_000;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'api-analytics-'));
    client = createAnalyticsClient({ chdbPath: dir });
    await migrateAnalytics(client);
    a = await buildApp({ db, messaging: m, analytics: client, config: { jwtKeys: [JWT], adminUsernames: ['tele_admin'] }, beaconRateLimit: { max: 1000, timeWindowMs: 60_000 } });
    extraApps.push(a);
    await db.insertInto('stream_sessions').values({
      session_id: VOD, channel_id: channelId, status: 'vod', started_at: new Date(t0), ended_at: new Date(t0 + 20 * 60_000), renditions: '[]', last_seq: 2,
    }).execute();
    // Two viewers of the VOD session: one stalls for 2 s of 20 s, the other plays 10 s cleanly.
    const viewer = (seq0: Beacon[]) => ({ playbackSessionId: randomUUID(), sessionId: VOD, viewerId: randomUUID(), beacons: seq0 });
    const at = t0 + 60_000;
    const stalled = viewer([
      { type: 'session_start', seq: 0, at, live: false, autoplay: true },
      { type: 'first_frame', seq: 1, at: at + 400, ttffMs: 400, rendition: '720p' },
      { type: 'rebuffer_start', seq: 2, at: at + 5_000, position: 4.6 },
      { type: 'rebuffer_end', seq: 3, at: at + 7_000, position: 4.6, durationMs: 2000 },
      { type: 'heartbeat', seq: 4, at: at + 10_000, position: 7.6, rendition: '720p', bandwidthKbps: 3000, liveLatencyMs: null, droppedFrames: 0, playingMs: 7600 },
      { type: 'heartbeat', seq: 5, at: at + 20_000, position: 17.6, rendition: '480p', bandwidthKbps: 1500, liveLatencyMs: null, droppedFrames: 1, playingMs: 10_000 },
      { type: 'session_end', seq: 6, at: at + 20_400, playingMs: 400 },
    ]);
    const smooth = viewer([
      { type: 'session_start', seq: 0, at, live: false, autoplay: true },
      { type: 'first_frame', seq: 1, at: at + 800, ttffMs: 800, rendition: '720p' },
      { type: 'heartbeat', seq: 2, at: at + 10_000, position: 9.2, rendition: '720p', bandwidthKbps: 4000, liveLatencyMs: null, droppedFrames: 0, playingMs: 9200 },
      { type: 'error', seq: 3, at: at + 10_500, fatal: true, code: 'networkError/fragLoadError' },
    ]);
    for (const b of [stalled, smooth, stalled]) expect((await post(b, { a })).statusCode).toBe(202);
    // What the projector does: TELEMETRY → playback_beacons (here for this session only).
    const rows = (await storedBeacons()).filter((s) => s.sessionId === VOD).map((s) => playbackBeaconRow(s));
    expect(rows).toHaveLength(11);
    await client.insert({ table: 'playback_beacons', values: rows, format: 'JSONEachRow' });
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("reports a session's viewers, watch time, TTFF, rebuffering and errors to its owner", async () => {
    const r = await a.inject({ method: 'GET', url: `/api/streams/${VOD}/analytics`, headers: auth(owner) });
    expect(r.statusCode, r.body).toBe(200);
    const body = r.json() as Record<string, unknown> & {
      sessions: Array<{ rebufferingRatio: number; ttffMs: number | null }>;
      series: Array<{ watchTimeSeconds: number; ttffP50Ms: number | null; ttffP95Ms: number | null }>;
      renditions: Array<{ rendition: string; share: number }>;
    };
    expect(body).toMatchObject({
      channelId, sessionId: VOD, intervalSeconds: 60, from: new Date(t0).toISOString(), to: new Date(t0 + 21 * 60_000).toISOString(),
      uniqueViewers: 2, playbackSessions: 2, watchTimeSeconds: 27.2, ttffP50Ms: 600, fatalErrors: 1, errorsPer1000Sessions: 500,
    });
    expect(body.rebufferingRatio).toBeCloseTo(2000 / 29_200, 6);
    expect(body.sessions.map((s) => s.ttffMs).sort()).toEqual([400, 800]);
    expect(body.sessions.map((s) => s.rebufferingRatio).sort()).toEqual([0, 2000 / 20_000]);
    // 21 minutes in 60-s buckets aligned to the epoch: 21, or 22 when t0 is not on a minute.
    expect(body.series.length).toBe(t0 % 60_000 === 0 ? 21 : 22);
    expect(body.renditions.map((x) => x.rendition)).toEqual(['720p', '480p']);
    // The series splits the totals by interval: watch time adds up, and TTFF is reported where the first frames were.
    expect(body.series.reduce((sum, p) => sum + p.watchTimeSeconds, 0)).toBeCloseTo(27.2, 6);
    const ttff = body.series.flatMap((p) => [p.ttffP50Ms, p.ttffP95Ms].filter((v): v is number => v !== null));
    expect(ttff.length).toBeGreaterThan(0);
    for (const v of ttff) expect(v >= 400 && v <= 800, `TTFF ${v} ms`).toBe(true);
    expect(body.renditions.reduce((sum, x) => sum + x.share, 0)).toBeCloseTo(1, 6);
  });

  it('gives admins the same view and the overview; the channel view covers its sessions', async () => {
    const forAdmin = await a.inject({ method: 'GET', url: `/api/streams/${channelId}/analytics?interval=600`, headers: auth(admin) });
    expect(forAdmin.statusCode, forAdmin.body).toBe(200);
    expect(forAdmin.json()).toMatchObject({ channelId, sessionId: null, intervalSeconds: 600, uniqueViewers: 2 });
    const o = await a.inject({ method: 'GET', url: '/api/analytics/overview', headers: auth(admin) });
    expect(o.statusCode, o.body).toBe(200);
    expect(o.json()).toMatchObject({ uniqueViewers: 2, playbackSessions: 2, watchTimeSeconds: 27.2, topChannels: [{ channelId, uniqueViewers: 2, watchTimeSeconds: 27.2 }] });
    expectError(await a.inject({ method: 'GET', url: `/api/streams/${VOD}/analytics`, headers: auth(other) }), 403, 'NOT_CHANNEL_OWNER');
  });
});
