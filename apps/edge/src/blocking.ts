/**
 * The edge's machinery for blocking playlist reloads (RFC 8216bis §6.2.5.2), bounded so that a
 * client cannot make the edge do work per made-up name or park requests without limit:
 * - {@link createPlaylistWatcher}: one poller per watched playlist key, shared by every parked
 *   request on it, with a cap on the number of distinct keys;
 * - {@link masterPlaylistChildKeys}: the playlists a live master names (the only missing
 *   playlists worth waiting for).
 */
import type { ObjectStorage } from '@live/storage';

/**
 * One parked request's interest in a playlist key (from {@link PlaylistWatcher.watch}). While any
 * watch of a key is open, the key is polled; {@link PlaylistWatch.close} must be called once the
 * request is answered (or went away), or the key stays polled.
 */
export interface PlaylistWatch {
  /** The storage key watched (`sessions/<sessionId>/<rendition>/index.m3u8`). */
  readonly key: string;
  /**
   * Resolves once the key's ETag is no longer `knownEtag` (the ETag of the version the caller
   * read; null when it did not exist), after the watcher's `maxWaitMs` at the latest, or when
   * the watch is closed. Never rejects: a failing `stat` wakes the waiter (the caller's next
   * read reports the error). One pending call per watch; a new call replaces the previous one
   * (which resolves).
   */
  changed(knownEtag: string | null): Promise<void>;
  /** Ends the watch (idempotent); the key's poller stops with its last watch. */
  close(): void;
}

/**
 * Tells parked blocking playlist reloads (RFC 8216bis §6.2.5.2) that a playlist changed. One
 * poller per playlist key, shared by every request watching it: while anyone waits, the key's
 * metadata (`stat`) is read every `pollMs` — one `stat` per poll whatever the number of waiters
 * — and each waiter whose known ETag differs from the stored one is woken. The edge runs apart
 * from the packager (which writes through its own storage client, possibly to S3), so without
 * the packager's announcements (live-store.ts `createAnnouncedPlaylistWatcher`, the same
 * interface woken by NATS) polling the shared store is how it learns of a new part.
 */
export interface PlaylistWatcher {
  /**
   * Opens a watch on `key`. Returns null, creating nothing, when `maxKeys` distinct keys are
   * watched already and `key` is not one of them (the caller answers at once instead of parking).
   */
  watch(key: string): PlaylistWatch | null;
  /** Open watches, all keys together (parked requests; for tests and metrics). */
  waiting(): number;
  /** Distinct keys watched (pollers running). */
  watchedKeys(): number;
}

/** Options of {@link createPlaylistWatcher}. */
export interface PlaylistWatcherOptions {
  /** How often a watched key is stat'ed, ms (default 50: a tenth of a 0.5 s part). */
  readonly pollMs?: number;
  /** Longest a `changed()` call waits, ms (default 1000). */
  readonly maxWaitMs?: number;
  /** Most distinct keys watched at once (default {@link DEFAULT_MAX_WATCHED_PLAYLISTS}). */
  readonly maxKeys?: number;
}

/** Default cap on distinct playlists one edge polls for blocking reloads (`EDGE_MAX_WATCHED_PLAYLISTS`). */
export const DEFAULT_MAX_WATCHED_PLAYLISTS = 1000;
/** Default cap on parked blocking reloads per client address (`EDGE_MAX_BLOCKING_PER_CLIENT`). */
export const DEFAULT_MAX_BLOCKING_PER_CLIENT = 32;

interface WatchedKey {
  /** Open watches of the key. */
  watches: number;
  /** Pending `changed()` calls: wake function → the ETag the caller knows. */
  readonly waiters: Map<() => void, string | null>;
  /** The next poll (none while a `stat` is in flight: the next is scheduled when it settles). */
  timer: NodeJS.Timeout | undefined;
}

/**
 * Creates a {@link PlaylistWatcher} over `storage`.
 * @throws TypeError when `maxKeys` is not a positive integer.
 */
export function createPlaylistWatcher(storage: ObjectStorage, opts: PlaylistWatcherOptions = {}): PlaylistWatcher {
  const pollMs = opts.pollMs ?? 50;
  const maxWaitMs = opts.maxWaitMs ?? 1000;
  const maxKeys = opts.maxKeys ?? DEFAULT_MAX_WATCHED_PLAYLISTS;
  if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new TypeError('maxKeys must be a positive integer');
  const watched = new Map<string, WatchedKey>();
  let open = 0;

  function schedule(key: string, w: WatchedKey): void {
    w.timer = setTimeout(() => {
      w.timer = undefined;
      // Nobody in changed() right now (every parked request is re-reading): no stat this round.
      if (w.waiters.size === 0) {
        if (watched.get(key) === w) schedule(key, w);
        return;
      }
      storage.stat(key).then((info) => info?.etag ?? null, () => undefined).then((etag) => {
        for (const [wake, known] of [...w.waiters]) if (etag === undefined || etag !== known) wake();
        if (watched.get(key) === w) schedule(key, w);
      }, () => undefined);
    }, pollMs);
    w.timer.unref();
  }

  return {
    watch(key) {
      let w = watched.get(key);
      if (!w) {
        if (watched.size >= maxKeys) return null;
        w = { watches: 0, waiters: new Map(), timer: undefined };
        watched.set(key, w);
        schedule(key, w);
      }
      const entry = w;
      entry.watches++;
      open++;
      let closed = false;
      let current: (() => void) | undefined;
      return {
        key,
        changed(knownEtag) {
          current?.();
          if (closed) return Promise.resolve();
          return new Promise<void>((resolve) => {
            const wake = (): void => {
              clearTimeout(timer);
              entry.waiters.delete(wake);
              if (current === wake) current = undefined;
              resolve();
            };
            const timer = setTimeout(wake, maxWaitMs);
            timer.unref();
            entry.waiters.set(wake, knownEtag);
            current = wake;
          });
        },
        close() {
          if (closed) return;
          closed = true;
          current?.();
          open--;
          if (--entry.watches === 0) {
            clearTimeout(entry.timer);
            if (watched.get(key) === entry) watched.delete(key);
          }
        },
      };
    },
    waiting: () => open,
    watchedKeys: () => watched.size,
  };
}

/** Tags of a master playlist whose `URI` attribute names a playlist (RFC 8216bis §4.4.6). */
const PLAYLIST_URI_TAGS = ['#EXT-X-MEDIA:', '#EXT-X-I-FRAME-STREAM-INF:'];

/**
 * The storage keys of the playlists a master playlist names (RFC 8216bis §4.4.6: the URI line
 * after each EXT-X-STREAM-INF, and the `URI` of EXT-X-MEDIA and EXT-X-I-FRAME-STREAM-INF),
 * resolved against the master's own key (`sessions/s1/master.m3u8` + `720p/index.m3u8` →
 * `sessions/s1/720p/index.m3u8`); query and fragment dropped. URIs with a scheme or another
 * host, and any that would leave the root, are left out.
 */
export function masterPlaylistChildKeys(masterKey: string, text: string): Set<string> {
  const base = new URL(`http://edge.invalid/${masterKey}`);
  const keys = new Set<string>();
  const add = (uri: string): void => {
    if (uri === '' || /^[A-Za-z][A-Za-z0-9+.-]*:/.test(uri) || uri.startsWith('//')) return;
    let url: URL;
    try {
      url = new URL(uri, base);
    } catch {
      return;
    }
    if (url.host !== base.host) return;
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      return;
    }
    if (path.length > 1) keys.add(path.slice(1));
  };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    if (!line.startsWith('#')) add(line);
    else if (PLAYLIST_URI_TAGS.some((t) => line.startsWith(t))) {
      const m = /[:,]URI="([^"]*)"/.exec(line);
      if (m) add(m[1]!);
    }
  }
  return keys;
}
