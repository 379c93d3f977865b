/**
 * The edge's in-memory copy of the live window, fed by the packager's media announcements
 * (`@live/events` media.ts) instead of storage polls:
 * - {@link createLiveStore}: per session, the latest text of each playlist and the recent parts
 *   and init segments (their bytes), bounded in bytes, sessions and parts per rendition;
 * - {@link createAnnouncedPlaylistWatcher}: the {@link PlaylistWatcher} of blocking playlist
 *   reloads (RFC 8216bis §6.2.5.2) woken by announcements instead of a storage poller.
 * No I/O: what the store does not hold (older objects, VOD, what was announced without bytes) the
 * edge reads from storage.
 */
import { createHash } from 'node:crypto';
import type { MediaAnnouncement } from '@live/events';
import { CACHE_CONTROL, contentTypeFor, playlistCacheControl, type StorageObjectInfo } from '@live/storage';
import type { PlaylistWatch, PlaylistWatcher } from './blocking.js';

/** A playlist or object held by the store, with the metadata storage would give for it. */
export interface LiveEntry {
  /** As `storage.stat` would describe the object (the ETag is the MD5 of its bytes, as S3 makes for one PUT). */
  readonly info: StorageObjectInfo;
  readonly body: Buffer;
  /** `info.lastModified` as an HTTP date (RFC 9110 §5.6.7). */
  readonly lastModifiedHttp: string;
}

/** A playlist held by the store: its entry and its text. */
export interface LivePlaylist extends LiveEntry {
  readonly text: string;
}

/** Options of {@link createLiveStore}. */
export interface LiveStoreOptions {
  /** Most bytes held (object bodies and playlist texts), default {@link DEFAULT_LIVE_STORE_BYTES}. */
  readonly maxBytes?: number;
  /** Most sessions held; a new one evicts the one least recently used (default {@link DEFAULT_LIVE_SESSIONS}). */
  readonly maxSessions?: number;
  /** Most parts held per rendition (the newest; default {@link DEFAULT_LIVE_PARTS_PER_RENDITION}). */
  readonly maxPartsPerRendition?: number;
  /** Clock in ms (tests). */
  readonly now?: () => number;
}

/** 128 MiB: the default {@link LiveStoreOptions.maxBytes} (`EDGE_LIVE_BYTES`). */
export const DEFAULT_LIVE_STORE_BYTES = 128 * 1024 * 1024;
/** The default {@link LiveStoreOptions.maxSessions} (`EDGE_LIVE_SESSIONS`). */
export const DEFAULT_LIVE_SESSIONS = 100;
/** 16 parts: 8 s of 0.5 s parts, more than the 3 target durations a live playlist lists parts for. */
export const DEFAULT_LIVE_PARTS_PER_RENDITION = 16;

/**
 * Live playlists and recent parts of the sessions an edge serves, from announcements. Keys are
 * storage keys (`sessions/<sessionId>/<path>`). Bounded: `maxBytes` (oldest objects go first,
 * then whole sessions, least recently used first), `maxSessions`, `maxPartsPerRendition`; init
 * segments are kept (two per rendition) as long as their session. An announcement without bytes
 * (an object over the announcement limit, a full segment) drops any copy of that key: the edge
 * reads it from storage.
 */
export interface LiveStore {
  /** Applies one announcement; wakes the listeners of a playlist it changes. */
  apply(a: MediaAnnouncement): void;
  /** The playlist under `key`, if held; marks its session used. */
  playlist(key: string): LivePlaylist | undefined;
  /** The part or init segment under `key`, if held; marks its session used. */
  object(key: string): LiveEntry | undefined;
  /** Calls `listener` whenever the playlist under `key` is replaced or dropped; returns the remover. */
  listen(key: string, listener: () => void): () => void;
  /** Forgets a session (its listeners are woken: their playlists are gone). */
  dropSession(sessionId: string): void;
  /** When the session's last announcement arrived (ms), or undefined when it is not held. */
  lastAnnouncementAt(sessionId: string): number | undefined;
  /** Bytes held (bodies and playlist texts). */
  bytes(): number;
  /** Sessions held. */
  sessions(): number;
  /** Objects (parts, init segments) held. */
  objects(): number;
}

interface SessionEntry {
  readonly playlists: Map<string, LivePlaylist>;
  /** path → object; parts of each rendition in `parts` too */
  readonly objects: Map<string, LiveEntry>;
  /** rendition directory → part paths, oldest first */
  readonly parts: Map<string, string[]>;
  /** rendition directory → init paths, oldest first */
  readonly inits: Map<string, string[]>;
  lastAnnouncementAt: number;
}

/** `sessions/<id>/<path>` → `[id, path]`, or null for any other key. */
export function splitSessionKey(key: string): [sessionId: string, path: string] | null {
  if (!key.startsWith('sessions/')) return null;
  const slash = key.indexOf('/', 9);
  if (slash < 0 || slash === 9 || slash === key.length - 1) return null;
  return [key.slice(9, slash), key.slice(slash + 1)];
}

function entryOf(key: string, body: Buffer, at: number, cacheControl: string): LiveEntry {
  const lastModified = new Date(at);
  return {
    info: { key, size: body.length, lastModified, contentType: contentTypeFor(key), cacheControl, etag: `"${createHash('md5').update(body).digest('hex')}"` },
    body,
    lastModifiedHttp: lastModified.toUTCString(),
  };
}

/**
 * Creates a {@link LiveStore}.
 * @throws TypeError when a bound is not a positive integer (`maxBytes` may be 0: nothing is held).
 */
export function createLiveStore(opts: LiveStoreOptions = {}): LiveStore {
  const maxBytes = opts.maxBytes ?? DEFAULT_LIVE_STORE_BYTES;
  const maxSessions = opts.maxSessions ?? DEFAULT_LIVE_SESSIONS;
  const maxParts = opts.maxPartsPerRendition ?? DEFAULT_LIVE_PARTS_PER_RENDITION;
  if (!Number.isInteger(maxBytes) || maxBytes < 0) throw new TypeError('maxBytes must be an integer >= 0');
  for (const [name, v] of [['maxSessions', maxSessions], ['maxPartsPerRendition', maxParts]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new TypeError(`${name} must be a positive integer`);
  }
  const now = opts.now ?? Date.now;
  /** Map order is recency order: the first session is the least recently used. */
  const sessions = new Map<string, SessionEntry>();
  /** Every object key held, oldest first (byte eviction order). */
  const objectOrder = new Map<string, string>();
  const listeners = new Map<string, Set<() => void>>();
  let held = 0;

  function wake(key: string): void {
    for (const l of [...(listeners.get(key) ?? [])]) l();
  }

  function touch(sessionId: string, s: SessionEntry): void {
    sessions.delete(sessionId);
    sessions.set(sessionId, s);
  }

  function removeObject(sessionId: string, path: string): void {
    const s = sessions.get(sessionId);
    const e = s?.objects.get(path);
    if (!s || !e) return;
    s.objects.delete(path);
    objectOrder.delete(`sessions/${sessionId}/${path}`);
    held -= e.body.length;
    const dir = path.slice(0, Math.max(0, path.lastIndexOf('/')));
    for (const list of [s.parts.get(dir), s.inits.get(dir)]) {
      const i = list?.indexOf(path) ?? -1;
      if (i >= 0) list!.splice(i, 1);
    }
  }

  function dropSession(sessionId: string): void {
    const s = sessions.get(sessionId);
    if (!s) return;
    for (const path of [...s.objects.keys()]) removeObject(sessionId, path);
    for (const p of s.playlists.values()) held -= p.body.length;
    sessions.delete(sessionId);
    for (const path of s.playlists.keys()) wake(`sessions/${sessionId}/${path}`);
  }

  function sessionFor(sessionId: string): SessionEntry {
    let s = sessions.get(sessionId);
    if (!s) {
      while (sessions.size >= maxSessions) dropSession(sessions.keys().next().value as string);
      s = { playlists: new Map(), objects: new Map(), parts: new Map(), inits: new Map(), lastAnnouncementAt: now() };
      sessions.set(sessionId, s);
    }
    return s;
  }

  /** Oldest objects first, then whole sessions (least recently used), until within maxBytes; never `keep`'s session. */
  function enforceBytes(keep: string): void {
    for (const [key, sessionId] of objectOrder) {
      if (held <= maxBytes) return;
      removeObject(sessionId, key.slice(`sessions/${sessionId}/`.length));
    }
    for (const sessionId of [...sessions.keys()]) {
      if (held <= maxBytes) return;
      if (sessionId !== keep) dropSession(sessionId);
    }
    if (held > maxBytes) dropSession(keep);
  }

  function putObject(sessionId: string, s: SessionEntry, a: MediaAnnouncement, body: Buffer): void {
    const key = `sessions/${sessionId}/${a.path}`;
    removeObject(sessionId, a.path);
    s.objects.set(a.path, entryOf(key, body, a.at, CACHE_CONTROL.segment));
    objectOrder.set(key, sessionId);
    held += body.length;
    const dir = a.path.slice(0, Math.max(0, a.path.lastIndexOf('/')));
    const lists = a.kind === 'init' ? s.inits : s.parts;
    const list = lists.get(dir) ?? [];
    lists.set(dir, list);
    list.push(a.path);
    const cap = a.kind === 'init' ? 2 : maxParts;
    while (list.length > cap) removeObject(sessionId, list[0]!);
  }

  return {
    apply(a) {
      const s = sessionFor(a.sessionId);
      s.lastAnnouncementAt = now();
      const key = `sessions/${a.sessionId}/${a.path}`;
      if (a.kind === 'playlist') {
        const old = s.playlists.get(a.path);
        if (old) held -= old.body.length;
        s.playlists.delete(a.path);
        if (a.body) {
          const body = Buffer.from(a.body); // a copy: never retain the transport's receive buffer
          const entry = entryOf(key, body, a.at, playlistCacheControl(key, a.live ?? true));
          s.playlists.set(a.path, { ...entry, text: body.toString('utf8') });
          held += body.length;
        }
        enforceBytes(a.sessionId);
        wake(key);
        return;
      }
      if (a.body && a.kind !== 'segment') putObject(a.sessionId, s, a, Buffer.from(a.body));
      else removeObject(a.sessionId, a.path);
      enforceBytes(a.sessionId);
    },
    playlist(key) {
      const split = splitSessionKey(key);
      const s = split ? sessions.get(split[0]) : undefined;
      const p = s?.playlists.get(split![1]);
      if (p) touch(split![0], s!);
      return p;
    },
    object(key) {
      const split = splitSessionKey(key);
      const s = split ? sessions.get(split[0]) : undefined;
      const o = s?.objects.get(split![1]);
      if (o) touch(split![0], s!);
      return o;
    },
    listen(key, listener) {
      let set = listeners.get(key);
      if (!set) {
        set = new Set();
        listeners.set(key, set);
      }
      set.add(listener);
      return () => {
        set.delete(listener);
        if (set.size === 0 && listeners.get(key) === set) listeners.delete(key);
      };
    },
    dropSession,
    lastAnnouncementAt: (sessionId) => sessions.get(sessionId)?.lastAnnouncementAt,
    bytes: () => held,
    sessions: () => sessions.size,
    objects: () => objectOrder.size,
  };
}

/** Options of {@link createAnnouncedPlaylistWatcher}. */
export interface AnnouncedWatcherOptions {
  /** Longest a `changed()` call waits, ms (default 1000); then the caller reads again. */
  readonly maxWaitMs?: number;
  /** Most distinct keys watched at once (the edge's `maxWatchedPlaylists`). */
  readonly maxKeys: number;
}

/**
 * A {@link PlaylistWatcher} woken by announcements: `changed(knownEtag)` resolves as soon as the
 * store holds a version of the playlist with another ETag than `knownEtag` (at once when it does
 * already: an announcement that arrived while the caller read), when the store drops it, or after
 * `maxWaitMs`. Reads nothing from storage. A caller that read the playlist from storage (the store
 * did not hold it) knows a storage ETag, which differs from the store's: it is woken at once by
 * the store's copy and reads that next, so it never spins.
 * @throws TypeError when `maxKeys` is not a positive integer.
 */
export function createAnnouncedPlaylistWatcher(store: LiveStore, opts: AnnouncedWatcherOptions): PlaylistWatcher {
  const maxWaitMs = opts.maxWaitMs ?? 1000;
  if (!Number.isInteger(opts.maxKeys) || opts.maxKeys < 1) throw new TypeError('maxKeys must be a positive integer');
  const watches = new Map<string, number>();
  let open = 0;
  return {
    watch(key): PlaylistWatch | null {
      if (!watches.has(key) && watches.size >= opts.maxKeys) return null;
      watches.set(key, (watches.get(key) ?? 0) + 1);
      open++;
      let closed = false;
      let current: (() => void) | undefined;
      return {
        key,
        changed(knownEtag) {
          current?.();
          if (closed) return Promise.resolve();
          const held = store.playlist(key);
          if (held && held.info.etag !== knownEtag) return Promise.resolve();
          return new Promise<void>((resolve) => {
            const wake = (): void => {
              clearTimeout(timer);
              unlisten();
              if (current === wake) current = undefined;
              resolve();
            };
            const unlisten = store.listen(key, () => {
              if (store.playlist(key)?.info.etag !== knownEtag) wake();
            });
            const timer = setTimeout(wake, maxWaitMs);
            timer.unref();
            current = wake;
          });
        },
        close() {
          if (closed) return;
          closed = true;
          current?.();
          open--;
          const n = (watches.get(key) ?? 1) - 1;
          if (n === 0) watches.delete(key);
          else watches.set(key, n);
        },
      };
    },
    waiting: () => open,
    watchedKeys: () => watches.size,
  };
}
