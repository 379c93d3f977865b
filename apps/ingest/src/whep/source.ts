/**
 * The WHEP source of one live publish on this node: what every WHEP viewer of that publish is
 * sent, made once and fanned out.
 *
 * - It subscribes to the relay like the transcoder does (FLV: sequence headers, the cached GOP,
 *   then live tags) and reads the tags back (`remux/flv-reader.ts`). What the relay writes
 *   during the subscription call is the past (the cached GOP); it only updates the codec state.
 * - Video, the source rendition as published (H.264), is packetized into RTP here without
 *   re-encoding (`h264-rtp.ts`; RTP clock 90 kHz from the FLV timestamps plus composition time),
 *   one {@link WhepFrame} per access unit, SPS/PPS in front of each IDR.
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
import { RtpHeader, RtpPacket } from 'werift';
import { runFfmpeg } from '@live/media/ffmpeg';
import { FlvReader } from '../remux/flv-reader.js';
import { parseAudioTagHeader, parseVideoTagHeader, type MediaMessage } from '../rtmp/index.js';
import { parseAvcDecoderConfig } from '../rtmp/avc.js';
import { flvHeader, flvTag, FlvTagType } from '../relay/flv.js';
import type { Relay, RelaySubscription } from '../relay/index.js';
import { accessUnitNalUnits, avccNalUnits, avcCompositionTime, packetizeH264, profileLevelId } from './h264-rtp.js';

/** Largest RTP payload sent, bytes: 1200 leaves room for RTP, SRTP and UDP/IP headers under a 1280-byte IPv6 minimum MTU. */
export const WHEP_MAX_RTP_PAYLOAD = 1200;

/** One access unit of the source rendition as serialized RTP packets (payload type 96, SSRC 0: each sender rewrites both). */
export interface WhepFrame {
  /** An IDR access unit, with SPS and PPS: a viewer may start here. */
  readonly keyframe: boolean;
  readonly packets: readonly Buffer[];
}

/** A viewer's side of the fan-out. */
export interface WhepSink {
  video(frame: WhepFrame): void;
  /** One serialized Opus RTP packet (48 kHz clock). */
  audio(packet: Buffer): void;
  /** The source stopped (publish ended, or an error); `reason` is for logs. */
  ended(reason: string): void;
}

/** What the source knows of the published video. */
export interface WhepSourceStatus {
  /** The AVC sequence header arrived (SPS/PPS known). */
  readonly ready: boolean;
  /** Video is H.264 (anything else cannot be forwarded). */
  readonly h264: boolean;
  /** A frame with a non-zero composition time was seen: the stream has B-frames. */
  readonly bFrames: boolean;
  /** `profile-level-id` of the stream's SPS (RFC 6184 §8.1), null before the sequence header. */
  readonly profileLevelId: string | null;
}

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
  const video = { ready: false, h264: true, bFrames: false, profileLevelId: null as string | null, nalLengthSize: 4, sps: [] as Buffer[], pps: [] as Buffer[] };
  let live = false;
  let closed = false;
  let base: number | null = null;
  let seq = Math.floor(Math.random() * 0x10000);
  let aacHeader: Buffer | undefined;
  let subscription: RelaySubscription | undefined;
  const audio = await startOpus(o, (packet) => {
    for (const s of sinks) s.audio(packet);
  });

  const onVideo = (m: MediaMessage) => {
    const tag = parseVideoTagHeader(m.payload);
    if (!tag) return;
    if (tag.codec !== 'h264') {
      video.h264 = false;
      return;
    }
    if (m.sequenceHeader) {
      try {
        const config = parseAvcDecoderConfig(m.payload.subarray(tag.bodyOffset));
        Object.assign(video, { ready: true, nalLengthSize: config.nalLengthSize, sps: config.sps, pps: config.pps, profileLevelId: profileLevelId(config.sps[0]) });
      } catch (err) {
        o.logger.warn({ err: (err as Error).message }, 'WHEP source: unreadable AVC sequence header ignored');
      }
      return;
    }
    const cts = avcCompositionTime(m.payload);
    if (cts !== 0) video.bFrames = true;
    if (!live || !video.ready || sinks.size === 0) return;
    if (base === null) base = m.timestamp;
    let nalus: Buffer[];
    try {
      nalus = accessUnitNalUnits(avccNalUnits(m.payload.subarray(tag.bodyOffset), video.nalLengthSize), video.sps, video.pps);
    } catch (err) {
      // One malformed access unit is dropped (viewers conceal it until the next key frame); the publish goes on.
      o.logger.warn({ err: (err as Error).message }, 'WHEP source: malformed video frame dropped');
      return;
    }
    const payloads = packetizeH264(nalus, WHEP_MAX_RTP_PAYLOAD);
    const timestamp = (((m.timestamp - base) | 0) + cts) * 90 >>> 0;
    const packets = payloads.map((payload, i) => {
      seq = (seq + 1) & 0xffff;
      return new RtpPacket(new RtpHeader({ payloadType: 96, sequenceNumber: seq, timestamp, marker: i === payloads.length - 1, ssrc: 0 }), payload).serialize();
    });
    const frame: WhepFrame = { keyframe: m.keyframe, packets };
    for (const s of sinks) s.video(frame);
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
    status: () => ({ ready: video.ready, h264: video.h264, bFrames: video.bFrames, profileLevelId: video.profileLevelId }),
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
