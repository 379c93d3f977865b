/**
 * `@live/storage`: object storage for the media pipeline (segments, playlists, VOD files).
 *
 * One interface ({@link ObjectStorage}) with a local-directory implementation
 * ({@link createLocalStorage}); an S3 implementation plugs in behind the same interface.
 * Modelled on Owncast's `storageProvider` (segment- and playlist-written callbacks).
 */
export type {
  ObjectStorage,
  StorageObjectInfo,
  SegmentWrittenEvent,
  PlaylistWrittenEvent,
  Unsubscribe,
} from './types.js';
export { CACHE_CONTROL, contentTypeFor, defaultCacheControlFor, playlistCacheControl, isVodPlaylistKey } from './types.js';
export { InvalidStorageKeyError, assertValidKey, resolveKeyPath } from './keys.js';
export { createLocalStorage, type LocalStorageOptions, type StorageLogger } from './local.js';
