import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CACHE_CONTROL,
  InvalidStorageKeyError,
  contentTypeFor,
  createLocalStorage,
  type ObjectStorage,
  type PlaylistWrittenEvent,
  type SegmentWrittenEvent,
} from '../src/index.js';

let root: string;
let storage: ObjectStorage;

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'live-storage-'));
  storage = createLocalStorage({ rootDir: path.join(root, 'store') });
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function readStream(stream: NodeJS.ReadableStream | null): Promise<string> {
  expect(stream).not.toBeNull();
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

describe('key validation (path traversal)', () => {
  const bad = [
    '',
    '../secret.txt',
    'sessions/../../etc/passwd',
    'sessions/..',
    '..',
    '/etc/passwd',
    'a\\..\\b',
    'a\\b.m4s',
    'a\0b.m4s',
    'a\nb.m4s',
    'a//b.m4s',
    '.hidden',
    'sessions/.x.m3u8.meta.json',
    'C:/Windows/win.ini',
    'a/b/',
  ];

  it.each(bad)('refuses %j on every method', async (key) => {
    const calls: Array<() => Promise<unknown>> = [
      () => storage.writeSegment(key, new Uint8Array([1])),
      () => storage.writePlaylist(key, '#EXTM3U\n'),
      () => storage.read(key),
      () => storage.createReadStream(key),
      () => storage.stat(key),
    ];
    for (const call of calls) {
      await expect(call()).rejects.toBeInstanceOf(InvalidStorageKeyError);
    }
  });

  it('refuses traversal in list/delete prefixes and an empty delete prefix', async () => {
    for (const prefix of ['../', '/tmp', 'a/../..', 'a\\b', 'x\0']) {
      await expect(storage.list(prefix)).rejects.toBeInstanceOf(InvalidStorageKeyError);
      await expect(storage.delete(prefix)).rejects.toBeInstanceOf(InvalidStorageKeyError);
    }
    await expect(storage.delete('')).rejects.toBeInstanceOf(InvalidStorageKeyError);
  });

  it('cannot read a file that exists outside the root', async () => {
    await writeFile(path.join(root, 'secret.txt'), 'secret');
    await expect(storage.read('../secret.txt')).rejects.toThrow(InvalidStorageKeyError);
    await expect(storage.read('store/../../secret.txt')).rejects.toMatchObject({ code: 'INVALID_STORAGE_KEY' });
  });
});

describe('segments and playlists', () => {
  it('writes, reads, ranges and lists objects', async () => {
    await storage.writeSegment('s/1/720p/seg_00000.m4s', Buffer.from('0123456789'));
    const src = path.join(root, 'local.mp4');
    await writeFile(src, 'copied-from-a-file');
    await storage.writeSegment('s/1/720p/init_1.mp4', src);
    await storage.writePlaylist('s/1/720p/index.m3u8', '#EXTM3U\n');
    await storage.writeSegment('s/12/x.jpg', Buffer.from('jpg'));

    expect((await storage.read('s/1/720p/seg_00000.m4s'))?.toString()).toBe('0123456789');
    expect((await storage.read('s/1/720p/init_1.mp4'))?.toString()).toBe('copied-from-a-file');
    expect(await storage.read('s/1/720p/missing.m4s')).toBeNull();
    expect(await storage.read('s/1/720p')).toBeNull(); // a directory is not an object

    expect(await readStream(await storage.createReadStream('s/1/720p/seg_00000.m4s', { start: 2, end: 5 }))).toBe('2345');
    expect(await readStream(await storage.createReadStream('s/1/720p/seg_00000.m4s', { start: 8, end: 100 }))).toBe('89');
    expect(await readStream(await storage.createReadStream('s/1/720p/seg_00000.m4s'))).toBe('0123456789');
    expect(await storage.createReadStream('nope.m4s')).toBeNull();
    await expect(storage.createReadStream('s/1/720p/seg_00000.m4s', { start: 5, end: 2 })).rejects.toBeInstanceOf(RangeError);

    expect(await storage.list('s/1/')).toEqual(['s/1/720p/index.m3u8', 's/1/720p/init_1.mp4', 's/1/720p/seg_00000.m4s']);
    // plain string prefix, as S3 ListObjectsV2
    expect(await storage.list('s/1')).toEqual([
      's/1/720p/index.m3u8',
      's/1/720p/init_1.mp4',
      's/1/720p/seg_00000.m4s',
      's/12/x.jpg',
    ]);
    expect(await storage.list('s/1/720p/seg_')).toEqual(['s/1/720p/seg_00000.m4s']);
    expect(await storage.list('')).toHaveLength(4);
    expect(await storage.list('nothing/here/')).toEqual([]);

    await storage.delete('s/1/');
    expect(await storage.list('')).toEqual(['s/12/x.jpg']);
    await storage.delete('s/12/x.jpg');
    expect(await storage.list('')).toEqual([]);
  });

  it('sets content types and cache control', async () => {
    const cases: Array<[string, string]> = [
      ['a/index.m3u8', 'application/vnd.apple.mpegurl'],
      ['a/seg_00001.m4s', 'video/iso.segment'],
      ['a/init_1.mp4', 'video/mp4'],
      ['a/seg_1.ts', 'video/mp2t'],
      ['a/thumb.jpg', 'image/jpeg'],
      ['a/captions.vtt', 'text/vtt; charset=utf-8'],
      ['a/meta.json', 'application/json'],
      ['a/blob.bin', 'application/octet-stream'],
    ];
    for (const [key, type] of cases) expect(contentTypeFor(key)).toBe(type);

    await storage.writeSegment('a/seg_00001.m4s', Buffer.from('x'));
    await storage.writeSegment('a/thumb.jpg', Buffer.from('x'));
    await storage.writePlaylist('a/index.m3u8', '#EXTM3U\n', { live: true });
    await storage.writePlaylist('a/master.m3u8', '#EXTM3U\n');
    await storage.writePlaylist('a/vod.m3u8', '#EXTM3U\n', { live: true }); // vod.m3u8 is always VOD
    await storage.writePlaylist('a/720p/vod.m3u8', '#EXTM3U\n');

    const seg = await storage.stat('a/seg_00001.m4s');
    expect(seg).toMatchObject({ key: 'a/seg_00001.m4s', size: 1, contentType: 'video/iso.segment', cacheControl: 'public, max-age=31536000, immutable' });
    expect(seg?.etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"$/);
    expect(seg?.lastModified).toBeInstanceOf(Date);
    expect((await storage.stat('a/thumb.jpg'))?.cacheControl).toBe(CACHE_CONTROL.segment);
    expect(await storage.stat('a/index.m3u8')).toMatchObject({ contentType: 'application/vnd.apple.mpegurl', cacheControl: 'public, max-age=1' });
    expect((await storage.stat('a/master.m3u8'))?.cacheControl).toBe('public, max-age=1');
    expect((await storage.stat('a/vod.m3u8'))?.cacheControl).toBe('public, max-age=60');
    expect((await storage.stat('a/720p/vod.m3u8'))?.cacheControl).toBe('public, max-age=60');
    expect(await storage.stat('a/missing.m3u8')).toBeNull();

    // a live playlist that ended keeps its name but becomes cacheable for a minute
    const before = await storage.stat('a/index.m3u8');
    await storage.writePlaylist('a/index.m3u8', '#EXTM3U\n#EXT-X-ENDLIST\n', { live: false });
    const after = await storage.stat('a/index.m3u8');
    expect(after?.cacheControl).toBe('public, max-age=60');
    expect(after?.etag).not.toBe(before?.etag);
    // ...and back to live (e.g. a resumed session)
    await storage.writePlaylist('a/index.m3u8', '#EXTM3U\n', { live: true });
    expect((await storage.stat('a/index.m3u8'))?.cacheControl).toBe('public, max-age=1');
    // sidecars and temp files never show up as objects
    expect(await storage.list('a/')).toEqual([
      'a/720p/vod.m3u8',
      'a/index.m3u8',
      'a/master.m3u8',
      'a/seg_00001.m4s',
      'a/thumb.jpg',
      'a/vod.m3u8',
    ]);
  });

  it('writes playlists atomically: concurrent readers only ever see whole versions', async () => {
    const versions = Array.from({ length: 40 }, (_, i) => `#EXTM3U\n#V:${i}\n` + `#EXTINF:2.000000,\nseg_${i}.m4s\n`.repeat(2000 + i * 50));
    const known = new Set(versions);
    let writing = true;
    let reads = 0;
    const reader = (async () => {
      while (writing) {
        const got = await storage.read('live/720p/index.m3u8');
        if (got !== null) {
          reads++;
          expect(known.has(got.toString('utf8'))).toBe(true);
        }
      }
    })();
    for (const v of versions) await storage.writePlaylist('live/720p/index.m3u8', v);
    writing = false;
    await reader;
    expect(reads).toBeGreaterThan(0);
    expect((await storage.read('live/720p/index.m3u8'))?.toString()).toBe(versions.at(-1));
    // no temp files left behind
    const files = await readdir(path.join(root, 'store/live/720p'));
    expect(files).toEqual(['index.m3u8']);
  });

  it('calls segment and playlist listeners after the write, and unsubscribes', async () => {
    const segs: SegmentWrittenEvent[] = [];
    const lists: PlaylistWrittenEvent[] = [];
    const offSeg = storage.onSegmentWritten((e) => {
      segs.push(e);
    });
    storage.onPlaylistWritten((e) => lists.push(e));
    storage.onSegmentWritten(() => {
      throw new Error('a broken listener must not fail the write');
    });
    await storage.writeSegment('k/seg.m4s', Buffer.from('abc'));
    await storage.writePlaylist('k/index.m3u8', '#EXTM3U\n', { live: false });
    offSeg();
    await storage.writeSegment('k/seg2.m4s', Buffer.from('abc'));
    expect(segs).toEqual([{ key: 'k/seg.m4s', size: 3 }]);
    expect(lists).toEqual([{ key: 'k/index.m3u8', size: 8, live: false }]);
  });
});

describe('deleteObjects (live-window retention)', () => {
  it('deletes exactly the given files with their sidecars, and nothing when a key is invalid', async () => {
    for (let i = 0; i < 6; i++) await storage.writeSegment(`s/720p/seg_${i}.m4s`, Buffer.from(String(i)));
    await storage.writePlaylist('s/720p/index.m3u8', '#EXTM3U\n#EXT-X-ENDLIST\n', { live: false }); // has a sidecar
    expect(await readdir(path.join(root, 'store/s/720p'))).toContain('.index.m3u8.meta.json');

    await expect(storage.deleteObjects(['s/720p/seg_0.m4s', 's/720p/../../../escape'])).rejects.toBeInstanceOf(InvalidStorageKeyError);
    expect(await storage.list('s/')).toHaveLength(7);

    await storage.deleteObjects(['s/720p/seg_0.m4s', 's/720p/seg_1.m4s', 's/720p/seg_1.m4s', 's/720p/gone.m4s', 's/720p/index.m3u8']);
    expect((await readdir(path.join(root, 'store/s/720p'))).sort()).toEqual(['seg_2.m4s', 'seg_3.m4s', 'seg_4.m4s', 'seg_5.m4s']);

    // a directory is not an object: left alone
    await storage.deleteObjects(['s/720p', 's']);
    expect(await storage.list('s/')).toHaveLength(4);
  });

  it('does nothing for an empty list', async () => {
    await storage.deleteObjects([]);
    expect(await storage.list('')).toEqual([]);
  });
});

describe('writeObject (live poster, thumbnails)', () => {
  it('keeps the poster Cache-Control in a sidecar, and a concurrent stat never pairs new bytes with the immutable default', async () => {
    const key = 'sessions/p/poster.jpg';
    const dir = path.join(root, 'store/sessions/p');
    await storage.writeObject(key, Buffer.from('jpeg-0'), { cacheControl: CACHE_CONTROL.poster });
    expect((await readdir(dir)).sort()).toEqual(['.poster.jpg.meta.json', 'poster.jpg']);

    // the edge stats while the worker rewrites every few ms: always max-age=10
    let writing = true;
    const seen = new Set<string>();
    const reader = (async () => {
      while (writing) {
        const info = await storage.stat(key);
        if (info) seen.add(info.cacheControl);
      }
    })();
    for (let i = 1; i <= 30; i++) await storage.writeObject(key, Buffer.from(`jpeg-${i}`), { cacheControl: CACHE_CONTROL.poster });
    writing = false;
    await reader;
    expect([...seen]).toEqual(['public, max-age=10']);
    expect((await storage.read(key))?.toString()).toBe('jpeg-30');
    expect((await readdir(dir)).sort()).toEqual(['.poster.jpg.meta.json', 'poster.jpg']); // no temp files left

    // written as an immutable segment: the sidecar goes away
    await storage.writeSegment(key, Buffer.from('final'));
    expect(await readdir(dir)).toEqual(['poster.jpg']);
    expect((await storage.stat(key))?.cacheControl).toBe(CACHE_CONTROL.segment);
    // and deleting the session removes sidecars too
    await storage.writeObject(key, Buffer.from('again'), { cacheControl: CACHE_CONTROL.poster });
    await storage.delete('sessions/p/');
    expect(await storage.list('')).toEqual([]);
  });
});
