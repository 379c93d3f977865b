/**
 * The relay registry: one entry per live publish (keyed by RTMP sessionId), fed by the RTMP
 * server through the {@link MediaSinkFactory} contract, read by HTTP-FLV subscribers (the
 * transcoder). Each subscriber gets an FLV stream: header, onMetaData, AVC and AAC sequence
 * headers, the cached GOP from the latest key frame, then live tags, with timestamps rebased so
 * its first tag is at 0.
 */
import type { Writable } from 'node:stream';
import type { Logger } from 'pino';
import type { MediaInfo } from '../rtmp/media-info.js';
import type { MediaMessage, MediaSink, MediaSinkFactory, PublishEndReason, PublishStartInfo } from '../rtmp/media-sink.js';
import { flvHeader, flvTag, FlvTagType, onMetaDataBody, type FlvTagTypeValue } from './flv.js';
import { DEFAULT_MAX_GOP_BYTES, GopCache } from './gop-cache.js';

/** Default bound of one subscriber's unsent bytes (`writableLength`) before it is disconnected. */
export const DEFAULT_MAX_SUBSCRIBER_BUFFER_BYTES = 16 * 1024 * 1024;

/** Options of {@link createRelay}. */
export interface RelayOptions {
  logger: Logger;
  /** GOP cache bound per publish, bytes. Default 32 MiB. */
  maxGopBytes?: number;
  /** A subscriber whose unsent bytes exceed this is disconnected, bytes. Default 16 MiB. */
  maxSubscriberBufferBytes?: number;
}

/** Handle of one relay subscriber. */
export interface RelaySubscription {
  /** Stops sending to the subscriber (does not end its stream). Idempotent. */
  unsubscribe(): void;
}

/** Public view of one relayed publish. */
export interface RelaySessionInfo {
  readonly sessionId: string;
  readonly channelId: string;
  readonly subscribers: number;
  readonly media: MediaInfo;
}

/**
 * The relay registry. Pass it as `mediaSink` to `createRtmpServer` and as `relay` to
 * `createRelayServer`.
 */
export interface Relay extends MediaSinkFactory {
  /**
   * Attaches `out` (e.g. an `http.ServerResponse` whose headers are set) to a live publish and
   * writes the FLV preamble and cached GOP at once. `out` is ended when the publish ends and
   * destroyed if its `writableLength` exceeds the subscriber buffer bound.
   * Returns undefined (writing nothing) if `sessionId` is not live here.
   */
  subscribe(sessionId: string, out: Writable): RelaySubscription | undefined;
  /** True while `sessionId` is a live publish on this relay. */
  has(sessionId: string): boolean;
  /** Snapshot of the relayed publishes. */
  sessions(): RelaySessionInfo[];
}

class Subscriber {
  private base: number | null = null;
  closed = false;

  constructor(
    private readonly out: Writable,
    private waitingForKeyframe: boolean,
    private readonly maxBuffered: number,
    private readonly onSlow: (buffered: number) => void,
  ) {}

  /** Timestamp relative to this subscriber's first media tag, never negative (ms). */
  private rebase(ts: number): number {
    if (this.base === null) return 0;
    const d = (ts - this.base) | 0; // signed difference survives 32-bit wrap-around
    return d < 0 ? 0 : d;
  }

  raw(buf: Buffer): void {
    if (this.closed || this.out.destroyed || this.out.writableEnded) return;
    this.out.write(buf);
    if (this.out.writableLength > this.maxBuffered) {
      this.closed = true;
      this.onSlow(this.out.writableLength);
      this.out.destroy();
    }
  }

  tag(type: FlvTagTypeValue, ts: number, body: Buffer): void {
    this.raw(flvTag(type, ts, body));
  }

  /** Writes one message, skipping media until the first video key frame when one is awaited. */
  send(m: MediaMessage): void {
    if (m.kind === 'data') return this.tag(FlvTagType.Script, this.rebase(m.timestamp), m.payload);
    const type = m.kind === 'video' ? FlvTagType.Video : FlvTagType.Audio;
    if (m.sequenceHeader) return this.tag(type, this.rebase(m.timestamp), m.payload);
    if (this.waitingForKeyframe) {
      if (m.kind !== 'video' || !m.keyframe) return;
      this.waitingForKeyframe = false;
    }
    if (this.base === null) this.base = m.timestamp;
    this.tag(type, this.rebase(m.timestamp), m.payload);
  }

  end(): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.out.destroyed && !this.out.writableEnded) this.out.end();
  }
}

class RelaySession implements MediaSink {
  private metadata: Buffer | undefined;
  private avcHeader: MediaMessage | undefined;
  private aacHeader: MediaMessage | undefined;
  private hasAudio: boolean;
  private hasVideo: boolean;
  private readonly gop: GopCache;
  readonly subscribers = new Set<Subscriber>();
  ended = false;

  constructor(
    readonly info: PublishStartInfo,
    private readonly opts: Required<Omit<RelayOptions, 'logger'>>,
    private readonly logger: Logger,
    private readonly onEnd: () => void,
  ) {
    this.hasAudio = info.media.audio !== undefined;
    this.hasVideo = info.media.video !== undefined;
    this.gop = new GopCache(opts.maxGopBytes);
  }

  write(msg: MediaMessage): void {
    if (this.ended) return;
    if (msg.kind === 'data') {
      if (msg.values?.[0] === 'onMetaData') this.metadata = msg.payload;
    } else if (msg.sequenceHeader) {
      if (msg.kind === 'video') {
        this.avcHeader = msg;
        this.hasVideo = true;
      } else {
        this.aacHeader = msg;
        this.hasAudio = true;
      }
    } else {
      this.gop.push(msg);
      if (msg.kind === 'video') this.hasVideo = true;
      else this.hasAudio = true;
    }
    for (const sub of this.subscribers) sub.send(msg);
  }

  end(reason: PublishEndReason): void {
    if (this.ended) return;
    this.ended = true;
    for (const sub of this.subscribers) sub.end();
    this.logger.info({ sessionId: this.info.sessionId, channelId: this.info.channelId, reason, subscribers: this.subscribers.size }, 'relay ended');
    this.subscribers.clear();
    this.onEnd();
  }

  subscribe(out: Writable): RelaySubscription {
    const gop = this.gop.snapshot();
    // The first subscriber (the transcoder making the recording) got the publish from its start.
    this.gop.keepLatestOnly();
    const sub: Subscriber = new Subscriber(out, gop.length === 0 && this.hasVideo, this.opts.maxSubscriberBufferBytes, (buffered) => {
      this.subscribers.delete(sub);
      this.logger.warn({ sessionId: this.info.sessionId, channelId: this.info.channelId, reason: 'slow subscriber', buffered }, 'relay subscriber disconnected');
    });
    sub.raw(flvHeader({ audio: this.hasAudio, video: this.hasVideo }));
    sub.tag(FlvTagType.Script, 0, this.metadata ?? onMetaDataBody(this.info.media));
    if (this.avcHeader) sub.tag(FlvTagType.Video, 0, this.avcHeader.payload);
    if (this.aacHeader) sub.tag(FlvTagType.Audio, 0, this.aacHeader.payload);
    for (const m of gop) sub.send(m);
    if (sub.closed) return { unsubscribe: () => undefined };
    this.subscribers.add(sub);
    const unsubscribe = (): void => {
      this.subscribers.delete(sub);
      sub.closed = true;
    };
    out.once('close', unsubscribe);
    return { unsubscribe };
  }
}

/**
 * Creates the relay registry ({@link Relay}). Memory per publish is bounded by `maxGopBytes`
 * plus the sequence headers and metadata; per subscriber by `maxSubscriberBufferBytes`.
 */
export function createRelay(opts: RelayOptions): Relay {
  const resolved = {
    maxGopBytes: opts.maxGopBytes ?? DEFAULT_MAX_GOP_BYTES,
    maxSubscriberBufferBytes: opts.maxSubscriberBufferBytes ?? DEFAULT_MAX_SUBSCRIBER_BUFFER_BYTES,
  };
  const sessions = new Map<string, RelaySession>();
  return {
    openPublish(info) {
      sessions.get(info.sessionId)?.end('error');
      const session: RelaySession = new RelaySession(info, resolved, opts.logger, () => {
        if (sessions.get(info.sessionId) === session) sessions.delete(info.sessionId);
      });
      sessions.set(info.sessionId, session);
      return session;
    },
    subscribe(sessionId, out) {
      const s = sessions.get(sessionId);
      if (!s || s.ended) return undefined;
      return s.subscribe(out);
    },
    has(sessionId) {
      return sessions.has(sessionId);
    },
    sessions() {
      return [...sessions.values()].map((s) => ({ sessionId: s.info.sessionId, channelId: s.info.channelId, subscribers: s.subscribers.size, media: s.info.media }));
    },
  };
}
