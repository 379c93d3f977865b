/**
 * The live pipeline against a real ffmpeg: FLV in, ladder transcode, publisher to local
 * storage, VOD packaging; plus process supervision (abort, escalation, errors).
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLocalStorage, type ObjectStorage } from '@live/storage';
import {
  FfmpegError,
  FfprobeError,
  buildLadderArgs,
  createHlsPublisher,
  ffprobe,
  loadPublisherState,
  nextAttemptNumber,
  nextStartNumber,
  packageVod,
  parseAttributeList,
  parseMediaPlaylist,
  runFfmpeg,
  selectLadder,
  sourceInfoFromProbe,
  topLevelBoxes,
  type PublisherEvents,
  type PublisherState,
  type Rendition,
  type SourceInfo,
} from '../src/index.js';
import { makePublisherFlv } from './publisher-flv.js';

let work: string;
let sourceFlv: string;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'live-media-int-'));
  sourceFlv = path.join(work, 'source.flv');
  // what OBS would publish: H.264 High 1080p30 with a 2 s keyframe interval + AAC
  await makePublisherFlv(sourceFlv, { size: '1920x1080', rate: '30', seconds: 8, videoKbps: 4000, audioKbps: 128, gopFrames: 60 });
}, 60_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** Asserts, at every playlist write, that every segment and init segment it names already exists. */
function watchPublishingOrder(storage: ObjectStorage, root: string): string[] {
  const violations: string[] = [];
  storage.onPlaylistWritten(({ key }) => {
    const text = readFileSync(path.join(root, key), 'utf8');
    const dir = path.dirname(key);
    if (text.includes('#EXT-X-STREAM-INF')) {
      for (const line of text.split('\n')) {
        if (line && !line.startsWith('#') && !existsSync(path.join(root, dir, line))) violations.push(`${key} -> ${line}`);
      }
      return;
    }
    for (const seg of parseMediaPlaylist(text).segments) {
      for (const uri of [seg.uri, seg.map]) {
        if (uri && !existsSync(path.join(root, dir, uri))) violations.push(`${key} -> ${uri}`);
      }
    }
  });
  return violations;
}

async function transcode(opts: {
  source: SourceInfo;
  ladder: Rendition[];
  storage: ObjectStorage;
  keyPrefix: string;
  outputDir: string;
  resume?: PublisherState;
  inputExtra?: string[];
  events?: PublisherEvents;
}) {
  const publisher = createHlsPublisher({
    storage: opts.storage,
    outputDir: opts.outputDir,
    keyPrefix: opts.keyPrefix,
    ladder: opts.ladder,
    source: opts.source,
    pollIntervalMs: 100,
    ...(opts.resume ? { resume: opts.resume } : {}),
    ...(opts.events ? { events: opts.events } : {}),
  });
  const args = buildLadderArgs({
    input: sourceFlv,
    source: opts.source,
    ladder: opts.ladder,
    outputDir: opts.outputDir,
    segmentSeconds: 2,
    startNumber: nextStartNumber(opts.resume),
    initSegmentName: `init_${nextAttemptNumber(opts.resume)}.mp4`,
    frameRate: opts.source.video?.frameRate ?? 30,
    ...(opts.inputExtra ? { inputOptions: { extra: opts.inputExtra } } : {}),
  });
  let speed = 0;
  publisher.start();
  const started = Date.now();
  const result = await runFfmpeg(args, { onProgress: (p) => (speed = p.speed || speed) });
  const wallSeconds = (Date.now() - started) / 1000;
  return { publisher, result, speed, wallSeconds };
}

function streamInfs(master: string) {
  const lines = master.split('\n');
  return lines.flatMap((line, i) =>
    line.startsWith('#EXT-X-STREAM-INF:') ? [{ attrs: parseAttributeList(line.slice('#EXT-X-STREAM-INF:'.length)), uri: lines[i + 1]! }] : [],
  );
}

describe('live ladder pipeline', () => {
  it('transcodes an 8 s 1080p30 FLV into 4 renditions, publishes them, and packages the VOD', async () => {
    const probe = await ffprobe(sourceFlv);
    const source = sourceInfoFromProbe(probe);
    expect(source.video).toMatchObject({ codec: 'h264', width: 1920, height: 1080, frameRate: 30 });
    expect(source.video?.codecString).toMatch(/^avc1\.64/);
    expect(source.audio).toMatchObject({ codec: 'aac', codecString: 'mp4a.40.2', sampleRate: 48000 });

    const ladder = selectLadder(source);
    expect(ladder.map((r) => [r.name, r.passthrough])).toEqual([
      ['1080p', true], ['720p', false], ['480p', false], ['240p', false],
    ]);

    const root = path.join(work, 'storage-a');
    const storage = createLocalStorage({ rootDir: root });
    const violations = watchPublishingOrder(storage, root);
    const keyPrefix = 'sessions/a';
    const segmentEvents: string[] = [];
    let masterEvents = 0;
    const { publisher, result, speed, wallSeconds } = await transcode({
      source, ladder, storage, keyPrefix, outputDir: path.join(work, 'run-a'),
      events: { onSegment: (r, s) => segmentEvents.push(`${r}/${s.uri}`), onMasterWritten: () => masterEvents++ },
    });
    expect(result).toMatchObject({ exitCode: 0, aborted: false });
    console.info(`ladder transcode of 8 s: ${wallSeconds.toFixed(2)} s wall, ffmpeg speed ${speed}x`);

    const state = await publisher.finish();
    expect(violations).toEqual([]);
    expect(state.ended).toBe(true);
    expect(state.masterWritten).toBe(true);
    expect(JSON.parse(JSON.stringify(state))).toEqual(state); // heartbeat-safe
    expect(masterEvents).toBe(1);
    expect(segmentEvents).toHaveLength(state.renditions.reduce((n, r) => n + r.segments.length, 0));

    // master: 4 variants, highest first, with BANDWIDTH / RESOLUTION / CODECS
    const master = (await storage.read(`${keyPrefix}/master.m3u8`))!.toString();
    const infs = streamInfs(master);
    expect(infs.map((v) => [v.uri, v.attrs.RESOLUTION, v.attrs.CODECS, v.attrs['FRAME-RATE']])).toEqual([
      ['1080p/index.m3u8', '1920x1080', `${source.video!.codecString},mp4a.40.2`, '30.000'],
      ['720p/index.m3u8', '1280x720', 'avc1.4d401f,mp4a.40.2', '30.000'],
      ['480p/index.m3u8', '854x480', 'avc1.4d401f,mp4a.40.2', '30.000'],
      ['240p/index.m3u8', '426x240', 'avc1.42c015,mp4a.40.2', '30.000'],
    ]);
    for (const v of infs) {
      expect(v.attrs['CLOSED-CAPTIONS']).toBe('NONE'); // the source has no CEA-608 captions
      expect(Number(v.attrs.BANDWIDTH)).toBeGreaterThan(0);
      expect(Number(v.attrs['AVERAGE-BANDWIDTH'])).toBeLessThanOrEqual(Number(v.attrs.BANDWIDTH));
    }
    expect((await storage.stat(`${keyPrefix}/master.m3u8`))?.cacheControl).toBe('public, max-age=1');

    // every rendition: playable HLS with the expected picture size, H.264 + AAC, 2 s segments
    const expected: Record<string, [number, number]> = { '1080p': [1920, 1080], '720p': [1280, 720], '480p': [854, 480], '240p': [426, 240] };
    const boundaries: number[][] = [];
    for (const [name, [w, h]] of Object.entries(expected)) {
      const playlistPath = path.join(root, keyPrefix, name, 'index.m3u8');
      const probed = await ffprobe(playlistPath);
      const video = probed.streams.find((s) => s.codecType === 'video');
      const audio = probed.streams.find((s) => s.codecType === 'audio');
      expect(video).toMatchObject({ codecName: 'h264', width: w, height: h });
      expect(audio).toMatchObject({ codecName: 'aac' });

      const pl = parseMediaPlaylist(await readFile(playlistPath, 'utf8'));
      expect(pl.endList).toBe(true);
      expect(pl.playlistType).toBe('EVENT');
      expect(pl.segments.length).toBeGreaterThanOrEqual(4);
      for (const s of pl.segments.slice(0, -1)) expect(Math.abs(s.duration - 2)).toBeLessThanOrEqual(0.1);
      expect(pl.segments[0]!.programDateTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(pl.segments[0]!.map).toBe(`init_1_${name}.mp4`);
      expect((await storage.stat(`${keyPrefix}/${name}/${pl.segments[0]!.uri}`))?.cacheControl).toBe('public, max-age=31536000, immutable');
      expect((await storage.stat(`${keyPrefix}/${name}/index.m3u8`))?.cacheControl).toBe('public, max-age=60'); // ended
      let t = 0;
      boundaries.push(pl.segments.slice(0, 3).map((s) => (t += s.duration)));
    }
    // keyframe-aligned: the first segment boundaries are at the same instants in every rendition
    for (const b of boundaries) expect(b).toEqual(boundaries[0]);

    // VOD
    const vod = await packageVod({ storage, keyPrefix, state });
    expect(vod.mp4Key).toBe(`${keyPrefix}/vod.mp4`);
    expect(vod.masterKey).toBe(`${keyPrefix}/vod.m3u8`);
    expect(vod.durationSeconds).toBeGreaterThan(7);
    expect(vod.renditions.map((r) => r.name)).toEqual(['1080p', '720p', '480p', '240p']);
    const mp4Path = path.join(root, vod.mp4Key!);
    const mp4 = await ffprobe(mp4Path);
    expect(Math.abs(mp4.format.durationSeconds! - 8)).toBeLessThanOrEqual(1);
    expect(mp4.streams.map((s) => [s.codecType, s.codecName])).toEqual([['video', 'h264'], ['audio', 'aac']]);
    const boxes = (await topLevelBoxes(mp4Path)).map((b) => b.type);
    expect(boxes.indexOf('moov')).toBeGreaterThanOrEqual(0);
    expect(boxes.indexOf('moov')).toBeLessThan(boxes.indexOf('mdat'));
    expect((await storage.stat(vod.mp4Key!))?.contentType).toBe('video/mp4');

    const vodMaster = (await storage.read(vod.masterKey))!.toString();
    expect(streamInfs(vodMaster).map((v) => v.uri)).toEqual(['1080p/vod.m3u8', '720p/vod.m3u8', '480p/vod.m3u8', '240p/vod.m3u8']);
    const vod720 = parseMediaPlaylist((await storage.read(`${keyPrefix}/720p/vod.m3u8`))!.toString());
    expect(vod720).toMatchObject({ playlistType: 'VOD', endList: true });
    expect((await storage.stat(`${keyPrefix}/720p/vod.m3u8`))?.cacheControl).toBe('public, max-age=60');
    const vodPlayable = await ffprobe(path.join(root, keyPrefix, 'vod.m3u8'));
    expect(vodPlayable.streams.some((s) => s.codecType === 'video' && s.width === 1920)).toBe(true);
  }, 120_000);

  it('a retried transcode continues the same playlists after EXT-X-DISCONTINUITY', async () => {
    const source = sourceInfoFromProbe(await ffprobe(sourceFlv));
    const ladder = selectLadder(source);
    const root = path.join(work, 'storage-b');
    const storage = createLocalStorage({ rootDir: root });
    const violations = watchPublishingOrder(storage, root);
    const keyPrefix = 'sessions/b';

    // attempt 1: only 4 s of input, then "the worker dies" (no finish(), no ENDLIST)
    const first = await transcode({ source, ladder, storage, keyPrefix, outputDir: path.join(work, 'run-b1'), inputExtra: ['-t', '4'] });
    await first.publisher.stop();
    await first.publisher.poll();
    const heartbeat = JSON.parse(JSON.stringify(first.publisher.state())) as PublisherState;
    const startNumber = nextStartNumber(heartbeat);
    expect(startNumber).toBeGreaterThanOrEqual(2);
    expect(nextAttemptNumber(heartbeat)).toBe(2);
    const live720 = (await storage.read(`${keyPrefix}/720p/index.m3u8`))!.toString();
    expect(live720).not.toContain('#EXT-X-ENDLIST');

    // the alternative resume path sees the same published segments
    const rebuilt = await loadPublisherState(storage, keyPrefix, ladder);
    for (const [i, r] of rebuilt.renditions.entries()) {
      expect(r.segments.map((s) => [s.uri, s.duration, s.map, s.bytes])).toEqual(
        heartbeat.renditions[i]!.segments.map((s) => [s.uri, s.duration, s.map, s.bytes]),
      );
      expect(r.lastSequence).toBe(heartbeat.renditions[i]!.lastSequence);
    }
    expect(rebuilt.masterWritten).toBe(true);

    // attempt 2 on another "worker": fresh work dir, resumes from the heartbeat
    const second = await transcode({ source, ladder, storage, keyPrefix, outputDir: path.join(work, 'run-b2'), resume: heartbeat });
    expect(second.result.exitCode).toBe(0);
    const final = await second.publisher.finish();
    expect(violations).toEqual([]);

    for (const r of final.renditions) {
      const name = r.rendition.name;
      const text = (await storage.read(`${keyPrefix}/${name}/index.m3u8`))!.toString();
      const pl = parseMediaPlaylist(text);
      expect(text.match(/#EXT-X-DISCONTINUITY\n/g)).toHaveLength(1);
      expect(text.match(/#EXT-X-PROGRAM-DATE-TIME/g)).toHaveLength(2);
      expect([...text.matchAll(/#EXT-X-MAP:URI="([^"]+)"/g)].map((m) => m[1])).toEqual([`init_1_${name}.mp4`, `init_2_${name}.mp4`]);
      expect(pl.endList).toBe(true);
      const cut = pl.segments.findIndex((s) => s.discontinuity);
      const before = heartbeat.renditions.find((h) => h.rendition.name === name)!.segments.length;
      expect(cut).toBe(before);
      expect(pl.segments[cut]!.uri).toBe(`seg_${String(startNumber).padStart(5, '0')}.m4s`);
      // names are never reused
      expect(new Set(pl.segments.map((s) => s.uri)).size).toBe(pl.segments.length);
    }

    // VOD from storage alone (ladder, no state): joins both attempts, ~4 s + 8 s
    const vod = await packageVod({ storage, keyPrefix, ladder, frameRate: 30 });
    const mp4Path = path.join(root, vod.mp4Key!);
    const probed = await ffprobe(mp4Path);
    expect(Math.abs(probed.format.durationSeconds! - vod.durationSeconds)).toBeLessThanOrEqual(1);
    expect(vod.durationSeconds).toBeGreaterThan(10);
    const boxes = (await topLevelBoxes(mp4Path)).map((b) => b.type);
    expect(boxes.indexOf('moov')).toBeLessThan(boxes.indexOf('mdat'));
  }, 120_000);
});

describe('ffmpeg supervision', () => {
  it('an AbortSignal stops a live transcode gracefully (q, no signal needed), leaving no process', async () => {
    const source = sourceInfoFromProbe(await ffprobe(sourceFlv));
    const ladder = selectLadder(source);
    const outputDir = path.join(work, 'run-abort');
    const args = buildLadderArgs({
      input: sourceFlv,
      source,
      ladder,
      outputDir,
      segmentSeconds: 2,
      startNumber: 0,
      initSegmentName: 'init_1.mp4',
      frameRate: 30,
      // an endless live-paced input
      inputOptions: { realtime: true, extra: ['-stream_loop', '-1'] },
    });
    const controller = new AbortController();
    let pid: number | undefined;
    let abortedAt = 0;
    const killGraceMs = 30_000; // so long that only 'q' can have stopped it (no SIGTERM, however loaded the machine)
    const result = await runFfmpeg(args, {
      signal: controller.signal,
      killGraceMs,
      onSpawn: (p) => (pid = p),
      onProgress: (p) => {
        if (p.outTimeMs > 2500 && !controller.signal.aborted) {
          abortedAt = Date.now();
          controller.abort();
        }
      },
    });
    const stoppedIn = Date.now() - abortedAt;
    expect(abortedAt).toBeGreaterThan(0);
    expect(result.aborted).toBe(true);
    expect(stoppedIn).toBeLessThan(killGraceMs); // stopped by 'q', before any signal was sent
    expect(pid).toBeDefined();
    expect(isAlive(pid!)).toBe(false);
    // 'q' is a graceful stop: ffmpeg closed its playlists
    expect(await readFile(path.join(outputDir, '720p', 'ffmpeg.m3u8'), 'utf8')).toContain('#EXT-X-ENDLIST');
  }, 90_000);

  it('escalates to signals when ffmpeg cannot read q (stalled input)', async () => {
    // an "ingest relay" that accepts the connection and never answers
    const sockets: Socket[] = [];
    const server: Server = createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const controller = new AbortController();
      let pid: number | undefined;
      const pending = runFfmpeg(['-nostats', '-rw_timeout', '60000000', '-i', `http://127.0.0.1:${port}/relay/x.flv?token=s3cret`, '-f', 'null', '-'], {
        signal: controller.signal,
        killGraceMs: 500,
        onSpawn: (p) => (pid = p),
      });
      // ffmpeg is stuck once it has connected to the relay that never answers
      await vi.waitFor(() => { if (sockets.length === 0) throw new Error('ffmpeg has not connected yet'); }, { timeout: 20_000, interval: 20 });
      const t = Date.now();
      controller.abort();
      const result = await pending;
      // SIGTERM after 500 ms, SIGKILL after 1 s: far sooner than the 60 s read timeout would end it
      expect(Date.now() - t).toBeLessThan(20_000);
      expect(result.aborted).toBe(true);
      expect(isAlive(pid!)).toBe(false);
      expect(result.stderrTail).not.toContain('s3cret');
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
    }
  }, 30_000);

  it('throws FfmpegError with the (redacted) stderr tail on failure', async () => {
    const err = await runFfmpeg(['-nostats', '-i', path.join(work, 'missing.flv?token=s3cret'), '-f', 'null', '-']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FfmpegError);
    const e = err as FfmpegError;
    expect(e.exitCode).not.toBe(0);
    expect(e.stderrTail).toContain('No such file or directory');
    expect(e.stderrTail).toContain('token=***');
    expect(e.message).not.toContain('s3cret');
    await expect(ffprobe(path.join(work, 'missing.flv'))).rejects.toBeInstanceOf(FfprobeError);
    await expect(runFfmpeg(['-version'], { ffmpegPath: path.join(work, 'no-such-ffmpeg'), killOnParentDeath: false })).rejects.toBeInstanceOf(FfmpegError);
  }, 30_000);
});
