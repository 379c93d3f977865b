import { useEffect, useRef, useState, type RefObject } from 'react';
import { errorMessage } from './api';
import { playedCount, replayClock, replayTimeline, type ReplayLine, type ReplaySource } from './chatReplay';
import { appSession } from './useSession';

/** Most history pages loaded for one recording (100 lines each). */
const MAX_PAGES = 20;
/** Lines shown at once (the latest played ones). */
const SHOWN = 150;

interface HistoryPage {
  readonly messages: readonly ReplaySource[];
  readonly nextBefore: number | null;
}

function isHistoryPage(v: unknown): v is HistoryPage {
  const o = v as Partial<HistoryPage> | null;
  return !!o && Array.isArray(o.messages) && (o.nextBefore === null || typeof o.nextBefore === 'number');
}

/**
 * Loads the chat of the broadcast `sessionId` (`GET /api/streams/{sessionId}/chat`, paged back
 * with `before` until the broadcast's start or {@link MAX_PAGES} pages) and places it on the
 * recording's timeline. Removed messages and banned users' messages are already left out by the
 * API.
 */
function useReplayTimeline(sessionId: string, startedAt: string, endedAt: string | null): { timeline: ReplayLine[] | null; error: string | null } {
  const [state, setState] = useState<{ timeline: ReplayLine[] | null; error: string | null }>({ timeline: null, error: null });
  useEffect(() => {
    let cancelled = false;
    const start = Date.parse(startedAt);
    const end = endedAt ? Date.parse(endedAt) : null;
    void (async () => {
      const all: ReplaySource[] = [];
      let before: number | null = null;
      try {
        for (let page = 0; page < MAX_PAGES; page++) {
          const q = `limit=100${before !== null ? `&before=${before}` : ''}`;
          const body = await appSession().request(`/api/streams/${encodeURIComponent(sessionId)}/chat?${q}`, { auth: 'optional' });
          if (!isHistoryPage(body)) break;
          all.push(...body.messages);
          const oldest = body.messages[0];
          if (body.nextBefore === null || !oldest || Date.parse(oldest.at) < start) break;
          before = body.nextBefore;
        }
        if (!cancelled) setState({ timeline: replayTimeline(all, start, end), error: null });
      } catch (err) {
        if (!cancelled) setState({ timeline: null, error: errorMessage(err) });
      }
    })();
    return () => {
      cancelled = true;
    };
  }, [sessionId, startedAt, endedAt]);
  return state;
}

/**
 * Chat replay beside a recording: the broadcast's messages appear as the recording reaches the
 * moment they were sent (and disappear again when the viewer seeks back), newest at the bottom.
 */
export function ChatReplayPanel({ sessionId, startedAt, endedAt, videoRef }: { sessionId: string; startedAt: string; endedAt: string | null; videoRef: RefObject<HTMLVideoElement | null> }) {
  const { timeline, error } = useReplayTimeline(sessionId, startedAt, endedAt);
  const [position, setPosition] = useState(0);
  const listRef = useRef<HTMLOListElement>(null);
  useEffect(() => {
    const video = videoRef.current;
    if (!video) return;
    const update = () => setPosition(video.currentTime);
    video.addEventListener('timeupdate', update);
    video.addEventListener('seeked', update);
    return () => {
      video.removeEventListener('timeupdate', update);
      video.removeEventListener('seeked', update);
    };
  }, [videoRef]);
  const played = timeline ? playedCount(timeline, position) : 0;
  useEffect(() => {
    const el = listRef.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [played]);
  const shown = timeline ? timeline.slice(Math.max(0, played - SHOWN), played) : [];
  return (
    <aside className="chat-panel" aria-label="Chat replay" data-testid="chat-replay" data-lines={timeline?.length ?? 0}>
      <header className="chat-head">
        <h2 className="chat-title">Chat replay</h2>
        {timeline && <span className="muted">{timeline.length === 0 ? 'No messages' : `${played} of ${timeline.length}`}</span>}
      </header>
      {error !== null && <p className="muted" role="status">Chat replay unavailable: {error}</p>}
      <ol className="chat-list" ref={listRef} aria-label="Chat messages at this point of the recording">
        {timeline === null && error === null && <li className="chat-empty muted">Loading chat…</li>}
        {timeline !== null && played === 0 && <li className="chat-empty muted">{timeline.length === 0 ? 'Nobody chatted during this broadcast.' : 'Messages appear as the recording plays.'}</li>}
        {shown.map((l) => (
          <li key={l.id} className="chat-line" data-testid="replay-line" data-id={l.id}>
            <time className="chat-time">{replayClock(l.offset)}</time>{' '}
            <span className="chat-user">{l.username}</span>: <span className="chat-text">{l.text}</span>
          </li>
        ))}
      </ol>
    </aside>
  );
}
