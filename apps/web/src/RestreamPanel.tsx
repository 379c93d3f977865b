import { useState, type FormEvent } from 'react';
import { errorMessage } from './api';
import { parseRestreamDestinations, restreamPath, restreamStateLabel, type RestreamDestination } from './restream';
import { useAction } from './useAction';
import { useApiList } from './useApiList';
import { appSession } from './useSession';

/** How often the destinations' states are re-read while the dashboard is open, ms. */
const RESTREAM_POLL_MS = 3_000;

/** The add form: name, server URL and stream key (sent once, never shown again). */
function AddDestination({ channelId, onAdded }: { channelId: string; onAdded: () => Promise<void> }) {
  const [name, setName] = useState('');
  const [url, setUrl] = useState('');
  const [key, setKey] = useState('');
  const { busy, error, run } = useAction();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    await run(async () => {
      await appSession().request(restreamPath(channelId), { method: 'POST', body: { name: name.trim(), url: url.trim(), key }, auth: 'required' });
      setName('');
      setUrl('');
      setKey('');
      await onAdded();
    });
  };
  return (
    <form className="form restream-form" onSubmit={(e) => void submit(e)} data-testid="restream-add">
      {error !== null && (
        <p className="form-error" role="alert" data-testid="restream-error">
          {error}
        </p>
      )}
      <div className="field">
        <label htmlFor="restream-name">Name</label>
        <input id="restream-name" required maxLength={64} value={name} onChange={(e) => setName(e.target.value)} placeholder="Twitch" />
      </div>
      <div className="field">
        <label htmlFor="restream-url">Server URL</label>
        <input id="restream-url" required value={url} onChange={(e) => setUrl(e.target.value)} placeholder="rtmp://live.twitch.tv/app" />
      </div>
      <div className="field">
        <label htmlFor="restream-key">Stream key</label>
        <input id="restream-key" required type="password" autoComplete="off" value={key} onChange={(e) => setKey(e.target.value)} aria-describedby="restream-key-hint" />
        <small id="restream-key-hint" className="muted">
          Stored encrypted; only its last four characters are shown again.
        </small>
      </div>
      <button type="submit" className="button button-primary" disabled={busy}>
        {busy ? 'Adding…' : 'Add destination'}
      </button>
    </form>
  );
}

/**
 * The dashboard's Restreaming section: the channel's destinations (name, server, masked key,
 * the state of the latest push, re-read every {@link RESTREAM_POLL_MS}), an on/off switch and a
 * Remove button each, and the add form.
 */
export function RestreamPanel({ channelId }: { channelId: string }) {
  const { data: items, error, setError, reload: load } = useApiList(restreamPath(channelId), parseRestreamDestinations, RESTREAM_POLL_MS);
  const [busyId, setBusyId] = useState<string | null>(null);

  const act = async (d: RestreamDestination, change: 'toggle' | 'remove') => {
    setBusyId(d.id);
    setError(null);
    try {
      await appSession().request(restreamPath(channelId, d.id), change === 'remove' ? { method: 'DELETE', auth: 'required' } : { method: 'PATCH', body: { enabled: !d.enabled }, auth: 'required' });
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusyId(null);
      await load();
    }
  };

  return (
    <section className="panel" aria-labelledby="restream-heading" data-testid="restream-panel">
      <h2 id="restream-heading">Restreaming</h2>
      <p className="muted">Send your broadcast to other platforms while you are live, as you publish it (no re-encoding).</p>
      {error !== null && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      {items !== null && items.length === 0 && <p className="muted">No destinations yet.</p>}
      {items !== null && items.length > 0 && (
        <ul className="restream-list">
          {items.map((d) => (
            <li key={d.id} className="restream-item" data-testid="restream-destination" data-state={d.state}>
              <div className="restream-main">
                <strong>{d.name}</strong>
                <span className="muted restream-target">
                  {d.url} · key {d.maskedKey}
                </span>
                <span className={`restream-state restream-state-${d.enabled ? d.state : 'off'}`} data-testid="restream-state">
                  {d.enabled || d.state === 'live' ? restreamStateLabel(d) : 'Off'}
                </span>
              </div>
              <div className="queue-actions">
                <label className="field-inline">
                  <input type="checkbox" checked={d.enabled} disabled={busyId !== null} onChange={() => void act(d, 'toggle')} data-testid="restream-enabled" /> On
                </label>
                <button type="button" className="button" disabled={busyId !== null} onClick={() => void act(d, 'remove')} data-testid="restream-remove">
                  Remove
                </button>
              </div>
            </li>
          ))}
        </ul>
      )}
      <h3>Add a destination</h3>
      <AddDestination channelId={channelId} onAdded={load} />
    </section>
  );
}
