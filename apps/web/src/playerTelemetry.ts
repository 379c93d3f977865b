/**
 * Player telemetry, the browser part: watches one `<video>` (and its hls.js instance) and sends
 * the beacons of telemetry.ts to `POST /api/beacons` — every {@link HEARTBEAT_INTERVAL_MS} with
 * the heartbeat, when the page is hidden, and with `fetch(…, { keepalive: true })` (else
 * `navigator.sendBeacon`) on `pagehide`.
 */
import type Hls from 'hls.js';
import { Events } from 'hls.js';
import { appSession } from './useSession';
import {
  HEARTBEAT_INTERVAL_MS, PlaybackTelemetry, flushTelemetry, renditionName, sendResultOf, uuidV4, viewerIdFrom,
  type BeaconTransport, type SendResult,
} from './telemetry';

/** Path of the beacons endpoint (same origin; Vite proxies `/api/*`). */
export const BEACONS_PATH = '/api/beacons';

/** Options of {@link attachTelemetry}. */
export interface AttachTelemetryOptions {
  readonly live: boolean;
  /** The broadcast session being watched, read at every flush (null while unknown: beacons wait). */
  readonly sessionId: () => string | null;
  /** Default: {@link browserTransport} with the app's sign-in session. */
  readonly transport?: BeaconTransport;
}

/**
 * `POST /api/beacons` from the browser. Regular sends carry the access token when signed in
 * (the API attributes the beacons to the user; on a 401 the batch is resent anonymously).
 * Final sends (pagehide) cannot wait for a token refresh, so they go anonymously with
 * `keepalive` (or `navigator.sendBeacon` when keepalive fetch is refused, e.g. over the
 * browser's 64 KiB keepalive quota); the playback session id still ties them to the viewer.
 * Regular sends use `keepalive` too, so a batch in flight survives a navigation.
 */
export function browserTransport(accessToken: () => Promise<string | null> = () => appSession().accessToken()): BeaconTransport {
  const post = async (body: string, token: string | null): Promise<SendResult> => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    try {
      const res = await fetch(BEACONS_PATH, { method: 'POST', headers, body, keepalive: true });
      if (res.status === 401 && token) return post(body, null);
      return sendResultOf(res.status);
    } catch {
      return 'retry';
    }
  };
  return async (batch, final) => {
    const body = JSON.stringify(batch);
    if (final) {
      // A refused keepalive fetch rejects (quota) or throws (no keepalive support): fall back to
      // sendBeacon. Should both get through, the API stores each beacon once (same ids).
      const viaBeacon = (): boolean => navigator.sendBeacon?.(BEACONS_PATH, new Blob([body], { type: 'application/json' })) ?? false;
      try {
        void fetch(BEACONS_PATH, { method: 'POST', headers: { 'content-type': 'application/json' }, body, keepalive: true }).catch(() => viaBeacon());
        return 'sent';
      } catch {
        return viaBeacon() ? 'sent' : 'retry';
      }
    }
    let token: string | null = null;
    try {
      token = await accessToken();
    } catch {
      token = null; // the refresh failed for now: send anonymously rather than not at all
    }
    return post(body, token);
  };
}

function localStorageOrNull(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

/**
 * Starts the telemetry of one playback of `video` (hls.js `hls`, or null for native HLS) and
 * returns its teardown (the player changes source or unmounts), which ends the playback session
 * (`session_end`) and sends what is left once a send in flight is done.
 * A page restored from the back/forward cache after `pagehide` starts a new playback session.
 * Never throws; a failed send is retried at the next heartbeat.
 */
export function attachTelemetry(video: HTMLVideoElement, hls: Hls | null, opts: AttachTelemetryOptions): () => void {
  const send = opts.transport ?? browserTransport();
  const clock = { now: () => Date.now(), mono: () => performance.now() };
  const viewerId = viewerIdFrom(localStorageOrNull());
  const make = () => new PlaybackTelemetry({
    playbackSessionId: uuidV4(), viewerId, live: opts.live, autoplay: video.autoplay, clock, sessionId: opts.sessionId(),
  });
  let t = make();
  let flushing: Promise<unknown> | null = null;

  const currentRendition = (): string => {
    try {
      if (hls) return renditionName(hls.levels[hls.currentLevel]) || renditionName(hls.levels[hls.loadLevel]);
    } catch {
      return ''; // hls.js destroyed after a fatal error
    }
    return video.videoHeight > 0 ? `${video.videoHeight}p` : '';
  };
  const hlsNumber = (read: (h: Hls) => number): number => {
    try {
      return hls ? read(hls) : Number.NaN;
    } catch {
      return Number.NaN;
    }
  };
  const flush = (final = false): void => {
    t.setSessionId(opts.sessionId());
    if (final) {
      void flushTelemetry(t, send, true);
      return;
    }
    if (flushing) return; // the next heartbeat sends what this one could not
    flushing = flushTelemetry(t, send).finally(() => {
      flushing = null;
    });
  };

  const onVideo: Record<string, () => void> = {
    playing: () => t.playing(video.currentTime, currentRendition()),
    waiting: () => t.waiting(video.currentTime, video.seeking),
    pause: () => t.stopped(video.currentTime),
    ended: () => t.stopped(video.currentTime),
    emptied: () => t.stopped(video.currentTime),
    // Native HLS: the only rendition signal is the decoded size.
    resize: () => {
      if (!hls && video.videoHeight > 0) t.renditionSwitch(`${video.videoHeight}p`, 'abr');
    },
    error: () => {
      if (!hls) t.error(true, `mediaError/${video.error?.code ?? 'unknown'}`);
    },
  };
  for (const [name, fn] of Object.entries(onVideo)) video.addEventListener(name, fn);

  const onLevelSwitched = (_e: unknown, data: { level: number }) => {
    if (!hls) return;
    // A level picked in the quality menu disables ABR (hls.js `autoLevelEnabled` false).
    t.renditionSwitch(renditionName(hls.levels[data.level]), hls.autoLevelEnabled ? 'abr' : 'manual');
  };
  const onHlsError = (_e: unknown, data: { fatal: boolean; type: string; details: string }) => t.error(data.fatal, `${data.type}/${data.details}`);
  hls?.on(Events.LEVEL_SWITCHED, onLevelSwitched);
  hls?.on(Events.ERROR, onHlsError);

  const heartbeat = setInterval(() => {
    const quality = typeof video.getVideoPlaybackQuality === 'function' ? video.getVideoPlaybackQuality() : null;
    t.heartbeat({
      position: video.currentTime,
      rendition: currentRendition(),
      bandwidthBps: hlsNumber((h) => h.bandwidthEstimate),
      // hls.js `latency`: seconds from the playhead to the live edge (0 until known).
      liveLatencySeconds: opts.live && hls ? hlsNumber((h) => h.latency) : null,
      droppedFrames: quality?.droppedVideoFrames ?? 0,
    });
    flush();
  }, HEARTBEAT_INTERVAL_MS);

  const onVisibility = () => {
    if (document.visibilityState === 'hidden') flush(); // mobile browsers may never fire pagehide
  };
  const onPageHide = () => {
    t.end(video.currentTime);
    flush(true);
  };
  const onPageShow = (e: PageTransitionEvent) => {
    if (!e.persisted || !t.ended) return;
    t = make(); // restored from the back/forward cache: a new playback session
    if (!video.paused) t.playing(video.currentTime, currentRendition());
  };
  document.addEventListener('visibilitychange', onVisibility);
  window.addEventListener('pagehide', onPageHide);
  window.addEventListener('pageshow', onPageShow);

  return () => {
    clearInterval(heartbeat);
    document.removeEventListener('visibilitychange', onVisibility);
    window.removeEventListener('pagehide', onPageHide);
    window.removeEventListener('pageshow', onPageShow);
    for (const [name, fn] of Object.entries(onVideo)) video.removeEventListener(name, fn);
    hls?.off(Events.LEVEL_SWITCHED, onLevelSwitched);
    hls?.off(Events.ERROR, onHlsError);
    if (t.ended) return; // already sent on pagehide
    const last = t;
    last.end(video.currentTime);
    last.setSessionId(opts.sessionId());
    void Promise.resolve(flushing).then(() => flushTelemetry(last, send));
  };
}
