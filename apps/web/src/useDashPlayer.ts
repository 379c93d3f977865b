/**
 * MPEG-DASH playback for one `<video>` element with Shaka Player (its DASH-only build), loaded
 * on first use (a separate chunk: the main bundle and HLS viewers never download it). The MPD
 * is the edge's (`/live/<channelId>/manifest.mpd`, `/sessions/<sessionId>/vod.mpd`), over the
 * same segments as the HLS playlists. Shaka's own retries handle network errors; a critical
 * error (its `error` event with severity CRITICAL, or a failed `load`) ends in `error` with
 * Shaka's code as diagnostic; every error is recorded on `window.__dashPlayer` for tests.
 *
 * With `playbackId`, a playback token is fetched first (as for HLS, `POST
 * /api/streams/{id}/playback-token`) and renewed before it expires; a request filter sets the
 * current token on every MPD and segment request (the edge writes the token of the MPD request
 * into the segment URLs, which may be older). A 401/403 answer ends in `refused`.
 *
 * Low latency (`lowLatency`, live only): Shaka's `streaming.lowLatencyMode` is on, so it honours
 * the live MPD's low-latency DASH (`availabilityTimeOffset`: it requests the segment being
 * written and appends its chunks as the edge sends them; `ServiceDescription`: its target
 * latency and catch-up rate; `UTCTiming`: the edge's clock).
 */
import { useEffect, useState, type RefObject } from 'react';
import { ApiError, errorMessage, requestPlaybackToken, tokenRenewDelayMs, withPlaybackToken, type PlaybackToken } from './api';
import type { PlaybackState } from './usePlayer';
import { appSession } from './useSession';

/** What the DASH player UI renders (a subset of the HLS player's state). */
export interface DashPlayerState {
  readonly state: PlaybackState;
  /** Viewer-facing detail ("Playback problem"); never raw player error text. */
  readonly detail: string | null;
  /** Shaka's error (`shaka <category>/<code>`) or the token failure, for operators and tests. */
  readonly diagnostic: string | null;
  /** The API refused a playback token; playback does not start. */
  readonly refused: string | null;
}

/** Options of {@link useDashPlayer}. */
export interface DashPlayerOptions {
  /** Channel id (live) or session id (VOD) to get a playback token for; null: play without one. */
  readonly playbackId?: string | null;
  /** How the token is fetched (default: through the app session). */
  readonly fetchPlaybackToken?: (id: string, signal: AbortSignal) => Promise<PlaybackToken>;
  /** Play a live MPD in Shaka's low-latency mode (`streaming.lowLatencyMode`); default false (VOD, or the viewer turned it off). */
  readonly lowLatency?: boolean;
}

/** The Shaka player of the page, for tests (`window.__dashPlayer`). */
export interface DashPlayerHandle {
  readonly video: HTMLVideoElement;
  /** Fatal and non-fatal Shaka errors seen, as `shaka <category>/<code>` (Shaka's `shaka.util.Error`). */
  readonly errors: string[];
  /** Shaka's low-latency mode is on. */
  readonly lowLatency: boolean;
  /**
   * Live: seconds from the playhead's wall-clock time (Shaka's `getPlayheadTimeAsDate`, the MPD's
   * timeline) to now; null before Shaka loaded the MPD or for VOD.
   */
  latency(): number | null;
}

declare global {
  interface Window {
    __dashPlayer?: DashPlayerHandle;
  }
}

const IDLE: DashPlayerState = { state: 'idle', detail: null, diagnostic: null, refused: null };

const defaultFetchToken = (id: string, signal: AbortSignal) =>
  requestPlaybackToken(id, (path, opts) => appSession().request(path, { ...opts, auth: 'optional' }), signal);

/** `shaka <category>/<code>` of a Shaka error (or the message of anything else). */
export function describeShakaError(err: unknown): string {
  const e = err as { category?: unknown; code?: unknown } | null;
  return e && typeof e.code === 'number' ? `shaka ${String(e.category)}/${e.code}` : errorMessage(err);
}

/**
 * Plays `src` (an MPD URL; null: nothing) in `videoRef`'s element with Shaka Player, muted and
 * autoplaying like the HLS player. Re-initialises when `src` or `playbackId` change; destroys
 * the player on unmount. Never throws.
 */
export function useDashPlayer(videoRef: RefObject<HTMLVideoElement | null>, src: string | null, { playbackId = null, fetchPlaybackToken = defaultFetchToken, lowLatency = false }: DashPlayerOptions = {}): DashPlayerState {
  const [state, setState] = useState<DashPlayerState>(IDLE);
  useEffect(() => {
    const video = videoRef.current;
    if (!video || src === null) {
      setState(IDLE);
      return;
    }
    const patch = (p: Partial<DashPlayerState>) => setState((s) => ({ ...s, ...p }));
    setState({ ...IDLE, state: 'loading' });
    const abort = new AbortController();
    let playheadDate: (() => Date | null) | undefined;
    const handle: DashPlayerHandle = {
      video, errors: [], lowLatency,
      latency: () => {
        const at = playheadDate?.();
        return at ? (Date.now() - at.getTime()) / 1000 : null;
      },
    };
    window.__dashPlayer = handle;
    let token: string | null = null;
    let renewTimer: ReturnType<typeof setTimeout> | undefined;
    let destroy: (() => Promise<void>) | undefined;
    const fail = (err: unknown) => {
      if (abort.signal.aborted) return;
      handle.errors.push(describeShakaError(err));
      // Shaka retries RECOVERABLE (severity 1) errors itself: only CRITICAL ones (or a failed load) stop playback
      if ((err as { severity?: unknown } | null)?.severity === 1) return;
      patch({ state: 'error', detail: 'Playback problem', diagnostic: describeShakaError(err) });
    };
    const onVideo: Record<string, () => void> = {
      waiting: () => patch({ state: 'buffering' }),
      playing: () => patch({ state: 'playing', detail: null }),
      pause: () => { if (!video.ended) patch({ state: 'paused' }); },
      ended: () => patch({ state: 'ended' }),
    };
    for (const [name, fn] of Object.entries(onVideo)) video.addEventListener(name, fn);
    const renew = (t: PlaybackToken) => {
      token = t.token;
      renewTimer = setTimeout(() => {
        fetchPlaybackToken(playbackId!, abort.signal).then(renew, () => undefined);
      }, tokenRenewDelayMs(Date.parse(t.expiresAt), Date.now()));
    };
    const start = async () => {
      if (playbackId) {
        try {
          renew(await fetchPlaybackToken(playbackId, abort.signal));
        } catch (err) {
          if (abort.signal.aborted) return;
          if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
            patch({ state: 'idle', refused: err.message });
            return;
          }
        }
      }
      const { default: shaka } = await import('shaka-player/dist/shaka-player.dash.js');
      if (abort.signal.aborted) return;
      shaka.polyfill.installAll();
      const player = new shaka.Player();
      destroy = () => player.destroy();
      player.configure({ streaming: { lowLatencyMode: lowLatency } });
      playheadDate = () => (player.isLive() ? player.getPlayheadTimeAsDate() : null);
      player.addEventListener('error', (e: Event) => fail((e as Event & { detail?: unknown }).detail));
      player.getNetworkingEngine()?.registerRequestFilter((_type: unknown, request: { uris: string[] }) => {
        request.uris = request.uris.map((u) => withPlaybackToken(u, token));
      });
      await player.attach(video);
      video.muted = true;
      await player.load(withPlaybackToken(src, token));
      if (abort.signal.aborted) return;
      video.play().catch(() => patch({ state: 'paused', detail: 'press play to start' }));
    };
    start().catch(fail);
    return () => {
      abort.abort();
      clearTimeout(renewTimer);
      for (const [name, fn] of Object.entries(onVideo)) video.removeEventListener(name, fn);
      void destroy?.().catch(() => undefined);
      if (window.__dashPlayer === handle) delete window.__dashPlayer;
    };
  }, [videoRef, src, playbackId, lowLatency]);
  return state;
}
