/**
 * The reconnect window end to end (issue 18, item 4), on the embedded stack: ffmpeg publishes,
 * is SIGKILLed (its TCP connection drops without a clean stop), and a new ffmpeg publishes with
 * the same key within the window. The broadcast stays ONE session: one StreamPublishStarted,
 * a StreamPublishInterrupted and a StreamPublishResumed, one StreamPublishEnded, one VodReady;
 * the live playlists continue (no ENDLIST in between) after exactly one EXT-X-DISCONTINUITY, and
 * the VOD spans both connections.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { join } from 'node:path';
import type { DomainEvent } from '@live/events';
import { fetchText, probe, publishTestPattern, segmentDurations, startTestStack, waitFor, type TestStack } from '../src/testing.js';

let t: TestStack;
const WINDOW_SECONDS = 30;
const discontinuities = (playlist: string) => playlist.split('\n').filter((l) => l.trim() === '#EXT-X-DISCONTINUITY').length;

beforeAll(async () => { t = await startTestStack('e2e-reconnect', { appEnv: { INGEST_RECONNECT_WINDOW_SECONDS: String(WINDOW_SECONDS) } }); }, 240_000);
afterAll(async () => { await t?.stop(); }, 60_000);

it('keeps one session, one playlist and one VOD across a publisher that drops and reconnects', async () => {
  const { info } = t.stack;
  const publishUrl = `${info.rtmpUrl}/${info.demoStreamKey}`;
  const first = publishTestPattern(publishUrl, { seconds: 120, width: 640, height: 360, fps: 30, videoKbps: 800 });
  let second: ReturnType<typeof publishTestPattern> | undefined;
  try {
    const started = await waitFor('StreamPublishStarted', async () => (await t.channelEvents()).find((e) => e.type === 'StreamPublishStarted'), 40_000);
    const sessionId = (started.data as { sessionId: string }).sessionId;
    const playlistUrl = `${info.edgeUrl}/sessions/${sessionId}/360p/index.m3u8`;
    await waitFor('3 segments', async () => {
      const r = await fetch(playlistUrl);
      return r.ok && segmentDurations(await r.text()).length >= 3;
    }, 60_000);

    first.child.kill('SIGKILL'); // the connection drops: no FCUnpublish, no deleteStream
    await waitFor('StreamPublishInterrupted', async () => (await t.channelEvents()).find((e) => e.type === 'StreamPublishInterrupted'), 20_000);
    const interruptedPlaylist = await fetchText(playlistUrl);
    expect(interruptedPlaylist, 'the live playlist stays open while the session waits').not.toContain('#EXT-X-ENDLIST');

    second = publishTestPattern(publishUrl, { seconds: 14, width: 640, height: 360, fps: 30, videoKbps: 800 });
    const resumed = await waitFor('StreamPublishResumed', async () => (await t.channelEvents()).find((e) => e.type === 'StreamPublishResumed'), 30_000);
    expect(resumed.data).toMatchObject({ sessionId, lease: 'local' });

    // The same playlist goes on after one discontinuity, still live.
    const live = await waitFor('segments after the discontinuity', async () => {
      const text = await fetchText(playlistUrl);
      const after = text.split(/^#EXT-X-DISCONTINUITY$/m)[1];
      return after !== undefined && segmentDurations(after).length >= 2 ? text : undefined;
    }, 60_000);
    expect(discontinuities(live)).toBe(1);
    expect(live).not.toContain('#EXT-X-ENDLIST');
    const sequences = [...live.matchAll(/^seg_(\d+)\.m4s$/gm)].map((m) => Number(m[1]));
    expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
    expect(new Set(sequences).size).toBe(sequences.length);

    expect((await second.done).code).toBe(0); // a clean stop ends the session at once
    const events = await waitFor('VodReady', async () => {
      const evs = await t.channelEvents();
      return evs.some((e) => e.type === 'VodReady' || e.type === 'StreamFailed') ? evs : undefined;
    }, 120_000, 1000);
    const count = (type: DomainEvent['type']) => events.filter((e) => e.type === type).length;
    expect(count('StreamFailed')).toBe(0);
    expect([count('StreamPublishStarted'), count('StreamPublishInterrupted'), count('StreamPublishResumed'), count('StreamPublishEnded'), count('VodReady')]).toEqual([1, 1, 1, 1, 1]);
    expect(new Set(events.map((e) => (e.data as { sessionId?: string }).sessionId))).toEqual(new Set([sessionId]));
    const ended = events.find((e) => e.type === 'StreamPublishEnded')!;
    expect(ended.data).toMatchObject({ reason: 'unpublished' });

    // The live playlist is finished now; the VOD keeps the one discontinuity and spans both connections.
    const finished = await fetchText(playlistUrl);
    expect(finished).toContain('#EXT-X-ENDLIST');
    expect(discontinuities(finished)).toBe(1);
    const vodPlaylist = await fetchText(`${info.edgeUrl}/sessions/${sessionId}/360p/vod.m3u8`);
    expect(discontinuities(vodPlaylist)).toBe(1);
    expect(vodPlaylist).toContain('#EXT-X-ENDLIST');
    const vod = events.find((e): e is Extract<DomainEvent, { type: 'VodReady' }> => e.type === 'VodReady')!;
    const beforeDrop = segmentDurations(interruptedPlaylist).reduce((a, b) => a + b, 0);
    expect(vod.data.durationSeconds).toBeGreaterThan(beforeDrop + 8); // the second connection's ~14 s are in it
    const mp4 = await probe(join(info.storageDir, vod.data.mp4Key));
    expect(Number(mp4.format.duration)).toBeGreaterThan(beforeDrop + 8);
  } finally {
    first.child.kill('SIGKILL');
    second?.child.kill('SIGKILL');
  }
}, 300_000);
