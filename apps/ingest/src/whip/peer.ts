/**
 * One WHIP publisher's WebRTC peer connection (werift: ICE, DTLS-SRTP, RTP/RTCP in TypeScript),
 * receive-only, forwarding what it receives as plain RTP to loopback UDP ports (see
 * `ffmpeg-sdp.ts`): H.264 packets stamped {@link FORWARD_H264_PT}, Opus ones {@link FORWARD_OPUS_PT}.
 * The publisher's RTCP sender reports are not forwarded: ffmpeg's RTP demuxer re-bases a stream's
 * timestamps when its first report arrives, a jump of seconds mid-stream (segments of 8 s, a VOD
 * 5 s too long); without them each stream starts at its first packet, and audio and video, sent
 * together, stay aligned. It asks the publisher for keyframes (RTCP
 * PLI, RFC 4585 §6.3.1) at once and then every `pliIntervalMs`, so segments start on keyframes.
 */
import dgram from 'node:dgram';
import type { Logger } from 'pino';
import { RTCPeerConnection, RTCRtpCodecParameters, type MediaStreamTrack, type RTCRtpTransceiver, type RtpPacket } from 'werift';
import { FORWARD_H264_PT, FORWARD_OPUS_PT, type ForwardPorts } from './ffmpeg-sdp.js';

/** ICE settings of the WHIP peer connections. */
export interface WhipIceOptions {
  /** Extra host addresses to offer candidates on (werift skips loopback unless listed: `127.0.0.1` for local publishers). */
  readonly hostAddresses?: readonly string[];
  /** UDP port range of the ICE candidates, `[min, max]` (min < max); default any free port. */
  readonly portRange?: readonly [number, number];
}

/** Options of {@link openWhipPeer}. */
export interface WhipPeerOptions {
  /** The publisher's SDP offer (checked by `checkWhipOffer`). */
  readonly offer: string;
  readonly ice: WhipIceOptions;
  /** Where the RTP goes (ffmpeg's ports). */
  readonly forward: ForwardPorts;
  /** Period of the keyframe requests, ms. */
  readonly pliIntervalMs: number;
  readonly logger: Logger;
  /** Each RTP packet received, with its size in bytes (health, byte counts, the media watchdog). */
  onRtp(kind: 'video' | 'audio', bytes: number): void;
  /** The connection failed or was closed by the publisher (ICE consent lost, DTLS close). */
  onClosed(state: 'failed' | 'closed'): void;
}

/** An open peer connection. */
export interface WhipPeer {
  /** The SDP answer, with every ICE candidate (no trickle). */
  readonly answer: string;
  /** Closes the connection and the forwarding socket (idempotent). */
  close(): Promise<void>;
}

/** The offer could not be applied (werift refused it): the WHIP endpoint answers 400 SDP_MALFORMED. */
export class WhipOfferError extends Error {}

/** The codecs the ingest answers with: H.264 packetization-mode 1 (any profile, as offered), Opus. */
function codecs(): { video: RTCRtpCodecParameters[]; audio: RTCRtpCodecParameters[] } {
  return {
    video: [new RTCRtpCodecParameters({
      mimeType: 'video/H264', clockRate: 90000, parameters: 'packetization-mode=1',
      rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }],
    })],
    audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })],
  };
}

/**
 * Builds the peer connection from `offer`, answers it and starts forwarding.
 * @throws WhipOfferError when werift cannot apply the offer.
 */
export async function openWhipPeer(o: WhipPeerOptions): Promise<WhipPeer> {
  const pc = new RTCPeerConnection({
    codecs: codecs(), iceUseIpv6: false,
    ...(o.ice.hostAddresses?.length ? { iceAdditionalHostAddresses: [...o.ice.hostAddresses] } : {}),
    ...(o.ice.portRange ? { icePortRange: [o.ice.portRange[0], o.ice.portRange[1]] as [number, number] } : {}),
  });
  const socket = dgram.createSocket('udp4');
  socket.on('error', (err) => o.logger.warn({ err: err.message }, 'forwarding socket error'));
  const timers: NodeJS.Timeout[] = [];
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    for (const t of timers) clearInterval(t);
    socket.close();
    await pc.close().catch((err: unknown) => o.logger.warn({ err }, 'peer connection close failed'));
  };
  const seen = new WeakSet<RTCRtpTransceiver>();
  const watch = (t: RTCRtpTransceiver) => {
    if (seen.has(t)) return;
    seen.add(t);
    t.onTrack.subscribe((track) => forwardTrack(o, socket, track, t, timers, () => closed));
  };
  pc.onRemoteTransceiverAdded.subscribe(watch);
  pc.onTransceiverAdded.subscribe(watch);
  pc.connectionStateChange.subscribe((state) => {
    if (!closed && (state === 'failed' || state === 'closed')) o.onClosed(state);
  });
  try {
    await pc.setRemoteDescription({ type: 'offer', sdp: o.offer });
    await pc.setLocalDescription(await pc.createAnswer());
  } catch (err) {
    await close();
    throw new WhipOfferError(`The offer could not be applied: ${(err as Error).message}`);
  }
  return { answer: pc.localDescription!.sdp, close };
}

function forwardTrack(o: WhipPeerOptions, socket: dgram.Socket, track: MediaStreamTrack, t: RTCRtpTransceiver, timers: NodeJS.Timeout[], isClosed: () => boolean): void {
  const kind = track.kind === 'video' ? 'video' : 'audio';
  const port = kind === 'video' ? o.forward.video : o.forward.audio;
  if (port === undefined) return;
  const pt = kind === 'video' ? FORWARD_H264_PT : FORWARD_OPUS_PT;
  track.onReceiveRtp.subscribe((rtp: RtpPacket) => {
    if (isClosed()) return;
    rtp.header.payloadType = pt;
    const buf = rtp.serialize();
    o.onRtp(kind, buf.length);
    socket.send(buf, port, '127.0.0.1');
  });
  if (kind !== 'video') return;
  const pli = () => {
    if (track.ssrc !== undefined && !isClosed()) t.receiver.sendRtcpPLI(track.ssrc).catch(() => undefined);
  };
  pli();
  const timer = setInterval(pli, o.pliIntervalMs);
  timer.unref();
  timers.push(timer);
}
