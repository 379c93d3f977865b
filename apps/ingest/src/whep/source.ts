/**
 * The WHEP source of one live publish on this node: what every WHEP viewer of that publish is
 * sent, made once and fanned out.
 *
 * - It subscribes to the relay like the transcoder does (FLV: sequence headers, the cached GOP,
 *   then live tags) and reads the tags back (`remux/flv-reader.ts`). What the relay writes
 *   during the subscription call is the past (the cached GOP); it only updates the codec state.
 * - Video, the source rendition as published (H.264), is packetized into RTP without
 *   re-encoding (`video-rtp.ts`), one {@link WhepFrame} per access unit, SPS/PPS in front of
 *   each IDR.
 * - Audio (AAC in FLV) becomes Opus in one supervised ffmpeg (`-application lowdelay`, 20 ms
 *   frames) that sends RTP to a loopback UDP socket; each packet is fanned out as it comes.
 *
 * Viewers start at the next key frame (a WebRTC decoder cannot start elsewhere, and the
 * published stream cannot be asked for one): joining waits at most one GOP. Streams with B-frames
 * (a non-zero composition time) are flagged: WebRTC receivers play frames in arrival order.
 */
import dgram from 'node:dgram';
import { PassThrough, Writable } from 'node:stream';
import type { Logger } from 'pino';
import { runFfmpeg } from '@live/media/ffmpeg';
import { FlvReader } from '../remux/flv-reader.js';
import { parseAudioTagHeader, type MediaMessage } from '../rtmp/index.js';
import { flvHeader, flvTag, FlvTagType } from '../relay/flv.js';
import type { Relay, RelaySubscription } from '../relay/index.js';
import { WhepVideoPacketizer, type WhepFrame, type WhepVideoStatus } from './video-rtp.js';

export { WHEP_MAX_RTP_PAYLOAD, type WhepFrame } from './video-rtp.js';

/** A viewer's side of the fan-out. */
export interface WhepSink {
  video(frame: WhepFrame): void;
  /** One serialized Opus RTP packet (48 kHz clock). */
  audio(packet: Buffer): void;
  /** The source stopped (publish ended, or an error); `reason` is for logs. */
  ended(reason: string): void;
}

/** What the source knows of the published video. */
export type WhepSourceStatus = WhepVideoStatus;

/** Options of {@link openWhepSource}. */
export interface WhepSourceOptions {
  readonly relay: Relay;
  readonly sessionId: string;
  readonly logger: Logger;
  /** Opus bitrate, bits/s (default 96000). */
  readonly opusBitrate?: number;
}

/** The fan-out of one publish (see the module comment). */
export interface WhepSource {
  readonly sessionId: string;
  status(): WhepSourceStatus;
  /** Adds a viewer; returns its removal. */
  add(sink: WhepSink): () => void;
  viewers(): number;
  /** Stops everything (idempotent); every sink gets `ended(reason)`. */
  close(reason: string): void;
  /** Called once when the source stops (closed or the publish ended). */
  onClosed?: (reason: string) => void;
}

/** The ffmpeg arguments that read FLV with AAC from stdin and send Opus RTP to `rtp://127.0.0.1:<port>` (RTCP to `rtcpPort`). */
export function opusRtpArgs(port: number, rtcpPort: number, bitrate: number): string[] {
  return [
    '-hide_banner', '-loglevel', 'error', '-fflags', '+nobuffer', '-flags', 'low_delay', '-probesize', '2048', '-analyzeduration', '0',
    '-f', 'flv', '-i', 'pipe:0', '-vn', '-c:a', 'libopus', '-b:a', String(bitrate), '-ar', '48000', '-ac', '2',
    '-application', 'lowdelay', '-frame_duration', '20', '-payload_type', '111', '-f', 'rtp', `rtp://127.0.0.1:${port}?rtcpport=${rtcpPort}&pkt_size=1200`,
  ];
}

/**
 * Opens the source of `sessionId`.
 * @throws Error when the relay has no such live session.
 */
export async function openWhepSource(o: WhepSourceOptions): Promise<WhepSource> {
  const sinks = new Set<WhepSink>();
  const reader = new FlvReader();
  const video = new WhepVideoPacketizer((problem, detail) => o.logger.warn({ err: detail }, `WHEP source: ${problem === 'malformed frame' ? 'malformed video frame dropped' : 'unreadable AVC sequence header ignored'}`));
  let live = false;
  let closed = false;
  let base: number | null = null;
  let aacHeader: Buffer | undefined;
  let subscription: RelaySubscription | undefined;
  const audio = await startOpus(o, (packet) => {
    for (const s of sinks) s.audio(packet);
  });

  const onVideo = (m: MediaMessage) => {
    const forward = live && sinks.size > 0 && !m.sequenceHeader && video.status().ready;
    if (forward && base === null) base = m.timestamp;
    const frame = video.push(m, forward ? base : null);
    if (frame) for (const s of sinks) s.video(frame);
  };

  const onAudio = (m: MediaMessage) => {
    const tag = parseAudioTagHeader(m.payload);
    if (!tag || tag.codec !== 'aac') return;
    if (m.sequenceHeader) {
      aacHeader = m.payload;
      return;
    }
    if (!live || !aacHeader || sinks.size === 0) return;
    if (base === null) base = m.timestamp;
    audio.write(aacHeader, m.payload, (m.timestamp - base) | 0);
  };

  const intake = new Writable({
    write(chunk: Buffer, _enc, done) {
      try {
        for (const m of reader.push(chunk)) {
          if (m.kind === 'video') onVideo(m);
          else if (m.kind === 'audio') onAudio(m);
        }
        done();
      } catch (err) {
        done(err as Error);
      }
    },
  });
  const source: WhepSource = {
    sessionId: o.sessionId,
    status: () => video.status(),
    add(sink) {
      sinks.add(sink);
      return () => sinks.delete(sink);
    },
    viewers: () => sinks.size,
    close(reason) {
      if (closed) return;
      closed = true;
      subscription?.unsubscribe();
      audio.close();
      for (const s of [...sinks]) s.ended(reason);
      sinks.clear();
      source.onClosed?.(reason);
    },
  };
  intake.on('finish', () => source.close('publish ended'));
  intake.on('error', (err) => {
    o.logger.warn({ err: err.message }, 'WHEP source could not read the relay; stopping it');
    source.close('source error');
  });
  // What the relay writes synchronously in subscribe() is the cached past: read, not forwarded.
  subscription = o.relay.subscribe(o.sessionId, intake);
  live = true;
  if (!subscription) {
    audio.close();
    throw new Error(`session ${o.sessionId} is not live on this node`);
  }
  return source;
}

/** The Opus side: an ffmpeg fed an audio-only FLV (header, AAC sequence header, live tags), its RTP read from loopback. */
async function startOpus(o: WhepSourceOptions, onPacket: (packet: Buffer) => void): Promise<{ write(aacHeader: Buffer, body: Buffer, ts: number): void; close(): void }> {
  const rtp = dgram.createSocket('udp4');
  const rtcp = dgram.createSocket('udp4');
  await Promise.all([rtp, rtcp].map((s) => new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      s.off('error', reject);
      resolve();
    });
  })));
  rtp.on('message', (packet) => onPacket(packet));
  rtcp.on('message', () => undefined);
  for (const s of [rtp, rtcp]) s.on('error', (err) => o.logger.warn({ err: err.message }, 'WHEP audio socket error'));
  let input: PassThrough | undefined;
  const stop = new AbortController();
  const start = (aacHeader: Buffer) => {
    input = new PassThrough();
    input.write(flvHeader({ audio: true, video: false }));
    input.write(flvTag(FlvTagType.Audio, 0, aacHeader));
    runFfmpeg(opusRtpArgs(rtp.address().port, rtcp.address().port, o.opusBitrate ?? 96_000), {
      signal: stop.signal, stdin: input,
      onStderrLine: (line) => o.logger.debug({ ffmpeg: line }, 'WHEP audio'),
    }).catch((err: unknown) => o.logger.warn({ err: (err as Error).message }, 'WHEP audio transcoder stopped; video goes on'));
  };
  let closed = false;
  return {
    write(aacHeader, body, ts) {
      if (closed) return;
      if (!input) start(aacHeader);
      // Backpressure is ffmpeg's: a stalled transcoder drops audio rather than growing memory.
      if (input!.writableLength < 1024 * 1024) input!.write(flvTag(FlvTagType.Audio, Math.max(0, ts), body));
    },
    close() {
      if (closed) return;
      closed = true;
      stop.abort();
      input?.end();
      rtp.close();
      rtcp.close();
    },
  };
}
