import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { ApiError, errorMessage } from './api';
import { isPreparedBroadcast, MAX_TAGS, parseTags, TITLE_MAX_LENGTH, type ChannelView, type PreparedBroadcast } from './platform';
import { hrefFor, Link } from './router';
import { useCategories } from './useCategories';
import { useChannel } from './useChannel';
import { appSession, useSession } from './useSession';
import { useAction } from './useAction';
import { ModerationQueue } from './ModerationQueue';
import { ChatModerationPanel } from './ChatModerationPanel';
import { RestreamPanel } from './RestreamPanel';
import { WebhooksPanel } from './WebhooksPanel';
import { LiveStatus, StreamKeySettings } from './StreamControls';
import { PlaybackPolicyEditor } from './PlaybackPolicyEditor';
import { RecordingsLibrary } from './RecordingsLibrary';
import { mergeKnownKey, otherIngestUrls, type KnownStreamKey } from './streamKey';

/** How often the dashboard re-reads the channel's live state once the stream is set up. */
const LIVE_POLL_MS = 5000;

/** Step 1 for a user without a channel: create it (its id is the lower-cased username). */
function CreateChannel({ username }: { username: string }) {
  const [displayName, setDisplayName] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const name = displayName.trim();
      await appSession().request('/api/channels', { method: 'POST', body: name !== '' ? { displayName: name } : {}, auth: 'required' });
      await appSession().reloadUser();
    } catch (err) {
      // Created by an earlier attempt whose answer was lost: the account now has it.
      if (err instanceof ApiError && err.code === 'CHANNEL_EXISTS') {
        await appSession().reloadUser().catch(() => undefined);
      }
      setError(errorMessage(err));
      setBusy(false);
    }
  };
  const channelId = username.toLowerCase();
  return (
    <section className="panel" aria-labelledby="create-channel-title">
      <h2 id="create-channel-title">Create your channel</h2>
      <p>
        You need a channel to go live. It will be at{' '}
        <code>{hrefFor({ name: 'live', channelId })}</code>.
      </p>
      <form className="form" onSubmit={(e) => void submit(e)}>
        {error !== null && (
          <p className="form-error" role="alert" data-testid="form-error">
            {error}
          </p>
        )}
        <div className="field">
          <label htmlFor="channel-display-name">
            Channel name <span className="muted">(optional, default: {username})</span>
          </label>
          <input id="channel-display-name" name="displayName" maxLength={50} value={displayName} onChange={(e) => setDisplayName(e.target.value)} />
        </div>
        <button type="submit" className="button button-primary" disabled={busy} aria-busy={busy} data-testid="create-channel">
          {busy ? 'Creating…' : 'Create channel'}
        </button>
      </form>
    </section>
  );
}

/** Longest channel description the API keeps, characters. */
const DESCRIPTION_MAX_LENGTH = 300;

/** The stream info form, initialised from the loaded channel (never overwritten while typing). */
function SetupForm({ channel, onPrepared }: { channel: ChannelView; onPrepared: (r: PreparedBroadcast) => void }) {
  const { categories } = useCategories();
  const [title, setTitle] = useState(channel.title);
  const [category, setCategory] = useState(channel.category);
  const [tagsText, setTagsText] = useState(channel.tags.join(', '));
  const [description, setDescription] = useState(channel.description ?? '');
  const { busy, error, setError, run } = useAction();
  const [saved, setSaved] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const parsed = parseTags(tagsText);
    if (parsed.invalid.length > 0) {
      setError(`Tags may only use a-z, 0-9 and “-” (at most 25 characters each): ${parsed.invalid.join(', ')}`);
      return;
    }
    if (parsed.tooMany) {
      setError(`At most ${MAX_TAGS} tags.`);
      return;
    }
    await run(async () => {
      const body = await appSession().request('/api/streams/start', {
        method: 'POST',
        body: { title: title.trim(), category, tags: parsed.tags, description: description.trim() },
        auth: 'required',
      });
      if (!isPreparedBroadcast(body)) throw new ApiError('POST /api/streams/start: unexpected response', 'shape');
      setSaved(true);
      onPrepared(body);
    });
  };

  return (
    <form className="form" onSubmit={(e) => void submit(e)}>
      {error !== null && (
        <p className="form-error" role="alert" data-testid="form-error">
          {error}
        </p>
      )}
      <div className="field">
        <label htmlFor="setup-title">Title</label>
        <input id="setup-title" name="title" maxLength={TITLE_MAX_LENGTH} value={title} onChange={(e) => setTitle(e.target.value)} placeholder="What are you streaming today?" />
      </div>
      <div className="field">
        <label htmlFor="setup-category">Category</label>
        <select id="setup-category" name="category" value={category} onChange={(e) => setCategory(e.target.value)}>
          <option value="">No category</option>
          {categories?.map((c) => (
            <option key={c.id} value={c.id}>
              {c.name}
            </option>
          ))}
          {category !== '' && !categories?.some((c) => c.id === category) && <option value={category}>{category}</option>}
        </select>
      </div>
      <div className="field">
        <label htmlFor="setup-tags">Tags</label>
        <input id="setup-tags" name="tags" value={tagsText} onChange={(e) => setTagsText(e.target.value)} placeholder="speedrun, chill" aria-describedby="tags-hint" />
        <small id="tags-hint" className="muted">
          Up to {MAX_TAGS}, separated by commas: lower-case letters, digits and “-”.
        </small>
      </div>
      <div className="field">
        <label htmlFor="setup-description">About the channel</label>
        <textarea id="setup-description" name="description" rows={3} maxLength={DESCRIPTION_MAX_LENGTH} value={description} onChange={(e) => setDescription(e.target.value)} placeholder="Shown on your channel page" />
      </div>
      <button type="submit" className="button button-primary" disabled={busy} aria-busy={busy} data-testid="save-stream-info">
        {busy ? 'Saving…' : 'Save stream info'}
      </button>
      {saved && !busy && error === null && (
        <p className="muted" role="status">
          Saved. Your stream key is below.
        </p>
      )}
    </form>
  );
}

/** Step 2: live state and End stream, title, category and tags (`POST /api/streams/start`), then the OBS settings. */
function StreamSetup({ channelId }: { channelId: string }) {
  const handle = useChannel(channelId);
  const { channel, reload, patch } = handle;
  const [key, setKey] = useState<KnownStreamKey | null>(null);

  // Keep the live state current (the encoder connects whenever the streamer is ready).
  useEffect(() => {
    const timer = setInterval(() => void reload(), LIVE_POLL_MS);
    return () => clearInterval(timer);
  }, [reload]);

  const onPrepared = useCallback(
    (body: PreparedBroadcast) => {
      setKey((prev) => mergeKnownKey(prev, { keyId: body.keyId, maskedKey: body.maskedKey, streamKey: body.streamKey, ingestUrl: body.ingestUrl, ...otherIngestUrls({ ...body }) }));
      patch(body.channel);
    },
    [patch],
  );

  return (
    <>
      <section className="panel" aria-labelledby="go-live-heading">
        <h2 id="go-live-heading">Your stream</h2>
        <LiveStatus channelId={channelId} channel={channel} onStopped={reload} />
        <p className="muted">
          <Link href={hrefFor({ name: 'analytics', range: null })}>See your analytics</Link>
        </p>
        {channel ? (
          <SetupForm channel={channel} onPrepared={onPrepared} />
        ) : handle.error !== null ? (
          <p className="form-error" role="alert">
            Can’t load your channel: {handle.error}
          </p>
        ) : (
          <p className="muted" role="status">
            Loading your channel…
          </p>
        )}
      </section>
      {key && <StreamKeySettings channelId={channelId} streamKey={key} onRotated={setKey} />}
    </>
  );
}

/**
 * `/dashboard` (signed in): create your channel if you have none, then see the live state (End
 * stream while live), save the stream's title, category and tags and get the RTMP server URL and
 * stream key for OBS (hidden until revealed; rotate it with confirmation), set who may watch
 * (playback policy), rename and delete recordings and set their retention, manage the
 * restream destinations, review the chat's moderation queue, and manage the channel's webhooks.
 */
export function DashboardPage() {
  const { status, user } = useSession();
  if (status === 'restoring') {
    return (
      <main className="page">
        <p className="muted" role="status">
          Loading your account…
        </p>
      </main>
    );
  }
  if (!user) {
    return (
      <main className="page narrow">
        <h1 className="page-title">Creator dashboard</h1>
        <p>
          <Link href={hrefFor({ name: 'signin', next: '/dashboard' })}>Sign in</Link> or{' '}
          <Link href={hrefFor({ name: 'signup', next: '/dashboard' })}>create an account</Link> to set up your channel and go live.
        </p>
      </main>
    );
  }
  return (
    <main className="page narrow">
      <h1 className="page-title">Creator dashboard</h1>
      {user.channelId === null ? (
        <CreateChannel username={user.username} />
      ) : (
        <>
          <StreamSetup key={user.channelId} channelId={user.channelId} />
          <PlaybackPolicyEditor key={`playback:${user.channelId}`} channelId={user.channelId} />
          <RecordingsLibrary key={`recordings:${user.channelId}`} channelId={user.channelId} />
          <RestreamPanel key={`restream:${user.channelId}`} channelId={user.channelId} />
          <ModerationQueue key={`queue:${user.channelId}`} channelId={user.channelId} />
          <ChatModerationPanel key={`chat-mod:${user.channelId}`} channelId={user.channelId} canAppoint />
          <WebhooksPanel key={`webhooks:${user.channelId}`} channelId={user.channelId} />
        </>
      )}
    </main>
  );
}
