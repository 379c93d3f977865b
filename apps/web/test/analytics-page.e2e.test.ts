/**
 * The streamer's analytics page (/dashboard/analytics) in headless Chromium on the whole
 * embedded stack (built web app under `vite preview`, API, projector with embedded chDB): a
 * streamer signs up, creates a channel and goes live with ffmpeg; the streamer (signed in, who
 * also chats) and an anonymous viewer watch the live page, then leave (before going live, the
 * page shows the empty state of a channel that never broadcast). Once the analytics API
 * has both playback sessions, the owner opens the analytics page: the latest broadcast is shown
 * with non-zero tiles (peak viewers, watch time, TTFF), every chart with data draws a canvas
 * named by a summary, the period picker switches to the last 7 and 30 days and back (the URL
 * follows), and axe-core finds no serious or critical violations on the analytics page (desktop
 * and phone widths) or on the dashboard.
 *
 * Set WEB_SCREENSHOT_DIR=/some/dir to save screenshots at 1280×800 and 390×844.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { publishTestPattern, startTestStack, waitFor, type Publisher, type TestStack } from '@live/dev/testing';
import { launchBrowser, saveScreenshot as snap, seriousViolations } from './browser.js';

const STREAMER = 'chart_streamer';
const PASSWORD = `pw-${STREAMER}-2025`;

let t: TestStack;
let browser: Browser;
let publisher: Publisher | undefined;

beforeAll(async () => {
  [t, browser] = await Promise.all([startTestStack('e2e-web-analytics-page', { web: true }), launchBrowser()]);
}, 240_000);

afterAll(async () => {
  await browser?.close();
  publisher?.child.kill('SIGINT');
  await publisher?.done;
  await t?.stop();
}, 90_000);

type PlayerWindow = Window & { __player?: { video: HTMLVideoElement }; __firstTime?: number };

/** Waits until the page's video has advanced `seconds` past where it was first seen playing. */
async function played(page: Page, seconds: number): Promise<void> {
  await page.waitForFunction((s) => {
    const w = window as PlayerWindow;
    const v = w.__player?.video;
    if (!v || v.paused || v.currentTime <= 0) return false;
    w.__firstTime ??= v.currentTime;
    return v.currentTime - w.__firstTime >= s;
  }, seconds, { timeout: 90_000, polling: 250 });
}

const tile = async (page: Page, id: string): Promise<string> => ((await page.getByTestId(`tile-${id}`).locator('dd').textContent()) ?? '').trim();

it('shows the owner the broadcast\'s viewers, watch time, TTFF, rebuffering, renditions and chat, switches periods, and passes axe', async () => {
  const { webUrl, apiUrl, rtmpUrl } = t.stack.info;
  const ownerContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const owner = await ownerContext.newPage();
  const pageErrors: string[] = [];
  owner.on('pageerror', (err) => pageErrors.push(err.message));

  // Sign up, create the channel, go live.
  await owner.goto(`${webUrl}/signup`);
  await owner.getByLabel('Username', { exact: true }).fill(STREAMER);
  await owner.getByLabel('Email').fill(`${STREAMER}@example.com`);
  await owner.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await owner.getByRole('button', { name: 'Create account' }).click();
  await owner.getByTestId('account-name').waitFor({ timeout: 10_000 });
  await owner.getByRole('link', { name: 'Dashboard' }).click();
  await owner.getByTestId('create-channel').click();
  await owner.getByTestId('save-stream-info').waitFor({ timeout: 10_000 });

  // Before any broadcast: the header's link opens the last 7 days, with the empty state.
  await owner.getByRole('navigation', { name: 'Account' }).getByRole('link', { name: 'Analytics', exact: true }).click();
  await owner.getByTestId('analytics-view').waitFor({ timeout: 20_000 });
  expect(await owner.getByTestId('analytics-view').getAttribute('data-range')).toBe('7d');
  expect(await owner.getByTestId('analytics-empty').textContent()).toBe('No viewers in this period.');
  expect(await owner.locator('.chart canvas').count()).toBe(0);
  expect(await owner.locator('.chart[data-empty=true]').count()).toBe(6);
  await snap(owner, 'analytics-empty-1280');
  expect(await seriousViolations(owner)).toEqual([]);
  await owner.getByRole('link', { name: 'Back to the dashboard' }).click();

  await owner.getByLabel('Title').fill('Charts test');
  await owner.getByTestId('save-stream-info').click();
  await owner.getByRole('button', { name: 'Reveal stream key' }).click();
  const streamKey = ((await owner.getByTestId('stream-key').textContent()) ?? '').trim();
  expect(streamKey).not.toBe('');
  // The dashboard (with its OBS settings shown) passes axe too.
  expect(await seriousViolations(owner)).toEqual([]);
  publisher = publishTestPattern(`${rtmpUrl}/${streamKey}`, { seconds: 180, width: 640, height: 360, fps: 30, videoKbps: 800 });
  await expect.poll(() => owner.getByTestId('channel-status').getAttribute('data-live'), { timeout: 60_000 }).toBe('true');

  // Two viewers: the owner (who chats) and an anonymous one.
  const channelId = STREAMER;
  await owner.goto(`${webUrl}/watch/live/${channelId}`);
  const viewer = await (await browser.newContext()).newPage();
  await viewer.goto(`${webUrl}/watch/live/${channelId}`);
  await expect.poll(() => owner.getByTestId('chat-panel').getAttribute('data-connection').catch(() => null), { timeout: 20_000 }).toBe('open');
  for (const text of ['hello chart', 'second message']) {
    await owner.getByTestId('chat-input').fill(text);
    await owner.getByTestId('chat-send').click();
    await expect.poll(() => owner.getByTestId('chat-panel').getByTestId('chat-text').allTextContents(), { timeout: 10_000 }).toContain(text);
  }
  await Promise.all([played(owner, 25), played(viewer, 25)]);
  await viewer.goto('about:blank'); // pagehide: the last beacons
  await owner.goto('about:blank');

  // Wait until the analytics store has both playback sessions and the chat (the projection is asynchronous).
  const login = await fetch(`${apiUrl}/api/users/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: STREAMER, password: PASSWORD }),
  });
  expect(login.status).toBe(200);
  const { accessToken } = (await login.json()) as { accessToken: string };
  await waitFor('both playback sessions and the chat in analytics', async () => {
    const r = await fetch(`${apiUrl}/api/streams/${channelId}/analytics`, { headers: { authorization: `Bearer ${accessToken}` } });
    if (!r.ok) return undefined;
    const a = (await r.json()) as { playbackSessions: number; chatMessages: number; watchTimeSeconds: number };
    return a.playbackSessions >= 2 && a.chatMessages >= 2 && a.watchTimeSeconds >= 40 ? a : undefined;
  }, 60_000, 1000);

  // The page, from the dashboard's link: the latest broadcast by default.
  await owner.goto(`${webUrl}/dashboard`);
  await owner.getByRole('link', { name: 'See your analytics' }).click();
  const view = owner.getByTestId('analytics-view');
  await view.waitFor({ timeout: 20_000 });
  expect(await view.getAttribute('data-range')).toMatch(/^session:/);
  expect(owner.url()).toBe(`${webUrl}/dashboard/analytics`);
  expect(Number(await tile(owner, 'peak'))).toBeGreaterThanOrEqual(1);
  expect(Number(await tile(owner, 'unique'))).toBe(2);
  expect(await tile(owner, 'watch-time')).toMatch(/^\d+(\.\d)? (s|min)$/);
  expect(await tile(owner, 'watch-time')).not.toBe('0 s');
  expect(await tile(owner, 'ttff-p50')).toMatch(/^\d+(\.\d)? m?s$/);
  expect(await tile(owner, 'rebuffering')).toMatch(/ %$/);
  expect(Number(await tile(owner, 'chat'))).toBe(2);
  expect(await owner.getByTestId('analytics-empty').count()).toBe(0);
  for (const id of ['viewers', 'watch-time', 'ttff', 'rebuffering', 'renditions', 'chat']) {
    const chart = owner.getByTestId(`chart-${id}`);
    expect(await chart.getAttribute('data-empty'), id).toBe('false');
    expect(await chart.locator('canvas').count(), id).toBe(1);
    expect(await chart.getByRole('img').getAttribute('aria-label'), id).toMatch(/highest|share of watch time/);
  }
  expect(await owner.getByTestId('chart-renditions').getByRole('img').getAttribute('aria-label')).toMatch(/\d+p \d+\.\d+ %/);
  await snap(owner, 'analytics-1280');
  expect(await seriousViolations(owner)).toEqual([]);

  // Switch periods: the channel over the last 7 days, then 30, then back to the broadcast.
  const range = owner.getByLabel('Period');
  await range.selectOption('7d');
  await expect.poll(() => owner.getByTestId('analytics-view').getAttribute('data-range'), { timeout: 20_000 }).toBe('7d');
  expect(owner.url()).toBe(`${webUrl}/dashboard/analytics?range=7d`);
  expect(await owner.locator('.analytics-caption').textContent()).toContain('one point per hour');
  expect(Number(await tile(owner, 'unique'))).toBe(2);
  expect(await owner.getByTestId('chart-viewers').locator('canvas').count()).toBe(1);
  await snap(owner, 'analytics-7d-1280');
  await range.selectOption('30d');
  await expect.poll(() => owner.getByTestId('analytics-view').getAttribute('data-range'), { timeout: 20_000 }).toBe('30d');
  expect(await owner.locator('.analytics-caption').textContent()).toContain('one point per 6 hours');
  expect(Number(await tile(owner, 'chat'))).toBe(2);
  await owner.goBack();
  await expect.poll(() => owner.getByTestId('analytics-view').getAttribute('data-range'), { timeout: 20_000 }).toBe('7d');

  // A phone-sized screen: the same page, laid out in one column, still without violations.
  await owner.setViewportSize({ width: 390, height: 844 });
  await owner.goto(`${webUrl}/dashboard/analytics`);
  await owner.getByTestId('analytics-view').waitFor({ timeout: 20_000 });
  await expect.poll(() => owner.getByTestId('chart-viewers').locator('canvas').count(), { timeout: 10_000 }).toBe(1);
  const canvasWidth = await owner.getByTestId('chart-viewers').locator('canvas').evaluate((c) => c.getBoundingClientRect().width);
  expect(canvasWidth).toBeLessThanOrEqual(390);
  expect(await owner.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  await snap(owner, 'analytics-390');
  expect(await seriousViolations(owner)).toEqual([]);
  expect(pageErrors).toEqual([]);
}, 420_000);
