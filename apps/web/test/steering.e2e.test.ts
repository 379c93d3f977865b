/**
 * Players fail over between edges (issue 18, item 3): HLS Content Steering (RFC 8216bis
 * §4.4.6.6). The stack's edge is pathway `edge-a` (the page reaches it through `vite preview`'s
 * `/live` proxy); a second edge process over the same storage, database and key ring is
 * `edge-b`; the API's `EDGE_PATHWAYS` lists both. Headless Chromium plays the demo channel's
 * live stream through edge A; edge A is SIGKILLed; hls.js moves to edge B's variants (listed
 * absolute in the master playlist) and `video.currentTime` keeps advancing, with no fatal
 * hls.js error. Then, in the same playback: A restarts and B is killed (back to A), B restarts
 * and A is killed again while hls.js still penalizes B from its failure (a fatal error, which
 * the player answers by loading B's master playlist). Prints the longest stall of
 * `currentTime` after each kill.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import pino from 'pino';
import type { Browser, Page } from 'playwright-core';
import { appArgs, freePort, ManagedProcess, startStack, waitForHttp, type RunningStack } from '@live/dev';
import { publishTestPattern, waitFor, type Publisher } from '@live/dev/testing';
import { launchBrowser, measurePlayback } from './browser.js';
import type { PlayerHandle } from '../src/usePlayer';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const logFile = join(mkdtempSync(join(tmpdir(), 'e2e-steering-')), 'stack.log');
const logger = pino({ level: 'debug' }, pino.destination({ dest: logFile, sync: false }));

let stack: RunningStack;
let edgeB: ManagedProcess | undefined;
let publisher: Publisher | undefined;
let browser: Browser | undefined;
let edgeAUrl = '';
let edgeBUrl = '';
/** The page of the first test, still playing (the next ones continue it). */
let playing: Page | undefined;
let startEdgeB: () => Promise<void>;

/** The API's PATHWAY-PRIORITY for a player on `pathway`. */
async function priorityFor(pathway: string): Promise<string> {
  const m = await (await fetch(`${stack.info.apiUrl}/api/streams/${stack.info.demoChannelId}/steering?_HLS_pathway=${pathway}`)).json() as { 'PATHWAY-PRIORITY': string[] };
  return m['PATHWAY-PRIORITY'].join();
}

type PlayerWindow = Window & { __player?: PlayerHandle; __fatal?: string[]; __pathways?: string[] };

beforeAll(async () => {
  const [portA, portB] = [await freePort(), await freePort()];
  edgeAUrl = `http://127.0.0.1:${portA}`;
  edgeBUrl = `http://127.0.0.1:${portB}`;
  const jwtKeys = `ksteer:${randomBytes(32).toString('base64url')}`;
  const pathways = `edge-a=${edgeAUrl},edge-b=${edgeBUrl}`;
  // appEnv reaches every app: the API reads EDGE_PATHWAYS (and checks both edges), the stack's
  // edge becomes pathway edge-a; the other apps ignore these settings.
  stack = await startStack({
    logger, persistent: false, name: `e2e-steering-${process.pid}`, stackFile: null, web: true, ports: { edge: portA },
    appEnv: {
      JWT_KEYS: jwtKeys, EDGE_PATHWAYS: pathways, EDGE_PATHWAY_ID: 'edge-a', EDGE_STEERING_URL: '/api/streams',
      STEERING_TTL_SECONDS: '2', EDGE_HEALTH_INTERVAL_MS: '500',
    },
  });
  const { info } = stack;
  expect(info.edgeUrl, 'the stack\'s edge took the port chosen for edge-a').toBe(edgeAUrl);
  const edgeCreds = info.natsCredentials.edge;
  const env = {
    ...process.env, DATABASE_URL: info.databaseUrl, STORAGE_DIR: info.storageDir, NATS_URL: info.natsUrl,
    ...(edgeCreds ? { NATS_USER: edgeCreds.user, NATS_PASSWORD: edgeCreds.password } : {}),
    JWT_KEYS: jwtKeys, EDGE_PORT: String(portB), EDGE_PATHWAY_ID: 'edge-b', EDGE_STEERING_URL: '/api/streams', EDGE_PATHWAYS: pathways, LOG_LEVEL: 'info',
  };
  startEdgeB = async () => {
    edgeB = new ManagedProcess({ service: 'edge-b', command: process.execPath, args: appArgs('edge', 'source'), cwd: REPO_ROOT, logger, env });
    await waitForHttp(`${edgeBUrl}/healthz`, edgeB, 90_000);
  };
  await startEdgeB();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  publisher?.child.kill('SIGINT');
  await publisher?.done;
  await edgeB?.stop();
  await stack?.stop();
  console.log(`stack log: ${logFile}`);
}, 120_000);

/** `video.currentTime` of the page's player (NaN without one). */
const currentTime = (page: Page): Promise<number> => page.evaluate(() => (window as PlayerWindow).__player?.video.currentTime ?? Number.NaN);

/**
 * Samples `currentTime` every 100 ms until it is `seconds` past `from` (at most 60 s).
 * @returns the longest time it did not advance, ms.
 */
async function followPlayback(page: Page, from: number, seconds: number): Promise<number> {
  let lastAdvance = Date.now();
  let last = from;
  let longest = 0;
  await waitFor(`playback ${seconds} s further`, async () => {
    const t = await currentTime(page);
    const now = Date.now();
    if (t > last + 0.01) {
      longest = Math.max(longest, now - lastAdvance);
      lastAdvance = now;
      last = t;
    }
    return t >= from + seconds;
  }, 60_000, 100);
  return longest;
}

it('keeps playing through edge B after edge A is killed', async () => {
  const { info } = stack;
  publisher = publishTestPattern(`${info.rtmpUrl}/${info.demoStreamKey}`, { seconds: 150, width: 640, height: 360, fps: 30, videoKbps: 800 });
  const masterA = `${edgeAUrl}/live/${info.demoChannelId}/master.m3u8`;
  await waitFor('live master playlist on edge A', async () => (await fetch(masterA)).ok, 60_000);
  // The master lists both pathways: edge-a relative, edge-b absolute on edge B.
  const master = await (await fetch(masterA)).text();
  expect(master).toMatch(/^#EXT-X-CONTENT-STEERING:SERVER-URI="\/api\/streams\/[^"]+\/steering",PATHWAY-ID="edge-a"$/m);
  expect(master).toContain(`${edgeBUrl}/live/${info.demoChannelId}/`);

  browser = await launchBrowser();
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  const steering: Array<{ url: string; status: number }> = [];
  const fromB: string[] = [];
  page.on('response', (r) => {
    const url = r.url();
    if (url.includes('/steering?')) steering.push({ url, status: r.status() });
    if (url.startsWith(edgeBUrl) && r.status() === 200) fromB.push(url);
  });
  await page.goto(info.demoWatchUrl);
  await measurePlayback(page, { seconds: 2, startTimeoutMs: 45_000 });
  await page.evaluate(() => {
    const w = window as PlayerWindow;
    w.__fatal = [];
    w.__player!.hls!.on('hlsError' as never, ((_e: string, d: { fatal: boolean; details: string }) => {
      if (d.fatal) w.__fatal!.push(d.details);
    }) as never);
  });
  // hls.js follows the steering manifest (the full build's ContentSteeringController) and starts on edge-a.
  await waitFor('a steering manifest loaded', async () => steering.some((s) => s.status === 200 && s.url.includes('_HLS_pathway=edge-a')), 20_000, 200);
  expect(await page.evaluate(() => (window as PlayerWindow).__player!.hls!.pathways)).toEqual(['edge-a', 'edge-b']);
  expect(fromB).toEqual([]);

  // Kill edge A; sample currentTime every 100 ms to find the longest stall.
  const before = await currentTime(page);
  const killedAt = Date.now();
  process.kill(stack.apps.get('edge')!.pid, 'SIGKILL');
  const longestStallMs = await followPlayback(page, before, 6);
  console.log(`edge A killed: longest playback stall ${longestStallMs} ms; ${fromB.length} responses from edge B within ${Date.now() - killedAt} ms`);

  expect(fromB.some((u) => /\.m4s/.test(u)), 'media came from edge B').toBe(true);
  // The playback token went to edge B (a pathway of the same-origin master), never to the steering server.
  expect(fromB.every((u) => u.includes('token='))).toBe(true);
  expect(steering.every((s) => !s.url.includes('token='))).toBe(true);
  expect(await page.evaluate(() => (window as PlayerWindow).__fatal)).toEqual([]);
  // The API saw edge A die: edge-b first for everyone.
  const m = await (await fetch(`${info.apiUrl}/api/streams/${info.demoChannelId}/steering?_HLS_pathway=edge-a`)).json() as { 'PATHWAY-PRIORITY': string[] };
  expect(m['PATHWAY-PRIORITY']).toEqual(['edge-b', 'edge-a']);
  if (process.env.WEB_PLAYER_SCREENSHOT) await page.screenshot({ path: process.env.WEB_PLAYER_SCREENSHOT });
  playing = page;
}, 240_000);

it('goes back to edge A when edge B dies after A came back', async () => {
  const page = playing!;
  const { info } = stack;
  await stack.restartApp('edge');
  // from edge-a's point of view: [edge-a, edge-b] once it passes its checks again
  await waitFor('the API sees edge A again', async () => (await priorityFor('edge-a')) === 'edge-a,edge-b', 30_000, 200);
  const fromA: string[] = [];
  page.on('response', (r) => {
    if (r.url().startsWith(info.webUrl) && /\.m4s/.test(r.url()) && r.status() === 200) fromA.push(r.url());
  });
  const before = await currentTime(page);
  process.kill(edgeB!.pid, 'SIGKILL');
  const stall = await followPlayback(page, before, 6);
  const fatal = await page.evaluate(() => (window as PlayerWindow).__fatal);
  console.log(`edge B killed: longest playback stall ${stall} ms; fatal hls.js errors ${JSON.stringify(fatal)}`);
  expect(fromA.length, 'media came from edge A again').toBeGreaterThan(0);
}, 240_000);

it('reaches edge B again when edge A dies while hls.js still penalizes B (the player loads B\'s master)', async () => {
  const page = playing!;
  await startEdgeB();
  await waitFor('the API sees edge B again', async () => (await priorityFor('edge-b')) === 'edge-b,edge-a', 30_000, 200);
  const fromB: string[] = [];
  page.on('response', (r) => {
    if (r.url().startsWith(edgeBUrl) && /\.m4s/.test(r.url()) && r.status() === 200) fromB.push(r.url());
  });
  const before = await currentTime(page);
  process.kill(stack.apps.get('edge')!.pid, 'SIGKILL');
  const stall = await followPlayback(page, before, 6);
  const fatal = await page.evaluate(() => (window as PlayerWindow).__fatal);
  console.log(`edge A killed again: longest playback stall ${stall} ms; fatal hls.js errors ${JSON.stringify(fatal)}`);
  expect(fromB.length, 'media came from edge B again').toBeGreaterThan(0);
}, 240_000);
