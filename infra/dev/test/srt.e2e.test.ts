/**
 * SRT ingest end to end (issue 13 item 2): a real ffmpeg publishes 30 s of a 1080p30 test pattern
 * with audio as MPEG-TS over SRT, the demo key in the `#!::r=live/<key>,m=publish` streamid, to
 * the embedded stack's ingest (`srtUrl` of the stack file); the test checks the ABR ladder, each
 * rendition with ffprobe and the VOD's duration — and that a wrong key is refused without a
 * StreamPublishStarted. The same pipeline as pipeline.e2e.test.ts (RTMP), entered over SRT.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import type { DomainEvent } from '@live/events';
import { srtPublishUrl } from '../src/stack.js';
import { fetchText, masterVariants, probe, publishTestPatternOverSrt, startTestStack, waitFor, type TestStack } from '../src/testing.js';

const PUBLISH_SECONDS = 30;
let t: TestStack;

beforeAll(async () => { t = await startTestStack('e2e-srt'); }, 240_000);
afterAll(async () => { await t?.stop(); }, 60_000);

describe('SRT ingest, end to end', () => {
  it('writes srtUrl to the stack info; refuses a wrong stream key and emits no StreamPublishStarted', async () => {
    expect(t.stack.info.srtUrl).toMatch(/^srt:\/\/127\.0\.0\.1:\d+$/);
    const pub = publishTestPatternOverSrt(srtPublishUrl(t.stack.info.srtUrl, 'live_wrong-key-000000000000'), { seconds: 10, width: 640, height: 360, fps: 30, videoKbps: 800 });
    const exit = await pub.done;
    expect(exit.code).not.toBe(0);
    expect(await t.channelEvents()).toEqual([]);
    const metrics = await fetchText(`${t.stack.info.ingestHttpUrl}/metrics`);
    expect(metrics).toMatch(/ingest_publish_attempts_total\{protocol="srt",result="unknown_stream_key"\} [1-9]/);
  }, 60_000);

  it('publishes 30 s of 1080p30 over SRT and gets the ABR ladder and a 30 s VOD', async () => {
    const { info } = t.stack;
    const pub = publishTestPatternOverSrt(srtPublishUrl(info.srtUrl, info.demoStreamKey), { seconds: PUBLISH_SECONDS, width: 1920, height: 1080, fps: 30, videoKbps: 4500 });

    const master = await waitFor('live master playlist', async () => {
      const r = await fetch(info.demoPlaybackUrl);
      return r.ok ? r.text() : undefined;
    }, 40_000);
    const variants = masterVariants(master);
    expect(variants.map((v) => /RESOLUTION=(\d+x\d+)/.exec(v.attrs)?.[1])).toEqual(['1920x1080', '1280x720', '854x480', '426x240']);
    for (const v of variants) expect(v.attrs).toMatch(/CODECS="avc1\.[0-9a-fA-F]{6},mp4a\.40\.2"/);

    const exit = await pub.done;
    expect(exit.code, exit.stderr).toBe(0);

    const events = await waitFor('VodReady', async () => {
      const evs = await t.channelEvents();
      return evs.some((e) => e.type === 'VodReady' || e.type === 'StreamFailed') ? evs : undefined;
    }, 120_000, 1000);
    const types = events.map((e) => e.type);
    expect(types.filter((x) => x !== 'StreamIngestHealthReported')).toEqual(['StreamPublishStarted', 'TranscodeStarted', 'RenditionsReady', 'StreamPublishEnded', 'VodReady']);
    expect(types).toContain('StreamIngestHealthReported');
    const started = events[0] as Extract<DomainEvent, { type: 'StreamPublishStarted' }>;
    expect(started.data.source).toMatchObject({ video: { codec: 'h264', width: 1920, height: 1080 }, audio: { codec: 'aac' } });
    const ended = events.find((e): e is Extract<DomainEvent, { type: 'StreamPublishEnded' }> => e.type === 'StreamPublishEnded')!;
    expect(ended.data.reason).toBe('unpublished');
    const sessionId = started.data.sessionId;

    const expected = [['1080p', 1920, 1080], ['720p', 1280, 720], ['480p', 854, 480], ['240p', 426, 240]] as const;
    for (const [name, w, h] of expected) {
      const p = await probe(`${info.edgeUrl}/sessions/${sessionId}/${name}/vod.m3u8`);
      const video = p.streams.find((s) => s.codec_type === 'video');
      const audio = p.streams.find((s) => s.codec_type === 'audio');
      expect([name, video?.codec_name, video?.width, video?.height]).toEqual([name, 'h264', w, h]);
      expect([name, audio?.codec_name]).toEqual([name, 'aac']);
    }

    const vod = events.at(-1) as Extract<DomainEvent, { type: 'VodReady' }>;
    const mp4 = await probe(join(info.storageDir, vod.data.mp4Key));
    expect(Math.abs(Number(mp4.format.duration) - PUBLISH_SECONDS)).toBeLessThanOrEqual(1);
  }, 300_000);
});
