/** Configuration and callback contracts of the RTMP ingest server. */
import type { Logger } from 'pino';
import { DEFAULT_MAX_CHUNK_SIZE, DEFAULT_MAX_CHUNK_STREAMS, DEFAULT_MAX_MESSAGE_SIZE } from './chunk.js';
import type { MediaInfo } from './media-info.js';
import type { MediaSinkFactory, PublishEndReason } from './media-sink.js';

/** Input of {@link RtmpServerOptions.authorizePublish}. */
export interface AuthorizePublishRequest {
  /** The RTMP session (connection) asking, a UUIDv7: the id `RtmpServer.kick` and `sessions()` use. */
  sessionId: string;
  /** Application name from `connect` (query and slashes stripped), e.g. `live`. */
  app: string;
  /** Stream key from `publish`, `?query` stripped. A secret: never log it unmasked. */
  streamKey: string;
  remoteAddress: string;
}

/**
 * Codes an authorizer may refuse a publish with, each answered with an Adobe NetStream status
 * (RTMP 1.0 §7.2.2.6 `onStatus`):
 * - `NetStream.Publish.BadName`: UNKNOWN_STREAM_KEY, ALREADY_LIVE (the name is not publishable);
 * - `NetStream.Publish.Denied`: STREAM_KEY_DISABLED, STREAM_KEY_EXPIRED, ADDRESS_NOT_ALLOWED,
 *   BAD_APP (the name is known but this publisher may not use it);
 * - `NetStream.Publish.Failed`: INTERNAL.
 */
export type PublishRefusalCode =
  | 'UNKNOWN_STREAM_KEY'
  | 'STREAM_KEY_DISABLED'
  | 'STREAM_KEY_EXPIRED'
  | 'ADDRESS_NOT_ALLOWED'
  | 'ALREADY_LIVE'
  | 'BAD_APP'
  | 'INTERNAL';

/**
 * Output of {@link RtmpServerOptions.authorizePublish}. `keyId` (optional, opaque to the RTMP
 * server) names the credential the publish was accepted with; the session keeps it and reports
 * it in `RtmpServer.sessions()`, so the owner can kick every session of a key that stops being
 * valid. `description` of a refusal is sent to the publisher (at most 256 characters).
 */
export type AuthorizePublishResult =
  | { ok: true; channelId: string; keyId?: string }
  | { ok: false; code: PublishRefusalCode; description: string };

/** Input of {@link RtmpServerOptions.onPublishStarted}. */
export interface PublishStartedEvent {
  /** UUIDv7 generated per RTMP connection; also the relay path `/relay/<sessionId>.flv`. */
  sessionId: string;
  channelId: string;
  app: string;
  remoteAddress: string;
  media: MediaInfo;
  /** When the publish was accepted (NetStream.Publish.Start sent). */
  startedAt: Date;
}

/** Input of {@link RtmpServerOptions.onPublishEnded}. */
export interface PublishEndedEvent {
  sessionId: string;
  channelId: string;
  reason: PublishEndReason;
  /** Free text for logs, e.g. `idle timeout`, `ECONNRESET`, a kick reason. Never a secret. */
  detail?: string;
  endedAt: Date;
  /** Bytes received on the connection (handshake included) up to the end of the publish. */
  bytesReceived: number;
}

/** Resource bounds of one RTMP connection. */
export interface RtmpLimits {
  /**
   * Time allowed from TCP accept to the end of the RTMP handshake, ms. Default 5000. On an RTMPS
   * listener the TLS handshake gets this long first, then the RTMP handshake this long again.
   */
  handshakeTimeoutMs?: number;
  /** Close a connection after this long without any socket activity, ms. Default 30000. */
  idleTimeoutMs?: number;
  /** Largest inbound chunk size a peer may set, bytes. Default 65536. */
  maxChunkSize?: number;
  /** Largest inbound message, bytes. Default 8 MiB. */
  maxMessageSize?: number;
  /** Most chunk stream ids per connection. Default 64. */
  maxChunkStreams?: number;
  /** Wait at most this long after NetStream.Publish.Start for both sequence headers, ms. Default 3000. */
  mediaInfoTimeoutMs?: number;
  /** Most media bytes buffered between NetStream.Publish.Start and the media sink opening. Default 32 MiB. */
  maxPendingMediaBytes?: number;
}

/** Options of `createRtmpServer`. */
export interface RtmpServerOptions {
  logger: Logger;
  /**
   * Decide whether a publish may start. Called after `publish` (RTMP 1.0 §7.2.2.6). A rejection
   * (thrown error) counts as `INTERNAL`. Even when it returns ok, a channelId already live on
   * this node is refused with ALREADY_LIVE.
   */
  authorizePublish(req: AuthorizePublishRequest): Promise<AuthorizePublishResult>;
  /**
   * Called once the publish is accepted AND the media info is known (video and audio sequence
   * headers seen — or only the tracks onMetaData announces — or `mediaInfoTimeoutMs` after the
   * publish start). If it throws, the publisher gets NetStream.Publish.Failed and is disconnected,
   * and `onPublishEnded` is NOT called for it.
   */
  onPublishStarted(s: PublishStartedEvent): Promise<void>;
  /**
   * Called exactly once when a started publish (one whose `onPublishStarted` resolved) ends, for
   * any reason; never before `onPublishStarted` resolved. Errors are logged and ignored.
   */
  onPublishEnded(s: PublishEndedEvent): Promise<void>;
  /**
   * Media sink: receives every audio/video/data message of an accepted publish, in order. Opened
   * right before `onPublishStarted` is called (so a relay URL is servable by the time a consumer
   * hears about the session). Pass the relay from `createRelay()` here.
   */
  mediaSink?: MediaSinkFactory;
  /**
   * Cluster-wide "one live session per channel" (optional). After a publish is authorized and
   * the channel is free on this node, `claim` is asked; `false` (or a throw) refuses the publish
   * with ALREADY_LIVE. `release` is called exactly once for every claim asked, when that publish
   * ends for any reason — possibly while the claim is still in flight, which the implementation
   * must handle (release what it acquires late).
   */
  channelClaims?: ChannelClaims;
  limits?: RtmpLimits;
}

/** See {@link RtmpServerOptions.channelClaims}. */
export interface ChannelClaims {
  claim(req: { channelId: string; sessionId: string }): Promise<boolean>;
  release(req: { channelId: string; sessionId: string }): void;
}

/** {@link RtmpLimits} with defaults applied. */
export type ResolvedRtmpLimits = Required<RtmpLimits>;

/** Applies the documented defaults to `limits`. */
export function resolveLimits(limits: RtmpLimits = {}): ResolvedRtmpLimits {
  return {
    handshakeTimeoutMs: limits.handshakeTimeoutMs ?? 5000,
    idleTimeoutMs: limits.idleTimeoutMs ?? 30000,
    maxChunkSize: limits.maxChunkSize ?? DEFAULT_MAX_CHUNK_SIZE,
    maxMessageSize: limits.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE,
    maxChunkStreams: limits.maxChunkStreams ?? DEFAULT_MAX_CHUNK_STREAMS,
    mediaInfoTimeoutMs: limits.mediaInfoTimeoutMs ?? 3000,
    maxPendingMediaBytes: limits.maxPendingMediaBytes ?? 32 * 1024 * 1024,
  };
}
