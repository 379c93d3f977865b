import { useState } from 'react';
import { errorMessage } from './api';
import { categoryName, countLabel, followApiPath } from './platform';
import { hrefFor, Link } from './router';
import type { ChannelHandle } from './useChannel';
import { useCategories } from './useCategories';
import { appSession, useSession } from './useSession';

/**
 * The channel under the live player: name, title, category and tags, follower count, and a
 * Follow/Unfollow button (a "Sign in to follow" link when anonymous; nothing to follow on your
 * own channel, which links to the dashboard instead).
 */
export function ChannelPanel({ channelId, handle }: { channelId: string; handle: ChannelHandle }) {
  const { status, user } = useSession();
  const { categories } = useCategories();
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState<string | null>(null);
  const { channel, notFound, error } = handle;

  if (notFound) {
    return (
      <section className="channel-panel" aria-label="Channel" data-testid="channel-panel">
        <p className="muted">There is no channel called “{channelId}”.</p>
      </section>
    );
  }
  if (!channel) {
    return error !== null ? (
      <section className="channel-panel" aria-label="Channel" data-testid="channel-panel">
        <p className="muted" role="status">
          Channel details unavailable: {error}
        </p>
      </section>
    ) : null;
  }

  const own = user !== null && channel.ownerUserId === user.userId;
  const toggleFollow = async () => {
    const follow = !channel.following;
    setBusy(true);
    setActionError(null);
    handle.patch({ following: follow, followers: Math.max(0, channel.followers + (follow ? 1 : -1)) });
    try {
      await appSession().request(followApiPath(channel.channelId), { method: follow ? 'PUT' : 'DELETE', auth: 'required' });
    } catch (err) {
      setActionError(errorMessage(err));
    } finally {
      await handle.reload();
      setBusy(false);
    }
  };
  const category = categoryName(categories, channel.category);

  return (
    <section className="channel-panel" aria-labelledby="channel-name" data-testid="channel-panel">
      <div className="channel-info">
        <h2 id="channel-name" className="channel-name">
          <Link href={hrefFor({ name: 'channel', channelId: channel.channelId })}>{channel.displayName}</Link>
        </h2>
        {channel.title !== '' && (
          <p className="channel-title" data-testid="channel-title">
            {channel.title}
          </p>
        )}
        {channel.description ? (
          <p className="channel-description" data-testid="channel-description">
            {channel.description}
          </p>
        ) : null}
        <p className="channel-meta muted">
          {category !== '' && <span data-testid="channel-category">{category}</span>}
          {channel.tags.map((t) => (
            <span key={t} className="tag">
              #{t}
            </span>
          ))}
        </p>
      </div>
      <div className="channel-actions">
        <span className="followers" data-testid="follower-count" aria-live="polite">
          {countLabel(channel.followers, 'follower')}
        </span>
        {own ? (
          <Link href="/dashboard" className="button">
            Your channel · Dashboard
          </Link>
        ) : status === 'signed-in' ? (
          <button
            type="button"
            className={channel.following ? 'button' : 'button button-primary'}
            onClick={() => void toggleFollow()}
            disabled={busy}
            aria-busy={busy}
            data-testid="follow-button"
            data-following={channel.following}
          >
            {channel.following ? 'Unfollow' : 'Follow'}
          </button>
        ) : status === 'anonymous' ? (
          <Link href={hrefFor({ name: 'signin', next: hrefFor({ name: 'live', channelId }) })} className="button button-primary" data-testid="follow-sign-in">
            Sign in to follow
          </Link>
        ) : null}
      </div>
      {actionError !== null && (
        <p className="form-error" role="alert">
          {actionError}
        </p>
      )}
    </section>
  );
}
