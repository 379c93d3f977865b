import { useState } from 'react';
import { errorMessage } from './api';
import { timeAgo } from './format';
import { moderationQueuePath, parseModerationQueue, resolutionsFor, resolvePath, type ModerationItem, type ModerationResolution } from './moderation';
import { useApiList } from './useApiList';
import { appSession } from './useSession';

/** How often the queue is re-read while the dashboard is open, ms. */
const QUEUE_POLL_MS = 15_000;

/**
 * The channel's chat moderation queue on the dashboard: reported messages (delete or dismiss)
 * and messages held by a banned term (approve or reject), oldest first, re-read every
 * {@link QUEUE_POLL_MS}. Message texts are rendered as text.
 */
export function ModerationQueue({ channelId }: { channelId: string }) {
  const { data: items, setData: setItems, error, setError, reload: load } = useApiList(moderationQueuePath(channelId), parseModerationQueue, QUEUE_POLL_MS);
  const [busyId, setBusyId] = useState<string | null>(null);

  const resolve = async (item: ModerationItem, resolution: ModerationResolution) => {
    setBusyId(item.id);
    setError(null);
    try {
      await appSession().request(resolvePath(item.id), { method: 'POST', body: { resolution }, auth: 'required' });
      setItems((list) => list?.filter((i) => i.id !== item.id) ?? null);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusyId(null);
      await load();
    }
  };

  return (
    <section className="panel" aria-labelledby="mod-queue-heading" data-testid="moderation-queue">
      <div className="queue-head">
        <h2 id="mod-queue-heading">Chat moderation queue</h2>
        <button type="button" className="button" onClick={() => void load()}>
          Refresh
        </button>
      </div>
      {error !== null && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      {items === null ? (
        error === null && (
          <p className="muted" role="status">
            Loading…
          </p>
        )
      ) : items.length === 0 ? (
        <p className="muted">Nothing to review: no reported or held messages.</p>
      ) : (
        <ul className="queue-list">
          {items.map((item) => (
            <li key={item.id} className="queue-item" data-testid="queue-item" data-kind={item.kind}>
              <div className="queue-meta muted">
                <span className={`queue-kind queue-kind-${item.kind}`}>{item.kind === 'held' ? 'Held' : 'Reported'}</span>
                <span>{item.kind === 'held' ? `matched “${item.reason}”` : `reason: ${item.reason || '—'}`}</span>
                <time dateTime={item.createdAt}>{timeAgo(item.createdAt)}</time>
              </div>
              <p className="queue-text">
                <span className="chat-user">{item.authorUsername}</span>: <span data-testid="queue-text">{item.text}</span>
              </p>
              <div className="queue-actions">
                {resolutionsFor(item.kind).map((r) => (
                  <button
                    key={r.resolution}
                    type="button"
                    className={r.resolution === 'dismissed' ? 'button' : 'button button-primary'}
                    disabled={busyId !== null}
                    onClick={() => void resolve(item, r.resolution)}
                    data-testid={`queue-${r.resolution}`}
                  >
                    {r.label}
                  </button>
                ))}
              </div>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
