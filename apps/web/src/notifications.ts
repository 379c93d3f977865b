/**
 * Notifications as the web app keeps them (pure): `GET /api/notifications` bodies, messages of
 * the Server-Sent Events stream `GET /api/notifications/stream` (each `event:
 * FollowedChannelWentLive` carries the projector's JSON `{ id, userId, type, payload: {
 * channelId, channelName, title, sessionId, startedAt }, createdAt }`), and the bell's state.
 */

/** SSE event name of a go-live notification. */
export const NOTIFICATION_EVENT = 'FollowedChannelWentLive';
/** Most notifications the bell keeps in memory. */
export const MAX_KEPT_NOTIFICATIONS = 20;

/** One "a channel you follow went live" notification. */
export interface NotificationItem {
  readonly id: string;
  readonly type: 'FollowedChannelWentLive';
  readonly channelId: string;
  readonly channelName: string;
  readonly title: string;
  readonly sessionId: string;
  /** ISO 8601. */
  readonly createdAt: string;
  readonly read: boolean;
}

/** What the bell shows: the unread count (server-side truth) and the newest notifications. */
export interface NotificationsState {
  readonly unread: number;
  readonly items: readonly NotificationItem[];
}

/** The bell before anything is loaded. */
export const EMPTY_NOTIFICATIONS: NotificationsState = { unread: 0, items: [] };

const isStr = (v: unknown): v is string => typeof v === 'string';
const obj = (v: unknown): Record<string, unknown> | null => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : null);

function item(id: unknown, createdAt: unknown, read: boolean, p: Record<string, unknown> | null): NotificationItem | null {
  if (!p || !isStr(id) || id === '' || !isStr(createdAt) || !isStr(p.channelId) || p.channelId === '' || !isStr(p.channelName) || !isStr(p.title)) return null;
  return {
    id, type: NOTIFICATION_EVENT, channelId: p.channelId, channelName: p.channelName, title: p.title,
    sessionId: isStr(p.sessionId) ? p.sessionId : '', createdAt, read,
  };
}

/**
 * The `data` of one SSE message as a {@link NotificationItem} (unread), or null when it is not
 * JSON or not a go-live notification (unknown types are ignored, not errors).
 */
export function parsePushedNotification(data: string): NotificationItem | null {
  let v: unknown;
  try {
    v = JSON.parse(data);
  } catch {
    return null;
  }
  const o = obj(v);
  if (!o || o.type !== NOTIFICATION_EVENT) return null;
  return item(o.id, o.createdAt, false, obj(o.payload));
}

/** A `GET /api/notifications` body as a {@link NotificationsState}; malformed items are dropped. */
export function parseNotificationList(body: unknown): NotificationsState {
  const o = obj(body);
  const items = Array.isArray(o?.items) ? o.items : [];
  const unread = typeof o?.unread === 'number' && Number.isFinite(o.unread) && o.unread >= 0 ? Math.floor(o.unread) : 0;
  const parsed = items
    .map((i) => {
      const r = obj(i);
      return r && r.type === NOTIFICATION_EVENT ? item(r.id, r.createdAt, r.read === true, r) : null;
    })
    .filter((i): i is NotificationItem => i !== null);
  return { unread, items: parsed.slice(0, MAX_KEPT_NOTIFICATIONS) };
}

/**
 * Adds a pushed notification: newest first, one more unread. A notification already held
 * (same id: the list was reloaded after it was pushed) changes nothing.
 */
export function mergeNotification(state: NotificationsState, n: NotificationItem): NotificationsState {
  if (state.items.some((i) => i.id === n.id)) return state;
  return { unread: state.unread + (n.read ? 0 : 1), items: [n, ...state.items].slice(0, MAX_KEPT_NOTIFICATIONS) };
}

/** Everything held marked read, and the unread count 0. */
export function markAllRead(state: NotificationsState): NotificationsState {
  return { unread: 0, items: state.items.map((i) => (i.read ? i : { ...i, read: true })) };
}

/** `createdAt` of the newest notification held (what `POST /api/notifications/read` takes as `upTo`), or null. */
export function newestCreatedAt(state: NotificationsState): string | null {
  let best: string | null = null;
  let bestMs = -Infinity;
  for (const i of state.items) {
    const t = Date.parse(i.createdAt);
    if (!Number.isNaN(t) && t > bestMs) {
      bestMs = t;
      best = i.createdAt;
    }
  }
  return best;
}

/**
 * URL of the notification stream. `EventSource` cannot send headers, so the access token goes
 * in the query (the API accepts it there on this one path and redacts it from its logs).
 */
export function notificationStreamUrl(accessToken: string): string {
  return `/api/notifications/stream?access_token=${encodeURIComponent(accessToken)}`;
}

/** "<channel> went live: <title>" (without the title part when the title is empty). */
export function notificationText(n: Pick<NotificationItem, 'channelName' | 'title'>): string {
  return n.title.trim() === '' ? `${n.channelName} went live` : `${n.channelName} went live: ${n.title}`;
}

/** The badge text of an unread count: '' for 0, "99+" above 99. */
export function unreadBadge(unread: number): string {
  return unread <= 0 ? '' : unread > 99 ? '99+' : String(unread);
}

/** Delay before the n-th (1-based) reconnection of the notification stream: 1 s, 2 s, 4 s, … ≤ 30 s. */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(1000 * 2 ** Math.max(0, attempt - 1), 30_000);
}
