/**
 * Public API of the RTMP ingest protocol layer. The lead wires `createRtmpServer` in `main.ts`;
 * the codecs and parsers are exported for tests and tools.
 */
export { createRtmpServer, type RtmpServer, type RtmpServerStats, type RtmpTlsListener } from './server.js';
export { createByteBudget, type ByteBudget, type RtmpLimitReason } from './limits.js';
export type { RtmpSessionInfo, PublishPhase, RtmpTransport } from './session.js';
export type {
  RtmpServerOptions,
  ChannelClaims,
  RtmpLimits,
  RtmpLimitEvent,
  AuthorizePublishRequest,
  AuthorizePublishResult,
  PublishRefusalCode,
  PublishStartedEvent,
  PublishEndedEvent,
} from './options.js';
export {
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
  DEFAULT_UNPUBLISHED_TIMEOUT_MS,
  DEFAULT_MAX_PENDING_BYTES_UNPUBLISHED,
  DEFAULT_MAX_PENDING_BYTES,
} from './options.js';
export type { MediaMessage, MediaSink, MediaSinkFactory, PublishStartInfo, PublishEndReason } from './media-sink.js';
export { combineMediaSinks } from './media-sink.js';
export type { MediaInfo, VideoTagInfo, AudioTagInfo } from './media-info.js';
export { MediaInfoCollector, parseVideoTagHeader, parseAudioTagHeader } from './media-info.js';
export { RtmpProtocolError, type RtmpProtocolErrorCode } from './errors.js';
export { encodeAmf0, decodeAmf0, decodeAmf0Value, ecmaArray, isEcmaArray, isAmfObject, AMF0_ECMA_ARRAY, AMF0_MAX_DEPTH, type AmfValue, type AmfObject } from './amf0.js';
export { ServerHandshake, RTMP_VERSION, HANDSHAKE_PACKET_SIZE, type HandshakeProgress, type ServerHandshakeOptions } from './handshake.js';
export {
  ChunkDecoder,
  encodeMessage,
  DEFAULT_CHUNK_SIZE,
  DEFAULT_MAX_CHUNK_SIZE,
  DEFAULT_MAX_MESSAGE_SIZE,
  DEFAULT_MAX_CHUNK_STREAMS,
  type ChunkDecoderOptions,
  type PendingBytesBudget,
  type RtmpMessage,
  type OutboundMessage,
} from './chunk.js';
export { parseH264Sps, parseAvcDecoderConfig, avcCodecString, type H264SpsInfo, type AvcDecoderConfig } from './avc.js';
export { parseAudioSpecificConfig, AAC_SAMPLE_RATES, type AudioSpecificConfig } from './aac.js';
export { uuidv7, maskStreamKey, streamKeyFromPublishName, normalizeAppName } from './ids.js';
