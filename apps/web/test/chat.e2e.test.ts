/**
 * Chat in the browser, on the whole embedded stack (built web app under `vite preview` with
 * `/chat` proxied to a real gateway, real API, NATS and PostgreSQL), driven through the UI with
 * headless Chromium, on the demo channel every stack has:
 * 1. an anonymous viewer opens the channel's page: the chat connects, and there is no enabled
 *    send box, only a "Sign in to chat" link;
 * 2. a user signs up (another browser context), opens the same page and sends a message holding
 *    markup (`<img src=x onerror=…>hello`) and a normal one;
 * 3. the anonymous page shows both, live, exactly as literal text: no `img` element is created in
 *    the chat and the `onerror` never ran (`window.__xss` stays undefined), on either page;
 * 4. reloading the anonymous page shows both again, from the room's history.
 * Then, on a streamer's own channel (its owner moderates it): a deleted message becomes a
 * tombstone on every page, slow mode answers an early message with a countdown (and gives the
 * text back), a timeout greys the viewer's lines and locks their send box, and a message the
 * viewer reports reaches the owner's moderation queue on the dashboard, where deleting it
 * removes it from the viewer's chat.
 *
 * Set WEB_SCREENSHOT_DIR=/some/dir to save screenshots of both pages.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { startTestStack, type TestStack } from '@live/dev/testing';
import { browserPages, chatTexts, launchBrowser, waitForChatOpen } from './browser.js';

let t: TestStack;
let browser: Browser;
const pageErrors: string[] = [];
const { freshPage, snap, signUp: signUpThroughForm } = browserPages(() => browser, () => t.stack.info.webUrl, pageErrors);

const CHANNEL_ID = 'demo'; // the embedded stack's demo channel
const CHATTER = 'chatty_cathy';
const XSS = '<img src=x onerror="window.__xss=1">hello';
const NORMAL = 'Hi everyone, good luck with the run & have fun!';

beforeAll(async () => {
  [t, browser] = await Promise.all([startTestStack('e2e-web-chat', { web: true }), launchBrowser()]);
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await t?.stop();
}, 90_000);

it('shows messages to an anonymous viewer as literal text, live and from history, and only lets signed-in users send', async () => {
  const { webUrl } = t.stack.info;
  const watchUrl = `${webUrl}/watch/live/${CHANNEL_ID}`;

  // --- the anonymous viewer --------------------------------------------------------------------
  const anon = await freshPage();
  await anon.goto(watchUrl);
  await waitForChatOpen(anon);
  await expect.poll(() => anon.getByTestId('account').getAttribute('data-status'), { timeout: 10_000 }).toBe('anonymous');
  expect(await anon.getByTestId('chat-input').isDisabled()).toBe(true);
  expect(await anon.getByTestId('chat-send').isDisabled()).toBe(true);
  expect(await anon.getByTestId('chat-panel').locator('input:enabled, textarea:enabled').count()).toBe(0);
  expect(await anon.getByTestId('chat-sign-in').getAttribute('href')).toBe(`/signin?next=${encodeURIComponent(`/watch/live/${CHANNEL_ID}`)}`);

  // --- the signed-in user sends ----------------------------------------------------------------
  const user = await freshPage();
  await signUpThroughForm(user, CHATTER);
  await user.goto(watchUrl); // full load: the sign-in is resumed, then the socket authenticates
  await waitForChatOpen(user);
  const input = user.getByTestId('chat-input');
  await expect.poll(() => input.isEnabled(), { timeout: 10_000 }).toBe(true);
  await input.fill(XSS);
  expect(await user.getByTestId('chat-counter').textContent()).toBe(`${[...XSS].length}/500`);
  await user.getByTestId('chat-send').click();
  await expect.poll(() => chatTexts(user), { timeout: 10_000 }).toContain(XSS);
  expect(await input.inputValue()).toBe('');
  await input.fill(NORMAL);
  await input.press('Enter');
  await expect.poll(() => chatTexts(user), { timeout: 10_000 }).toEqual([XSS, NORMAL]);
  expect(await user.getByTestId('chat-error').count()).toBe(0);
  await snap(user, 'chat-user');

  // --- the anonymous page got both, live, as text ---------------------------------------------
  await expect.poll(() => chatTexts(anon), { timeout: 10_000 }).toEqual([XSS, NORMAL]);
  const users = await anon.getByTestId('chat-panel').getByTestId('chat-user').allTextContents();
  expect(users).toEqual([CHATTER, CHATTER]);
  for (const page of [anon, user]) {
    expect(await page.getByTestId('chat-panel').locator('img').count()).toBe(0);
    expect(await page.evaluate(() => (window as Window & { __xss?: unknown }).__xss)).toBeUndefined();
  }
  await snap(anon, 'chat-anonymous');

  // --- a reload shows them again, from the room's history --------------------------------------
  await anon.reload();
  await waitForChatOpen(anon);
  await expect.poll(() => chatTexts(anon), { timeout: 10_000 }).toEqual([XSS, NORMAL]);
  expect(await anon.getByTestId('chat-panel').locator('img').count()).toBe(0);
  expect(await anon.evaluate(() => (window as Window & { __xss?: unknown }).__xss)).toBeUndefined();
  expect(await anon.getByTestId('chat-input').isDisabled()).toBe(true);

  expect(pageErrors).toEqual([]);
}, 120_000);

it('lets the channel owner delete messages, turn on slow mode and time a viewer out', async () => {
  const { webUrl } = t.stack.info;
  const STREAMER = 'mod_streamer';
  const VIEWER = 'loud_viewer';
  const watchUrl = `${webUrl}/watch/live/${STREAMER}`; // a channel's id defaults to the lower-cased username

  const streamer = await freshPage();
  await signUpThroughForm(streamer, STREAMER);
  await streamer.getByRole('link', { name: 'Dashboard' }).click();
  await streamer.getByTestId('create-channel').click();
  await streamer.getByTestId('save-stream-info').waitFor({ timeout: 10_000 });
  await streamer.goto(watchUrl);
  await waitForChatOpen(streamer);
  await streamer.getByTestId('chat-mod-controls').waitFor({ timeout: 10_000 }); // the owner moderates

  const viewer = await freshPage();
  await signUpThroughForm(viewer, VIEWER);
  await viewer.goto(watchUrl);
  await waitForChatOpen(viewer);
  const input = viewer.getByTestId('chat-input');
  await expect.poll(() => input.isEnabled(), { timeout: 10_000 }).toBe(true);
  expect(await viewer.getByTestId('chat-mod-controls').count()).toBe(0);
  for (const text of ['first!!!', 'second']) {
    await input.fill(text);
    await input.press('Enter');
    await expect.poll(() => chatTexts(streamer), { timeout: 10_000 }).toContain(text);
  }

  // Delete: a tombstone on both pages.
  const first = streamer.getByTestId('chat-line').filter({ hasText: 'first!!!' });
  await first.hover();
  await first.getByTestId('chat-delete').click();
  for (const page of [streamer, viewer]) {
    await expect.poll(() => chatTexts(page), { timeout: 10_000 }).toEqual(['message deleted', 'second']);
  }

  // Slow mode: announced, and an early message is answered with a countdown.
  await streamer.getByTestId('chat-mod-controls').locator('summary').click();
  await streamer.getByTestId('chat-slow-mode').selectOption('120');
  await expect.poll(() => viewer.getByTestId('chat-modes').textContent().catch(() => null), { timeout: 10_000 }).toBe('Slow mode 2 min');
  await input.fill('third');
  await input.press('Enter');
  const error = viewer.getByTestId('chat-error');
  await expect.poll(() => error.getAttribute('data-code').catch(() => null), { timeout: 10_000 }).toBe('SLOW_MODE');
  expect(await error.locator('span').textContent()).toMatch(/^Slow mode is on\. You can send again in (2 min|1 min \d\d s)\.$/);
  expect(await input.inputValue()).toBe('third'); // given back to edit or resend
  expect(await viewer.getByTestId('chat-send').isDisabled()).toBe(true);
  await snap(viewer, 'chat-slow-mode');

  // Report: the viewer reports the owner's spam; the owner deletes it from the queue (below).
  const own = streamer.getByTestId('chat-input');
  await own.fill('Buy cheap followers at example.test');
  await own.press('Enter');
  const reported = viewer.getByTestId('chat-line').filter({ hasText: 'Buy cheap followers' });
  await reported.waitFor({ timeout: 10_000 });
  await reported.hover();
  await reported.getByTestId('chat-report').click();
  await reported.getByRole('button', { name: 'Spam' }).click();
  await expect.poll(() => viewer.getByTestId('chat-error').getAttribute('data-code').catch(() => null), { timeout: 10_000 }).toBe('REPORTED');

  // Timeout 10 min: the viewer's lines are greyed everywhere and their send box is locked.
  const second = streamer.getByTestId('chat-line').filter({ hasText: 'second' });
  await second.hover();
  await second.getByTestId('chat-timeout').selectOption('600');
  await expect.poll(() => viewer.getByTestId('chat-restriction').textContent().catch(() => null), { timeout: 10_000 }).toMatch(/^You are timed out until \d\d:\d\d \((10 min|9 min \d\d s) left\)\.$/);
  expect(await input.isDisabled()).toBe(true);
  await expect.poll(() => chatTexts(viewer), { timeout: 10_000 }).toEqual(['message deleted', 'message removed by a moderator', 'Buy cheap followers at example.test']);
  expect(await streamer.getByTestId('chat-line').filter({ hasText: 'second' }).getAttribute('data-status')).toBe('removed'); // moderators still read it
  await snap(streamer, 'chat-moderator');

  // A timed-out viewer cannot report (the room's restriction applies to reports too).
  await own.fill('More spam at example.test');
  await own.press('Enter');
  const more = viewer.getByTestId('chat-line').filter({ hasText: 'More spam' });
  await more.waitFor({ timeout: 10_000 });
  await more.hover();
  await more.getByTestId('chat-report').click();
  await more.getByRole('button', { name: 'Spam' }).click();
  await expect.poll(() => viewer.getByTestId('chat-error').getAttribute('data-code').catch(() => null), { timeout: 10_000 }).toBe('TIMED_OUT');

  await streamer.getByTestId('account').getByRole('link', { name: 'Dashboard' }).click();
  const queued = streamer.getByTestId('queue-item').filter({ hasText: 'Buy cheap followers' });
  await expect.poll(async () => {
    await streamer.getByRole('button', { name: 'Refresh' }).click();
    return queued.count();
  }, { timeout: 15_000 }).toBe(1);
  expect(await queued.getAttribute('data-kind')).toBe('report');
  expect(await queued.textContent()).toContain('reason: Spam');
  await snap(streamer, 'moderation-queue');
  await queued.getByTestId('queue-deleted').click();
  await expect.poll(() => queued.count(), { timeout: 10_000 }).toBe(0);
  await expect.poll(() => chatTexts(viewer), { timeout: 10_000 }).toEqual(['message deleted', 'message removed by a moderator', 'message deleted', 'More spam at example.test']);
  expect(await streamer.getByTestId('queue-item').filter({ hasText: 'More spam' }).count()).toBe(0); // the refused report queued nothing

  expect(pageErrors).toEqual([]);
}, 120_000);
