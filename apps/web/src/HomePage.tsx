import { isLive, type StreamItem } from './api';
import { duration, timeAgo } from './format';
import { hrefFor, Link } from './router';
import { useStreams } from './useStreams';

/** Where OBS should publish. The ingest's RTMP port is the protocol default, 1935. */
function rtmpUrl(): string {
  return `rtmp://${location.hostname}:1935/live`;
}

function StreamCard({ item }: { item: StreamItem }) {
  const live = isLive(item);
  const href = hrefFor(live ? { name: 'live', channelId: item.channelId } : { name: 'vod', sessionId: item.sessionId });
  const length = duration(item.startedAt, item.endedAt);
  return (
    <li className="card" data-testid="stream-item" data-session-id={item.sessionId} data-status={item.status}>
      <Link href={href} className="card-link">
        <div className="card-thumb" aria-hidden="true">
          {live ? (
            <span className="badge badge-live">{item.status === 'starting' ? 'STARTING' : 'LIVE'}</span>
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
                <p>No one is live.</p>
                <p>
                  Publish with OBS to <code>{rtmpUrl()}</code> using your stream key.
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
