import { useState, useSyncExternalStore, type CSSProperties } from 'react';
import { isLive, type StreamItem } from './api';
import { clockDuration, duration, timeAgo } from './format';
import { hrefFor, Link } from './router';
import { useStreams } from './useStreams';
import { livePosterPath, sessionPosterPath } from '@live/media/formats';


/** How often the worker rewrites a live stream's poster (`sessions/<id>/poster.jpg`), in milliseconds. */
export const POSTER_REFRESH_MS = 10_000;

/**
 * Same-origin URL of a channel's live poster (served by the edge from the current session),
 * cache-busted per refresh period: `bucket` is `floor(now / POSTER_REFRESH_MS)` (see
 * {@link usePosterBucket}), so every viewer asks for the same URL within a period (a CDN
 * can share it) and a new one after it.
 */
export function livePosterUrl(channelId: string, bucket: number): string {
  return `${livePosterPath(channelId)}?t=${bucket}`;
}

/** Same-origin URL of a session's last poster (the final frame of a recorded broadcast, when it had one). */
export function sessionPosterUrl(sessionId: string): string {
  return sessionPosterPath(sessionId);
}

const bucketListeners = new Set<() => void>();
let bucketTimer: ReturnType<typeof setInterval> | undefined;
function subscribeBucket(onChange: () => void): () => void {
  bucketListeners.add(onChange);
  // one timer for every card on the page; React re-renders only when the bucket changed
  bucketTimer ??= setInterval(() => {
    for (const l of bucketListeners) l();
  }, 1000);
  return () => {
    bucketListeners.delete(onChange);
    if (bucketListeners.size === 0 && bucketTimer !== undefined) {
      clearInterval(bucketTimer);
      bucketTimer = undefined;
    }
  };
}
const currentBucket = () => Math.floor(Date.now() / POSTER_REFRESH_MS);

/** The current poster refresh period number, `floor(Date.now() / POSTER_REFRESH_MS)`; re-renders when it changes. */
export function usePosterBucket(): number {
  return useSyncExternalStore(subscribeBucket, currentBucket);
}

const POSTER_STYLE: CSSProperties = { position: 'absolute', inset: 0, width: '100%', height: '100%', objectFit: 'cover', borderRadius: 'inherit' };

/**
 * A card's poster image, filling its `.card-thumb` under the badges. When the image fails
 * (404: no poster yet, the stream just ended, or a token is required) it is removed, showing
 * the card's placeholder background; a new `src` (the next refresh period) tries again.
 */
export function PosterImage({ src }: { src: string }) {
  const [failed, setFailed] = useState<string | null>(null);
  if (failed === src) return null;
  return <img src={src} alt="" loading="lazy" decoding="async" draggable={false} style={POSTER_STYLE} onError={() => setFailed(src)} data-testid="card-poster" />;
}

/** One live session or recording as a card: poster, LIVE/VOD badge with the media length, title, channel, age. */
export function StreamCard({ item }: { item: StreamItem }) {
  const live = isLive(item);
  const bucket = usePosterBucket();
  const href = hrefFor(live ? { name: 'live', channelId: item.channelId } : { name: 'vod', sessionId: item.sessionId });
  // The recording's media length; the wall-clock span only for a recording not packaged yet.
  const length = typeof item.durationSeconds === 'number' ? clockDuration(item.durationSeconds) : duration(item.startedAt, item.endedAt);
  return (
    <li className="card" data-testid="stream-item" data-session-id={item.sessionId} data-status={item.status}>
      <Link href={href} className="card-link">
        <div className="card-thumb" aria-hidden="true">
          <PosterImage src={live ? livePosterUrl(item.channelId, bucket) : sessionPosterUrl(item.sessionId)} />
          {live ? (
            <span className="badge badge-live">{item.status === 'starting' ? 'STARTING' : item.status === 'reconnecting' ? 'RECONNECTING' : 'LIVE'}</span>
          ) : (
            <span className="badge badge-vod">VOD{length ? ` · ${length}` : ''}</span>
          )}
        </div>
        <div className="card-body">
          <div className="card-title" title={item.title}>{item.title || 'Untitled stream'}</div>
          <div className="card-meta">
            <span>{item.channelName}</span>
            <span>{live ? `started ${timeAgo(item.startedAt)}` : timeAgo(item.startedAt)}</span>
          </div>
          {item.renditions.length > 0 && <div className="card-renditions">{item.renditions.join(' · ')}</div>}
        </div>
      </Link>
    </li>
  );
}

/**
 * Home page: live sessions, then recordings (VODs), from `GET /api/streams` polled every 5 s.
 * Shows an empty state with the RTMP publish URL when no one is live, and an error banner
 * (keeping the last good list) while the API is unreachable.
 */
export function HomePage() {
  const { items, error, loading } = useStreams();
  const liveItems = items?.filter(isLive) ?? [];
  const vodItems = items?.filter((i) => !isLive(i) && i.vodUrl !== null) ?? [];

  return (
    <main className="page">
      {error !== null && (
        <div className="banner banner-error" role="alert" data-testid="streams-error">
          <strong>Can’t reach the streams API.</strong> {error}. Retrying every 5 s.
        </div>
      )}
      {loading && items === null && (
        <p className="muted" data-testid="streams-loading">
          Loading streams…
        </p>
      )}
      {items !== null && (
        <>
          <section>
            <h2>Live now</h2>
            {liveItems.length === 0 ? (
              <div className="empty" data-testid="streams-empty">
                <p>No one is live right now.</p>
                <p>
                  Follow channels to be notified when they go live, or watch a recent broadcast below.{' '}
                  <Link href={hrefFor({ name: 'dashboard' })}>Streaming yourself?</Link>
                </p>
              </div>
            ) : (
              <ul className="grid" data-testid="live-list">
                {liveItems.map((i) => (
                  <StreamCard key={i.sessionId} item={i} />
                ))}
              </ul>
            )}
          </section>
          <section>
            <h2>Recordings</h2>
            {vodItems.length === 0 ? (
              <p className="muted">No recordings yet.</p>
            ) : (
              <ul className="grid" data-testid="vod-list">
                {vodItems.map((i) => (
                  <StreamCard key={i.sessionId} item={i} />
                ))}
              </ul>
            )}
          </section>
        </>
      )}
    </main>
  );
}
