/**
 * A transcoder crash mid-broadcast (issue 2, orchestration): the worker's ffmpeg is SIGKILLed
 * while the publisher is live; the transcode activity fails, Temporal retries it with backoff,
 * and the retry continues the same playlists after an EXT-X-DISCONTINUITY (new init segment,
 * continuing media sequence numbers); the VOD spans both attempts. A worker restarted with
 * other LL_HLS settings mid-broadcast keeps the session's PART-TARGET and PART-HOLD-BACK.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DomainEvent } from '@live/events';
import { fetchText, probe, publishTestPattern, segmentDurations, startTestStack, waitFor, type TestStack } from '../src/testing.js';

let t: TestStack;
const channelEvents = () => t.channelEvents();

/** pids of the transcoding ffmpeg of a session (it reads the relay from stdin and writes under `<workDir>/<sessionId>/attempt-N/`). */
function transcoderPids(sessionId: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', `${sessionId}/attempt-`], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number)
      .filter((pid) => execFileSync('ps', ['-o', 'comm=', '-p', String(pid)], { encoding: 'utf8' }).trim() === 'ffmpeg');
  } catch {
    return [];
  }
}

beforeAll(async () => { t = await startTestStack('e2e-retry'); }, 240_000);
afterAll(async () => { await t?.stop(); }, 60_000);

it('resumes the same playlists after the transcoder is killed mid-stream', async () => {
  const { info } = t.stack;
  const pub = publishTestPattern(`${info.rtmpUrl}/${info.demoStreamKey}`, { seconds: 30, width: 1280, height: 720, fps: 30, videoKbps: 2500 });
  await waitFor('live master playlist', async () => (await fetch(info.demoPlaybackUrl)).ok, 40_000);
  const sessionId = ((await channelEvents())[0]!.data as { sessionId: string }).sessionId;
  // Let a few segments be published, then kill the transcoder.
  await waitFor('4 segments', async () => segmentDurations(await fetchText(`${info.edgeUrl}/sessions/${sessionId}/720p/index.m3u8`)).length >= 4, 30_000);
  const [pid] = transcoderPids(sessionId);
  expect(pid, 'transcoding ffmpeg found').toBeGreaterThan(0);
  process.kill(pid!, 'SIGKILL');

  // The retry publishes segments again: the live playlist now has a discontinuity and a new map.
  const live = await waitFor('segments after the discontinuity', async () => {
    const text = await fetchText(`${info.edgeUrl}/sessions/${sessionId}/720p/index.m3u8`);
    const after = text.split('#EXT-X-DISCONTINUITY')[1];
    return after && segmentDurations(after).length >= 2 ? text : undefined;
  }, 40_000);
  const maps = [...live.matchAll(/#EXT-X-MAP:URI="([^"]+)"/g)].map((m) => m[1]);
  expect(maps).toHaveLength(2);
  expect(maps[0]).not.toBe(maps[1]);
  const sequences = [...live.matchAll(/^seg_(\d+)\.m4s$/gm)].map((m) => Number(m[1]));
  expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
  expect(new Set(sequences).size).toBe(sequences.length); // no segment name reused (segments are immutable)

  expect((await pub.done).code).toBe(0);
  const events = await waitFor('VodReady', async () => {
    const evs = await channelEvents();
    return evs.some((e) => e.type === 'VodReady' || e.type === 'StreamFailed') ? evs : undefined;
  }, 120_000, 1000);
  const types = events.map((e) => e.type);
  expect(types).not.toContain('StreamFailed');
  expect(types.filter((t) => t === 'TranscodeStarted')).toHaveLength(2);
  expect(types.filter((t) => t === 'RenditionsReady')).toHaveLength(1);
  expect(types.at(-1)).toBe('VodReady');
  const attempts = events.filter((e): e is Extract<DomainEvent, { type: 'TranscodeStarted' }> => e.type === 'TranscodeStarted').map((e) => e.data.attempt);
  expect(attempts).toEqual([1, 2]);

  // The VOD spans both attempts and plays: its playlist keeps the discontinuity, the MP4 is one file.
  const vodPlaylist = await fetchText(`${info.edgeUrl}/sessions/${sessionId}/720p/vod.m3u8`);
  expect(vodPlaylist).toContain('#EXT-X-DISCONTINUITY');
  expect(vodPlaylist).toContain('#EXT-X-ENDLIST');
  const vod = events.at(-1) as Extract<DomainEvent, { type: 'VodReady' }>;
  const mp4 = await probe(join(info.storageDir, vod.data.mp4Key));
  expect(Number(mp4.format.duration)).toBeGreaterThan(20);
  expect(Number(mp4.format.duration)).toBeLessThanOrEqual(31);
}, 240_000);

it('kills the transcoding ffmpeg when the worker shuts down mid-stream; a new worker set to other parts continues with the same PART-TARGET and PART-HOLD-BACK', async () => {
  const { info } = t.stack;
  const before = new Set((await channelEvents()).map((e) => (e.data as { sessionId: string }).sessionId));
  const pub = publishTestPattern(`${info.rtmpUrl}/${info.demoStreamKey}`, { seconds: 60, width: 640, height: 360, fps: 30, videoKbps: 800 });
  try {
    const sessionId = await waitFor('a new session', async () => (await channelEvents()).map((e) => (e.data as { sessionId: string }).sessionId).find((s) => !before.has(s)), 30_000);
    const pids = await waitFor('the transcoding ffmpeg', async () => { const p = transcoderPids(sessionId); return p.length ? p : undefined; }, 30_000);
    const worker = t.stack.apps.get('worker')!;
    await waitFor('a published segment', async () => segmentDurations(await fetchText(`${info.edgeUrl}/sessions/${sessionId}/360p/index.m3u8`)).length >= 1, 30_000);
    await worker.stop(20_000); // SIGTERM: the worker shuts down, cancelling its running activities
    expect(worker.exit).toMatchObject({ code: 0 });
    await waitFor('ffmpeg gone', async () => pids.every((pid) => { try { process.kill(pid, 0); return false; } catch { return true; } }), 30_000, 200);
    // The broadcast goes on: the playlists stay open for the retry on another worker.
    expect(await fetchText(`${info.edgeUrl}/sessions/${sessionId}/360p/index.m3u8`)).not.toContain('#EXT-X-ENDLIST');

    // A new worker picks the transcode up (attempt 2) and continues the same playlists. It is
    // set otherwise (a rolling change of the settings: 1/3 s parts, a keyframe every 2, a
    // PART-HOLD-BACK of 3 parts), yet keeps the session's PART-TARGET of 0.5 s and PART-HOLD-BACK
    // of 1.0 s, which a playlist must not change.
    /** The lines of a playlist a server must not change: its PART-HOLD-BACK and EXT-X-PART-INF. */
    const serverSettings = (text: string) => text.match(/^#EXT-X-PART-INF:.*$|PART-HOLD-BACK=[\d.]+/gm) ?? [];
    const sessionValues = ['PART-HOLD-BACK=1.00000', '#EXT-X-PART-INF:PART-TARGET=0.50000'];
    expect(serverSettings(await fetchText(`${info.edgeUrl}/sessions/${sessionId}/360p/index.m3u8`))).toEqual(sessionValues);
    await t.stack.restartApp('worker', { LL_HLS_PARTS_PER_SEGMENT: '6', LL_HLS_KEYFRAME_PARTS: '2', LL_HLS_PART_HOLD_BACK_PARTS: '3' });
    await waitFor('TranscodeStarted attempt 2', async () => (await channelEvents()).some((e) => e.type === 'TranscodeStarted' && e.data.sessionId === sessionId && e.data.attempt === 2), 60_000);
    const live = await waitFor('segments after the discontinuity', async () => {
      const text = await fetchText(`${info.edgeUrl}/sessions/${sessionId}/360p/index.m3u8`);
      const after = text.split('#EXT-X-DISCONTINUITY')[1];
      return after !== undefined && segmentDurations(after).length >= 1 ? text : undefined;
    }, 40_000);
    expect(serverSettings(live)).toEqual(sessionValues);
    const partDurations = [...live.split('#EXT-X-DISCONTINUITY')[1]!.matchAll(/^#EXT-X-PART:DURATION=([\d.]+)/gm)].map((m) => Number(m[1]));
    expect(partDurations.length).toBeGreaterThan(0);
    expect(Math.max(...partDurations)).toBeLessThanOrEqual(0.5);
    // and says so in its log
    await waitFor("the worker's warning", async () => readFileSync(t.logFile, 'utf8').includes("keeping the session's PART-TARGET and PART-HOLD-BACK"), 10_000, 200);
  } finally {
    pub.child.kill('SIGINT');
    await pub.done;
  }
}, 180_000);
