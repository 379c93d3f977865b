/** Configuration and callback contracts of the RTMP ingest server. */
import type { Logger } from 'pino';
import { DEFAULT_MAX_CHUNK_SIZE, DEFAULT_MAX_CHUNK_STREAMS, DEFAULT_MAX_MESSAGE_SIZE } from './chunk.js';
import type { MediaInfo } from './media-info.js';
import type { RtmpLimitReason } from './limits.js';
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
  /**
   * Most connections open at once on the server, across all its listeners (RTMP and RTMPS),
   * counted from TCP accept (before the TLS and RTMP handshakes). A connection over it is closed
   * at once, without a session. Default {@link DEFAULT_MAX_CONNECTIONS}.
   */
  maxConnections?: number;
  /**
   * Most connections open at once from one peer address (an IPv4-mapped IPv6 address counts as
   * its IPv4 address), across all listeners. Default {@link DEFAULT_MAX_CONNECTIONS_PER_ADDRESS}.
   */
  maxConnectionsPerAddress?: number;
  /**
   * A connection must have a publish accepted (NetStream.Publish.Start sent) within this many ms
   * of the end of its RTMP handshake, whatever it sends meanwhile; and a connection whose publish
   * ended gets this long again to close. 0 disables it. Publishing connections are bound by
   * `idleTimeoutMs` only. Default {@link DEFAULT_UNPUBLISHED_TIMEOUT_MS}.
   */
  unpublishedTimeoutMs?: number;
  /**
   * Most bytes a connection without an accepted publish may hold in partial messages (RTMP
   * commands are small), and in media buffered while its publish is being authorized. Default
   * {@link DEFAULT_MAX_PENDING_BYTES_UNPUBLISHED}.
   */
  maxPendingBytesUnpublished?: number;
  /**
   * Most bytes a publishing connection may hold in partial messages (a large keyframe split in
   * chunks, plus interleaved audio). Default 2 × `maxMessageSize` (16 MiB).
   */
  maxPendingBytesPerConnection?: number;
  /**
   * Most bytes all connections of the server together may hold in partial messages; the
   * connection whose message would grow past it is closed (the others keep theirs). Default
   * {@link DEFAULT_MAX_PENDING_BYTES}.
   */
  maxPendingBytes?: number;
  /**
   * Connections refused or closed by one of the bounds above are logged once per offender
   * (reason and peer address; for the node-wide `total` and `node_pending_bytes`, once in all)
   * per this many ms; the metrics count every one. Default 60000.
   */
  limitLogWindowMs?: number;
}

/** Default {@link RtmpLimits.maxConnections}. */
export const DEFAULT_MAX_CONNECTIONS = 1000;
/** Default {@link RtmpLimits.maxConnectionsPerAddress}. */
export const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 20;
/** Default {@link RtmpLimits.unpublishedTimeoutMs}, ms. */
export const DEFAULT_UNPUBLISHED_TIMEOUT_MS = 10_000;
/** Default {@link RtmpLimits.maxPendingBytesUnpublished}, bytes (64 KiB). */
export const DEFAULT_MAX_PENDING_BYTES_UNPUBLISHED = 64 * 1024;
/** Default {@link RtmpLimits.maxPendingBytes}, bytes (256 MiB). */
export const DEFAULT_MAX_PENDING_BYTES = 256 * 1024 * 1024;

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
  /**
   * Called for every connection refused or closed by a bound of `limits` (for metrics); must not
   * throw (errors are logged and ignored). Logging is done by the server, throttled.
   */
  onLimit?(event: RtmpLimitEvent): void;
  /**
   * PROXY protocol (HAProxy's, v1 and v2) on the RTMP and RTMPS listeners: a connection whose
   * peer `trusts` (normalized address, e.g. the load balancer's) must start with a PROXY header
   * (before TLS, for RTMPS), and the client it names is the connection's address for every rule
   * (connection caps, stream-key CIDRs, logs, events); other peers connect directly, without one.
   */
  proxyProtocol?: { trusts(peerAddress: string): boolean };
}

/** Input of {@link RtmpServerOptions.onLimit}. */
export interface RtmpLimitEvent {
  reason: RtmpLimitReason;
  /** `refused`: closed at TCP accept, no session; `closed`: an open session was closed. */
  action: 'refused' | 'closed';
  /** Peer address, normalized (IPv4-mapped IPv6 as IPv4). */
  remoteAddress: string;
  transport: 'rtmp' | 'rtmps';
}

/**
 * See {@link RtmpServerOptions.channelClaims}. `claim` gets the key id the publish was authorized
 * with (when the authorizer named one); `release` gets why the publish ended (`error` for a
 * refused claim or a failed start), so the owner can tell a dropped connection (`disconnected`,
 * which a reconnect window may keep the channel for) from a clean stop or a kick.
 */
export interface ChannelClaims {
  claim(req: { channelId: string; sessionId: string; keyId?: string }): Promise<boolean>;
  release(req: { channelId: string; sessionId: string; reason: PublishEndReason }): void;
}

/** {@link RtmpLimits} with defaults applied. */
export type ResolvedRtmpLimits = Required<RtmpLimits>;

/**
 * Applies the documented defaults to `limits`.
 * @throws RangeError when a connection cap is below 1 or a byte budget below 1024.
 */
export function resolveLimits(limits: RtmpLimits = {}): ResolvedRtmpLimits {
  const maxMessageSize = limits.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
  const r: ResolvedRtmpLimits = {
    handshakeTimeoutMs: limits.handshakeTimeoutMs ?? 5000,
    idleTimeoutMs: limits.idleTimeoutMs ?? 30000,
    maxChunkSize: limits.maxChunkSize ?? DEFAULT_MAX_CHUNK_SIZE,
    maxMessageSize,
    maxChunkStreams: limits.maxChunkStreams ?? DEFAULT_MAX_CHUNK_STREAMS,
    mediaInfoTimeoutMs: limits.mediaInfoTimeoutMs ?? 3000,
    maxPendingMediaBytes: limits.maxPendingMediaBytes ?? 32 * 1024 * 1024,
    maxConnections: limits.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
    maxConnectionsPerAddress: limits.maxConnectionsPerAddress ?? DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
    unpublishedTimeoutMs: limits.unpublishedTimeoutMs ?? DEFAULT_UNPUBLISHED_TIMEOUT_MS,
    maxPendingBytesUnpublished: limits.maxPendingBytesUnpublished ?? DEFAULT_MAX_PENDING_BYTES_UNPUBLISHED,
    maxPendingBytesPerConnection: limits.maxPendingBytesPerConnection ?? 2 * maxMessageSize,
    maxPendingBytes: limits.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES,
    limitLogWindowMs: limits.limitLogWindowMs ?? 60_000,
  };
  for (const k of ['maxConnections', 'maxConnectionsPerAddress'] as const) {
    if (!(r[k] >= 1)) throw new RangeError(`RTMP limit ${k} must be at least 1 (got ${r[k]})`);
  }
  for (const k of ['maxPendingBytesUnpublished', 'maxPendingBytesPerConnection', 'maxPendingBytes'] as const) {
    if (!(r[k] >= 1024)) throw new RangeError(`RTMP limit ${k} must be at least 1024 bytes (got ${r[k]})`);
  }
  if (!(r.unpublishedTimeoutMs >= 0)) throw new RangeError(`RTMP limit unpublishedTimeoutMs must be ≥ 0 (got ${r.unpublishedTimeoutMs})`);
  return r;
}
