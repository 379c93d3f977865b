/**
 * Webhook endpoints, their delivery queue and its attempt log in PostgreSQL (tables of migration
 * `0007_webhooks`). The API registers endpoints and reads the log; the projector's webhook
 * dispatcher (apps/projector/src/webhooks.ts) queues deliveries from the event log and sends
 * them. An endpoint's deliveries are sent one at a time in queue order (`seq`); a process sends
 * to an endpoint only while it holds the endpoint's claim (`claimed_by`, `claimed_until`), so of
 * several dispatchers one sends each endpoint's deliveries and an endpoint that keeps failing
 * holds up only its own queue.
 */
import { sql } from 'kysely';
import { endpointReceives, formatUuidV7, type WebhookPayload } from '@live/events';
import type { Db } from './index.js';
import type { WebhookScope } from './schema.js';

/** A new UUIDv7 (endpoint and delivery ids). */
export function newWebhookId(nowMs = Date.now()): string {
  return formatUuidV7(nowMs, globalThis.crypto.getRandomValues(new Uint8Array(10)));
}

/** An endpoint as the API shows it (never with its secret). */
export interface WebhookEndpointView {
  readonly id: string;
  readonly scope: WebhookScope;
  readonly channelId: string | null;
  readonly url: string;
  readonly description: string;
  readonly eventTypes: string[];
  readonly enabled: boolean;
  readonly disabledReason: string | null;
  /** ISO-8601. */
  readonly disabledAt: string | null;
  readonly createdAt: string;
  readonly createdBy: string;
}

const ENDPOINT_COLUMNS = ['id', 'scope', 'channel_id', 'url', 'description', 'event_types', 'enabled', 'disabled_reason', 'disabled_at', 'created_at', 'created_by'] as const;

function endpointView(r: { id: string; scope: WebhookScope; channel_id: string | null; url: string; description: string; event_types: string[]; enabled: boolean; disabled_reason: string | null; disabled_at: Date | null; created_at: Date; created_by: string }): WebhookEndpointView {
  return {
    id: r.id, scope: r.scope, channelId: r.channel_id, url: r.url, description: r.description, eventTypes: [...r.event_types], enabled: r.enabled,
    disabledReason: r.disabled_reason, disabledAt: r.disabled_at?.toISOString() ?? null, createdAt: r.created_at.toISOString(), createdBy: r.created_by,
  };
}

/** Fields of a new endpoint. */
export interface NewWebhookEndpoint {
  readonly scope: WebhookScope;
  readonly channelId: string | null;
  readonly createdBy: string;
  readonly url: string;
  readonly description: string;
  readonly eventTypes: readonly string[];
  readonly secret: string;
  /** Registration time, ms (the API's clock): events before it are not delivered. */
  readonly createdAtMs: number;
}

/**
 * Registers an endpoint when its scope has fewer than `max` endpoints (counted in the same
 * transaction under an advisory lock of the scope, so two concurrent registrations cannot both
 * take the last place).
 * @returns the endpoint, or null when the scope already has `max`.
 */
export async function createWebhookEndpoint(db: Db, e: NewWebhookEndpoint, max: number): Promise<WebhookEndpointView | null> {
  return db.transaction().execute(async (trx) => {
    const scopeKey = e.scope === 'platform' ? 'webhooks:platform' : `webhooks:channel:${e.channelId}`;
    await sql`select pg_advisory_xact_lock(hashtext(${scopeKey}))`.execute(trx);
    let q = trx.selectFrom('webhook_endpoints').select((eb) => eb.fn.countAll<string>().as('n')).where('scope', '=', e.scope);
    if (e.channelId !== null) q = q.where('channel_id', '=', e.channelId);
    const { n } = await q.executeTakeFirstOrThrow();
    if (Number(n) >= max) return null;
    const row = await trx.insertInto('webhook_endpoints').values({
      id: newWebhookId(e.createdAtMs), scope: e.scope, channel_id: e.channelId, created_by: e.createdBy, url: e.url,
      description: e.description, event_types: [...e.eventTypes], secret: e.secret, created_at: new Date(e.createdAtMs), updated_at: new Date(e.createdAtMs),
    }).returning(ENDPOINT_COLUMNS).executeTakeFirstOrThrow();
    return endpointView(row);
  });
}

/** One endpoint with its secret (for the dispatcher and the API's checks), or null. */
export async function getWebhookEndpoint(db: Db, id: string): Promise<(WebhookEndpointView & { readonly secret: string }) | null> {
  const r = await db.selectFrom('webhook_endpoints').select([...ENDPOINT_COLUMNS, 'secret']).where('id', '=', id).executeTakeFirst();
  return r ? { ...endpointView(r), secret: r.secret } : null;
}

/**
 * Endpoints of one channel (`channelId`), of the platform (`platform: true`), or every endpoint
 * of the channels `ownerUserId` owns plus, for admins, the platform's; oldest first.
 */
export async function listWebhookEndpoints(db: Db, filter: { channelId: string } | { platform: true } | { ownerUserId: string; admin: boolean }): Promise<WebhookEndpointView[]> {
  let q = db.selectFrom('webhook_endpoints').select(ENDPOINT_COLUMNS).orderBy('created_at').orderBy('id');
  if ('channelId' in filter) q = q.where('channel_id', '=', filter.channelId);
  else if ('platform' in filter) q = q.where('scope', '=', 'platform');
  else {
    const owned = db.selectFrom('channels').select('id').where('owner_user_id', '=', filter.ownerUserId);
    q = q.where((eb) => (filter.admin ? eb.or([eb('channel_id', 'in', owned), eb('scope', '=', 'platform')]) : eb('channel_id', 'in', owned)));
  }
  return (await q.execute()).map(endpointView);
}

/** Changes an endpoint's URL, description or types; returns it, or null when it does not exist. */
export async function updateWebhookEndpoint(db: Db, id: string, patch: { url?: string; description?: string; eventTypes?: readonly string[] }): Promise<WebhookEndpointView | null> {
  const r = await db.updateTable('webhook_endpoints').set({
    ...(patch.url !== undefined ? { url: patch.url } : {}),
    ...(patch.description !== undefined ? { description: patch.description } : {}),
    ...(patch.eventTypes !== undefined ? { event_types: [...patch.eventTypes] } : {}),
    updated_at: sql<Date>`now()`,
  }).where('id', '=', id).returning(ENDPOINT_COLUMNS).executeTakeFirst();
  return r ? endpointView(r) : null;
}

/** Deletes an endpoint with its queue and log; returns whether it existed. */
export async function deleteWebhookEndpoint(db: Db, id: string): Promise<boolean> {
  const r = await db.deleteFrom('webhook_endpoints').where('id', '=', id).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/** Replaces an endpoint's secret (effective for the next attempt); returns whether it exists. */
export async function setWebhookSecret(db: Db, id: string, secret: string): Promise<boolean> {
  const r = await db.updateTable('webhook_endpoints').set({ secret, updated_at: sql<Date>`now()` }).where('id', '=', id).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/**
 * Enables an endpoint again: its pending deliveries (the one that exhausted the schedule first)
 * are retried at once with a fresh schedule. Returns it, or null when it does not exist.
 */
export async function enableWebhookEndpoint(db: Db, id: string): Promise<WebhookEndpointView | null> {
  return db.transaction().execute(async (trx) => {
    const r = await trx.updateTable('webhook_endpoints').set({ enabled: true, disabled_reason: null, disabled_at: null, updated_at: sql<Date>`now()` })
      .where('id', '=', id).returning(ENDPOINT_COLUMNS).executeTakeFirst();
    if (!r) return null;
    await trx.updateTable('webhook_deliveries').set({ failures: 0, next_attempt_at: sql<Date>`now()` }).where('endpoint_id', '=', id).where('status', '=', 'pending').execute();
    return endpointView(r);
  });
}

/** One event to fan out to the endpoints that want it. */
export interface WebhookSourceEvent {
  readonly payload: WebhookPayload;
  /** EVENTS stream sequence. */
  readonly seq: number;
}

/**
 * Queues a delivery of each event for every endpoint that receives it (`endpointReceives`), in
 * the events' order, in one statement. Idempotent: an event already queued for an endpoint is
 * not queued again (unique `(endpoint_id, event_id)`), so a redelivered batch adds nothing.
 * @returns the deliveries queued.
 */
export async function enqueueWebhookDeliveries(db: Db, events: readonly WebhookSourceEvent[]): Promise<number> {
  if (events.length === 0) return 0;
  const types = [...new Set(events.map((e) => e.payload.type))];
  const endpoints = await db.selectFrom('webhook_endpoints').select(['id', 'scope', 'channel_id', 'event_types', 'enabled', 'created_at'])
    .where('enabled', '=', true).where(sql<boolean>`event_types && ${sql.val(types)}::text[]`).execute();
  const rows: Array<{ id: string; endpoint_id: string; event_id: string; event_type: string; event_seq: number; payload: string }> = [];
  for (const e of events) {
    const body = JSON.stringify(e.payload);
    for (const ep of endpoints) {
      const sub = { scope: ep.scope, channelId: ep.channel_id, eventTypes: ep.event_types, enabled: ep.enabled, createdAtMs: ep.created_at.getTime() };
      if (endpointReceives(sub, e.payload)) rows.push({ id: newWebhookId(), endpoint_id: ep.id, event_id: e.payload.id, event_type: e.payload.type, event_seq: e.seq, payload: body });
    }
  }
  if (rows.length === 0) return 0;
  // VALUES rows take their bigserial `seq` in list order: the queue keeps the log's order.
  const r = await sql`insert into webhook_deliveries (id, endpoint_id, event_id, event_type, event_seq, payload)
    select id, endpoint_id, event_id, event_type, event_seq, payload from unnest(${sql.val(rows.map((x) => x.id))}::text[], ${sql.val(rows.map((x) => x.endpoint_id))}::text[], ${sql.val(rows.map((x) => x.event_id))}::text[],
      ${sql.val(rows.map((x) => x.event_type))}::text[], ${sql.val(rows.map((x) => x.event_seq))}::bigint[], ${sql.val(rows.map((x) => x.payload))}::text[]) with ordinality
      as t(id, endpoint_id, event_id, event_type, event_seq, payload, n)
    order by n
    on conflict (endpoint_id, event_id) where redelivery_of is null do nothing`.execute(db);
  return Number(r.numAffectedRows ?? 0);
}

/** An endpoint a dispatcher holds the claim of, with what it needs to send. */
export interface ClaimedWebhookEndpoint {
  readonly id: string;
  readonly url: string;
  readonly secret: string;
}

/**
 * Claims up to `limit` enabled endpoints whose first pending delivery is due and that no other
 * dispatcher holds (or whose claim expired), for `claimMs`. Concurrent callers never get the
 * same endpoint (`for update skip locked`).
 */
export async function claimDueWebhookEndpoints(db: Db, holder: string, claimMs: number, limit: number, exclude: readonly string[] = []): Promise<ClaimedWebhookEndpoint[]> {
  if (limit <= 0) return [];
  const r = await sql<ClaimedWebhookEndpoint>`update webhook_endpoints e set claimed_by = ${holder}, claimed_until = now() + ${claimMs} * interval '1 millisecond'
    where e.id in (
      select c.id from webhook_endpoints c
      where c.enabled and (c.claimed_until is null or c.claimed_until < now() or c.claimed_by = ${holder})
        and not (c.id = any(${sql.val([...exclude])}::text[]))
        and (select d.next_attempt_at from webhook_deliveries d where d.endpoint_id = c.id and d.status = 'pending' order by d.seq limit 1) <= now()
      order by c.id limit ${limit}
      for update skip locked)
    returning e.id, e.url, e.secret`.execute(db);
  return r.rows;
}

/**
 * Extends the claim of an endpoint this holder has; returns its current URL and secret (they
 * may have changed), or null when the claim is lost or the endpoint was disabled or deleted.
 */
export async function renewWebhookClaim(db: Db, id: string, holder: string, claimMs: number): Promise<ClaimedWebhookEndpoint | null> {
  const r = await sql<ClaimedWebhookEndpoint>`update webhook_endpoints set claimed_until = now() + ${claimMs} * interval '1 millisecond'
    where id = ${id} and claimed_by = ${holder} and enabled returning id, url, secret`.execute(db);
  return r.rows[0] ?? null;
}

/** Gives an endpoint's claim up (another dispatcher may take it at once). */
export async function releaseWebhookClaim(db: Db, id: string, holder: string): Promise<void> {
  await db.updateTable('webhook_endpoints').set({ claimed_by: null, claimed_until: null }).where('id', '=', id).where('claimed_by', '=', holder).execute();
}

/** The next delivery of an endpoint's queue when it is due, or null. */
export async function nextDueWebhookDelivery(db: Db, endpointId: string): Promise<{ id: string; eventId: string; eventType: string; payload: string; failures: number } | null> {
  const r = await db.selectFrom('webhook_deliveries').select(['id', 'event_id', 'event_type', 'payload', 'failures', 'next_attempt_at'])
    .where('endpoint_id', '=', endpointId).where('status', '=', 'pending').orderBy('seq').limit(1).executeTakeFirst();
  if (!r || r.next_attempt_at.getTime() > Date.now()) return null;
  return { id: r.id, eventId: r.event_id, eventType: r.event_type, payload: r.payload, failures: r.failures };
}

/** The outcome of one HTTP attempt, as logged. */
export interface WebhookAttemptRecord {
  readonly deliveryId: string;
  readonly endpointId: string;
  readonly attemptedAt: Date;
  readonly statusCode: number | null;
  readonly error: string | null;
  readonly durationMs: number;
  /** `delivered` (2xx), `retry` at `retryAt`, or `give-up`: the endpoint is disabled with `reason`. */
  readonly outcome: { kind: 'delivered' } | { kind: 'retry'; retryAt: Date } | { kind: 'give-up'; reason: string };
}

/** Logs an attempt and moves its delivery (and, on give-up, its endpoint) on, in one transaction. */
export async function recordWebhookAttempt(db: Db, a: WebhookAttemptRecord): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx.insertInto('webhook_attempts').values({
      delivery_id: a.deliveryId, attempted_at: a.attemptedAt, status_code: a.statusCode, error: a.error, duration_ms: Math.round(a.durationMs), ok: a.outcome.kind === 'delivered',
    }).execute();
    const o = a.outcome;
    await trx.updateTable('webhook_deliveries').set((eb) => ({
      attempts: eb('attempts', '+', 1),
      ...(o.kind === 'delivered' ? { status: 'delivered' as const, delivered_at: a.attemptedAt, failures: 0 } : { failures: eb('failures', '+', 1) }),
      ...(o.kind === 'retry' ? { next_attempt_at: o.retryAt } : {}),
    })).where('id', '=', a.deliveryId).execute();
    if (o.kind === 'give-up') {
      await trx.updateTable('webhook_endpoints').set({ enabled: false, disabled_reason: o.reason, disabled_at: a.attemptedAt, claimed_by: null, claimed_until: null, updated_at: sql<Date>`now()` })
        .where('id', '=', a.endpointId).execute();
    }
  });
}

/** One delivery of the log with its attempts. */
export interface WebhookDeliveryView {
  readonly id: string;
  readonly eventId: string;
  readonly eventType: string;
  readonly status: 'pending' | 'delivered';
  /** ISO-8601 times. */
  readonly createdAt: string;
  readonly nextAttemptAt: string | null;
  readonly deliveredAt: string | null;
  /** The delivery this one repeats (a redelivery), else null. */
  readonly redeliveryOf: string | null;
  /** The JSON body sent. */
  readonly payload: string;
  /** Oldest first. */
  readonly attempts: Array<{ readonly at: string; readonly statusCode: number | null; readonly error: string | null; readonly durationMs: number; readonly ok: boolean }>;
}

/**
 * An endpoint's delivery log, newest first, `limit` deliveries older than queue position
 * `before` (a `seq` from an earlier page's `nextBefore`), each with its attempts.
 */
export async function webhookDeliveryLog(db: Db, endpointId: string, opts: { limit: number; before?: string }): Promise<{ deliveries: WebhookDeliveryView[]; nextBefore: string | null }> {
  let q = db.selectFrom('webhook_deliveries').selectAll().where('endpoint_id', '=', endpointId).orderBy('seq', 'desc').limit(opts.limit + 1);
  if (opts.before !== undefined) q = q.where(sql<boolean>`seq < ${opts.before}::bigint`);
  const rows = await q.execute();
  const page = rows.slice(0, opts.limit);
  const ids = page.map((r) => r.id);
  const attempts = ids.length === 0 ? [] : await db.selectFrom('webhook_attempts').selectAll().where('delivery_id', 'in', ids).orderBy('id').execute();
  const byDelivery = new Map<string, WebhookDeliveryView['attempts'][number][]>();
  for (const a of attempts) {
    const list = byDelivery.get(a.delivery_id) ?? [];
    list.push({ at: a.attempted_at.toISOString(), statusCode: a.status_code, error: a.error, durationMs: a.duration_ms, ok: a.ok });
    byDelivery.set(a.delivery_id, list);
  }
  return {
    deliveries: page.map((r) => ({
      id: r.id, eventId: r.event_id, eventType: r.event_type, status: r.status, createdAt: r.created_at.toISOString(),
      nextAttemptAt: r.status === 'pending' ? r.next_attempt_at.toISOString() : null, deliveredAt: r.delivered_at?.toISOString() ?? null,
      redeliveryOf: r.redelivery_of, payload: r.payload, attempts: byDelivery.get(r.id) ?? [],
    })),
    nextBefore: rows.length > opts.limit ? String(page[page.length - 1]!.seq) : null,
  };
}

/**
 * Queues the payload of delivery `deliveryId` of `endpointId` again, at the end of the
 * endpoint's queue (Stripe's "Resend"): same event id and body, a new delivery id.
 * @returns the new delivery's id, or null when the delivery is not the endpoint's.
 */
export async function redeliverWebhook(db: Db, endpointId: string, deliveryId: string): Promise<string | null> {
  const id = newWebhookId();
  const r = await sql<{ id: string }>`insert into webhook_deliveries (id, endpoint_id, event_id, event_type, event_seq, payload, redelivery_of)
    select ${id}, endpoint_id, event_id, event_type, event_seq, payload, id from webhook_deliveries where id = ${deliveryId} and endpoint_id = ${endpointId}
    returning id`.execute(db);
  return r.rows[0]?.id ?? null;
}
