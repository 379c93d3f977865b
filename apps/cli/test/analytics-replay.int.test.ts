/**
 * `replay analytics` against a real nats-server, PostgreSQL (the advisory lock) and embedded
 * ClickHouse (chDB) owned by this test process and served over ClickHouse's HTTP interface, as
 * the projector process does in the embedded stack; the CLI talks to it over HTTP like any other
 * process. The live tables are written by the real analytics projector; the rebuilt ones must
 * equal them, a second replay must change no count, rows older than a bounded stream's
 * retention must survive, and the live projector must keep inserting after the exchange.
 *
 * Runs in vitest's default `forks` pool (chDB must be loaded by the process's main thread).
 */
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  beaconId, channelSubject, chatSubject, domainEvent, streamEvent, telemetrySubject, type EventClock, type StoredBeacon,
} from '@live/events';
import { appendChatMessage, appendEvent, connectMessaging, deleteChatMessage, ensureEventStreams, type Messaging } from '@live/messaging';
import { startServices, type RunningServices } from '@live/dev';
import { createDb, type Db } from '@live/db';
import { createAnalyticsClient, type ClickHouseClient } from '@live/analytics';
import { openAnalyticsStore, startAnalyticsProjector, type AnalyticsProjector, type AnalyticsStore } from '@live/projector';
import { ANALYTICS_SOURCES } from '@live/analytics';
import { ANALYTICS_REPLAY_LOCK, ReplayBusyError, replayAnalytics, type ReplayReport } from '../src/index.js';
import { withAdvisoryLock } from '../src/pg.js';

const logger = pino({ level: process.env.TEST_LOG ?? 'silent' });
const root = fileURLToPath(new URL('../../..', import.meta.url));
const T0 = Date.UTC(2026, 0, 10, 12, 0, 0);
const at = (seconds: number): number => T0 + seconds * 1000;
const clockAt = (ms: number): EventClock => ({ now: () => ms, randomBytes: (n) => new Uint8Array(randomBytes(n)) });
const TABLES = [...new Set(ANALYTICS_SOURCES.flatMap((s) => s.tables))];
/** The writer of the projector's ClickHouse HTTP endpoint (the replay creates, fills and exchanges tables). */
const WRITER = { name: 'writer', password: 'cli-test-writer-pw' };

let services: RunningServices;
let messaging: Messaging;
let db: Db;
let chdbDir: string;
let store: AnalyticsStore;
/** What the CLI uses: `@clickhouse/client` over the owner's HTTP interface (CLICKHOUSE_URL), as the writer. */
let remote: ClickHouseClient;
let projector: AnalyticsProjector;

async function rows(query: string): Promise<Record<string, unknown>[]> {
  return (await remote.query({ query, format: 'JSONEachRow' })).json<Record<string, unknown>>();
}

/** Every analytics table's rows (one per record id: FINAL), in a stable order. */
async function snapshot(): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const t of TABLES) out[t] = await rows(`SELECT * FROM ${t} FINAL ORDER BY ALL`);
  return out;
}

async function caughtUp(): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const lag = await projector.lag();
    if (Object.values(lag).every((l) => l.pending === 0 && l.ackPending === 0)) return;
    if (Date.now() > deadline) throw new Error('the analytics projection did not catch up');
    await new Promise((r) => setTimeout(r, 100));
  }
}

function beacon(seq: number, atSeconds: number, b: Record<string, unknown>, playbackSessionId = 'pb-1'): StoredBeacon {
  return {
    ...b, seq, at: at(atSeconds), playbackSessionId, channelId: 'chan-a', sessionId: 'sess-a', viewerId: `viewer-${playbackSessionId}`,
    userId: null, receivedAt: at(atSeconds) + 40,
  } as StoredBeacon;
}

async function publishBeacon(b: StoredBeacon): Promise<void> {
  await messaging.js.publish(telemetrySubject(b.channelId), JSON.stringify(b), { msgID: beaconId(b) });
}

function health(atSeconds: number, bitrateKbps: number) {
  return streamEvent(clockAt(at(atSeconds)), 'StreamIngestHealthReported', {
    channelId: 'chan-a', sessionId: 'sess-a', intervalMs: 5000, bitrateKbps, videoBitrateKbps: bitrateKbps - 128, audioBitrateKbps: 128,
    frameRate: 30, keyframeIntervalSeconds: 2, avDriftMs: -3,
  }, { producer: 'ingest:node-a' });
}

function chat(atSeconds: number, text: string) {
  return domainEvent(clockAt(at(atSeconds)), 'ChatMessageAccepted', chatSubject('chan-a'), {
    channelId: 'chan-a', userId: 'user-1', username: 'ann', kind: 'message', text, sessionId: 'sess-a',
  }, { producer: 'chat:gw-1' });
}

beforeAll(async () => {
  services = await startServices({ logger, name: 'cli-analytics-int', external: { temporalAddress: '127.0.0.1:1', temporalUiUrl: null } });
  db = createDb(services.endpoints.databaseUrl, 3);
  messaging = await connectMessaging(services.endpoints.natsUrl, 'cli-analytics-test');
  await ensureEventStreams(messaging.jsm);
  chdbDir = await mkdtemp(join(tmpdir(), 'live-cli-chdb-'));
  store = (await openAnalyticsStore({
    CHDB_PATH: chdbDir, CLICKHOUSE_HTTP_PORT: '0', CLICKHOUSE_HTTP_WRITER_PASSWORD: WRITER.password, CLICKHOUSE_HTTP_READER_PASSWORD: 'cli-test-reader-pw',
  }, logger))!;
  remote = createAnalyticsClient({ url: store.http!.url, username: WRITER.name, password: WRITER.password });
  projector = await startAnalyticsProjector({ messaging, analytics: store.client, logger, durablePrefix: 'cli-test', batchDelayMs: 50 });

  await appendEvent(messaging.js, streamEvent(clockAt(at(-10)), 'StreamPublishStarted', {
    channelId: 'chan-a', sessionId: 'sess-a', ingestNodeId: 'node-a', relayUrl: 'http://127.0.0.1:1/relay/sess-a.flv', app: 'live',
    source: { video: { codec: 'h264', width: 1280, height: 720, frameRate: 30 } },
  }, { producer: 'ingest:node-a' }));
  for (const [i, kbps] of [3000, 3100, 2900].entries()) await appendEvent(messaging.js, health(i * 5, kbps));
  await appendEvent(messaging.js, domainEvent(clockAt(at(3)), 'ChannelFollowed', 'evt.user.u1', { userId: 'u1', channelId: 'chan-a' }, { producer: 'api' }));
  for (const b of [
    beacon(0, 0, { type: 'session_start', live: true, autoplay: true }),
    beacon(1, 1, { type: 'first_frame', ttffMs: 900, rendition: '720p' }),
    beacon(2, 10, { type: 'heartbeat', position: 9, rendition: '720p', bandwidthKbps: 5000, liveLatencyMs: 3000, droppedFrames: 0, playingMs: 9000 }),
    beacon(3, 12, { type: 'rebuffer_start', position: 11 }),
    beacon(4, 14, { type: 'rebuffer_end', position: 11, durationMs: 2000 }),
    beacon(0, 5, { type: 'session_start', live: true, autoplay: false }, 'pb-2'),
    beacon(1, 6, { type: 'error', fatal: true, code: 'manifestLoadError' }, 'pb-2'),
  ]) await publishBeacon(b);
  // Not a beacon: the projector skips it, and so must the replay.
  await messaging.js.publish(telemetrySubject('chan-a'), 'not json', { msgID: 'junk-1' });
  const hello = chat(2, 'hello');
  const spam = chat(4, 'buy followers');
  await appendChatMessage(messaging, hello);
  const spamAt = await appendChatMessage(messaging, spam);
  await appendChatMessage(messaging, chat(8, 'gg'));
  await deleteChatMessage(messaging, domainEvent(clockAt(at(9)), 'ChatMessageDeleted', channelSubject('chan-a'), {
    channelId: 'chan-a', messageId: spam.id, messageSeq: spamAt.seq, authorUserId: 'user-1', actorUserId: 'mod-1', reason: 'spam',
  }, { producer: 'api' }));
  await caughtUp();
}, 180_000);

afterAll(async () => {
  await projector?.stop();
  await remote?.close();
  await store?.close();
  await messaging?.close();
  await db?.destroy();
  await services?.stop();
  if (chdbDir) await rm(chdbDir, { recursive: true, force: true });
}, 60_000);

describe('replay analytics', { timeout: 60_000 }, () => {
  let report: ReplayReport;

  it('rebuilds every analytics table from EVENTS, TELEMETRY and CHAT into <table>_replay and exchanges them: the same rows as the live projection', async () => {
    const live = await snapshot();
    expect(live.playback_beacons).toHaveLength(7);
    expect(live.ingest_health).toHaveLength(3);
    expect(live.chat_messages).toHaveLength(3);
    expect(live.chat_message_deletions).toHaveLength(1);
    const progress: string[] = [];
    report = await replayAnalytics({ clickhouse: remote, lockDb: db, messaging, progress: { write: (s: string) => progress.push(s), isTTY: false } });
    expect(report.swapped).toBe(true);
    const events = (await messaging.jsm.streams.info('EVENTS')).state.messages;
    const beacons = (await messaging.jsm.streams.info('TELEMETRY')).state.messages;
    const chats = (await messaging.jsm.streams.info('CHAT')).state.messages;
    expect(report.eventsRead).toBe(events + beacons + chats);
    expect(report.eventsSkipped).toBe(1); // the junk beacon
    expect(report.tables.map((t) => [t.table, t.rows - t.liveRows])).toEqual(TABLES.map((t) => [t, 0]));
    expect(await snapshot()).toEqual(live);
    const leftovers = await rows("SELECT name FROM system.tables WHERE database = currentDatabase() AND name LIKE '%\\_replay'");
    expect(leftovers).toEqual([]);
    expect(progress.at(-1)).toMatch(/^replay analytics: [\d,]+\/[\d,]+ events \(100\.0%\)/);
  });

  it('changes no count the second time', async () => {
    const live = await snapshot();
    const again = await replayAnalytics({ clickhouse: remote, lockDb: db, messaging });
    expect(again.tables.map((t) => [t.table, t.rows - t.liveRows])).toEqual(TABLES.map((t) => [t, 0]));
    expect(await snapshot()).toEqual(live);
  });

  it('keeps rows the bounded streams no longer hold, and the live projector keeps inserting after the exchange', async () => {
    // A beacon older than TELEMETRY's retention: in ClickHouse, no longer in the stream.
    await remote.insert({ table: 'playback_beacons', format: 'JSONEachRow', values: [{
      channel_id: 'chan-a', session_id: 'sess-old', playback_session_id: 'pb-old', beacon_seq: 0, type: 'session_start',
      client_at: '2025-01-01 00:00:00.000', received_at: '2025-01-01 00:00:00.040', viewer_id: 'viewer-old', user_id: '',
      live: true, autoplay: true, position_s: null, rendition: '', bandwidth_kbps: null, live_latency_ms: null, dropped_frames: null,
      ttff_ms: null, rebuffer_ms: 0, playing_ms: 0, from_rendition: '', to_rendition: '', reason: '', fatal: false, error_code: '',
    }] });
    await replayAnalytics({ clickhouse: remote, lockDb: db, messaging });
    expect(await rows("SELECT playback_session_id FROM playback_beacons FINAL WHERE session_id = 'sess-old'")).toEqual([{ playback_session_id: 'pb-old' }]);

    const later = health(60, 1234);
    await appendEvent(messaging.js, later);
    await publishBeacon(beacon(5, 20, { type: 'session_end', playingMs: 4000 }));
    await caughtUp();
    expect(await rows(`SELECT bitrate_kbps FROM ingest_health FINAL WHERE event_id = '${later.id}'`)).toEqual([{ bitrate_kbps: 1234 }]);
    expect(await rows("SELECT playing_ms FROM playback_beacons FINAL WHERE playback_session_id = 'pb-1' AND type = 'session_end'")).toEqual([{ playing_ms: 4000 }]);
  });

  it('replays from a time over a copy of the current tables, with the same result; --dry-run leaves the live tables alone', async () => {
    const live = await snapshot();
    const infos = await Promise.all(['EVENTS', 'TELEMETRY', 'CHAT'].map((s) => messaging.jsm.streams.info(s)));
    const stored = infos.reduce((n, i) => n + i.state.messages, 0);
    // A point after everything stored so far: 1 ms after the newest message of the three streams.
    const after = new Date(Math.max(...infos.map((i) => Date.parse(i.state.last_ts))) + 1);
    const partial = await replayAnalytics({ clickhouse: remote, lockDb: db, messaging, from: { kind: 'time', time: after } });
    expect(partial.eventsRead).toBeLessThan(stored);
    expect(await snapshot()).toEqual(live);
    const uuid = await rows("SELECT toString(uuid) AS u FROM system.tables WHERE database = currentDatabase() AND name = 'domain_events'");
    const dry = await replayAnalytics({ clickhouse: remote, lockDb: db, messaging, dryRun: true });
    expect(dry.swapped).toBe(false);
    expect(dry.tables.map((t) => [t.table, t.rows - t.liveRows])).toEqual(TABLES.map((t) => [t, 0]));
    expect(await rows("SELECT toString(uuid) AS u FROM system.tables WHERE database = currentDatabase() AND name = 'domain_events'")).toEqual(uuid);
    expect(await rows("SELECT name FROM system.tables WHERE database = currentDatabase() AND name LIKE '%\\_replay'")).toEqual([]);
  });

  it('refuses to run while another analytics replay holds the lock', async () => {
    await withAdvisoryLock(db, ANALYTICS_REPLAY_LOCK, async () => {
      await expect(replayAnalytics({ clickhouse: remote, lockDb: db, messaging })).rejects.toBeInstanceOf(ReplayBusyError);
    });
  });

  it('runs from the CLI process with CLICKHOUSE_URL, printing the summary (exit 0)', async () => {
    const live = await snapshot();
    const r = await new Promise<{ code: number | null; out: string; err: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'apps/cli/src/main.ts', 'replay', 'analytics', '--quiet'], {
        cwd: root, stdio: ['ignore', 'pipe', 'pipe'],
        env: { PATH: process.env.PATH ?? '', LIVE_STACK_FILE: '/nonexistent', NATS_URL: services.endpoints.natsUrl, DATABASE_URL: services.endpoints.databaseUrl, CLICKHOUSE_URL: store.http!.url, CLICKHOUSE_USER: WRITER.name, CLICKHOUSE_PASSWORD: WRITER.password },
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
      child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, out, err }));
    });
    expect(r.code, r.err).toBe(0);
    expect(r.err).toBe('');
    expect(r.out).toMatch(/^analytics: rebuilt and swapped in/);
    expect(r.out).toMatch(/\nplayback_beacons +9 +9 +0\n/);
    expect(await snapshot()).toEqual(live);
  });
});
