/**
 * One RTMP connection's state machine (RTMP 1.0 §5.2 handshake, §5.4 protocol control, §7.2
 * NetConnection/NetStream commands), from TCP accept to close, with at most one publish.
 *
 * Lifecycle: handshake → chunk streams → `connect` → (`releaseStream`, `FCPublish`)
 * → `createStream` → `publish` → authorizing → awaiting-media (NetStream.Publish.Start sent;
 * messages buffered until both sequence headers or the media-info timeout) → starting (media
 * sink opened, `onPublishStarted` in flight) → live → ended (`FCUnpublish`/`deleteStream`/
 * `closeStream`/socket close/error/kick).
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { decodeAmf0, decodeAmf0Value, isAmfObject, type AmfObject, type AmfValue } from './amf0.js';
import { ChunkDecoder, DEFAULT_CHUNK_SIZE, encodeMessage, type OutboundMessage, type PendingBytesBudget, type RtmpMessage } from './chunk.js';
import { RtmpProtocolError } from './errors.js';
import { ServerHandshake } from './handshake.js';
import { maskStreamKey, normalizeAppName, streamKeyFromPublishName } from './ids.js';
import type { RtmpLimitReason } from './limits.js';
import { MediaInfoCollector, parseAudioTagHeader, parseVideoTagHeader, type MediaInfo } from './media-info.js';
import type { MediaMessage, MediaSink, PublishEndReason, PublishStartInfo } from './media-sink.js';
import {
  acknowledgementMessage,
  commandMessage,
  MessageType,
  OutChunkStream,
  setChunkSizeMessage,
  setPeerBandwidthMessage,
  UserControlEvent,
  userControlMessage,
  windowAckSizeMessage,
} from './messages.js';
import type { AuthorizePublishResult, PublishRefusalCode, ResolvedRtmpLimits, RtmpServerOptions } from './options.js';

/** Chunk size we announce and use for outbound messages (RTMP 1.0 §5.4.1). */
export const OUT_CHUNK_SIZE = 4096;
/** Window Acknowledgement Size and Set Peer Bandwidth we send after `connect`, bytes (§5.4.4, §5.4.5). */
export const SERVER_WINDOW_ACK_SIZE = 2_500_000;

/** Where a publish on a session stands. */
export type PublishPhase = 'authorizing' | 'claiming' | 'awaiting-media' | 'starting' | 'live' | 'ended';

/** How a connection reached the server: `rtmp` (TCP) or `rtmps` (TLS, after its handshake). */
export type RtmpTransport = 'rtmp' | 'rtmps';

/** Snapshot of one RTMP session, as listed by `RtmpServer.sessions()`. */
export interface RtmpSessionInfo {
  readonly sessionId: string;
  readonly remoteAddress: string;
  /**
   * The listener the connection came in on: plain RTMP, or RTMPS (RTMP inside TLS). Always set
   * by `createRtmpServer`; optional so hand-built snapshots (tests, tools) need not name it.
   */
  readonly transport?: RtmpTransport;
  readonly connectedAt: Date;
  /** `handshake` until C2, `open` while the connection speaks chunk streams, then `closed`. */
  readonly state: 'handshake' | 'open' | 'closed';
  /** Application name from `connect`, once connected. */
  readonly app?: string;
  /** Masked stream key (last 4 characters), once a publish was requested. */
  readonly streamKeyMasked?: string;
  readonly channelId?: string;
  /** The `keyId` the authorizer accepted the publish with, once authorized (see AuthorizePublishResult). */
  readonly keyId?: string;
  readonly publish?: PublishPhase;
  readonly media?: MediaInfo;
  /** Bytes received on the connection so far, handshake included. */
  readonly bytesReceived: number;
}

/** What the server gives each session. */
export interface SessionContext {
  readonly sessionId: string;
  /** The listener the connection came in on. */
  readonly transport: RtmpTransport;
  /** The publisher's address: a PROXY protocol header's source, else the socket's peer. */
  readonly remoteAddress?: string;
  /** Child logger bound to `sessionId` and `remoteAddress`. */
  readonly logger: Logger;
  readonly options: RtmpServerOptions;
  readonly limits: ResolvedRtmpLimits;
  /** channelId → sessionId of publishes accepted on this node (shared by all sessions). */
  readonly liveChannels: Map<string, string>;
  /** Registers a callback promise (already error-handled) so server shutdown can await it. */
  track(p: Promise<unknown>): void;
  /** The node-wide budget of partial-message bytes (shared by all sessions). */
  readonly pendingBudget: PendingBytesBudget;
  /**
   * Reports that this session is being closed by a bound (`pending_bytes`, `node_pending_bytes`,
   * `unpublished_timeout`): the server counts and logs it (throttled per offender); the session
   * closes itself right after.
   */
  onLimit(reason: RtmpLimitReason, detail: string): void;
  /** Called once, when the connection is closed. */
  onClose(): void;
}

interface EndRequest {
  reason: PublishEndReason;
  detail: string | undefined;
  endedAt: Date;
  bytesReceived: number;
}

interface PublishState {
  phase: PublishPhase;
  streamId: number;
  streamKeyMasked: string;
  channelId?: string;
  keyId?: string;
  acceptedAt?: Date;
  collector: MediaInfoCollector;
  media?: MediaInfo;
  pending: MediaMessage[];
  pendingBytes: number;
  timer?: NodeJS.Timeout;
  sink?: MediaSink;
  endRequested?: EndRequest;
}

/** NetStream status codes a refused publish is answered with (RTMP 1.0 §7.2.2.6). */
const REFUSAL_STATUS: Record<PublishRefusalCode, string> = {
  UNKNOWN_STREAM_KEY: 'NetStream.Publish.BadName',
  ALREADY_LIVE: 'NetStream.Publish.BadName',
  STREAM_KEY_DISABLED: 'NetStream.Publish.Denied',
  STREAM_KEY_EXPIRED: 'NetStream.Publish.Denied',
  ADDRESS_NOT_ALLOWED: 'NetStream.Publish.Denied',
  BAD_APP: 'NetStream.Publish.Denied',
  INTERNAL: 'NetStream.Publish.Failed',
};

/** Protocol errors that mean "a resource bound was hit" (counted and logged by the server). */
const LIMIT_OF_CODE: Partial<Record<RtmpProtocolError['code'], RtmpLimitReason>> = {
  PENDING_BYTES_LIMIT: 'pending_bytes',
  NODE_PENDING_BYTES_LIMIT: 'node_pending_bytes',
};

/** Commands that are replies or notifications from the client: never answered. */
const SILENT_COMMANDS = new Set(['_result', '_error', 'onStatus', 'onBWDone', 'onFCPublish', 'onFCUnpublish']);

function str(v: AmfValue | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/**
 * Serves one TCP connection. Never throws out of socket handlers: protocol errors close this
 * connection with a `warn` log line carrying `reason`; callback failures are logged.
 */
export class RtmpSession {
  readonly sessionId: string;
  readonly remoteAddress: string;
  readonly connectedAt = new Date();
  private readonly logger: Logger;
  private readonly handshake = new ServerHandshake();
  private readonly decoder: ChunkDecoder;
  private readonly handshakeTimer: NodeJS.Timeout;
  private unpublishedTimer: NodeJS.Timeout | undefined;
  private phase: 'handshake' | 'open' | 'closed' = 'handshake';
  private outChunkSize = DEFAULT_CHUNK_SIZE;
  private bytesReceived = 0;
  private bytesAcknowledged = 0;
  private peerWindowAckSize = 0;
  private connected = false;
  private app: string | undefined;
  private nextStreamId = 1;
  private publish: PublishState | null = null;

  constructor(
    private readonly socket: Socket,
    private readonly ctx: SessionContext,
  ) {
    this.sessionId = ctx.sessionId;
    this.remoteAddress = ctx.remoteAddress ?? socket.remoteAddress ?? 'unknown';
    this.logger = ctx.logger;
    this.decoder = new ChunkDecoder({
      maxChunkSize: ctx.limits.maxChunkSize,
      maxMessageSize: ctx.limits.maxMessageSize,
      maxChunkStreams: ctx.limits.maxChunkStreams,
      // Raised to maxPendingBytesPerConnection once a publish is accepted.
      maxPendingBytes: ctx.limits.maxPendingBytesUnpublished,
      budget: ctx.pendingBudget,
    });
    socket.setNoDelay(true);
    socket.setTimeout(ctx.limits.idleTimeoutMs);
    socket.on('data', (data: Buffer) => this.onSocketData(data));
    socket.on('timeout', () =>
      this.guard(() => {
        this.logger.warn({ reason: 'idle timeout', idleTimeoutMs: ctx.limits.idleTimeoutMs }, 'closing RTMP connection: idle');
        this.close('disconnected', 'idle timeout');
      }),
    );
    socket.on('error', (err: NodeJS.ErrnoException) =>
      this.guard(() => {
        this.logger.info({ reason: err.code ?? err.message }, 'RTMP socket error');
        this.close('disconnected', err.code ?? 'socket error');
      }),
    );
    socket.on('close', () => this.guard(() => this.close('disconnected', 'connection closed')));
    this.handshakeTimer = setTimeout(
      () =>
        this.guard(() => {
          this.logger.warn({ reason: 'handshake timeout', handshakeTimeoutMs: ctx.limits.handshakeTimeoutMs }, 'closing RTMP connection: handshake timeout');
          this.close('error', 'handshake timeout');
        }),
      ctx.limits.handshakeTimeoutMs,
    );
    this.handshakeTimer.unref();
  }

  /** Snapshot for `RtmpServer.sessions()`. */
  info(): RtmpSessionInfo {
    const p = this.publish;
    return {
      sessionId: this.sessionId,
      remoteAddress: this.remoteAddress,
      transport: this.ctx.transport,
      connectedAt: this.connectedAt,
      state: this.phase,
      bytesReceived: this.bytesReceived,
      ...(this.app !== undefined ? { app: this.app } : {}),
      ...(p ? { streamKeyMasked: p.streamKeyMasked, publish: p.phase } : {}),
      ...(p?.channelId !== undefined ? { channelId: p.channelId } : {}),
      ...(p?.keyId !== undefined ? { keyId: p.keyId } : {}),
      ...(p?.media !== undefined ? { media: p.media } : {}),
    };
  }

  /** True if this session's publish is accepted and not ended. */
  get isPublishing(): boolean {
    const ph = this.publish?.phase;
    return ph === 'awaiting-media' || ph === 'starting' || ph === 'live';
  }

  /**
   * Disconnects the session: an accepted publish gets an error onStatus and ends with reason
   * `kicked` and `detail` = `reason`. Returns false if the session was already closed.
   */
  kick(reason: string): boolean {
    if (this.phase === 'closed') return false;
    this.logger.info({ reason }, 'kicking RTMP session');
    const p = this.publish;
    if (p && this.isPublishing) this.sendStatus(p.streamId, 'error', 'NetStream.Publish.Denied', 'Publish stopped by the server.');
    this.close('kicked', reason, true);
    return true;
  }

  // ---------------------------------------------------------------------------------------------
  // Socket input

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.fail(err);
    }
  }

  private fail(err: unknown): void {
    const limit = err instanceof RtmpProtocolError ? LIMIT_OF_CODE[err.code] : undefined;
    if (limit !== undefined) {
      if (this.phase === 'closed') return;
      // Logged by the server, once per offender per window: a flood must not flood the log.
      this.logger.debug({ reason: (err as Error).message }, 'RTMP session hit a limit');
      this.ctx.onLimit(limit, (err as Error).message);
      this.close('error', (err as RtmpProtocolError).code);
    } else if (err instanceof RtmpProtocolError) {
      this.logger.warn({ reason: err.message, code: err.code }, 'closing RTMP connection: protocol error');
      this.close('error', err.code);
    } else {
      this.logger.error({ err }, 'closing RTMP connection: internal error');
      this.close('error', 'internal error');
    }
  }

  private onSocketData(data: Buffer): void {
    if (this.phase === 'closed') return;
    this.bytesReceived += data.length;
    this.guard(() => {
      let rest: Buffer | undefined = data;
      if (this.phase === 'handshake') {
        const progress = this.handshake.push(data);
        if (progress.reply) this.write(progress.reply);
        if (!progress.done) return;
        clearTimeout(this.handshakeTimer);
        this.phase = 'open';
        this.logger.debug('RTMP handshake complete');
        this.armUnpublishedTimer();
        rest = progress.rest;
      }
      if (rest && rest.length > 0) {
        for (const msg of this.decoder.push(rest)) {
          if (this.phase === 'closed') return;
          this.onMessage(msg);
        }
      }
      this.maybeAcknowledge();
    });
  }

  /**
   * Starts (or restarts) the deadline for a publish to be accepted: not extended by traffic, so a
   * connection that trickles messages without publishing is closed all the same. A publish whose
   * authorization or channel claim is still in flight at the deadline (our wait, not the
   * client's) gets another period; it is closed by the refusal if refused.
   */
  private armUnpublishedTimer(): void {
    clearTimeout(this.unpublishedTimer);
    const ms = this.ctx.limits.unpublishedTimeoutMs;
    if (ms <= 0 || this.phase === 'closed') return;
    this.unpublishedTimer = setTimeout(
      () =>
        this.guard(() => {
          if (this.phase === 'closed' || this.isPublishing) return;
          const ph = this.publish?.phase;
          if (ph === 'authorizing' || ph === 'claiming') return this.armUnpublishedTimer();
          this.ctx.onLimit('unpublished_timeout', `no publish accepted within ${ms} ms`);
          this.close('error', 'unpublished timeout');
        }),
      ms,
    );
    this.unpublishedTimer.unref();
  }

  /** RTMP 1.0 §5.4.3: acknowledge once the peer's window of bytes has been received. */
  private maybeAcknowledge(): void {
    if (this.peerWindowAckSize > 0 && this.bytesReceived - this.bytesAcknowledged >= this.peerWindowAckSize) {
      this.bytesAcknowledged = this.bytesReceived;
      this.send(acknowledgementMessage(this.bytesReceived));
    }
  }

  private onMessage(m: RtmpMessage): void {
    switch (m.typeId) {
      case MessageType.SetChunkSize:
        this.logger.debug({ chunkSize: this.decoder.chunkSize }, 'peer set chunk size');
        return;
      case MessageType.Abort:
      case MessageType.Acknowledgement:
      case MessageType.SetPeerBandwidth:
        return;
      case MessageType.WindowAckSize:
        if (m.payload.length < 4) throw new RtmpProtocolError('MESSAGE_MALFORMED', 'Window Acknowledgement Size shorter than 4 bytes');
        this.peerWindowAckSize = m.payload.readUInt32BE(0);
        return;
      case MessageType.UserControl:
        return this.onUserControl(m.payload);
      case MessageType.Audio:
        return this.onMedia('audio', m);
      case MessageType.Video:
        return this.onMedia('video', m);
      case MessageType.DataAmf0:
        return this.onDataMessage(m, m.payload);
      case MessageType.DataAmf3:
        // AMF3 data messages start with a format byte 0 followed by AMF0 values (§7.1.2).
        return this.onDataMessage(m, m.payload[0] === 0 ? m.payload.subarray(1) : m.payload);
      case MessageType.CommandAmf0:
        return this.onCommand(m, decodeAmf0(m.payload));
      case MessageType.CommandAmf3:
        return this.onCommand(m, decodeAmf0(m.payload[0] === 0 ? m.payload.subarray(1) : m.payload));
      default:
        this.logger.debug({ typeId: m.typeId }, 'ignoring RTMP message type');
    }
  }

  /** RTMP 1.0 §7.1.7: answer PingRequest; everything else is informational. */
  private onUserControl(payload: Buffer): void {
    if (payload.length < 6) return;
    if (payload.readUInt16BE(0) === UserControlEvent.PingRequest) {
      this.send(userControlMessage(UserControlEvent.PingResponse, payload.readUInt32BE(2)));
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Commands (RTMP 1.0 §7.2)

  private onCommand(m: RtmpMessage, values: AmfValue[]): void {
    const [name, tx] = values;
    if (typeof name !== 'string') throw new RtmpProtocolError('MESSAGE_MALFORMED', 'command message without a name');
    const txId = typeof tx === 'number' && Number.isFinite(tx) ? tx : 0;
    const args = values.slice(3);
    if (SILENT_COMMANDS.has(name)) return;
    if (name === 'connect') return this.onConnect(txId, values[2]);
    if (!this.connected) {
      this.callError(txId, 'NetConnection.Call.Failed', 'Not connected: send connect first.');
      return;
    }
    switch (name) {
      case 'releaseStream':
        this.result(txId, null, undefined);
        return;
      case 'FCPublish':
        this.send(commandMessage(OutChunkStream.Command, 0, 'onFCPublish', 0, null, { code: 'NetStream.Publish.Start', description: 'FCPublish received.' }));
        this.result(txId, null, undefined);
        return;
      case 'createStream':
        this.result(txId, null, this.nextStreamId++);
        return;
      case 'publish':
        return this.onPublish(m.messageStreamId, args[0], args[1]);
      case 'FCUnpublish':
        this.endPublish('unpublished', 'FCUnpublish');
        this.result(txId, null, undefined);
        return;
      case 'deleteStream': {
        const id = typeof args[0] === 'number' ? args[0] : m.messageStreamId;
        if (!this.publish || this.publish.streamId === id) this.endPublish('unpublished', 'deleteStream');
        return;
      }
      case 'closeStream':
        this.endPublish('unpublished', 'closeStream');
        return;
      default: {
        const shown = name.slice(0, 64);
        this.logger.debug({ command: shown }, 'unknown RTMP command');
        this.callError(txId, 'NetConnection.Call.Failed', `Method not found (${shown}).`);
      }
    }
  }

  private result(txId: number, ...values: AmfValue[]): void {
    if (txId === 0) return;
    this.send(commandMessage(OutChunkStream.Command, 0, '_result', txId, ...values));
  }

  private callError(txId: number, code: string, description: string): void {
    if (txId === 0) return;
    this.send(commandMessage(OutChunkStream.Command, 0, '_error', txId, null, { level: 'error', code, description }));
  }

  private sendStatus(streamId: number, level: 'status' | 'error', code: string, description: string): void {
    this.send(commandMessage(OutChunkStream.StreamStatus, streamId, 'onStatus', 0, null, { level, code, description }));
  }

  /** RTMP 1.0 §7.2.1.1: protocol control burst, then `_result` with NetConnection.Connect.Success. */
  private onConnect(txId: number, commandObject: AmfValue | undefined): void {
    if (this.connected) {
      this.callError(txId, 'NetConnection.Connect.Rejected', 'Already connected.');
      return;
    }
    const cmd: AmfObject = isAmfObject(commandObject) ? commandObject : {};
    this.app = normalizeAppName(str(cmd.app) ?? '');
    const objectEncoding = typeof cmd.objectEncoding === 'number' ? cmd.objectEncoding : 0;
    this.connected = true;
    this.logger.info({ app: this.app, flashVer: str(cmd.flashVer)?.slice(0, 64) }, 'RTMP connect');
    this.send(windowAckSizeMessage(SERVER_WINDOW_ACK_SIZE));
    this.send(setPeerBandwidthMessage(SERVER_WINDOW_ACK_SIZE, 2));
    this.send(setChunkSizeMessage(OUT_CHUNK_SIZE));
    this.outChunkSize = OUT_CHUNK_SIZE;
    this.send(
      commandMessage(
        OutChunkStream.Command,
        0,
        '_result',
        txId,
        { fmsVer: 'FMS/3,0,1,123', capabilities: 31 },
        { level: 'status', code: 'NetConnection.Connect.Success', description: 'Connection succeeded.', objectEncoding },
      ),
    );
  }

  /** RTMP 1.0 §7.2.2.6: authorize, then NetStream.Publish.Start or an error status and close. */
  private onPublish(streamId: number, nameArg: AmfValue | undefined, typeArg: AmfValue | undefined): void {
    if (this.publish) {
      this.sendStatus(streamId, 'error', 'NetStream.Publish.BadName', 'Only one publish per connection.');
      return;
    }
    const streamKey = streamKeyFromPublishName(str(nameArg) ?? '');
    const p: PublishState = { phase: 'authorizing', streamId, streamKeyMasked: maskStreamKey(streamKey), collector: new MediaInfoCollector(), pending: [], pendingBytes: 0 };
    this.publish = p;
    if (streamKey === '' || streamKey.length > 1024) {
      this.refuse(p, 'UNKNOWN_STREAM_KEY', 'Missing or invalid stream key.');
      return;
    }
    const app = this.app ?? '';
    this.logger.info({ app, streamKey: p.streamKeyMasked, publishType: str(typeArg) }, 'publish requested');
    this.ctx.track(
      Promise.resolve()
        .then(() => this.ctx.options.authorizePublish({ sessionId: this.sessionId, app, streamKey, remoteAddress: this.remoteAddress }))
        .then(
          (res) => this.guard(() => this.onAuthorized(p, res)),
          (err: unknown) =>
            this.guard(() => {
              this.logger.error({ err }, 'authorizePublish failed');
              this.onAuthorized(p, { ok: false, code: 'INTERNAL', description: 'Authorization is unavailable.' });
            }),
        ),
    );
  }

  private onAuthorized(p: PublishState, res: AuthorizePublishResult): void {
    if (this.publish !== p || p.phase !== 'authorizing' || this.phase === 'closed') return;
    if (!res || typeof res !== 'object' || (res.ok === true && typeof res.channelId !== 'string')) {
      res = { ok: false, code: 'INTERNAL', description: 'Authorization is unavailable.' };
    }
    if (!res.ok) return this.refuse(p, res.code, res.description);
    if (this.ctx.liveChannels.has(res.channelId)) {
      return this.refuse(p, 'ALREADY_LIVE', 'This stream is already live.', res.channelId);
    }
    this.ctx.liveChannels.set(res.channelId, this.sessionId);
    p.channelId = res.channelId;
    if (typeof res.keyId === 'string') p.keyId = res.keyId;
    const claims = this.ctx.options.channelClaims;
    if (!claims) return this.accept(p);
    // Cluster-wide claim: media keeps being buffered while it is asked.
    p.phase = 'claiming';
    this.ctx.track(
      Promise.resolve()
        .then(() => claims.claim({ channelId: res.channelId, sessionId: this.sessionId, ...(p.keyId !== undefined ? { keyId: p.keyId } : {}) }))
        .then(
          (ok) => this.guard(() => this.onClaimed(p, ok === true)),
          (err: unknown) =>
            this.guard(() => {
              this.logger.error({ err, channelId: p.channelId }, 'channel claim failed');
              this.onClaimed(p, false);
            }),
        ),
    );
  }

  private onClaimed(p: PublishState, ok: boolean): void {
    // Ended meanwhile: endPublish already released the channel.
    if (this.publish !== p || p.phase !== 'claiming' || this.phase === 'closed') return;
    if (!ok) {
      this.releaseChannel(p, 'error');
      return this.refuse(p, 'ALREADY_LIVE', 'This stream is already live.', p.channelId);
    }
    this.accept(p);
  }

  /** The channel is ours: tell the publisher to start and wait for its media info. */
  private accept(p: PublishState): void {
    p.acceptedAt = new Date();
    p.phase = 'awaiting-media';
    clearTimeout(this.unpublishedTimer);
    this.decoder.setMaxPendingBytes(this.ctx.limits.maxPendingBytesPerConnection);
    this.send(userControlMessage(UserControlEvent.StreamBegin, p.streamId));
    this.sendStatus(p.streamId, 'status', 'NetStream.Publish.Start', 'Publishing live stream.');
    this.logger.info({ channelId: p.channelId, streamKey: p.streamKeyMasked }, 'publish accepted');
    if (p.collector.complete) return this.startPublish(p, 'media');
    p.timer = setTimeout(() => this.guard(() => this.startPublish(p, 'timeout')), this.ctx.limits.mediaInfoTimeoutMs);
    p.timer.unref();
  }

  private refuse(p: PublishState, code: PublishRefusalCode, description: string, channelId?: string): void {
    p.phase = 'ended';
    p.pending = [];
    this.logger.info({ code, streamKey: p.streamKeyMasked, channelId }, 'publish refused');
    this.sendStatus(p.streamId, 'error', REFUSAL_STATUS[code] ?? 'NetStream.Publish.Failed', String(description).slice(0, 256));
    this.close('error', `publish refused: ${code}`, true);
  }

  // ---------------------------------------------------------------------------------------------
  // Media

  private acceptsMedia(p: PublishState | null): p is PublishState {
    if (!p || p.endRequested) return false;
    return p.phase === 'authorizing' || p.phase === 'claiming' || p.phase === 'awaiting-media' || p.phase === 'starting' || p.phase === 'live';
  }

  private onMedia(kind: 'audio' | 'video', m: RtmpMessage): void {
    const p = this.publish;
    if (!this.acceptsMedia(p)) return;
    const video = kind === 'video' ? parseVideoTagHeader(m.payload) : undefined;
    const tag = kind === 'video' ? video : parseAudioTagHeader(m.payload);
    if (!tag) return; // empty message: nothing to relay
    const msg: MediaMessage = { kind, timestamp: m.timestamp, payload: m.payload, keyframe: video?.keyframe ?? false, sequenceHeader: tag.sequenceHeader };
    if (p.phase === 'authorizing' || p.phase === 'claiming' || p.phase === 'awaiting-media') {
      p.collector.observe(kind, m.payload);
      this.bufferMedia(p, msg);
    } else {
      this.deliver(p, msg);
    }
  }

  /** Data messages (§7.1.2): `@setDataFrame` is stripped; `onMetaData` feeds the media info. */
  private onDataMessage(m: RtmpMessage, payload: Buffer): void {
    const p = this.publish;
    if (!this.acceptsMedia(p)) return;
    let values = decodeAmf0(payload);
    let body = payload;
    if (values[0] === '@setDataFrame') {
      body = payload.subarray(decodeAmf0Value(payload, 0).offset);
      values = values.slice(1);
    }
    if (values.length === 0) return;
    const msg: MediaMessage = { kind: 'data', timestamp: m.timestamp, payload: body, keyframe: false, sequenceHeader: false, values };
    if (p.phase === 'authorizing' || p.phase === 'awaiting-media') {
      if (values[0] === 'onMetaData') p.collector.setMetadata(values[1]);
      this.bufferMedia(p, msg);
    } else {
      this.deliver(p, msg);
    }
  }

  private bufferMedia(p: PublishState, msg: MediaMessage): void {
    p.pending.push(msg);
    p.pendingBytes += msg.payload.length;
    if ((p.phase === 'authorizing' || p.phase === 'claiming') && p.pendingBytes > this.ctx.limits.maxPendingBytesUnpublished) {
      throw new RtmpProtocolError('PENDING_BYTES_LIMIT', `more than ${this.ctx.limits.maxPendingBytesUnpublished} media bytes before the publish was accepted`);
    }
    if (p.pendingBytes > this.ctx.limits.maxPendingMediaBytes) {
      throw new RtmpProtocolError('LIMIT_EXCEEDED', `more than ${this.ctx.limits.maxPendingMediaBytes} media bytes before the publish started`);
    }
    if (p.phase === 'awaiting-media' && p.collector.complete) this.startPublish(p, 'media');
  }

  private deliver(p: PublishState, msg: MediaMessage): void {
    if (!p.sink) return;
    try {
      p.sink.write(msg);
    } catch (err) {
      this.logger.error({ err, channelId: p.channelId }, 'media sink failed; dropping it');
      p.sink = undefined;
    }
  }

  /** Media info known (or timed out): open the media sink, flush the buffer, call onPublishStarted. */
  private startPublish(p: PublishState, trigger: 'media' | 'timeout'): void {
    if (p.phase !== 'awaiting-media' || this.publish !== p) return;
    clearTimeout(p.timer);
    p.phase = 'starting';
    const media = p.collector.snapshot();
    p.media = media;
    for (const w of p.collector.warnings) this.logger.warn({ reason: w, channelId: p.channelId }, 'could not parse sequence header');
    const info: PublishStartInfo = {
      sessionId: this.sessionId,
      channelId: p.channelId!,
      app: this.app ?? '',
      remoteAddress: this.remoteAddress,
      media,
      startedAt: p.acceptedAt!,
    };
    const factory = this.ctx.options.mediaSink;
    if (factory) {
      try {
        p.sink = factory.openPublish(info);
      } catch (err) {
        this.logger.error({ err, channelId: p.channelId }, 'media sink failed to open');
      }
    }
    const pending = p.pending;
    p.pending = [];
    p.pendingBytes = 0;
    for (const msg of pending) this.deliver(p, msg);
    this.logger.info({ channelId: p.channelId, media, trigger }, 'publish started');
    this.ctx.track(
      Promise.resolve()
        .then(() => this.ctx.options.onPublishStarted({ ...info }))
        .then(
          () => this.guard(() => this.onStarted(p)),
          (err: unknown) => this.guard(() => this.onStartFailed(p, err)),
        ),
    );
  }

  private onStarted(p: PublishState): void {
    if (p.phase !== 'starting') return;
    if (p.endRequested) return this.finishPublish(p, p.endRequested);
    p.phase = 'live';
  }

  private onStartFailed(p: PublishState, err: unknown): void {
    if (p.phase !== 'starting') return;
    this.logger.error({ err, channelId: p.channelId }, 'onPublishStarted failed; disconnecting publisher');
    p.phase = 'ended';
    this.endSink(p, 'error');
    this.releaseChannel(p, 'error');
    if (this.phase !== 'closed') {
      this.sendStatus(p.streamId, 'error', 'NetStream.Publish.Failed', 'Publish could not be started.');
      this.close('error', 'onPublishStarted failed', true);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Ending

  /**
   * Ends the publish, if any; `onPublishEnded` follows once for a started publish. A connection
   * that stays open afterwards is back to the bounds of one that has not published.
   */
  private endPublish(reason: PublishEndReason, detail: string | undefined): void {
    const wasAccepted = this.isPublishing;
    this.endPublishNow(reason, detail);
    if (wasAccepted && this.phase !== 'closed') {
      this.decoder.setMaxPendingBytes(this.ctx.limits.maxPendingBytesUnpublished);
      this.armUnpublishedTimer();
    }
  }

  private endPublishNow(reason: PublishEndReason, detail: string | undefined): void {
    const p = this.publish;
    if (!p) return;
    switch (p.phase) {
      case 'authorizing':
        p.phase = 'ended';
        p.pending = [];
        return;
      case 'claiming':
        p.phase = 'ended';
        p.pending = [];
        this.releaseChannel(p, reason);
        return;
      case 'awaiting-media':
        clearTimeout(p.timer);
        p.phase = 'ended';
        p.pending = [];
        this.releaseChannel(p, reason);
        this.logger.info({ channelId: p.channelId, reason, detail }, 'publish ended before it started');
        return;
      case 'starting':
        // onPublishStarted is in flight: stop the media now, report the end once it settles.
        if (!p.endRequested) {
          p.endRequested = { reason, detail, endedAt: new Date(), bytesReceived: this.bytesReceived };
          this.endSink(p, reason);
        }
        return;
      case 'live':
        this.finishPublish(p, { reason, detail, endedAt: new Date(), bytesReceived: this.bytesReceived });
        return;
      case 'ended':
        return;
    }
  }

  private finishPublish(p: PublishState, end: EndRequest): void {
    p.phase = 'ended';
    this.endSink(p, end.reason);
    this.releaseChannel(p, end.reason);
    this.logger.info({ channelId: p.channelId, reason: end.reason, detail: end.detail, bytesReceived: end.bytesReceived }, 'publish ended');
    const event = {
      sessionId: this.sessionId,
      channelId: p.channelId!,
      reason: end.reason,
      ...(end.detail !== undefined ? { detail: end.detail } : {}),
      endedAt: end.endedAt,
      bytesReceived: end.bytesReceived,
    };
    this.ctx.track(
      Promise.resolve()
        .then(() => this.ctx.options.onPublishEnded(event))
        .catch((err: unknown) => this.logger.error({ err, channelId: p.channelId }, 'onPublishEnded failed')),
    );
  }

  private endSink(p: PublishState, reason: PublishEndReason): void {
    const sink = p.sink;
    p.sink = undefined;
    if (!sink) return;
    try {
      sink.end(reason);
    } catch (err) {
      this.logger.error({ err, channelId: p.channelId }, 'media sink failed to end');
    }
  }

  private releaseChannel(p: PublishState, reason: PublishEndReason): void {
    if (p.channelId === undefined || this.ctx.liveChannels.get(p.channelId) !== this.sessionId) return;
    this.ctx.liveChannels.delete(p.channelId);
    try {
      this.ctx.options.channelClaims?.release({ channelId: p.channelId, sessionId: this.sessionId, reason });
    } catch (err) {
      this.logger.error({ err, channelId: p.channelId }, 'channel release failed');
    }
  }

  /**
   * Closes the connection (idempotent) and ends its publish with `reason`. `graceful` half-closes
   * so queued status messages reach the client, destroying the socket after 2 s at the latest.
   */
  close(reason: PublishEndReason, detail?: string, graceful = false): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    clearTimeout(this.handshakeTimer);
    clearTimeout(this.unpublishedTimer);
    this.decoder.dispose();
    try {
      this.endPublish(reason, detail);
    } catch (err) {
      this.logger.error({ err }, 'failed to end publish');
    }
    if (graceful && !this.socket.destroyed) {
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 2000).unref();
    } else {
      this.socket.destroy();
    }
    this.ctx.onClose();
  }

  // ---------------------------------------------------------------------------------------------
  // Output

  private write(buf: Buffer): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(buf);
  }

  private send(msg: OutboundMessage): void {
    this.write(encodeMessage(msg, this.outChunkSize));
  }
}
