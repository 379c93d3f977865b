/**
 * HLS playback for one `<video>` element: hls.js where Media Source Extensions exist, the
 * browser's native HLS otherwise (Safari/iOS). Error recovery follows the hls.js API guide
 * ("Fatal Error Recovery"): non-fatal errors are left to hls.js' own retries, fatal network
 * errors are retried with `startLoad()` (or a fresh `loadSource()` when the master playlist
 * itself never loaded) after a growing delay, fatal media errors with `recoverMediaError()`.
 */
import Hls, { ErrorDetails, ErrorTypes, Events, type ErrorData } from 'hls.js';
import { useCallback, useEffect, useRef, useState, type RefObject } from 'react';
import { attachTelemetry } from './playerTelemetry';

/** What the test harness (and a curious developer) can reach as `window.__player`. */
export interface PlayerHandle {
  readonly video: HTMLVideoElement;
  /** null when the browser plays HLS natively. */
  readonly hls: Hls | null;
}

declare global {
  interface Window {
    __player?: PlayerHandle;
  }
}

/** Coarse playback state shown on the status line. */
export type PlaybackState = 'loading' | 'buffering' | 'playing' | 'paused' | 'ended' | 'error';

/** One rendition (hls.js "level") of the master playlist. `bitrate` in bits per second. */
export interface Rendition {
  readonly index: number;
  readonly height: number;
  readonly width: number;
  readonly bitrate: number;
  /** e.g. "720p", or "1200 kbps" when the playlist declares no RESOLUTION. */
  readonly label: string;
}

/** Everything the player UI renders. */
export interface PlayerState {
  readonly state: PlaybackState;
  /** Human-readable detail for the state (hls.js error type/details, retry countdown…). */
  readonly detail: string | null;
  /** Last non-fatal hls.js error, kept for the status line; hls.js recovers from these itself. */
  readonly warning: string | null;
  readonly renditions: readonly Rendition[];
  /** Selected level: -1 = Auto (ABR), otherwise an index into `renditions`. */
  readonly selectedLevel: number;
  /** Level currently playing (after a switch), -1 when unknown. */
  readonly playingLevel: number;
  /** True when quality can be chosen (hls.js, not native HLS). */
  readonly canSelectQuality: boolean;
}

/** Options of {@link usePlayer}. */
export interface PlayerOptions {
  /** Live playlists start `liveSyncDurationCount` segments behind the live edge. */
  readonly live: boolean;
  /**
   * The broadcast session being played, for the QoE beacons (playerTelemetry.ts); null while
   * unknown (beacons wait for it). May change without restarting playback.
   */
  readonly sessionId?: string | null;
  /** Send QoE beacons to `POST /api/beacons` (default true). */
  readonly telemetry?: boolean;
}

const MAX_RETRY_DELAY_MS = 10_000;

/** Delay before the n-th (1-based) retry of a fatal network error: 1 s, 2 s, 4 s, … ≤ 10 s. */
export function retryDelayMs(attempt: number): number {
  return Math.min(1000 * 2 ** Math.max(0, attempt - 1), MAX_RETRY_DELAY_MS);
}

/** "networkError/levelLoadError (HTTP 404)" — the hls.js error type, details and HTTP status. */
export function describeHlsError(data: Pick<ErrorData, 'type' | 'details' | 'response'>): string {
  const code = data.response?.code;
  return `${data.type}/${data.details}${code ? ` (HTTP ${code})` : ''}`;
}

function toRenditions(levels: readonly { height: number; width: number; bitrate: number }[]): Rendition[] {
  const heights = levels.map((l) => l.height);
  return levels.map((l, index) => {
    const kbps = `${Math.round(l.bitrate / 1000)} kbps`;
    const duplicate = heights.indexOf(l.height) !== heights.lastIndexOf(l.height);
    const label = l.height > 0 ? `${l.height}p${duplicate ? ` · ${kbps}` : ''}` : kbps;
    return { index, height: l.height, width: l.width, bitrate: l.bitrate, label };
  });
}

/** Errors raised while the master playlist itself loads: `startLoad()` cannot recover them. */
const MANIFEST_ERRORS: ReadonlySet<string> = new Set([
  ErrorDetails.MANIFEST_LOAD_ERROR,
  ErrorDetails.MANIFEST_LOAD_TIMEOUT,
  ErrorDetails.MANIFEST_PARSING_ERROR,
]);

/**
 * Plays `src` (a same-origin HLS master playlist URL) in the `<video>` behind `videoRef`,
 * muted and auto-started (browsers only autoplay muted media without a user gesture).
 * Re-initialises when `src` or `live` change; tears hls.js down on unmount.
 * Publishes `window.__player` for tests. Never throws; failures end up in `state`/`detail`.
 * Unless `telemetry` is false, each playback (each `src`) is one playback session of QoE
 * beacons (attachTelemetry), ended when the source changes or the player unmounts.
 */
export function usePlayer(
  videoRef: RefObject<HTMLVideoElement | null>,
  src: string,
  { live, sessionId = null, telemetry = true }: PlayerOptions,
): PlayerState & { selectLevel: (level: number) => void } {
  const [state, setState] = useState<PlayerState>(initialState);
  const hlsRef = useRef<Hls | null>(null);
  const sessionIdRef = useRef<string | null>(sessionId);
  sessionIdRef.current = sessionId;

  useEffect(() => {
    const video = videoRef.current;
    if (!video) return;
    setState(initialState);
    const patch = (p: Partial<PlayerState>) => setState((s) => ({ ...s, ...p }));
    const timers = new Set<ReturnType<typeof setTimeout>>();
    const later = (ms: number, fn: () => void) => {
      const t = setTimeout(() => {
        timers.delete(t);
        fn();
      }, ms);
      timers.add(t);
    };

    video.muted = true;
    const play = () => {
      video.play().catch((err: unknown) => {
        // NotAllowedError (autoplay policy) or AbortError (source replaced): the native
        // controls remain usable, so report and carry on.
        if (err instanceof DOMException && err.name === 'AbortError') return;
        patch({ state: 'paused', detail: `autoplay blocked: ${err instanceof Error ? err.message : String(err)}` });
      });
    };

    const onVideo: Record<string, () => void> = {
      waiting: () => patch({ state: 'buffering', detail: null }),
      playing: () => patch({ state: 'playing', detail: null }),
      pause: () => {
        if (!video.ended) patch({ state: 'paused', detail: null });
      },
      ended: () => patch({ state: 'ended', detail: live ? 'the broadcast has ended' : null }),
      error: () => {
        // Only meaningful for native HLS; with hls.js, media errors arrive as hls.js errors.
        if (!hlsRef.current) patch({ state: 'error', detail: `media error ${video.error?.code ?? '?'}: ${video.error?.message ?? ''}` });
      },
    };
    for (const [name, fn] of Object.entries(onVideo)) video.addEventListener(name, fn);

    let hls: Hls | null = null;
    if (Hls.isSupported()) {
      hls = new Hls({
        // Live: start 3 segments behind the live edge (RFC 8216 6.3.3: a client SHOULD NOT
        // start closer than three target durations from the end), trading latency for fewer
        // stalls. Ignored for VOD (playlists with EXT-X-ENDLIST).
        liveSyncDurationCount: 3,
      });
      hlsRef.current = hls;
      const h = hls;
      let networkRetries = 0;
      let lastMediaRecovery = 0;
      let manifestLoaded = false;

      h.on(Events.MANIFEST_PARSED, (_e, data) => {
        manifestLoaded = true;
        patch({ renditions: toRenditions(data.levels), canSelectQuality: true, detail: null });
        play();
      });
      h.on(Events.LEVEL_SWITCHED, (_e, data) => patch({ playingLevel: data.level }));
      h.on(Events.FRAG_LOADED, () => {
        networkRetries = 0;
      });
      // After a recovered error the <video> may never have stalled (no 'playing' event), so
      // clear the error once media is flowing again.
      h.on(Events.FRAG_BUFFERED, () =>
        setState((s) => (s.state === 'error' ? { ...s, state: video.paused ? 'buffering' : 'playing', detail: null } : s)),
      );
      h.on(Events.ERROR, (_e, data) => {
        const what = describeHlsError(data);
        if (!data.fatal) {
          patch({ warning: what });
          return;
        }
        switch (data.type) {
          case ErrorTypes.NETWORK_ERROR: {
            networkRetries += 1;
            const delay = retryDelayMs(networkRetries);
            patch({ state: 'error', detail: `${what} — retrying in ${Math.round(delay / 1000)} s` });
            later(delay, () => {
              if (!manifestLoaded && MANIFEST_ERRORS.has(data.details)) h.loadSource(src);
              else h.startLoad();
            });
            return;
          }
          case ErrorTypes.MEDIA_ERROR: {
            const now = performance.now();
            // A second media error within 3 s: the codec guess may be wrong (hls.js guide).
            if (now - lastMediaRecovery < 3000) h.swapAudioCodec();
            lastMediaRecovery = now;
            patch({ state: 'error', detail: `${what} — recovering` });
            h.recoverMediaError();
            return;
          }
          default:
            patch({ state: 'error', detail: `${what} — playback stopped` });
            h.destroy();
            hlsRef.current = null;
        }
      });
      h.loadSource(src);
      h.attachMedia(video);
    } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
      video.src = src;
      play();
    } else {
      patch({ state: 'error', detail: 'This browser cannot play HLS (no Media Source Extensions, no native HLS).' });
    }

    const handle: PlayerHandle = { video, hls };
    window.__player = handle;
    const detachTelemetry = telemetry ? attachTelemetry(video, hls, { live, sessionId: () => sessionIdRef.current }) : null;

    return () => {
      detachTelemetry?.(); // first: session_end reads the position before the source is removed
      for (const t of timers) clearTimeout(t);
      for (const [name, fn] of Object.entries(onVideo)) video.removeEventListener(name, fn);
      if (hls && hlsRef.current === hls) hls.destroy(); // else already destroyed on a fatal error
      hlsRef.current = null;
      video.removeAttribute('src');
      video.load();
      if (window.__player === handle) delete window.__player;
    };
  }, [videoRef, src, live, telemetry]);

  const selectLevel = useCallback((level: number) => {
    const hls = hlsRef.current;
    if (!hls) return;
    // currentLevel switches immediately (flushes the buffer); -1 re-enables ABR.
    hls.currentLevel = level;
    setState((s) => ({ ...s, selectedLevel: level }));
  }, []);

  return { ...state, selectLevel };
}

const initialState: PlayerState = {
  state: 'loading',
  detail: null,
  warning: null,
  renditions: [],
  selectedLevel: -1,
  playingLevel: -1,
  canSelectQuality: false,
};
