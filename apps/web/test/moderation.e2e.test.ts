/**
 * Moderation that sticks, in Chromium on the whole embedded stack (built web app, real API,
 * chat gateway, NATS, PostgreSQL): a streamer bans a viewer who chatted, from the chat; then
 * 1. a third viewer loads the page: the banned viewer's messages are not in the history, the
 *    streamer's are;
 * 2. the dashboard lists the ban with an Unban control, also after a reload;
 * 3. the banned viewer, loading the page, finds the message box disabled with "You are banned
 *    from this chat." before sending anything;
 * 4. Unban on the dashboard lifts it for good (gone after a reload; the viewer can send again,
 *    and what they sent before the ban stays hidden), and the moderation log shows both;
 * 5. a timeout of a chosen length set on the dashboard shows "You are timed out until hh:mm"
 *    to the viewer on joining;
 * 6. the banned-terms editor and moderator appointment persist across a reload, and the
 *    appointed moderator reaches the tools at /moderate/<channel> from the chat.
 *
 * Set WEB_SCREENSHOT_DIR=/some/dir to save screenshots.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startTestStack, type TestStack } from '@live/dev/testing';
import { browserPages, chatTexts, launchBrowser, waitForChatOpen } from './browser.js';

let t: TestStack;
let browser: Browser;
const pageErrors: string[] = [];
const { freshPage: newPage, snap, signUp, signIn } = browserPages(() => browser, () => t.stack.info.webUrl, pageErrors);
const freshPage = () => newPage(900);

const STREAMER = 'ban_streamer';
const SPAMMER = 'spam_sam';
const THIRD = 'third_tia';

beforeAll(async () => {
  [t, browser] = await Promise.all([startTestStack('e2e-web-moderation', { web: true }), launchBrowser()]);
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await t?.stop();
}, 90_000);


/** Opens the channel page and waits until the chat is connected (and, signed in, authenticated: the input settles). */
async function openChat(page: Page, watchUrl: string): Promise<void> {
  await page.goto(watchUrl);
  await waitForChatOpen(page);
}

async function send(page: Page, text: string): Promise<void> {
  const input = page.getByTestId('chat-input');
  await expect.poll(() => input.isEnabled(), { timeout: 10_000 }).toBe(true);
  await input.fill(text);
  await input.press('Enter');
}

const banItem = (page: Page, username: string) => page.getByTestId('ban-item').filter({ hasText: username });

it('bans a viewer who chatted: gone from everyone\'s history, listed with Unban after reloads, told on joining; Unban sticks', async () => {
  const { webUrl } = t.stack.info;
  const watchUrl = `${webUrl}/watch/live/${STREAMER}`;
  const dashboardUrl = `${webUrl}/dashboard`;

  const streamer = await freshPage();
  await signUp(streamer, STREAMER);
  await streamer.goto(dashboardUrl);
  await streamer.getByTestId('create-channel').click();
  await streamer.getByTestId('save-stream-info').waitFor({ timeout: 10_000 });
  await openChat(streamer, watchUrl);
  await streamer.getByTestId('chat-mod-controls').waitFor({ timeout: 10_000 });
  await send(streamer, 'Welcome to the stream');

  const spammer = await freshPage();
  await signUp(spammer, SPAMMER);
  await openChat(spammer, watchUrl);
  for (const text of ['buy followers at cheap dot test', 'really cheap']) await send(spammer, text);
  await expect.poll(() => chatTexts(streamer), { timeout: 10_000 }).toEqual(['Welcome to the stream', 'buy followers at cheap dot test', 'really cheap']);

  // The streamer bans the spammer from a chat line.
  const line = streamer.getByTestId('chat-line').filter({ hasText: 'really cheap' });
  await line.hover();
  await line.getByRole('button', { name: `Ban ${SPAMMER}` }).click();
  await expect.poll(() => spammer.getByTestId('chat-restriction').textContent().catch(() => null), { timeout: 10_000 }).toBe('You are banned from this chat.');

  // 1. A third viewer loads the page: only the streamer's message.
  const third = await freshPage();
  await signUp(third, THIRD);
  await openChat(third, watchUrl);
  await expect.poll(() => chatTexts(third), { timeout: 10_000 }).toEqual(['Welcome to the stream']);
  expect(await third.getByTestId('chat-line').filter({ hasText: 'cheap' }).count()).toBe(0);
  await snap(third, 'moderation-third-viewer');

  // 2. The dashboard lists the ban with an Unban control, after a reload too.
  await streamer.goto(dashboardUrl);
  await banItem(streamer, SPAMMER).waitFor({ timeout: 10_000 });
  await streamer.reload();
  await banItem(streamer, SPAMMER).waitFor({ timeout: 10_000 });
  expect(await banItem(streamer, SPAMMER).textContent()).toContain('Banned');
  const unban = streamer.getByRole('button', { name: `Unban ${SPAMMER}` });
  expect(await unban.isEnabled()).toBe(true);
  await snap(streamer, 'moderation-dashboard-ban');

  // 3. The banned viewer, on joining, finds the box disabled and the reason shown, before sending.
  await openChat(spammer, watchUrl);
  await expect.poll(() => spammer.getByTestId('chat-restriction').textContent().catch(() => null), { timeout: 10_000 }).toBe('You are banned from this chat.');
  expect(await spammer.getByTestId('chat-input').isDisabled()).toBe(true);
  expect(await spammer.getByTestId('chat-error').count()).toBe(0); // learnt on joining, not from a refused send
  expect(await chatTexts(spammer)).toEqual(['Welcome to the stream']);
  await snap(spammer, 'moderation-banned-viewer');

  // 4. Unban: gone after a reload; the viewer may send again; the old messages stay hidden.
  await unban.click();
  await expect.poll(() => banItem(streamer, SPAMMER).count(), { timeout: 10_000 }).toBe(0);
  await streamer.reload();
  await streamer.getByTestId('ban-list').getByText('Nobody is banned or timed out.').waitFor({ timeout: 10_000 });
  await expect.poll(() => streamer.getByTestId('log-text').allTextContents(), { timeout: 10_000 })
    .toEqual(expect.arrayContaining([`${STREAMER} banned ${SPAMMER}`, `${STREAMER} lifted the ban or timeout of ${SPAMMER}`]));
  await openChat(spammer, watchUrl);
  await send(spammer, 'sorry about that');
  await expect.poll(() => chatTexts(third), { timeout: 10_000 }).toEqual(['Welcome to the stream', 'sorry about that']);
  await third.reload();
  await expect.poll(() => chatTexts(third), { timeout: 20_000 }).toEqual(['Welcome to the stream', 'sorry about that']);

  // 5. A timeout of a chosen length, from the dashboard: the viewer sees its end on joining.
  const form = streamer.getByTestId('restrict-form');
  await form.getByLabel('Username').fill(SPAMMER);
  await form.getByLabel('Length').selectOption({ label: 'Timeout 1 h' });
  await form.getByRole('button', { name: 'Time out' }).click();
  await banItem(streamer, SPAMMER).waitFor({ timeout: 10_000 });
  expect(await banItem(streamer, SPAMMER).textContent()).toMatch(/Timed out until \d\d:\d\d/);
  await openChat(spammer, watchUrl);
  await expect.poll(() => spammer.getByTestId('chat-restriction').textContent().catch(() => null), { timeout: 10_000 })
    .toMatch(/^You are timed out until \d\d:\d\d \((1 h|59 min \d\d s|59 min) left\)\.$/);
  expect(await spammer.getByTestId('chat-input').isDisabled()).toBe(true);

  expect(pageErrors).toEqual([]);
}, 180_000);

it('keeps banned terms and appointed moderators across a reload; a moderator reaches the tools from the chat', async () => {
  const { webUrl } = t.stack.info;
  const streamer = await freshPage();
  await signIn(streamer, STREAMER);
  await streamer.goto(`${webUrl}/dashboard`);

  const terms = streamer.getByTestId('banned-terms');
  await terms.getByLabel('Word or pattern').fill('cheap\\s+gold');
  await terms.getByLabel('When a message matches').selectOption('hold');
  await terms.getByRole('button', { name: 'Add term' }).click();
  await terms.getByTestId('banned-term').filter({ hasText: 'cheap\\s+gold' }).waitFor({ timeout: 10_000 });
  const mods = streamer.getByTestId('moderators');
  await mods.getByLabel('Appoint by username').fill(THIRD);
  await mods.getByRole('button', { name: 'Appoint moderator' }).click();
  await mods.getByTestId('moderator').filter({ hasText: THIRD }).waitFor({ timeout: 10_000 });

  await streamer.reload();
  await streamer.getByTestId('banned-terms').getByTestId('banned-term').filter({ hasText: 'cheap\\s+gold' }).waitFor({ timeout: 10_000 });
  await streamer.getByTestId('moderators').getByTestId('moderator').filter({ hasText: THIRD }).waitFor({ timeout: 10_000 });
  await snap(streamer, 'moderation-dashboard-tools');

  await streamer.getByRole('button', { name: 'Remove banned term cheap\\s+gold' }).click();
  await streamer.getByTestId('banned-terms').getByText('No banned terms in this chat.').waitFor({ timeout: 10_000 });
  await streamer.reload();
  await streamer.getByTestId('banned-terms').getByText('No banned terms in this chat.').waitFor({ timeout: 10_000 });

  // The appointed moderator: the chat's moderator settings link to the tools.
  const mod = await freshPage();
  await signIn(mod, THIRD);
  await openChat(mod, `${webUrl}/watch/live/${STREAMER}`);
  await mod.getByTestId('chat-mod-controls').locator('summary').click({ timeout: 10_000 });
  await mod.getByTestId('chat-mod-tools').click();
  await banItem(mod, SPAMMER).waitFor({ timeout: 10_000 }); // the timeout set above
  expect(await mod.getByRole('button', { name: 'Appoint moderator' }).count()).toBe(0); // appointing is the owner's
  await snap(mod, 'moderation-moderator-page');

  expect(pageErrors).toEqual([]);
}, 120_000);
