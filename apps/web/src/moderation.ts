/**
 * The chat moderation queue as the dashboard reads it (pure): `GET /api/moderation/queue`
 * bodies (`{ items: ModerationItemView[] }`, apps/api/src/routes/chat.ts) and the resolutions
 * each kind of item allows (`POST /api/moderation/queue/{itemId}/resolve`).
 */

/** `report`: a viewer reported a message in the room; `held`: a message matched a `hold` banned term and waits. */
export type ModerationItemKind = 'report' | 'held';
/** What a moderator may do with an item: release a held message, delete a reported one, or do nothing. */
export type ModerationResolution = 'approved' | 'dismissed' | 'deleted';

/** One open queue item. Texts are plain text (rendered as text). Times ISO-8601. */
export interface ModerationItem {
  readonly id: string;
  readonly channelId: string;
  readonly kind: ModerationItemKind;
  readonly messageId: string;
  readonly authorUsername: string;
  /** The message as it was sent. */
  readonly text: string;
  /** The report's reason, or the banned-term pattern that held the message. */
  readonly reason: string;
  readonly createdAt: string;
}

const isStr = (v: unknown): v is string => typeof v === 'string';

/** `/api/moderation/queue?channelId=<id>&status=open`: the open items of a channel's queue. */
export function moderationQueuePath(channelId: string): string {
  return `/api/moderation/queue?${new URLSearchParams({ channelId, status: 'open' }).toString()}`;
}

/** `/api/moderation/queue/<itemId>/resolve`. */
export function resolvePath(itemId: string): string {
  return `/api/moderation/queue/${encodeURIComponent(itemId)}/resolve`;
}

/** A queue body as {@link ModerationItem}s, oldest first; malformed items are dropped. */
export function parseModerationQueue(body: unknown): ModerationItem[] {
  const items = typeof body === 'object' && body !== null ? (body as { items?: unknown }).items : undefined;
  if (!Array.isArray(items)) return [];
  return items.flatMap((i): ModerationItem[] => {
    if (typeof i !== 'object' || i === null) return [];
    const o = i as Record<string, unknown>;
    if (!isStr(o.id) || !isStr(o.channelId) || (o.kind !== 'report' && o.kind !== 'held') || !isStr(o.messageId) ||
      !isStr(o.authorUsername) || !isStr(o.text) || !isStr(o.reason) || !isStr(o.createdAt)) return [];
    return [{ id: o.id, channelId: o.channelId, kind: o.kind, messageId: o.messageId, authorUsername: o.authorUsername, text: o.text, reason: o.reason, createdAt: o.createdAt }];
  });
}

/**
 * The resolutions an item offers, as button labels: a held message is approved (released into
 * the room) or dismissed; a report deletes the message or is dismissed.
 */
export function resolutionsFor(kind: ModerationItemKind): ReadonlyArray<{ readonly resolution: ModerationResolution; readonly label: string }> {
  return kind === 'held'
    ? [{ resolution: 'approved', label: 'Approve' }, { resolution: 'dismissed', label: 'Reject' }]
    : [{ resolution: 'deleted', label: 'Delete message' }, { resolution: 'dismissed', label: 'Dismiss' }];
}
