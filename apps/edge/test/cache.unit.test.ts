/**
 * The edge's in-memory cache of immutable objects: hits without storage I/O, one load for many
 * concurrent misses, LRU eviction by bytes, only immutable objects, and revalidation that
 * notices deleted and rewritten objects.
 */
import { describe, expect, it } from 'vitest';
import { CACHE_CONTROL, type ObjectStorage, type StorageObjectInfo } from '@live/storage';
import { createImmutableObjectCache, parseCacheBytes } from '../src/cache.js';

/** An in-memory storage stand-in counting stat and read calls (only what the cache uses). */
function fakeStorage() {
  const objects = new Map<string, { body: Buffer; cacheControl: string; version: number }>();
  const calls = { stat: 0, read: 0 };
  let version = 0;
  const storage = {
    async stat(key: string): Promise<StorageObjectInfo | null> {
      calls.stat++;
      await new Promise((r) => setTimeout(r, 1));
      const o = objects.get(key);
      return o ? { key, size: o.body.length, lastModified: new Date(0), contentType: 'video/iso.segment', cacheControl: o.cacheControl, etag: `"${o.version}"` } : null;
    },
    async read(key: string): Promise<Buffer | null> {
      calls.read++;
      return objects.get(key)?.body ?? null;
    },
  } as unknown as ObjectStorage;
  const put = (key: string, body: Buffer, cacheControl: string = CACHE_CONTROL.segment) => objects.set(key, { body, cacheControl, version: ++version });
  return { storage, calls, put, remove: (key: string) => objects.delete(key) };
}

describe('immutable object cache', () => {
  it('serves a segment from memory after one stat + read, however many requests arrive at once', async () => {
    const s = fakeStorage();
    s.put('a.m4s', Buffer.alloc(100, 1));
    const cache = createImmutableObjectCache({ storage: s.storage, maxBytes: 1000 });
    const all = await Promise.all(Array.from({ length: 10 }, () => cache.get('a.m4s')));
    expect(all.every((r) => r.kind === 'hit' && r.object.body.length === 100)).toBe(true);
    await cache.get('a.m4s');
    expect(s.calls).toEqual({ stat: 1, read: 1 });
    expect(cache.bytes()).toBe(100);
  });

  it('does not keep mutable objects (live playlists) or objects above the size limit', async () => {
    const s = fakeStorage();
    s.put('index.m3u8', Buffer.from('#EXTM3U\n'), CACHE_CONTROL.livePlaylist);
    s.put('big.mp4', Buffer.alloc(600));
    const cache = createImmutableObjectCache({ storage: s.storage, maxBytes: 1000, maxObjectBytes: 500 });
    expect((await cache.get('index.m3u8')).kind).toBe('uncacheable');
    expect((await cache.get('big.mp4')).kind).toBe('uncacheable');
    expect(cache.size()).toBe(0);
    expect(s.calls.read).toBe(0);
  });

  it('evicts the least recently used objects beyond maxBytes', async () => {
    const s = fakeStorage();
    for (const k of ['a', 'b', 'c']) s.put(k, Buffer.alloc(400));
    const cache = createImmutableObjectCache({ storage: s.storage, maxBytes: 1000, maxObjectBytes: 1000 });
    await cache.get('a');
    await cache.get('b');
    await cache.get('a'); // a is now more recent than b
    await cache.get('c'); // 1200 bytes > 1000: b goes
    expect(cache.bytes()).toBe(800);
    s.calls.stat = 0;
    await cache.get('a');
    expect(s.calls.stat).toBe(0);
    await cache.get('b');
    expect(s.calls.stat).toBe(1);
  });

  it('after revalidateMs, answers missing for a deleted object and reloads a rewritten one', async () => {
    const s = fakeStorage();
    let now = 0;
    s.put('a.m4s', Buffer.alloc(10, 1));
    s.put('b.m4s', Buffer.alloc(10, 2));
    const cache = createImmutableObjectCache({ storage: s.storage, maxBytes: 1000, revalidateMs: 1000, now: () => now });
    await cache.get('a.m4s');
    await cache.get('b.m4s');
    s.remove('a.m4s');
    s.put('b.m4s', Buffer.alloc(20, 3));
    now = 500;
    expect((await cache.get('a.m4s')).kind).toBe('hit');
    now = 1500;
    expect((await cache.get('a.m4s')).kind).toBe('missing');
    const b = await cache.get('b.m4s');
    expect(b.kind === 'hit' && b.object.body.length).toBe(20);
    expect(cache.size()).toBe(1);
    expect(cache.bytes()).toBe(20);
  });

  it('parses EDGE_CACHE_BYTES', () => {
    expect(parseCacheBytes(undefined)).toBeUndefined();
    expect(parseCacheBytes('')).toBeUndefined();
    expect(parseCacheBytes('0')).toBe(0);
    expect(parseCacheBytes('1048576')).toBe(1048576);
    expect(parseCacheBytes('256m')).toBe(256 * 1024 * 1024);
    expect(parseCacheBytes('1GiB')).toBe(1024 ** 3);
    expect(() => parseCacheBytes('lots')).toThrow(TypeError);
  });
});
