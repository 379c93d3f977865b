/**
 * Thumbnails against a real ffmpeg, no mocks: the live poster loop over a live-paced (-re) HLS
 * stream that ffmpeg writes into local storage (the JPEG is replaced while the stream runs,
 * ffprobe reads it as mjpeg of the right size, it is never cached as immutable), the poster of
 * an AES-128 encrypted session, and the seek-preview sprites + WebVTT track of a VOD packaged by
 * `packageVod` (every cue's region lies inside its sprite, the cues cover the duration).
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CACHE_CONTROL, createLocalStorage } from '@live/storage';
import {
  createLivePoster,
  encryptAes128,
  ffprobe,
  formatIv,
  generateVodThumbnails,
  ivForSequence,
  packageVod,
  parseMediaPlaylist,
  parseThumbnailsVtt,
  runFfmpeg,
  spriteKey,
  thumbnailsVttKey,
  type Rendition,
} from '../src/index.js';

let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'live-thumbs-int-'));
}, 10_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** What the publisher would write for one 240p rendition: fMP4 HLS with 1 s segments, a keyframe at each. */
function hlsArgs(dir: string, opts: { seconds: number; live: boolean }): string[] {
  return [
    '-hide_banner', '-nostats', '-loglevel', 'error', '-y',
    ...(opts.live ? ['-re'] : []),
    '-f', 'lavfi', '-i', 'testsrc2=size=426x240:rate=30',
    '-t', String(opts.seconds),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-threads', '1',
    '-g', '30', '-keyint_min', '30', '-sc_threshold', '0',
    '-f', 'hls', '-hls_time', '1', '-hls_list_size', '0', '-hls_playlist_type', 'event',
    '-hls_segment_type', 'fmp4', '-hls_fmp4_init_filename', 'init_1.mp4',
    '-hls_segment_filename', path.join(dir, 'seg_%05d.m4s'),
    path.join(dir, 'index.m3u8'),
  ];
}

const R240: Rendition = {
  name: '240p', width: 426, height: 240, videoBitrateKbps: 400, maxrateKbps: 440, bufsizeKbps: 800, audioBitrateKbps: 64,
  passthrough: false, profile: 'main', level: '3.0', codecString: 'avc1.4d401e',
};
const LADDER = [{ name: '480p', width: 854, height: 480 }, { name: '240p', width: 426, height: 240 }];

describe('live poster', () => {
  it('replaces sessions/<id>/poster.jpg from the newest segment while the stream runs, and stops with it', async () => {
    const root = path.join(work, 'live');
    const storage = createLocalStorage({ rootDir: root });
    const keyPrefix = 'sessions/live1';
    const dir = path.join(root, keyPrefix, '240p');
    await mkdir(dir, { recursive: true });

    // 320 px: the narrowest rendition at least that wide is 240p (426x240), scaled to 320x180
    const poster = createLivePoster({ storage, keyPrefix, renditions: LADDER, width: 320, intervalMs: 700, firstPosterRetryMs: 200, tmpDir: work });
    const versions: string[] = [];
    let seenEtag: string | undefined;
    let polling = true;
    const watcher = (async () => {
      while (polling) {
        const info = await storage.stat(`${keyPrefix}/poster.jpg`);
        if (info && info.etag !== seenEtag) {
          seenEtag = info.etag;
          expect(info.cacheControl).toBe('public, max-age=10'); // mutable: never immutable
          expect(info.contentType).toBe('image/jpeg');
          const copy = path.join(work, `poster-${versions.length}.jpg`);
          await copyFile(path.join(root, keyPrefix, 'poster.jpg'), copy);
          versions.push(copy);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    poster.start();
    await runFfmpeg(hlsArgs(dir, { seconds: 6, live: true }));
    const segments = parseMediaPlaylist(await readFileUtf8(path.join(dir, 'index.m3u8'))).segments;
    expect(segments.length).toBeGreaterThanOrEqual(5);
    // a first poster, then replaced at least twice while live: wait until the watcher saw them
    const deadline = Date.now() + 30_000;
    while ((poster.written < 3 || versions.length < 3) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await poster.stop();
    const writtenAtStop = poster.written;
    // A quiet spell longer than the poster's period (700 ms): a write after stop() would show here.
    // (Only a negative check waits a fixed time: a slow machine can make it miss a write, never invent one.)
    await new Promise((r) => setTimeout(r, 1500));
    polling = false;
    await watcher;

    // a first poster, then replaced at least twice while live
    expect(writtenAtStop).toBeGreaterThanOrEqual(3);
    expect(versions.length).toBeGreaterThanOrEqual(3);
    for (const file of versions) {
      const probe = await ffprobe(file);
      expect(probe.streams.map((s) => [s.codecType, s.codecName, s.width, s.height])).toEqual([['video', 'mjpeg', 320, 180]]);
    }
    // stopped: no more writes, its scratch directory is gone, a refresh does nothing
    expect(poster.written).toBe(writtenAtStop);
    expect((await readdir(work)).filter((n) => n.startsWith('live-poster-'))).toEqual([]);
    expect(await poster.refresh()).toBeNull();
    // the last poster stays (the broadcast's last frame)
    expect(await storage.stat(`${keyPrefix}/poster.jpg`)).not.toBeNull();
  }, 60_000);

  it('decodes AES-128 encrypted segments with the session key, and skips them without it', async () => {
    const root = path.join(work, 'enc');
    const storage = createLocalStorage({ rootDir: root });
    const src = path.join(work, 'enc-src');
    await mkdir(src, { recursive: true });
    await runFfmpeg(hlsArgs(src, { seconds: 3, live: false }));
    const clear = parseMediaPlaylist(await readFileUtf8(path.join(src, 'index.m3u8'))).segments;
    const key = Buffer.alloc(16, 7);
    const keyPrefix = 'sessions/enc1';
    // as the low-latency packager encrypts: clear init, each segment AES-128-CBC with IV = its sequence number
    await storage.writeSegment(`${keyPrefix}/240p/init_1.mp4`, path.join(src, 'init_1.mp4'));
    const lines = ['#EXTM3U', '#EXT-X-VERSION:7', '#EXT-X-TARGETDURATION:1', '#EXT-X-MAP:URI="init_1.mp4"'];
    for (const seg of clear) {
      const iv = ivForSequence(seg.sequence);
      await storage.writeSegment(`${keyPrefix}/240p/${seg.uri}`, encryptAes128(await readBytes(path.join(src, seg.uri)), key, iv));
      lines.push(`#EXT-X-KEY:METHOD=AES-128,URI="/keys/enc1/0.key",IV=${formatIv(iv)}`, `#EXTINF:${seg.duration.toFixed(6)},`, seg.uri);
    }
    await storage.writePlaylist(`${keyPrefix}/240p/index.m3u8`, lines.join('\n') + '\n');

    const without = createLivePoster({ storage, keyPrefix, renditions: [LADDER[1]!], tmpDir: work });
    expect(await without.refresh()).toBeNull();
    await without.stop();
    expect(await storage.stat(`${keyPrefix}/poster.jpg`)).toBeNull();

    const uris: string[] = [];
    const poster = createLivePoster({
      storage, keyPrefix, renditions: [LADDER[1]!], tmpDir: work,
      decryptionKey: (uri) => {
        uris.push(uri);
        return key;
      },
    });
    const written = await poster.refresh();
    expect(written).toMatchObject({ key: `${keyPrefix}/poster.jpg`, rendition: '240p', sequence: clear.at(-1)!.sequence });
    expect(await poster.refresh()).toBeNull(); // same newest segment: not decoded again
    await poster.stop();
    expect(uris).toEqual(['/keys/enc1/0.key']);
    const probe = await ffprobe(path.join(root, keyPrefix, 'poster.jpg'));
    // 426 px wide is below the default 640: kept as is, never upscaled
    expect(probe.streams.map((s) => [s.codecName, s.width, s.height])).toEqual([['mjpeg', 426, 240]]);
  }, 60_000);
});

describe('VOD thumbnails', () => {
  it('packageVod writes sprites and a WebVTT track whose cues lie inside their sprites and cover the duration', async () => {
    const root = path.join(work, 'vod');
    const storage = createLocalStorage({ rootDir: root });
    const keyPrefix = 'sessions/vod1';
    const dir = path.join(root, keyPrefix, '240p');
    await mkdir(dir, { recursive: true });
    await runFfmpeg(hlsArgs(dir, { seconds: 23, live: false }));

    const vod = await packageVod({ storage, keyPrefix, ladder: [R240], frameRate: 30, tmpDir: work, thumbnails: { intervalSeconds: 2 } });
    expect(vod.thumbnailsKey).toBe(thumbnailsVttKey(keyPrefix));
    expect(Math.abs(vod.durationSeconds - 23)).toBeLessThan(0.1);
    const info = await storage.stat(vod.thumbnailsKey!);
    expect(info).toMatchObject({ contentType: 'text/vtt; charset=utf-8', cacheControl: CACHE_CONTROL.thumbnails });
    const cues = parseThumbnailsVtt((await storage.read(vod.thumbnailsKey!))!.toString('utf8'));
    await expectConsistent(storage, root, keyPrefix, cues, vod.durationSeconds, 2);
    expect(cues).toHaveLength(12); // ceil(23 / 2)
    expect(new Set(cues.map((c) => c.uri))).toEqual(new Set(['sprite_0.jpg']));
    const sheet = await ffprobe(path.join(root, spriteKey(keyPrefix, 0)));
    expect(sheet.streams.map((s) => [s.codecName, s.width, s.height])).toEqual([['mjpeg', 1600, 180]]); // 12 -> 10 x 2 cells
    // nothing left in the scratch directory
    expect((await readdir(work)).filter((n) => n.startsWith('live-thumbs-') || n.startsWith('live-vod-'))).toEqual([]);
  }, 90_000);

  it('fills several sheets (the last one padded), and a re-run with fewer sheets deletes the stale ones', async () => {
    const root = path.join(work, 'vod2');
    const storage = createLocalStorage({ rootDir: root });
    const keyPrefix = 'sessions/vod2';
    const src = path.join(work, 'vod2-src');
    await mkdir(src, { recursive: true });
    await runFfmpeg(hlsArgs(src, { seconds: 23, live: false }));
    const mp4 = path.join(work, 'vod2.mp4');
    await runFfmpeg(['-hide_banner', '-nostats', '-loglevel', 'error', '-y', '-i', path.join(src, 'index.m3u8'), '-c', 'copy', '-movflags', '+faststart', mp4]);
    const durationSeconds = (await ffprobe(mp4)).format.durationSeconds!;

    // 23 s every 1.5 s in 3x2 sheets: ceil(23 / 1.5) = 16 slots, but the last one (22.5 s) starts after
    // the last keyframe (22 s; only keyframes are decoded), so 15 or 16 thumbnails: 3 sheets, the last padded
    const many = await generateVodThumbnails({ storage, keyPrefix, input: mp4, durationSeconds, intervalSeconds: 1.5, maxColumns: 3, maxRows: 2, tmpDir: work });
    expect(many.layout).toEqual({ columns: 3, rows: 2, width: 160, height: 90 });
    expect(many.cues.length).toBeGreaterThanOrEqual(15);
    expect(many.cues.length).toBeLessThanOrEqual(16);
    expect(many.spriteKeys).toEqual([0, 1, 2].map((n) => spriteKey(keyPrefix, n)));
    await expectConsistent(storage, root, keyPrefix, parseThumbnailsVtt((await storage.read(many.vttKey))!.toString()), durationSeconds, 1.5);
    const last = many.cues.length - 1; // sheet floor(last / 6), cell last mod 6, row-major in 3 columns
    expect(many.cues.at(-1)).toMatchObject({ uri: `sprite_${Math.floor(last / 6)}.jpg`, xywh: { x: ((last % 6) % 3) * 160, y: Math.floor((last % 6) / 3) * 90 } });
    for (const n of [0, 1, 2]) {
      const sheet = (await ffprobe(path.join(root, spriteKey(keyPrefix, n)))).streams[0]!;
      expect([sheet.width, sheet.height]).toEqual([480, 180]); // whole sheets, also the padded last one
    }

    const few = await generateVodThumbnails({ storage, keyPrefix, input: mp4, durationSeconds, intervalSeconds: 5, maxColumns: 3, maxRows: 2, tmpDir: work });
    expect(few.cues).toHaveLength(5);
    expect(few.spriteKeys).toEqual([spriteKey(keyPrefix, 0)]);
    expect(await storage.list(`${keyPrefix}/thumbs/`)).toEqual([spriteKey(keyPrefix, 0), thumbnailsVttKey(keyPrefix)]);
    await expectConsistent(storage, root, keyPrefix, parseThumbnailsVtt((await storage.read(few.vttKey))!.toString()), durationSeconds, 5);
  }, 90_000);
});

/** Every cue's region lies inside its sprite (an existing JPEG), cues are contiguous from 0 to the duration. */
async function expectConsistent(
  storage: ReturnType<typeof createLocalStorage>,
  root: string,
  keyPrefix: string,
  cues: ReturnType<typeof parseThumbnailsVtt>,
  durationSeconds: number,
  intervalSeconds: number,
): Promise<void> {
  expect(cues.length).toBeGreaterThan(0);
  expect(cues[0]!.start).toBe(0);
  expect(Math.abs(cues.at(-1)!.end - durationSeconds)).toBeLessThanOrEqual(0.001);
  for (let i = 1; i < cues.length; i++) expect(cues[i]!.start).toBe(cues[i - 1]!.end);
  for (const c of cues.slice(0, -1)) expect(c.end - c.start).toBeCloseTo(intervalSeconds, 3);
  const sizes = new Map<string, { width: number; height: number }>();
  for (const c of cues) {
    let size = sizes.get(c.uri);
    if (!size) {
      const key = `${keyPrefix}/thumbs/${c.uri}`;
      expect((await storage.stat(key))?.cacheControl).toBe(CACHE_CONTROL.thumbnails);
      expect(existsSync(path.join(root, key))).toBe(true);
      const s = (await ffprobe(path.join(root, key))).streams[0]!;
      expect(s.codecName).toBe('mjpeg');
      size = { width: s.width!, height: s.height! };
      sizes.set(c.uri, size);
    }
    expect(c.xywh).not.toBeNull();
    const { x, y, w, h } = c.xywh!;
    expect([w, h]).toEqual([160, 90]);
    expect(x).toBeGreaterThanOrEqual(0);
    expect(y).toBeGreaterThanOrEqual(0);
    expect(x + w).toBeLessThanOrEqual(size.width);
    expect(y + h).toBeLessThanOrEqual(size.height);
  }
}

async function readFileUtf8(file: string): Promise<string> {
  return readFile(file, 'utf8');
}

async function readBytes(file: string): Promise<Buffer> {
  return readFile(file);
}
