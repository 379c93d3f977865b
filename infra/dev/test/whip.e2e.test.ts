/**
 * WHIP ingest end to end (issue 13 item 3): a WebRTC publisher (werift, `publishWhip`) sends 30 s
 * of a 720p30 test pattern (H.264 constrained baseline, Opus) to the embedded stack's `whipUrl`
 * with the demo key as Bearer token, then DELETEs its resource; the ladder and the VOD come out
 * as for RTMP (Opus transcoded to AAC). 720p rather than RTMP's 1080p keeps the publisher's
 * real-time encode and the ladder within a shared 2-core machine. Bad input (wrong token,
 * malformed SDP) is refused with its code and leaves the stack publishing. Last, Chromium's own
 * WebRTC stack (fake camera and microphone) publishes through a 20-line WHIP client in a page.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { DomainEvent } from '@live/events';
import { CHROMIUM_ARGS, fetchText, masterVariants, probe, publishWhip, segmentDurations, startTestStack, waitFor, type TestStack } from '../src/testing.js';

const PUBLISH_SECONDS = 30;

/**
 * A WHIP client as a page runs it (RFC 9725 §4.2, no trickle): camera and microphone, H.264
 * preferred, the offer POSTed once ICE gathering completed, the answer applied; the resource URL
 * kept in `window.whipResource`. Evaluates to `{ status, sdp }`.
 */
const WHIP_CLIENT = `(async () => {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 }, audio: true });
  const pc = new RTCPeerConnection();
  for (const track of stream.getTracks()) {
    const tr = pc.addTransceiver(track, { direction: 'sendonly' });
    if (track.kind === 'video') tr.setCodecPreferences(RTCRtpSender.getCapabilities('video').codecs.filter((c) => c.mimeType === 'video/H264'));
  }
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
  });
  const res = await fetch($URL, { method: 'POST', headers: { 'content-type': 'application/sdp', authorization: 'Bearer ' + $KEY }, body: pc.localDescription.sdp });
  const sdp = await res.text();
  if (res.status === 201) await pc.setRemoteDescription({ type: 'answer', sdp });
  window.whipPc = pc;
  window.whipResource = res.headers.get('location');
  return { status: res.status, sdp };
})()`;
let t: TestStack;

beforeAll(async () => { t = await startTestStack('e2e-whip'); }, 240_000);
afterAll(async () => { await t?.stop(); }, 60_000);

describe('WHIP ingest, end to end', () => {
  it('refuses a wrong token (401) and a malformed offer (400 SDP_MALFORMED), appending nothing', async () => {
    const { info } = t.stack;
    expect(info.whipUrl).toBe(`${info.whipUrl.replace(/\/whip\/.*$/, '')}/whip/${info.demoChannelId}`);
    const wrong = await publishWhip(info.whipUrl, 'live_wrong-key-000000000000', { seconds: 0 });
    expect([wrong.status, JSON.parse(wrong.body).code]).toEqual([401, 'UNKNOWN_STREAM_KEY']);
    const malformed = await publishWhip(info.whipUrl, info.demoStreamKey, { seconds: 0, offer: 'v=0\r\nm=video\r\n' });
    expect([malformed.status, JSON.parse(malformed.body).code]).toEqual([400, 'SDP_MALFORMED']);
    expect(await t.channelEvents()).toEqual([]);
  }, 60_000);

  it('publishes 30 s over WHIP and gets the ladder, a completed session and a 30 s VOD', async () => {
    const { info } = t.stack;
    const pub = await publishWhip(info.whipUrl, info.demoStreamKey, { seconds: PUBLISH_SECONDS, width: 1280, height: 720, fps: 30, videoKbps: 2500 });
    expect(pub.status, pub.body).toBe(201);
    let deleted: number | undefined;
    try {
      const master = await waitFor('live master playlist', async () => {
        const r = await fetch(info.demoPlaybackUrl);
        return r.ok ? r.text() : undefined;
      }, 60_000);
      const variants = masterVariants(master);
      expect(variants.map((v) => /RESOLUTION=(\d+x\d+)/.exec(v.attrs)?.[1])).toEqual(['1280x720', '854x480', '426x240']);
      for (const v of variants) expect(v.attrs).toMatch(/CODECS="avc1\.[0-9a-fA-F]{6},mp4a\.40\.2"/);
      await pub.done;
    } finally {
      deleted = await pub.stop();
    }
    expect(deleted).toBe(200);

    const events = await waitFor('VodReady', async () => {
      const evs = await t.channelEvents();
      return evs.some((e) => e.type === 'VodReady' || e.type === 'StreamFailed') ? evs : undefined;
    }, 120_000, 1000);
    const types = events.map((e) => e.type);
    expect(types).not.toContain('StreamFailed');
    expect(types.filter((x) => x !== 'StreamIngestHealthReported')).toEqual(['StreamPublishStarted', 'TranscodeStarted', 'RenditionsReady', 'StreamPublishEnded', 'VodReady']);
    const started = events[0] as Extract<DomainEvent, { type: 'StreamPublishStarted' }>;
    expect(started.data.source).toMatchObject({ video: { codec: 'h264', width: 1280, height: 720 }, audio: { codec: 'aac' } });
    const ended = events.find((e) => e.type === 'StreamPublishEnded') as Extract<DomainEvent, { type: 'StreamPublishEnded' }>;
    expect(ended.data.reason).toBe('unpublished');
    const sessionId = started.data.sessionId;

    // Each rendition read by ffprobe: H.264 at its size, AAC (the Opus transcoded); 2 s segments.
    for (const [name, w, h] of [['720p', 1280, 720], ['480p', 854, 480], ['240p', 426, 240]] as const) {
      const url = `${info.edgeUrl}/sessions/${sessionId}/${name}/vod.m3u8`;
      const p = await probe(url);
      const video = p.streams.find((s) => s.codec_type === 'video');
      const audio = p.streams.find((s) => s.codec_type === 'audio');
      expect([name, video?.codec_name, video?.width, video?.height, audio?.codec_name]).toEqual([name, 'h264', w, h, 'aac']);
      const durations = segmentDurations(await fetchText(url));
      expect(durations.length).toBeGreaterThanOrEqual(13);
      for (const d of durations.slice(0, -1)) expect(Math.abs(d - 2), `${name} segment ${d}s`).toBeLessThanOrEqual(0.1);
    }

    // VOD MP4: 30 ± 1 s.
    const vod = events.at(-1) as Extract<DomainEvent, { type: 'VodReady' }>;
    const mp4 = await probe(join(info.storageDir, vod.data.mp4Key));
    expect(Math.abs(Number(mp4.format.duration) - PUBLISH_SECONDS), `VOD ${mp4.format.duration} s`).toBeLessThanOrEqual(1);
  }, 300_000);

  it('takes a publish from Chromium (fake devices, H.264 and Opus through a WHIP client in the page)', async () => {
    const { info } = t.stack;
    const browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [...CHROMIUM_ARGS, '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'],
    });
    try {
      const page = await browser.newPage();
      // The endpoint's origin: a secure context (loopback) for getUserMedia, same origin for the POST.
      await page.goto(new URL('/whip/', info.whipUrl).href);
      const before = (await t.channelEvents()).length;
      const answer = await page.evaluate<{ status: number; sdp: string }>(WHIP_CLIENT.replace('$URL', JSON.stringify(info.whipUrl)).replace('$KEY', JSON.stringify(info.demoStreamKey)));
      expect(answer.status, answer.sdp).toBe(201);
      const started = await waitFor('StreamPublishStarted from Chromium', async () =>
        (await t.channelEvents()).slice(before).find((e): e is Extract<DomainEvent, { type: 'StreamPublishStarted' }> => e.type === 'StreamPublishStarted'), 60_000);
      expect(started.data.source).toMatchObject({ video: { codec: 'h264' }, audio: { codec: 'aac' } });
      const status = await page.evaluate<number>('fetch(window.whipResource, { method: "DELETE" }).then((r) => r.status)');
      expect(status).toBe(200);
      const ended = await waitFor('StreamPublishEnded from Chromium', async () =>
        (await t.channelEvents()).slice(before).find((e): e is Extract<DomainEvent, { type: 'StreamPublishEnded' }> => e.type === 'StreamPublishEnded'), 30_000);
      expect(ended.data).toMatchObject({ sessionId: started.data.sessionId, reason: 'unpublished' });
    } finally {
      await browser.close();
    }
  }, 120_000);
});
