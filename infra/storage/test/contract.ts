/**
 * The {@link ObjectStorage} contract, as one Vitest suite that runs against every backend: the
 * local directory (local-contract.unit.test.ts) and S3 on a real MinIO (s3.int.test.ts). What a
 * caller may rely on whatever the backend: content types and Cache-Control, quoted strong
 * ETags, inclusive byte ranges, sorted listings across pages, prefix and exact-key deletes,
 * callbacks, key validation before any I/O, `null` for missing objects.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  CACHE_CONTROL,
  InvalidStorageKeyError,
  type ObjectStorage,
  type PlaylistWrittenEvent,
  type SegmentWrittenEvent,
} from '../src/index.js';

/** A storage under test; `cleanup` runs after each test. */
export interface ContractSubject {
  storage: ObjectStorage;
  cleanup?: () => Promise<void>;
}

/** Reads a stream to a Buffer (the stream must not be null). */
export async function readAll(stream: NodeJS.ReadableStream | null): Promise<Buffer> {
  expect(stream).not.toBeNull();
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer | string>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Keys every method must refuse (path traversal, absolute, control characters, hidden segments, ...). */
export const INVALID_KEYS = [
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
  'x'.repeat(1025),
];

/**
 * Declares the contract suite for one backend.
 *
 * @param name shown in the test names, e.g. `local` or `s3 (minio)`.
 * @param subject creates a fresh, empty storage for each test.
 * @param opts.timeoutMs per-test timeout (default 30 s: the >1000-object tests write 1100 objects).
 */
export function describeObjectStorageContract(name: string, subject: () => Promise<ContractSubject>, opts: { timeoutMs?: number } = {}): void {
  describe(`ObjectStorage contract: ${name}`, { timeout: opts.timeoutMs ?? 30_000 }, () => {
    let storage: ObjectStorage;
    let cleanup: (() => Promise<void>) | undefined;
    let scratch: string;

    beforeAll(async () => {
      scratch = await mkdtemp(path.join(tmpdir(), 'live-storage-contract-'));
    });
    afterAll(async () => {
      await rm(scratch, { recursive: true, force: true });
    });
    beforeEach(async () => {
      ({ storage, cleanup } = await subject());
    });
    afterEach(async () => {
      await cleanup?.();
    });

    it.each(INVALID_KEYS.map((key) => [JSON.stringify(key).slice(0, 40), key]))('refuses the key %s on every method', async (_label, key) => {
      const calls: Array<() => Promise<unknown>> = [
        () => storage.writeSegment(key, new Uint8Array([1])),
        () => storage.writePlaylist(key, '#EXTM3U\n'),
        () => storage.writeObject(key, new Uint8Array([1]), { cacheControl: CACHE_CONTROL.poster }),
        () => storage.read(key),
        () => storage.createReadStream(key),
        () => storage.createReadStream(key, { start: 0, end: 1 }),
        () => storage.stat(key),
        () => storage.deleteObjects([key]),
      ];
      for (const call of calls) await expect(call()).rejects.toBeInstanceOf(InvalidStorageKeyError);
    });

    it('refuses invalid list/delete prefixes and an empty delete prefix', async () => {
      for (const prefix of ['../', '/tmp', 'a/../..', 'a\\b', 'x\0', 'a//']) {
        await expect(storage.list(prefix)).rejects.toBeInstanceOf(InvalidStorageKeyError);
        await expect(storage.delete(prefix)).rejects.toBeInstanceOf(InvalidStorageKeyError);
      }
      await expect(storage.delete('')).rejects.toMatchObject({ code: 'INVALID_STORAGE_KEY' });
    });

    it('returns null for missing objects and ignores deletes of nothing', async () => {
      expect(await storage.read('nope/seg_1.m4s')).toBeNull();
      expect(await storage.stat('nope/seg_1.m4s')).toBeNull();
      expect(await storage.createReadStream('nope/seg_1.m4s')).toBeNull();
      expect(await storage.createReadStream('nope/seg_1.m4s', { start: 0, end: 10 })).toBeNull();
      expect(await storage.list('nope/')).toEqual([]);
      await storage.delete('nope/');
      await storage.deleteObjects(['nope/a.m4s', 'nope/b.m4s']);
      await storage.deleteObjects([]);
    });

    it('writes, reads and lists segments from bytes and from files', async () => {
      const bytes = randomBytes(300_000);
      await storage.writeSegment('s/1/720p/seg_00000.m4s', bytes);
      const src = path.join(scratch, `${name.replace(/\W/g, '_')}-init.mp4`);
      await writeFile(src, 'copied-from-a-file');
      await storage.writeSegment('s/1/720p/init_1.mp4', src);
      await storage.writeSegment('s/1/720p/sub.m4s', new Uint8Array(bytes.buffer, bytes.byteOffset + 10, 5)); // a view, not the whole buffer
      await storage.writePlaylist('s/1/720p/index.m3u8', '#EXTM3U\n');
      await storage.writeSegment('s/12/x.jpg', Buffer.from('jpg'));

      expect((await storage.read('s/1/720p/seg_00000.m4s'))?.equals(bytes)).toBe(true);
      expect((await storage.read('s/1/720p/init_1.mp4'))?.toString()).toBe('copied-from-a-file');
      expect((await storage.read('s/1/720p/sub.m4s'))?.equals(bytes.subarray(10, 15))).toBe(true);
      expect((await readAll(await storage.createReadStream('s/1/720p/seg_00000.m4s'))).equals(bytes)).toBe(true);
      expect(await storage.read('s/1/720p')).toBeNull(); // a "directory" is not an object
      expect(await storage.stat('s/1/720p')).toBeNull();

      expect(await storage.list('s/1/')).toEqual(['s/1/720p/index.m3u8', 's/1/720p/init_1.mp4', 's/1/720p/seg_00000.m4s', 's/1/720p/sub.m4s']);
      // a plain string prefix, as S3 ListObjectsV2
      expect(await storage.list('s/1')).toEqual([
        's/1/720p/index.m3u8',
        's/1/720p/init_1.mp4',
        's/1/720p/seg_00000.m4s',
        's/1/720p/sub.m4s',
        's/12/x.jpg',
      ]);
      expect(await storage.list('s/1/720p/seg_')).toEqual(['s/1/720p/seg_00000.m4s']);
      expect(await storage.list('')).toHaveLength(5);

      await storage.delete('s/1/');
      expect(await storage.list('')).toEqual(['s/12/x.jpg']);
      await storage.delete('s/12/x.jpg');
      expect(await storage.list('')).toEqual([]);
    });

    it('uploads a large file (> 16 MiB) intact', async () => {
      const big = randomBytes(17 * 1024 * 1024 + 3);
      const src = path.join(scratch, `${name.replace(/\W/g, '_')}-big.mp4`);
      await writeFile(src, big);
      const segments: SegmentWrittenEvent[] = [];
      storage.onSegmentWritten((e) => segments.push(e));
      await storage.writeSegment('vod/1/big.mp4', src);
      expect(segments).toEqual([{ key: 'vod/1/big.mp4', size: big.byteLength }]);
      expect((await storage.stat('vod/1/big.mp4'))?.size).toBe(big.byteLength);
      const tail = await readAll(await storage.createReadStream('vod/1/big.mp4', { start: big.byteLength - 100, end: big.byteLength + 100 }));
      expect(tail.equals(big.subarray(big.byteLength - 100))).toBe(true);
      expect((await storage.read('vod/1/big.mp4'))?.equals(big)).toBe(true);
    });

    it('serves inclusive byte ranges, clamped to the object', async () => {
      await storage.writeSegment('r/seg.m4s', Buffer.from('0123456789'));
      await storage.writeSegment('r/empty.m4s', new Uint8Array(0));
      const range = async (key: string, start: number, end: number) => (await readAll(await storage.createReadStream(key, { start, end }))).toString();
      expect(await range('r/seg.m4s', 2, 5)).toBe('2345');
      expect(await range('r/seg.m4s', 0, 0)).toBe('0');
      expect(await range('r/seg.m4s', 9, 9)).toBe('9');
      expect(await range('r/seg.m4s', 8, 100)).toBe('89');
      expect(await range('r/seg.m4s', 0, 9)).toBe('0123456789');
      expect(await range('r/seg.m4s', 10, 20)).toBe(''); // starts past the end
      expect(await range('r/empty.m4s', 0, 5)).toBe('');
      expect((await readAll(await storage.createReadStream('r/empty.m4s'))).byteLength).toBe(0);
      expect((await storage.read('r/empty.m4s'))?.byteLength).toBe(0);
      for (const [start, end] of [[5, 2], [-1, 3], [0.5, 3], [0, Number.POSITIVE_INFINITY]] as const) {
        await expect(storage.createReadStream('r/seg.m4s', { start, end })).rejects.toBeInstanceOf(RangeError);
      }
    });

    it('stores content types and cache control, and reports them in stat', async () => {
      await storage.writeSegment('a/seg_00001.m4s', Buffer.from('x'));
      await storage.writeSegment('a/init_1.mp4', Buffer.from('x'));
      await storage.writeSegment('a/seg_1.ts', Buffer.from('x'));
      await storage.writeSegment('a/thumb.jpg', Buffer.from('x'));
      await storage.writeSegment('a/captions.vtt', Buffer.from('WEBVTT\n'));
      await storage.writeSegment('a/blob.bin', Buffer.from('x'));
      await storage.writePlaylist('a/index.m3u8', '#EXTM3U\n', { live: true });
      await storage.writePlaylist('a/master.m3u8', '#EXTM3U\n');
      await storage.writePlaylist('a/vod.m3u8', '#EXTM3U\n', { live: true }); // vod.m3u8 is always VOD
      await storage.writePlaylist('a/720p/vod.m3u8', '#EXTM3U\n');

      const seg = await storage.stat('a/seg_00001.m4s');
      expect(seg).toMatchObject({ key: 'a/seg_00001.m4s', size: 1, contentType: 'video/iso.segment', cacheControl: 'public, max-age=31536000, immutable' });
      expect(seg?.lastModified).toBeInstanceOf(Date);
      expect(Math.abs((seg?.lastModified.getTime() ?? 0) - Date.now())).toBeLessThan(120_000);
      expect(await storage.stat('a/init_1.mp4')).toMatchObject({ contentType: 'video/mp4', cacheControl: CACHE_CONTROL.segment });
      expect(await storage.stat('a/seg_1.ts')).toMatchObject({ contentType: 'video/mp2t', cacheControl: CACHE_CONTROL.segment });
      expect(await storage.stat('a/thumb.jpg')).toMatchObject({ contentType: 'image/jpeg', cacheControl: CACHE_CONTROL.segment });
      expect(await storage.stat('a/captions.vtt')).toMatchObject({ contentType: 'text/vtt; charset=utf-8', size: 7 });
      expect(await storage.stat('a/blob.bin')).toMatchObject({ contentType: 'application/octet-stream' });
      expect(await storage.stat('a/index.m3u8')).toMatchObject({ contentType: 'application/vnd.apple.mpegurl', cacheControl: 'public, max-age=1', size: 8 });
      expect((await storage.stat('a/master.m3u8'))?.cacheControl).toBe('public, max-age=1');
      expect((await storage.stat('a/vod.m3u8'))?.cacheControl).toBe('public, max-age=60');
      expect((await storage.stat('a/720p/vod.m3u8'))?.cacheControl).toBe('public, max-age=60');

      // a live playlist that ended keeps its name but becomes cacheable for a minute...
      await storage.writePlaylist('a/index.m3u8', '#EXTM3U\n#EXT-X-ENDLIST\n', { live: false });
      expect(await storage.stat('a/index.m3u8')).toMatchObject({ cacheControl: 'public, max-age=60', size: 23 });
      // ...and goes back to live (a resumed session)
      await storage.writePlaylist('a/index.m3u8', '#EXTM3U\n', { live: true });
      expect((await storage.stat('a/index.m3u8'))?.cacheControl).toBe('public, max-age=1');
      expect(await storage.list('a/')).toEqual([
        'a/720p/vod.m3u8',
        'a/blob.bin',
        'a/captions.vtt',
        'a/index.m3u8',
        'a/init_1.mp4',
        'a/master.m3u8',
        'a/seg_00001.m4s',
        'a/seg_1.ts',
        'a/thumb.jpg',
        'a/vod.m3u8',
      ]);
    });

    it('writeObject stores a mutable object (live poster) with its own Cache-Control, replaced in place', async () => {
      const key = 'sessions/p1/poster.jpg';
      const segs: SegmentWrittenEvent[] = [];
      const lists: PlaylistWrittenEvent[] = [];
      storage.onSegmentWritten((e) => segs.push(e));
      storage.onPlaylistWritten((e) => lists.push(e));
      await storage.writeObject(key, Buffer.from('jpeg-1'), { cacheControl: CACHE_CONTROL.poster });
      const first = await storage.stat(key);
      // never the immutable default of a .jpg: a CDN may keep it one refresh period at most
      expect(first).toMatchObject({ key, size: 6, contentType: 'image/jpeg', cacheControl: 'public, max-age=10' });
      expect((await storage.read(key))?.toString()).toBe('jpeg-1');

      await storage.writeObject(key, new Uint8Array(Buffer.from('xxjpeg-two').buffer, Buffer.from('xxjpeg-two').byteOffset + 2, 8), { cacheControl: CACHE_CONTROL.poster });
      const second = await storage.stat(key);
      expect(second).toMatchObject({ size: 8, cacheControl: 'public, max-age=10' });
      expect(second?.etag).not.toBe(first?.etag);
      expect((await readAll(await storage.createReadStream(key))).toString()).toBe('jpeg-two');

      await storage.writeObject('sessions/p1/thumbs/thumbnails.vtt', Buffer.from('WEBVTT\n'), { cacheControl: CACHE_CONTROL.thumbnails });
      expect(await storage.stat('sessions/p1/thumbs/thumbnails.vtt')).toMatchObject({ contentType: 'text/vtt; charset=utf-8', cacheControl: 'public, max-age=60' });
      expect(segs).toEqual([]); // neither a segment nor a playlist
      expect(lists).toEqual([]);
      expect(await storage.list('sessions/p1/')).toEqual(['sessions/p1/poster.jpg', 'sessions/p1/thumbs/thumbnails.vtt']);

      // the same key written as a segment is immutable again, and back
      await storage.writeSegment(key, Buffer.from('frozen'));
      expect((await storage.stat(key))?.cacheControl).toBe(CACHE_CONTROL.segment);
      await storage.writeObject(key, Buffer.from('live'), { cacheControl: 'no-cache' });
      expect((await storage.stat(key))?.cacheControl).toBe('no-cache');
      await storage.deleteObjects([key]);
      expect(await storage.stat(key)).toBeNull();

      // header-unsafe values are refused before any I/O
      for (const bad of ['', 'public,\r\nx-evil: 1', 'max-age=\u00e9', 'x'.repeat(257)]) {
        await expect(storage.writeObject('sessions/p1/bad.jpg', Buffer.from('x'), { cacheControl: bad })).rejects.toBeInstanceOf(TypeError);
      }
      expect(await storage.stat('sessions/p1/bad.jpg')).toBeNull();
    });

    it('reports a quoted strong ETag that is stable until the object is rewritten', async () => {
      await storage.writePlaylist('e/index.m3u8', '#EXTM3U\n#V:1\n');
      const first = await storage.stat('e/index.m3u8');
      expect(first?.etag).toMatch(/^"[^"]+"$/); // RFC 9110 §8.8.3: strong (no W/), quoted
      expect((await storage.stat('e/index.m3u8'))?.etag).toBe(first?.etag);
      await storage.writePlaylist('e/index.m3u8', '#EXTM3U\n#V:2\n');
      const second = await storage.stat('e/index.m3u8');
      expect(second?.etag).toMatch(/^"[^"]+"$/);
      expect(second?.etag).not.toBe(first?.etag);
    });

    it('rewrites playlists atomically: concurrent readers only ever see whole versions', async () => {
      const versions = Array.from({ length: 15 }, (_, i) => `#EXTM3U\n#V:${i}\n` + `#EXTINF:2.000000,\nseg_${i}.m4s\n`.repeat(2000 + i * 50));
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
      expect(await storage.list('live/')).toEqual(['live/720p/index.m3u8']); // no temp objects left behind
    });

    it('calls segment and playlist listeners after the write, survives a throwing listener, and unsubscribes', async () => {
      const segs: SegmentWrittenEvent[] = [];
      const lists: PlaylistWrittenEvent[] = [];
      const order: string[] = [];
      const offSeg = storage.onSegmentWritten((e) => {
        segs.push(e);
      });
      const offList = storage.onPlaylistWritten((e) => lists.push(e));
      storage.onSegmentWritten(() => {
        throw new Error('a broken listener must not fail the write');
      });
      storage.onSegmentWritten(({ key }) => {
        // the object is readable by the time the callback runs
        void storage.read(key).then((b) => order.push(`${key}:${b?.length ?? 'missing'}`));
      });
      await storage.writeSegment('k/seg.m4s', Buffer.from('abc'));
      await storage.writePlaylist('k/index.m3u8', '#EXTM3U\n', { live: false });
      await storage.writePlaylist('k/live.m3u8', '#EXTM3U\n');
      await expect(storage.writeSegment('../k.m4s', Buffer.from('x'))).rejects.toBeInstanceOf(InvalidStorageKeyError);
      offSeg();
      offList();
      await storage.writeSegment('k/seg2.m4s', Buffer.from('abcd'));
      await storage.writePlaylist('k/index.m3u8', '#EXTM3U\n');
      expect(segs).toEqual([{ key: 'k/seg.m4s', size: 3 }]);
      expect(lists).toEqual([
        { key: 'k/index.m3u8', size: 8, live: false },
        { key: 'k/live.m3u8', size: 8, live: true },
      ]);
      await expect.poll(() => order.sort()).toEqual(['k/seg.m4s:3', 'k/seg2.m4s:4']);
    });

    it('lists and deletes more than 1000 objects (paginated listing, batched deletes)', async () => {
      const keys = Array.from({ length: 1105 }, (_, i) => `many/720p/seg_${String(i).padStart(5, '0')}.m4s`);
      await inParallel(keys, 24, (key) => storage.writeSegment(key, Buffer.from(key)));
      await storage.writeSegment('many2/keep.m4s', Buffer.from('keep'));
      const listed = await storage.list('many/');
      expect(listed).toHaveLength(1105);
      expect(listed).toEqual([...keys].sort());
      expect(await storage.list('many')).toHaveLength(1106);
      expect(await storage.list('many/720p/seg_010')).toHaveLength(100);
      await storage.delete('many/');
      expect(await storage.list('many')).toEqual(['many2/keep.m4s']);
    });

    it('deleteObjects deletes exactly the given keys (live-window retention)', async () => {
      const window = Array.from({ length: 10 }, (_, i) => `w/720p/seg_${String(i).padStart(5, '0')}.m4s`);
      for (const key of window) await storage.writeSegment(key, Buffer.from(key));
      await storage.writePlaylist('w/720p/index.m3u8', '#EXTM3U\n');
      await storage.writePlaylist('w/720p/ended.m3u8', '#EXTM3U\n#EXT-X-ENDLIST\n', { live: false });
      await storage.writeSegment('w/720p/seg_00001.m4s.bak', Buffer.from('not a prefix match target'));

      // segments 0-3 fell out of the DVR window; 99 never existed; duplicates are fine
      await storage.deleteObjects(['w/720p/seg_00000.m4s', 'w/720p/seg_00001.m4s', 'w/720p/seg_00002.m4s', 'w/720p/seg_00003.m4s', 'w/720p/seg_00099.m4s', 'w/720p/seg_00001.m4s']);
      expect(await storage.list('w/')).toEqual([
        'w/720p/ended.m3u8',
        'w/720p/index.m3u8',
        'w/720p/seg_00001.m4s.bak', // exact keys, not prefixes
        ...window.slice(4),
      ]);
      expect(await storage.read('w/720p/seg_00002.m4s')).toBeNull();
      expect(await storage.stat('w/720p/seg_00003.m4s')).toBeNull();

      // an ended playlist (non-default cache policy) deleted and written again gets the default back
      await storage.deleteObjects(['w/720p/ended.m3u8']);
      await storage.writePlaylist('w/720p/ended.m3u8', '#EXTM3U\n');
      expect((await storage.stat('w/720p/ended.m3u8'))?.cacheControl).toBe('public, max-age=1');

      // one invalid key: nothing is deleted
      await expect(storage.deleteObjects(['w/720p/seg_00004.m4s', '../w/720p/seg_00005.m4s'])).rejects.toBeInstanceOf(InvalidStorageKeyError);
      await expect(storage.deleteObjects(['w/720p/seg_00004.m4s', 'w/720p/'])).rejects.toBeInstanceOf(InvalidStorageKeyError);
      expect(await storage.read('w/720p/seg_00004.m4s')).not.toBeNull();

      // a "directory" key is not an object: ignored, its contents stay
      await storage.deleteObjects(['w/720p', 'w']);
      expect(await storage.list('w/720p/seg_0000')).toHaveLength(7); // seg_00004..09 and seg_00001.m4s.bak
    });

    it('deleteObjects handles more than 1000 keys in one call', async () => {
      const keys = Array.from({ length: 1030 }, (_, i) => `d/seg_${String(i).padStart(5, '0')}.m4s`);
      await inParallel(keys, 24, (key) => storage.writeSegment(key, Buffer.from('x')));
      await storage.writeSegment('d/seg_99999.m4s', Buffer.from('stays'));
      await storage.deleteObjects(keys);
      expect(await storage.list('d/')).toEqual(['d/seg_99999.m4s']);
    });
  });
}
