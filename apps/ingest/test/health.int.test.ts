/**
 * Ingest health reports against a real nats-server (JetStream) and PostgreSQL with a real
 * ffmpeg publisher: a publish produces `StreamIngestHealthReported` every 5 s with plausible
 * numbers (frame rate ≈ the test pattern's fps, bitrate in a broad range around the encoder's
 * target, keyframe interval ≈ its GOP), between its StreamPublishStarted and StreamPublishEnded,
 * and the per-publish gauges appear on `/metrics` while it is live and vanish after.
 * The period is checked by what a loaded machine cannot change (a timer fires late, never
 * early): no report comes sooner than its interval, and each declares the interval it measured,
 * consecutive with the previous one's. Nothing bounds how late a report may come.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { randomBytes } from 'node:crypto';
import { startServices, type RunningServices } from '@live/dev';
import { publishTestPattern, waitFor } from '@live/dev/testing';
import { createDb, ensureChannelWithKey, generateStreamKey, migrateToLatest, type Db } from '@live/db';
import { connectMessaging, ensureEventStreams, readEvents, type Messaging } from '@live/messaging';
import { EVENTS_STREAM, INGEST_HEALTH_INTERVAL_MS, streamSubject, type DomainEvent, type EventOf } from '@live/events';
import { startIngestNode, type IngestNode } from '../src/node.js';

let services: RunningServices;
let db: Db;
let messaging: Messaging;
let node: IngestNode;
const PATTERN = { seconds: 17, width: 320, height: 180, fps: 25, videoKbps: 400 };
const GOP_SECONDS = 2; // publishTestPattern: -g fps*2
/**
 * Per interval, what the lower bounds allow for clocks, not for load: Date.now() and the timers'
 * monotonic clock are whole milliseconds and may be slewed apart by NTP.
 */
const CLOCK_GRAIN_MS = 20;

beforeAll(async () => {
  const silent = pino({ level: 'silent' });
  services = await startServices({ logger: silent, name: 'ingest-health-int', external: { temporalAddress: '127.0.0.1:1', temporalUiUrl: null } });
  db = createDb(services.endpoints.databaseUrl, 4);
  await migrateToLatest(db);
  messaging = await connectMessaging(services.endpoints.natsUrl, 'ingest-health-test');
  await ensureEventStreams(messaging.jsm);
  node = await startIngestNode({
    db, messaging, logger: silent, nodeId: 'ingest-health', rtmp: { port: 0, host: '127.0.0.1' }, http: { port: 0, host: '127.0.0.1' },
    relayBaseUrl: 'http://127.0.0.1:1', relayToken: randomBytes(16).toString('hex'),
  });
}, 120_000);

afterAll(async () => {
  await node?.close();
  await messaging?.close();
  await db?.destroy();
  await services?.stop();
}, 60_000);

async function streamEvents(channelId: string): Promise<DomainEvent[]> {
  return (await readEvents(messaging.js, EVENTS_STREAM, streamSubject(channelId))).map((e) => e.event);
}
async function metrics(): Promise<string> {
  return (await fetch(`http://127.0.0.1:${node.httpAddress.port}/metrics`)).text();
}

describe('ingest health', () => {
  it('reports bitrate, frame rate, keyframe interval and A/V drift every 5 s while a publish is live', { timeout: 90_000 }, async () => {
    const key = generateStreamKey();
    const channelId = await ensureChannelWithKey(db, { slug: 'health', displayName: 'health', title: '' }, key);
    const p = publishTestPattern(`rtmp://127.0.0.1:${node.rtmpAddress.port}/live/${key}`, PATTERN);
    try {
      await waitFor('a first health report', async () => (await streamEvents(channelId)).some((e) => e.type === 'StreamIngestHealthReported'), 30_000, 250);
      const live = await metrics();
      expect(live).toMatch(new RegExp(`^ingest_session_bitrate_kbps\\{channel_id="${channelId}"\\} \\d`, 'm'));
      expect(live).toMatch(new RegExp(`^ingest_session_frame_rate\\{channel_id="${channelId}"\\} \\d`, 'm'));
      const exit = await p.done;
      expect(exit.code, exit.stderr).toBe(0);
    } finally {
      p.child.kill('SIGKILL');
    }
    const events = await waitFor('StreamPublishEnded', async () => {
      const all = await streamEvents(channelId);
      return all.some((e) => e.type === 'StreamPublishEnded') ? all : undefined;
    }, 15_000, 250);

    const types = events.map((e) => e.type);
    const started = events.find((e): e is EventOf<'StreamPublishStarted'> => e.type === 'StreamPublishStarted')!;
    const reports = events.filter((e): e is EventOf<'StreamIngestHealthReported'> => e.type === 'StreamIngestHealthReported');
    // Started, then the reports, then Ended: nothing of the session after its end.
    expect(types[0]).toBe('StreamPublishStarted');
    expect(types.at(-1)).toBe('StreamPublishEnded');
    expect(reports.length).toBeGreaterThanOrEqual(2);
    const at = (e: DomainEvent): number => Date.parse(e.occurredAt);
    reports.forEach((r, i) => {
      expect(r.data).toMatchObject({ channelId, sessionId: started.data.sessionId });
      expect(r.meta).toMatchObject({ producer: 'ingest:ingest-health', causationId: started.id, correlationId: started.data.sessionId });
      const what = `report ${i + 1} of ${reports.length}: ${JSON.stringify({ occurredAt: r.occurredAt, intervalMs: r.data.intervalMs, started: started.occurredAt })}`;
      // The reports' timer starts once StreamPublishStarted is stored: report k comes at least
      // k intervals after it (never more often than configured, however the machine is loaded).
      expect(at(r) - at(started), what).toBeGreaterThanOrEqual((i + 1) * (INGEST_HEALTH_INTERVAL_MS - CLOCK_GRAIN_MS));
      // The interval it declares is the one it measured: at least the configured period…
      expect(r.data.intervalMs, what).toBeGreaterThanOrEqual(INGEST_HEALTH_INTERVAL_MS - CLOCK_GRAIN_MS);
      // …and it began where the previous report's ended, which was after the report before that
      // (or, for the second report, StreamPublishStarted) was made: not from the publish's start.
      if (i >= 1) expect(r.data.intervalMs, what).toBeLessThanOrEqual(at(r) - at(i === 1 ? started : reports[i - 2]!) + CLOCK_GRAIN_MS);
    });
    // Steady-state reports (ffmpeg runs with -re): numbers near the encoder's settings.
    const steady = reports.slice(1);
    // Frame rate over the steady reports together (frames over wall-clock time): a pause of the
    // publisher or the node on a loaded machine moves frames from one report's interval into the
    // next, but cannot change how many arrived over all of them.
    const frames = steady.reduce((n, r) => n + (r.data.frameRate * r.data.intervalMs) / 1000, 0);
    const seconds = steady.reduce((n, r) => n + r.data.intervalMs / 1000, 0);
    expect(frames / seconds, JSON.stringify(steady.map((r) => r.data.frameRate))).toBeGreaterThan(PATTERN.fps * 0.9);
    expect(frames / seconds, JSON.stringify(steady.map((r) => r.data.frameRate))).toBeLessThan(PATTERN.fps * 1.1);
    for (const r of steady) {
      const d = r.data;
      expect(d.frameRate, JSON.stringify(d)).toBeGreaterThan(0);
      expect(d.videoBitrateKbps, JSON.stringify(d)).toBeGreaterThan(PATTERN.videoKbps * 0.25);
      expect(d.videoBitrateKbps, JSON.stringify(d)).toBeLessThan(PATTERN.videoKbps * 3);
      expect(d.audioBitrateKbps, JSON.stringify(d)).toBeGreaterThan(64); // AAC at 128 kb/s
      expect(d.audioBitrateKbps, JSON.stringify(d)).toBeLessThan(256);
      expect(d.bitrateKbps).toBeCloseTo(d.videoBitrateKbps + d.audioBitrateKbps, 0);
      expect(d.keyframeIntervalSeconds, JSON.stringify(d)).toBeGreaterThan(GOP_SECONDS * 0.9);
      expect(d.keyframeIntervalSeconds, JSON.stringify(d)).toBeLessThan(GOP_SECONDS * 1.1);
      // RTMP timestamps, not the wall clock: ffmpeg's muxer interleaves audio and video by
      // timestamp, so a slow machine delays both alike and this stays a few tens of ms.
      expect(Math.abs(d.avDriftMs), JSON.stringify(d)).toBeLessThan(500);
    }

    const after = await metrics();
    expect(after).not.toContain(`channel_id="${channelId}"`);
    expect(after).toMatch(/^ingest_publishes_ended_total\{reason="unpublished"\} 1$/m);
  });
});
