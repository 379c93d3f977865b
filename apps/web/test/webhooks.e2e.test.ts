/**
 * The dashboard's Webhooks section on the whole embedded stack (built web app under `vite
 * preview`, real API and projector, whose `webhooks` projection sends the deliveries), driven
 * with headless Chromium: a streamer signs up, creates a channel, adds an endpoint (a receiver
 * written here) for new followers and sees its secret once; a follower's follow arrives at the
 * receiver signed with that secret (`verifyWebhook`); the delivery log shows the attempt, and the
 * Redeliver button sends the same event again. After a reload the secret is not shown anywhere.
 *
 * Set WEB_SCREENSHOT_DIR=/some/dir to save a screenshot of the section.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { verifyWebhook, WEBHOOK_SIGNATURE_HEADER } from '@live/auth';
import { startTestStack, waitFor, type TestStack } from '@live/dev/testing';
import { launchBrowser } from './browser.js';

const STREAMER = 'hook_streamer';

let t: TestStack;
let browser: Browser;
let server: http.Server;
let receiverUrl: string;
const received: Array<{ body: string; signature: string | undefined; eventId: string | undefined }> = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ body: Buffer.concat(chunks).toString('utf8'), signature: req.headers[WEBHOOK_SIGNATURE_HEADER] as string | undefined, eventId: req.headers['live-event-id'] as string | undefined });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  [t, browser] = await Promise.all([startTestStack('e2e-web-webhooks', { web: true }), launchBrowser()]);
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await t?.stop();
  server?.close();
}, 90_000);

it('adds an endpoint from the dashboard, shows its secret once, logs the signed delivery and redelivers it', async () => {
  const { webUrl, apiUrl } = t.stack.info;
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 1000 } })).newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(`${webUrl}/signup`);
  await page.getByLabel('Username', { exact: true }).fill(STREAMER);
  await page.getByLabel('Email').fill(`${STREAMER}@example.com`);
  await page.getByLabel('Password', { exact: true }).fill(`pw-${STREAMER}-2025`);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByTestId('account-name').waitFor({ timeout: 10_000 });
  await page.goto(`${webUrl}/dashboard`);
  await page.getByRole('button', { name: 'Create channel' }).click();

  const section = page.getByTestId('webhooks');
  await section.waitFor({ timeout: 15_000 });
  await section.getByLabel('Endpoint URL').fill(receiverUrl);
  await section.getByLabel(/New follower/).check();
  await section.getByTestId('webhook-add').click();
  const secretLocator = section.getByTestId('webhook-secret');
  await secretLocator.waitFor({ timeout: 10_000 });
  const secret = (await secretLocator.textContent())?.trim() ?? '';
  expect(secret).toMatch(/^whsec_/);
  await section.getByTestId('webhook-endpoint').waitFor({ timeout: 10_000 });

  // A follower, through the API.
  const reg = await fetch(`${apiUrl}/api/users/register`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'hook_fan', email: 'hook_fan@example.com', password: 'pw-hook_fan-2025-long' }),
  });
  const { accessToken } = (await reg.json()) as { accessToken: string };
  expect((await fetch(`${apiUrl}/api/channels/${STREAMER}/follow`, { method: 'PUT', headers: { authorization: `Bearer ${accessToken}` } })).status).toBe(204);
  await waitFor('the follow delivered', async () => received.length >= 1, 30_000, 100);
  expect(verifyWebhook(received[0]!.body, received[0]!.signature, secret)).toBeGreaterThan(0);
  expect(JSON.parse(received[0]!.body)).toMatchObject({ type: 'channel.followed', channelId: STREAMER });

  // The log shows the attempt; Redeliver sends the same event again.
  await section.getByTestId('webhook-toggle-log').click();
  const delivery = section.getByTestId('webhook-delivery');
  await delivery.first().waitFor({ timeout: 10_000 });
  expect(await delivery.first().getAttribute('data-status')).toBe('delivered');
  expect(await delivery.first().getByTestId('webhook-attempt').textContent()).toMatch(/204 in \d+ ms/);
  await delivery.first().getByTestId('webhook-redeliver').click();
  await waitFor('the redelivery', async () => received.length >= 2, 30_000, 100);
  expect(received[1]!.eventId).toBe(received[0]!.eventId);
  await expect.poll(async () => {
    await section.getByRole('button', { name: 'Refresh' }).last().click();
    return section.getByTestId('webhook-delivery').count();
  }, { timeout: 15_000 }).toBe(2);
  const dir = process.env.WEB_SCREENSHOT_DIR;
  if (dir) await section.screenshot({ path: join(dir, 'webhooks.png') });

  // Never shown again.
  await page.reload();
  await section.getByTestId('webhook-endpoint').waitFor({ timeout: 15_000 });
  expect(await page.content()).not.toContain(secret);
  expect(errors).toEqual([]);
}, 180_000);
