/**
 * MPEG-DASH in the browser on the whole embedded stack (issue 17 item 5): a real ffmpeg
 * publishes to the demo channel, and headless Chromium plays it through the web app's player in
 * DASH mode (Shaka Player on the edge's `/live/<channel>/manifest.mpd`): currentTime advances and
 * Shaka reports no error. The live MPD passes the MPD conformance checker and every segment URL
 * it names is served. After the publisher stops, the VOD of the broadcast plays the same way
 * from `/sessions/<session>/vod.mpd`.
 *
 * Low-latency DASH: the live MPD carries availabilityTimeOffset, a ServiceDescription and an
 * http-iso UTCTiming (the checker's low-latency rules pass); Shaka in low-latency mode (the
 * page's default) requests the segment being written, which the edge streams part by part, and
 * plays with no player error and no HTTP error at a lower latency than the same page with the
 * low-latency switch off (Shaka then ignores availabilityTimeOffset), and under a stated bound.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { checkDashMpd, dashSegmentUrls } from '@live/media/dash-check';
import { publishTestPattern, startTestStack, waitFor, type Publisher, type TestStack } from '@live/dev/testing';
import type { DashPlayerHandle } from '../src/useDashPlayer';
import { launchBrowser, waitForVodReady } from './browser.js';

let t: TestStack;
let publisher: Publisher | undefined;
let browser: Browser | undefined;

type DashWindow = Window & { __dashPlayer?: DashPlayerHandle };

/**
 * Upper bound of the low-latency player's median latency (wall clock minus the playhead's MPD
 * time, which is PROGRAM-DATE-TIME-anchored: not glass to glass, bench:latency measures that), s: the MPD aims at 1 s (two 0.5 s parts) and Shaka holds 1 to 2 s (its target ± 0.5 s
 * from its live edge, one part behind the clock); 0.5 s more for a stall on a loaded machine.
 * A player ignoring availabilityTimeOffset sits at least a whole segment (2 s) behind its edge.
 */
const LL_LATENCY_BOUND_S = 2.5;

beforeAll(async () => {
  t = await startTestStack('e2e-dash', { web: true });
  const { info } = t.stack;
  publisher = publishTestPattern(`${info.rtmpUrl}/${info.demoStreamKey}`, { seconds: 60, width: 1280, height: 720, fps: 30, videoKbps: 2500 });
  await waitFor('live master playlist', async () => (await fetch(info.demoPlaybackUrl)).ok, 60_000);
}, 300_000);

afterAll(async () => {
  await browser?.close();
  publisher?.child.kill('SIGINT');
  await publisher?.done;
  await t?.stop();
}, 90_000);

/**
 * Turns the player page's DASH toggle on, waits until Shaka plays (currentTime > 0), then lets
 * 5 s of wall-clock time pass; returns how far currentTime advanced and the Shaka errors seen.
 */
async function playDash(page: Page, url: string): Promise<{ advanced: number; errors: string[]; status: string | null; hlsRequests: string[]; latency: number | null }> {
  await page.goto(url);
  await page.getByTestId('dash-toggle').check();
  // from here on only the MPD and its segments are requested: hls.js is gone
  const hlsRequests: string[] = [];
  page.on('request', (r) => { if (r.url().includes('.m3u8')) hlsRequests.push(r.url()); });
  try {
    await page.waitForFunction(() => {
      const p = (window as DashWindow).__dashPlayer;
      return !!p && !p.video.paused && p.video.readyState >= 3 && p.video.currentTime > 0;
    }, undefined, { timeout: 45_000, polling: 100 });
  } catch (err) {
    const status = await page.getByTestId('player-status').getAttribute('data-detail').catch(() => null);
    throw new Error(`DASH playback did not start (${status}): ${err instanceof Error ? err.message : String(err)}`);
  }
  const start = await page.evaluate(() => (window as DashWindow).__dashPlayer!.video.currentTime);
  // the playhead's latency (wall clock minus its MPD time; live only) every 250 ms of those 5 s
  const latencies = await page.evaluate(`new Promise((resolve) => {
    const xs = [];
    let ticks = 0;
    const timer = setInterval(() => {
      const l = window.__dashPlayer && window.__dashPlayer.latency();
      if (l !== null && l !== undefined) xs.push(l);
      if (++ticks >= 20) { clearInterval(timer); resolve(xs); }
    }, 250);
  })`) as number[];
  const end = await page.evaluate(() => ({ time: (window as DashWindow).__dashPlayer!.video.currentTime, errors: (window as DashWindow).__dashPlayer!.errors }));
  const sorted = [...latencies].sort((a, b) => a - b);
  // The page's status says "playing" (a low-latency player may be rebuffering for a moment at
  // any given instant, so wait for the state rather than read it once); the last one seen on timeout.
  const state = () => page.getByTestId('player-status').getAttribute('data-state');
  const status = await waitFor('the page\'s status "playing"', async () => ((await state()) === 'playing' ? 'playing' : undefined), 15_000, 100)
    .catch(async () => state());
  return {
    advanced: end.time - start, errors: end.errors, status, hlsRequests,
    latency: sorted.length > 0 ? sorted[Math.floor(sorted.length / 2)]! : null,
  };
}

/** Responses of the edge with an HTTP error status (>= 400), as `<status> <path>`. */
function recordHttpErrors(page: Page, edgeUrl: string): string[] {
  const errors: string[] = [];
  page.on('response', (r) => { if (r.url().startsWith(edgeUrl) && r.status() >= 400) errors.push(`${r.status()} ${new URL(r.url()).pathname}`); });
  page.on('requestfailed', (r) => { if (r.url().startsWith(edgeUrl)) errors.push(`failed ${new URL(r.url()).pathname} ${r.failure()?.errorText ?? ''}`); });
  return errors;
}

/** `edge_open_segment_requests_total{outcome="complete"}` of the edge's /metrics. */
async function openSegmentsStreamed(edgeUrl: string): Promise<number> {
  const text = await (await fetch(`${edgeUrl}/metrics`)).text();
  return Number(/^edge_open_segment_requests_total\{outcome="complete"\} (\d+)/m.exec(text)?.[1] ?? 0);
}

it('plays the live stream as MPEG-DASH in Shaka Player (≥ 2.5 s in 5 s, no Shaka error); its MPD is conformant and every segment is served', async () => {
  const { info } = t.stack;
  const mpdUrl = `${info.edgeUrl}/live/${info.demoChannelId}/manifest.mpd`;
  await waitFor('live MPD', async () => (await fetch(mpdUrl)).ok, 30_000);
  const res = await fetch(mpdUrl);
  expect(res.headers.get('content-type')).toBe('application/dash+xml');
  const mpd = await res.text();
  expect(checkDashMpd(mpd, { now: new Date() }).filter((v) => v.severity === 'error')).toEqual([]);
  // low-latency DASH: early availability of the segment being written, listed last
  expect(mpd).toMatch(/availabilityTimeOffset="1\.5\d*" availabilityTimeComplete="false"/);
  expect(mpd).toContain('<ServiceDescription');
  expect(mpd).toContain('urn:mpeg:dash:utc:http-iso:2014');
  expect(mpd).toMatch(/codecs="avc1\.[0-9a-f]+,mp4a\.40\.2"/); // video and audio muxed per Representation
  const urls = dashSegmentUrls(mpd, mpdUrl);
  // (HEAD: the segment being written answers its headers at once)
  for (const url of urls) expect((await fetch(url, { method: 'HEAD' })).status, url).toBe(200);

  browser ??= await launchBrowser();
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  const mpdRequests: number[] = [];
  page.on('response', (r) => { if (r.url().includes('/manifest.mpd')) mpdRequests.push(r.status()); });
  const httpErrors = recordHttpErrors(page, info.edgeUrl);
  const streamedBefore = await openSegmentsStreamed(info.edgeUrl);
  const result = await playDash(page, info.demoWatchUrl);
  const streamed = (await openSegmentsStreamed(info.edgeUrl)) - streamedBefore;
  console.info(`DASH live (low latency): currentTime advanced ${result.advanced.toFixed(2)} s in 5 s; latency p50 ${result.latency?.toFixed(2)} s; ${mpdRequests.length} MPD requests; ${streamed} segments streamed while written; ${urls.length} segment URLs served`);
  expect(await page.evaluate(() => (window as DashWindow).__dashPlayer!.lowLatency)).toBe(true);
  expect(result.errors).toEqual([]);
  expect(httpErrors).toEqual([]);
  expect(streamed).toBeGreaterThan(0); // Shaka asked for segments still being written
  expect(result.latency).not.toBeNull();
  expect(result.latency!).toBeLessThan(LL_LATENCY_BOUND_S);
  expect(result.hlsRequests).toEqual([]);
  expect(result.advanced).toBeGreaterThanOrEqual(2.5); // of 5 s of wall-clock time: at least half
  expect(result.status).toBe('playing');
  // Shaka reloads the dynamic MPD (minimumUpdatePeriod), always answered 200
  expect(mpdRequests.length).toBeGreaterThanOrEqual(2);
  expect(mpdRequests.every((s) => s === 200)).toBe(true);
  await page.close();

  // the same page with the low-latency switch off: Shaka ignores availabilityTimeOffset
  const regular = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  await regular.addInitScript(() => localStorage.setItem('player.lowLatency', '0'));
  const plain = await playDash(regular, info.demoWatchUrl);
  console.info(`DASH live (Shaka lowLatencyMode off): latency p50 ${plain.latency?.toFixed(2)} s; low latency ${result.latency?.toFixed(2)} s`);
  expect(plain.errors).toEqual([]);
  expect(await regular.evaluate(() => (window as DashWindow).__dashPlayer!.lowLatency)).toBe(false);
  expect(result.latency!).toBeLessThan(plain.latency!);
  await regular.close();
}, 240_000);

it('plays the VOD of the finished broadcast as MPEG-DASH', async () => {
  const { info } = t.stack;
  publisher?.child.kill('SIGINT');
  await publisher?.done;
  publisher = undefined;
  const sessionId = await waitForVodReady(t);
  const mpdUrl = `${info.edgeUrl}/sessions/${sessionId}/vod.mpd`;
  const mpd = await (await fetch(mpdUrl)).text();
  expect(checkDashMpd(mpd)).toEqual([]);
  expect(mpd).toContain('type="static"');

  browser ??= await launchBrowser();
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  // a viewer who chose DASH before (kept in localStorage): the page starts in DASH mode, no HLS request at all
  await page.addInitScript(() => localStorage.setItem('player.dash', '1'));
  const hls: string[] = [];
  page.on('request', (r) => { if (r.url().includes('.m3u8')) hls.push(r.url()); });
  const result = await playDash(page, `${info.webUrl}/watch/vod/${encodeURIComponent(sessionId)}`);
  console.info(`DASH VOD: currentTime advanced ${result.advanced.toFixed(2)} s in 5 s`);
  expect(result.errors).toEqual([]);
  expect(hls).toEqual([]);
  expect(result.status).toBe('playing');
  expect(result.advanced).toBeGreaterThanOrEqual(2.5);
  await page.close();
}, 240_000);
