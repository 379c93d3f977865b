import { sql, type Kysely } from 'kysely';
import type { DomainEvent } from '@live/events';
import type { Database } from './schema.js';
import { loadWorkingSet } from './projection/prefetch.js';
import { applyEvent, type FollowedChannelWentLivePayload } from './projection/rules.js';
import { flushWorkingSet } from './projection/flush.js';

export { channelSearchText, type FollowedChannelWentLivePayload } from './projection/rules.js';
export { NotPrefetchedError } from './projection/state.js';
export { PREFETCH_SECONDARY_LOOKUPS } from './projection/prefetch.js';

/** Name of the read-model projection in `projection_offsets` (and of its durable consumer). */
export const READ_MODELS_PROJECTION = 'readmodels';

/** A notification the projection kept, for the projector to push to an online user. */
export interface KeptNotification {
  readonly id: string;
  readonly userId: string;
  readonly type: 'FollowedChannelWentLive';
  readonly payload: FollowedChannelWentLivePayload;
  /** ISO-8601. */
  readonly createdAt: string;
}

/** Outcome of {@link projectEvent}. */
export interface ProjectionOutcome {
  /** False when the event's sequence was already applied (redelivery, replay over live tables). */
  readonly applied: boolean;
  /** Notifications created by this event (empty unless it made a followed channel live). */
  readonly notifications: readonly KeptNotification[];
}

/** One event of the EVENTS log with its stream sequence (> 0). */
export interface SequencedEvent {
  readonly event: DomainEvent;
  readonly seq: number;
}

/** Outcome of {@link projectEvents}. */
export interface BatchProjectionOutcome {
  /** Events applied: those whose sequence was above the stored offset. */
  readonly applied: number;
  /** Notifications the batch created, in event order (then follower id order). */
  readonly notifications: readonly KeptNotification[];
}

/**
 * Applies a batch of events of the EVENTS log, in stream order, to every Postgres read model
 * (users, channels (with their playback policy), channel_playback_allowlist, stream_keys,
 * channel_moderators, follows, notifications, stream_sessions, and the chat moderation models
 * chat_settings, chat_restrictions, chat_banned_terms, moderation_queue, chat_moderation_log,
 * and restream_destinations) in one transaction, together with the projection's offset in `projection_offsets` (name
 * {@link READ_MODELS_PROJECTION}):
 * 1. locks the offset row; events whose sequence is not above it are skipped, so redelivery
 *    and a replay over populated tables change nothing;
 * 2. loads every row the remaining events read, about one query per table (projection/prefetch.ts);
 * 3. applies the events one by one in memory (projection/rules.ts: the projection's rules);
 * 4. writes the changed rows back with one multi-row statement per table (projection/flush.ts)
 *    and moves the offset to the last event.
 * The result does not depend on how a sequence of events is cut into batches: a batch of one
 * ({@link projectEvent}) and a batch of thousands write the same rows. Every timestamp written
 * comes from the events (`occurredAt`), so a replay into empty tables writes the same rows.
 * @param db the platform database, or `db.withSchema(s)` to build the read models in schema `s`.
 * @param batch events in increasing sequence order (may be empty).
 * @throws RangeError when the sequences are not increasing; the driver's error (nothing of the
 *   batch is then applied); NotPrefetchedError when a rule reads a row prefetch.ts did not load
 *   (a defect).
 */
export async function projectEvents(db: Kysely<Database>, batch: readonly SequencedEvent[]): Promise<BatchProjectionOutcome> {
  for (let i = 1; i < batch.length; i++) {
    if (!(batch[i]!.seq > batch[i - 1]!.seq)) throw new RangeError(`events must be in increasing sequence order (#${batch[i - 1]!.seq} then #${batch[i]!.seq})`);
  }
  if (batch.length === 0) return { applied: 0, notifications: [] };
  return db.transaction().execute(async (trx) => {
    await trx.insertInto('projection_offsets').values({ name: READ_MODELS_PROJECTION, last_seq: 0 })
      .onConflict((oc) => oc.column('name').doNothing()).execute();
    const off = await trx.selectFrom('projection_offsets').select('last_seq').where('name', '=', READ_MODELS_PROJECTION).forUpdate().executeTakeFirstOrThrow();
    const fresh = batch.filter((b) => b.seq > Number(off.last_seq));
    if (fresh.length === 0) return { applied: 0, notifications: [] };
    const ws = await loadWorkingSet(trx, fresh.map((b) => b.event));
    for (const b of fresh) applyEvent(ws, b.event, b.seq);
    const inserted = await flushWorkingSet(trx, ws);
    const last = fresh[fresh.length - 1]!;
    await trx.updateTable('projection_offsets').set({ last_seq: last.seq, updated_at: new Date(last.event.occurredAt) })
      .where('name', '=', READ_MODELS_PROJECTION).execute();
    const notifications = [...ws.notifications.values()].filter((n) => inserted.has(n.id)).map((n): KeptNotification => ({
      id: n.id, userId: n.user_id, type: n.type, payload: JSON.parse(n.payload) as FollowedChannelWentLivePayload, createdAt: n.created_at.toISOString(),
    }));
    return { applied: fresh.length, notifications };
  });
}

/**
 * Applies one event of the EVENTS log: {@link projectEvents} with a batch of one.
 * @param streamSequence the event's EVENTS stream sequence (> 0).
 * @throws the driver's error; nothing of the event is then applied.
 */
export async function projectEvent(db: Kysely<Database>, event: DomainEvent, streamSequence: number): Promise<ProjectionOutcome> {
  const r = await projectEvents(db, [{ event, seq: streamSequence }]);
  return { applied: r.applied > 0, notifications: r.notifications };
}

/** The EVENTS sequence the read models have been projected up to (0 before the first event). */
export async function projectedSequence(db: Kysely<Database>): Promise<number> {
  const r = await db.selectFrom('projection_offsets').select('last_seq').where('name', '=', READ_MODELS_PROJECTION).executeTakeFirst();
  return r ? Number(r.last_seq) : 0;
}

/**
 * Waits until the read models include the event at `streamSequence` (read-your-writes for a
 * command handler that has just appended it). Polls `projection_offsets` every 5 ms.
 * @returns true when projected, false when `timeoutMs` passed first (the projector is down or
 *   behind; the event is in the log and will be projected when it catches up).
 */
export async function waitForProjection(db: Kysely<Database>, streamSequence: number, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await projectedSequence(db)) >= streamSequence) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The read-model tables a replay rebuilds, each with the columns that order its rows. */
export const READ_MODEL_TABLES = {
  users: ['id'],
  channels: ['id'],
  stream_keys: ['id'],
  channel_moderators: ['channel_id', 'user_id'],
  channel_playback_allowlist: ['channel_id', 'user_id'],
  follows: ['follower_id', 'channel_id'],
  notifications: ['id'],
  stream_sessions: ['session_id'],
  chat_settings: ['channel_id'],
  chat_restrictions: ['channel_id', 'user_id'],
  chat_banned_terms: ['channel_id', 'position'],
  moderation_queue: ['id'],
  chat_moderation_log: ['id'],
  restream_destinations: ['id'],
  projection_offsets: ['name'],
} as const satisfies Partial<Record<keyof Database, readonly string[]>>;

/**
 * Creates schema `schema` (dropping it first if it exists) holding empty copies of every
 * read-model table (`create table … (like public.… including all)`: columns, defaults,
 * generated columns, indexes; not foreign keys), ready for a replay with `db.withSchema(schema)`.
 * @throws TypeError when `schema` is not a plain lower-case identifier.
 */
export async function createReadModelSchema(db: Kysely<Database>, schema: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema) || schema === 'public') throw new TypeError(`invalid replay schema name ${schema}`);
  await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(db);
  await sql`create schema ${sql.id(schema)}`.execute(db);
  for (const t of Object.keys(READ_MODEL_TABLES)) {
    await sql`create table ${sql.id(schema, t)} (like ${sql.id('public', t)} including all)`.execute(db);
  }
}

/**
 * Reads every row of a read-model table in key order, as JSON-comparable objects (dates as
 * ISO strings). For comparing a replayed schema with the live tables.
 */
export async function readModelRows(db: Kysely<Database>, table: keyof typeof READ_MODEL_TABLES, schema = 'public'): Promise<Record<string, unknown>[]> {
  const order = READ_MODEL_TABLES[table].map((c) => sql.id(c));
  const r = await sql<Record<string, unknown>>`select * from ${sql.id(schema, table)} order by ${sql.join(order)}`.execute(db);
  return r.rows.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : v])));
}
