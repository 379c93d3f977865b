/**
 * The video side of a WHEP source: a publish's FLV/RTMP AVC video messages (FLV v10.1 §E.4.3)
 * turned into RTP access units for WebRTC viewers, the H.264 as published (RFC 6184 through
 * `h264-rtp.ts`). Keeps the codec state (SPS/PPS, NAL length size, profile) from the sequence
 * header and one RTP sequence-number space. No I/O.
 */
import { RtpHeader, RtpPacket } from 'werift';
import { parseVideoTagHeader, type MediaMessage } from '../rtmp/index.js';
import { parseAvcDecoderConfig } from '../rtmp/avc.js';
import { accessUnitNalUnits, avccNalUnits, avcCompositionTime, packetizeH264, profileLevelId } from './h264-rtp.js';

/** Largest RTP payload sent, bytes: 1200 leaves room for RTP, SRTP and UDP/IP headers under a 1280-byte IPv6 minimum MTU. */
export const WHEP_MAX_RTP_PAYLOAD = 1200;

/** One access unit of the source rendition as serialized RTP packets (payload type 96, SSRC 0: each sender rewrites both). */
export interface WhepFrame {
  /** An IDR access unit, with SPS and PPS: a viewer may start here. */
  readonly keyframe: boolean;
  readonly packets: readonly Buffer[];
}

/** What is known of the published video. */
export interface WhepVideoStatus {
  /** The AVC sequence header arrived (SPS/PPS known). */
  readonly ready: boolean;
  /** Video is H.264 (anything else cannot be forwarded). */
  readonly h264: boolean;
  /** A frame with a non-zero composition time was seen: the stream has B-frames. */
  readonly bFrames: boolean;
  /** `profile-level-id` of the stream's SPS (RFC 6184 §8.1), null before the sequence header. */
  readonly profileLevelId: string | null;
}

/** Why {@link WhepVideoPacketizer.push} passed over a message it could not read (the caller logs it). */
export type WhepVideoProblem = 'unreadable sequence header' | 'malformed frame';

/** See the module comment. */
export class WhepVideoPacketizer {
  private state = { ready: false, h264: true, bFrames: false, profileLevelId: null as string | null };
  private nalLengthSize = 4;
  private sps: readonly Buffer[] = [];
  private pps: readonly Buffer[] = [];
  private seq = Math.floor(Math.random() * 0x10000);

  /** @param onProblem told of each message passed over (a malformed frame is dropped: viewers conceal it until the next key frame). */
  constructor(private readonly onProblem: (problem: WhepVideoProblem, detail: string) => void) {}

  status(): WhepVideoStatus {
    return { ...this.state };
  }

  /**
   * Reads `m` (a video message). Sequence headers and the B-frame flag update the state; with
   * `baseMs` (the FLV time of the first forwarded media, the RTP clock's zero) an H.264 access
   * unit is packetized and returned, RTP time `(m.timestamp - baseMs + composition time) x 90`.
   * Returns null for everything else. Never throws.
   */
  push(m: MediaMessage, baseMs: number | null): WhepFrame | null {
    const tag = parseVideoTagHeader(m.payload);
    if (!tag) return null;
    if (tag.codec !== 'h264') {
      this.state.h264 = false;
      return null;
    }
    if (m.sequenceHeader) {
      this.readSequenceHeader(m.payload.subarray(tag.bodyOffset));
      return null;
    }
    const cts = avcCompositionTime(m.payload);
    if (cts !== 0) this.state.bFrames = true;
    if (baseMs === null || !this.state.ready) return null;
    let nalus: Buffer[];
    try {
      nalus = accessUnitNalUnits(avccNalUnits(m.payload.subarray(tag.bodyOffset), this.nalLengthSize), this.sps, this.pps);
    } catch (err) {
      this.onProblem('malformed frame', (err as Error).message);
      return null;
    }
    const payloads = packetizeH264(nalus, WHEP_MAX_RTP_PAYLOAD);
    const timestamp = (((m.timestamp - baseMs) | 0) + cts) * 90 >>> 0;
    const packets = payloads.map((payload, i) => {
      this.seq = (this.seq + 1) & 0xffff;
      return new RtpPacket(new RtpHeader({ payloadType: 96, sequenceNumber: this.seq, timestamp, marker: i === payloads.length - 1, ssrc: 0 }), payload).serialize();
    });
    return { keyframe: m.keyframe, packets };
  }

  private readSequenceHeader(record: Buffer): void {
    try {
      const config = parseAvcDecoderConfig(record);
      this.nalLengthSize = config.nalLengthSize;
      this.sps = config.sps;
      this.pps = config.pps;
      this.state = { ...this.state, ready: true, profileLevelId: profileLevelId(config.sps[0]) };
    } catch (err) {
      this.onProblem('unreadable sequence header', (err as Error).message);
    }
  }
}
