/**
 * The analytics projection end to end against real servers: a real nats-server (JetStream,
 * started by `startServices`) and real embedded ClickHouse (chDB) owned by this test process,
 * served over ClickHouse's HTTP interface as the projector process does.
 *
 * A small synthetic scenario (two viewers, one of whom stalls 3 s; known playing ms; chat with
 * a deletion; ingest health; follows) is appended to EVENTS, TELEMETRY and CHAT, projected, and
 * `streamAnalytics` is checked against hand-computed figures. Then: a duplicated beacon and a
 * full replay change no count; malformed messages are skipped and counted; a failed insert is
 * not acknowledged and its message is inserted once ClickHouse is back.
 *
 * Runs in vitest's default `forks` pool (chDB must be loaded by the process's main thread).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { AckPolicy, DeliverPolicy } from '@nats-io/jetstream';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  beaconId, channelSubject, chatSubject, domainEvent, streamEvent, streamSubject, telemetrySubject, userSubject,
  type Beacon, type EventClock, type StoredBeacon,
} from '@live/events';
import { appendChatMessage, appendEvent, connectMessaging, deleteChatMessage, ensureEventStreams, type Messaging } from '@live/messaging';
import { startServices, type RunningServices } from '@live/dev';
import {
  analyticsOverview, createAnalyticsClient, serveClickHouseHttp, streamAnalytics,
  type ClickHouseClient, type ClickHouseHttpServer, type StreamAnalytics,
} from '@live/analytics';
import { openAnalyticsStore, startAnalyticsProjector, type AnalyticsProjector, type AnalyticsStore } from '../src/index.js';

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
/** The users of the served ClickHouse HTTP endpoint (as the embedded stack passes them). */
const READER = { name: 'reader', password: 'reader-test-pw' };
const WRITER = { name: 'writer', password: 'writer-test-pw' };
const HTTP_ENV = { CLICKHOUSE_HTTP_READER_PASSWORD: READER.password, CLICKHOUSE_HTTP_WRITER_PASSWORD: WRITER.password };
/** Start of the scenario: a whole minute, so that 60-second buckets start at T0. */
const T0 = Date.UTC(2026, 0, 10, 12, 0, 0);
const s = (seconds: number): number => T0 + seconds * 1000;
const clockAt = (ms: number): EventClock => ({ now: () => ms, randomBytes: (n) => new Uint8Array(randomBytes(n)) });

let services: RunningServices;
let messaging: Messaging;
let chdbDir: string;
let store: AnalyticsStore;
/** The API's view: an ordinary `@clickhouse/client` over the owner's HTTP interface, as the read-only user. */
let remote: ClickHouseClient;
let projector: AnalyticsProjector;
let registry: Registry;
const extraProjectors: AnalyticsProjector[] = [];

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Resolves when every consumer of `p` has nothing pending and nothing unacknowledged. */
async function caughtUp(p: AnalyticsProjector): Promise<void> {
  await waitFor('the analytics projection to catch up', async () => {
    const lag = await p.lag();
    return Object.values(lag).every((l) => l.pending === 0 && l.ackPending === 0);
  });
}

async function beacon(b: StoredBeacon, msgID = beaconId(b)): Promise<void> {
  await messaging.js.publish(telemetrySubject(b.channelId), JSON.stringify(b), { msgID });
}

/** `Omit` applied to each member of a union (keeps the beacon types apart). */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type Ctx = { channelId?: string; sessionId?: string; playbackSessionId: string; viewerId: string };
function stored(ctx: Ctx, seq: number, atSeconds: number, b: DistributiveOmit<Beacon, 'seq' | 'at'>): StoredBeacon {
  return {
    ...(b as Beacon), seq, at: s(atSeconds),
    playbackSessionId: ctx.playbackSessionId, channelId: ctx.channelId ?? 'chan-a', sessionId: ctx.sessionId ?? 'sess-a',
    viewerId: ctx.viewerId, userId: null, receivedAt: s(atSeconds) + 50,
  } as StoredBeacon;
}

const pb1: Ctx = { playbackSessionId: 'pb-1', viewerId: 'viewer-1' };
const pb2: Ctx = { playbackSessionId: 'pb-2', viewerId: 'viewer-2' };
const pb3: Ctx = { playbackSessionId: 'pb-3', viewerId: 'viewer-1' };
const pb4: Ctx = { playbackSessionId: 'pb-4', viewerId: 'viewer-3', sessionId: 'sess-b' };
const hb = (position: number, rendition: string, playingMs: number) =>
  ({ type: 'heartbeat', position, rendition, bandwidthKbps: 5000, liveLatencyMs: 3000, droppedFrames: 0, playingMs }) as const;

const BEACONS: StoredBeacon[] = [
  // Viewer 1, playback 1: plays 34 s without stalling (9 + 10 + 10 s in heartbeats, 5 s at session end), all 720p.
  stored(pb1, 0, 0, { type: 'session_start', live: true, autoplay: true }),
  stored(pb1, 1, 1, { type: 'first_frame', ttffMs: 800, rendition: '720p' }),
  stored(pb1, 2, 1, { type: 'rendition_switch', from: null, to: '720p', reason: 'initial' }),
  stored(pb1, 3, 10, hb(9, '720p', 9000)),
  stored(pb1, 4, 20, hb(19, '720p', 10_000)),
  stored(pb1, 5, 30, hb(29, '720p', 10_000)),
  stored(pb1, 6, 35, { type: 'session_end', playingMs: 5000 }),
  // Viewer 2, playback 2: stalls 3 s; plays 9 + 7 s at 480p, 10 s at 720p, 4 s at the end = 30 s; one non-fatal error.
  stored(pb2, 0, 5, { type: 'session_start', live: true, autoplay: true }),
  stored(pb2, 1, 6, { type: 'first_frame', ttffMs: 1200, rendition: '480p' }),
  stored(pb2, 2, 15, hb(9, '480p', 9000)),
  stored(pb2, 3, 20, { type: 'rebuffer_start', position: 14 }),
  stored(pb2, 4, 23, { type: 'rebuffer_end', position: 14, durationMs: 3000 }),
  stored(pb2, 5, 25, hb(16, '480p', 7000)),
  stored(pb2, 6, 26, { type: 'error', fatal: false, code: 'fragLoadError' }),
  stored(pb2, 7, 65, hb(26, '720p', 10_000)),
  stored(pb2, 8, 70, { type: 'session_end', playingMs: 4000 }),
  // Viewer 1 again, playback 3: a fatal error before the first frame.
  stored(pb3, 0, 100, { type: 'session_start', live: true, autoplay: false }),
  stored(pb3, 1, 101, { type: 'error', fatal: true, code: 'manifestLoadError' }),
  // Another broadcast session of the same channel: counted only without a session filter.
  stored(pb4, 0, 40, hb(10, '1080p', 10_000)),
  // Another channel: never counted for chan-a.
  stored({ ...pb1, channelId: 'chan-b', playbackSessionId: 'pb-b' }, 0, 10, hb(10, '720p', 10_000)),
];

/** What `streamAnalytics` must say about chan-a / sess-a over [T0, T0 + 3 min), 60 s buckets, computed by hand. */
const EXPECTED: StreamAnalytics = {
  uniqueViewers: 2,
  playbackSessions: 3,
  watchTimeSeconds: 64,
  ttffP50Ms: 1000, // between 800 and 1200
  ttffP95Ms: 1180, // 800 + 0.95 × 400
  rebufferingRatio: 3000 / (3000 + 64_000),
  errorsPer1000Sessions: 2000 / 3,
  fatalErrors: 1,
  renditions: [
    { rendition: '720p', seconds: 39, share: 39 / 55 },
    { rendition: '480p', seconds: 16, share: 16 / 55 },
  ],
  followersGained: 2,
  chatMessages: 2,
  peakConcurrentViewers: 2,
  series: [
    { t: new Date(s(0)).toISOString(), concurrentViewers: 2, chatMessages: 1, ingestBitrateKbps: 3500, ingestFrameRate: 29.5, rebufferingRatio: 3000 / 53_000, watchTimeSeconds: 50, ttffP50Ms: 1000, ttffP95Ms: 1180 },
    { t: new Date(s(60)).toISOString(), concurrentViewers: 1, chatMessages: 1, ingestBitrateKbps: 2000, ingestFrameRate: 25, rebufferingRatio: 0, watchTimeSeconds: 14, ttffP50Ms: null, ttffP95Ms: null },
    { t: new Date(s(120)).toISOString(), concurrentViewers: 0, chatMessages: 0, ingestBitrateKbps: null, ingestFrameRate: null, rebufferingRatio: null, watchTimeSeconds: 0, ttffP50Ms: null, ttffP95Ms: null },
  ],
  sessions: [
    { playbackSessionId: 'pb-1', viewerId: 'viewer-1', watchTimeSeconds: 34, rebufferMs: 0, rebufferingRatio: 0, ttffMs: 800, errors: 0 },
    { playbackSessionId: 'pb-2', viewerId: 'viewer-2', watchTimeSeconds: 30, rebufferMs: 3000, rebufferingRatio: 3000 / 33_000, ttffMs: 1200, errors: 1 },
    { playbackSessionId: 'pb-3', viewerId: 'viewer-1', watchTimeSeconds: 0, rebufferMs: 0, rebufferingRatio: 0, ttffMs: null, errors: 1 },
  ],
};

const QUERY = { channelId: 'chan-a', sessionId: 'sess-a', from: new Date(s(0)), to: new Date(s(180)), intervalSeconds: 60 };

function health(channelId: string, sessionId: string, atSeconds: number, bitrateKbps: number, frameRate: number) {
  return streamEvent(clockAt(s(atSeconds)), 'StreamIngestHealthReported', {
    channelId, sessionId, intervalMs: 5000, bitrateKbps, videoBitrateKbps: bitrateKbps - 128, audioBitrateKbps: 128,
    frameRate, keyframeIntervalSeconds: 2, avDriftMs: 5,
  }, { producer: 'ingest:node-a' });
}

function chat(channelId: string, atSeconds: number, text: string) {
  return domainEvent(clockAt(s(atSeconds)), 'ChatMessageAccepted', chatSubject(channelId), {
    channelId, userId: 'user-1', username: 'ann', kind: 'message', text, sessionId: 'sess-a',
  }, { producer: 'chat:gw-1' });
}

function follow(type: 'ChannelFollowed' | 'ChannelUnfollowed', userId: string, channelId: string, atMs: number) {
  return domainEvent(clockAt(atMs), type, userSubject(userId), { userId, channelId }, { producer: 'api' });
}

beforeAll(async () => {
  services = await startServices({
    logger, name: 'projector-analytics',
    external: { temporalAddress: '127.0.0.1:1', temporalUiUrl: null, databaseUrl: 'postgres://unused@127.0.0.1:1/unused' },
  });
  messaging = await connectMessaging(services.endpoints.natsUrl, 'projector-analytics-test');
  await ensureEventStreams(messaging.jsm);
  chdbDir = await mkdtemp(join(tmpdir(), 'live-projector-chdb-'));
  // As the projector process does in the embedded stack: own chDB, migrate, serve HTTP.
  store = (await openAnalyticsStore({ CHDB_PATH: chdbDir, CLICKHOUSE_HTTP_PORT: '0', ...HTTP_ENV }, logger))!;
  remote = createAnalyticsClient({ url: store.http!.url, username: READER.name, password: READER.password });
  registry = new Registry();
  projector = await startAnalyticsProjector({ messaging, analytics: store.client, logger, registry, durablePrefix: 'test-analytics' });
}, 120_000);

afterAll(async () => {
  for (const p of extraProjectors) await p.stop().catch(() => undefined);
  await projector?.stop();
  await remote?.close();
  await store?.close();
  await messaging?.close();
  await services?.stop();
  if (chdbDir) await rm(chdbDir, { recursive: true, force: true });
}, 60_000);

describe('analytics projection into chDB', () => {
  it('projects a stream\'s beacons, chat, ingest health and follows, and streamAnalytics matches the hand-computed figures', async () => {
    for (const b of BEACONS) await beacon(b);
    for (const e of [
      health('chan-a', 'sess-a', 5, 4000, 30), health('chan-a', 'sess-a', 10, 3000, 29), health('chan-a', 'sess-a', 65, 2000, 25),
      health('chan-b', 'sess-x', 10, 1000, 10),
      follow('ChannelFollowed', 'u1', 'chan-a', s(10)), follow('ChannelFollowed', 'u2', 'chan-a', s(20)), follow('ChannelFollowed', 'u3', 'chan-a', s(30)),
      follow('ChannelUnfollowed', 'u1', 'chan-a', s(50)),
      follow('ChannelFollowed', 'u9', 'chan-a', s(-3600)), // before the range
      follow('ChannelFollowed', 'u8', 'chan-b', s(10)), // another channel
      streamEvent(clockAt(s(-10)), 'StreamPublishStarted', {
        channelId: 'chan-a', sessionId: 'sess-a', ingestNodeId: 'node-a', relayUrl: 'http://127.0.0.1:1/relay/sess-a.flv', app: 'live',
        source: { video: { codec: 'h264', width: 1280, height: 720, frameRate: 30 }, audio: { codec: 'aac', sampleRate: 48_000, channels: 2 } },
      }, { producer: 'ingest:node-a' }),
    ]) await appendEvent(messaging.js, e);
    const kept1 = chat('chan-a', 2, 'hello');
    const doomed = chat('chan-a', 30, 'buy followers at …');
    const kept2 = chat('chan-a', 70, 'gg');
    const doomedAt = await appendChatMessage(messaging, kept1).then(() => appendChatMessage(messaging, doomed));
    await appendChatMessage(messaging, kept2);
    await appendChatMessage(messaging, chat('chan-b', 10, 'elsewhere'));
    await caughtUp(projector);
    // A moderator deletes a message that was already projected: the tombstone removes it from the counts.
    await deleteChatMessage(messaging, domainEvent(clockAt(s(80)), 'ChatMessageDeleted', channelSubject('chan-a'), {
      channelId: 'chan-a', messageId: doomed.id, messageSeq: doomedAt.seq, authorUserId: 'user-1', actorUserId: 'mod-1', reason: 'spam',
    }, { producer: 'api' }));
    await caughtUp(projector);

    const viaHttp = await streamAnalytics(remote, QUERY);
    expect(viaHttp).toEqual(EXPECTED);
    // The owner's in-process client gives the same answer as the HTTP interface.
    expect(await streamAnalytics(store.client, QUERY)).toEqual(EXPECTED);
    // The stalled session has a non-zero rebuffering ratio; the other has none.
    expect(viaHttp.sessions.find((x) => x.viewerId === 'viewer-2')?.rebufferingRatio).toBeGreaterThan(0);

    // Without a session filter the channel's other broadcast session counts too (viewer-3, 10 s at 1080p).
    const channel = await streamAnalytics(remote, { ...QUERY, sessionId: undefined });
    expect(channel).toMatchObject({ uniqueViewers: 3, playbackSessions: 4, watchTimeSeconds: 74, chatMessages: 2, followersGained: 2 });
    expect(channel.renditions.map((r) => [r.rendition, r.seconds])).toEqual([['720p', 39], ['480p', 16], ['1080p', 10]]);

    const overview = await analyticsOverview(remote, { from: new Date(s(0)), to: new Date(s(180)) });
    expect(overview).toEqual({
      from: new Date(s(0)).toISOString(), to: new Date(s(180)).toISOString(),
      uniqueViewers: 3, playbackSessions: 5, watchTimeSeconds: 84, rebufferingRatio: 3000 / 87_000, errorsPer1000Sessions: 2000 / 5,
      chatMessages: 3, streamsLive: 1,
      topChannels: [{ channelId: 'chan-a', watchTimeSeconds: 74, uniqueViewers: 3 }, { channelId: 'chan-b', watchTimeSeconds: 10, uniqueViewers: 1 }],
    });
  }, 60_000);

  it('counts a redelivered beacon and a full replay once', async () => {
    // The API retrying a batch after JetStream's 2-minute dedup window: the same beacon, a second message.
    await beacon(BEACONS.find((b) => b.playbackSessionId === 'pb-2' && b.type === 'rebuffer_end')!, 'retried-rebuffer-end');
    await beacon(BEACONS.find((b) => b.playbackSessionId === 'pb-1' && b.type === 'session_end')!, 'retried-session-end');
    await caughtUp(projector);
    expect(await streamAnalytics(remote, QUERY)).toEqual(EXPECTED);

    // A replay of the whole history by a second projection (new durables) into the same tables.
    const replay = await startAnalyticsProjector({ messaging, analytics: store.client, logger, durablePrefix: 'test-replay' });
    extraProjectors.push(replay);
    await caughtUp(replay);
    expect(replay.stats().projected.telemetry).toBe(BEACONS.length + 2);
    expect(replay.stats().malformed).toEqual({ events: 0, telemetry: 0, chat: 0 });
    expect(await streamAnalytics(remote, QUERY)).toEqual(EXPECTED);
    // The rows really are there twice until a merge; FINAL collapses them.
    const [raw] = await (await remote.query({ query: "SELECT count() AS n FROM playback_beacons WHERE channel_id = 'chan-a'", format: 'JSONEachRow' })).json<{ n: string }>();
    expect(Number(raw?.n)).toBeGreaterThan(BEACONS.length - 1);
    const [deduped] = await (await remote.query({ query: "SELECT count() AS n FROM playback_beacons FINAL WHERE channel_id = 'chan-a'", format: 'JSONEachRow' })).json<{ n: string }>();
    expect(Number(deduped?.n)).toBe(BEACONS.length - 1);
    await replay.stop();
  }, 60_000);

  it('takes over an explicit-ack durable of an earlier version after its acknowledgement floor', async () => {
    const stored0 = (await messaging.jsm.streams.info('TELEMETRY')).state;
    // An earlier version's durable that acknowledged the first 5 beacons one by one.
    await messaging.jsm.consumers.add('TELEMETRY', {
      durable_name: 'test-legacy-telemetry', ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, filter_subject: 'tel.*',
    });
    const legacy = await messaging.js.consumers.get('TELEMETRY', 'test-legacy-telemetry');
    const first = await legacy.fetch({ max_messages: 5, expires: 5000 });
    for await (const msg of first) await msg.ackAck();
    const legacyProjector = await startAnalyticsProjector({ messaging, analytics: store.client, logger, durablePrefix: 'test-legacy' });
    extraProjectors.push(legacyProjector);
    await caughtUp(legacyProjector);
    const info = await messaging.jsm.consumers.info('TELEMETRY', 'test-legacy-telemetry');
    expect(info.config.ack_policy).toBe(AckPolicy.All);
    // Exactly the messages after the floor: none of the 5 acknowledged ones, none skipped.
    const { projected, malformed } = legacyProjector.stats();
    expect(projected.telemetry + malformed.telemetry).toBe(stored0.messages - 5);
    expect(info.ack_floor.stream_seq).toBe(stored0.last_seq);
    await legacyProjector.stop();
    expect(await streamAnalytics(remote, QUERY)).toEqual(EXPECTED);
  }, 60_000);

  it('skips malformed messages, counts them in a metric, and inserts nothing from them', async () => {
    const before = projector.stats().malformed;
    const ok = stored({ ...pb1, channelId: 'chan-m', playbackSessionId: 'pb-m' }, 0, 10, hb(10, '720p', 10_000));
    await messaging.js.publish(telemetrySubject('chan-m'), 'not json at all', { msgID: 'bad-1' });
    await messaging.js.publish(telemetrySubject('chan-m'), JSON.stringify({ ...ok, seq: 1, playingMs: 'lots' }), { msgID: 'bad-2' });
    await messaging.js.publish(telemetrySubject('chan-m'), JSON.stringify({ ...ok, seq: 2, type: 'teleport' }), { msgID: 'bad-3' });
    await beacon(ok);
    await messaging.js.publish(streamSubject('chan-m'), JSON.stringify({ type: 'Bogus', data: {} }), { msgID: 'bad-4' });
    const badHealth = health('chan-m', 'sess-m', 10, 1000, 30);
    await messaging.js.publish(streamSubject('chan-m'), JSON.stringify({ ...badHealth, data: { ...badHealth.data, bitrateKbps: 'fast' } }), { msgID: 'bad-5' });
    await messaging.js.publish(chatSubject('chan-m'), '{"id": 7}', { msgID: 'bad-6' });
    await caughtUp(projector);

    const after = projector.stats().malformed;
    expect({ events: after.events - before.events, telemetry: after.telemetry - before.telemetry, chat: after.chat - before.chat }).toEqual({ events: 2, telemetry: 3, chat: 1 });
    const metric = await registry.getSingleMetric('analytics_malformed_messages_total')!.get();
    const bySource = Object.fromEntries(metric.values.map((v) => [v.labels.source, v.value]));
    expect(bySource).toEqual({ events: after.events, telemetry: after.telemetry, chat: after.chat });
    const counts = await (await remote.query({
      query: `SELECT
          (SELECT count() FROM playback_beacons FINAL WHERE channel_id = 'chan-m') AS beacons,
          (SELECT count() FROM ingest_health FINAL WHERE channel_id = 'chan-m') AS health,
          (SELECT count() FROM domain_events FINAL WHERE channel_id = 'chan-m' OR subject = 'evt.stream.chan-m') AS events,
          (SELECT count() FROM chat_messages FINAL WHERE channel_id = 'chan-m') AS chat`,
      format: 'JSONEachRow',
    })).json<Record<string, string>>();
    expect(counts).toEqual([{ beacons: '1', health: '0', events: '0', chat: '0' }]);
  }, 60_000);

  it('does not acknowledge a message whose insert failed, and inserts it once ClickHouse is back', async () => {
    // A projection writing over HTTP to a second server in front of the same chDB, which goes away.
    const users = [{ ...WRITER, readonly: false }];
    let down: ClickHouseHttpServer | null = await serveClickHouseHttp({ client: store.client, users });
    const port = down.port;
    // Failures expected: no console log.
    const viaHttp = createClient({ url: down.url, username: WRITER.name, password: WRITER.password, log: { level: ClickHouseLogLevel.OFF } });
    await down.close();
    down = null;
    // New durables: it replays the whole history, and every insert fails while the server is away.
    const flaky = await startAnalyticsProjector({
      messaging, analytics: viaHttp, logger, durablePrefix: 'test-flaky', retryDelaysMs: [200], batchDelayMs: 50,
    });
    extraProjectors.push(flaky);
    const late = stored({ ...pb1, channelId: 'chan-z', playbackSessionId: 'pb-z' }, 0, 10, hb(10, '720p', 10_000));
    await beacon(late);
    await waitFor('a failed insert to be nak\'ed', async () => flaky.stats().redelivered.telemetry > 0);
    const lag = await flaky.lag();
    expect(lag.telemetry.pending + lag.telemetry.ackPending).toBeGreaterThan(0); // not acknowledged
    expect(await streamAnalytics(store.client, { channelId: 'chan-z', from: new Date(s(0)), to: new Date(s(60)), intervalSeconds: 60 })).toMatchObject({ watchTimeSeconds: 0 });

    const back = await serveClickHouseHttp({ client: store.client, users, port });
    try {
      await caughtUp(flaky);
      expect(await streamAnalytics(store.client, { channelId: 'chan-z', from: new Date(s(0)), to: new Date(s(60)), intervalSeconds: 60 })).toMatchObject({ watchTimeSeconds: 10, uniqueViewers: 1 });
      await flaky.stop();
    } finally {
      await viaHttp.close();
      await back.close();
    }
    // The main figures are unchanged by all of it.
    expect(await streamAnalytics(remote, QUERY)).toEqual(EXPECTED);
  }, 120_000);

  it('serves the endpoint to its users only: the reader reads, the writer writes, anonymous gets 401', async () => {
    const reader = createClient({ url: store.http!.url, username: READER.name, password: READER.password, log: { level: ClickHouseLogLevel.OFF } });
    const anonymous = createClient({ url: store.http!.url, log: { level: ClickHouseLogLevel.OFF } });
    const writer = createClient({ url: store.http!.url, username: WRITER.name, password: WRITER.password });
    try {
      await expect(reader.command({ query: 'TRUNCATE TABLE playback_beacons' })).rejects.toMatchObject({ code: '164', type: 'READONLY' });
      await expect(anonymous.query({ query: 'SELECT count() FROM playback_beacons', format: 'JSONEachRow' })).rejects.toMatchObject({ code: '516' });
      await writer.command({ query: 'CREATE TABLE writer_probe (a UInt8) ENGINE = Memory' });
      await writer.command({ query: 'DROP TABLE writer_probe' });
    } finally {
      await reader.close();
      await anonymous.close();
      await writer.close();
    }
    expect(await streamAnalytics(remote, QUERY)).toEqual(EXPECTED);
  });

  it('refuses to serve without a user, naming the variable, before it opens chDB', async () => {
    const env = { CHDB_PATH: join(chdbDir, 'never-opened'), CLICKHOUSE_HTTP_PORT: '0' };
    await expect(openAnalyticsStore(env, logger)).rejects.toThrow('CLICKHOUSE_HTTP_PORT is set but neither CLICKHOUSE_HTTP_READER_PASSWORD nor CLICKHOUSE_HTTP_WRITER_PASSWORD is');
    await expect(openAnalyticsStore({ ...env, CLICKHOUSE_HTTP_READER_USER: 'api' }, logger)).rejects.toThrow('CLICKHOUSE_HTTP_READER_USER is set but CLICKHOUSE_HTTP_READER_PASSWORD is not');
    await expect(openAnalyticsStore({ ...env, ...HTTP_ENV, CLICKHOUSE_HTTP_READER_USER: 'x', CLICKHOUSE_HTTP_WRITER_USER: 'x' }, logger)).rejects.toThrow(/both "x"/);
  });
});
