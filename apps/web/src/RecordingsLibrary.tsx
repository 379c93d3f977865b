import { useEffect, useState, type FormEvent } from 'react';
import { errorMessage } from './api';
import { ConfirmButton } from './ConfirmButton';
import { clockDuration } from './format';
import { hrefFor, Link } from './router';
import { TITLE_MAX_LENGTH } from './platform';
import { parseRecordings, parseRetention, parseRetentionInput, recordingPath, recordingsPath, recordingStateLabel, retentionPath, type Recording } from './recordings';
import { SaveButton } from './SaveButton';
import { useAction } from './useAction';
import { useApiList } from './useApiList';
import { appSession } from './useSession';

/** How often the list is re-read (a recording being packaged becomes ready), ms. */
const RECORDINGS_POLL_MS = 10_000;

/** One recording: title (renamable), date, duration, state, Watch, Rename and Delete (with confirmation). */
function RecordingItem({ r, onChanged, onError }: { r: Recording; onChanged: () => Promise<void>; onError: (m: string | null) => void }) {
  const [editing, setEditing] = useState(false);
  const [title, setTitle] = useState(r.title);
  const { busy, run } = useAction();
  const name = r.title || 'Untitled recording';
  const rename = async (e: FormEvent) => {
    e.preventDefault();
    onError(null);
    await run(async () => {
      await appSession().request(recordingPath(r.sessionId), { method: 'PATCH', body: { title: title.trim() }, auth: 'required' });
      setEditing(false);
      await onChanged();
    }, (err) => onError(errorMessage(err)));
  };
  const remove = async () => {
    onError(null);
    try {
      await appSession().request(recordingPath(r.sessionId), { method: 'DELETE', auth: 'required' });
      await onChanged();
    } catch (err) {
      onError(errorMessage(err));
    }
  };
  const started = new Date(r.startedAt);
  return (
    <li className="recording" data-testid="recording" data-session-id={r.sessionId}>
      {editing ? (
        <form onSubmit={(e) => void rename(e)}>
          <label className="sr-only" htmlFor={`rec-title-${r.sessionId}`}>
            New title of {name}
          </label>
          <input id={`rec-title-${r.sessionId}`} value={title} maxLength={TITLE_MAX_LENGTH} required onChange={(e) => setTitle(e.target.value)} autoFocus />
          <button type="submit" className="button button-primary" disabled={busy}>
            {busy ? 'Saving…' : 'Save title'}
          </button>
          <button type="button" className="button" onClick={() => { setEditing(false); setTitle(r.title); }}>
            Cancel
          </button>
        </form>
      ) : (
        <span className="recording-title" data-testid="recording-title">
          {name}
        </span>
      )}
      <span className="recording-meta">
        <time dateTime={r.startedAt}>{started.toLocaleString()}</time>
        <span data-testid="recording-duration">{r.durationSeconds !== null ? clockDuration(r.durationSeconds) : '–:––'}</span>
        <span>{recordingStateLabel(r)}</span>
      </span>
      <span className="inline-actions">
        {r.status === 'vod' && <Link href={hrefFor({ name: 'vod', sessionId: r.sessionId })}>Watch</Link>}
        {!editing && (
          <button type="button" className="button" aria-label={`Rename ${name}`} onClick={() => setEditing(true)}>
            Rename
          </button>
        )}
        <ConfirmButton label="Delete" ariaLabel={`Delete ${name}`} title={`Delete “${name}”?`} confirmLabel="Delete recording" tone="danger" testId="delete-recording" onConfirm={remove} disabled={r.status === 'ended'}>
          <p>The video and every file of this recording are removed from storage. This cannot be undone.</p>
        </ConfirmButton>
      </span>
    </li>
  );
}

/** The retention setting: days after which recordings are deleted by the scheduled retention workflow (empty = forever). */
function RetentionForm({ channelId }: { channelId: string }) {
  const { data: days, setData, error: loadError } = useApiList(retentionPath(channelId), parseRetention);
  const [text, setText] = useState('');
  const [saved, setSaved] = useState(false);
  const { busy, error, setError, run } = useAction();
  useEffect(() => setText(days === null || days === undefined ? '' : String(days)), [days]);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setSaved(false);
    const parsed = parseRetentionInput(text);
    if ('error' in parsed) return setError(parsed.error);
    await run(async () => {
      setData(parseRetention(await appSession().request(retentionPath(channelId), { method: 'PUT', body: { retentionDays: parsed.days }, auth: 'required' })));
      setSaved(true);
    });
  };
  return (
    <form className="form" onSubmit={(e) => void submit(e)} data-testid="retention-form">
      {(error ?? loadError) !== null && (
        <p className="form-error" role="alert">
          {error ?? loadError}
        </p>
      )}
      <div className="field">
        <label htmlFor="retention-days">Delete recordings after (days)</label>
        <input id="retention-days" inputMode="numeric" value={text} onChange={(e) => setText(e.target.value)} placeholder="Keep forever" aria-describedby="retention-hint" />
        <small id="retention-hint" className="muted">
          Empty keeps them forever. Checked every hour; deleted recordings cannot be restored.
        </small>
      </div>
      <SaveButton label="Save retention" busy={busy} saved={saved} />
    </form>
  );
}

/**
 * The dashboard's Recordings section: the channel's finished sessions (title, date, media
 * duration, state; re-read every {@link RECORDINGS_POLL_MS}) with Watch, Rename and Delete (confirmation; the API drops it at once and the
 * worker removes its files), and the retention setting.
 */
export function RecordingsLibrary({ channelId }: { channelId: string }) {
  const { data: items, error, setError, reload } = useApiList(recordingsPath(channelId), parseRecordings, RECORDINGS_POLL_MS);
  return (
    <section className="panel" aria-labelledby="recordings-heading" data-testid="recordings-library">
      <h2 id="recordings-heading">Recordings</h2>
      {error !== null && (
        <p className="form-error" role="alert" data-testid="recordings-error">
          {error}
        </p>
      )}
      {items === null ? (
        error === null && (
          <p className="muted" role="status">
            Loading recordings…
          </p>
        )
      ) : items.length === 0 ? (
        <p className="muted">No recordings yet: your streams are recorded when they end.</p>
      ) : (
        <ul className="recordings">
          {items.map((r) => (
            <RecordingItem key={r.sessionId} r={r} onChanged={reload} onError={setError} />
          ))}
        </ul>
      )}
      <RetentionForm channelId={channelId} />
    </section>
  );
}
