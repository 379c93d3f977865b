/**
 * One accepted SRT connection: its stream id names the stream key (stream-id.ts), a
 * {@link PublishSession} authorizes and runs the publish through the gate, and the MPEG-TS it
 * carries is checked (ts-probe.ts) and then remuxed by ffmpeg to the relay's FLV messages
 * (remux/ffmpeg-remux.ts; HEVC video is transcoded to H.264 there, H.264 and AAC are copied).
 * The listener (listener.ts) feeds it the bytes libsrt delivers and closes the socket when it
 * calls `onClose`. Bounds: bytes buffered for ffmpeg (`maxBufferedBytes`), silence
 * (`idleTimeoutMs`) and a publish that is not live in time (`startTimeoutMs`) close it.
 */
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { PublishSession, PublishSessions } from '../publish-session.js';
import { startFlvRemux } from '../remux/ffmpeg-remux.js';
import { uuidv7, type PublishEndReason } from '../rtmp/index.js';
import { parseSrtStreamId } from './stream-id.js';
import { TsProgramProbe, videoCodecOf } from './ts-probe.js';

/** Bounds of one SRT connection (defaults in {@link DEFAULT_SRT_CONNECTION_LIMITS}). */
export interface SrtConnectionLimits {
  /** Close a connection that has received nothing for this long, ms. */
  readonly idleTimeoutMs: number;
  /** Close a connection whose publish is not live this long after accept, ms. */
  readonly startTimeoutMs: number;
  /** Most received bytes waiting for ffmpeg; past it the connection is closed (ffmpeg cannot keep up). */
  readonly maxBufferedBytes: number;
  /** Bytes read without an MPEG-TS program table before the input is deemed not MPEG-TS. */
  readonly maxProbeBytes: number;
}

/** Defaults of {@link SrtConnectionLimits}. */
export const DEFAULT_SRT_CONNECTION_LIMITS: SrtConnectionLimits = {
  idleTimeoutMs: 10_000, startTimeoutMs: 30_000, maxBufferedBytes: 16 * 1024 * 1024, maxProbeBytes: 1024 * 1024,
};

/** ffmpeg codec arguments of the remux for a video codec: H.264 copied, HEVC transcoded to H.264 (Debian's ffmpeg 5.1 has no HEVC in FLV). */
export function srtRemuxCodecArgs(video: 'h264' | 'hevc' | 'other' | 'none'): string[] {
  if (video === 'hevc' || video === 'other') {
    return ['-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-g', '60', '-c:a', 'copy'];
  }
  return ['-c:v', 'copy', '-c:a', 'copy'];
}

/** Why a connection was closed by the listener side, for `ingest_srt_connections_closed_total{reason}`. */
export type SrtCloseReason = 'bad_stream_id' | 'refused' | 'not_mpegts' | 'idle_timeout' | 'start_timeout' | 'buffer_overflow' | 'kicked' | 'ended';

/** Callbacks between a connection and its listener. */
export interface SrtConnectionHooks {
  readonly sessions: PublishSessions;
  readonly logger: Logger;
  readonly limits: SrtConnectionLimits;
  /** Stop (false) or resume (true) reading this socket (backpressure from ffmpeg's stdin). */
  setReading(reading: boolean): void;
  /** The connection is done: the listener closes the socket (once). */
  onClose(reason: SrtCloseReason): void;
}

/** See the module comment. */
export interface SrtConnection {
  readonly connectionId: string;
  /** Bytes libsrt delivered (one SRT message, usually 7 TS packets). */
  data(chunk: Buffer): void;
  /** libsrt reports the socket broken or closed; `clean` when the last data came just before (the caller closed it). */
  broken(clean: boolean): void;
  /** Closes from the listener (node shutdown). */
  close(): void;
}

/**
 * Opens the publish of an accepted socket whose stream id is `streamId` from `remoteAddress`;
 * returns undefined (after `onClose('bad_stream_id')`) when the stream id names no key.
 */
export function openSrtConnection(streamId: Buffer, remoteAddress: string, h: SrtConnectionHooks): SrtConnection | undefined {
  const parsed = parseSrtStreamId(streamId);
  if (!parsed.ok) {
    h.logger.info({ remoteAddress, reason: parsed.reason }, 'SRT stream id refused');
    h.onClose('bad_stream_id');
    return undefined;
  }
  const connectionId = uuidv7();
  const logger = h.logger.child({ connectionId });
  let closed = false;
  let watchdog: NodeJS.Timeout | undefined;
  const close = (reason: SrtCloseReason, end?: { reason: PublishEndReason; detail?: string }) => {
    if (closed) return;
    closed = true;
    clearInterval(watchdog);
    abort.abort();
    if (end) session.end(end.reason, end.detail);
    h.onClose(reason);
  };
  const abort = new AbortController();
  const session: PublishSession = h.sessions.open({
    protocol: 'srt', connectionId, remoteAddress, streamKey: parsed.streamKey, app: parsed.app, logger,
    onRefused: () => close('refused'),
    disconnect: () => close('kicked'),
  });
  const feed = createFeed(h, logger, session, close);
  const acceptedAt = Date.now();
  let lastData = Date.now();
  watchdog = setInterval(() => {
    const now = Date.now();
    if (now - lastData > h.limits.idleTimeoutMs) close('idle_timeout', { reason: 'disconnected', detail: 'no SRT data' });
    else if (session.phase() !== 'live' && now - acceptedAt > h.limits.startTimeoutMs) close('start_timeout', { reason: 'error', detail: 'no playable media' });
  }, 1000);
  watchdog.unref();
  session.start();
  return {
    connectionId,
    data(chunk) {
      if (closed) return;
      lastData = Date.now();
      session.received(chunk.length);
      feed.push(chunk);
    },
    broken(clean) {
      if (closed) return;
      feed.end(clean ? 'unpublished' : 'disconnected');
    },
    close: () => close('ended', { reason: 'disconnected', detail: 'node shutdown' }),
  };

  /** The MPEG-TS → probe → ffmpeg path of this connection. */
  function createFeed(hooks: SrtConnectionHooks, log: Logger, s: PublishSession, done: typeof close) {
    const probe = new TsProgramProbe(hooks.limits.maxProbeBytes);
    let head: Buffer[] = [];
    let input: Readable | undefined;
    let endReason: PublishEndReason | undefined;
    const start = (codec: ReturnType<typeof videoCodecOf>) => {
      // 1 MiB before pausing the socket: about 2 s of a 4.5 Mb/s publish, not a stop every 16 KiB.
      input = new Readable({ highWaterMark: 1024 * 1024, read: () => hooks.setReading(true) });
      log.info({ video: codec }, 'SRT MPEG-TS program found; starting the remux');
      const remux = startFlvRemux({
        inputArgs: ['-analyzeduration', '1000000', '-f', 'mpegts', '-i', 'pipe:0'], codecArgs: srtRemuxCodecArgs(codec),
        stdin: input, signal: abort.signal, logger: log, onMessage: (m) => s.write(m),
      });
      remux.done.then(
        () => done('ended', { reason: endReason ?? 'error', ...(endReason ? {} : { detail: 'remux ended' }) }),
        (err: Error) => done('ended', { reason: endReason ?? 'error', ...(endReason ? {} : { detail: err.message }) }),
      );
      for (const c of head) write(c);
      head = [];
    };
    const write = (chunk: Buffer) => {
      if (!input!.push(chunk)) hooks.setReading(false);
      if (input!.readableLength > hooks.limits.maxBufferedBytes) done('buffer_overflow', { reason: 'error', detail: 'ffmpeg fell behind the SRT input' });
    };
    return {
      push(chunk: Buffer) {
        if (input) return write(chunk);
        head.push(chunk);
        const r = probe.push(chunk);
        if (r.state === 'found') start(videoCodecOf(r.program));
        else if (r.state === 'not-ts') {
          log.info({ reason: r.reason }, 'SRT input is not MPEG-TS');
          done('not_mpegts', { reason: 'error', detail: r.reason });
        }
      },
      end(reason: PublishEndReason) {
        if (endReason) return;
        endReason = reason;
        if (!input) return done('ended', { reason });
        input.push(null); // ffmpeg drains what it has, then exits: remux.done ends the session
        setTimeout(() => abort.abort(), 5000).unref(); // unless it hangs
      },
    };
  }
}
