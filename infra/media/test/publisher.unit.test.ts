/**
 * The publisher against a simulated ffmpeg work directory (no ffmpeg): publishing order,
 * retries after storage failures, resume with a discontinuity, stale work directories.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalStorage, type ObjectStorage } from '@live/storage';
import {
  PublisherError,
  createHlsPublisher,
  loadPublisherState,
  nextStartNumber,
  parseMediaPlaylist,
  selectLadder,
  type Rendition,
} from '../src/index.js';

let dir: string;
let storage: ObjectStorage;
const ladder: Rendition[] = selectLadder({ video: { codec: 'hevc', width: 1280, height: 720, frameRate: 30 } }).slice(0, 2); // 720p, 480p
const keyPrefix = 'sessions/s1';

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'live-publisher-'));
  storage = createLocalStorage({ rootDir: path.join(dir, 'store') });
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Writes what ffmpeg would have written for `count` segments starting at `start`. */
async function fakeFfmpeg(outputDir: string, attempt: number, start: number, count: number, ended = false) {
  for (const r of ladder) {
    const d = path.join(outputDir, r.name);
    await mkdir(d, { recursive: true });
    const init = `init_${attempt}_${r.name}.mp4`;
    await writeFile(path.join(d, init), `init ${attempt} ${r.name}`);
    let text = `#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:${start}\n#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI="${init}"\n`;
    for (let n = start; n < start + count; n++) {
      const uri = `seg_${String(n).padStart(5, '0')}.m4s`;
      await writeFile(path.join(d, uri), Buffer.alloc(1000 + n));
      const pdt = new Date(Date.UTC(2026, 0, 1, 0, 0, 0) + (attempt * 1000 + n) * 2000).toISOString().replace('Z', '+0000');
      text += `#EXTINF:2.000000,\n#EXT-X-PROGRAM-DATE-TIME:${pdt}\n${uri}\n`;
    }
    if (ended) text += '#EXT-X-ENDLIST\n';
    await writeFile(path.join(d, 'ffmpeg.m3u8'), text);
  }
}

describe('createHlsPublisher', () => {
  it('publishes segments before playlists and the master once every rendition has a segment', async () => {
    const log: string[] = [];
    storage.onSegmentWritten(({ key }) => log.push(`segment ${key}`));
    storage.onPlaylistWritten(({ key, live }) => log.push(`playlist ${key} live=${live}`));
    const outputDir = path.join(dir, 'run1');
    const seen: string[] = [];
    let masters = 0;
    const pub = createHlsPublisher({
      storage, outputDir, keyPrefix, ladder, frameRate: 30,
      events: { onSegment: (r, s) => seen.push(`${r}:${s.sequence}`), onMasterWritten: () => masters++ },
    });

    expect(await pub.poll()).toBe(0); // nothing yet
    await fakeFfmpeg(outputDir, 1, 0, 1);
    expect(await pub.poll()).toBe(2);
    // renditions are published concurrently; within each: init, segment, then its playlist
    for (const name of ['720p', '480p']) {
      expect(log.filter((l) => l.includes(`/${name}/`))).toEqual([
        `segment sessions/s1/${name}/init_1_${name}.mp4`,
        `segment sessions/s1/${name}/seg_00000.m4s`,
        `playlist sessions/s1/${name}/index.m3u8 live=true`,
      ]);
    }
    expect(log).toHaveLength(7);
    expect(log.at(-1)).toBe('playlist sessions/s1/master.m3u8 live=true');
    expect(masters).toBe(1);
    expect(seen.sort()).toEqual(['480p:0', '720p:0']);

    log.length = 0;
    await fakeFfmpeg(outputDir, 1, 0, 3, true);
    expect(await pub.poll()).toBe(4);
    expect(log.filter((l) => l.includes('720p'))).toEqual([
      'segment sessions/s1/720p/seg_00001.m4s',
      'segment sessions/s1/720p/seg_00002.m4s',
      'playlist sessions/s1/720p/index.m3u8 live=true',
    ]);
    expect(log.some((l) => l.includes('master'))).toBe(false); // written once
    expect(log.some((l) => l.includes('init_'))).toBe(false); // init uploaded once per attempt

    const state = await pub.finish();
    expect(state.ended).toBe(true);
    const text = (await storage.read(`${keyPrefix}/720p/index.m3u8`))!.toString();
    expect(text).toBe(`#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-PLAYLIST-TYPE:EVENT
#EXT-X-MAP:URI="init_1_720p.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:33:20.000Z
#EXTINF:2.000000,
seg_00000.m4s
#EXTINF:2.000000,
seg_00001.m4s
#EXTINF:2.000000,
seg_00002.m4s
#EXT-X-ENDLIST
`);
    expect((await storage.stat(`${keyPrefix}/720p/index.m3u8`))?.cacheControl).toBe('public, max-age=60');
    // init segments are not H.264 here, so CODECS falls back to the ladder's values
    const master = (await storage.read(`${keyPrefix}/master.m3u8`))!.toString();
    expect(master).toBe(`#EXTM3U
#EXT-X-VERSION:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-STREAM-INF:BANDWIDTH=3428000,AVERAGE-BANDWIDTH=3128000,RESOLUTION=1280x720,CODECS="avc1.4d401f,mp4a.40.2",FRAME-RATE=30.000
720p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=1448000,AVERAGE-BANDWIDTH=1328000,RESOLUTION=854x480,CODECS="avc1.4d401f,mp4a.40.2",FRAME-RATE=30.000
480p/index.m3u8
`);
    expect(state.renditions[0]!.segments.map((s) => s.bytes)).toEqual([1000, 1001, 1002]);
  });

  it('retries a failed playlist write on the next poll without re-reporting segments', async () => {
    let failNext = true;
    const flaky: ObjectStorage = {
      ...storage,
      async writePlaylist(key, text, opts) {
        if (failNext && key.endsWith('720p/index.m3u8')) {
          failNext = false;
          throw new Error('EIO');
        }
        return storage.writePlaylist(key, text, opts);
      },
    };
    const outputDir = path.join(dir, 'run1');
    const seen: string[] = [];
    const pub = createHlsPublisher({ storage: flaky, outputDir, keyPrefix, ladder, events: { onSegment: (r, s) => seen.push(`${r}:${s.sequence}`) } });
    await fakeFfmpeg(outputDir, 1, 0, 2);
    await expect(pub.poll()).rejects.toThrow('EIO');
    expect(seen).toEqual(['480p:0', '480p:1']); // 720p is not in a published playlist yet
    expect(await storage.read(`${keyPrefix}/master.m3u8`)).toBeNull();
    expect(await pub.poll()).toBe(0);
    expect(seen).toEqual(['480p:0', '480p:1', '720p:0', '720p:1']);
    expect(parseMediaPlaylist((await storage.read(`${keyPrefix}/720p/index.m3u8`))!.toString()).segments).toHaveLength(2);
    expect(await storage.read(`${keyPrefix}/master.m3u8`)).not.toBeNull();
  });

  it('resumes after a retry: same playlists, EXT-X-DISCONTINUITY, new map, numbering continues', async () => {
    const run1 = path.join(dir, 'run1');
    const first = createHlsPublisher({ storage, outputDir: run1, keyPrefix, ladder });
    await fakeFfmpeg(run1, 1, 0, 3);
    await first.poll();
    const heartbeat = JSON.parse(JSON.stringify(first.state()));
    expect(nextStartNumber(heartbeat)).toBe(3);

    const run2 = path.join(dir, 'run2');
    const second = createHlsPublisher({ storage, outputDir: run2, keyPrefix, ladder, resume: heartbeat });
    await fakeFfmpeg(run2, 2, 3, 2, true);
    await second.finish();
    const text = (await storage.read(`${keyPrefix}/480p/index.m3u8`))!.toString();
    expect(text).toBe(`#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-PLAYLIST-TYPE:EVENT
#EXT-X-MAP:URI="init_1_480p.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:33:20.000Z
#EXTINF:2.000000,
seg_00000.m4s
#EXTINF:2.000000,
seg_00001.m4s
#EXTINF:2.000000,
seg_00002.m4s
#EXT-X-DISCONTINUITY
#EXT-X-MAP:URI="init_2_480p.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-01-01T01:06:46.000Z
#EXTINF:2.000000,
seg_00003.m4s
#EXTINF:2.000000,
seg_00004.m4s
#EXT-X-ENDLIST
`);
    // the storage-only resume path reads back the same thing
    const rebuilt = await loadPublisherState(storage, keyPrefix, ladder);
    expect(rebuilt.ended).toBe(true);
    expect(rebuilt.masterWritten).toBe(true);
    expect(rebuilt.renditions[1]!.segments.map((s) => [s.sequence, s.discontinuity, s.map, s.bytes])).toEqual([
      [0, false, 'init_1_480p.mp4', 1000],
      [1, false, 'init_1_480p.mp4', 1001],
      [2, false, 'init_1_480p.mp4', 1002],
      [3, true, 'init_2_480p.mp4', 1003],
      [4, false, 'init_2_480p.mp4', 1004],
    ]);
    expect(rebuilt.renditions[1]!.initSegments).toEqual(['init_1_480p.mp4', 'init_2_480p.mp4']);
  });

  it('refuses to republish a segment number (stale work dir or wrong startNumber)', async () => {
    const run1 = path.join(dir, 'run1');
    const first = createHlsPublisher({ storage, outputDir: run1, keyPrefix, ladder });
    await fakeFfmpeg(run1, 1, 0, 2);
    await first.poll();
    const second = createHlsPublisher({ storage, outputDir: run1, keyPrefix, ladder, resume: first.state() });
    await expect(second.poll()).rejects.toBeInstanceOf(PublisherError);
  });

  it('background polling reports errors and keeps going', async () => {
    const outputDir = path.join(dir, 'run1');
    const errors: unknown[] = [];
    const pub = createHlsPublisher({ storage, outputDir, keyPrefix, ladder, pollIntervalMs: 20, events: { onError: (e) => errors.push(e) } });
    await mkdir(path.join(outputDir, '720p'), { recursive: true });
    await writeFile(path.join(outputDir, '720p', 'ffmpeg.m3u8'), 'not a playlist\n');
    pub.start();
    await expect.poll(() => errors.length, { timeout: 20_000, interval: 20 }).toBeGreaterThan(0);
    await fakeFfmpeg(outputDir, 1, 0, 1);
    // it keeps polling: the master playlist appears once the playlist is valid
    await expect.poll(async () => (await storage.read(`${keyPrefix}/master.m3u8`)) !== null, { timeout: 20_000, interval: 20 }).toBe(true);
    await pub.stop();
    expect(await storage.read(`${keyPrefix}/master.m3u8`)).not.toBeNull();
  }, 60_000);
});
