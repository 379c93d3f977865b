/**
 * Viewer analytics end to end: a real ffmpeg publishes to the demo channel, two headless
 * Chromium viewers (separate browser contexts, so two viewer ids) watch it, one of them on a
 * network throttled until its player stalls, both leave; then the analytics API, answering from
 * ClickHouse (the projector's embedded chDB), reports 2 unique viewers, for each session the
 * rebuffering its page measured (`waiting` to `playing`, the telemetry's own definition: at
 * least the 3 s the throttled one was held stalled; the other one may stall too on a loaded
 * machine, and then must be reported as it was), and watch time within 10 % of the time the
 * pages played (measured in the pages: 200 ms ticks in which the video advanced).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { EventOf } from '@live/events';
import { publishTestPattern, startTestStack, waitFor, type Publisher, type TestStack } from '@live/dev/testing';
import { VIEWER_ID_KEY } from '../src/telemetry';
import { launchBrowser } from './browser.js';

let t: TestStack;
let publisher: Publisher | undefined;
let browser: Browser | undefined;

beforeAll(async () => { t = await startTestStack('e2e-analytics', { web: true, appEnv: { ADMIN_USERNAMES: 'analyst' } }); }, 240_000);

afterAll(async () => {
  await browser?.close();
  publisher?.child.kill('SIGINT');
  await publisher?.done;
  await t?.stop();
}, 90_000);

type Win = Window & { __player?: { video: HTMLVideoElement }; __playedMs?: number; __stalls?: number; __waitingSince?: number | null; __waitedMs?: number };

/** Opens the watch page and counts, every 200 ms, whether the video advanced (the page's own measure of playing time). */
async function watch(context: BrowserContext, url: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(url);
  await page.waitForFunction(() => {
    const p = (window as Win).__player;
    return !!p && !p.video.paused && p.video.readyState >= 3 && p.video.currentTime > 0;
  }, undefined, { timeout: 45_000, polling: 100 });
  await page.evaluate(() => {
    const w = window as Win;
    w.__playedMs = 0;
    w.__stalls = 0;
    let last = w.__player!.video.currentTime;
    w.__waitingSince = null;
    w.__waitedMs = 0;
    w.__player!.video.addEventListener('waiting', () => { w.__stalls = (w.__stalls ?? 0) + 1; w.__waitingSince ??= performance.now(); });
    w.__player!.video.addEventListener('playing', () => {
      if (w.__waitingSince !== null && w.__waitingSince !== undefined) w.__waitedMs = (w.__waitedMs ?? 0) + performance.now() - w.__waitingSince;
      w.__waitingSince = null;
    });
    setInterval(() => {
      const now = w.__player?.video.currentTime ?? last;
      if (now > last) w.__playedMs = (w.__playedMs ?? 0) + 200;
      last = now;
    }, 200);
  });
  return page;
}

const playedMs = (page: Page): Promise<number> => page.evaluate(() => (window as Win).__playedMs ?? 0);

/** The page's viewer id (the telemetry's, in localStorage) and the ms its video waited for data after it first played, an ongoing wait included. */
const viewerOf = (page: Page): Promise<{ viewerId: string; waitedMs: number }> => page.evaluate((key) => {
  const w = window as Win;
  const ongoing = w.__waitingSince !== null && w.__waitingSince !== undefined ? performance.now() - w.__waitingSince : 0;
  return { viewerId: localStorage.getItem(key) ?? '', waitedMs: (w.__waitedMs ?? 0) + ongoing };
}, VIEWER_ID_KEY);

interface Analytics {
  uniqueViewers: number;
  playbackSessions: number;
  watchTimeSeconds: number;
  rebufferingRatio: number;
  sessions: Array<{ playbackSessionId: string; viewerId: string; watchTimeSeconds: number; rebufferMs: number; rebufferingRatio: number }>;
}

it('reports 2 unique viewers, the stalled session\'s rebuffering and the watch time the pages played', async () => {
  const { info } = t.stack;
  publisher = publishTestPattern(`${info.rtmpUrl}/${info.demoStreamKey}`, { seconds: 240, width: 640, height: 360, fps: 30, videoKbps: 800 });
  await waitFor('live master playlist', async () => (await fetch(info.demoPlaybackUrl)).ok, 60_000);
  const started = (await t.channelEvents()).find((e): e is EventOf<'StreamPublishStarted'> => e.type === 'StreamPublishStarted')!;

  browser = await launchBrowser();
  const steady = await watch(await browser.newContext(), info.demoWatchUrl);
  const shakyContext = await browser.newContext();
  const shaky = await watch(shakyContext, info.demoWatchUrl);
  // Let it play a while first (by its own measure).
  await shaky.waitForFunction(() => ((window as Win).__playedMs ?? 0) >= 8000, undefined, { timeout: 90_000, polling: 200 });

  // Starve the second viewer until its player stalls, keep it stalled ~3 s, then restore.
  const cdp = await shakyContext.newCDPSession(shaky);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 500, downloadThroughput: 4 * 1024, uploadThroughput: -1 });
  await shaky.waitForFunction(() => ((window as Win).__stalls ?? 0) > 0, undefined, { timeout: 60_000, polling: 200 });
  // Keep it stalled: until the page has been waiting for data for 3 s in one go.
  await shaky.waitForFunction(() => {
    const since = (window as Win).__waitingSince;
    return since !== null && since !== undefined && performance.now() - since >= 3000;
  }, undefined, { timeout: 60_000, polling: 200 });
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await shaky.waitForFunction(() => {
    const v = (window as Win).__player!.video;
    return !v.paused && v.readyState >= 3;
  }, undefined, { timeout: 60_000, polling: 200 });
  // Both play on: the steady page past 20 s of playing time, the shaky one 10 s more after its stall.
  const shakyBefore = await playedMs(shaky);
  await shaky.waitForFunction((before) => ((window as Win).__playedMs ?? 0) >= before + 10_000, shakyBefore, { timeout: 90_000, polling: 200 });
  await steady.waitForFunction(() => ((window as Win).__playedMs ?? 0) > 20_000, undefined, { timeout: 90_000, polling: 200 });

  const played = { steady: await playedMs(steady), shaky: await playedMs(shaky) };
  expect(played.steady).toBeGreaterThan(20_000);
  const viewers = { steady: await viewerOf(steady), shaky: await viewerOf(shaky) };
  await steady.goto('about:blank'); // pagehide: the last beacons (session_end)
  await shaky.goto('about:blank');

  // The admin's view of the session, from ClickHouse.
  const reg = await fetch(`${info.apiUrl}/api/users/register`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'analyst', email: 'analyst@example.com', password: 'secret-analyst-123' }),
  });
  expect(reg.status).toBe(201);
  const { accessToken } = (await reg.json()) as { accessToken: string };
  const analytics = await waitFor('both sessions ended in analytics', async () => {
    const r = await fetch(`${info.apiUrl}/api/streams/${started.data.sessionId}/analytics?interval=60`, { headers: { authorization: `Bearer ${accessToken}` } });
    if (!r.ok) return undefined;
    const a = (await r.json()) as Analytics;
    const total = a.sessions.reduce((s, x) => s + x.watchTimeSeconds, 0);
    // session_end carries the time since the last heartbeat: wait until the totals cover the pages.
    return a.playbackSessions === 2 && total * 1000 >= 0.9 * (played.steady + played.shaky) ? a : undefined;
  }, 30_000, 1000);

  expect(analytics.uniqueViewers).toBe(2);
  expect(analytics.sessions).toHaveLength(2);
  // Each session's rebuffering is what its page saw (the pages and the beacons read the same clock
  // and events; the slack covers the beacons' rounding and the last wait cut short by leaving).
  const sessionOf = (viewerId: string) => analytics.sessions.find((s) => s.viewerId === viewerId);
  expect(viewers.shaky.waitedMs).toBeGreaterThanOrEqual(3000);
  for (const [name, v] of Object.entries(viewers)) {
    const session = sessionOf(v.viewerId);
    expect(session, `${name}: ${JSON.stringify(analytics.sessions)}`).toBeDefined();
    expect(Math.abs(session!.rebufferMs - v.waitedMs), `${name}: analytics ${session!.rebufferMs} ms, page ${Math.round(v.waitedMs)} ms`).toBeLessThanOrEqual(1000 + 0.2 * v.waitedMs);
  }
  expect(sessionOf(viewers.shaky.viewerId)!.rebufferingRatio).toBeGreaterThan(0);
  expect(analytics.rebufferingRatio).toBeGreaterThan(0);
  const pageSeconds = (played.steady + played.shaky) / 1000;
  expect(Math.abs(analytics.watchTimeSeconds - pageSeconds) / pageSeconds, `analytics ${analytics.watchTimeSeconds} s, pages ${pageSeconds} s`).toBeLessThan(0.1);
}, 420_000);
