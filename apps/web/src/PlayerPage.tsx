import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { sessionPosterPath } from '@live/media/formats';
import { ApiError, isLive, liveManifestUrl, liveMasterUrl, vodManifestUrl, vodMasterUrl, withPlaybackToken, type StreamItem } from './api';
import { ChannelPanel } from './ChannelPanel';
import { ChatPanel } from './ChatPanel';
import { ChatReplayPanel } from './ChatReplayPanel';
import { StreamCard } from './HomePage';
import { SeekPreview, thumbnailsVttUrl } from './SeekPreview';
import { channelApiPath, isChannelView } from './platform';
import { hrefFor, Link } from './router';
import { useChannel } from './useChannel';
import { BEHIND_LIVE_THRESHOLD_SECONDS, defaultFetchToken, usePlayer, type PlaybackState } from './usePlayer';
import { useDashPlayer } from './useDashPlayer';
import { useWhepPlayer } from './useWhepPlayer';
import { useStreams } from './useStreams';
import { appSession } from './useSession';
import { applyShortcut, shortcutFor } from './shortcuts';
import { clockDuration } from './format';
import { countLabel } from './platform';

/** How often a live page refreshes the channel (viewer count), ms. */
const CHANNEL_REFRESH_MS = 15_000;
/** localStorage key of the viewer's low-latency choice ('0' = off). */
const LOW_LATENCY_KEY = 'player.lowLatency';
/** The viewer's choice of MPEG-DASH (Shaka Player) over HLS (hls.js), kept like low latency. */
const DASH_KEY = 'player.dash';
/** localStorage key of the viewer's real-time (WebRTC, WHEP) choice ('1' = on; default off). */
const REALTIME_KEY = 'player.realtime';

/** A player choice kept in localStorage (`'1'` / `'0'`), `fallback` when unset or storage is blocked. */
function readStoredFlag(key: string, fallback: boolean): boolean {
  try {
    const v = localStorage.getItem(key);
    return v === null ? fallback : v === '1';
  } catch {
    return fallback; // storage blocked: the default
  }
}

function storeFlag(key: string, on: boolean): void {
  try {
    localStorage.setItem(key, on ? '1' : '0');
  } catch {
    // storage blocked: the choice lasts for this page
  }
}

/** The current time (ms), re-rendering every second while mounted (the uptime clock). */
function useSecondClock(): number {
  return useSyncExternalStore((onChange) => {
    const t = setInterval(onChange, 1000);
    return () => clearInterval(t);
  }, () => Math.floor(Date.now() / 1000) * 1000);
}

/** "12 viewers · 1:02:03": beside a live title; the uptime from the session's start. */
function LiveStats({ viewers, startedAt }: { viewers: number; startedAt: string | null | undefined }) {
  const now = useSecondClock();
  const started = startedAt ? Date.parse(startedAt) : NaN;
  return (
    <span className="live-stats muted">
      <span data-testid="viewer-count" aria-label={countLabel(viewers, 'viewer')}>
        {countLabel(viewers, 'viewer')}
      </span>
      {Number.isFinite(started) && (
        <span data-testid="uptime" title="Live for">
          {' · '}live for {clockDuration(Math.max(0, (now - started) / 1000))}
        </span>
      )}
    </span>
  );
}

/** Which player: a channel's live stream, or a recorded session. */
export type PlayerTarget = { readonly kind: 'live'; readonly channelId: string } | { readonly kind: 'vod'; readonly sessionId: string };

const STATE_LABEL: Record<PlaybackState, string> = {
  idle: 'Offline',
  loading: 'Loading…',
  buffering: 'Buffering…',
  playing: 'Playing',
  paused: 'Paused',
  ended: 'Ended',
  error: 'Error',
};

/** "1:05:09" / "4:07" / "12 s": how far behind the live edge, for the DVR line. */
function formatBehind(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** The API's item for this target: the channel's current (else latest) session, or the session. */
function findItem(items: readonly StreamItem[] | null, target: PlayerTarget): StreamItem | undefined {
  if (!items) return undefined;
  if (target.kind === 'vod') return items.find((i) => i.sessionId === target.sessionId);
  const ofChannel = items.filter((i) => i.channelId === target.channelId);
  return ofChannel.find(isLive) ?? ofChannel[0];
}

/**
 * Has the channel's broadcast ended? Asked by the player when the live playlist answers 404: the
 * channel is no longer live (or no longer exists). False when the API cannot say.
 */
async function channelBroadcastEnded(channelId: string): Promise<boolean> {
  try {
    const body = await appSession().request(channelApiPath(channelId), { auth: 'optional' });
    return isChannelView(body) && !body.live;
  } catch (err) {
    return err instanceof ApiError && err.status === 404;
  }
}

/**
 * What the video area shows instead of the video when a live page has nothing to play: the
 * broadcast it was playing ended (a link to its recording), the channel is offline (its last
 * broadcast's poster and recording, when there is one), or there is no such channel.
 */
function LiveOverlay({ endedSessionId, last, notFound }: { endedSessionId: string | null; last: StreamItem | undefined; notFound: boolean }) {
  const [posterFailed, setPosterFailed] = useState(false);
  if (endedSessionId) {
    return (
      <div className="player-overlay" data-testid="player-ended">
        <strong>Stream ended</strong>
        <Link className="button" href={hrefFor({ name: 'vod', sessionId: endedSessionId })}>
          Watch the recording
        </Link>
      </div>
    );
  }
  if (notFound) {
    return (
      <div className="player-overlay" data-testid="player-offline">
        <strong>No such channel</strong>
      </div>
    );
  }
  return (
    <div className="player-overlay" data-testid="player-offline">
      {last && !posterFailed && <img className="poster" src={sessionPosterPath(last.sessionId)} alt="" onError={() => setPosterFailed(true)} />}
      <strong>Offline</strong>
      {last?.vodUrl && (
        <Link className="button" href={hrefFor({ name: 'vod', sessionId: last.sessionId })} data-testid="last-recording">
          Watch the last broadcast
        </Link>
      )}
    </div>
  );
}

/** A channel page's recordings: its sessions with a VOD, newest first. */
function ChannelRecordings({ items }: { items: readonly StreamItem[] | null }) {
  if (items === null) return null;
  const recordings = items.filter((i) => !isLive(i) && i.vodUrl !== null);
  return (
    <section aria-labelledby="recordings-heading" className="channel-recordings">
      <h2 id="recordings-heading">Recordings</h2>
      {recordings.length === 0 ? (
        <p className="muted" data-testid="channel-no-recordings">No recordings yet.</p>
      ) : (
        <ul className="grid" data-testid="channel-recordings">
          {recordings.map((i) => (
            <StreamCard key={i.sessionId} item={i} />
          ))}
        </ul>
      )}
    </section>
  );
}

/**
 * Player page for `/watch/live/<channelId>` (plays `/live/<channelId>/master.m3u8`) and
 * `/watch/vod/<sessionId>` (plays `/sessions/<sessionId>/vod.m3u8`), or with the DASH toggle
 * their MPEG-DASH manifests (`manifest.mpd`, `vod.mpd`) in Shaka Player (useDashPlayer): video, LIVE badge, status
 * line, quality selector (Auto + one entry per rendition) and the MP4 download when the API
 * lists one. Title and links come from `GET /api/streams`; playback works without it.
 * Live pages also show the channel (`GET /api/channels/<channelId>`): title, category, follower
 * count and the Follow/Unfollow button, and the channel's chat beside the player (below it on
 * narrow screens).
 * Playback starts with a playback token (`POST /api/streams/<id>/playback-token`, see usePlayer);
 * a refusal (followers-only, allow-list, sign-in needed) is shown as the API's message. While
 * live, a DVR line says how far behind the live edge the viewer is and offers "Go live".
 * A live page plays only while the channel is live: offline it shows "Offline" with the last
 * broadcast's poster and recording, and nothing is requested from the edge; when the broadcast
 * ends during playback (the edge answers 404 and the API says the channel is no longer live) the
 * player stops loading and the page shows "Stream ended" with a link to the recording. A new
 * broadcast of the channel (seen by the 5 s poll of the stream list) starts playing by itself.
 * With `channelPage` it is the channel's page `/<channelId>`: the channel's name as heading, its
 * description under the player, and its recordings below.
 */
export function PlayerPage({ target, channelPage = false }: { target: PlayerTarget; channelPage?: boolean }) {
  const videoRef = useRef<HTMLVideoElement>(null);
  const live = target.kind === 'live';
  // A live page lists the channel's own sessions (the platform-wide list may not reach them).
  const { items } = useStreams(live ? target.channelId : undefined);
  const item = findItem(items, target);
  const channelHandle = useChannel(live ? target.channelId : null);
  const channel = channelHandle.channel;
  // Live: the session the channel is live with, from the channel (fresh at load) or the stream
  // list (polled); a session that ended here is not played again.
  const [endedSessionId, setEndedSessionId] = useState<string | null>(null);
  const liveSession = live ? ((channel?.live ? channel.sessionId : null) ?? (item && isLive(item) ? item.sessionId : null)) : null;
  const channelKnown = channel !== null || channelHandle.notFound || channelHandle.error !== null;
  // When the API cannot say (error), play anyway: the edge decides.
  const playable = !live || (liveSession !== null && liveSession !== endedSessionId) || (channelHandle.error !== null && endedSessionId === null);
  const src = !live ? vodMasterUrl(target.sessionId) : playable ? liveMasterUrl(target.channelId) : null;
  // Beacons name the broadcast session: the recording's, or the channel's session while it is live.
  const sessionId = live ? liveSession : target.sessionId;
  const hasEnded = useCallback(() => (live ? channelBroadcastEnded(target.channelId) : Promise.resolve(false)), [live, live ? target.channelId : target.sessionId]);
  const [lowLatency, setLowLatency] = useState(() => readStoredFlag(LOW_LATENCY_KEY, true));
  const [dash, setDash] = useState(() => readStoredFlag(DASH_KEY, false));
  const [realtime, setRealtime] = useState(() => readStoredFlag(REALTIME_KEY, false));
  const [theatre, setTheatre] = useState(false);
  const playbackId = live ? target.channelId : target.sessionId;
  // Real-time (WebRTC, WHEP) when chosen and offered, before DASH and HLS; when it fails, the
  // page falls back to the other modes (and says why).
  const whepUrl = live && playable && item && isLive(item) ? (item.whepUrl ?? null) : null;
  const [whepFailure, setWhepFailure] = useState<{ url: string; reason: string; diagnostic: string | null } | null>(null);
  const realtimeActive = realtime && whepUrl !== null && whepFailure?.url !== whepUrl;
  const whep = useWhepPlayer(videoRef, realtimeActive ? whepUrl : null, { playbackId: live ? target.channelId : null, fetchPlaybackToken: defaultFetchToken });
  useEffect(() => {
    if (whep.state === 'failed' && whepUrl) setWhepFailure({ url: whepUrl, reason: whep.failed ?? 'real-time playback failed', diagnostic: whep.diagnostic });
  }, [whep.state, whepUrl]);
  const dashActive = dash && !realtimeActive;
  // A playback token first (followers-only / allow-listed / encrypted channels need one).
  const player = usePlayer(videoRef, dashActive || realtimeActive ? null : src, { live, sessionId, playbackId, hasEnded, lowLatency });
  // DASH mode: the edge's MPD over the same segments, in Shaka Player (loaded only then).
  const mpd = src === null ? null : live ? liveManifestUrl(target.channelId) : vodManifestUrl(target.sessionId);
  const dashPlayer = useDashPlayer(videoRef, dashActive ? mpd : null, { playbackId, lowLatency: live && lowLatency });
  const shown = dashActive ? dashPlayer : player;
  const toggleLowLatency = (on: boolean) => {
    setLowLatency(on);
    storeFlag(LOW_LATENCY_KEY, on);
  };
  const toggleDash = (on: boolean) => {
    setDash(on);
    storeFlag(DASH_KEY, on);
  };
  const toggleRealtime = (on: boolean) => {
    setRealtime(on);
    setWhepFailure(null);
    storeFlag(REALTIME_KEY, on);
  };
  // Keyboard shortcuts (shortcuts.ts); typing in the chat box or a form keeps its keys.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const el = e.target instanceof HTMLElement ? e.target : null;
      const s = shortcutFor({ key: e.key, ctrlKey: e.ctrlKey, metaKey: e.metaKey, altKey: e.altKey, ...(el ? { targetTag: el.tagName, targetEditable: el.isContentEditable } : {}) });
      const video = videoRef.current;
      if (!s || !video) return;
      e.preventDefault();
      applyShortcut(s, video, () => setTheatre((t) => !t));
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);
  // The viewer count and live state stay fresh while the page is open.
  useEffect(() => {
    if (!live) return;
    const t = setInterval(() => void channelHandle.reload(), CHANNEL_REFRESH_MS);
    return () => clearInterval(t);
  }, [live, channelHandle.reload]);
  useEffect(() => {
    if (!live || player.state !== 'ended' || src === null) return;
    setEndedSessionId(liveSession ?? channel?.sessionId ?? null);
    void channelHandle.reload();
  }, [live, player.state, src]);
  const showOverlay = live && channelKnown && !playable;
  // A channel that does not exist has no chat room (the gateway refuses the upgrade with 404).
  const showChat = live && !channelHandle.notFound;
  // A recording replays its broadcast's chat beside it.
  const replay = !live && item ? item : null;

  const playing = dashActive || realtimeActive ? undefined : player.renditions[player.playingLevel];
  const shownState: PlaybackState = realtimeActive ? (whep.state === 'playing' ? 'playing' : 'loading') : shown.state;
  const stateText = realtimeActive
    ? (whep.state === 'playing' ? 'Playing · real-time (WebRTC)' : 'Connecting in real time…')
    : STATE_LABEL[shown.state] +
      (shown.state === 'playing' && playing ? ` · ${playing.label}` : '') +
      (shown.detail ? ` — ${shown.detail}` : '');
  const recordingHref =
    live && item && !isLive(item) && item.vodUrl !== null ? hrefFor({ name: 'vod', sessionId: item.sessionId }) : null;

  return (
    <main className={`page player-page${showChat || replay ? ' with-chat' : ''}${theatre ? ' theatre' : ''}`}>
      <div className="player-head">
        <Link href="/" className="back">
          ← All streams
        </Link>
        <h1>
          {live && playable && (
            <span className={`badge badge-live${shownState === 'playing' ? ' is-on' : ''}`} data-testid="live-badge">
              LIVE
            </span>
          )}
          <span>{channelPage ? (channel?.displayName ?? (live ? target.channelId : '')) : item?.title || channel?.title || (live ? target.channelId : 'Recording')}</span>
        </h1>
        {live && playable && channel?.live && <LiveStats viewers={channel.viewers} startedAt={channel.startedAt} />}
        {!channelPage && (item || channel) && (
          <Link className="muted channel-link" href={hrefFor({ name: 'channel', channelId: item?.channelId ?? channel!.channelId })} data-testid="channel-link">
            {item?.channelName ?? channel!.displayName}
          </Link>
        )}
      </div>

      <div className="watch-layout">
        <div className="watch-main">
          <div className="video-wrap">
            <video ref={videoRef} data-testid="player-video" controls={!showOverlay} muted autoPlay playsInline />
            {showOverlay && <LiveOverlay endedSessionId={endedSessionId} last={item} notFound={channelHandle.notFound} />}
          </div>
          {!live && <SeekPreview videoRef={videoRef} vttUrl={withPlaybackToken(thumbnailsVttUrl(target.sessionId), player.playbackToken)} />}

          {realtime && whepFailure && whepFailure.url === whepUrl && (
            <p className="muted" data-testid="realtime-fallback" data-detail={whepFailure.diagnostic ?? undefined}>
              Real-time playback is unavailable ({whepFailure.reason}); playing {dash ? 'MPEG-DASH' : 'low-latency HLS'}.
            </p>
          )}
          {shown.refused && (
            <p className="error" role="alert" data-testid="playback-refused">
              {shown.refused}
            </p>
          )}

          <div className="player-bar">
            <div
              className={`status status-${shownState}`} data-testid="player-status" data-state={shownState} data-mode={realtimeActive ? 'webrtc' : dashActive ? 'dash' : 'hls'} role="status"
              data-detail={shown.diagnostic ?? (dashActive ? undefined : player.warning) ?? undefined} title={shown.diagnostic ?? (dashActive ? undefined : player.warning) ?? undefined}
            >
              {stateText}
            </div>
            <label className="quality">
              Quality
              <select
                data-testid="quality-select"
                value={String(player.selectedLevel)}
                disabled={!player.canSelectQuality || realtimeActive}
                onChange={(e) => player.selectLevel(Number(e.target.value))}
              >
                <option value="-1">{realtimeActive ? 'Source' : `Auto${player.selectedLevel === -1 && playing ? ` (${playing.label})` : ''}`}</option>
                {[...player.renditions].reverse().map((r) => (
                  <option key={r.index} value={String(r.index)}>
                    {r.label}
                  </option>
                ))}
              </select>
            </label>
            {live && player.dvrWindowSeconds > 0 && (
              <span className="dvr" data-testid="dvr">
                <span className="muted" data-testid="behind-live" data-seconds={player.behindLiveSeconds ?? 0}>
                  {player.behindLiveSeconds !== null && player.behindLiveSeconds > BEHIND_LIVE_THRESHOLD_SECONDS
                    ? `${formatBehind(player.behindLiveSeconds)} behind live`
                    : 'At the live edge'}
                </span>{' '}
                <button
                  type="button"
                  className="button"
                  data-testid="go-live"
                  disabled={player.behindLiveSeconds === null || player.behindLiveSeconds <= BEHIND_LIVE_THRESHOLD_SECONDS}
                  onClick={player.goLive}
                >
                  Go live
                </button>
              </span>
            )}
            {live && playable && !realtimeActive && (
              <span className="latency" data-testid="latency" data-seconds={player.latencySeconds ?? undefined}>
                {player.latencySeconds !== null ? `Latency ${player.latencySeconds.toFixed(1)} s` : 'Latency —'}
              </span>
            )}
            {live && !realtimeActive && (
              <label className="toggle">
                <input type="checkbox" checked={lowLatency} onChange={(e) => toggleLowLatency(e.target.checked)} data-testid="low-latency-toggle" />
                Low latency
              </label>
            )}
            {whepUrl && (
              <label className="toggle" title="WebRTC: under a second behind the broadcaster; falls back to low-latency HLS when it cannot play">
                <input type="checkbox" checked={realtime} onChange={(e) => toggleRealtime(e.target.checked)} data-testid="realtime-toggle" />
                Real-time
              </label>
            )}
            <label className="toggle" title="Play the MPEG-DASH manifest in Shaka Player instead of HLS">
              <input type="checkbox" checked={dash} onChange={(e) => toggleDash(e.target.checked)} data-testid="dash-toggle" />
              DASH
            </label>
            <button type="button" className="button" aria-pressed={theatre} onClick={() => setTheatre((t) => !t)} data-testid="theatre-toggle" title="Theatre mode (t)">
              {theatre ? 'Default view' : 'Theatre mode'}
            </button>
            {item?.vodMp4Url && (
              <a className="button" href={item.vodMp4Url} download data-testid="download-mp4">
                Download MP4
              </a>
            )}
            {recordingHref && (
              <Link className="button" href={recordingHref}>
                Watch the recording
              </Link>
            )}
          </div>

          {live && <ChannelPanel channelId={target.channelId} handle={channelHandle} />}
          {channelPage && live && <ChannelRecordings items={items} />}
        </div>
        {showChat && <ChatPanel key={target.channelId} channelId={target.channelId} ownerUserId={channel?.ownerUserId ?? null} />}
        {replay && <ChatReplayPanel key={replay.sessionId} sessionId={replay.sessionId} startedAt={replay.startedAt} endedAt={replay.endedAt} videoRef={videoRef} />}
      </div>
    </main>
  );
}
