/**
 * The web app against a real HLS origin: ffmpeg renders 12 s of two-rendition fMP4 HLS,
 * a node:http server in this file serves it under the edge's URL layout (`/sessions/<id>/…`
 * for VOD, `/live/<channelId>/…` for a live stream whose playlist grows in real time) and
 * serves `GET /api/streams` (our API's documented contract). The built app runs under
 * `vite preview` with API_URL/EDGE_URL pointed at those servers; headless Chromium drives it.
 *
 * Set WEB_PLAYER_SCREENSHOT=/path.png to save a screenshot of the VOD player page.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { StreamsResponse } from '../src/api';
import { launchBrowser, measurePlayback } from './browser';

const execFileP = promisify(execFile);
const webRoot = dirname(dirname(fileURLToPath(import.meta.url)));
const viteBin = join(dirname(createRequire(import.meta.url).resolve('vite/package.json')), 'bin', 'vite.js');
const FFMPEG = process.env.FFMPEG_PATH ?? 'ffmpeg';

/** Seconds of media and the HLS segment duration (one GOP per segment). */
const MEDIA_SECONDS = 12;
/** Live simulation: segments already in the live playlist at the first request; one more per second after. */
const LIVE_INITIAL_SEGMENTS = 6;

let work: string;
let origin: Server;
let api: Server;
let preview: ChildProcess | undefined;
let previewLog = '';
let browser: Browser;
let baseUrl: string;

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return (server.address() as AddressInfo).port;
}

async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

function close(server: Server | undefined): Promise<void> {
  if (!server?.listening) return Promise.resolve();
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** 12 s of testsrc2 + 440 Hz sine as fMP4 HLS: master `vod.m3u8`, renditions 360p and 240p, plus an MP4. */
async function renderHls(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  // prettier-ignore
  await execFileP(FFMPEG, [
    '-hide_banner', '-loglevel', 'error',
    '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', String(MEDIA_SECONDS),
    '-filter_complex', '[0:v]split=2[a][b];[a]scale=640:360[v0];[b]scale=426:240[v1]',
    '-map', '[v0]', '-map', '[v1]', '-map', '1:a', '-map', '1:a',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p',
    // A keyframe every second and no scene-cut keyframes: every 1 s segment starts with an IDR.
    '-g', '30', '-keyint_min', '30', '-sc_threshold', '0',
    '-b:v:0', '800k', '-b:v:1', '400k',
    '-c:a', 'aac', '-b:a', '96k', '-ac', '2',
    '-f', 'hls', '-hls_time', '1', '-hls_playlist_type', 'vod', '-hls_segment_type', 'fmp4',
    '-hls_flags', 'independent_segments', '-master_pl_name', 'vod.m3u8',
    '-var_stream_map', 'v:0,a:0,name:360p v:1,a:1,name:240p',
    '-hls_segment_filename', '%v/seg_%03d.m4s', '%v/index.m3u8',
  ], { cwd: dir });
  await execFileP(FFMPEG, ['-hide_banner', '-loglevel', 'error', '-i', 'vod.m3u8', '-c', 'copy', '-map', '0:p:0', '-movflags', '+faststart', 'vod.mp4'], { cwd: dir });
}

const CONTENT_TYPES: Record<string, string> = {
  m3u8: 'application/vnd.apple.mpegurl',
  m4s: 'video/iso.segment',
  mp4: 'video/mp4',
};

/**
 * Edge-like origin over `root`: files under /sessions/…, and /live/c1/… mapped onto session s1
 * with the rendition playlists rewritten as a live playlist that gains one segment per second.
 */
function createOrigin(root: string): Server {
  let liveClock: number | undefined;
  const sendFile = async (res: import('node:http').ServerResponse, file: string) => {
    const resolved = normalize(file);
    if (!resolved.startsWith(root + sep)) return void res.writeHead(403).end();
    try {
      const st = await stat(resolved);
      const ext = resolved.split('.').pop() ?? '';
      res.writeHead(200, { 'content-type': CONTENT_TYPES[ext] ?? 'application/octet-stream', 'content-length': st.size });
      createReadStream(resolved).pipe(res);
    } catch {
      res.writeHead(404).end();
    }
  };
  return createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const live = /^\/live\/c1\/(.+)$/.exec(path);
    if (live?.[1] !== undefined) {
      const rest = live[1];
      if (rest === 'master.m3u8') return void sendFile(res, join(root, 'sessions/s1/vod.m3u8'));
      const media = /^([^/]+)\/index\.m3u8$/.exec(rest);
      if (media?.[1] !== undefined) {
        liveClock ??= Date.now();
        const available = LIVE_INITIAL_SEGMENTS + Math.floor((Date.now() - liveClock) / 1000);
        void readFile(join(root, 'sessions/s1', media[1], 'index.m3u8'), 'utf8').then(
          (vod) => {
            res.writeHead(200, { 'content-type': CONTENT_TYPES.m3u8!, 'cache-control': 'no-cache' });
            res.end(toLivePlaylist(vod, available));
          },
          () => res.writeHead(404).end(),
        );
        return;
      }
      return void sendFile(res, join(root, 'sessions/s1', rest));
    }
    if (path.startsWith('/sessions/')) return void sendFile(res, join(root, path));
    res.writeHead(404).end();
  });
}

/** The first `count` segments of a VOD media playlist, without PLAYLIST-TYPE/ENDLIST until all are in. */
function toLivePlaylist(vod: string, count: number): string {
  const lines = vod.split('\n').filter((l) => l !== '' && l !== '#EXT-X-ENDLIST' && !l.startsWith('#EXT-X-PLAYLIST-TYPE'));
  const out: string[] = [];
  let segments = 0;
  let total = 0;
  for (const l of lines) if (!l.startsWith('#')) total += 1;
  for (const l of lines) {
    if (segments >= count) break;
    out.push(l);
    if (!l.startsWith('#')) segments += 1;
  }
  if (count >= total) out.push('#EXT-X-ENDLIST');
  return out.join('\n') + '\n';
}

const now = Date.now();
const streams: StreamsResponse = {
  items: [
    {
      sessionId: 's2',
      channelId: 'c1',
      channelName: 'Test Channel',
      title: 'Live test pattern',
      status: 'live',
      startedAt: new Date(now - 60_000).toISOString(),
      endedAt: null,
      playbackUrl: '/live/c1/master.m3u8',
      vodUrl: null,
      vodMp4Url: null,
      renditions: ['360p', '240p'],
    },
    {
      sessionId: 's1',
      channelId: 'c1',
      channelName: 'Test Channel',
      // Markup in a title must show up as text.
      title: 'Recorded <b>pattern</b>',
      status: 'vod',
      startedAt: new Date(now - 3_600_000).toISOString(),
      endedAt: new Date(now - 3_600_000 + MEDIA_SECONDS * 1000).toISOString(),
      playbackUrl: null,
      vodUrl: '/sessions/s1/vod.m3u8',
      vodMp4Url: '/sessions/s1/vod.mp4',
      renditions: ['360p', '240p'],
    },
  ],
};

async function waitForHttp(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} not up after ${timeoutMs} ms; vite output:\n${previewLog}`);
    if (preview?.exitCode !== null) throw new Error(`vite preview exited (${preview?.exitCode}):\n${previewLog}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function newPage(): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  page.on('pageerror', (err) => console.error('[page error]', err.message));
  return page;
}

describe('web app against a real HLS origin', () => {
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'web-int-'));
    const outDir = join(work, 'dist');
    const [, , browserLaunched] = await Promise.all([
      renderHls(join(work, 'sessions', 's1')),
      execFileP(process.execPath, [viteBin, 'build', '--outDir', outDir, '--emptyOutDir', '--logLevel', 'warn'], { cwd: webRoot }),
      launchBrowser(),
    ]);
    browser = browserLaunched;

    origin = createOrigin(work);
    api = createServer((req, res) => {
      if (req.method === 'GET' && req.url === '/api/streams') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(streams));
      } else {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'NOT_FOUND', message: 'no route' }));
      }
    });
    const [originPort, apiPort, webPort] = await Promise.all([listen(origin), listen(api), freePort()]);

    preview = spawn(process.execPath, [viteBin, 'preview', '--outDir', outDir], {
      cwd: webRoot,
      env: { ...process.env, API_URL: `http://127.0.0.1:${apiPort}`, EDGE_URL: `http://127.0.0.1:${originPort}`, WEB_PORT: String(webPort) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    preview.stdout?.on('data', (d: Buffer) => (previewLog += d.toString()));
    preview.stderr?.on('data', (d: Buffer) => (previewLog += d.toString()));
    baseUrl = `http://127.0.0.1:${webPort}`;
    await waitForHttp(`${baseUrl}/`, 15_000);
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    if (preview && preview.exitCode === null) {
      const exited = new Promise((r) => preview?.once('exit', r));
      preview.kill('SIGTERM');
      await exited;
    }
    await Promise.all([close(origin), close(api)]);
    if (work) await rm(work, { recursive: true, force: true });
  }, 20_000);

  it('lists the live stream first and the VOD, then plays the VOD with both renditions', async () => {
    const page = await newPage();
    await page.goto(`${baseUrl}/`);
    const items = page.getByTestId('stream-item');
    await expect.poll(() => items.count(), { timeout: 10_000 }).toBe(2);
    expect(await items.nth(0).getAttribute('data-session-id')).toBe('s2');
    const vod = page.locator('[data-testid=stream-item][data-session-id=s1]');
    expect(await vod.textContent()).toContain('Recorded <b>pattern</b>');
    expect(await vod.locator('b').count()).toBe(0);

    await vod.getByRole('link').click();
    await page.waitForURL(`${baseUrl}/watch/vod/s1`);

    const m = await measurePlayback(page, { seconds: 4 });
    expect(m.advancedSeconds).toBeGreaterThanOrEqual(3);
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
    await expect.poll(playingLevel, { timeout: 5_000 }).toBe(idx240);
    await expect.poll(() => page.getByTestId('player-status').getAttribute('data-state'), { timeout: 5_000 }).toMatch(/playing|ended/);

    const download = page.getByTestId('download-mp4');
    expect(await download.getAttribute('href')).toBe('/sessions/s1/vod.mp4');
    const mp4 = await fetch(`${baseUrl}/sessions/s1/vod.mp4`);
    expect(mp4.status).toBe(200);
    expect(mp4.headers.get('content-type')).toBe('video/mp4');

    if (process.env.WEB_PLAYER_SCREENSHOT) await page.screenshot({ path: process.env.WEB_PLAYER_SCREENSHOT });
    await page.close();
  }, 40_000);

  it('plays a live stream behind the live edge with the LIVE badge', async () => {
    const page = await newPage();
    await page.goto(`${baseUrl}/watch/live/c1`);
    await expect.poll(() => page.getByTestId('live-badge').isVisible(), { timeout: 5_000 }).toBe(true);
    const m = await measurePlayback(page, { seconds: 3.5 });
    expect(m.advancedSeconds).toBeGreaterThanOrEqual(3);
    expect(m.levels).toHaveLength(2);
    expect(await page.evaluate(() => (window as Window & { __player?: { hls: { config: { liveSyncDurationCount: number } } | null } }).__player?.hls?.config.liveSyncDurationCount)).toBe(3);
    await page.close();
  }, 40_000);

  it('reports hls.js error details and keeps retrying when a channel is not live', async () => {
    const page = await newPage();
    await page.goto(`${baseUrl}/watch/live/nobody`);
    const status = page.getByTestId('player-status');
    await expect.poll(() => status.getAttribute('data-state'), { timeout: 10_000 }).toBe('error');
    expect(await status.textContent()).toMatch(/networkError\/manifestLoadError \(HTTP 404\) — retrying in \d+ s/);
    await page.close();
  }, 20_000);

  it('shows the error state when the API is unreachable', async () => {
    await close(api);
    const page = await newPage();
    await page.goto(`${baseUrl}/`);
    const banner = page.getByTestId('streams-error');
    await expect.poll(() => banner.isVisible(), { timeout: 10_000 }).toBe(true);
    expect(await banner.textContent()).toContain('Can’t reach the streams API');
    expect(await page.getByTestId('stream-item').count()).toBe(0);
    await page.close();
  }, 20_000);
});
