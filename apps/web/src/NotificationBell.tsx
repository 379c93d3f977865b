import { useEffect, useId, useRef, useState } from 'react';
import { timeAgo } from './format';
import { notificationText, unreadBadge } from './notifications';
import { hrefFor, Link } from './router';
import { useNotifications } from './useNotifications';

function BellIcon() {
  return (
    <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false">
      <path
        fill="currentColor"
        d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6V11a7 7 0 0 0-5.5-6.84V3.5a1.5 1.5 0 0 0-3 0v.66A7 7 0 0 0 5 11v5l-2 2v1h18v-1l-2-2Z"
      />
    </svg>
  );
}

/**
 * The header's notification bell for a signed-in user: a button with the unread count (kept
 * live over Server-Sent Events) that opens a panel of "<channel> went live: <title>" entries,
 * each linking to the channel's live player. Opening the panel marks them read. New
 * notifications are announced to screen readers through a polite live region.
 */
export function NotificationBell({ userId }: { userId: string }) {
  const { state, connected, latest, markRead } = useNotifications(userId);
  const [open, setOpen] = useState(false);
  const rootRef = useRef<HTMLDivElement>(null);
  const buttonRef = useRef<HTMLButtonElement>(null);
  const panelId = useId();
  const badge = unreadBadge(state.unread);

  useEffect(() => {
    if (!open) return;
    const onDown = (e: MouseEvent) => {
      if (!rootRef.current?.contains(e.target as Node)) setOpen(false);
    };
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== 'Escape') return;
      setOpen(false);
      buttonRef.current?.focus();
    };
    document.addEventListener('mousedown', onDown);
    document.addEventListener('keydown', onKey);
    return () => {
      document.removeEventListener('mousedown', onDown);
      document.removeEventListener('keydown', onKey);
    };
  }, [open]);

  const toggle = () => {
    const next = !open;
    setOpen(next);
    if (next) void markRead();
  };

  return (
    <div className="bell" ref={rootRef}>
      <button
        ref={buttonRef}
        type="button"
        className="bell-button"
        aria-label={state.unread > 0 ? `Notifications, ${state.unread} unread` : 'Notifications'}
        aria-expanded={open}
        aria-controls={panelId}
        data-testid="bell"
        data-stream={connected ? 'open' : 'closed'}
        data-unread={state.unread}
        onClick={toggle}
      >
        <BellIcon />
        {badge !== '' && (
          <span className="bell-count" data-testid="bell-count" aria-hidden="true">
            {badge}
          </span>
        )}
      </button>
      <div className="sr-only" role="status" aria-live="polite">
        {latest ? notificationText(latest) : ''}
      </div>
      <div id={panelId} className="bell-panel" role="region" aria-label="Notifications" hidden={!open} data-testid="bell-panel">
        {state.items.length === 0 ? (
          <p className="muted bell-empty">No notifications yet. Follow channels to hear when they go live.</p>
        ) : (
          <ul className="bell-list">
            {state.items.map((n) => (
              <li key={n.id} className={n.read ? 'bell-item' : 'bell-item is-unread'} data-testid="notification">
                <Link href={hrefFor({ name: 'live', channelId: n.channelId })} onClick={() => setOpen(false)}>
                  {notificationText(n)}
                </Link>
                <time className="muted" dateTime={n.createdAt}>
                  {timeAgo(n.createdAt)}
                </time>
              </li>
            ))}
          </ul>
        )}
      </div>
    </div>
  );
}
