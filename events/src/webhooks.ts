/**
 * Webhooks, the pure part: which domain events an owner can subscribe an HTTP endpoint to (the
 * public webhook types, named as Stripe's and Twitch EventSub's are: `<object>.<what happened>`),
 * which channel an event concerns, and the JSON body a receiver gets. The body carries only
 * what a channel's owner may see: no relay URLs, node ids, password hashes or stream keys.
 * Signing is in `@live/auth` (`signWebhook`, `verifyWebhook`); delivery in `apps/projector`.
 */
import type { DomainEvent, EventType } from './catalogue.js';

/**
 * The webhook types an endpoint can subscribe to, and the event each one is made from:
 * - `stream.started`: StreamPublishStarted (a publisher connected; a new broadcast session);
 * - `stream.live`: RenditionsReady (the session is playable);
 * - `stream.ended`: StreamPublishEnded;
 * - `stream.failed`: StreamFailed (the media pipeline gave up);
 * - `vod.ready`: VodReady (the session's VOD is packaged);
 * - `channel.followed`: ChannelFollowed;
 * - `chat.message_held`: ChatMessageHeld (a message waits in the moderation queue).
 */
export const WEBHOOK_EVENT_TYPES = {
  'stream.started': 'StreamPublishStarted',
  'stream.live': 'RenditionsReady',
  'stream.ended': 'StreamPublishEnded',
  'stream.failed': 'StreamFailed',
  'vod.ready': 'VodReady',
  'channel.followed': 'ChannelFollowed',
  'chat.message_held': 'ChatMessageHeld',
} as const satisfies Record<string, EventType>;

/** One of the keys of {@link WEBHOOK_EVENT_TYPES}, e.g. `stream.started`. */
export type WebhookEventType = keyof typeof WEBHOOK_EVENT_TYPES;

/** Every {@link WebhookEventType}, in the catalogue's order (for schemas and pickers). */
export const WEBHOOK_EVENT_TYPE_NAMES = Object.keys(WEBHOOK_EVENT_TYPES) as readonly WebhookEventType[];

/** Most endpoints one channel may register (and the platform, for admins' platform-wide ones). */
export const MAX_WEBHOOK_ENDPOINTS = 10;

const BY_EVENT_TYPE: ReadonlyMap<EventType, WebhookEventType> = new Map(
  Object.entries(WEBHOOK_EVENT_TYPES).map(([w, e]) => [e as EventType, w as WebhookEventType]),
);

/** Whether `value` names a {@link WebhookEventType}. */
export function isWebhookEventType(value: string): value is WebhookEventType {
  return Object.prototype.hasOwnProperty.call(WEBHOOK_EVENT_TYPES, value);
}

/** The webhook type a domain event type is delivered as, or undefined when no webhook carries it. */
export function webhookTypeOf(eventType: EventType): WebhookEventType | undefined {
  return BY_EVENT_TYPE.get(eventType);
}

/**
 * The JSON body of a delivery (`JSON.stringify` of it is what is signed and sent):
 * - `id`: the domain event's id (UUIDv7): the same in every attempt and redelivery, so a
 *   receiver deduplicates by it;
 * - `type`: the webhook type; `createdAt`: when the event happened (ISO-8601 UTC);
 * - `channelId`: the channel it concerns; `data`: the type's fields (see {@link webhookData}).
 */
export interface WebhookPayload {
  readonly id: string;
  readonly type: WebhookEventType;
  readonly createdAt: string;
  readonly channelId: string;
  readonly data: Readonly<Record<string, unknown>>;
}

/**
 * What a webhook type tells, from its event's data: only the fields an owner may see.
 * - stream.started: `sessionId`, `source` (codecs, size, frame rate as the encoder announced);
 * - stream.live: `sessionId`, `renditions` (name, width, height, bandwidth);
 * - stream.ended: `sessionId`, `reason`, `durationMs`;
 * - stream.failed: `sessionId`, `stage`, `reason`;
 * - vod.ready: `sessionId`, `durationSeconds` (s), `renditions` (names);
 * - channel.followed: `userId` (the follower);
 * - chat.message_held: `messageId` (the held message's event id, the moderation queue item),
 *   `userId`, `username`, `text`, `term` (the pattern that held it).
 */
function webhookData(event: DomainEvent): Record<string, unknown> | undefined {
  switch (event.type) {
    case 'StreamPublishStarted': return { sessionId: event.data.sessionId, source: event.data.source };
    case 'RenditionsReady': return { sessionId: event.data.sessionId, renditions: event.data.renditions.map((r) => ({ name: r.name, width: r.width, height: r.height, bandwidth: r.bandwidth })) };
    case 'StreamPublishEnded': return { sessionId: event.data.sessionId, reason: event.data.reason, durationMs: event.data.durationMs };
    case 'StreamFailed': return { sessionId: event.data.sessionId, stage: event.data.stage, reason: event.data.reason };
    case 'VodReady': return { sessionId: event.data.sessionId, durationSeconds: event.data.durationSeconds, renditions: [...event.data.renditions] };
    case 'ChannelFollowed': return { userId: event.data.userId };
    case 'ChatMessageHeld': return { messageId: event.id, userId: event.data.userId, username: event.data.username, text: event.data.text, term: event.data.term };
    default: return undefined;
  }
}

/**
 * The webhook payload of a domain event, or undefined when no webhook type carries the event.
 * Every mapped event's data has a `channelId`, which becomes the payload's.
 */
export function renderWebhookPayload(event: DomainEvent): WebhookPayload | undefined {
  const type = webhookTypeOf(event.type);
  const data = webhookData(event);
  if (type === undefined || data === undefined) return undefined;
  const channelId = (event.data as { channelId: string }).channelId;
  return { id: event.id, type, createdAt: event.occurredAt, channelId, data };
}

/** What {@link endpointReceives} reads of an endpoint. */
export interface WebhookSubscription {
  /** `channel`: events of `channelId` only; `platform`: every channel's. */
  readonly scope: 'channel' | 'platform';
  readonly channelId: string | null;
  /** The webhook types it asked for. */
  readonly eventTypes: readonly string[];
  readonly enabled: boolean;
  /** When it was registered, ms since the epoch: events that happened before are not sent. */
  readonly createdAtMs: number;
}

/**
 * Whether an endpoint gets a delivery of `payload`: it is enabled, asked for the type, covers
 * the channel (its own, or every one for the platform scope), and existed when the event
 * happened (a new endpoint does not receive the log's history). A disabled endpoint's missed
 * events are not queued for later.
 */
export function endpointReceives(endpoint: WebhookSubscription, payload: WebhookPayload): boolean {
  return endpoint.enabled
    && endpoint.eventTypes.includes(payload.type)
    && (endpoint.scope === 'platform' || endpoint.channelId === payload.channelId)
    && Date.parse(payload.createdAt) >= endpoint.createdAtMs;
}
