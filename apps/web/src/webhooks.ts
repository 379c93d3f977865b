/**
 * Webhooks as the dashboard reads them (pure): the API's paths and its bodies
 * (apps/api/src/routes/webhooks.ts) checked into typed values, and the event types a channel
 * owner can pick (`WEBHOOK_EVENT_TYPE_NAMES` of `@live/events`) with their labels.
 */
import { WEBHOOK_EVENT_TYPE_NAMES, type WebhookEventType } from '@live/events';

/** An endpoint as listed (never with its secret). Times ISO-8601. */
export interface WebhookEndpoint {
  readonly id: string;
  readonly url: string;
  readonly description: string;
  readonly eventTypes: readonly string[];
  readonly enabled: boolean;
  /** Why deliveries stopped (the retry schedule ran out), or null. */
  readonly disabledReason: string | null;
  readonly createdAt: string;
}

/** One HTTP attempt of a delivery. `statusCode` null: no answer (timeout, refused). */
export interface WebhookAttempt {
  readonly at: string;
  readonly statusCode: number | null;
  readonly error: string | null;
  /** Milliseconds. */
  readonly durationMs: number;
  readonly ok: boolean;
}

/** One delivery of the log with its attempts, oldest attempt first. */
export interface WebhookDelivery {
  readonly id: string;
  readonly eventId: string;
  readonly eventType: string;
  readonly status: 'pending' | 'delivered';
  readonly createdAt: string;
  readonly nextAttemptAt: string | null;
  readonly redeliveryOf: string | null;
  readonly attempts: readonly WebhookAttempt[];
}

/** Labels of the webhook types in the picker, in the catalogue's order. */
export const WEBHOOK_TYPE_LABELS: Readonly<Record<WebhookEventType, string>> = {
  'stream.started': 'Stream started',
  'stream.live': 'Stream playable',
  'stream.ended': 'Stream ended',
  'stream.failed': 'Stream failed',
  'vod.ready': 'VOD ready',
  'channel.followed': 'New follower',
  'chat.message_held': 'Chat message held for review',
};

/** The types offered, as `{ type, label }`. */
export const WEBHOOK_TYPE_CHOICES: ReadonlyArray<{ readonly type: WebhookEventType; readonly label: string }> =
  WEBHOOK_EVENT_TYPE_NAMES.map((type) => ({ type, label: WEBHOOK_TYPE_LABELS[type] }));

/** `/api/webhooks?channelId=<id>`. */
export function webhooksPath(channelId: string): string {
  return `/api/webhooks?${new URLSearchParams({ channelId }).toString()}`;
}

/** `/api/webhooks/<id><rest>`, e.g. `…/rotate-secret`, `…/deliveries?limit=20`. */
export function webhookPath(id: string, rest = ''): string {
  return `/api/webhooks/${encodeURIComponent(id)}${rest}`;
}

const isStr = (v: unknown): v is string => typeof v === 'string';
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

function parseEndpoint(o: unknown): WebhookEndpoint | null {
  if (!isObj(o) || !isStr(o.id) || !isStr(o.url) || !isStr(o.description) || !Array.isArray(o.eventTypes) || typeof o.enabled !== 'boolean' || !isStr(o.createdAt)) return null;
  return {
    id: o.id, url: o.url, description: o.description, eventTypes: o.eventTypes.filter(isStr), enabled: o.enabled,
    disabledReason: isStr(o.disabledReason) ? o.disabledReason : null, createdAt: o.createdAt,
  };
}

/** A `GET /api/webhooks` body as endpoints; malformed ones are dropped. */
export function parseWebhookList(body: unknown): WebhookEndpoint[] {
  const list = isObj(body) ? body.endpoints : undefined;
  return Array.isArray(list) ? list.flatMap((e) => parseEndpoint(e) ?? []) : [];
}

/** A create or rotate answer (`{ endpoint, secret }`), or null when it is not one. */
export function parseWebhookWithSecret(body: unknown): { endpoint: WebhookEndpoint; secret: string } | null {
  if (!isObj(body) || !isStr(body.secret)) return null;
  const endpoint = parseEndpoint(body.endpoint);
  return endpoint ? { endpoint, secret: body.secret } : null;
}

/** A `GET /api/webhooks/{id}/deliveries` body, newest first; malformed entries are dropped. */
export function parseDeliveryLog(body: unknown): WebhookDelivery[] {
  const list = isObj(body) ? body.deliveries : undefined;
  if (!Array.isArray(list)) return [];
  return list.flatMap((d): WebhookDelivery[] => {
    if (!isObj(d) || !isStr(d.id) || !isStr(d.eventId) || !isStr(d.eventType) || (d.status !== 'pending' && d.status !== 'delivered') || !isStr(d.createdAt) || !Array.isArray(d.attempts)) return [];
    const attempts = d.attempts.flatMap((a): WebhookAttempt[] => (isObj(a) && isStr(a.at) && typeof a.durationMs === 'number' && typeof a.ok === 'boolean'
      ? [{ at: a.at, statusCode: typeof a.statusCode === 'number' ? a.statusCode : null, error: isStr(a.error) ? a.error : null, durationMs: a.durationMs, ok: a.ok }]
      : []));
    return [{
      id: d.id, eventId: d.eventId, eventType: d.eventType, status: d.status, createdAt: d.createdAt,
      nextAttemptAt: isStr(d.nextAttemptAt) ? d.nextAttemptAt : null, redeliveryOf: isStr(d.redeliveryOf) ? d.redeliveryOf : null, attempts,
    }];
  });
}

/** How an attempt reads in the log: `200 in 12 ms`, `HTTP 500 in 3 ms`, `ECONNREFUSED after 1 ms`. */
export function attemptLabel(a: WebhookAttempt): string {
  const ms = `${Math.round(a.durationMs)} ms`;
  if (a.ok) return `${a.statusCode ?? ''} in ${ms}`.trim();
  return a.statusCode !== null ? `${a.error ?? `HTTP ${a.statusCode}`} in ${ms}` : `${a.error ?? 'failed'} after ${ms}`;
}
