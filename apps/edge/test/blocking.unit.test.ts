/**
 * The edge's blocking-reload bounds without I/O: one `stat` per poll of a key whatever the
 * number of waiters, a cap on distinct watched keys, parked requests per client, the
 * once-per-window offender log, and the playlists a master names.
 */
import { describe, expect, it } from 'vitest';
import type { ObjectStorage } from '@live/storage';
import { createPlaylistWatcher, masterPlaylistChildKeys } from '../src/blocking.js';

/** A storage whose `stat` calls are counted and answered by the test (one pending call at a time per key). */
function fakeStorage() {
  const calls: string[] = [];
  const pending: Array<{ key: string; resolve: (etag: string | null) => void }> = [];
  let notify: (() => void) | undefined;
  const storage = {
    stat(key: string) {
      calls.push(key);
      return new Promise((resolve) => {
        pending.push({ key, resolve: (etag) => resolve(etag === null ? null : { etag }) });
        notify?.();
      });
    },
  } as unknown as ObjectStorage;
  /** Resolves once a `stat` is pending, and hands it over. */
  const nextStat = async () => {
    while (pending.length === 0) await new Promise<void>((r) => { notify = r; });
    return pending.shift()!;
  };
  return { storage, calls, nextStat };
}

describe('createPlaylistWatcher', () => {
  it('polls a key with one stat whatever the number of waiters, and wakes every waiter whose ETag changed', async () => {
    const { storage, calls, nextStat } = fakeStorage();
    const watcher = createPlaylistWatcher(storage, { pollMs: 1, maxWaitMs: 600_000 });
    const watches = Array.from({ length: 200 }, () => watcher.watch('sessions/s/720p/index.m3u8')!);
    let woken = 0;
    const waits = watches.map((w) => w.changed('"v1"').then(() => { woken++; }));
    expect([watcher.waiting(), watcher.watchedKeys()]).toEqual([200, 1]);
    const stat = await nextStat();
    expect(calls).toEqual(['sessions/s/720p/index.m3u8']); // one stat for 200 waiters
    stat.resolve('"v2"');
    await Promise.all(waits);
    expect(woken).toBe(200);
    expect(calls).toHaveLength(1);
    for (const w of watches) w.close();
    expect([watcher.waiting(), watcher.watchedKeys()]).toEqual([0, 0]);
  });

  it('keeps a waiter whose ETag is still current, and wakes it on close', async () => {
    const { storage, nextStat } = fakeStorage();
    const watcher = createPlaylistWatcher(storage, { pollMs: 1, maxWaitMs: 600_000 });
    const w = watcher.watch('k.m3u8')!;
    let woken = false;
    const wait = w.changed('"same"').then(() => { woken = true; });
    (await nextStat()).resolve('"same"');
    // The next poll comes only after the first settled: the waiter saw it and stayed.
    const second = await nextStat();
    expect(woken).toBe(false);
    w.close();
    await wait;
    expect(woken).toBe(true);
    second.resolve('"same"');
    expect(watcher.watchedKeys()).toBe(0);
  });

  it('refuses a new key beyond maxKeys without creating a poller, but shares a watched key', () => {
    const { storage, calls } = fakeStorage();
    const watcher = createPlaylistWatcher(storage, { pollMs: 600_000, maxKeys: 2 });
    const a = watcher.watch('a.m3u8');
    const b = watcher.watch('b.m3u8');
    expect(a && b).toBeTruthy();
    expect(watcher.watch('c.m3u8')).toBeNull();
    const a2 = watcher.watch('a.m3u8');
    expect(a2).not.toBeNull();
    expect([watcher.waiting(), watcher.watchedKeys(), calls.length]).toEqual([3, 2, 0]);
    a!.close();
    a!.close(); // idempotent
    expect(watcher.watchedKeys()).toBe(2); // a2 still watches a.m3u8
    a2!.close();
    expect(watcher.watch('c.m3u8')).not.toBeNull();
    expect(() => createPlaylistWatcher(storage, { maxKeys: 0 })).toThrow(TypeError);
  });
});

describe('masterPlaylistChildKeys', () => {
  it('resolves variant, media and I-frame playlist URIs against the master key', () => {
    const master = [
      '#EXTM3U',
      '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en",URI="audio/index.m3u8"',
      '#EXT-X-STREAM-INF:BANDWIDTH=1000,AUDIO="a"', '720p/index.m3u8?x=1',
      '#EXT-X-STREAM-INF:BANDWIDTH=500', '480p/index.m3u8\r',
      '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=100,URI="720p/iframes.m3u8"',
      '#EXT-X-STREAM-INF:BANDWIDTH=1', 'https://elsewhere.example/x.m3u8',
      '#EXT-X-STREAM-INF:BANDWIDTH=2', '//elsewhere.example/y.m3u8',
      '#EXT-X-STREAM-INF:BANDWIDTH=3', '../other/index.m3u8',
    ].join('\n');
    expect([...masterPlaylistChildKeys('sessions/s1/master.m3u8', master)].sort()).toEqual([
      'sessions/other/index.m3u8', 'sessions/s1/480p/index.m3u8', 'sessions/s1/720p/iframes.m3u8', 'sessions/s1/720p/index.m3u8', 'sessions/s1/audio/index.m3u8',
    ]);
  });
});
