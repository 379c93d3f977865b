/**
 * Browser test on the whole embedded stack (issue 2): a real ffmpeg publishes to the demo
 * channel, headless Chromium opens the web app's player page for the live stream, and playback
 * advances by at least 2.5 s in 5 s — in low-latency mode (issue 5): hls.js loads partial segments and
 * reloads its media playlist with blocking requests (`_HLS_msn` / `_HLS_part`), which the edge
 * answers with 200 once the part exists.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { publishTestPattern, startTestStack, waitFor, type Publisher, type TestStack } from '@live/dev/testing';
import { launchBrowser, measurePlayback } from './browser.js';

let t: TestStack;
let publisher: Publisher | undefined;
let browser: Browser | undefined;

beforeAll(async () => { t = await startTestStack('e2e-player', { web: true }); }, 240_000);

afterAll(async () => {
  await browser?.close();
  publisher?.child.kill('SIGINT');
  await publisher?.done;
  await t?.stop();
}, 90_000);

it('plays a live stream in headless Chromium: playback advances ≥ 2.5 s in 5 s', async () => {
  const { info } = t.stack;
  publisher = publishTestPattern(`${info.rtmpUrl}/${info.demoStreamKey}`, { seconds: 60, width: 1280, height: 720, fps: 30, videoKbps: 2500 });
  // Wait until the channel's live master playlist is on the edge (renditions ready).
  await waitFor('live master playlist', async () => (await fetch(info.demoPlaybackUrl)).ok, 45_000);

  browser = await launchBrowser();
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  const blocking: Array<{ url: string; status: number }> = [];
  const parts: string[] = [];
  const deltas: string[] = [];
  page.on('response', (r) => {
    const url = r.url();
    if (url.includes('_HLS_msn=')) blocking.push({ url, status: r.status() });
    if (/\.part\d+(\.a\d+)?\.m4s/.test(url) && r.status() === 200) parts.push(url);
    // hls.js asks for delta updates once the playlist advertises CAN-SKIP-UNTIL (RFC 8216bis §6.2.5.1)
    if (url.includes('_HLS_skip=YES') && r.status() === 200) {
      void r.text().then((body) => { if (/^#EXT-X-SKIP:SKIPPED-SEGMENTS=[1-9]/m.test(body)) deltas.push(url); }, () => undefined);
    }
  });
  await page.goto(info.demoWatchUrl);
  const result = await measurePlayback(page, { seconds: 5, startTimeoutMs: 30_000 });
  // Low-latency mode: blocking playlist reloads answered 200, and partial segments played.
  expect(blocking.filter((b) => b.status === 200).length).toBeGreaterThanOrEqual(3);
  expect(blocking.some((b) => /_HLS_part=\d+/.test(b.url))).toBe(true);
  expect(parts.length).toBeGreaterThanOrEqual(2);
  expect(result.advancedSeconds).toBeGreaterThanOrEqual(2.5); // of 5 s of wall-clock time: at least half
  expect(result.levels.length).toBeGreaterThanOrEqual(3);
  await expect(page.getByTestId('live-badge').isVisible()).resolves.toBe(true);
  // Once more than CAN-SKIP-UNTIL (12 s) is listed, its reloads are answered with delta playlists.
  await waitFor('a reload of hls.js answered with a Playlist Delta Update (EXT-X-SKIP)', async () => deltas.length > 0, 45_000, 250);
  if (process.env.WEB_PLAYER_SCREENSHOT) await page.screenshot({ path: process.env.WEB_PLAYER_SCREENSHOT });
}, 180_000);
