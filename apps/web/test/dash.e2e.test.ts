/**
 * MPEG-DASH in the browser on the whole embedded stack (issue 17 item 5): a real ffmpeg
 * publishes to the demo channel, and headless Chromium plays it through the web app's player in
 * DASH mode (Shaka Player on the edge's `/live/<channel>/manifest.mpd`): currentTime advances and
 * Shaka reports no error. The live MPD passes the MPD conformance checker and every segment URL
 * it names is served. After the publisher stops, the VOD of the broadcast plays the same way
 * from `/sessions/<session>/vod.mpd`.
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
async function playDash(page: Page, url: string): Promise<{ advanced: number; errors: string[]; status: string | null; hlsRequests: string[] }> {
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
  await page.waitForTimeout(5000);
  const end = await page.evaluate(() => ({ time: (window as DashWindow).__dashPlayer!.video.currentTime, errors: (window as DashWindow).__dashPlayer!.errors }));
  return { advanced: end.time - start, errors: end.errors, status: await page.getByTestId('player-status').getAttribute('data-state'), hlsRequests };
}

it('plays the live stream as MPEG-DASH in Shaka Player (≥ 2.5 s in 5 s, no Shaka error); its MPD is conformant and every segment is served', async () => {
  const { info } = t.stack;
  const mpdUrl = `${info.edgeUrl}/live/${info.demoChannelId}/manifest.mpd`;
  await waitFor('live MPD', async () => (await fetch(mpdUrl)).ok, 30_000);
  const res = await fetch(mpdUrl);
  expect(res.headers.get('content-type')).toBe('application/dash+xml');
  const mpd = await res.text();
  expect(checkDashMpd(mpd, { now: new Date() }).filter((v) => v.severity === 'error')).toEqual([]);
  expect(mpd).toMatch(/codecs="avc1\.[0-9a-f]+,mp4a\.40\.2"/); // video and audio muxed per Representation
  const urls = dashSegmentUrls(mpd, mpdUrl);
  for (const url of urls) expect((await fetch(url, { method: 'HEAD' })).status, url).toBe(200);

  browser ??= await launchBrowser();
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  const mpdRequests: number[] = [];
  page.on('response', (r) => { if (r.url().includes('/manifest.mpd')) mpdRequests.push(r.status()); });
  const result = await playDash(page, info.demoWatchUrl);
  console.info(`DASH live: currentTime advanced ${result.advanced.toFixed(2)} s in 5 s; ${mpdRequests.length} MPD requests; ${urls.length} segment URLs served`);
  expect(result.errors).toEqual([]);
  expect(result.hlsRequests).toEqual([]);
  expect(result.advanced).toBeGreaterThanOrEqual(2.5); // of 5 s of wall-clock time: at least half
  expect(result.status).toBe('playing');
  // Shaka reloads the dynamic MPD (minimumUpdatePeriod), always answered 200
  expect(mpdRequests.length).toBeGreaterThanOrEqual(2);
  expect(mpdRequests.every((s) => s === 200)).toBe(true);
  await page.close();
}, 180_000);

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
