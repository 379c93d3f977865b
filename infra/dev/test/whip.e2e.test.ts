/**
 * WHIP ingest end to end (issue 13 item 3): a WebRTC publisher (werift, `publishWhip`) sends 30 s
 * of a 720p30 test pattern (H.264 constrained baseline, Opus) to the embedded stack's `whipUrl`
 * with the demo key as Bearer token, then DELETEs its resource; the ladder and the VOD come out
 * as for RTMP (Opus transcoded to AAC). 720p rather than RTMP's 1080p keeps the publisher's
 * real-time encode and the ladder within a shared 2-core machine. Bad input (wrong token,
 * malformed SDP) is refused with its code and leaves the stack publishing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import type { DomainEvent } from '@live/events';
import { fetchText, masterVariants, probe, publishWhip, segmentDurations, startTestStack, waitFor, type TestStack } from '../src/testing.js';

const PUBLISH_SECONDS = 30;
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
      console.log(name, durations.join(','));
      expect.soft(durations.length).toBeGreaterThanOrEqual(13);
    }

    // VOD MP4: 30 ± 1 s.
    const vod = events.at(-1) as Extract<DomainEvent, { type: 'VodReady' }>;
    const mp4 = await probe(join(info.storageDir, vod.data.mp4Key));
    console.log('vod', mp4.format.duration);
    expect(Math.abs(Number(mp4.format.duration) - PUBLISH_SECONDS), `VOD ${mp4.format.duration} s`).toBeLessThanOrEqual(1);
  }, 300_000);
});
