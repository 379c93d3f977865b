/**
 * Browser helpers for this package's tests and the whole-stack e2e test: launch Debian's
 * Chromium through playwright-core (never `playwright install`) and measure playback of the
 * player page through `window.__player` (see src/usePlayer.ts).
 */
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { DomainEvent } from '@live/events';
import { CHROMIUM_ARGS, waitFor } from '@live/dev/testing';
import type { PlayerHandle } from '../src/usePlayer';

/**
 * Launches headless Chromium at `$CHROMIUM_PATH` (default `/usr/bin/chromium`).
 * The caller closes it (`await browser.close()`).
 * @throws when the executable is missing or fails to start (playwright-core's launch error).
 */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [...CHROMIUM_ARGS],
  });
}

/**
 * axe-core's serious and critical violations on the page as it is now (WCAG 2.x rules as axe
 * runs them by default), as `rule (impact): first targets` lines; [] when there are none.
 */
export async function seriousViolations(page: Page): Promise<string[]> {
  const { violations } = await new AxeBuilder({ page }).analyze();
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
}

/** Saves a full-page screenshot as `<WEB_SCREENSHOT_DIR>/<name>.png` when that variable is set; does nothing otherwise. */
export async function saveScreenshot(page: Page, name: string): Promise<void> {
  const dir = process.env.WEB_SCREENSHOT_DIR;
  if (dir) await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
}

/** One rendition as hls.js parsed it from the master playlist. `bitrate` in bits per second. */
export interface MeasuredLevel {
  readonly height: number;
  readonly width: number;
  readonly bitrate: number;
}

/**
 * Result of {@link measurePlayback}: `video.currentTime` (seconds) when measuring started and
 * ended, their difference, and hls.js' levels (empty when the browser played HLS natively).
 */
export interface PlaybackMeasurement {
  readonly startTime: number;
  readonly endTime: number;
  readonly advancedSeconds: number;
  readonly levels: readonly MeasuredLevel[];
}

/** Options of {@link measurePlayback}. */
export interface MeasureOptions {
  /** Wall-clock seconds to let the video play between the two readings. */
  readonly seconds: number;
  /** How long to wait for playback to start first, in ms (default 20 000). */
  readonly startTimeoutMs?: number;
}

type PlayerWindow = Window & { __player?: PlayerHandle };

/**
 * Waits until the page's player is actually playing (`window.__player` exists, the video is
 * unpaused with `readyState >= HAVE_FUTURE_DATA` and `currentTime > 0`), reads
 * `video.currentTime`, waits `seconds`, and reads it again.
 * @throws Error when playback does not start within `startTimeoutMs`; the message carries
 *   the page's status line (`[data-testid=player-status]`), e.g. the hls.js error details.
 */
export async function measurePlayback(page: Page, { seconds, startTimeoutMs = 20_000 }: MeasureOptions): Promise<PlaybackMeasurement> {
  try {
    await page.waitForFunction(
      () => {
        const p = (window as PlayerWindow).__player;
        return !!p && !p.video.paused && p.video.readyState >= 3 && p.video.currentTime > 0;
      },
      undefined,
      { timeout: startTimeoutMs, polling: 100 },
    );
  } catch (err) {
    const status = await page
      .locator('[data-testid=player-status]')
      .textContent({ timeout: 1000 })
      .catch(() => null);
    throw new Error(
      `playback did not start within ${startTimeoutMs} ms (status: ${JSON.stringify(status)}): ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  const startTime = await page.evaluate(() => (window as PlayerWindow).__player?.video.currentTime ?? Number.NaN);
  await page.waitForTimeout(seconds * 1000);
  const end = await page.evaluate(() => {
    const p = (window as PlayerWindow).__player;
    return {
      endTime: p?.video.currentTime ?? Number.NaN,
      levels: (p?.hls?.levels ?? []).map((l) => ({ height: l.height, width: l.width, bitrate: l.bitrate })),
    };
  });
  return { startTime, endTime: end.endTime, advancedSeconds: end.endTime - startTime, levels: end.levels };
}

/** Pages of one test file's browser (see {@link browserPages}). */
export interface BrowserPages {
  /** A page in a fresh browser context (its own localStorage, so its own sign-in), 1280×`height`; its uncaught errors go to the file's list. */
  freshPage(height?: number): Promise<Page>;
  /** Saves a full-page screenshot as `<name>.png` in `$WEB_SCREENSHOT_DIR`, when that is set. */
  snap(page: Page, name: string): Promise<void>;
  /** Signs a new user up through `/signup` (password `pw-<username>-2025`) and waits until the header names them. */
  signUp(page: Page, username: string): Promise<void>;
  /** Signs a user made by {@link BrowserPages.signUp} in through `/signin`. */
  signIn(page: Page, username: string): Promise<void>;
}

/**
 * The page helpers the web e2e tests share, for `browser` and the web app at `webUrl()` (read
 * when called: the stack starts after the helpers are made); uncaught page errors are pushed
 * to `pageErrors` (a test then expects it empty).
 */
export function browserPages(browser: () => Browser, webUrl: () => string, pageErrors: string[]): BrowserPages {
  const password = (username: string) => `pw-${username}-2025`;
  return {
    async freshPage(height = 800) {
      const context = await browser().newContext({ viewport: { width: 1280, height } });
      const page = await context.newPage();
      page.on('pageerror', (err) => pageErrors.push(err.message));
      return page;
    },
    async snap(page, name) {
      const dir = process.env.WEB_SCREENSHOT_DIR;
      if (dir) await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
    },
    async signUp(page, username) {
      await page.goto(`${webUrl()}/signup`);
      await page.getByLabel('Username', { exact: true }).fill(username);
      await page.getByLabel('Email').fill(`${username}@example.com`);
      await page.getByLabel('Password', { exact: true }).fill(password(username));
      await page.getByRole('button', { name: 'Create account' }).click();
      await page.getByTestId('account-name').waitFor({ timeout: 10_000 });
    },
    async signIn(page, username) {
      await page.goto(`${webUrl()}/signin`);
      await page.getByLabel('Username or email').fill(username);
      await page.getByLabel('Password', { exact: true }).fill(password(username));
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByTestId('account-name').waitFor({ timeout: 10_000 });
    },
  };
}

/** The chat's message texts, in order, as the page shows them. */
export function chatTexts(page: Page): Promise<string[]> {
  return page.getByTestId('chat-panel').getByTestId('chat-text').allTextContents();
}

/** Waits (up to 20 s) until the page's chat says it is connected (`data-connection="open"` on the panel). */
export async function waitForChatOpen(page: Page): Promise<void> {
  await page.locator('[data-testid="chat-panel"][data-connection="open"]').waitFor({ timeout: 20_000 });
}

/**
 * Waits (up to 150 s) for the broadcast's recording: the channel's `VodReady` (or a
 * `StreamFailed`) in `channelEvents()` (a TestStack's), and returns the VOD's session id.
 * @throws when the stream failed, or on timeout (waitFor's error).
 */
export async function waitForVodReady(t: { channelEvents(): Promise<DomainEvent[]> }): Promise<string> {
  const events = await waitFor('VodReady', async () => {
    const evs = await t.channelEvents();
    return evs.some((e) => e.type === 'VodReady' || e.type === 'StreamFailed') ? evs : undefined;
  }, 150_000, 1000);
  const failed = events.find((e) => e.type === 'StreamFailed');
  if (failed) throw new Error(`the stream failed: ${JSON.stringify(failed.data)}`);
  return events.filter((e): e is Extract<DomainEvent, { type: 'VodReady' }> => e.type === 'VodReady').at(-1)!.data.sessionId;
}
