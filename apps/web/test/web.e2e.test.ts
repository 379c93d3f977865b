/**
 * The web app on the whole embedded stack (`startTestStack(…, { web: true })`: the real ingest,
 * worker, edge, API and projector, and the built app under `vite preview`, which proxies `/api`
 * and the edge's paths to the real servers). A real ffmpeg publishes a 360p test pattern to the
 * demo channel twice: the first broadcast becomes a VOD (the worker's ladder: 360p passthrough
 * and 240p), the second stays live. Headless Chromium drives the app: the home page lists the
 * live stream first, then the VOD, with markup in the title shown as text; the VOD plays with
 * both renditions, the quality menu switches hls.js' level and the MP4 download comes through
 * the web origin; the live stream plays with the LIVE badge; when the broadcast ends the player
 * says "Stream ended" with a link to the recording and stops requesting; an offline channel
 * shows "Offline" with its last recording, an unknown one "No such channel", neither requesting
 * playlists; the channel page `/<channelId>` (linked from the watch page) plays the live stream
 * with the channel's description and lists its recordings; with the API stopped the home page
 * shows its error.
 *
 * Set WEB_PLAYER_SCREENSHOT=/path.png to save a screenshot of the VOD player page.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { channelSubject, chatSubject, domainEvent, systemClock, type DomainEvent } from '@live/events';
import { appendChatMessage, appendEvent } from '@live/messaging';
import { publishTestPattern, startTestStack, waitFor, type Publisher, type TestStack } from '@live/dev/testing';
import type { StreamsResponse } from '../src/api';
import { launchBrowser, measurePlayback, saveScreenshot, seriousViolations } from './browser';

/** Markup in a title must show up as text. */
const TITLE = 'Test <b>pattern</b>';
/** The demo channel's description, shown on its page. */
const ABOUT = 'Colour bars and a sine tone, around the clock.';
/** Seconds of the broadcast that becomes the VOD. */
const VOD_SECONDS = 20;

let t: TestStack;
let browser: Browser;
let live: Publisher | undefined;
let vodSessionId: string;
let liveSessionId: string;

type StreamItem = StreamsResponse['items'][number];

async function streams(): Promise<readonly StreamItem[]> {
  const res = await fetch(`${t.stack.info.apiUrl}/api/streams`);
  return res.ok ? ((await res.json()) as StreamsResponse).items : [];
}

async function newPage(): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  page.on('pageerror', (err) => console.error('[page error]', err.message));
  return page;
}

describe('web app on the embedded stack', () => {
  beforeAll(async () => {
    const launched = launchBrowser();
    t = await startTestStack('e2e-web', { web: true });
    browser = await launched;
    const { info } = t.stack;
    await appendEvent(t.messaging.js, domainEvent(systemClock, 'ChannelMetadataUpdated', channelSubject(info.demoChannelId), {
      channelId: info.demoChannelId, title: TITLE, category: 'just-chatting', tags: ['demo'], language: 'en', mature: false, description: ABOUT,
    }, { producer: 'web-e2e' }));
    await waitFor('the title projected', async () => {
      const res = await fetch(`${info.apiUrl}/api/streams/${info.demoChannelId}`);
      return res.ok && ((await res.json()) as { title: string }).title === TITLE;
    }, 30_000);

    // First broadcast: ends, becomes the VOD.
    const first = publishTestPattern(`${info.rtmpUrl}/${info.demoStreamKey}`, { seconds: VOD_SECONDS, width: 640, height: 360, fps: 30, videoKbps: 800 });
    const exit = await first.done;
    expect(exit.code, exit.stderr).toBe(0);
    const events = await waitFor('VodReady', async () => {
      const evs = await t.channelEvents();
      return evs.some((e) => e.type === 'VodReady' || e.type === 'StreamFailed') ? evs : undefined;
    }, 150_000, 1000);
    expect(events.map((e) => e.type)).not.toContain('StreamFailed');
    vodSessionId = events.filter((e): e is Extract<DomainEvent, { type: 'VodReady' }> => e.type === 'VodReady').at(-1)!.data.sessionId;
    // Chat of that broadcast, 2 s and 8 s after its start (for the chat replay).
    const startedAt = Date.parse(events.find((e) => e.type === 'StreamPublishStarted' && e.data.sessionId === vodSessionId)!.occurredAt);
    for (const [offsetMs, text] of [[2000, 'first!'], [8000, 'nice bars']] as const) {
      const clock = { ...systemClock, now: () => startedAt + offsetMs };
      await appendChatMessage(t.messaging, domainEvent(clock, 'ChatMessageAccepted', chatSubject(info.demoChannelId), {
        channelId: info.demoChannelId, userId: 'u-viewer-one', username: 'viewer_one', kind: 'message', text, sessionId: vodSessionId,
      }, { producer: 'web-e2e' }));
    }
    await waitFor('the VOD listed with its MP4', async () => (await streams()).some((s) => s.sessionId === vodSessionId && s.vodUrl !== null && s.vodMp4Url !== null), 60_000);

    // Second broadcast: stays live for the rest of the file.
    live = publishTestPattern(`${info.rtmpUrl}/${info.demoStreamKey}`, { seconds: 600, width: 640, height: 360, fps: 30, videoKbps: 800 });
    const liveItem = await waitFor('the second broadcast live', async () => {
      if (live?.child.exitCode !== null) throw new Error(`the live publisher exited: ${(await live?.done)?.stderr}`);
      return (await streams()).find((s) => s.status === 'live' && s.sessionId !== vodSessionId);
    }, 60_000);
    liveSessionId = liveItem.sessionId;
    await waitFor('the live master playlist on the edge', async () => {
      const res = await fetch(info.demoPlaybackUrl);
      return res.ok && (await res.text()).includes('#EXT-X-STREAM-INF');
    }, 60_000);
  }, 420_000);

  afterAll(async () => {
    await browser?.close();
    live?.child.kill('SIGINT');
    await live?.done;
    await t?.stop();
  }, 90_000);

  it('lists the live stream first and the VOD, then plays the VOD with both renditions', async () => {
    const { info } = t.stack;
    const page = await newPage();
    await page.goto(`${info.webUrl}/`);
    const items = page.getByTestId('stream-item');
    await expect.poll(() => items.count(), { timeout: 30_000 }).toBe(2);
    expect(await items.nth(0).getAttribute('data-session-id')).toBe(liveSessionId);
    const vod = page.locator(`[data-testid=stream-item][data-session-id="${vodSessionId}"]`);
    expect(await vod.textContent()).toContain(TITLE);
    expect(await vod.locator('b').count()).toBe(0);
    // The card gives the recording's media length (not the wall-clock span of the session).
    const seconds = (await streams()).find((s) => s.sessionId === vodSessionId)!.durationSeconds!;
    expect(await vod.locator('.badge-vod').textContent()).toBe(`VOD · ${Math.floor(Math.round(seconds) / 60)}:${String(Math.round(seconds) % 60).padStart(2, '0')}`);
    expect(await page.locator('link[rel=icon]').count()).toBe(1);

    await vod.getByRole('link').click();
    await page.waitForURL(`${info.webUrl}/watch/vod/${vodSessionId}`);

    // Played for 4 s of wall-clock time: at least half of it (a loaded machine may stall a little).
    const m = await measurePlayback(page, { seconds: 4, startTimeoutMs: 45_000 });
    expect(m.advancedSeconds).toBeGreaterThanOrEqual(2);
    expect(m.levels.map((l) => l.height).sort()).toEqual([240, 360]);

    const options = await page.getByTestId('quality-select').locator('option').allTextContents();
    expect(options).toHaveLength(3);
    expect(options[0]).toMatch(/^Auto/);
    expect(options.slice(1)).toEqual(['360p', '240p']);

    // Choosing a rendition drives hls.currentLevel (the getter reports the level playing,
    // so it changes once the switch is done).
    const idx240 = m.levels.findIndex((l) => l.height === 240);
    await page.getByTestId('quality-select').selectOption('240p');
    const playingLevel = () =>
      page.evaluate(() => (window as Window & { __player?: { hls: { currentLevel: number } | null } }).__player?.hls?.currentLevel);
    await expect.poll(playingLevel, { timeout: 30_000 }).toBe(idx240);
    await expect.poll(() => page.getByTestId('player-status').getAttribute('data-state'), { timeout: 30_000 }).toMatch(/playing|ended/);

    // The MP4 download: the API's URL, served by the edge through the web origin's proxy.
    const listed = (await streams()).find((s) => s.sessionId === vodSessionId)!;
    const download = page.getByTestId('download-mp4');
    const href = await download.getAttribute('href');
    expect(href).toBe(listed.vodMp4Url);
    expect(href).toBe(`/sessions/${vodSessionId}/vod.mp4`);
    const mp4 = await fetch(`${info.webUrl}${href}`);
    expect(mp4.status).toBe(200);
    expect(mp4.headers.get('content-type')).toBe('video/mp4');
    expect((await mp4.arrayBuffer()).byteLength).toBeGreaterThan(0);

    if (process.env.WEB_PLAYER_SCREENSHOT) await page.screenshot({ path: process.env.WEB_PLAYER_SCREENSHOT });

    // Chat replay: the two messages sent during the broadcast (at 2 s and 8 s) appear as the
    // recording reaches them, and go away again when the viewer seeks back to the start.
    const replay = page.getByTestId('chat-replay');
    await expect.poll(() => replay.getAttribute('data-lines'), { timeout: 30_000 }).toBe('2');
    const video = page.getByTestId('player-video');
    await video.evaluate((v: HTMLVideoElement) => { v.pause(); v.currentTime = 0.5; });
    await expect.poll(() => replay.getByTestId('replay-line').count(), { timeout: 10_000 }).toBe(0);
    await video.evaluate((v: HTMLVideoElement) => { v.currentTime = 4; });
    await expect.poll(() => replay.getByTestId('replay-line').allTextContents(), { timeout: 10_000 }).toEqual(['0:02 viewer_one: first!']);
    await video.evaluate((v: HTMLVideoElement) => { v.currentTime = 12; });
    await expect.poll(() => replay.getByTestId('replay-line').count(), { timeout: 10_000 }).toBe(2);
    await page.close();
  }, 180_000);

  it('plays the live stream with the LIVE badge', async () => {
    const { info } = t.stack;
    const page = await newPage();
    await page.goto(info.demoWatchUrl);
    await expect.poll(() => page.getByTestId('live-badge').isVisible(), { timeout: 30_000 }).toBe(true);
    const m = await measurePlayback(page, { seconds: 5, startTimeoutMs: 45_000 });
    expect(m.advancedSeconds).toBeGreaterThanOrEqual(2.5);
    expect(m.levels.map((l) => l.height).sort()).toEqual([240, 360]);
    expect(await page.evaluate(() => (window as Window & { __player?: { hls: { config: { liveSyncDurationCount: number } } | null } }).__player?.hls?.config.liveSyncDurationCount)).toBe(3);

    // Beside the title: viewers and uptime; in the bar: the latency readout.
    expect(await page.getByTestId('viewer-count').textContent()).toMatch(/^\d+ viewers?$/);
    await expect.poll(() => page.getByTestId('uptime').textContent(), { timeout: 10_000 }).toMatch(/live for \d+:\d\d/);
    await expect.poll(async () => Number(await page.getByTestId('latency').getAttribute('data-seconds')), { timeout: 20_000 }).toBeGreaterThan(0);
    // Keyboard shortcuts: m mutes/unmutes, t toggles theatre mode (the player spans the page).
    const muted = () => page.getByTestId('player-video').evaluate((v: HTMLVideoElement) => v.muted);
    const before = await muted();
    await page.keyboard.press('m');
    expect(await muted()).toBe(!before);
    await page.keyboard.press('t');
    expect(await page.locator('main.player-page').getAttribute('class')).toContain('theatre');
    expect(await page.getByTestId('theatre-toggle').getAttribute('aria-pressed')).toBe('true');
    // Low latency off: the player restarts as regular HLS, and the choice is remembered.
    await page.getByTestId('low-latency-toggle').uncheck();
    const lowLatencyMode = () => page.evaluate(() => (window as Window & { __player?: { hls: { config: { lowLatencyMode: boolean } } | null } }).__player?.hls?.config.lowLatencyMode);
    await expect.poll(lowLatencyMode, { timeout: 10_000 }).toBe(false);
    await page.reload();
    expect(await page.getByTestId('low-latency-toggle').isChecked()).toBe(false);
    await page.getByTestId('low-latency-toggle').check();
    await expect.poll(lowLatencyMode, { timeout: 10_000 }).toBe(true);
    if (process.env.WEB_LIVE_SCREENSHOT) await page.screenshot({ path: process.env.WEB_LIVE_SCREENSHOT });
    await page.close();
  }, 120_000);

  it('links the watch page to the channel page, which plays the live stream and lists the channel\'s recordings', async () => {
    const { info } = t.stack;
    const page = await newPage();
    await page.goto(info.demoWatchUrl);
    await page.getByTestId('channel-link').click();
    await page.waitForURL(`${info.webUrl}/${info.demoChannelId}`);
    await expect.poll(() => page.getByTestId('live-badge').isVisible(), { timeout: 30_000 }).toBe(true);
    expect(await page.getByTestId('channel-description').textContent()).toBe(ABOUT);
    expect(await page.getByTestId('follow-sign-in').isVisible()).toBe(true);
    const recordings = page.getByTestId('channel-recordings').getByTestId('stream-item');
    await expect.poll(() => recordings.count(), { timeout: 30_000 }).toBeGreaterThanOrEqual(1);
    expect(await recordings.evaluateAll((els) => els.map((e) => e.getAttribute('data-session-id')))).toContain(vodSessionId);
    const m = await measurePlayback(page, { seconds: 3, startTimeoutMs: 45_000 });
    expect(m.advancedSeconds).toBeGreaterThanOrEqual(1.5);
    if (process.env.WEB_CHANNEL_SCREENSHOT) await page.screenshot({ path: process.env.WEB_CHANNEL_SCREENSHOT, fullPage: true });
    await page.close();
  }, 120_000);

  it('has no serious or critical accessibility violations (axe-core) on the home, channel, live, recording and search pages, on a desktop and a phone', async () => {
    const { info } = t.stack;
    const pages: Array<[string, string, string]> = [
      ['home', `${info.webUrl}/`, '[data-testid=stream-item]'],
      ['channel', `${info.webUrl}/${info.demoChannelId}`, '[data-testid=channel-recordings]'],
      ['live', info.demoWatchUrl, '[data-testid=chat-panel]'],
      ['recording', `${info.webUrl}/watch/vod/${vodSessionId}`, '[data-testid=chat-replay]'],
      ['search', `${info.webUrl}/search?q=demo`, 'main'],
    ];
    for (const viewport of [{ width: 1280, height: 800 }, { width: 390, height: 844 }]) {
      // axe-core/playwright runs in a page of a context the test made (browser.newContext).
      const context = await browser.newContext({ viewport });
      const page = await context.newPage();
      for (const [name, url, ready] of pages) {
        await page.goto(url);
        await page.locator(ready).first().waitFor({ timeout: 30_000 });
        expect(await seriousViolations(page), `${name} at ${viewport.width}x${viewport.height}`).toEqual([]);
        await saveScreenshot(page, `${name}-${viewport.width}`);
      }
      await context.close();
    }
  }, 180_000);

  it('a title edited during a broadcast renames that broadcast only: the earlier recording keeps its title', async () => {
    const { info } = t.stack;
    const renamed = 'Second run, renamed live';
    await appendEvent(t.messaging.js, domainEvent(systemClock, 'ChannelMetadataUpdated', channelSubject(info.demoChannelId), {
      channelId: info.demoChannelId, title: renamed, category: 'just-chatting', tags: ['demo'], language: 'en', mature: false,
    }, { producer: 'web-e2e' }));
    await waitFor('the live session renamed', async () => (await streams()).some((s) => s.sessionId === liveSessionId && s.title === renamed), 30_000);
    expect((await streams()).find((s) => s.sessionId === vodSessionId)?.title).toBe(TITLE);
    const page = await newPage();
    await page.goto(`${info.webUrl}/watch/vod/${vodSessionId}`);
    await expect.poll(() => page.locator('h1').textContent(), { timeout: 30_000 }).toBe(TITLE);
    expect(await page.getByText(renamed).count()).toBe(0);
    await page.close();
  }, 60_000);

  it('switches to "Stream ended" with a link to the recording when the broadcast ends, and stops requesting', async () => {
    const { info } = t.stack;
    const page = await newPage();
    const requests: number[] = []; // start times of playlist and media requests
    page.on('request', (r) => { if (/\.(m3u8|m4s|mp4)(\?|$)/.test(r.url())) requests.push(Date.now()); });
    await page.goto(info.demoWatchUrl);
    await measurePlayback(page, { seconds: 1, startTimeoutMs: 45_000 });
    const stoppedAt = Date.now();
    live!.child.kill('SIGINT'); // ffmpeg ends the publish cleanly
    await live!.done;
    const ended = page.getByTestId('player-ended');
    await expect.poll(() => ended.isVisible(), { timeout: 60_000, interval: 50 }).toBe(true);
    const shownAt = Date.now();
    console.log(`"Stream ended" shown ${shownAt - stoppedAt} ms after the publisher stopped`);
    expect(await ended.getByRole('link').getAttribute('href')).toBe(`/watch/vod/${liveSessionId}`);
    expect(await page.getByTestId('live-badge').count()).toBe(0);
    const status = page.getByTestId('player-status');
    expect(await status.textContent()).not.toMatch(/networkError|HTTP 404|retrying/);
    // Nothing is requested any more (a slow machine makes fewer requests, never more).
    await page.waitForTimeout(3000);
    expect(requests.filter((at) => at > shownAt + 500)).toEqual([]);
    await page.close();
  }, 180_000);

  it('shows an offline channel as "Offline" with its last recording, and an unknown one as such, requesting nothing from the edge', async () => {
    const { info } = t.stack;
    const page = await newPage();
    const requests: string[] = [];
    page.on('request', (r) => { if (/\.(m3u8|m4s)(\?|$)/.test(r.url())) requests.push(r.url()); });
    await page.goto(info.demoWatchUrl);
    const offline = page.getByTestId('player-offline');
    await expect.poll(() => offline.isVisible(), { timeout: 30_000 }).toBe(true);
    expect(await offline.textContent()).toContain('Offline');
    // The last broadcast's recording, once the worker has packaged it (the page polls the stream list).
    const last = page.getByTestId('last-recording');
    await expect.poll(() => last.isVisible(), { timeout: 120_000, interval: 250 }).toBe(true);
    expect(await last.getAttribute('href')).toBe(`/watch/vod/${liveSessionId}`);
    expect(await page.getByTestId('player-status').getAttribute('data-state')).toBe('idle');
    expect(await page.getByTestId('live-badge').count()).toBe(0);
    if (process.env.WEB_OFFLINE_SCREENSHOT) await page.screenshot({ path: process.env.WEB_OFFLINE_SCREENSHOT });

    await page.goto(`${info.webUrl}/watch/live/nobody`);
    await expect.poll(() => page.getByTestId('player-offline').textContent(), { timeout: 30_000 }).toContain('No such channel');
    expect(requests).toEqual([]);
    await page.close();
  }, 180_000);

  it('fits a phone (390x844): one compact header row, the chat right under the player', async () => {
    const { info } = t.stack;
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    await page.goto(info.demoWatchUrl);
    await page.getByTestId('chat-panel').waitFor({ timeout: 30_000 });
    const box = async (sel: string) => (await page.locator(sel).first().boundingBox())!;
    expect((await box('.topbar')).height).toBeLessThanOrEqual(60);
    const video = await box('.video-wrap');
    expect(video.width).toBeGreaterThanOrEqual(380);
    const chat = await box('[data-testid=chat-panel]');
    expect(chat.y).toBeGreaterThan(video.y + video.height);
    expect(chat.y).toBeLessThan((await box('[data-testid=channel-panel]')).y);
    if (process.env.WEB_PHONE_SCREENSHOT) await page.screenshot({ path: process.env.WEB_PHONE_SCREENSHOT });
    await page.close();
  }, 60_000);

  it('shows the error state when the API is unreachable', async () => {
    const { info } = t.stack;
    await t.stack.apps.get('api')!.stop(); // the stack's stop() later is idempotent
    const page = await newPage();
    await page.goto(`${info.webUrl}/`);
    const banner = page.getByTestId('streams-error');
    await expect.poll(() => banner.isVisible(), { timeout: 30_000 }).toBe(true);
    expect(await banner.textContent()).toContain('Can’t reach the streams API');
    expect(await page.getByTestId('stream-item').count()).toBe(0);
    await page.close();
  }, 60_000);
});
