import { useEffect, useLayoutEffect, useRef, useState, type FormEvent } from 'react';
import { CHAT_MAX_MESSAGE_LENGTH, isEmote, type ChatLine, type ChatRoomSettings } from '@live/events';
import {
  CHAT_EMOTES, chatTextLength, EMOTE_GLYPHS, feedbackText, lineCount, modeBadges, restrictionText,
  secondsLeft, SLOW_MODE_CHOICES, waitLabel, type ChatEntry, type ChatIdentity, type ChatState, type LineStatus,
} from './chat';
import { TIMEOUT_CHOICES } from './chatModeration';
import { countLabel } from './platform';
import { hrefFor, Link } from './router';
import { useChat, type ChatHandle } from './useChat';
import { useSession } from './useSession';

/** Reasons offered when reporting a message. */
const REPORT_REASONS = ['Spam', 'Harassment', 'Hate speech', 'Other'] as const;
/** A list scrolled to within this many px of its end follows new messages. */
const STICK_PX = 40;

/** The current time, re-read every `everyMs` while `active` (for countdowns). */
function useNow(active: boolean, everyMs = 500): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    setNow(Date.now());
    const t = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(t);
  }, [active, everyMs]);
  return now;
}

function connectionText(s: ChatState, now: number): string {
  switch (s.connection) {
    case 'connecting':
      return 'Connecting…';
    case 'open':
      return 'Connected';
    case 'reconnecting': {
      const left = s.retryAt === null ? 0 : secondsLeft(s.retryAt, now);
      return left > 0 ? `${s.closedReason ?? 'Disconnected.'} Reconnecting in ${waitLabel(left)}…` : 'Reconnecting…';
    }
    case 'closed':
      return s.closedReason ?? 'Chat closed.';
  }
}

/**
 * The live chat of a channel beside the player: connection state, viewers, the room's modes,
 * the message list (follows new messages unless scrolled up), emote buttons and the send box
 * with a {@link CHAT_MAX_MESSAGE_LENGTH}-character counter (a "Sign in to chat" link when
 * anonymous), the gateway's refusals inline (with the wait counted down), report for signed-in
 * users, and delete / timeout / ban and mode toggles for moderators.
 * Every message is rendered as text (React text nodes), never as HTML.
 * `ownerUserId` (when known) hides timeout/ban on the owner's lines (the gateway refuses them).
 * Mount it with `key={channelId}` so that another channel starts from an empty state.
 */
export function ChatPanel({ channelId, ownerUserId = null }: { channelId: string; ownerUserId?: string | null }) {
  const { status, user } = useSession();
  const userId = status === 'signed-in' && user ? user.userId : null;
  const chat = useChat(channelId, userId);
  const { state } = chat;
  const me = state.me;
  const moderator = me?.moderator === true;

  // Re-render every half second only while something counts down (or an info fades).
  const ticking =
    (state.feedback !== null && (state.feedback.until !== null || state.feedback.tone === 'info')) ||
    state.restriction?.kind === 'timeout' || state.connection === 'reconnecting';
  const now = useNow(ticking);
  const feedback = feedbackText(state.feedback, now);
  const restriction = restrictionText(state.restriction, now);

  const [draft, setDraft] = useState('');
  // Put a refused message back into an empty send box so it can be edited and sent again.
  const lastFeedback = useRef(state.feedback);
  useEffect(() => {
    if (state.feedback === lastFeedback.current) return;
    lastFeedback.current = state.feedback;
    const failed = state.feedback?.failedText;
    if (failed) setDraft((d) => (d === '' ? failed : d));
  }, [state.feedback]);

  const length = chatTextLength(draft);
  const tooLong = length > CHAT_MAX_MESSAGE_LENGTH;
  const connected = state.connection === 'open';
  const emoteOnly = state.settings.emoteOnly && !moderator;
  const waiting = state.feedback?.until != null && secondsLeft(state.feedback.until, now) > 0;
  const canWrite = userId !== null && connected && restriction === null;
  const canSendText = canWrite && !emoteOnly && !waiting && draft.trim() !== '' && !tooLong;

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!canSendText) return;
    if (chat.sendMessage(draft)) setDraft('');
  };

  const placeholder =
    status === 'anonymous' ? 'Sign in to chat'
      : status === 'restoring' ? 'Restoring your sign-in…'
        : !connected ? 'Connecting to chat…'
          : restriction !== null ? restriction
            : emoteOnly ? 'Emote-only mode: send an emote'
              : 'Send a message';

  return (
    <aside className="chat-panel" aria-label="Chat" data-testid="chat-panel" data-connection={state.connection}>
      <header className="chat-head">
        <h2 className="chat-title">Chat</h2>
        <span className={`chat-conn chat-conn-${state.connection}`} data-testid="chat-connection" role="status">
          {connectionText(state, now)}
        </span>
        {state.viewers !== null && (
          <span className="chat-viewers muted" data-testid="chat-viewers" aria-live="polite">
            {countLabel(state.viewers, 'viewer')}
          </span>
        )}
      </header>
      <ModeBar settings={state.settings} />
      {moderator && <ModeControls channelId={channelId} settings={state.settings} moderate={chat.moderate} />}

      <MessageList state={state} me={me} signedIn={userId !== null} ownerUserId={ownerUserId} chat={chat} />

      <div className="chat-compose">
        {feedback !== null && (
          <p className={`chat-feedback chat-feedback-${state.feedback?.tone ?? 'error'}`} role="alert" data-testid="chat-error" data-code={state.feedback?.code}>
            <span>{feedback}</span>
            <button type="button" className="chat-dismiss" aria-label="Dismiss" onClick={chat.dismissFeedback}>
              ×
            </button>
          </p>
        )}
        {restriction !== null && (
          <p className="chat-feedback chat-feedback-error" data-testid="chat-restriction" data-kind={state.restriction?.kind}>
            {restriction}
          </p>
        )}
        <div className="chat-emotes" role="group" aria-label="Emotes">
          {CHAT_EMOTES.map((emote) => (
            <button
              key={emote}
              type="button"
              className="chat-emote-button"
              title={EMOTE_GLYPHS[emote].label}
              aria-label={`Send ${EMOTE_GLYPHS[emote].label}`}
              disabled={!canWrite || waiting}
              onClick={() => chat.sendEmote(emote)}
              data-testid={`chat-emote-${emote}`}
            >
              {EMOTE_GLYPHS[emote].glyph}
            </button>
          ))}
        </div>
        <form className="chat-form" onSubmit={submit}>
          <label className="sr-only" htmlFor={`chat-input-${channelId}`}>
            Chat message
          </label>
          <input
            id={`chat-input-${channelId}`}
            className="chat-input"
            type="text"
            autoComplete="off"
            value={draft}
            placeholder={placeholder}
            disabled={!canWrite || emoteOnly}
            onChange={(e) => setDraft(e.target.value)}
            aria-invalid={tooLong}
            aria-describedby={`chat-counter-${channelId}`}
            data-testid="chat-input"
          />
          <span
            id={`chat-counter-${channelId}`}
            className={`chat-counter${tooLong ? ' is-over' : ''}`}
            data-testid="chat-counter"
            aria-label={`${length} of ${CHAT_MAX_MESSAGE_LENGTH} characters`}
          >
            {length}/{CHAT_MAX_MESSAGE_LENGTH}
          </span>
          <button type="submit" className="button button-primary" disabled={!canSendText} data-testid="chat-send">
            Chat
          </button>
        </form>
        {status === 'anonymous' && (
          <p className="chat-signin">
            <Link href={hrefFor({ name: 'signin', next: hrefFor({ name: 'live', channelId }) })} data-testid="chat-sign-in">
              Sign in to chat
            </Link>
          </p>
        )}
      </div>
    </aside>
  );
}

function ModeBar({ settings }: { settings: ChatRoomSettings }) {
  const badges = modeBadges(settings);
  if (badges.length === 0) return null;
  return (
    <p className="chat-modes" data-testid="chat-modes">
      {badges.map((b) => (
        <span key={b} className="chat-mode">
          {b}
        </span>
      ))}
    </p>
  );
}

function ModeControls({ channelId, settings, moderate }: { channelId: string; settings: ChatRoomSettings; moderate: ChatHandle['moderate'] }) {
  const set = (s: Partial<ChatRoomSettings>) => moderate({ kind: 'settings', settings: s });
  const choices = SLOW_MODE_CHOICES.includes(settings.slowModeSeconds) ? SLOW_MODE_CHOICES : [...SLOW_MODE_CHOICES, settings.slowModeSeconds].sort((a, b) => a - b);
  return (
    <details className="chat-mod-controls" data-testid="chat-mod-controls">
      <summary>Moderator settings</summary>
      <label className="field-inline">
        Slow mode
        <select value={String(settings.slowModeSeconds)} onChange={(e) => set({ slowModeSeconds: Number(e.target.value) })} data-testid="chat-slow-mode">
          {choices.map((s) => (
            <option key={s} value={String(s)}>
              {s === 0 ? 'Off' : waitLabel(s)}
            </option>
          ))}
        </select>
      </label>
      <label className="field-inline">
        <input type="checkbox" checked={settings.followersOnly} onChange={(e) => set({ followersOnly: e.target.checked })} data-testid="chat-followers-only" />
        Followers-only
      </label>
      <label className="field-inline">
        <input type="checkbox" checked={settings.emoteOnly} onChange={(e) => set({ emoteOnly: e.target.checked })} data-testid="chat-emote-only" />
        Emote-only
      </label>
      <label className="field-inline">
        <input type="checkbox" checked={settings.linksAllowed} onChange={(e) => set({ linksAllowed: e.target.checked })} data-testid="chat-links-allowed" />
        Links allowed
      </label>
      <Link href={hrefFor({ name: 'moderate', channelId })} data-testid="chat-mod-tools">
        Bans, banned terms and moderation log
      </Link>
    </details>
  );
}

function MessageList(props: { state: ChatState; me: ChatIdentity | null; signedIn: boolean; ownerUserId: string | null; chat: ChatHandle }) {
  const { state, me, signedIn, ownerUserId, chat } = props;
  const listRef = useRef<HTMLOListElement>(null);
  const stick = useRef(true);
  const [unseen, setUnseen] = useState(false);
  const [reporting, setReporting] = useState<string | null>(null);
  const count = lineCount(state);
  const lastEntry = state.entries[state.entries.length - 1];
  const lastKey = lastEntry ? (lastEntry.type === 'line' ? lastEntry.line.id : lastEntry.id) : '';

  const onScroll = () => {
    const el = listRef.current;
    if (!el) return;
    stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < STICK_PX;
    if (stick.current) setUnseen(false);
  };
  const toBottom = () => {
    const el = listRef.current;
    if (el) el.scrollTop = el.scrollHeight;
    stick.current = true;
    setUnseen(false);
  };

  // Follow new entries while the user is at the end; otherwise offer to jump there.
  useLayoutEffect(() => {
    const el = listRef.current;
    if (!el || lastKey === '') return;
    if (stick.current) el.scrollTop = el.scrollHeight;
    else setUnseen(true);
  }, [lastKey]);

  return (
    <div className="chat-list-wrap">
      <ol className="chat-list" ref={listRef} onScroll={onScroll} data-testid="chat-list" data-lines={count} aria-live="polite" aria-relevant="additions" aria-label="Chat messages">
        {state.entries.length === 0 && (
          <li className="chat-empty muted">{state.connection === 'open' ? 'No messages yet. Say hello!' : 'Loading chat…'}</li>
        )}
        {state.entries.map((e) => (
          <Entry
            key={e.type === 'line' ? e.line.id : `sys-${e.id}`}
            entry={e}
            me={me}
            signedIn={signedIn}
            ownerUserId={ownerUserId}
            chat={chat}
            reporting={e.type === 'line' && reporting === e.line.id}
            setReporting={setReporting}
          />
        ))}
      </ol>
      {unseen && (
        <button type="button" className="chat-more button" onClick={toBottom} data-testid="chat-more">
          New messages ↓
        </button>
      )}
    </div>
  );
}

function Entry(props: {
  entry: ChatEntry;
  me: ChatIdentity | null;
  signedIn: boolean;
  ownerUserId: string | null;
  chat: ChatHandle;
  reporting: boolean;
  setReporting: (id: string | null) => void;
}) {
  const { entry, me, signedIn, ownerUserId, chat, reporting, setReporting } = props;
  if (entry.type === 'system') {
    return (
      <li className="chat-line chat-system" data-testid="chat-system">
        {entry.text}
      </li>
    );
  }
  const { line, status } = entry;
  const moderator = me?.moderator === true;
  const own = me !== null && me.userId === line.userId;
  const time = new Date(line.at);
  return (
    <li
      className={`chat-line is-${status}`}
      data-testid="chat-line"
      data-id={line.id}
      data-seq={line.seq}
      data-user={line.userId}
      data-status={status}
    >
      <time className="chat-time" dateTime={line.at} title={time.toLocaleString()}>
        {Number.isNaN(time.getTime()) ? '' : time.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}
      </time>{' '}
      <span className="chat-user" data-testid="chat-user">
        {line.username}
      </span>
      <span className="chat-sep">: </span>
      <LineBody line={line} status={status} moderator={moderator} />
      {status !== 'deleted' && signedIn && me !== null && !own && (
        <span className="chat-actions">
          <button type="button" className="chat-action" onClick={() => setReporting(reporting ? null : line.id)} data-testid="chat-report">
            Report
          </button>
          {moderator && (
            <>
              <button type="button" className="chat-action" onClick={() => chat.moderate({ kind: 'delete', messageId: line.id })} data-testid="chat-delete">
                Delete
              </button>
              {line.userId === ownerUserId ? null : status === 'removed' ? (
                <button type="button" className="chat-action" onClick={() => chat.moderate({ kind: 'unban', userId: line.userId })} aria-label={`Unban ${line.username}`} data-testid="chat-unban">
                  Unban
                </button>
              ) : (
                <>
                  <select
                    className="chat-action"
                    value=""
                    aria-label={`Time out ${line.username}`}
                    onChange={(e) => {
                      const durationSeconds = Number(e.target.value);
                      if (durationSeconds > 0) chat.moderate({ kind: 'timeout', userId: line.userId, durationSeconds });
                    }}
                    data-testid="chat-timeout"
                  >
                    <option value="">Timeout…</option>
                    {TIMEOUT_CHOICES.map((c) => (
                      <option key={c.seconds} value={String(c.seconds)}>
                        {c.label}
                      </option>
                    ))}
                  </select>
                  <button type="button" className="chat-action chat-action-danger" onClick={() => chat.moderate({ kind: 'ban', userId: line.userId })} aria-label={`Ban ${line.username}`} data-testid="chat-ban">
                    Ban
                  </button>
                </>
              )}
            </>
          )}
        </span>
      )}
      {reporting && (
        <span className="chat-report-form" role="group" aria-label="Report this message">
          Report as:
          {REPORT_REASONS.map((r) => (
            <button
              key={r}
              type="button"
              className="chat-action"
              onClick={() => {
                chat.report(line.id, r);
                setReporting(null);
              }}
            >
              {r}
            </button>
          ))}
          <button type="button" className="chat-action" onClick={() => setReporting(null)}>
            Cancel
          </button>
        </span>
      )}
    </li>
  );
}

function LineBody({ line, status, moderator }: { line: ChatLine; status: LineStatus; moderator: boolean }) {
  if (status === 'deleted') {
    return (
      <span className="chat-text chat-tombstone" data-testid="chat-text">
        message deleted
      </span>
    );
  }
  if (status === 'removed' && !moderator) {
    return (
      <span className="chat-text chat-tombstone" data-testid="chat-text">
        message removed by a moderator
      </span>
    );
  }
  if (line.kind === 'emote' && isEmote(line.text)) {
    const g = EMOTE_GLYPHS[line.text];
    return (
      <span className="chat-text chat-emote" data-testid="chat-text" role="img" aria-label={g.label} title={g.label}>
        {g.glyph}
      </span>
    );
  }
  // Plain text: a React text node, so markup in it is shown literally.
  return (
    <span className="chat-text" data-testid="chat-text">
      {line.text}
    </span>
  );
}
