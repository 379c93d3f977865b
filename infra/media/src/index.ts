/**
 * `@live/media`: the live media pipeline's building blocks.
 *
 * - {@link selectLadder}: the ABR ladder for a source (passthrough top rung when possible);
 * - {@link buildLadderArgs}: the ffmpeg command line (one decode, split, x264, fMP4 HLS);
 * - {@link runFfmpeg} / {@link ffprobe}: process supervision (input piped to stdin, an
 *   environment without our secrets: {@link ffmpegChildEnv}) and probing;
 * - {@link parseMediaPlaylist} / {@link renderMediaPlaylist} / {@link renderMasterPlaylist}: RFC 8216(bis) playlists;
 * - {@link createHlsPublisher}: ffmpeg work dir -> object storage, segments before playlists;
 * - {@link packageVod}: VOD playlists and a faststart MP4 after the session ends.
 * - AES-128 segment encryption ({@link encryptAes128}, {@link segmentKeying}) and the DVR window
 *   ({@link dvrWindowStart}) of the low-latency publisher.
 * - Low-Latency HLS: {@link buildLowLatencyLadderArgs} + {@link createLlHlsPublisher} (our own
 *   packager: fMP4 fragments -> parts), {@link checkLowLatencyPlaylist} (conformance),
 *   {@link parseBlockingReloadQuery} / {@link decideBlockingReload} / {@link playlistHasPart} (edge).
 */
export {
  STANDARD_LADDER,
  MAXRATE_FACTOR,
  BUFSIZE_FACTOR,
  MAX_PASSTHROUGH_BITRATE_KBPS,
  UnsupportedSourceError,
  canPassthrough,
  h264CodecString,
  h264Level,
  parseAvcCodecString,
  selectLadder,
  type H264Profile,
  type LadderRung,
  type Rendition,
  type RenditionName,
  type SelectLadderOptions,
  type SourceInfo,
} from './ladder.js';
export {
  FFMPEG_PLAYLIST_NAME,
  FFMPEG_STDIN_INPUT,
  FRAGMENTED_STREAM_NAME,
  isPipeInput,
  buildLowLatencyLadderArgs,
  partFramesFor,
  type LowLatencyLadderArgsOptions,
  buildLadderArgs,
  ffmpegInitSegmentName,
  type LadderArgsOptions,
  type LadderInputOptions,
} from './args.js';
export {
  BinaryNotFoundError,
  FfmpegError,
  FfmpegInputError,
  FfprobeError,
  ffmpegChildEnv,
  ffmpegPath,
  ffprobe,
  ffprobePath,
  redactSecrets,
  runFfmpeg,
  sourceInfoFromProbe,
  type FfmpegProgress,
  type FfmpegResult,
  type FfprobeOptions,
  type ProbeResult,
  type ProbeStream,
  type RunFfmpegOptions,
} from './ffmpeg.js';
export { Mp4ParseError, codecsFromInitSegment, topLevelBoxes, type Mp4Box } from './mp4.js';
export {
  ARCHIVE_CHUNK_SEGMENTS,
  PublisherError,
  announceSafely,
  createHlsPublisher,
  loadPublisherState,
  nextAttemptNumber,
  nextStartNumber,
  renditionCodecs,
  variantBandwidth,
  type HlsPublisher,
  type HlsPublisherOptions,
  type AnnouncedObjectKind,
  type LoadPublisherStateOptions,
  type MediaAnnouncer,
  type MediaLogger,
  type PublisherEvents,
  type PublisherState,
  type RenditionPublishState,
} from './publisher.js';
export {
  VodPackagingError,
  packageVod,
  type PackageVodOptions,
  type VodRendition,
  type VodResult,
} from './vod.js';
export {
  Fmp4Splitter,
  parseFragment,
  parseInitTracks,
  type Fmp4Chunk,
  type Fmp4FragmentInfo,
  type Fmp4Track,
  type Fmp4TrackRun,
} from './fmp4.js';
export {
  createLlHlsPublisher,
  dvrWindowStart,
  prepareLowLatencyOutputDirs,
  type LlHlsPublisherOptions,
} from './ll-publisher.js';
export { DEFAULT_PART_HOLD_BACK_PARTS, partTargetSeconds, planLowLatencyParts, type LowLatencyPartsInput, type LowLatencyPartsPlan } from './part-plan.js';
export {
  decryptAes128,
  encryptAes128,
} from './encryption.js';
export {
  DEFAULT_POSTER_INTERVAL_MS,
  DEFAULT_POSTER_WIDTH,
  DEFAULT_THUMBNAIL_INTERVAL_SECONDS,
  DEFAULT_THUMBNAIL_SIZE,
  ThumbnailError,
  buildPosterArgs,
  buildSpriteArgs,
  buildThumbnailFrameArgs,
  createLivePoster,
  generateVodThumbnails,
  newestCompleteSegment,
  posterRenditionFor,
  posterSize,
  type LivePoster,
  type LivePosterOptions,
  type PosterArgsOptions,
  type PosterWritten,
  type ThumbnailFrameArgsOptions,
  type VodThumbnailsOptions,
  type VodThumbnailsResult,
} from './thumbnails.js';
export * from './formats/index.js';
