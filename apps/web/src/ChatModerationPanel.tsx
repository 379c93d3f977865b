import { useState, type FormEvent } from 'react';
import type { BannedTerm, BannedTermAction } from '@live/events';
import {
  bannedTermsPath, customTimeoutSeconds, describeLogEntry, moderationLogPath, moderatorsPath, parseBannedTerms, parseModerationLog,
  parseModerators, parseRestrictions, restrictionLabel, restrictionPath, restrictionsPath, TIMEOUT_CHOICES, userByNamePath, withTerm,
  type RestrictionItem,
} from './chatModeration';
import { timeAgo } from './format';
import { useAction } from './useAction';
import { useApiList } from './useApiList';
import { appSession } from './useSession';

const request = (path: string, init: { method?: 'POST' | 'PUT' | 'DELETE'; body?: unknown } = {}) => appSession().request(path, { ...init, auth: 'required' });

/** The user id of a username (`GET /api/users/by-name/…`). @throws the API's error (USER_NOT_FOUND). */
async function userIdOf(username: string): Promise<string> {
  const body = (await request(userByNamePath(username))) as { userId?: unknown };
  if (typeof body.userId !== 'string') throw new Error('Unexpected answer from the server.');
  return body.userId;
}

function FormError({ error }: { error: string | null }) {
  return error === null ? null : (
    <p className="form-error" role="alert">
      {error}
    </p>
  );
}

/**
 * The chat moderation tools of a channel, for its owner and its moderators (the API refuses
 * anyone else): bans and timeouts in force with Unban, banning or timing out a user by name for
 * a chosen length, the room's banned terms, its moderators (`canAppoint`: only the owner, or an
 * admin, may appoint), and the moderation log. Everything is read from the API, so it is the
 * same after a reload.
 */
export function ChatModerationPanel({ channelId, canAppoint }: { channelId: string; canAppoint: boolean }) {
  const restrictions = useApiList(restrictionsPath(channelId), parseRestrictions);
  const log = useApiList(moderationLogPath(channelId), parseModerationLog);
  const changed = () => Promise.all([restrictions.reload(), log.reload()]).then(() => undefined);
  return (
    <section className="panel" aria-labelledby="chat-mod-heading" data-testid="chat-moderation">
      <h2 id="chat-mod-heading">Chat moderation</h2>
      <Restrictions channelId={channelId} items={restrictions.data} error={restrictions.error} changed={changed} />
      <RestrictForm channelId={channelId} changed={changed} />
      <BannedTerms channelId={channelId} changed={changed} />
      <Moderators channelId={channelId} canAppoint={canAppoint} />
      <ModerationLog entries={log.data} error={log.error} reload={log.reload} />
    </section>
  );
}

function Restrictions(props: { channelId: string; items: RestrictionItem[] | null; error: string | null; changed: () => Promise<void> }) {
  const { channelId, items, error, changed } = props;
  const action = useAction();
  const unban = (r: RestrictionItem) => action.run(async () => {
    await request(restrictionPath(channelId, r.userId), { method: 'DELETE' });
    await changed();
  });
  return (
    <div className="mod-block" data-testid="ban-list">
      <h3>Banned and timed out</h3>
      <FormError error={error ?? action.error} />
      {items === null ? null : items.length === 0 ? (
        <p className="muted">Nobody is banned or timed out.</p>
      ) : (
        <ul className="mod-list">
          {items.map((r) => (
            <li key={r.userId} data-testid="ban-item" data-user={r.userId} data-kind={r.kind}>
              <span className="chat-user">{r.username}</span> <span>{restrictionLabel(r)}</span>
              {r.reason !== '' && <span className="muted"> — {r.reason}</span>}{' '}
              <button type="button" className="button" disabled={action.busy} onClick={() => void unban(r)} aria-label={`Unban ${r.username}`} data-testid="ban-unban">
                Unban
              </button>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function RestrictForm({ channelId, changed }: { channelId: string; changed: () => Promise<void> }) {
  const [username, setUsername] = useState('');
  const [length, setLength] = useState('ban');
  const [minutes, setMinutes] = useState('');
  const [reason, setReason] = useState('');
  const action = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const durationSeconds = length === 'ban' ? undefined : length === 'custom' ? customTimeoutSeconds(minutes) : Number(length);
    if (durationSeconds === null) return action.setError('Type a timeout of 1 to 20160 minutes (14 days).');
    void action.run(async () => {
      const userId = await userIdOf(username);
      await request(restrictionsPath(channelId), { method: 'POST', body: { userId, ...(durationSeconds === undefined ? {} : { durationSeconds }), ...(reason.trim() ? { reason } : {}) } });
      setUsername('');
      setReason('');
      await changed();
    });
  };
  return (
    <div className="mod-block">
      <h3>Ban or time out</h3>
      <form className="mod-form" onSubmit={submit} data-testid="restrict-form">
        <label>
          Username
          <input value={username} onChange={(e) => setUsername(e.target.value)} required maxLength={32} autoComplete="off" />
        </label>
        <label>
          Length
          <select value={length} onChange={(e) => setLength(e.target.value)}>
            <option value="ban">Ban (until lifted)</option>
            {TIMEOUT_CHOICES.map((c) => (
              <option key={c.seconds} value={String(c.seconds)}>
                Timeout {c.label}
              </option>
            ))}
            <option value="custom">Timeout, custom…</option>
          </select>
        </label>
        {length === 'custom' && (
          <label>
            Minutes
            <input value={minutes} onChange={(e) => setMinutes(e.target.value)} inputMode="numeric" required />
          </label>
        )}
        <label>
          Reason (optional)
          <input value={reason} onChange={(e) => setReason(e.target.value)} maxLength={200} />
        </label>
        <button type="submit" className="button button-primary" disabled={action.busy}>
          {length === 'ban' ? 'Ban' : 'Time out'}
        </button>
      </form>
      <FormError error={action.error} />
    </div>
  );
}

function BannedTerms({ channelId, changed }: { channelId: string; changed: () => Promise<void> }) {
  const list = useApiList(bannedTermsPath(channelId), parseBannedTerms);
  const [pattern, setPattern] = useState('');
  const [termAction, setTermAction] = useState<BannedTermAction>('block');
  const action = useAction();
  const save = (terms: BannedTerm[]) => action.run(async () => {
    list.setData(parseBannedTerms(await request(bannedTermsPath(channelId), { method: 'PUT', body: { terms } })));
    await changed();
  });
  const add = (e: FormEvent) => {
    e.preventDefault();
    const next = withTerm(list.data ?? [], { pattern, action: termAction });
    if ('error' in next) return action.setError(next.error);
    void save(next.terms).then(() => setPattern(''));
  };
  const terms = list.data;
  return (
    <div className="mod-block" data-testid="banned-terms">
      <h3>Banned terms</h3>
      <FormError error={list.error ?? action.error} />
      {terms !== null && terms.length === 0 && <p className="muted">No banned terms in this chat.</p>}
      {terms !== null && terms.length > 0 && (
        <ul className="mod-list">
          {terms.map((t, i) => (
            <li key={t.pattern} data-testid="banned-term">
              <code>{t.pattern}</code> <span className="muted">{t.action === 'block' ? 'blocks the message' : 'holds it for review'}</span>{' '}
              <button type="button" className="button" disabled={action.busy} aria-label={`Remove banned term ${t.pattern}`} onClick={() => void save(terms.filter((_, j) => j !== i))}>
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
      <form className="mod-form" onSubmit={add}>
        <label>
          Word or pattern
          <input value={pattern} onChange={(e) => setPattern(e.target.value)} maxLength={200} autoComplete="off" />
        </label>
        <label>
          When a message matches
          <select value={termAction} onChange={(e) => setTermAction(e.target.value === 'hold' ? 'hold' : 'block')}>
            <option value="block">Block it</option>
            <option value="hold">Hold it for review</option>
          </select>
        </label>
        <button type="submit" className="button" disabled={action.busy || terms === null}>
          Add term
        </button>
      </form>
    </div>
  );
}

function Moderators({ channelId, canAppoint }: { channelId: string; canAppoint: boolean }) {
  const list = useApiList(moderatorsPath(channelId), parseModerators);
  const [username, setUsername] = useState('');
  const action = useAction();
  const change = (method: 'PUT' | 'DELETE', userId: () => Promise<string>) => action.run(async () => {
    await request(moderatorsPath(channelId, await userId()), { method });
    setUsername('');
    await list.reload();
  });
  return (
    <div className="mod-block" data-testid="moderators">
      <h3>Moderators</h3>
      <FormError error={list.error ?? action.error} />
      {list.data !== null && list.data.length === 0 && <p className="muted">No moderators yet.</p>}
      {list.data !== null && list.data.length > 0 && (
        <ul className="mod-list">
          {list.data.map((m) => (
            <li key={m.userId} data-testid="moderator">
              <span className="chat-user">{m.username}</span> <span className="muted">since {timeAgo(m.since)}</span>{' '}
              {canAppoint && (
                <button type="button" className="button" disabled={action.busy} aria-label={`Remove ${m.username} as moderator`} onClick={() => void change('DELETE', async () => m.userId)}>
                  Remove
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
      {canAppoint && (
        <form className="mod-form" onSubmit={(e) => { e.preventDefault(); void change('PUT', () => userIdOf(username)); }}>
          <label>
            Appoint by username
            <input value={username} onChange={(e) => setUsername(e.target.value)} required maxLength={32} autoComplete="off" />
          </label>
          <button type="submit" className="button" disabled={action.busy}>
            Appoint moderator
          </button>
        </form>
      )}
    </div>
  );
}

function ModerationLog(props: { entries: ReturnType<typeof parseModerationLog> | null; error: string | null; reload: () => Promise<void> }) {
  const { entries, error, reload } = props;
  return (
    <div className="mod-block" data-testid="moderation-log">
      <div className="queue-head">
        <h3>Moderation log</h3>
        <button type="button" className="button" onClick={() => void reload()}>
          Reload log
        </button>
      </div>
      <FormError error={error} />
      {entries !== null && entries.length === 0 && <p className="muted">No moderation yet.</p>}
      {entries !== null && entries.length > 0 && (
        <ol className="mod-list">
          {entries.map((e) => (
            <li key={e.id} data-testid="log-entry" data-action={e.action}>
              <time dateTime={e.createdAt} className="muted">{timeAgo(e.createdAt)}</time> <span data-testid="log-text">{describeLogEntry(e)}</span>
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}
