/**
 * `@live/media`: the live media pipeline's building blocks.
 *
 * - {@link selectLadder}: the ABR ladder for a source (passthrough top rung when possible);
 * - {@link buildLadderArgs}: the ffmpeg command line (one decode, split, x264, fMP4 HLS);
 * - {@link runFfmpeg} / {@link ffprobe}: process supervision and probing;
 * - {@link parseMediaPlaylist} / {@link renderMediaPlaylist} / {@link renderMasterPlaylist}: RFC 8216(bis) playlists;
 * - {@link createHlsPublisher}: ffmpeg work dir -> object storage, segments before playlists;
 * - {@link packageVod}: VOD playlists and a faststart MP4 after the session ends.
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
  buildLadderArgs,
  ffmpegInitSegmentName,
  type LadderArgsOptions,
  type LadderInputOptions,
} from './args.js';
export {
  BinaryNotFoundError,
  FfmpegError,
  FfprobeError,
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
export {
  PlaylistParseError,
  formatDuration,
  measureBitrates,
  normalizeProgramDateTime,
  parseAttributeList,
  parseMediaPlaylist,
  renderMasterPlaylist,
  renderMediaPlaylist,
  targetDurationFor,
  type MediaPlaylist,
  type PlaylistSegment,
  type RenderMediaPlaylistOptions,
  type VariantStream,
} from './playlist.js';
export { Mp4ParseError, codecsFromInitSegment, topLevelBoxes, type Mp4Box } from './mp4.js';
export {
  PublisherError,
  createHlsPublisher,
  loadPublisherState,
  masterPlaylistKey,
  mediaPlaylistKey,
  nextAttemptNumber,
  nextStartNumber,
  renditionCodecs,
  variantBandwidth,
  type HlsPublisher,
  type HlsPublisherOptions,
  type LoadPublisherStateOptions,
  type MediaLogger,
  type PublisherEvents,
  type PublisherState,
  type RenditionPublishState,
} from './publisher.js';
export {
  VodPackagingError,
  packageVod,
  vodMasterKey,
  vodMp4Key,
  vodPlaylistKey,
  type PackageVodOptions,
  type VodRendition,
  type VodResult,
} from './vod.js';
