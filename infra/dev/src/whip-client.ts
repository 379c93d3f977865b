/**
 * A WHIP publisher for tests (RFC 9725 client side): a werift peer connection with send-only
 * H.264 and Opus tracks, fed by an ffmpeg that encodes the test pattern (testsrc2 and a 440 Hz
 * tone, x264 `ultrafast` constrained baseline, Opus) to RTP on loopback UDP ports, as a browser
 * or OBS 30+ would send it. Answers the publisher's keyframe requests by the encoder's fixed GOP.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { MediaStreamTrack, RTCPeerConnection, RTCRtpCodecParameters } from 'werift';

/** Options of {@link publishWhip}. */
export interface WhipPublishOptions {
  /** Seconds of media to send; 0 sends none (a session that never sends media). */
  readonly seconds: number;
  readonly width?: number;
  readonly height?: number;
  readonly fps?: number;
  readonly videoKbps?: number;
  /** Sent as the request body instead of the peer connection's offer (malformed-input tests). */
  readonly offer?: string;
  /** Content-Type of the request (default `application/sdp`). */
  readonly contentType?: string;
}

/** A WHIP publish attempt. */
export interface WhipPublish {
  /** The POST's HTTP status (201 when accepted). */
  readonly status: number;
  /** The response body: the SDP answer, or the `{ code, message }` JSON of a refusal. */
  readonly body: string;
  /** The session's resource URL (absolute), on 201. */
  readonly resourceUrl: string | undefined;
  /** Settles when the media source has sent everything (at once without media). */
  readonly done: Promise<void>;
  /** Ends the publish: `DELETE` on the resource (its status returned), then closes everything. */
  stop(): Promise<number | undefined>;
  /** Closes the peer connection and the encoder without a DELETE (a publisher that vanishes). */
  close(): Promise<void>;
}

/**
 * POSTs an offer to `endpoint` (`http://host:port/whip/<channel>`) with `streamKey` as the Bearer
 * token and, on 201, sends `o.seconds` of the test pattern in real time.
 */
export async function publishWhip(endpoint: string, streamKey: string, o: WhipPublishOptions): Promise<WhipPublish> {
  const pc = new RTCPeerConnection({
    codecs: {
      video: [new RTCRtpCodecParameters({ mimeType: 'video/H264', clockRate: 90000, rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }], parameters: 'profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1' })],
      audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })],
    },
    iceAdditionalHostAddresses: ['127.0.0.1'], iceUseIpv6: false,
  });
  const video = new MediaStreamTrack({ kind: 'video' });
  const audio = new MediaStreamTrack({ kind: 'audio' });
  pc.addTransceiver(video, { direction: 'sendonly' });
  pc.addTransceiver(audio, { direction: 'sendonly' });
  await pc.setLocalDescription(await pc.createOffer());
  const res = await fetch(endpoint, {
    method: 'POST', body: o.offer ?? pc.localDescription!.sdp,
    headers: { 'content-type': o.contentType ?? 'application/sdp', authorization: `Bearer ${streamKey}` },
  });
  const body = await res.text();
  const location = res.headers.get('location');
  const resourceUrl = res.status === 201 && location ? new URL(location, endpoint).toString() : undefined;
  let encoder: ChildProcess | undefined;
  const sockets: dgram.Socket[] = [];
  const close = async () => {
    encoder?.kill('SIGKILL');
    for (const s of sockets.splice(0)) s.close();
    await pc.close();
  };
  let done = Promise.resolve();
  if (res.status !== 201) {
    await close();
  } else {
    await pc.setRemoteDescription({ type: 'answer', sdp: body });
    if (o.seconds > 0) {
      // Media written before ICE and DTLS are up is dropped: the encoder starts once connected,
      // so all `seconds` of it reach the ingest (as a camera's frames do once a call is up).
      await connected(pc, 30_000);
      const [v, a] = await Promise.all([rtpInput((b) => video.writeRtp(b)), rtpInput((b) => audio.writeRtp(b))]);
      sockets.push(v, a);
      encoder = spawnEncoder(v.address().port, a.address().port, o);
      done = new Promise((resolve) => encoder!.once('exit', () => resolve()));
    }
  }
  return {
    status: res.status, body, resourceUrl, done, close,
    async stop() {
      const status = resourceUrl ? (await fetch(resourceUrl, { method: 'DELETE' })).status : undefined;
      await close();
      return status;
    },
  };
}

/**
 * Settles once `pc` is connected.
 * @throws Error when it fails or is not connected within `timeoutMs`.
 */
async function connected(pc: RTCPeerConnection, timeoutMs: number): Promise<void> {
  if (pc.connectionState === 'connected') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`WHIP peer connection not connected within ${timeoutMs} ms`)), timeoutMs);
    const sub = pc.connectionStateChange.subscribe((state) => {
      if (state !== 'connected' && state !== 'failed') return;
      clearTimeout(timer);
      sub.unSubscribe();
      if (state === 'connected') resolve();
      else reject(new Error('WHIP peer connection failed'));
    });
  });
}

/** A loopback UDP socket passing every datagram (an RTP packet) to `onPacket`. */
function rtpInput(onPacket: (b: Buffer) => void): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  s.on('message', onPacket);
  return new Promise((resolve) => s.bind(0, '127.0.0.1', () => resolve(s)));
}

/** ffmpeg sending the test pattern as RTP: H.264 to `videoPort`, Opus to `audioPort`, in real time. */
function spawnEncoder(videoPort: number, audioPort: number, o: WhipPublishOptions): ChildProcess {
  const fps = o.fps ?? 30;
  const kbps = o.videoKbps ?? 1000;
  return spawn(process.env.FFMPEG_PATH ?? 'ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-re',
    '-t', String(o.seconds), '-f', 'lavfi', '-i', `testsrc2=size=${o.width ?? 640}x${o.height ?? 360}:rate=${fps}`,
    '-t', String(o.seconds), '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-map', '0:v', '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p',
    '-g', String(fps * 2), '-keyint_min', String(fps * 2), '-sc_threshold', '0', '-b:v', `${kbps}k`, '-maxrate', `${kbps}k`, '-bufsize', `${kbps * 2}k`,
    '-f', 'rtp', `rtp://127.0.0.1:${videoPort}?pkt_size=1200`,
    '-map', '1:a', '-c:a', 'libopus', '-b:a', '96k', '-ac', '2', '-f', 'rtp', `rtp://127.0.0.1:${audioPort}?pkt_size=1200`,
  ], { stdio: ['ignore', 'ignore', 'ignore'] });
}
