/**
 * Player telemetry on the whole embedded stack: a real ffmpeg publishes to the demo channel,
 * headless Chromium watches it for ~25 s and then leaves the page, and the player's QoE beacons
 * land in the TELEMETRY stream through Vite's proxy and `POST /api/beacons`: numbered from 0
 * without gaps, session_start → first_frame → rendition_switch (initial) → heartbeats every
 * 10 s → session_end (sent on pagehide), for the live broadcast session, with playing time
 * that matches how far the video advanced.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { TELEMETRY_STREAM, telemetrySubject, type EventOf, type StoredBeacon } from '@live/events';
import { publishTestPattern, startTestStack, waitFor, type Publisher, type TestStack } from '@live/dev/testing';
import { launchBrowser, measurePlayback } from './browser.js';

let t: TestStack;
let publisher: Publisher | undefined;
let browser: Browser | undefined;

beforeAll(async () => { t = await startTestStack('e2e-telemetry', { web: true }); }, 240_000);

afterAll(async () => {
  await browser?.close();
  publisher?.child.kill('SIGINT');
  await publisher?.done;
  await t?.stop();
}, 90_000);

async function storedBeacons(channelId: string): Promise<StoredBeacon[]> {
  const consumer = await t.messaging.js.consumers.get(TELEMETRY_STREAM, { filter_subjects: telemetrySubject(channelId) });
  const info = await consumer.info(true);
  const out: StoredBeacon[] = [];
  if (info.num_pending === 0) return out;
  const messages = await consumer.consume();
  for await (const m of messages) {
    out.push(m.json<StoredBeacon>());
    if (m.info.pending === 0) break;
  }
  await messages.close().catch(() => undefined);
  return out;
}

it('sends QoE beacons of a live playback to TELEMETRY, the last ones on pagehide', async () => {
  const { info } = t.stack;
  publisher = publishTestPattern(`${info.rtmpUrl}/${info.demoStreamKey}`, { seconds: 120, width: 640, height: 360, fps: 30, videoKbps: 800 });
  await waitFor('live master playlist', async () => (await fetch(info.demoPlaybackUrl)).ok, 60_000);
  const started = (await t.channelEvents()).find((e): e is EventOf<'StreamPublishStarted'> => e.type === 'StreamPublishStarted')!;

  browser = await launchBrowser();
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  const openedAt = Date.now();
  await page.goto(info.demoWatchUrl);
  // 22 s of wall-clock time: two heartbeats (every 10 s); the video advances at least half of it.
  const played = await measurePlayback(page, { seconds: 22, startTimeoutMs: 45_000 });
  expect(played.advancedSeconds).toBeGreaterThan(11);
  const before = await waitFor('two heartbeats stored', async () => {
    const all = await storedBeacons(info.demoChannelId);
    return all.filter((b) => b.type === 'heartbeat').length >= 2 ? all : undefined;
  }, 30_000, 250).catch(async (err: Error) => { throw new Error(`${err.message}: ${JSON.stringify((await storedBeacons(info.demoChannelId)).map((b) => b.type))}`); });
  expect(before.filter((b) => b.type === 'heartbeat').length).toBeGreaterThanOrEqual(2);
  await page.goto('about:blank'); // pagehide: session_end with fetch keepalive
  const openMs = Date.now() - openedAt;

  const beacons = await waitFor('session_end in TELEMETRY', async () => {
    const all = await storedBeacons(info.demoChannelId);
    return all.some((b) => b.type === 'session_end') ? all : undefined;
  }, 30_000, 250);
  const ids = new Set(beacons.map((b) => b.playbackSessionId));
  expect(ids.size).toBe(1); // one page view, one playback session
  const seqs = beacons.map((b) => b.seq).sort((a, b) => a - b);
  expect(seqs).toEqual(seqs.map((_, i) => i));
  for (const b of beacons) {
    expect(b).toMatchObject({ channelId: info.demoChannelId, sessionId: started.data.sessionId, userId: null });
    expect(b.viewerId).toMatch(/^[0-9a-f-]{36}$/);
    expect(Math.abs(b.receivedAt - b.at)).toBeLessThan(60_000);
  }
  const byType = (type: StoredBeacon['type']) => beacons.filter((b) => b.type === type);
  expect(byType('session_start')).toMatchObject([{ seq: 0, live: true, autoplay: true }]);
  const [first] = byType('first_frame') as Array<Extract<StoredBeacon, { type: 'first_frame' }>>;
  expect(first!.ttffMs).toBeGreaterThan(0);
  expect(first!.ttffMs).toBeLessThan(openMs); // the first frame came while the page was open
  expect(byType('rendition_switch')[0]).toMatchObject({ from: null, reason: 'initial' });
  const heartbeats = byType('heartbeat') as Array<Extract<StoredBeacon, { type: 'heartbeat' }>>;
  for (const h of heartbeats) {
    expect(h.rendition).toMatch(/^\d+p$/);
    expect(h.bandwidthKbps).toBeGreaterThan(0);
    expect(h.liveLatencyMs).not.toBeNull();
  }
  const ends = byType('session_end');
  expect(ends).toHaveLength(1);
  expect(ends[0]!.seq).toBe(seqs.length - 1);
  // Watch time: the playing ms of heartbeats and session_end add up to the time the page played
  // (the measurement window lies inside it: at least that, and not more than the page was open).
  // playingMs is wall-clock time while the video advanced, which hls.js may speed up to 1.5×
  // to catch up with the live edge (maxLiveSyncPlaybackRate).
  const playingMs = beacons.reduce((s, b) => s + (b.type === 'heartbeat' || b.type === 'session_end' ? b.playingMs : 0), 0);
  expect(playingMs).toBeGreaterThan((played.advancedSeconds / 1.5) * 1000 * 0.9);
  expect(playingMs).toBeLessThanOrEqual(openMs);
}, 240_000);
