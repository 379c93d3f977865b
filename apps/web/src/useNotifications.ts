/**
 * The bell's data for a signed-in user: the unread count and newest notifications from
 * `GET /api/notifications`, kept current through the Server-Sent Events stream
 * `/api/notifications/stream` (WHATWG HTML §9.2 `EventSource`).
 *
 * The stream authenticates with the access token in its URL, checked when it connects. The
 * browser reconnects by itself after a drop (the API asks for `retry: 3000`); when that fails
 * for good (`readyState` CLOSED, e.g. 401 because the token in the URL has expired since), a
 * new stream is opened with a fresh token after a growing delay. Every (re)connection reloads
 * the list, so notifications pushed while disconnected are not missed.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import {
  EMPTY_NOTIFICATIONS, markAllRead, mergeNotification, newestCreatedAt, NOTIFICATION_EVENT, notificationStreamUrl,
  parseNotificationList, parsePushedNotification, reconnectDelayMs, type NotificationItem, type NotificationsState,
} from './notifications';
import { appSession } from './useSession';

/** What {@link useNotifications} returns. */
export interface NotificationsHandle {
  readonly state: NotificationsState;
  /** True while the live stream is open. */
  readonly connected: boolean;
  /** The last notification pushed while this page was open (for a live announcement). */
  readonly latest: NotificationItem | null;
  /** Marks everything shown as read (`POST /api/notifications/read` up to the newest one). */
  readonly markRead: () => Promise<void>;
}

/** Notifications of `userId` (null = signed out: nothing loaded, no stream). */
export function useNotifications(userId: string | null): NotificationsHandle {
  const [state, setState] = useState<NotificationsState>(EMPTY_NOTIFICATIONS);
  const [connected, setConnected] = useState(false);
  const [latest, setLatest] = useState<NotificationItem | null>(null);
  const stateRef = useRef(state);
  stateRef.current = state;
  const reloadRef = useRef<() => Promise<void>>(async () => undefined);

  useEffect(() => {
    setState(EMPTY_NOTIFICATIONS);
    setConnected(false);
    setLatest(null);
    if (userId === null) return;
    const session = appSession();
    const ctrl = new AbortController();
    let stopped = false;
    let source: EventSource | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let attempts = 0;
    // Every notification pushed so far: a list that was read before a push arrived must not
    // erase it, so pushes since the load began are merged into its result.
    const pushed: NotificationItem[] = [];

    const load = async () => {
      const since = pushed.length;
      try {
        const body = await session.request('/api/notifications?limit=20', { auth: 'required', signal: ctrl.signal });
        if (!stopped) setState(pushed.slice(since).reduce(mergeNotification, parseNotificationList(body)));
      } catch {
        // Keep what is shown; the next (re)connection reloads.
      }
    };
    reloadRef.current = load;

    const retry = () => {
      attempts += 1;
      timer = setTimeout(() => void connect(), reconnectDelayMs(attempts));
    };
    const connect = async () => {
      let token: string | null;
      try {
        token = await session.accessToken();
      } catch {
        if (!stopped) retry();
        return;
      }
      if (stopped || token === null) return;
      const es = new EventSource(notificationStreamUrl(token));
      source = es;
      es.onopen = () => {
        attempts = 0;
        setConnected(true);
        void load();
      };
      es.addEventListener(NOTIFICATION_EVENT, (ev) => {
        const n = parsePushedNotification(String((ev as MessageEvent).data));
        if (!n) return;
        pushed.push(n);
        setState((s) => mergeNotification(s, n));
        setLatest(n);
      });
      es.onerror = () => {
        setConnected(false);
        if (es.readyState !== EventSource.CLOSED || stopped) return;
        es.close();
        if (source === es) source = null;
        retry();
      };
    };

    void load();
    void connect();
    return () => {
      stopped = true;
      ctrl.abort();
      clearTimeout(timer);
      source?.close();
      reloadRef.current = async () => undefined;
    };
  }, [userId]);

  const markRead = useCallback(async () => {
    const current = stateRef.current;
    const upTo = newestCreatedAt(current);
    if (current.unread === 0 || upTo === null) return;
    setState(markAllRead);
    try {
      await appSession().request('/api/notifications/read', { method: 'POST', body: { upTo }, auth: 'required' });
    } catch {
      // Shown as read here; the server still counts them, and the next load says so.
    }
    await reloadRef.current();
  }, []);

  return { state, connected, latest, markRead };
}
