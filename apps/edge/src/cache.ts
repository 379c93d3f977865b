import type { ObjectStorage, StorageObjectInfo } from '@live/storage';

/** One object held by {@link ImmutableObjectCache}: its metadata as `storage.stat` gave it and its bytes. */
export interface CachedObject {
  readonly info: StorageObjectInfo;
  readonly body: Buffer;
  /** `info.lastModified` as an HTTP date (RFC 9110 §5.6.7), formatted once. */
  readonly lastModifiedHttp: string;
}

/** Options of {@link createImmutableObjectCache}. */
export interface ImmutableObjectCacheOptions {
  readonly storage: ObjectStorage;
  /** Upper bound of the bytes held (object bodies), default 256 MiB; 0 disables the cache. */
  readonly maxBytes?: number;
  /**
   * Largest object kept, bytes; default `min(32 MiB, maxBytes / 8)`. Larger objects (a VOD MP4)
   * are served from storage as before.
   */
  readonly maxObjectBytes?: number;
  /**
   * Milliseconds an entry is served without asking storage again (default 1000). After that, the
   * next request `stat`s the key once: a deleted object (live-window retention, a deleted
   * session) is dropped and answered as missing, a rewritten one (another ETag) is read again.
   */
  readonly revalidateMs?: number;
  /** Clock in ms (tests). */
  readonly now?: () => number;
}

/** What {@link ImmutableObjectCache.get} answers. */
export type CacheLookup =
  /** The object, from memory (or just read into it). */
  | { readonly kind: 'hit'; readonly object: CachedObject }
  /** Storage has no such object. */
  | { readonly kind: 'missing' }
  /** The object exists but is not cached (not immutable, or too large): serve it from storage as before. */
  | { readonly kind: 'uncacheable'; readonly info: StorageObjectInfo };

/**
 * An in-memory LRU of immutable objects (segments, parts, init segments: objects whose stored
 * Cache-Control says `immutable`; their names are never reused) in front of object storage, so
 * that the edge answers a segment request from memory instead of a `stat` plus a file open and
 * read per request. Bounded by the bytes of the bodies it holds; least recently used first out.
 */
export interface ImmutableObjectCache {
  /**
   * The object under `key`. A miss `stat`s and reads it once, however many requests wait for it
   * meanwhile. Errors of storage propagate (nothing is cached then).
   */
  get(key: string): Promise<CacheLookup>;
  /**
   * The object under `key` when it is held and fresh (checked with storage less than
   * `revalidateMs` ago), synchronously and counted as a `hit` (like {@link get}); undefined
   * otherwise, counting nothing (the caller then asks {@link get}).
   */
  peek(key: string): CachedObject | undefined;
  /** Lookups since creation by result (see {@link CacheLookupCounts}). */
  readonly lookups: CacheLookupCounts;
  /** Bytes of the bodies held now. */
  bytes(): number;
  /** Objects held now. */
  size(): number;
}

/**
 * Results of {@link ImmutableObjectCache.get} and `peek` since the cache was created (the edge's
 * `edge_object_cache_lookups_total{result}`): `hit` answered from memory; `revalidated` one
 * storage `stat`, body from memory; `miss` read from storage into memory; `uncacheable` exists
 * but not kept (served from storage); `missing` storage has no such object. Requests that join a
 * storage read already in flight for the same key are not counted again.
 */
export interface CacheLookupCounts {
  hit: number;
  revalidated: number;
  miss: number;
  uncacheable: number;
  missing: number;
}

interface Entry {
  readonly object: CachedObject;
  checkedAt: number;
}

/** 256 MiB: the default {@link ImmutableObjectCacheOptions.maxBytes}. */
export const DEFAULT_EDGE_CACHE_BYTES = 256 * 1024 * 1024;

/**
 * Parses `EDGE_CACHE_BYTES`: a byte count, optionally with a binary suffix (`512k`, `256m`,
 * `1g`, case-insensitive); `0` disables the cache.
 * @returns undefined when `text` is undefined or empty.
 * @throws {TypeError} when it is not such a number.
 */
export function parseCacheBytes(text: string | undefined): number | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const m = /^(\d+)\s*([kmg]?)i?b?$/i.exec(text.trim());
  if (!m) throw new TypeError(`EDGE_CACHE_BYTES must be a byte count such as 268435456 or 256m, got ${JSON.stringify(text)}`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Number(m[1]) * unit;
}

/** Creates an {@link ImmutableObjectCache} over `storage`. */
export function createImmutableObjectCache(opts: ImmutableObjectCacheOptions): ImmutableObjectCache {
  const maxBytes = opts.maxBytes ?? DEFAULT_EDGE_CACHE_BYTES;
  const maxObjectBytes = opts.maxObjectBytes ?? Math.min(32 * 1024 * 1024, Math.floor(maxBytes / 8));
  const revalidateMs = opts.revalidateMs ?? 1000;
  const now = opts.now ?? Date.now;
  const { storage } = opts;
  /** Map order is recency order: the first entry is the least recently used. */
  const entries = new Map<string, Entry>();
  const loading = new Map<string, Promise<CacheLookup>>();
  let held = 0;
  const lookups: CacheLookupCounts = { hit: 0, revalidated: 0, miss: 0, uncacheable: 0, missing: 0 };

  function remove(key: string): void {
    const e = entries.get(key);
    if (!e) return;
    entries.delete(key);
    held -= e.object.body.length;
  }

  function insert(key: string, object: CachedObject): void {
    remove(key);
    entries.set(key, { object, checkedAt: now() });
    held += object.body.length;
    for (const [k] of entries) {
      if (held <= maxBytes) break;
      remove(k);
    }
  }

  async function load(key: string): Promise<CacheLookup> {
    const info = await storage.stat(key);
    if (!info) {
      remove(key);
      lookups.missing++;
      return { kind: 'missing' };
    }
    const cached = entries.get(key);
    if (cached && cached.object.info.etag === info.etag) {
      cached.checkedAt = now();
      lookups.revalidated++;
      return { kind: 'hit', object: cached.object };
    }
    if (!info.cacheControl.includes('immutable') || info.size > maxObjectBytes || maxBytes <= 0) {
      remove(key);
      lookups.uncacheable++;
      return { kind: 'uncacheable', info };
    }
    const body = await storage.read(key);
    if (!body) {
      remove(key);
      lookups.missing++;
      return { kind: 'missing' };
    }
    // Rewritten between stat and read (never for immutable names, but a key is only a name):
    // serve what was read with metadata that matches it on the next request, not now.
    if (body.length !== info.size) {
      lookups.uncacheable++;
      return { kind: 'uncacheable', info };
    }
    const object: CachedObject = { info, body, lastModifiedHttp: info.lastModified.toUTCString() };
    insert(key, object);
    lookups.miss++;
    return { kind: 'hit', object };
  }

  /** The fresh entry of `key` (its recency refreshed and counted as a hit), or undefined. */
  function fresh(key: string): CachedObject | undefined {
    const e = entries.get(key);
    if (!e || now() - e.checkedAt >= revalidateMs) return undefined;
    // refresh recency: move to the end of the map
    entries.delete(key);
    entries.set(key, e);
    lookups.hit++;
    return e.object;
  }

  return {
    peek: fresh,
    lookups,
    get(key) {
      const object = fresh(key);
      if (object) return Promise.resolve({ kind: 'hit', object });
      let p = loading.get(key);
      if (!p) {
        p = load(key).finally(() => loading.delete(key));
        loading.set(key, p);
      }
      return p;
    },
    bytes: () => held,
    size: () => entries.size,
  };
}
