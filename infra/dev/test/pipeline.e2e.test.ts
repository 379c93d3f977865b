/**
 * The first live stream, end to end (issue 2): a real ffmpeg publishes 30 s of a 1080p30 test
 * pattern with audio over RTMP with the demo key to the embedded stack; the test checks the ABR
 * HLS output, the events, the Temporal workflow and the VOD — and that a wrong key is refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Connection, Client } from '@temporalio/client';
import type { DomainEvent } from '@live/events';
import { topLevelBoxes } from '@live/media';
import { fetchText, masterVariants, probe, publishTestPattern, segmentDurations, startTestStack, waitFor, type TestStack } from '../src/testing.js';

const PUBLISH_SECONDS = 30;
let t: TestStack;

beforeAll(async () => { t = await startTestStack('e2e-pipeline'); }, 240_000);
afterAll(async () => { await t?.stop(); }, 60_000);

describe('first live stream, end to end', () => {
  it('refuses a wrong stream key and emits no StreamPublishStarted', async () => {
    const pub = publishTestPattern(`${t.stack.info.rtmpUrl}/live_wrong-key-000000000000`, { seconds: 5, width: 640, height: 360, fps: 30, videoKbps: 800 });
    const exit = await pub.done;
    expect(exit.code).not.toBe(0);
    expect(await t.channelEvents()).toEqual([]);
  }, 60_000);

  it('publishes 30 s of 1080p30 and gets ABR HLS, events in order, a completed workflow and a VOD', async () => {
    const { info } = t.stack;
    const pub = publishTestPattern(`${info.rtmpUrl}/${info.demoStreamKey}`, { seconds: PUBLISH_SECONDS, width: 1920, height: 1080, fps: 30, videoKbps: 4500 });

    // Live: the master playlist appears on the channel's stable playback URL.
    const master = await waitFor('live master playlist', async () => {
      const r = await fetch(info.demoPlaybackUrl);
      return r.ok ? r.text() : undefined;
    }, 40_000);
    const variants = masterVariants(master);
    expect(variants.map((v) => /RESOLUTION=(\d+x\d+)/.exec(v.attrs)?.[1])).toEqual(['1920x1080', '1280x720', '854x480', '426x240']);
    for (const v of variants) {
      expect(v.attrs).toMatch(/BANDWIDTH=\d+/);
      expect(v.attrs).toMatch(/CODECS="avc1\.[0-9a-fA-F]{6},mp4a\.40\.2"/);
    }
    const livePlaylist = await fetchText(new URL(variants[1]!.uri, info.demoPlaybackUrl).href);
    expect(livePlaylist).toMatch(/#EXT-X-PROGRAM-DATE-TIME:/);
    expect(livePlaylist).toMatch(/#EXT-X-MAP:URI=/);

    const exit = await pub.done;
    expect(exit.code, exit.stderr).toBe(0);

    // The workflow drains, packages the VOD and emits VodReady.
    const events = await waitFor('VodReady', async () => {
      const evs = await t.channelEvents();
      return evs.some((e) => e.type === 'VodReady' || e.type === 'StreamFailed') ? evs : undefined;
    }, 120_000, 1000);
    const types = events.map((e) => e.type);
    expect(types).not.toContain('StreamFailed');
    // The lifecycle, in order; the ingest's health reports (every 5 s while live) come between.
    expect(types.filter((t) => t !== 'StreamIngestHealthReported')).toEqual(['StreamPublishStarted', 'TranscodeStarted', 'RenditionsReady', 'StreamPublishEnded', 'VodReady']);
    expect(types.filter((t) => t === 'StreamIngestHealthReported').length).toBeGreaterThan(0);
    const sessionIds = new Set(events.map((e) => (e.data as { sessionId: string }).sessionId));
    expect(sessionIds.size).toBe(1);
    const sessionId = (events[0]!.data as { sessionId: string }).sessionId;

    // Temporal: the session's workflow completed.
    const connection = await Connection.connect({ address: info.temporalAddress });
    try {
      const client = new Client({ connection });
      const desc = await client.workflow.getHandle(`live-${sessionId}`).describe();
      expect(desc.status.name).toBe('COMPLETED');
    } finally {
      await connection.close();
    }

    // Each rendition: resolution and codecs confirmed by ffprobe; 2 s segments.
    const expected = [['1080p', 1920, 1080], ['720p', 1280, 720], ['480p', 854, 480], ['240p', 426, 240]] as const;
    for (const [name, w, h] of expected) {
      const url = `${info.edgeUrl}/sessions/${sessionId}/${name}/vod.m3u8`;
      const p = await probe(url);
      const video = p.streams.find((s) => s.codec_type === 'video');
      const audio = p.streams.find((s) => s.codec_type === 'audio');
      expect([name, video?.codec_name, video?.width, video?.height]).toEqual([name, 'h264', w, h]);
      expect([name, audio?.codec_name]).toEqual([name, 'aac']);
      const durations = segmentDurations(await fetchText(url));
      expect(durations.length).toBeGreaterThanOrEqual(13);
      for (const d of durations.slice(0, -1)) expect(Math.abs(d - 2), `${name} segment ${d}s`).toBeLessThanOrEqual(0.1);
    }

    // VOD MP4: duration within 1 s of 30 s, moov before mdat.
    const vod = events.at(-1) as Extract<DomainEvent, { type: 'VodReady' }>;
    const mp4Path = join(info.storageDir, vod.data.mp4Key);
    const mp4 = await probe(mp4Path);
    expect(Math.abs(Number(mp4.format.duration) - PUBLISH_SECONDS)).toBeLessThanOrEqual(1);
    const boxes = (await topLevelBoxes(mp4Path)).map((b) => b.type);
    expect(boxes.indexOf('moov')).toBeGreaterThanOrEqual(0);
    expect(boxes.indexOf('moov')).toBeLessThan(boxes.indexOf('mdat'));
    // The same MP4 is served by the edge.
    const head = await fetch(`${info.edgeUrl}/${vod.data.mp4Key}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe('video/mp4');

    // The read model followed: the API lists the session as a VOD.
    type Listing = { items: Array<{ sessionId: string; status: string; vodUrl: string | null }> };
    const item = await waitFor('session listed as vod', async () => {
      const l = await (await fetch(`${info.apiUrl}/api/streams`)).json() as Listing;
      return l.items.find((x) => x.sessionId === sessionId && x.status === 'vod');
    }, 10_000);
    expect(item.vodUrl).toBe(`/sessions/${sessionId}/vod.m3u8`);
  }, 300_000);
});
