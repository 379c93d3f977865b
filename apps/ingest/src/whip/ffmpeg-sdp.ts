/**
 * The SDP (RFC 8866; RTP profile RTP/AVP, RFC 3551) that tells the remux's ffmpeg where the WHIP
 * session's media arrives: plain RTP on loopback UDP ports, H.264 (RFC 6184) and Opus (RFC 7587)
 * with the payload types the forwarder stamps on each packet. ffmpeg also binds each port + 1
 * (RTCP); nothing is sent there (see `peer.ts`).
 */

/** Payload type of forwarded H.264 packets. */
export const FORWARD_H264_PT = 96;
/** Payload type of forwarded Opus packets. */
export const FORWARD_OPUS_PT = 111;

/** Where {@link ffmpegRtpSdp} says the media arrives. */
export interface ForwardPorts {
  /** UDP port of the video RTP (ffmpeg binds port + 1 too, for RTCP). */
  readonly video: number;
  /** UDP port of the audio RTP, undefined for a video-only session. */
  readonly audio?: number;
}

/** The SDP ffmpeg reads (`-f sdp -i pipe:0`) for a session forwarded to `ports` on 127.0.0.1. */
export function ffmpegRtpSdp(ports: ForwardPorts): string {
  const lines = [
    'v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=whip', 'c=IN IP4 127.0.0.1', 't=0 0',
    `m=video ${ports.video} RTP/AVP ${FORWARD_H264_PT}`, `a=rtpmap:${FORWARD_H264_PT} H264/90000`, `a=fmtp:${FORWARD_H264_PT} packetization-mode=1`,
  ];
  if (ports.audio !== undefined) {
    lines.push(`m=audio ${ports.audio} RTP/AVP ${FORWARD_OPUS_PT}`, `a=rtpmap:${FORWARD_OPUS_PT} opus/48000/2`);
  }
  return lines.join('\r\n') + '\r\n';
}

/**
 * The remux's ffmpeg input arguments for {@link ffmpegRtpSdp} on stdin: only pipe/UDP/RTP
 * protocols, a probe long enough to see a keyframe (SPS/PPS arrive in-band), a reorder queue
 * for UDP's late packets.
 */
export function ffmpegRtpInputArgs(): string[] {
  return ['-protocol_whitelist', 'pipe,udp,rtp', '-analyzeduration', '5000000', '-probesize', '5000000', '-reorder_queue_size', '500', '-f', 'sdp', '-i', 'pipe:0'];
}

/** The remux's codec arguments: H.264 copied, Opus transcoded to AAC-LC 128 kb/s (what the relay and the ladder take). */
export function ffmpegWhipCodecArgs(): string[] {
  return ['-c:v', 'copy', '-c:a', 'aac', '-b:a', '128k', '-ar', '48000'];
}
