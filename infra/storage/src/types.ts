/**
 * Metadata of one stored object, as an HTTP edge needs it to answer a request.
 *
 * `size` is in bytes; `lastModified` is the time of the last write; `contentType` and
 * `cacheControl` are ready-to-send header values (see {@link contentTypeFor},
 * {@link CACHE_CONTROL}); `etag` is a quoted strong entity tag (RFC 9110 §8.8.3) that changes
 * whenever the object is rewritten.
 */
export interface StorageObjectInfo {
  key: string;
  size: number;
  lastModified: Date;
  contentType: string;
  cacheControl: string;
  etag: string;
}

/** Payload of the `onSegmentWritten` callback: the key just written and its size in bytes. */
export interface SegmentWrittenEvent {
  key: string;
  size: number;
}

/**
 * Payload of the `onPlaylistWritten` callback: the key just written, its size in bytes and
 * whether it was written as a live (short-cached) playlist.
 */
export interface PlaylistWrittenEvent {
  key: string;
  size: number;
  live: boolean;
}

/** Removes a listener added with `onSegmentWritten` / `onPlaylistWritten`. */
export type Unsubscribe = () => void;

/**
 * Object storage for the media pipeline: one interface for the local directory backend
 * (embedded default) and S3 (production). Modelled on Owncast's `storageProvider` (separate
 * calls and callbacks for segments and playlists).
 *
 * Keys are `/`-separated relative paths (e.g. `sessions/<sessionId>/720p/seg_00012.m4s`).
 * Every method refuses invalid keys (absolute, containing `..`, backslashes, NUL, or
 * escaping the root) by rejecting with `InvalidStorageKeyError` before any I/O.
 *
 * Writers must follow the HLS publishing order (RFC 8216bis §6.2.1): write a segment before
 * any playlist that names it.
 */
export interface ObjectStorage {
  /**
   * Stores immutable media (init segments, `.m4s`/`.ts` segments, `.mp4`, `.jpg`, ...),
   * served with `Cache-Control: public, max-age=31536000, immutable`.
   * The object appears atomically (readers never see a partial object).
   *
   * @param body the bytes, or (string) the path of a local file to copy.
   * @throws {InvalidStorageKeyError} on an invalid key; file system / network errors as is.
   */
  writeSegment(key: string, body: Uint8Array | string): Promise<void>;
  /**
   * Stores a playlist atomically (temp file + rename on the local backend, a single PUT on S3), so readers never
   * see a torn playlist. `live` (default `true`) selects `public, max-age=1`; `false` (an
   * ended or VOD playlist) selects `public, max-age=60`. Keys ending in `vod.m3u8` are
   * always VOD.
   *
   * @throws {InvalidStorageKeyError} on an invalid key.
   */
  writePlaylist(key: string, text: string, opts?: { live: boolean }): Promise<void>;
  /**
   * Stores a MUTABLE object that is neither a segment nor a playlist, with an explicit
   * `Cache-Control`: the live poster (`sessions/<id>/poster.jpg`, rewritten every 10 s, with
   * {@link CACHE_CONTROL}.poster), VOD thumbnail sprites and their WebVTT track. Atomic like
   * the other writes; the Cache-Control is stored with the object (a sidecar on the local
   * backend, object metadata on S3) and reported by `stat`. A later `writeSegment` /
   * `writePlaylist` of the same key goes back to that method's policy. No written-callback
   * fires (there is none for this kind of object).
   *
   * @param body the bytes.
   * @param opts.cacheControl the header value, e.g. `public, max-age=10`: 1-256 printable
   *   ASCII characters (no CR/LF; it becomes an HTTP header, RFC 9111 §5.2).
   * @throws {InvalidStorageKeyError} on an invalid key; `TypeError` on an invalid
   *   `cacheControl` (both before any I/O); file system / network errors as is.
   */
  writeObject(key: string, body: Uint8Array, opts: { cacheControl: string }): Promise<void>;
  /** Reads a whole object; `null` when it does not exist. @throws {InvalidStorageKeyError} */
  read(key: string): Promise<Buffer | null>;
  /**
   * Opens an object for streaming; `null` when it does not exist.
   *
   * @param range optional byte range with INCLUSIVE `end` (as in an HTTP `Range` header,
   *   RFC 9110 §14.1.2); an `end` past the object is clamped to its last byte.
   * @throws {InvalidStorageKeyError} on an invalid key; `RangeError` on a malformed range.
   */
  createReadStream(key: string, range?: { start: number; end: number }): Promise<NodeJS.ReadableStream | null>;
  /** Object metadata; `null` when it does not exist. @throws {InvalidStorageKeyError} */
  stat(key: string): Promise<StorageObjectInfo | null>;
  /**
   * Keys starting with `prefix` (plain string prefix, S3 `ListObjectsV2` semantics), sorted.
   * `''` lists everything.
   *
   * @throws {InvalidStorageKeyError} on an invalid prefix.
   */
  list(prefix: string): Promise<string[]>;
  /**
   * Deletes every object whose key starts with `prefix`. An empty prefix is refused (it
   * would delete the whole store).
   *
   * @throws {InvalidStorageKeyError} on an empty or invalid prefix.
   */
  delete(prefix: string): Promise<void>;
  /**
   * Deletes exactly the objects named by `keys` (not prefixes): the primitive for live-window
   * retention, removing segments that fell out of the DVR window. Keys that do not exist are
   * ignored, duplicates are fine, an empty list does nothing. Every key is validated before any
   * object is deleted, so one invalid key means nothing was deleted. Not atomic across keys: on
   * a backend error some keys may already be gone (calling again with the same keys is safe).
   * The S3 backend sends `DeleteObjects` requests of up to 1000 keys.
   *
   * @throws {InvalidStorageKeyError} when any key is invalid (nothing deleted); backend errors as is.
   */
  deleteObjects(keys: readonly string[]): Promise<void>;
  /** Calls `listener` after every successful `writeSegment`. Returns an unsubscribe function. */
  onSegmentWritten(listener: (event: SegmentWrittenEvent) => void): Unsubscribe;
  /** Calls `listener` after every successful `writePlaylist`. Returns an unsubscribe function. */
  onPlaylistWritten(listener: (event: PlaylistWrittenEvent) => void): Unsubscribe;
}

/**
 * Cache-Control header values used by the pipeline.
 * - `segment`: immutable media (names are never reused), one year, `immutable` (RFC 8246).
 * - `livePlaylist`: changes every segment duration; 1 s keeps a CDN from serving a stale
 *   live edge for longer than half a segment.
 * - `vodPlaylist`: ended/VOD playlists no longer change, but a short minute keeps operator
 *   fixes (re-packaging) visible quickly.
 * - `poster`: the live poster image, rewritten every 10 s under the same name: a CDN may
 *   keep it for one refresh period, never longer (written with `writeObject`).
 * - `thumbnails`: VOD seek-preview sprites and their WebVTT track: fixed once packaged, but
 *   re-packaging rewrites them under the same names, hence a minute as for VOD playlists.
 */
export const CACHE_CONTROL = {
  segment: 'public, max-age=31536000, immutable',
  livePlaylist: 'public, max-age=1',
  vodPlaylist: 'public, max-age=60',
  poster: 'public, max-age=10',
  thumbnails: 'public, max-age=60',
} as const;

/**
 * Validates a `Cache-Control` value given to `writeObject` and returns it unchanged: 1-256
 * characters of printable ASCII (0x20-0x7E), so it can be sent as an HTTP header field value
 * (RFC 9110 §5.5) and stored as S3 metadata without encoding.
 *
 * @throws TypeError when the value is empty, too long, or has control / non-ASCII characters.
 */
export function assertCacheControl(value: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 256 || !/^[\x20-\x7e]+$/.test(value)) {
    throw new TypeError(`invalid Cache-Control value ${JSON.stringify(String(value)).slice(0, 80)}`);
  }
  return value;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.m3u8': 'application/vnd.apple.mpegurl', // RFC 8216 §4
  '.m4s': 'video/iso.segment', // IANA registration for ISO BMFF media segments
  '.mp4': 'video/mp4', // RFC 4337
  '.m4a': 'audio/mp4',
  '.ts': 'video/mp2t',
  '.aac': 'audio/aac',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.vtt': 'text/vtt; charset=utf-8',
  '.json': 'application/json',
};

/**
 * The `Content-Type` for a key, from its extension (case-insensitive):
 * `.m3u8` `application/vnd.apple.mpegurl`, `.m4s` `video/iso.segment`, `.mp4` `video/mp4`,
 * `.ts` `video/mp2t`, `.jpg` `image/jpeg`, `.vtt` `text/vtt; charset=utf-8`,
 * `.json` `application/json`; anything else `application/octet-stream`.
 */
export function contentTypeFor(key: string): string {
  const dot = key.lastIndexOf('.');
  const slash = key.lastIndexOf('/');
  if (dot <= slash) return 'application/octet-stream';
  return CONTENT_TYPES[key.slice(dot).toLowerCase()] ?? 'application/octet-stream';
}

/** True for keys whose basename is a VOD playlist by naming convention (`vod.m3u8`, `x.vod.m3u8`, `x_vod.m3u8`). */
export function isVodPlaylistKey(key: string): boolean {
  return key.toLowerCase().endsWith('vod.m3u8');
}

/**
 * The default Cache-Control for a key when nothing else was recorded for it: `.m3u8` keys
 * are live playlists unless they end in `vod.m3u8`; everything else is an immutable segment.
 */
export function defaultCacheControlFor(key: string): string {
  if (key.toLowerCase().endsWith('.m3u8')) {
    return isVodPlaylistKey(key) ? CACHE_CONTROL.vodPlaylist : CACHE_CONTROL.livePlaylist;
  }
  return CACHE_CONTROL.segment;
}

/** Cache-Control for a playlist written with `writePlaylist(key, text, { live })`. */
export function playlistCacheControl(key: string, live: boolean): string {
  return live && !isVodPlaylistKey(key) ? CACHE_CONTROL.livePlaylist : CACHE_CONTROL.vodPlaylist;
}
