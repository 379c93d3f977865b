/**
 * Accounts in the browser, on the whole embedded stack (built web app under `vite preview`,
 * real API, projector, ingest and a real ffmpeg publisher), driven through the UI with headless
 * Chromium:
 * 1. a streamer signs up through the form, creates a channel on /dashboard and gets the RTMP
 *    server and stream key; the channel is found on /search (also with the category filter);
 * 2. a viewer, in a second browser context (own storage: a separate sign-in), signs up, opens
 *    the channel's player page (a full page load: the sign-in is resumed from the stored refresh
 *    token), follows it, and waits with the notification stream open;
 * 3. the streamer publishes with ffmpeg; once the renditions are ready the viewer's bell count
 *    goes to 1 over Server-Sent Events, and the entry "<channel> went live: <title>" links to
 *    the player;
 * 4. the forms show the API's messages (USERNAME_TAKEN, INVALID_CREDENTIALS), and signing out
 *    forgets the sign-in (also across a reload).
 * Text from the API is checked to render as text (the channel name holds markup).
 *
 * Set WEB_SCREENSHOT_DIR=/some/dir to save screenshots of the dashboard, search and bell.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { publishTestPattern, startTestStack, waitFor, type Publisher, type TestStack } from '@live/dev/testing';
import { VIEWER_ID_KEY } from '../src/telemetry';
import { browserPages, launchBrowser } from './browser.js';

let t: TestStack;
let browser: Browser;
let publisher: Publisher | undefined;
const pageErrors: string[] = [];
const { freshPage, snap, signUp } = browserPages(() => browser, () => t.stack.info.webUrl, pageErrors);

const STREAMER = 'nova_streamer';
const CHANNEL_ID = STREAMER; // a channel's id defaults to the lower-cased username
const CHANNEL_NAME = 'Nova <i>Speedruns</i>';
const TITLE = 'Nova any% practice';
const VIEWER = 'fan_of_nova';

beforeAll(async () => {
  [t, browser] = await Promise.all([startTestStack('e2e-web-accounts', { web: true }), launchBrowser()]);
}, 240_000);

afterAll(async () => {
  await browser?.close();
  publisher?.child.kill('SIGINT');
  await publisher?.done;
  await t?.stop();
}, 90_000);

async function signUpThroughForm(page: Page, username: string): Promise<void> {
  await signUp(page, username);
  expect(await page.getByTestId('account-name').textContent()).toBe(username);
}

it('signs up, creates a channel and gets the stream key, is found by search, and a follower is notified live', async () => {
  const { webUrl, apiUrl, rtmpUrl, srtUrl, whipUrl } = t.stack.info;

  // --- the streamer ------------------------------------------------------------------------
  const streamer = await freshPage();
  await signUpThroughForm(streamer, STREAMER);
  await streamer.getByRole('link', { name: 'Dashboard' }).click();
  await streamer.waitForURL(`${webUrl}/dashboard`);
  await streamer.getByLabel(/Channel name/).fill(CHANNEL_NAME);
  await streamer.getByRole('button', { name: 'Create channel' }).click();

  await streamer.getByLabel('Title').fill(TITLE);
  await expect.poll(() => streamer.getByLabel('Category').locator('option[value=gaming]').count(), { timeout: 10_000 }).toBe(1);
  await streamer.getByLabel('Category').selectOption('gaming');
  await streamer.getByLabel('Tags').fill('Speedrun, retro');
  await streamer.getByRole('button', { name: 'Save stream info' }).click();
  // Hidden until revealed (no character of it on the page before).
  await streamer.getByTestId('stream-key-hidden').waitFor({ timeout: 10_000 });
  await streamer.getByRole('button', { name: 'Reveal stream key' }).click();
  const keyLocator = streamer.getByTestId('stream-key');
  await keyLocator.waitFor({ timeout: 10_000 });
  const streamKey = (await keyLocator.textContent())?.trim() ?? '';
  expect(streamKey.length).toBeGreaterThan(16);
  expect(await streamer.getByTestId('ingest-url').textContent()).toBe(rtmpUrl);
  // The other protocols: WHIP for this channel, SRT with the (revealed) key in its streamid.
  expect(await streamer.getByTestId('whip-url').textContent()).toBe(whipUrl.replace(/[^/]+$/, CHANNEL_ID));
  expect(await streamer.getByTestId('srt-url').textContent()).toBe(`${srtUrl}?streamid=#!::r=live/${streamKey},m=publish`);
  await snap(streamer, 'dashboard');

  // Found through the header's search box, then with the category filter too.
  await streamer.getByTestId('search-input').fill('nova practice');
  await streamer.getByTestId('search-input').press('Enter');
  await streamer.waitForURL(`${webUrl}/search?q=nova+practice`);
  const card = streamer.locator(`[data-testid=search-result][data-channel-id=${CHANNEL_ID}]`);
  await card.waitFor({ timeout: 10_000 });
  await snap(streamer, 'search');
  expect(await card.textContent()).toContain(CHANNEL_NAME);
  expect(await card.getByTestId('result-followers').textContent()).toBe('0 followers');
  await streamer.getByTestId('category-filter').selectOption('gaming');
  await streamer.waitForURL(`${webUrl}/search?q=nova+practice&category=gaming`);
  await card.waitFor({ timeout: 10_000 });

  // --- the viewer, in another browser context ---------------------------------------------------
  const viewer = await freshPage();
  await signUpThroughForm(viewer, VIEWER);
  await viewer.goto(`${webUrl}/watch/live/${CHANNEL_ID}`); // full load: the sign-in is resumed
  const follow = viewer.getByTestId('follow-button');
  await follow.waitFor({ timeout: 10_000 });
  expect(await follow.textContent()).toBe('Follow');
  expect(await viewer.getByTestId('follower-count').textContent()).toBe('0 followers');
  await follow.click();
  await expect.poll(() => follow.getAttribute('data-following'), { timeout: 10_000 }).toBe('true');
  expect(await follow.textContent()).toBe('Unfollow');
  await expect.poll(() => viewer.getByTestId('follower-count').textContent(), { timeout: 10_000 }).toBe('1 follower');

  // The notification stream is open and nothing is unread yet.
  const bell = viewer.getByTestId('bell');
  await expect.poll(() => bell.getAttribute('data-stream'), { timeout: 10_000 }).toBe('open');
  expect(await viewer.getByTestId('bell-count').count()).toBe(0);

  // --- the streamer goes live -----------------------------------------------------------------
  publisher = publishTestPattern(`${rtmpUrl}/${streamKey}`, { seconds: 40, width: 640, height: 360, fps: 30, videoKbps: 800 });
  await waitFor('the stream live with its renditions', async () => {
    const r = await fetch(`${apiUrl}/api/streams/${CHANNEL_ID}`);
    const s = (await r.json()) as { live?: boolean; status?: string; renditions?: string[] };
    return s.live === true && s.status === 'live' && (s.renditions?.length ?? 0) > 0;
  }, 45_000, 250);

  // The viewer's bell goes to 1 without a reload.
  await expect.poll(() => bell.getAttribute('data-unread'), { timeout: 20_000 }).toBe('1');
  expect(await viewer.getByTestId('bell-count').textContent()).toBe('1');
  expect(await bell.getAttribute('aria-label')).toBe('Notifications, 1 unread');

  await bell.click();
  const entry = viewer.getByTestId('bell-panel').getByRole('link');
  await entry.first().waitFor({ timeout: 30_000 });
  expect(await entry.count()).toBe(1);
  expect(await entry.textContent()).toBe(`${CHANNEL_NAME} went live: ${TITLE}`);
  expect(await entry.getAttribute('href')).toBe(`/watch/live/${CHANNEL_ID}`);
  expect(await viewer.getByTestId('bell-panel').locator('i').count()).toBe(0); // markup stayed text
  await snap(viewer, 'bell');
  // Opening the panel marks it read.
  await expect.poll(() => viewer.getByTestId('bell-count').count(), { timeout: 10_000 }).toBe(0);

  // The streamer's dashboard sees the channel live (it re-reads it every 5 s).
  await streamer.getByRole('link', { name: 'Dashboard' }).click();
  await streamer.getByRole('button', { name: 'Save stream info' }).click();
  await expect.poll(() => streamer.getByTestId('channel-status').getAttribute('data-live'), { timeout: 15_000 }).toBe('true');
  // Issued once: the key is now only shown masked, with its last 4 characters.
  expect(await streamer.getByTestId('stream-key-masked').textContent()).toBe(`********${streamKey.slice(-4)}`);

  // The forms show the API's catalogue messages; signing out forgets the sign-in.
  const stranger = await freshPage();
  await stranger.goto(`${webUrl}/signup`);
  await stranger.getByLabel('Username', { exact: true }).fill(STREAMER.toUpperCase()); // unique case-insensitively
  await stranger.getByLabel('Email').fill('someone@example.com');
  await stranger.getByLabel('Password', { exact: true }).fill('another-password');
  await stranger.getByRole('button', { name: 'Create account' }).click();
  await expect.poll(() => stranger.getByTestId('form-error').textContent().catch(() => null), { timeout: 10_000 }).toBe('That username is taken.');
  await stranger.getByRole('link', { name: 'Sign in' }).last().click();
  await stranger.getByLabel('Username or email').fill(STREAMER);
  await stranger.getByLabel('Password', { exact: true }).fill('not-the-password');
  await stranger.getByRole('button', { name: 'Sign in' }).click();
  await expect.poll(() => stranger.getByTestId('form-error').textContent().catch(() => null), { timeout: 10_000 }).toBe('Wrong username or password.');

  await viewer.getByTestId('sign-out').click();
  await viewer.getByTestId('sign-in-link').waitFor({ timeout: 30_000 });
  // Signing out leaves no session data behind; the player's random analytics viewer id
  // (src/telemetry.ts VIEWER_ID_KEY) is not tied to the account and stays.
  expect((await viewer.evaluate(() => Object.keys(localStorage))).filter((k) => k !== VIEWER_ID_KEY)).toEqual([]);
  await viewer.reload();
  await expect.poll(() => viewer.getByTestId('account').getAttribute('data-status'), { timeout: 10_000 }).toBe('anonymous');
  await viewer.getByTestId('follow-sign-in').waitFor({ timeout: 10_000 });

  expect(pageErrors).toEqual([]);
}, 180_000);
