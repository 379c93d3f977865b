/**
 * Headless Chromium for the chaos test and a monitor of the web player in it: a script in the
 * watch page samples `video.currentTime` every 100 ms and records every fatal hls.js error
 * (`window.__player`, see apps/web/src/usePlayer.ts; re-attached when the player makes a new
 * hls.js instance), so that a kill's stall is measured in the page, not by polling from here.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM_ARGS } from '../../src/testing.js';
import type { PlaybackSample } from './chaos-report.js';

/**
 * Launches Debian's Chromium (`$CHROMIUM_PATH`, default `/usr/bin/chromium`) with
 * {@link CHROMIUM_ARGS} and no timer throttling of pages that are not in front (the chat page
 * and the player page run side by side), at a lower CPU priority (`nice -n 10`, inherited by
 * every Chromium process): the viewers and chatters stand for machines other than the
 * platform's, so on one shared machine they must not take its CPU from the transcoder. Chromium
 * then drops frames before the platform falls behind; a stall is still a stall (the player's
 * clock stops only when it has no media).
 * @throws playwright-core's launch error when the executable is missing.
 */
export async function launchChromium(): Promise<Browser> {
  const executable = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  const wrapper = join(await mkdtemp(join(tmpdir(), 'chromium-nice-')), 'chromium');
  await writeFile(wrapper, `#!/bin/sh\nexec nice -n 10 ${JSON.stringify(executable)} "$@"\n`, { mode: 0o755 });
  return chromium.launch({
    executablePath: wrapper,
    args: [...CHROMIUM_ARGS, '--disable-background-timer-throttling', '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows'],
  });
}

/** One fatal hls.js error as the page saw it: wall-clock ms, `type/details`. */
export interface FatalPlayerError {
  readonly at: number;
  readonly what: string;
}

/**
 * Installed in the watch page: `window.__monitor` with `samples` ([Date.now(), currentTime]
 * every 100 ms), `fatal` (fatal hls.js errors) and `pathway()` (the Content Steering pathway of
 * the levels hls.js plays now, `.` without steering). Plain JavaScript: it runs as is.
 */
const MONITOR_SCRIPT = `(() => {
  if (window.__monitor) return;
  const m = { samples: [], fatal: [], hls: null, instances: 0 };
  m.pathway = () => {
    const h = window.__player && window.__player.hls;
    if (!h || !h.levels || h.levels.length === 0) return null;
    const level = h.levels[Math.max(0, h.loadLevel)] || h.levels[0];
    return level.pathwayId;
  };
  m.quality = () => {
    const v = window.__player && window.__player.video;
    if (!v || !v.getVideoPlaybackQuality) return null;
    const q = v.getVideoPlaybackQuality();
    return { total: q.totalVideoFrames, dropped: q.droppedVideoFrames, height: v.videoHeight };
  };
  setInterval(() => {
    const p = window.__player;
    if (p && p.hls && p.hls !== m.hls) {
      m.hls = p.hls;
      m.instances += 1;
      p.hls.on('hlsError', (_event, data) => {
        if (data.fatal) m.fatal.push({ at: Date.now(), what: data.type + '/' + data.details });
      });
    }
    m.samples.push([Date.now(), p ? p.video.currentTime : NaN]);
  }, 100);
  window.__monitor = m;
})();`;

interface MonitorWindow {
  __monitor?: {
    samples: PlaybackSample[]; fatal: FatalPlayerError[]; instances: number;
    pathway(): string | null; quality(): { total: number; dropped: number; height: number } | null;
  };
}

/** The player of one watch page, watched from the test (see the module comment). */
export class PlayerMonitor {
  /** Every sample read so far, in time order. */
  readonly samples: PlaybackSample[] = [];

  /** Media segment and part responses (`.m4s`) the page received: when, from which origin, HTTP status (the latest 2000). */
  readonly media: Array<{ at: number; origin: string; status: number }> = [];

  private constructor(readonly page: Page) {
    page.on('response', (r) => {
      const url = new URL(r.url());
      if (!url.pathname.endsWith('.m4s')) return;
      this.media.push({ at: Date.now(), origin: url.origin, status: r.status() });
      if (this.media.length > 2000) this.media.splice(0, this.media.length - 2000);
    });
  }

  /**
   * Opens `watchUrl` in a new page of `browser`, waits until the player plays (unpaused,
   * `readyState >= HAVE_FUTURE_DATA`, `currentTime > 0`) and starts sampling.
   * @throws Error with the page's status line when playback does not start within `timeoutMs`.
   */
  static async open(browser: Browser, watchUrl: string, timeoutMs: number): Promise<PlayerMonitor> {
    const page = await browser.newPage({ viewport: { width: 960, height: 540 } });
    await page.goto(watchUrl);
    try {
      await page.waitForFunction(() => {
        const p = (globalThis as unknown as { __player?: { video: { paused: boolean; readyState: number; currentTime: number } } }).__player;
        return !!p && !p.video.paused && p.video.readyState >= 3 && p.video.currentTime > 0;
      }, undefined, { timeout: timeoutMs, polling: 200 });
    } catch (err) {
      const status = await page.locator('[data-testid=player-status]').textContent({ timeout: 1000 }).catch(() => null);
      throw new Error(`playback did not start within ${timeoutMs} ms (status: ${JSON.stringify(status)}): ${(err as Error).message}`);
    }
    await page.evaluate(MONITOR_SCRIPT);
    return new PlayerMonitor(page);
  }

  /**
   * Reads the samples taken since the last call into {@link samples}; returns the latest
   * `currentTime` read while the page had a player (NaN before any: the player is rebuilt
   * after some errors, and has none for a moment).
   */
  async poll(): Promise<number> {
    const fresh = await this.page.evaluate((from) => (globalThis as unknown as MonitorWindow).__monitor!.samples.slice(from), this.samples.length);
    this.samples.push(...fresh);
    for (let i = this.samples.length - 1; i >= 0; i--) if (!Number.isNaN(this.samples[i]![1])) return this.samples[i]![1];
    return Number.NaN;
  }

  /** Every fatal hls.js error so far. */
  fatal(): Promise<FatalPlayerError[]> {
    return this.page.evaluate(() => (globalThis as unknown as MonitorWindow).__monitor!.fatal);
  }

  /** The pathway (edge instance name) hls.js plays from now, or null before levels are known. */
  pathway(): Promise<string | null> {
    return this.page.evaluate(() => (globalThis as unknown as MonitorWindow).__monitor!.pathway());
  }

  /** `getVideoPlaybackQuality()` frames (total, dropped) and the decoded picture height. */
  quality(): Promise<{ total: number; dropped: number; height: number } | null> {
    return this.page.evaluate(() => (globalThis as unknown as MonitorWindow).__monitor!.quality());
  }

  /** How many hls.js instances the page has had (more than one: the player rebuilt itself). */
  instances(): Promise<number> {
    return this.page.evaluate(() => (globalThis as unknown as MonitorWindow).__monitor!.instances);
  }

  /** The page's status line (`[data-testid=player-status]`). */
  status(): Promise<string | null> {
    return this.page.locator('[data-testid=player-status]').textContent({ timeout: 1000 }).catch(() => null);
  }
}
