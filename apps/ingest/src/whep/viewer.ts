/**
 * One WHEP viewer's WebRTC peer connection (werift): send-only H.264 video and Opus audio,
 * fed by the publish's {@link WhepSource}. The viewer's offer decides the payload types; the
 * answer keeps the H.264 formats with `packetization-mode=1`, the one matching the stream's
 * `profile-level-id` first (a decoder is chosen from it), and nothing else.
 *
 * Video starts at the first key frame after DTLS is up (earlier packets are dropped, a decoder
 * cannot start mid-GOP); audio as soon as DTLS is up. Each packet goes out through the sender
 * as a fresh copy (the sender rewrites SSRC, payload type and keeps it for NACK replies).
 */
import type { Logger } from 'pino';
import { RTCPeerConnection, RTCRtpCodecParameters, type RTCRtpTransceiver } from 'werift';
import type { WhipIceOptions } from '../whip/peer.js';
import type { WhepFrame, WhepSink } from './source.js';

/** Options of {@link openWhepViewer}. */
export interface WhepViewerOptions {
  /** The viewer's SDP offer (checked by `checkWhepOffer`). */
  readonly offer: string;
  readonly ice: WhipIceOptions;
  /** `profile-level-id` of the forwarded stream (hex), preferred among the offered H.264 formats. */
  readonly profileLevelId: string | null;
  readonly logger: Logger;
  /** ICE or DTLS failed, or the viewer closed the connection. */
  onClosed(state: 'failed' | 'closed'): void;
}

/** An open viewer connection: the answer, and the sink the source feeds. */
export interface WhepViewer extends WhepSink {
  /** The SDP answer, with every ICE candidate (no trickle). */
  readonly answer: string;
  /** Frames sent since the first key frame. */
  framesSent(): number;
  /** Closes the peer connection (idempotent). */
  close(): Promise<void>;
}

/** The offer could not be applied (werift refused it): the WHEP endpoint answers 400 SDP_MALFORMED. */
export class WhepOfferError extends Error {}

const H264 = (): RTCRtpCodecParameters => new RTCRtpCodecParameters({
  mimeType: 'video/H264', clockRate: 90000, parameters: 'packetization-mode=1',
  rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }],
});
const OPUS = (): RTCRtpCodecParameters => new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 });

/**
 * Orders the negotiated video codecs for sending: H.264 with `packetization-mode=1` only (RTX
 * kept for the ones kept), the one whose `profile-level-id` profile byte matches `profileLevelId`
 * first, then constrained baseline ones. Pure; returns a new array.
 */
export function preferH264(codecs: readonly RTCRtpCodecParameters[], profileLevelId: string | null): RTCRtpCodecParameters[] {
  const params = (c: RTCRtpCodecParameters) => c.parameters ?? '';
  const h264 = codecs.filter((c) => c.mimeType.toLowerCase() === 'video/h264' && /(^|;)\s*packetization-mode=1(;|$)/.test(params(c)));
  const profileOf = (c: RTCRtpCodecParameters) => /profile-level-id=([0-9a-fA-F]{6})/.exec(params(c))?.[1]?.toLowerCase() ?? '42e01f';
  const rank = (c: RTCRtpCodecParameters) => {
    const p = profileOf(c);
    if (profileLevelId && p.slice(0, 2) === profileLevelId.slice(0, 2)) return 0;
    return p.startsWith('42') ? 1 : 2;
  };
  const ordered = [...h264].sort((a, b) => rank(a) - rank(b));
  const kept = new Set(ordered.map((c) => String(c.payloadType)));
  const rtx = codecs.filter((c) => c.mimeType.toLowerCase() === 'video/rtx' && kept.has(/apt=(\d+)/.exec(params(c))?.[1] ?? ''));
  return [...ordered, ...rtx];
}

/**
 * Builds the peer connection from `offer` and answers it.
 * @throws WhepOfferError when werift cannot apply the offer or no H.264 format is left.
 */
export async function openWhepViewer(o: WhepViewerOptions): Promise<WhepViewer> {
  const pc = new RTCPeerConnection({
    codecs: { video: [H264()], audio: [OPUS()] }, iceUseIpv6: false,
    ...(o.ice.hostAddresses?.length ? { iceAdditionalHostAddresses: [...o.ice.hostAddresses] } : {}),
    ...(o.ice.portRange ? { icePortRange: [o.ice.portRange[0], o.ice.portRange[1]] as [number, number] } : {}),
  });
  const videoT: RTCRtpTransceiver = pc.addTransceiver('video', { direction: 'sendonly' });
  const audioT: RTCRtpTransceiver = pc.addTransceiver('audio', { direction: 'sendonly' });
  let closed = false;
  let started = false;
  let frames = 0;
  const connected = () => pc.connectionState === 'connected';
  const close = async () => {
    if (closed) return;
    closed = true;
    await pc.close().catch((err: unknown) => o.logger.warn({ err }, 'peer connection close failed'));
  };
  pc.connectionStateChange.subscribe((state) => {
    if (!closed && (state === 'failed' || state === 'closed')) o.onClosed(state);
  });
  try {
    await pc.setRemoteDescription({ type: 'offer', sdp: o.offer });
    const codecs = preferH264(videoT.codecs, o.profileLevelId);
    if (!codecs[0]) throw new Error('no H.264 format with packetization-mode=1');
    videoT.codecs = codecs;
    videoT.sender.codec = codecs[0];
    await pc.setLocalDescription(await pc.createAnswer());
  } catch (err) {
    await close();
    throw new WhepOfferError(`The offer could not be applied: ${(err as Error).message}`);
  }
  const send = (t: RTCRtpTransceiver, packet: Buffer) => {
    t.sender.sendRtp(packet).catch((err: unknown) => o.logger.debug({ err: (err as Error).message }, 'RTP send failed'));
  };
  return {
    answer: pc.localDescription!.sdp,
    framesSent: () => frames,
    close,
    video(frame: WhepFrame) {
      if (closed || !connected()) return;
      if (!started) {
        if (!frame.keyframe) return;
        started = true;
      }
      frames++;
      for (const p of frame.packets) send(videoT, p);
    },
    audio(packet: Buffer) {
      if (!closed && started && connected()) send(audioT, packet);
    },
    ended() {
      void close();
    },
  };
}
