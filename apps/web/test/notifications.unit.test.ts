/** Notification parsing (Server-Sent Events messages and list bodies) and the bell's state. */
import { describe, expect, it } from 'vitest';
import {
  EMPTY_NOTIFICATIONS, markAllRead, MAX_KEPT_NOTIFICATIONS, mergeNotification, newestCreatedAt, notificationStreamUrl,
  notificationText, parseNotificationList, parsePushedNotification, reconnectDelayMs, unreadBadge, type NotificationItem,
} from '../src/notifications';

/** What the projector publishes on `notify.user.<userId>` and the API relays as SSE `data`. */
const pushed = (over: Record<string, unknown> = {}) => JSON.stringify({
  id: 's1:u2',
  userId: 'u2',
  type: 'FollowedChannelWentLive',
  payload: { channelId: 'nova', channelName: 'Nova <b>Runs</b>', title: 'Any% practice', sessionId: 's1', startedAt: '2025-01-01T10:00:00.000Z' },
  createdAt: '2025-01-01T10:00:05.000Z',
  ...over,
});

const item = (id: string, createdAt: string, read = false): NotificationItem => ({
  id, type: 'FollowedChannelWentLive', channelId: 'nova', channelName: 'Nova', title: 't', sessionId: 's', createdAt, read,
});

describe('SSE messages', () => {
  it('parses a pushed go-live notification', () => {
    expect(parsePushedNotification(pushed())).toEqual({
      id: 's1:u2', type: 'FollowedChannelWentLive', channelId: 'nova', channelName: 'Nova <b>Runs</b>', title: 'Any% practice',
      sessionId: 's1', createdAt: '2025-01-01T10:00:05.000Z', read: false,
    });
  });

  it('ignores what is not a go-live notification', () => {
    expect(parsePushedNotification('not json')).toBeNull();
    expect(parsePushedNotification('null')).toBeNull();
    expect(parsePushedNotification(pushed({ type: 'SomethingElse' }))).toBeNull();
    expect(parsePushedNotification(pushed({ payload: { channelName: 'x', title: 'y' } }))).toBeNull();
    expect(parsePushedNotification(pushed({ id: 42 }))).toBeNull();
  });

  it('formats the entry text (kept as text: markup stays literal)', () => {
    const n = parsePushedNotification(pushed())!;
    expect(notificationText(n)).toBe('Nova <b>Runs</b> went live: Any% practice');
    expect(notificationText({ channelName: 'Nova', title: '  ' })).toBe('Nova went live');
  });

  it('puts the access token in the stream URL, escaped', () => {
    expect(notificationStreamUrl('a.b+c/d=')).toBe('/api/notifications/stream?access_token=a.b%2Bc%2Fd%3D');
  });

  it('reconnects after a growing delay', () => {
    expect([1, 2, 3, 6, 20].map(reconnectDelayMs)).toEqual([1000, 2000, 4000, 30_000, 30_000]);
  });
});

describe('bell state', () => {
  it('reads GET /api/notifications', () => {
    const body = {
      unread: 1,
      items: [
        { id: 'a', type: 'FollowedChannelWentLive', channelId: 'nova', channelName: 'Nova', title: 't', sessionId: 's', startedAt: 'x', createdAt: '2025-01-02T00:00:00Z', read: false },
        { id: 'b', type: 'FollowedChannelWentLive', channelId: 'nova', channelName: 'Nova', title: 't', sessionId: 's', startedAt: 'x', createdAt: '2025-01-01T00:00:00Z', read: true },
        { id: 'c', type: 'Other', createdAt: '2025-01-01T00:00:00Z' },
      ],
      nextCursor: null,
    };
    const s = parseNotificationList(body);
    expect(s.unread).toBe(1);
    expect(s.items.map((i) => [i.id, i.read])).toEqual([['a', false], ['b', true]]);
    expect(parseNotificationList({ unread: -3 })).toEqual(EMPTY_NOTIFICATIONS);
  });

  it('adds pushed notifications once, newest first, and counts them unread', () => {
    let s = mergeNotification(EMPTY_NOTIFICATIONS, item('a', '2025-01-01T00:00:00Z'));
    s = mergeNotification(s, item('b', '2025-01-02T00:00:00Z'));
    expect(s.unread).toBe(2);
    expect(s.items.map((i) => i.id)).toEqual(['b', 'a']);
    // The same notification again (pushed, and also in a reloaded list): no change.
    expect(mergeNotification(s, item('a', '2025-01-01T00:00:00Z'))).toBe(s);
  });

  it('keeps only the newest notifications', () => {
    let s = EMPTY_NOTIFICATIONS;
    for (let i = 0; i < MAX_KEPT_NOTIFICATIONS + 5; i++) s = mergeNotification(s, item(`n${i}`, new Date(Date.UTC(2025, 0, 1, 0, i)).toISOString()));
    expect(s.items).toHaveLength(MAX_KEPT_NOTIFICATIONS);
    expect(s.items[0]?.id).toBe(`n${MAX_KEPT_NOTIFICATIONS + 4}`);
    expect(s.unread).toBe(MAX_KEPT_NOTIFICATIONS + 5);
  });

  it('marks read up to the newest one held', () => {
    const s = { unread: 2, items: [item('a', '2025-01-01T00:00:00.000Z'), item('b', '2025-01-03T00:00:00.000Z'), item('c', 'garbage')] };
    expect(newestCreatedAt(s)).toBe('2025-01-03T00:00:00.000Z');
    expect(newestCreatedAt(EMPTY_NOTIFICATIONS)).toBeNull();
    const read = markAllRead(s);
    expect(read.unread).toBe(0);
    expect(read.items.every((i) => i.read)).toBe(true);
  });

  it('shows the unread badge', () => {
    expect([0, 1, 99, 100].map(unreadBadge)).toEqual(['', '1', '99', '99+']);
  });
});
