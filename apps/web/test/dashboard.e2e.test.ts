/**
 * The creator dashboard's stream controls, playback policy and recordings library in headless
 * Chromium, on the whole embedded stack (ffmpeg publishes the test pattern):
 * - the stream key is hidden until Reveal, Copy puts it on the clipboard, Rotate key asks first
 *   (Cancel changes nothing) and then disconnects the live publisher of the old key;
 * - End stream asks first and then ends the live session (StreamStopRequested → kicked);
 * - the playback policy is saved (followers only; an unknown allow-listed username shows the
 *   API's message) and read back after a reload;
 * - the two recordings appear with their media duration; one is renamed, the other deleted: its
 *   files leave storage, the API answers 404 for it, the log has RecordingDeletionRequested and
 *   RecordingDeleted; the retention setting is saved.
 * Screenshots at 1280x900 and 390x844 go to WEB_SCREENSHOT_DIR when set.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { EVENTS_STREAM, streamSubject, type DomainEvent } from '@live/events';
import { readEvents } from '@live/messaging';
import { publishTestPattern, startTestStack, waitFor, type Publisher, type TestStack } from '@live/dev/testing';
import { launchBrowser } from './browser.js';

let t: TestStack;
let browser: Browser;
const publishers: Publisher[] = [];
const CHANNEL = 'dashboarder';

beforeAll(async () => {
  [t, browser] = await Promise.all([startTestStack('e2e-web-dashboard', { web: true }), launchBrowser()]);
}, 240_000);

afterAll(async () => {
  await browser?.close();
  for (const p of publishers) p.child.kill('SIGINT');
  await Promise.all(publishers.map((p) => p.done.catch(() => undefined)));
  await t?.stop();
}, 90_000);

async function snap(page: Page, name: string): Promise<void> {
  const dir = process.env.WEB_SCREENSHOT_DIR;
  if (dir) await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
}

async function events(): Promise<DomainEvent[]> {
  return (await readEvents(t.messaging.js, EVENTS_STREAM, streamSubject(CHANNEL))).map((e) => e.event);
}

function publish(key: string): Publisher {
  const p = publishTestPattern(`${t.stack.info.rtmpUrl}/${key}`, { seconds: 120, width: 426, height: 240, fps: 15, videoKbps: 300 });
  publishers.push(p);
  return p;
}

async function revealedKey(page: Page): Promise<string> {
  await page.getByRole('button', { name: 'Reveal stream key' }).click();
  const key = ((await page.getByTestId('stream-key').textContent()) ?? '').trim();
  await page.getByRole('button', { name: 'Hide stream key' }).click();
  await page.getByTestId('stream-key-hidden').waitFor();
  return key;
}

it('controls the stream, the key, the playback policy and the recordings', async () => {
  const { webUrl, apiUrl, storageDir } = t.stack.info;
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: webUrl });
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));

  await page.goto(`${webUrl}/signup`);
  await page.getByLabel('Username', { exact: true }).fill(CHANNEL);
  await page.getByLabel('Email').fill(`${CHANNEL}@example.com`);
  await page.getByLabel('Password', { exact: true }).fill('pw-dashboarder-2025');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByTestId('account-name').waitFor({ timeout: 10_000 });
  await page.getByRole('link', { name: 'Dashboard' }).click();
  await page.getByRole('button', { name: 'Create channel' }).click();

  // Save stream info: the key comes hidden; Reveal shows it, Copy copies it without revealing.
  await page.getByLabel('Title').fill('Dashboard run');
  await page.getByRole('button', { name: 'Save stream info' }).click();
  await page.getByTestId('stream-key-hidden').waitFor({ timeout: 10_000 });
  expect(await page.getByTestId('stream-key').count()).toBe(0);
  const key1 = await revealedKey(page);
  expect(key1.length).toBeGreaterThan(16);
  expect(await page.content()).not.toContain(key1);
  await page.getByRole('button', { name: 'Copy the stream key' }).click();
  await expect.poll(() => page.evaluate(() => navigator.clipboard.readText())).toBe(key1);
  await snap(page, 'dashboard-desktop');

  // Live with key 1; Rotate key: Cancel keeps it, confirming kicks the publisher and issues key 2.
  const p1 = publish(key1);
  const status = page.getByTestId('channel-status');
  await expect.poll(() => status.getAttribute('data-live'), { timeout: 60_000 }).toBe('true');
  await snap(page, 'dashboard-live');
  await page.getByRole('button', { name: 'Rotate stream key' }).click();
  const rotateDialog = page.getByRole('dialog', { name: 'Rotate the stream key?' });
  await rotateDialog.waitFor();
  await snap(page, 'dashboard-rotate-dialog');
  await rotateDialog.getByRole('button', { name: 'Cancel' }).click();
  await rotateDialog.waitFor({ state: 'hidden' });
  expect(await revealedKey(page)).toBe(key1);
  await page.getByRole('button', { name: 'Rotate stream key' }).click();
  await rotateDialog.getByRole('button', { name: 'Rotate key' }).click();
  await rotateDialog.waitFor({ state: 'hidden', timeout: 10_000 });
  const key2 = await revealedKey(page);
  expect(key2).not.toBe(key1);
  await p1.done.catch(() => undefined); // the ingest node disconnected it
  await expect.poll(() => status.getAttribute('data-live'), { timeout: 30_000 }).toBe('false');
  const first = (await events()).find((e) => e.type === 'StreamPublishEnded');
  expect(first?.data).toMatchObject({ reason: 'kicked' });

  // Live with key 2; End stream asks, then ends the session.
  const p2 = publish(key2);
  await expect.poll(() => status.getAttribute('data-live'), { timeout: 60_000 }).toBe('true');
  await page.getByRole('button', { name: 'End stream' }).click();
  const endDialog = page.getByRole('dialog', { name: 'End the stream?' });
  await endDialog.getByRole('button', { name: 'End stream' }).click();
  await p2.done.catch(() => undefined);
  await expect.poll(() => status.getAttribute('data-live'), { timeout: 30_000 }).toBe('false');
  const ends = (await events()).filter((e) => e.type === 'StreamPublishEnded' || e.type === 'StreamStopRequested').map((e) => e.type);
  expect(ends).toEqual(['StreamPublishEnded', 'StreamStopRequested', 'StreamPublishEnded']);

  // Playback policy: an unknown allow-listed user is refused with the API's message; followers only is kept.
  const policy = page.getByTestId('playback-policy');
  await policy.getByLabel(/Allow-list/).check();
  await policy.getByLabel('Allowed users').fill('nobody_here_42');
  await policy.getByRole('button', { name: 'Save playback settings' }).click();
  await expect.poll(() => policy.getByTestId('policy-error').textContent(), { timeout: 10_000 }).toContain('nobody_here_42');
  await policy.getByLabel(/Followers only/).check();
  await policy.getByLabel(/Encrypt the video/).check();
  await policy.getByRole('button', { name: 'Save playback settings' }).click();
  await policy.getByRole('status').filter({ hasText: 'Saved' }).waitFor({ timeout: 10_000 });

  // Recordings: both sessions, packaged, with their media duration.
  const library = page.getByTestId('recordings-library');
  const items = library.getByTestId('recording');
  await expect.poll(async () => (await items.allTextContents()).filter((x) => x.includes('Ready')).length, { timeout: 120_000, interval: 1000 }).toBe(2);
  for (const d of await library.getByTestId('recording-duration').allTextContents()) expect(d).toMatch(/^\d+:\d\d$/);
  const [newest, oldest] = [items.nth(0), items.nth(1)];
  const keepId = (await newest.getAttribute('data-session-id'))!;
  const goneId = (await oldest.getAttribute('data-session-id'))!;

  await newest.getByRole('button', { name: /^Rename / }).click();
  await newest.getByLabel(/^New title of /).fill('Best of the run');
  await newest.getByRole('button', { name: 'Save title' }).click();
  await expect.poll(() => library.locator(`[data-session-id="${keepId}"] [data-testid=recording-title]`).textContent(), { timeout: 10_000 }).toBe('Best of the run');

  expect(existsSync(join(storageDir, 'sessions', goneId))).toBe(true);
  await oldest.getByRole('button', { name: /^Delete / }).click();
  await page.getByRole('dialog', { name: /^Delete “/ }).getByRole('button', { name: 'Delete recording' }).click();
  await expect.poll(() => items.count(), { timeout: 10_000 }).toBe(1);
  expect((await fetch(`${apiUrl}/api/streams/${goneId}`)).status).toBe(404);
  const deleted = await waitFor('RecordingDeleted', async () => (await events()).find((e) => e.type === 'RecordingDeleted' && e.data.sessionId === goneId), 60_000);
  expect(deleted.data).toMatchObject({ reason: 'owner', channelId: CHANNEL });
  const freed = deleted.data as { objectsDeleted: number; bytesFreed: number };
  expect(freed.objectsDeleted).toBeGreaterThan(3);
  expect(freed.bytesFreed).toBeGreaterThan(10_000);
  expect((await events()).some((e) => e.type === 'RecordingDeletionRequested' && e.data.sessionId === goneId)).toBe(true);
  const left = existsSync(join(storageDir, 'sessions', goneId)) ? readdirSync(join(storageDir, 'sessions', goneId), { recursive: true, withFileTypes: true }).filter((f) => f.isFile()) : [];
  expect(left).toEqual([]);
  expect(existsSync(join(storageDir, 'sessions', keepId, 'vod.m3u8'))).toBe(true);

  // Retention, then everything read back after a reload.
  await library.getByLabel('Delete recordings after (days)').fill('30');
  await library.getByRole('button', { name: 'Save retention' }).click();
  await library.getByRole('status').filter({ hasText: 'Saved' }).waitFor({ timeout: 10_000 });
  await page.reload();
  await expect.poll(() => page.getByLabel('Delete recordings after (days)').inputValue(), { timeout: 10_000 }).toBe('30');
  // The policy loads with its own request after the page: wait for it, as for the retention.
  await expect.poll(() => page.getByTestId('playback-policy').getByLabel(/Followers only/).isChecked(), { timeout: 10_000 }).toBe(true);
  await expect.poll(() => page.getByTestId('playback-policy').getByLabel(/Encrypt the video/).isChecked(), { timeout: 10_000 }).toBe(true);
  await page.getByTestId('recording').first().waitFor({ timeout: 15_000 });
  await snap(page, 'dashboard-desktop-after');

  const phone = await (await browser.newContext({ viewport: { width: 390, height: 844 }, storageState: await context.storageState() })).newPage();
  await phone.goto(`${webUrl}/dashboard`);
  await phone.getByTestId('recordings-library').getByTestId('recording').first().waitFor({ timeout: 15_000 });
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await snap(phone, 'dashboard-phone');
  expect(pageErrors).toEqual([]);
}, 600_000);
