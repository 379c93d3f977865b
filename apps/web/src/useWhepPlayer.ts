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
  /** The technical side of the failure (the server's code and message), for operators and tests; not shown as text. */
  readonly diagnostic: string | null;
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

/** What a viewer is told for the refusal codes a WHEP endpoint answers (`apps/ingest/src/whep/endpoint.ts`). */
const REFUSAL_TEXT: Readonly<Record<string, string>> = {
  SOURCE_NOT_WEBRTC_COMPATIBLE: 'this broadcast cannot be sent in real time',
  TOO_MANY_SESSIONS: 'the real-time server is full',
  TOO_MANY_SESSIONS_FROM_ADDRESS: 'too many real-time players from this address',
  CHANNEL_OFFLINE: 'the broadcast is not available in real time here',
  SDP_UNSUPPORTED_CODEC: 'this browser cannot play the broadcast in real time',
};

/**
 * A refused WHEP offer: the viewer-facing `reason` (by the `{ code, message }` body's code; the
 * server's message for codes without a text, e.g. the playback-token ones; else the HTTP
 * status) and the `diagnostic` (code and message, or status and body start). Pure.
 */
export function whepRefusal(status: number, body: string): { reason: string; diagnostic: string } {
  try {
    const o = JSON.parse(body) as { code?: unknown; message?: unknown };
    const code = typeof o.code === 'string' ? o.code : '';
    const message = typeof o.message === 'string' ? o.message : '';
    if (code || message) return { reason: REFUSAL_TEXT[code] ?? (message || `the real-time server answered HTTP ${status}`), diagnostic: `${status} ${code}: ${message}` };
  } catch {
    // not JSON
  }
  return { reason: `the real-time server answered HTTP ${status}`, diagnostic: `${status} ${body.slice(0, 200)}` };
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
  const [state, setState] = useState<WhepPlayerState>({ state: 'idle', failed: null, diagnostic: null });
  useEffect(() => {
    const video = videoRef.current;
    if (!video || url === null) {
      setState({ state: 'idle', failed: null, diagnostic: null });
      return;
    }
    setState({ state: 'connecting', failed: null, diagnostic: null });
    const abort = new AbortController();
    const pc = new RTCPeerConnection();
    let resource: string | null = null;
    let token: string | null = null;
    let firstFrame: ReturnType<typeof setTimeout> | undefined;
    const fail = (reason: string, diagnostic: string | null = null) => {
      if (abort.signal.aborted) return;
      setState({ state: 'failed', failed: reason, diagnostic });
      teardown();
    };
    const onPlaying = () => {
      clearTimeout(firstFrame);
      if (!abort.signal.aborted) setState({ state: 'playing', failed: null, diagnostic: null });
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
      if (res.status !== 201) {
        const refusal = whepRefusal(res.status, body);
        return fail(refusal.reason, refusal.diagnostic);
      }
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
