/**
 * `@live/storage`: object storage for the media pipeline (segments, playlists, VOD files).
 *
 * One interface ({@link ObjectStorage}) with a local-directory implementation
 * ({@link createLocalStorage}, the embedded default) and an S3 implementation
 * ({@link createS3Storage}, production); {@link createObjectStorage} picks one from a config,
 * {@link storageConfigFromEnv} reads that config from the environment.
 * Modelled on Owncast's `storageProvider` (segment- and playlist-written callbacks).
 */
export type {
  ObjectStorage,
  StorageObjectInfo,
  SegmentWrittenEvent,
  PlaylistWrittenEvent,
  Unsubscribe,
} from './types.js';
export { CACHE_CONTROL, assertCacheControl, contentTypeFor, defaultCacheControlFor, playlistCacheControl, isVodPlaylistKey } from './types.js';
export { InvalidStorageKeyError, assertValidKey, resolveKeyPath } from './keys.js';
export { createLocalStorage, type LocalStorageOptions, type StorageLogger } from './local.js';
export { createS3Storage, type S3StorageOptions, type S3ObjectStorage } from './s3.js';
export { createObjectStorage, storageConfigFromEnv, type ObjectStorageConfig, type S3StorageConfig } from './config.js';
