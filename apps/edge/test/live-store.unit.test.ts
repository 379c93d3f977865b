/**
 * The edge's live store without I/O: what an announcement puts in memory and how it is bounded
 * (bytes, sessions, parts per rendition), announcements without bytes, the watcher that wakes
 * parked blocking reloads on an announcement, and the per-session feed (subscribe on demand,
 * unsubscribe when idle, refuse undecodable or misrouted messages).
 */
import { describe, expect, it, vi } from 'vitest';
import { encodeMediaAnnouncement, type MediaAnnouncement } from '@live/events';
import { createAnnouncedPlaylistWatcher, createLiveStore, splitSessionKey } from '../src/live-store.js';
import { createMediaFeed, type AnnouncementSource } from '../src/feed.js';

const bytes = (n: number, fill = 1) => new Uint8Array(n).fill(fill);
const part = (sessionId: string, path: string, n: number, at = 1000): MediaAnnouncement => ({ kind: 'part', sessionId, path, size: n, at, body: bytes(n) });
const playlist = (sessionId: string, path: string, text: string, live = true): MediaAnnouncement => {
  const body = new TextEncoder().encode(text);
  return { kind: 'playlist', sessionId, path, size: body.length, at: 2000, live, body };
};

describe('createLiveStore', () => {
  it('holds announced playlists and parts with the metadata storage would give', () => {
    const store = createLiveStore();
    store.apply(part('s1', '480p/seg_00001.part0.m4s', 10));
    store.apply(playlist('s1', '480p/index.m3u8', '#EXTM3U\n'));
    const o = store.object('sessions/s1/480p/seg_00001.part0.m4s')!;
    expect(o.info).toMatchObject({ size: 10, contentType: 'video/iso.segment', cacheControl: 'public, max-age=31536000, immutable', lastModified: new Date(1000) });
    expect(o.info.etag).toMatch(/^"[0-9a-f]{32}"$/); // MD5, as S3 makes for a single PUT
    const p = store.playlist('sessions/s1/480p/index.m3u8')!;
    expect([p.text, p.info.cacheControl, p.info.contentType]).toEqual(['#EXTM3U\n', 'public, max-age=1', 'application/vnd.apple.mpegurl']);
    store.apply(playlist('s1', '480p/index.m3u8', '#EXTM3U\n#EXT-X-ENDLIST\n', false));
    expect(store.playlist('sessions/s1/480p/index.m3u8')!.info.cacheControl).toBe('public, max-age=60');
    expect([store.bytes(), store.sessions(), store.objects()]).toEqual([10 + 23, 1, 1]);
    expect(store.object('sessions/s2/480p/seg_00001.part0.m4s')).toBeUndefined();
  });

  it('drops its copy when an object or playlist is announced without bytes (storage has the new one)', () => {
    const store = createLiveStore();
    store.apply(playlist('s1', '480p/index.m3u8', 'a'));
    store.apply({ kind: 'playlist', sessionId: 's1', path: '480p/index.m3u8', size: 900_000, at: 1 });
    expect(store.playlist('sessions/s1/480p/index.m3u8')).toBeUndefined();
    store.apply(part('s1', '480p/x.m4s', 5));
    store.apply({ kind: 'part', sessionId: 's1', path: '480p/x.m4s', size: 900_000, at: 1 });
    store.apply({ kind: 'segment', sessionId: 's1', path: '480p/seg_00001.m4s', size: 5, at: 1, body: bytes(5) });
    expect([store.object('sessions/s1/480p/x.m4s'), store.object('sessions/s1/480p/seg_00001.m4s'), store.bytes()]).toEqual([undefined, undefined, 0]);
  });

  it('keeps the newest parts per rendition and two init segments', () => {
    const store = createLiveStore({ maxPartsPerRendition: 3 });
    for (let i = 0; i < 5; i++) store.apply(part('s1', `480p/p${i}.m4s`, 1));
    for (let i = 0; i < 2; i++) store.apply(part('s1', `720p/p${i}.m4s`, 1));
    for (let i = 1; i <= 3; i++) store.apply({ ...part('s1', `480p/init_${i}.mp4`, 1), kind: 'init' });
    const held = (p: string) => store.object(`sessions/s1/${p}`) !== undefined;
    expect(['480p/p0.m4s', '480p/p1.m4s', '480p/p2.m4s', '480p/p3.m4s', '480p/p4.m4s'].map(held)).toEqual([false, false, true, true, true]);
    expect([held('720p/p0.m4s'), held('720p/p1.m4s')]).toEqual([true, true]);
    expect([held('480p/init_1.mp4'), held('480p/init_2.mp4'), held('480p/init_3.mp4')]).toEqual([false, true, true]);
    expect(store.objects()).toBe(7);
  });

  it('stays within maxBytes: oldest objects first, then least recently used sessions', () => {
    const store = createLiveStore({ maxBytes: 100 });
    store.apply(part('s1', '480p/a.m4s', 40));
    store.apply(part('s1', '480p/b.m4s', 40));
    store.apply(part('s2', '480p/c.m4s', 40));
    expect(store.bytes()).toBeLessThanOrEqual(100);
    expect([store.object('sessions/s1/480p/a.m4s'), store.object('sessions/s1/480p/b.m4s') !== undefined]).toEqual([undefined, true]);
    store.apply(playlist('s1', '480p/index.m3u8', 'x'.repeat(60))); // only objects and s1's playlist: objects go first
    expect(store.bytes()).toBeLessThanOrEqual(100);
    expect(store.playlist('sessions/s1/480p/index.m3u8')).toBeDefined();
    store.apply(playlist('s2', '480p/index.m3u8', 'y'.repeat(60))); // s1 (least recently used) goes whole
    expect([store.sessions(), store.playlist('sessions/s1/480p/index.m3u8'), store.playlist('sessions/s2/480p/index.m3u8')?.text.length]).toEqual([1, undefined, 60]);
    store.apply(playlist('s3', '480p/index.m3u8', 'z'.repeat(200))); // larger than the store: not kept
    expect(store.bytes()).toBeLessThanOrEqual(100);
    expect(store.playlist('sessions/s3/480p/index.m3u8')).toBeUndefined();
  });

  it('holds at most maxSessions sessions, evicting the least recently used', () => {
    const store = createLiveStore({ maxSessions: 2 });
    store.apply(playlist('s1', 'master.m3u8', 'a'));
    store.apply(playlist('s2', 'master.m3u8', 'b'));
    store.playlist('sessions/s1/master.m3u8'); // s1 used: s2 is now the oldest
    store.apply(playlist('s3', 'master.m3u8', 'c'));
    expect(['s1', 's2', 's3'].map((s) => store.lastAnnouncementAt(s) !== undefined)).toEqual([true, false, true]);
  });

  it('refuses bounds that are not positive integers', () => {
    expect(() => createLiveStore({ maxSessions: 0 })).toThrow(TypeError);
    expect(() => createLiveStore({ maxPartsPerRendition: 1.5 })).toThrow(TypeError);
    expect(() => createLiveStore({ maxBytes: -1 })).toThrow(TypeError);
  });

  it('splits session keys', () => {
    expect(splitSessionKey('sessions/s1/480p/index.m3u8')).toEqual(['s1', '480p/index.m3u8']);
    for (const bad of ['sessions/s1', 'sessions//x', 'other/s1/x', 'sessions/s1/']) expect(splitSessionKey(bad)).toBeNull();
  });
});

describe('createAnnouncedPlaylistWatcher', () => {
  const KEY = 'sessions/s1/480p/index.m3u8';

  it('wakes a parked reload on the announcement of a new version, not on the same one', async () => {
    const store = createLiveStore();
    store.apply(playlist('s1', '480p/index.m3u8', 'v1'));
    const watcher = createAnnouncedPlaylistWatcher(store, { maxKeys: 10, maxWaitMs: 60_000 });
    const w = watcher.watch(KEY)!;
    let woke = false;
    const p = w.changed(store.playlist(KEY)!.info.etag).then(() => { woke = true; });
    store.apply(part('s1', '480p/p.m4s', 1)); // not the playlist
    await Promise.resolve();
    expect([woke, watcher.waiting(), watcher.watchedKeys()]).toEqual([false, 1, 1]);
    store.apply(playlist('s1', '480p/index.m3u8', 'v2'));
    await p;
    expect(woke).toBe(true);
    w.close();
    expect([watcher.waiting(), watcher.watchedKeys()]).toEqual([0, 0]);
  });

  it('answers at once when the store already holds another version (announced while the caller read storage)', async () => {
    const store = createLiveStore();
    store.apply(playlist('s1', '480p/index.m3u8', 'v2'));
    const w = createAnnouncedPlaylistWatcher(store, { maxKeys: 1, maxWaitMs: 60_000 }).watch(KEY)!;
    await w.changed('"storage-etag"'); // resolves without any new announcement
    w.close();
  });

  it('gives up after maxWaitMs, on close, and caps distinct keys', async () => {
    const store = createLiveStore();
    const watcher = createAnnouncedPlaylistWatcher(store, { maxKeys: 1, maxWaitMs: 5 });
    const w = watcher.watch(KEY)!;
    await w.changed(null); // nothing held, nothing announced: the timeout
    expect(watcher.watch('sessions/s1/720p/index.m3u8')).toBeNull();
    const again = w.changed(null);
    w.close();
    await again;
    expect(watcher.watch('sessions/s1/720p/index.m3u8')).not.toBeNull();
    expect(() => createAnnouncedPlaylistWatcher(store, { maxKeys: 0 })).toThrow(TypeError);
  });
});

describe('createMediaFeed', () => {
  /** Subscriptions by subject, delivered to by the test. */
  function source() {
    const subs = new Map<string, (d: Uint8Array) => void>();
    const src: AnnouncementSource = {
      subscribe(subject, onMessage) {
        subs.set(subject, onMessage);
        return { unsubscribe: () => subs.delete(subject) };
      },
    };
    return { src, subs };
  }

  it('subscribes per session on demand, applies what arrives, and unsubscribes the least recently touched over the cap', () => {
    const { src, subs } = source();
    const store = createLiveStore();
    const seen: Array<string> = [];
    const feed = createMediaFeed({ source: src, store, maxSessions: 2, onMessage: (a) => seen.push(a instanceof Error ? 'error' : a.kind) });
    feed.touch('s1');
    feed.touch('s1');
    expect([...subs.keys()]).toEqual(['media.s1']);
    subs.get('media.s1')!(encodeMediaAnnouncement(part('s1', '480p/p.m4s', 3)));
    subs.get('media.s1')!(encodeMediaAnnouncement(part('s2', '480p/p.m4s', 3))); // another session on s1's subject
    subs.get('media.s1')!(new Uint8Array([9, 9, 9, 9]));
    expect(seen).toEqual(['part', 'error', 'error']);
    expect(store.object('sessions/s1/480p/p.m4s')?.body.length).toBe(3);
    expect(store.object('sessions/s2/480p/p.m4s')).toBeUndefined();
    feed.touch('s2');
    feed.touch('s3'); // s1 is the least recently touched
    expect([...subs.keys()].sort()).toEqual(['media.s2', 'media.s3']);
    expect(store.lastAnnouncementAt('s1')).toBeUndefined();
    feed.close();
    expect(subs.size).toBe(0);
  });

  it('counts a session as fed while it is announced (or just subscribed), and unsubscribes idle ones', async () => {
    let t = 0;
    const { src, subs } = source();
    const store = createLiveStore({ now: () => t });
    const feed = createMediaFeed({ source: src, store, freshMs: 100, idleMs: 1000, now: () => t });
    expect(feed.isFed('s1')).toBe(false);
    feed.touch('s1');
    expect(feed.isFed('s1')).toBe(true); // just subscribed
    t = 150;
    expect(feed.isFed('s1')).toBe(false); // subscribed, never announced
    subs.get('media.s1')!(encodeMediaAnnouncement(playlist('s1', '480p/index.m3u8', 'x')));
    expect(feed.isFed('s1')).toBe(true);
    t = 1200; // untouched for idleMs: the sweep (every 500 ms here) unsubscribes it
    await vi.waitFor(() => expect([subs.size, feed.sessions(), store.sessions()]).toEqual([0, 0, 0]), { timeout: 10_000, interval: 20 });
    feed.close();
  });
});
