/**
 * The dashboard's Restreaming section in headless Chromium, on the whole embedded stack: a
 * streamer adds a destination through the form (the key never comes back: the list shows it
 * masked), refused URLs show the API's message, and while the streamer publishes with ffmpeg the
 * destination's state appears live in the list: here a server that refuses connections, so the
 * push is `reconnecting` with the reason and attempt. Switching it off stops the push; Remove
 * removes it. (Pushing to a real RTMP server, nginx-rtmp, and reconnecting to it is
 * infra/dev/test/restream.e2e.test.ts.)
 *
 * Set WEB_SCREENSHOT_DIR=/some/dir to save a screenshot of the section.
 */
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { publishTestPattern, startTestStack, type Publisher, type TestStack } from '@live/dev/testing';
import { launchBrowser } from './browser.js';

let t: TestStack;
let browser: Browser;
let publisher: Publisher | undefined;

beforeAll(async () => {
  [t, browser] = await Promise.all([startTestStack('e2e-web-restream', { web: true }), launchBrowser()]);
}, 240_000);

afterAll(async () => {
  await browser?.close();
  publisher?.child.kill('SIGINT');
  await publisher?.done;
  await t?.stop();
}, 90_000);

async function snap(page: Page, name: string): Promise<void> {
  const dir = process.env.WEB_SCREENSHOT_DIR;
  if (dir) await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
}

/** A loopback port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

it('adds a destination, shows its masked key and its live state, switches it off and removes it', async () => {
  const { webUrl, rtmpUrl } = t.stack.info;
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));

  await page.goto(`${webUrl}/signup`);
  await page.getByLabel('Username', { exact: true }).fill('restreamer');
  await page.getByLabel('Email').fill('restreamer@example.com');
  await page.getByLabel('Password', { exact: true }).fill('pw-restreamer-2025');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByTestId('account-name').waitFor({ timeout: 10_000 });
  await page.getByRole('link', { name: 'Dashboard' }).click();
  await page.getByLabel(/Channel name/).fill('Restreamer');
  await page.getByRole('button', { name: 'Create channel' }).click();

  const panel = page.getByTestId('restream-panel');
  await panel.waitFor({ timeout: 10_000 });
  // A refused URL shows the API's message.
  await panel.getByLabel('Name').fill('Web');
  await panel.getByLabel('Server URL').fill('https://example.com/live');
  await panel.getByLabel('Stream key').fill('web-key-123456');
  await panel.getByRole('button', { name: 'Add destination' }).click();
  await expect.poll(() => panel.getByTestId('restream-error').textContent(), { timeout: 10_000 }).toContain('rtmp://');

  const port = await closedPort();
  const key = 'secret-destination-key-9876';
  await panel.getByLabel('Server URL').fill(`rtmp://127.0.0.1:${port}/live`);
  await panel.getByLabel('Name').fill('Refusing server');
  await panel.getByLabel('Stream key').fill(key);
  await panel.getByRole('button', { name: 'Add destination' }).click();
  const item = panel.getByTestId('restream-destination');
  await item.waitFor({ timeout: 10_000 });
  expect(await item.textContent()).toContain('key ********9876');
  expect(await page.content()).not.toContain(key);
  expect(await item.getByTestId('restream-state').textContent()).toBe('Waiting for you to go live');

  // Go live: the push to the refusing server shows as reconnecting, with its reason.
  await page.getByLabel('Title').fill('Restream test');
  await page.getByRole('button', { name: 'Save stream info' }).click();
  await page.getByRole('button', { name: 'Reveal stream key' }).click();
  const streamKey = ((await page.getByTestId('stream-key').textContent()) ?? '').trim();
  publisher = publishTestPattern(`${rtmpUrl}/${streamKey}`, { seconds: 90, width: 426, height: 240, fps: 15, videoKbps: 300 });
  await expect.poll(() => item.getAttribute('data-state'), { timeout: 60_000 }).toBe('reconnecting');
  const state = (await item.getByTestId('restream-state').textContent()) ?? '';
  console.log(`dashboard state: ${state}`);
  expect(state).toMatch(/^Reconnecting \(attempt \d+\)/);
  expect(state).not.toContain(key);
  await snap(page, 'restream-dashboard');

  // Off: the push stops; Remove: the destination is gone.
  await item.getByTestId('restream-enabled').click(); // a controlled checkbox: it flips once the API has answered
  await expect.poll(() => item.getAttribute('data-state'), { timeout: 30_000 }).toBe('stopped');
  expect(await item.getByTestId('restream-state').textContent()).toBe('Off');
  await item.getByTestId('restream-remove').click();
  await expect.poll(() => panel.getByTestId('restream-destination').count(), { timeout: 10_000 }).toBe(0);
  expect(pageErrors).toEqual([]);
}, 300_000);
