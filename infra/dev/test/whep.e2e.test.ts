/**
 * WHEP playback end to end (issue 13 item 4): the demo channel is published over RTMP (x264
 * without B-frames), and Chromium's own WebRTC stack plays it through a WHEP client in a page
 * (the WHEP draft: recvonly offer POSTed once ICE gathering completed, no trickle): video frames
 * are decoded at the source's size, audio (Opus) arrives, and DELETE ends the session. Then the
 * channel's playback policy asks for tokens: without one the offer is refused 401, with the
 * API's token it plays; a followers-only (private) channel refuses a viewer without a token.
 * Bad input (malformed SDP, no H.264, unknown channel) is refused with its code. The player page's
 * "Real-time" mode plays over WHEP, and falls back to LL-HLS when the publish has B-frames (422).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { channelSubject, domainEvent, systemClock } from '@live/events';
import { appendEvent } from '@live/messaging';
import { CHROMIUM_ARGS, publishTestPattern, startTestStack, waitFor, type Publisher, type TestStack } from '../src/testing.js';

/**
 * A WHEP client as a page runs it: recvonly video and audio, the offer POSTed once ICE gathering
 * completed (with `Authorization: Bearer $TOKEN` when a token is given), the answer applied, the
 * tracks played in a muted `<video>`. Evaluates to `{ status, body }`; keeps `window.whep`.
 */
const WHEP_CLIENT = `(async () => {
  const pc = new RTCPeerConnection();
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  const video = document.createElement('video');
  Object.assign(video, { muted: true, autoplay: true, playsInline: true });
  document.body.append(video);
  const stream = new MediaStream();
  pc.ontrack = (e) => { stream.addTrack(e.track); video.srcObject = stream; };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
  });
  const token = $TOKEN;
  const res = await fetch($URL, { method: 'POST', headers: { 'content-type': 'application/sdp', ...(token ? { authorization: 'Bearer ' + token } : {}) }, body: pc.localDescription.sdp });
  const body = await res.text();
  if (res.status !== 201) { pc.close(); return { status: res.status, body }; }
  await pc.setRemoteDescription({ type: 'answer', sdp: body });
  window.whep = { pc, video, location: new URL(res.headers.get('location'), $URL).href };
  return { status: 201, body: '' };
})()`;

/** What the page's receiver (`window.whep`) reports: decoded video frames and size, audio packets, `<video>` time. */
const RECEIVER_STATS = `(async () => {
  const out = { framesDecoded: 0, frameWidth: 0, frameHeight: 0, audioPackets: 0, currentTime: window.whep.video.currentTime, state: window.whep.pc.connectionState, error: window.whep.video.error?.message ?? null };
  for (const s of (await window.whep.pc.getStats()).values()) {
    if (s.type !== 'inbound-rtp') continue;
    if (s.kind === 'video') Object.assign(out, { framesDecoded: s.framesDecoded ?? 0, frameWidth: s.frameWidth ?? 0, frameHeight: s.frameHeight ?? 0 });
    else out.audioPackets = s.packetsReceived ?? 0;
  }
  return out;
})()`;

/** The same of the player page's WHEP client (`window.__whep`, useWhepPlayer.ts). */
const PLAYER_RECEIVER_STATS = RECEIVER_STATS.replaceAll('window.whep.', 'window.__whep.');

interface ReceiverStats { framesDecoded: number; frameWidth: number; frameHeight: number; audioPackets: number; currentTime: number; state: string; error: string | null }

let t: TestStack;
let browser: Browser;
let publisher: Publisher | undefined;

async function offer(page: Page, url: string, token: string | null = null): Promise<{ status: number; body: string }> {
  return page.evaluate<{ status: number; body: string }>(WHEP_CLIENT.replaceAll('$URL', JSON.stringify(url)).replace('$TOKEN', JSON.stringify(token)));
}

async function newPage(): Promise<Page> {
  const page = await browser.newPage();
  // The endpoint's origin (loopback): the POST is same-origin.
  await page.goto(new URL('/whep/', t.stack.info.whepUrl).href);
  return page;
}

async function setPolicy(visibility: 'public' | 'followers', encrypted: boolean): Promise<void> {
  const { info } = t.stack;
  await appendEvent(t.messaging.js, domainEvent(systemClock, 'ChannelPlaybackPolicyChanged', channelSubject(info.demoChannelId), {
    channelId: info.demoChannelId, visibility, allowList: [], encryption: { enabled: encrypted, rotateEverySegments: 3 }, actorUserId: null, bindAddress: false,
  }, { producer: 'whep-e2e' }));
}

beforeAll(async () => {
  t = await startTestStack('e2e-whep', { web: true });
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: [...CHROMIUM_ARGS] });
  const { info } = t.stack;
  publisher = publishTestPattern(`${info.rtmpUrl}/${info.demoStreamKey}`, { seconds: 150, width: 1280, height: 720, fps: 30, videoKbps: 2000 });
  await waitFor('live master playlist', async () => (await fetch(info.demoPlaybackUrl)).ok, 90_000);
}, 240_000);

afterAll(async () => {
  await browser?.close();
  publisher?.child.kill('SIGINT');
  await publisher?.done;
  await t?.stop();
}, 90_000);

describe('WHEP playback, end to end', () => {
  it('plays the demo channel in Chromium over WHEP: video decoded at 1280x720, Opus audio, DELETE ends it', async () => {
    const { info } = t.stack;
    expect(info.whepUrl).toBe(info.whipUrl.replace('/whip/', '/whep/'));
    const page = await newPage();
    const answer = await offer(page, info.whepUrl);
    expect(answer.status, answer.body).toBe(201);
    const stats = await waitFor('60 decoded frames', async () => {
      const s = await page.evaluate<ReceiverStats>(RECEIVER_STATS);
      return s.framesDecoded >= 60 && s.currentTime > 1 ? s : undefined;
    }, 30_000);
    expect(stats).toMatchObject({ frameWidth: 1280, frameHeight: 720, state: 'connected', error: null });
    expect(stats.audioPackets).toBeGreaterThan(0);
    const status = await page.evaluate<number>('fetch(window.whep.location, { method: "DELETE" }).then((r) => r.status)');
    expect(status).toBe(200);
    await waitFor('peer connection closed by the server', async () => (await page.evaluate<ReceiverStats>(RECEIVER_STATS)).state !== 'connected', 30_000);
    await page.close();
  }, 90_000);

  it('refuses a malformed offer (400), an offer without H.264 (406) and an unknown channel (404)', async () => {
    const { info } = t.stack;
    const post = (url: string, sdp: string) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/sdp' }, body: sdp })
      .then(async (r) => [r.status, ((await r.json()) as { code: string }).code]);
    expect(await post(info.whepUrl, 'v=0\r\nm=video\r\n')).toEqual([400, 'SDP_MALFORMED']);
    const vp8Only = ['v=0', 'o=- 1 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=ice-ufrag:abcd', 'a=ice-pwd:abcdefghijklmnopqrstuvwx', 'a=fingerprint:sha-256 00:11',
      'm=video 9 UDP/TLS/RTP/SAVPF 96', 'a=recvonly', 'a=rtpmap:96 VP8/90000', ''].join('\r\n');
    expect(await post(info.whepUrl, vp8Only)).toEqual([406, 'SDP_UNSUPPORTED_CODEC']);
    const page = await newPage();
    expect((await offer(page, info.whepUrl.replace(/[^/]+$/, 'no-such-channel'))).status).toBe(404);
    await page.close();
  }, 60_000);

  it('plays in the player page\'s real-time mode (WebRTC), remembered after a reload', async () => {
    const { info } = t.stack;
    const page = await browser.newPage();
    await page.goto(`${info.webUrl}/watch/live/${info.demoChannelId}`);
    await page.getByTestId('realtime-toggle').check();
    const status = page.getByTestId('player-status');
    await expect.poll(() => status.getAttribute('data-mode'), { timeout: 20_000 }).toBe('webrtc');
    await expect.poll(() => status.getAttribute('data-state'), { timeout: 30_000 }).toBe('playing');
    await expect.poll(() => page.evaluate<ReceiverStats>(PLAYER_RECEIVER_STATS), { timeout: 20_000 }).toMatchObject({ frameWidth: 1280, state: 'connected' });
    await page.reload();
    await expect.poll(() => status.getAttribute('data-mode'), { timeout: 20_000 }).toBe('webrtc');
    await expect.poll(() => status.getAttribute('data-state'), { timeout: 30_000 }).toBe('playing');
    expect(await page.getByTestId('realtime-fallback').count()).toBe(0);
    if (process.env.WEB_SCREENSHOT_DIR) await page.screenshot({ path: join(process.env.WEB_SCREENSHOT_DIR, 'whep-realtime.png') });
    await page.close();
  }, 120_000);

  it('asks for a playback token where the policy does: 401 without, plays with the API\'s; a private channel refuses a viewer without one', async () => {
    const { info } = t.stack;
    await setPolicy('public', true);
    await waitFor('policy projected (edge answers 401 without a token)', async () => (await fetch(info.demoPlaybackUrl)).status === 401, 30_000);
    const page = await newPage();
    const refused = await offer(page, info.whepUrl);
    expect([refused.status, JSON.parse(refused.body).code]).toEqual([401, 'PLAYBACK_TOKEN_MISSING']);
    const forged = await offer(page, info.whepUrl, 'k1.eyJjIjoiZGVtbyJ9.AAAA');
    expect([forged.status, JSON.parse(forged.body).code]).toEqual([401, 'PLAYBACK_TOKEN_INVALID']);
    const res = await fetch(`${info.apiUrl}/api/streams/${info.demoChannelId}/playback-token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(200);
    const { token } = (await res.json()) as { token: string };
    const accepted = await offer(page, info.whepUrl, token);
    expect(accepted.status, accepted.body).toBe(201);
    await waitFor('frames decoded with a token', async () => (await page.evaluate<ReceiverStats>(RECEIVER_STATS)).framesDecoded >= 30, 30_000);
    await page.close();

    await setPolicy('followers', false);
    const privatePage = await newPage();
    const denied = await waitFor('followers-only policy projected', async () => {
      const r = await offer(privatePage, info.whepUrl);
      return r.status === 401 ? r : undefined;
    }, 30_000);
    expect(JSON.parse(denied.body).code).toBe('PLAYBACK_TOKEN_MISSING');
    await privatePage.close();
    await setPolicy('public', false);
    await waitFor('public policy projected', async () => (await fetch(info.demoPlaybackUrl)).ok, 30_000);
  }, 120_000);

  it('answers 422 for a publish with B-frames, and the player page falls back to LL-HLS', async () => {
    const { info } = t.stack;
    publisher!.child.kill('SIGINT');
    await publisher!.done;
    const before = (await t.channelEvents()).filter((e) => e.type === 'StreamPublishStarted').length;
    publisher = publishTestPattern(`${info.rtmpUrl}/${info.demoStreamKey}`, { seconds: 90, width: 1280, height: 720, fps: 30, videoKbps: 2000, bFrames: 2 });
    await waitFor('second publish started', async () => (await t.channelEvents()).filter((e) => e.type === 'StreamPublishStarted').length > before, 60_000);
    const probePage = await newPage();
    const refused = await waitFor('422 for B-frames', async () => {
      const r = await offer(probePage, info.whepUrl);
      if (r.status === 201) await probePage.evaluate('window.whep.pc.close()');
      return r.status === 422 ? r : undefined;
    }, 30_000);
    expect(JSON.parse(refused.body).code).toBe('SOURCE_NOT_WEBRTC_COMPATIBLE');
    await probePage.close();

    const page = await browser.newPage();
    await page.addInitScript("localStorage.setItem('player.realtime', '1')");
    await page.goto(`${info.webUrl}/watch/live/${info.demoChannelId}`);
    const fallback = page.getByTestId('realtime-fallback');
    await expect.poll(() => fallback.getAttribute('data-detail'), { timeout: 30_000 }).toContain('SOURCE_NOT_WEBRTC_COMPATIBLE');
    expect(await fallback.textContent()).toContain('this broadcast cannot be sent in real time');
    const status = page.getByTestId('player-status');
    expect(await status.getAttribute('data-mode')).toBe('hls');
    await expect.poll(() => status.getAttribute('data-state'), { timeout: 60_000 }).toBe('playing');
    expect(await page.getByTestId('realtime-toggle').isChecked()).toBe(true);
    if (process.env.WEB_SCREENSHOT_DIR) await page.screenshot({ path: join(process.env.WEB_SCREENSHOT_DIR, 'whep-fallback.png') });
    await page.close();
  }, 180_000);
});
