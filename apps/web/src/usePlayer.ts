/**
 * HLS playback for one `<video>` element: hls.js where Media Source Extensions exist, the
 * browser's native HLS otherwise (Safari/iOS). Error recovery follows the hls.js API guide
 * ("Fatal Error Recovery"): non-fatal errors are left to hls.js' own retries, fatal network
 * errors are retried with `startLoad()` (or a fresh `loadSource()` when the master playlist
 * itself never loaded, or when it lists several edges) after a growing delay, fatal media
 * errors with `recoverMediaError()`. HLS Content Steering (RFC 8216bis §4.4.6.6) is hls.js'
 * own (the full build's ContentSteeringController, on by default): when the master playlist
 * lists the variants on several edges (Pathways), hls.js follows the API's steering manifest
 * and moves off an edge whose requests fail without a fatal error; the playback token goes to
 * those edges too.
 */
import Hls, { ErrorDetails, ErrorTypes, Events, type ErrorData } from 'hls.js';
import { useCallback, useEffect, useRef, useState, type RefObject } from 'react';
import { ApiError, errorMessage, pathwayOrigins, requestPlaybackToken, tokenRenewDelayMs, withPlaybackToken, type PlaybackToken } from './api';
import { attachLiveCatchUp } from './liveCatchUp';
import { attachTelemetry } from './playerTelemetry';
import { appSession } from './useSession';

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

/**
 * Coarse playback state shown on the status line. `idle`: nothing to play (no source: an
 * offline channel); `ended`: a VOD played to its end, or a live broadcast that ended (then the
 * player has stopped loading).
 */
export type PlaybackState = 'idle' | 'loading' | 'buffering' | 'playing' | 'paused' | 'ended' | 'error';

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
  /** Viewer-facing detail for the state ("Connection problem — retrying in 4 s"…); never raw player error text. */
  readonly detail: string | null;
  /**
   * The technical side of the last error, for operators and tests (not shown as text): the
   * hls.js error type, details and HTTP status ({@link describeHlsError}), or the token failure.
   */
  readonly diagnostic: string | null;
  /** Last non-fatal hls.js error ({@link describeHlsError}); hls.js recovers from these itself. Not shown as text. */
  readonly warning: string | null;
  readonly renditions: readonly Rendition[];
  /** Selected level: -1 = Auto (ABR), otherwise an index into `renditions`. */
  readonly selectedLevel: number;
  /** Level currently playing (after a switch), -1 when unknown. */
  readonly playingLevel: number;
  /** True when quality can be chosen (hls.js, not native HLS). */
  readonly canSelectQuality: boolean;
  /** The API refused a playback token (e.g. "This stream is for followers of the channel…"); playback does not start. */
  readonly refused: string | null;
  /** Live: seconds the playhead is behind the live edge (hls.js `liveSyncPosition`), null when unknown or not live. */
  readonly behindLiveSeconds: number | null;
  /** Live: seconds of the seek-back (DVR) window, the `<video>`'s seekable range; 0 when unknown. */
  readonly dvrWindowSeconds: number;
  /**
   * Live: how long ago (s, one decimal) the frame on screen was captured, from the playlist's
   * EXT-X-PROGRAM-DATE-TIME (hls.js `playingDate`; assumes the viewer's clock is in sync), else
   * the distance from the live edge (hls.js `latency`); null before playback or for VOD.
   */
  readonly latencySeconds: number | null;
  /**
   * The current playback token (null before the first one, or without `playbackId`), for other
   * requests of the same stream the page makes, e.g. the VOD's thumbnails track.
   */
  readonly playbackToken: string | null;
}

/** Options of {@link usePlayer}. */
export interface PlayerOptions {
  /** A live stream (played PART-HOLD-BACK behind the edge when low-latency, else three target durations). */
  readonly live: boolean;
  /**
   * The broadcast session being played, for the QoE beacons (playerTelemetry.ts); null while
   * unknown (beacons wait for it). May change without restarting playback.
   */
  readonly sessionId?: string | null;
  /** Send QoE beacons to `POST /api/beacons` (default true). */
  readonly telemetry?: boolean;
  /**
   * Channel id (live) or session id (VOD) to get a playback token for before loading
   * (`POST /api/streams/{id}/playback-token`); null/absent: play without a token.
   */
  readonly playbackId?: string | null;
  /** How the token is fetched (default: through the app session, with the viewer's access token). Tests inject one. */
  readonly fetchPlaybackToken?: (id: string, signal: AbortSignal) => Promise<PlaybackToken>;
  /**
   * Live: asked when a playlist or media request of the stream answers HTTP 404 (the edge's
   * answer once the channel's session is over); resolves true when the broadcast has ended,
   * then the player stops loading and reports `ended`. Rejections count as "not ended".
   * Called at most once at a time.
   */
  readonly hasEnded?: () => Promise<boolean>;
  /**
   * Live: low-latency mode (default true): parts, PART-HOLD-BACK behind the edge, blocking
   * reloads. False plays as regular HLS, three target durations behind the edge (steadier on a
   * poor connection). Changing it restarts the player.
   */
  readonly lowLatency?: boolean;
}

/** Behind the live edge by more than this (s): the player shows how far and offers "Go live". */
export const BEHIND_LIVE_THRESHOLD_SECONDS = 3;

/** Fetches a playback token through the app session (with the viewer's access token when signed in). */
export const defaultFetchToken = (id: string, signal: AbortSignal): Promise<PlaybackToken> =>
  requestPlaybackToken(id, (path, opts) => appSession().request(path, { ...opts, auth: 'optional' }), signal);

const MAX_RETRY_DELAY_MS = 10_000;
/** Highest playback rate of the live catch-up (liveCatchUp.ts); audio stays intelligible at 1.5x. */
const LIVE_CATCH_UP_MAX_RATE = 1.5;

/**
 * The latency readout (see {@link PlayerState.latencySeconds}) of a live hls.js player at
 * `nowMs`: capture-to-screen from `playingDate` when the playlist has program date-times, else
 * the distance behind the live edge (`latency`); rounded to 0.1 s; null before playback.
 */
export function playbackLatency(hls: Pick<Hls, 'playingDate' | 'latency'> | null, nowMs: number): number | null {
  if (!hls) return null;
  const date = hls.playingDate;
  const seconds = date ? (nowMs - date.getTime()) / 1000 : hls.latency;
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 24 * 3600) return null;
  return Math.round(seconds * 10) / 10;
}

/** Delay before the n-th (1-based) retry of a fatal network error: 1 s, 2 s, 4 s, … ≤ 10 s. */
export function retryDelayMs(attempt: number): number {
  return Math.min(1000 * 2 ** Math.max(0, attempt - 1), MAX_RETRY_DELAY_MS);
}

/**
 * What a viewer is told about a fatal hls.js error: "Connection problem" for network errors,
 * "Playback problem" for media errors (the technical side is {@link describeHlsError}).
 */
export function viewerErrorText(data: Pick<ErrorData, 'type'>): string {
  return data.type === ErrorTypes.NETWORK_ERROR ? 'Connection problem' : 'Playback problem';
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
 * With `playbackId`, a playback token is fetched first and kept fresh (renewed
 * {@link tokenRenewDelayMs} before expiry); hls.js' `xhrSetup` sets the current token on every
 * request. A 401/403 answer ends in `refused` (the API's message) without loading; other token
 * failures play without a token. A 403 from the edge (e.g. PLAYBACK_TOKEN_STALE: the channel's
 * policy changed after the token was issued) makes the player ask for a new token once (again
 * only after media has loaded since) and resume with it. Live: `behindLiveSeconds` / `dvrWindowSeconds` follow the
 * playhead, and `goLive()` seeks to hls.js' `liveSyncPosition`.
 * Unless `telemetry` is false, each playback (each `src`) is one playback session of QoE
 * beacons (attachTelemetry), ended when the source changes or the player unmounts.
 */
export function usePlayer(
  videoRef: RefObject<HTMLVideoElement | null>,
  src: string | null,
  { live, sessionId = null, telemetry = true, playbackId = null, fetchPlaybackToken = defaultFetchToken, hasEnded, lowLatency = true }: PlayerOptions,
): PlayerState & { selectLevel: (level: number) => void; goLive: () => void } {
  const [state, setState] = useState<PlayerState>(initialState);
  const hlsRef = useRef<Hls | null>(null);
  const sessionIdRef = useRef<string | null>(sessionId);
  sessionIdRef.current = sessionId;
  const fetchTokenRef = useRef(fetchPlaybackToken);
  fetchTokenRef.current = fetchPlaybackToken;
  const hasEndedRef = useRef(hasEnded);
  hasEndedRef.current = hasEnded;

  useEffect(() => {
    const video = videoRef.current;
    if (!video) return;
    if (src === null) {
      setState({ ...initialState, state: 'idle' });
      return;
    }
    setState(initialState);
    const patch = (p: Partial<PlayerState>) => setState((s) => ({ ...s, ...p }));
    const timers = new Set<ReturnType<typeof setTimeout>>();
    // A live broadcast that ended: nothing is loaded or retried any more.
    let over = false;
    const later = (ms: number, fn: () => void) => {
      const t = setTimeout(() => {
        timers.delete(t);
        if (!over) fn();
      }, ms);
      timers.add(t);
    };

    video.muted = true;
    const play = () => {
      video.play().catch((err: unknown) => {
        // NotAllowedError (autoplay policy) or AbortError (source replaced): the native
        // controls remain usable, so report and carry on.
        if (err instanceof DOMException && err.name === 'AbortError') return;
        patch({ state: 'paused', detail: 'press play to start', diagnostic: `autoplay blocked: ${err instanceof Error ? err.message : String(err)}` });
      });
    };

    // DVR: how far behind the live edge the playhead is, and how far back the viewer can seek
    const updateDvr = () => {
      if (!live) return;
      const seekable = video.seekable;
      const span = seekable.length > 0 ? seekable.end(seekable.length - 1) - seekable.start(0) : 0;
      const edge = hlsRef.current?.liveSyncPosition ?? (seekable.length > 0 ? seekable.end(seekable.length - 1) : null);
      const behind = edge === null || !Number.isFinite(edge) ? null : Math.max(0, Math.round(edge - video.currentTime));
      const latency = playbackLatency(hlsRef.current, Date.now());
      setState((st) => (st.behindLiveSeconds === behind && Math.abs(st.dvrWindowSeconds - Math.round(span)) < 1 && st.latencySeconds === latency
        ? st
        : { ...st, behindLiveSeconds: behind, dvrWindowSeconds: Math.round(span), latencySeconds: latency }));
    };

    const onVideo: Record<string, () => void> = {
      timeupdate: updateDvr,
      seeked: updateDvr,
      // After a live broadcast ended, the buffered tail may still play: the state stays `ended`.
      waiting: () => { if (!over) patch({ state: 'buffering', detail: null }); },
      playing: () => { if (!over) patch({ state: 'playing', detail: null }); },
      pause: () => {
        if (!video.ended && !over) patch({ state: 'paused', detail: null });
      },
      ended: () => patch({ state: 'ended', detail: null }),
      error: () => {
        // Only meaningful for native HLS; with hls.js, media errors arrive as hls.js errors.
        if (!hlsRef.current) patch({ state: 'error', detail: 'Playback problem', diagnostic: `media error ${video.error?.code ?? '?'}: ${video.error?.message ?? ''}` });
      },
    };
    for (const [name, fn] of Object.entries(onVideo)) video.addEventListener(name, fn);

    // The current playback token (renewed before it expires); every request hls.js makes carries it.
    let token: string | null = null;
    // Content steering (RFC 8216bis §4.4.6.6): the other edges the master playlist lists get the
    // token too (the player may move to them); the steering manifest's URL never does.
    const tokenOrigins = new Set<string>();
    let steeringUri: string | null = null;
    // After a fatal network error with several edges: the master playlist from the page's origin,
    // then from each other edge in turn (the same path), whichever answers.
    let masterAttempt = 0;
    const nextMaster = (): string => {
      const path = new URL(src, window.location.href).pathname;
      const candidates = [src, ...[...tokenOrigins].map((o) => new URL(path, o).href)];
      masterAttempt += 1;
      return withPlaybackToken(candidates[masterAttempt % candidates.length]!, token, window.location.href, tokenOrigins);
    };
    const tokenAbort = new AbortController();
    const source = () => withPlaybackToken(src, token);
    let hls: Hls | null = null;
    let detachTelemetry: (() => void) | null = null;
    let detachCatchUp: (() => void) | null = null;
    let handle: PlayerHandle | null = null;

    // Renewals form one chain of timers; a renewal forced by the edge starts a new chain and
    // ends the earlier one (its pending timer then does nothing).
    let renewChain = 0;
    const renewToken = (attempt: number, chain = renewChain) => {
      if (!playbackId || chain !== renewChain) return;
      fetchTokenRef.current(playbackId, tokenAbort.signal).then(
        (t) => {
          if (tokenAbort.signal.aborted || chain !== renewChain) return;
          token = t.token;
          patch({ playbackToken: t.token });
          later(tokenRenewDelayMs(Date.parse(t.expiresAt), Date.now()), () => renewToken(1, chain));
        },
        (err: unknown) => {
          if (tokenAbort.signal.aborted || chain !== renewChain) return;
          // keep the current token until it expires; try again with backoff
          patch({ warning: `playback token renewal failed: ${errorMessage(err)}` });
          later(retryDelayMs(attempt), () => renewToken(attempt + 1, chain));
        },
      );
    };
    // The edge refused the current token with 403 (PLAYBACK_TOKEN_STALE after a change of the
    // channel's policy, or an address it is not bound to): ask the API for a new one, once until
    // media loads again. Resolves true with a new token; false when the viewer may no longer
    // watch (shown as `refused`) or the API failed (the regular chain retries).
    let renewedAfterRefusal = false;
    const renewAfterRefusal = (): Promise<boolean> => {
      renewChain += 1;
      const chain = renewChain;
      return fetchTokenRef.current(playbackId!, tokenAbort.signal).then(
        (t) => {
          if (tokenAbort.signal.aborted || chain !== renewChain) return false;
          token = t.token;
          patch({ playbackToken: t.token });
          later(tokenRenewDelayMs(Date.parse(t.expiresAt), Date.now()), () => renewToken(1, chain));
          return true;
        },
        (err: unknown) => {
          if (tokenAbort.signal.aborted || chain !== renewChain) return false;
          if (err instanceof ApiError && err.kind === 'http' && (err.status === 401 || err.status === 403)) {
            patch({ state: 'error', detail: null, refused: err.message });
          } else {
            patch({ warning: `playback token renewal failed: ${errorMessage(err)}` });
            later(retryDelayMs(1), () => renewToken(2, chain));
          }
          return false;
        },
      );
    };

    const start = () => {
      if (Hls.isSupported()) {
        hls = new Hls({
          // Low-latency HLS (RFC 8216bis §6.2.5, Apple LL-HLS): with EXT-X-PART and
          // CAN-BLOCK-RELOAD, hls.js loads parts, holds PART-HOLD-BACK (1.0 s by default) behind the edge
          // and reloads with _HLS_msn/_HLS_part. A playlist without parts plays as regular HLS,
          // three target durations behind the edge (hls.js' default liveSyncDurationCount, as
          // RFC 8216 6.3.3 asks). liveSyncDurationCount must NOT be set here: a user-set value
          // overrides PART-HOLD-BACK (hls.js latency-controller) and made low-latency streams
          // play 6 s behind. Ignored for VOD (playlists with EXT-X-ENDLIST).
          lowLatencyMode: lowLatency,
          // hls.js' own catch-up stays off (its default rate 1): it only speeds up with more than
          // 1 s buffered, which a 1.0 s PART-HOLD-BACK never leaves. attachLiveCatchUp below
          // brings the playhead back to the target latency instead (liveCatchUp.ts).
          // Auto quality never picks a rendition larger than the player shows (its CSS size times
          // the device pixel ratio): a phone or a small window does not download and decode
          // 1080p; fullscreen lifts the cap. A quality the viewer chooses is not capped.
          capLevelToPlayerSize: true,
          // Every playlist, segment, part and key request carries the CURRENT playback token: the
          // edge puts the token of the playlist request into child URIs, which may be older.
          ...(playbackId
            ? {
                xhrSetup: (xhr: XMLHttpRequest, url: string) => {
                  const steering = steeringUri !== null && url.startsWith(steeringUri);
                  xhr.open('GET', steering ? url : withPlaybackToken(url, token, window.location.href, tokenOrigins), true);
                },
              }
            : {}),
        });
        hlsRef.current = hls;
        const h = hls;
        let networkRetries = 0;
        let lastMediaRecovery = 0;
        let manifestLoaded = false;

        h.on(Events.MANIFEST_LOADED, (_e, data) => {
          steeringUri = data.contentSteering?.uri ?? null;
          for (const o of pathwayOrigins(data.url, data.levels.map((l) => l.url))) tokenOrigins.add(o);
        });
        h.on(Events.MANIFEST_PARSED, (_e, data) => {
          manifestLoaded = true;
          patch({ renditions: toRenditions(data.levels), canSelectQuality: true, detail: null });
          play();
        });
        h.on(Events.LEVEL_SWITCHED, (_e, data) => patch({ playingLevel: data.level }));
        h.on(Events.FRAG_LOADED, () => {
          networkRetries = 0;
          renewedAfterRefusal = false;
        });
        // After a recovered error the <video> may never have stalled (no 'playing' event), so
        // clear the error once media is flowing again.
        h.on(Events.FRAG_BUFFERED, () =>
          setState((s) => (s.state === 'error' ? { ...s, state: video.paused ? 'buffering' : 'playing', detail: null } : s)),
        );
        // Live: a 404 may mean the broadcast is over; ask (one question at a time) and stop if so.
        let asking = false;
        const askIfEnded = () => {
          const ask = hasEndedRef.current;
          if (!live || !ask || asking || over) return;
          asking = true;
          ask().then(
            (ended) => {
              asking = false;
              if (!ended || over || hlsRef.current !== h) return;
              over = true;
              h.stopLoad();
              patch({ state: 'ended', detail: null });
            },
            () => { asking = false; },
          );
        };
        h.on(Events.ERROR, (_e, data) => {
          const what = describeHlsError(data);
          if (over) return;
          if (data.response?.code === 404) askIfEnded();
          if (playbackId && data.response?.code === 403 && !renewedAfterRefusal) {
            renewedAfterRefusal = true;
            const fatal = data.fatal;
            if (fatal) patch({ state: 'error', detail: 'Checking access…', diagnostic: what });
            void renewAfterRefusal().then((renewed) => {
              if (!renewed || !fatal || hlsRef.current !== h) return;
              if (!manifestLoaded && MANIFEST_ERRORS.has(data.details)) h.loadSource(source());
              else h.startLoad();
            });
            return;
          }
          if (!data.fatal) {
            patch({ warning: what });
            return;
          }
          switch (data.type) {
            case ErrorTypes.NETWORK_ERROR: {
              networkRetries += 1;
              const delay = retryDelayMs(networkRetries);
              patch({ state: 'error', detail: `${viewerErrorText(data)} — retrying in ${Math.round(delay / 1000)} s`, diagnostic: what });
              // With content steering (several Pathways), hls.js moves off a failing edge by
              // itself; a fatal error means every Pathway is penalized (for 5 minutes, e.g. a
              // second edge failed soon after the first came back). `startLoad()` would stay on
              // the dead one: load a master again, from the next edge (nextMaster), which starts
              // on that edge's own Pathway.
              const steered = tokenOrigins.size > 0;
              const reload = steered || (!manifestLoaded && MANIFEST_ERRORS.has(data.details));
              later(delay, () => {
                if (reload) h.loadSource(steered ? nextMaster() : source());
                else h.startLoad();
              });
              return;
            }
            case ErrorTypes.MEDIA_ERROR: {
              const now = performance.now();
              // A second media error within 3 s: the codec guess may be wrong (hls.js guide).
              if (now - lastMediaRecovery < 3000) h.swapAudioCodec();
              lastMediaRecovery = now;
              patch({ state: 'error', detail: `${viewerErrorText(data)} — recovering`, diagnostic: what });
              h.recoverMediaError();
              return;
            }
            default:
              patch({ state: 'error', detail: `${viewerErrorText(data)} — playback stopped`, diagnostic: what });
              h.destroy();
              hlsRef.current = null;
          }
        });
        h.loadSource(source());
        h.attachMedia(video);
        // Drifted behind the target latency (the start, a stall): play up to 1.5x until back on it.
        detachCatchUp = attachLiveCatchUp(h, video, { maxRate: LIVE_CATCH_UP_MAX_RATE });
      } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
        // Native HLS cannot rewrite requests: the token in the master URL is used until the page reloads.
        video.src = source();
        play();
      } else {
        patch({ state: 'error', detail: 'This browser cannot play HLS (no Media Source Extensions, no native HLS).' });
      }

      handle = { video, hls };
      window.__player = handle;
      detachTelemetry = telemetry ? attachTelemetry(video, hls, { live, sessionId: () => sessionIdRef.current }) : null;
    };

    if (playbackId) {
      patch({ detail: 'requesting a playback token' });
      fetchTokenRef.current(playbackId, tokenAbort.signal).then(
        (t) => {
          if (tokenAbort.signal.aborted) return;
          token = t.token;
          patch({ playbackToken: t.token });
          later(tokenRenewDelayMs(Date.parse(t.expiresAt), Date.now()), () => renewToken(1));
          start();
        },
        (err: unknown) => {
          if (tokenAbort.signal.aborted) return;
          if (err instanceof ApiError && err.kind === 'http' && (err.status === 401 || err.status === 403)) {
            // the viewer may not watch: say why, do not start
            patch({ state: 'error', detail: null, refused: err.message });
            return;
          }
          // API unreachable, unknown stream…: try without a token (the edge decides)
          patch({ warning: `no playback token: ${errorMessage(err)}` });
          start();
        },
      );
    } else {
      start();
    }

    return () => {
      tokenAbort.abort();
      detachTelemetry?.(); // first: session_end reads the position before the source is removed
      detachCatchUp?.();
      for (const t of timers) clearTimeout(t);
      for (const [name, fn] of Object.entries(onVideo)) video.removeEventListener(name, fn);
      if (hls && hlsRef.current === hls) hls.destroy(); // else already destroyed on a fatal error
      hlsRef.current = null;
      video.removeAttribute('src');
      video.load();
      if (handle && window.__player === handle) delete window.__player;
    };
  }, [videoRef, src, live, telemetry, playbackId, lowLatency]);

  const selectLevel = useCallback((level: number) => {
    const hls = hlsRef.current;
    if (!hls) return;
    // currentLevel switches immediately (flushes the buffer); -1 re-enables ABR.
    hls.currentLevel = level;
    setState((s) => ({ ...s, selectedLevel: level }));
  }, []);

  const goLive = useCallback(() => {
    const video = videoRef.current;
    if (!video) return;
    const sync = hlsRef.current?.liveSyncPosition;
    const seekable = video.seekable;
    const edge = sync ?? (seekable.length > 0 ? seekable.end(seekable.length - 1) : null);
    if (edge !== null && Number.isFinite(edge)) video.currentTime = edge;
    if (video.paused) void video.play().catch(() => undefined);
  }, [videoRef]);

  return { ...state, selectLevel, goLive };
}

const initialState: PlayerState = {
  state: 'loading',
  detail: null,
  diagnostic: null,
  warning: null,
  renditions: [],
  selectedLevel: -1,
  playingLevel: -1,
  canSelectQuality: false,
  refused: null,
  behindLiveSeconds: null,
  latencySeconds: null,
  dvrWindowSeconds: 0,
  playbackToken: null,
};
