/**
 * Browser test on the whole embedded stack (issue 5, content encryption + DVR): the demo
 * channel's playback policy turns AES-128 encryption on (keys rotating every 3 segments), a real
 * ffmpeg publishes, and headless Chromium plays the live stream through the web app's player,
 * which first gets a playback token from the API. Without a token the edge refuses the stream's
 * segments and keys (401). While live the viewer seeks back 10 s and returns to the live edge.
 * After the publisher stops, the VOD of the encrypted session plays too. Finally the channel
 * becomes followers-only and an anonymous viewer sees the refusal instead of a player error.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { channelSubject, domainEvent, systemClock, type DomainEvent } from '@live/events';
import { appendEvent } from '@live/messaging';
import { publishTestPattern, startTestStack, waitFor, type Publisher, type TestStack } from '@live/dev/testing';
import type { PlayerHandle } from '../src/usePlayer';
import { launchBrowser, measurePlayback } from './browser.js';

let t: TestStack;
let publisher: Publisher | undefined;
let browser: Browser | undefined;
let page: Page | undefined;
/** The recorded session (set by the VOD test). */
let vodSessionId: string | undefined;

type PlayerWindow = Window & { __player?: PlayerHandle };

/**
 * The worker's DVR window in this test (seconds): short, so the live playlists slide during the
 * test, and long enough that a seek 10 s back lands well inside it (a target that the window
 * slides past before its segment loads makes hls.js jump back to the live edge).
 */
const DVR_WINDOW_SECONDS = 24;

async function playbackToken(id: string): Promise<string> {
  const res = await fetch(`${t.stack.info.apiUrl}/api/streams/${id}/playback-token`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}',
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

beforeAll(async () => {
  // a short DVR window, so the live playlists slide during the test (the VOD must still cover everything)
  t = await startTestStack('e2e-encrypted', { web: true, appEnv: { DVR_WINDOW_SECONDS: String(DVR_WINDOW_SECONDS) } });
  const { info } = t.stack;
  await appendEvent(t.messaging.js, domainEvent(systemClock, 'ChannelPlaybackPolicyChanged', channelSubject(info.demoChannelId), {
    channelId: info.demoChannelId, visibility: 'public', allowList: [], encryption: { enabled: true, rotateEverySegments: 3 }, actorUserId: null, bindAddress: false,
  }, { producer: 'encrypted-e2e' }));
  // projected: the edge now wants a token for the channel's playlists
  await waitFor('policy projected (edge answers 401 without a token)', async () => (await fetch(info.demoPlaybackUrl)).status === 401, 30_000);
}, 240_000);

afterAll(async () => {
  await browser?.close();
  publisher?.child.kill('SIGINT');
  await publisher?.done;
  await t?.stop();
}, 90_000);

it('plays the encrypted live stream with a token (≥ 2.5 s in 5 s), refuses its segments and keys without one, seeks back and returns live', async () => {
  const { info } = t.stack;
  publisher = publishTestPattern(`${info.rtmpUrl}/${info.demoStreamKey}`, { seconds: 75, width: 1280, height: 720, fps: 30, videoKbps: 2500 });
  const token = await playbackToken(info.demoChannelId);
  await waitFor('live master playlist', async () => (await fetch(`${info.demoPlaybackUrl}?token=${token}`)).ok, 60_000);

  // the media playlist: encrypted segments, the key URIs carry the token (edge rewrite)
  const master = await (await fetch(`${info.demoPlaybackUrl}?token=${token}`)).text();
  const variant = master.split('\n').find((l) => l && !l.startsWith('#'))!;
  const base = new URL(info.demoPlaybackUrl);
  const media = await (await fetch(new URL(variant, base))).text();
  // one key tag per key period, without IV: each segment's IV is its Media Sequence Number (RFC 8216bis §5.2);
  // the token by reference: EXT-X-DEFINE:QUERYPARAM takes it from the media playlist's URL (RFC 8216bis §4.3)
  expect(media).toMatch(/^#EXT-X-DEFINE:QUERYPARAM="token"$/m);
  expect(media).toMatch(/^#EXT-X-KEY:METHOD=AES-128,URI="\/keys\/[^"?]+\/\d+\.key\?token=\{\$token\}"$/m);
  expect(media).not.toContain(token);
  const mediaUrl = new URL(variant, base);
  const substitute = (uri: string) => uri.replaceAll('{$token}', encodeURIComponent(mediaUrl.searchParams.get('token')!));
  const segmentUri = substitute(media.split('\n').find((l) => l && !l.startsWith('#'))!);
  const keyUri = substitute(/#EXT-X-KEY:METHOD=AES-128,URI="([^"]+)"/.exec(media)![1]!);
  const segmentUrl = new URL(segmentUri, mediaUrl);
  const keyUrl = new URL(keyUri, mediaUrl);
  expect((await fetch(segmentUrl)).status).toBe(200);
  const key = await fetch(keyUrl);
  expect(key.status).toBe(200);
  expect((await key.arrayBuffer()).byteLength).toBe(16);
  segmentUrl.searchParams.delete('token');
  keyUrl.searchParams.delete('token');
  expect((await fetch(segmentUrl)).status).toBe(401);
  expect((await fetch(keyUrl)).status).toBe(401);

  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  const keyRequests: string[] = [];
  page.on('request', (r) => {
    if (r.url().includes('/keys/')) keyRequests.push(r.url());
  });
  await page.goto(info.demoWatchUrl);
  const result = await measurePlayback(page, { seconds: 5, startTimeoutMs: 45_000 });
  expect(result.advancedSeconds).toBeGreaterThanOrEqual(2.5); // of 5 s of wall-clock time: at least half
  expect(keyRequests.length).toBeGreaterThan(0);
  for (const u of keyRequests) expect(new URL(u).searchParams.get('token')).toBeTruthy();

  // DVR: seek back 10 s while live, the page says how far behind, "Go live" returns to the edge
  await waitFor('a seekable window of 20 s', async () => (await page!.evaluate(() => {
    const v = (window as PlayerWindow).__player!.video;
    return v.seekable.length > 0 ? v.seekable.end(v.seekable.length - 1) - v.seekable.start(0) : 0;
  })) >= 20, 60_000, 1000);
  // 10 s back, but at least 6 s inside the window's start: a playhead that lags the edge (a loaded
  // machine) would otherwise seek to where the window is about to slide past
  await page.evaluate(() => {
    const v = (window as PlayerWindow).__player!.video;
    v.currentTime = Math.max(v.seekable.start(0) + 6, v.currentTime - 10);
  });
  await waitFor('behind live ≥ 8 s shown', async () => Number(await page!.getByTestId('behind-live').getAttribute('data-seconds')) >= 8, 30_000, 250);
  await expect(page.getByTestId('behind-live').textContent()).resolves.toMatch(/behind live/);
  const playingBehind = await page.evaluate(() => !(window as PlayerWindow).__player!.video.paused);
  expect(playingBehind).toBe(true);
  await page.getByTestId('go-live').click();
  await waitFor('back at the live edge', async () => Number(await page!.getByTestId('behind-live').getAttribute('data-seconds')) <= 3, 30_000, 250);

  // The policy is set again (same rules, a new version): the edge refuses the player's token as
  // stale within its policy cache; the player asks the API for a new token once and plays on.
  const refused: Array<{ token: string | null; code: Promise<unknown> }> = [];
  const served: Array<string | null> = [];
  let newTokens = 0;
  page.on('response', (r) => {
    const u = new URL(r.url());
    const edge = /^\/(live|sessions|keys)\//.test(u.pathname); // the web app proxies these to the edge
    if (edge && r.status() === 403) refused.push({ token: u.searchParams.get('token'), code: r.json().then((b: { code?: unknown }) => b.code, () => null) });
    else if (edge && r.status() === 200) served.push(u.searchParams.get('token'));
    if (u.pathname.endsWith('/playback-token') && r.request().method() === 'POST' && r.status() === 200) newTokens += 1;
  });
  await appendEvent(t.messaging.js, domainEvent(systemClock, 'ChannelPlaybackPolicyChanged', channelSubject(info.demoChannelId), {
    channelId: info.demoChannelId, visibility: 'public', allowList: [], encryption: { enabled: true, rotateEverySegments: 3 }, actorUserId: null, bindAddress: false,
  }, { producer: 'encrypted-e2e' }));
  await waitFor('the edge refused the old token', async () => refused.length > 0, 30_000, 100);
  expect(await refused[0]!.code).toBe('PLAYBACK_TOKEN_STALE');
  const stale = refused[0]!.token;
  await waitFor('media served with a new token', async () => served.some((tk) => tk !== null && tk !== stale), 30_000, 100);
  expect(newTokens).toBe(1);
  const after = await measurePlayback(page, { seconds: 5, startTimeoutMs: 30_000 });
  expect(after.advancedSeconds).toBeGreaterThanOrEqual(2.5);
}, 240_000);

it('plays the VOD of the encrypted session', async () => {
  const { info } = t.stack;
  // let the live playlists slide past the DVR window before the broadcast ends
  const liveToken = await playbackToken(info.demoChannelId);
  await waitFor('the live DVR window slid (EXT-X-MEDIA-SEQUENCE > 0)', async () => {
    const master = await (await fetch(`${info.demoPlaybackUrl}?token=${liveToken}`)).text();
    const variant = master.split('\n').find((l) => l && !l.startsWith('#'));
    if (!variant) return false;
    const media = await (await fetch(new URL(variant, info.demoPlaybackUrl))).text();
    return Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(media)?.[1] ?? 0) > 0;
  }, 60_000, 1000);
  publisher?.child.kill('SIGINT');
  await publisher?.done;
  publisher = undefined;
  const events = await waitFor('VodReady', async () => {
    const evs = await t.channelEvents();
    return evs.some((e) => e.type === 'VodReady' || e.type === 'StreamFailed') ? evs : undefined;
  }, 150_000, 1000);
  expect(events.map((e) => e.type)).not.toContain('StreamFailed');
  const vod = events.filter((e): e is Extract<DomainEvent, { type: 'VodReady' }> => e.type === 'VodReady').at(-1)!;
  vodSessionId = vod.data.sessionId;
  const token = await playbackToken(vod.data.sessionId);
  const vodMaster = `${info.edgeUrl}/sessions/${vod.data.sessionId}/vod.m3u8`;
  expect((await fetch(vodMaster)).status).toBe(401);
  const master = await (await fetch(`${vodMaster}?token=${token}`)).text();
  const variant = master.split('\n').find((l) => l && !l.startsWith('#'))!;
  const media = await (await fetch(new URL(variant, vodMaster))).text();
  expect(media).toContain('#EXT-X-ENDLIST');
  expect(media).toMatch(/#EXT-X-KEY:METHOD=AES-128,URI="\/keys\//);
  // the live playlist slid (DVR window), the VOD still starts at MSN 0 and is longer than the window
  const liveIndex = await (await fetch(new URL(variant.replace('vod.m3u8', 'index.m3u8'), vodMaster))).text();
  expect(Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(liveIndex)![1])).toBeGreaterThan(0);
  expect(media).toContain('#EXT-X-MEDIA-SEQUENCE:0\n');
  const vodSeconds = [...media.matchAll(/#EXTINF:([\d.]+),/g)].reduce((n, m) => n + Number(m[1]), 0);
  expect(vodSeconds).toBeGreaterThan(DVR_WINDOW_SECONDS);

  page ??= await (browser ??= await launchBrowser()).newPage({ viewport: { width: 1280, height: 720 } });
  // The seek previews' WebVTT track is fetched with the player's token (the channel requires one).
  const tracks: Array<{ url: string; status: number }> = [];
  page.on('response', (r) => { if (r.url().includes('/thumbs/thumbnails.vtt')) tracks.push({ url: r.url(), status: r.status() }); });
  await page.goto(`${info.webUrl}/watch/vod/${encodeURIComponent(vod.data.sessionId)}`);
  const result = await measurePlayback(page, { seconds: 5, startTimeoutMs: 45_000 });
  expect(result.advancedSeconds).toBeGreaterThanOrEqual(2.5); // of 5 s of wall-clock time: at least half
  await waitFor('the thumbnails track fetched with a token', async () => tracks.some((r) => r.status === 200 && r.url.includes('token=')), 30_000);
}, 240_000);

it('shows the refusal when the channel is for followers and the viewer is signed out', async () => {
  const { info } = t.stack;
  await appendEvent(t.messaging.js, domainEvent(systemClock, 'ChannelPlaybackPolicyChanged', channelSubject(info.demoChannelId), {
    channelId: info.demoChannelId, visibility: 'followers', allowList: [], encryption: { enabled: true, rotateEverySegments: 3 }, actorUserId: null, bindAddress: false,
  }, { producer: 'encrypted-e2e' }));
  await waitFor('followers-only policy projected', async () => (await fetch(`${info.apiUrl}/api/streams/${info.demoChannelId}/playback-token`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}',
  })).status === 401, 30_000);
  page ??= await (browser ??= await launchBrowser()).newPage();
  // The channel is offline by now (its live page shows "Offline" and plays nothing): its recording asks for a token.
  expect(vodSessionId).toBeDefined();
  await page.goto(`${info.webUrl}/watch/vod/${encodeURIComponent(vodSessionId!)}`);
  await page.getByTestId('playback-refused').waitFor({ timeout: 15_000 });
  await expect(page.getByTestId('playback-refused').textContent()).resolves.toMatch(/not public|sign in/i);
  expect(await page.evaluate(() => (window as PlayerWindow).__player)).toBeUndefined();
}, 120_000);
