/**
 * Real-time playback over WebRTC: a WHEP client (the WHEP draft, draft-ietf-wish-whep; no
 * trickle ICE: the offer is POSTed once gathering completed) playing one live channel's source
 * rendition in the page's `<video>`. The ingest forwards the published H.264 as is and the audio
 * as Opus, under a second behind the publisher. Private and encrypted channels take the
 * playback token (`POST /api/streams/{id}/playback-token`) as `Authorization: Bearer`.
 *
 * Anything that stops real-time playback (a refusal such as 422 SOURCE_NOT_WEBRTC_COMPATIBLE,
 * ICE or DTLS failing, no video within {@link WHEP_FIRST_FRAME_TIMEOUT_MS}, the connection
 * lost) ends in `failed` with a reason: the player page then falls back to LL-HLS.
 */
import { useEffect, useState, type RefObject } from 'react';
import { errorMessage, type PlaybackToken } from './api';

/** No decoded video this long after the answer: real-time playback is given up, ms. */
export const WHEP_FIRST_FRAME_TIMEOUT_MS = 10_000;
/** ICE gathering longer than this goes on with the candidates found so far, ms. */
const ICE_GATHERING_TIMEOUT_MS = 3_000;

/** State of the real-time player. */
export interface WhepPlayerState {
  /** `connecting` until the first frame plays; `failed` means: fall back to HLS. */
  readonly state: 'idle' | 'connecting' | 'playing' | 'failed';
  /** Why real-time playback stopped (viewer-facing), when `failed`. */
  readonly failed: string | null;
}

/** What the test harness can reach as `window.__whep`. */
export interface WhepHandle {
  readonly pc: RTCPeerConnection;
  readonly video: HTMLVideoElement;
}

declare global {
  interface Window {
    __whep?: WhepHandle;
  }
}

/**
 * The viewer-facing reason of a refused WHEP offer: the server's `{ code, message }` message
 * when the body is one, else the HTTP status. Pure.
 */
export function whepRefusalReason(status: number, body: string): string {
  try {
    const o = JSON.parse(body) as { message?: unknown };
    if (typeof o.message === 'string' && o.message) return o.message;
  } catch {
    // not JSON
  }
  return `the real-time server answered HTTP ${status}`;
}

/** Resolves when ICE gathering completed (or after a bound, with what was gathered). */
function gathered(pc: RTCPeerConnection): Promise<void> {
  return new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    const done = () => {
      clearTimeout(t);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    };
    const check = () => { if (pc.iceGatheringState === 'complete') done(); };
    const t = setTimeout(done, ICE_GATHERING_TIMEOUT_MS);
    pc.addEventListener('icegatheringstatechange', check);
  });
}

/**
 * Plays `url` (a WHEP endpoint) in the `<video>` behind `videoRef` while `url` is not null.
 * With `playbackId`, a playback token is fetched first (`fetchPlaybackToken`) and sent as
 * Bearer token. Tears down (DELETE on the session's resource, peer connection closed) when
 * `url` changes or on unmount. Never throws: failures end in `failed`.
 */
export function useWhepPlayer(
  videoRef: RefObject<HTMLVideoElement | null>,
  url: string | null,
  { playbackId, fetchPlaybackToken }: { playbackId: string | null; fetchPlaybackToken: (id: string, signal: AbortSignal) => Promise<PlaybackToken> },
): WhepPlayerState {
  const [state, setState] = useState<WhepPlayerState>({ state: 'idle', failed: null });
  useEffect(() => {
    const video = videoRef.current;
    if (!video || url === null) {
      setState({ state: 'idle', failed: null });
      return;
    }
    setState({ state: 'connecting', failed: null });
    const abort = new AbortController();
    const pc = new RTCPeerConnection();
    let resource: string | null = null;
    let token: string | null = null;
    let firstFrame: ReturnType<typeof setTimeout> | undefined;
    const fail = (reason: string) => {
      if (abort.signal.aborted) return;
      setState({ state: 'failed', failed: reason });
      teardown();
    };
    const onPlaying = () => {
      clearTimeout(firstFrame);
      if (!abort.signal.aborted) setState({ state: 'playing', failed: null });
    };
    const teardown = () => {
      clearTimeout(firstFrame);
      video.removeEventListener('playing', onPlaying);
      pc.close();
      if (resource) void fetch(resource, { method: 'DELETE', keepalive: true, ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}) }).catch(() => undefined);
      resource = null;
      if (window.__whep?.pc === pc) delete window.__whep;
    };
    const run = async () => {
      if (playbackId) token = (await fetchPlaybackToken(playbackId, abort.signal).catch(() => null))?.token ?? null;
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addTransceiver('audio', { direction: 'recvonly' });
      const stream = new MediaStream();
      pc.ontrack = (e) => {
        stream.addTrack(e.track);
        video.srcObject = stream;
      };
      pc.onconnectionstatechange = () => {
        if (pc.connectionState === 'failed') fail('the WebRTC connection failed');
        else if (pc.connectionState === 'closed') fail('the real-time stream ended');
      };
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc);
      if (abort.signal.aborted) return;
      const res = await fetch(url, {
        method: 'POST', signal: abort.signal, body: pc.localDescription!.sdp,
        headers: { 'content-type': 'application/sdp', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      });
      const body = await res.text();
      if (res.status !== 201) return fail(whepRefusalReason(res.status, body));
      resource = new URL(res.headers.get('location') ?? '', url).href;
      await pc.setRemoteDescription({ type: 'answer', sdp: body });
      video.muted = true;
      video.addEventListener('playing', onPlaying);
      firstFrame = setTimeout(() => fail('no video arrived over WebRTC'), WHEP_FIRST_FRAME_TIMEOUT_MS);
      video.play().catch(() => undefined);
      window.__whep = { pc, video };
    };
    run().catch((err: unknown) => fail(`real-time playback could not start: ${errorMessage(err)}`));
    return () => {
      abort.abort();
      teardown();
      video.srcObject = null;
    };
  }, [videoRef, url, playbackId]);
  return state;
}
