import { sql, type Kysely, type Transaction } from 'kysely';
import { evolveSession, LIVE_SESSION_STATUSES, type DomainEvent, type SessionView } from '@live/events';
import type { Database } from './schema.js';

type Row = Database['stream_sessions'];

function rowToView(r: { [K in keyof Row]: unknown }): SessionView {
  return {
    sessionId: r.session_id as string,
    channelId: r.channel_id as string,
    status: r.status as SessionView['status'],
    startedAt: (r.started_at as Date).toISOString(),
    endedAt: r.ended_at ? (r.ended_at as Date).toISOString() : null,
    renditions: (r.renditions ?? []) as SessionView['renditions'],
    masterPlaylistKey: (r.master_playlist_key as string | null) ?? null,
    vodMasterPlaylistKey: (r.vod_master_playlist_key as string | null) ?? null,
    vodMp4Key: (r.vod_mp4_key as string | null) ?? null,
    durationSeconds: (r.duration_seconds as number | null) ?? null,
    failureReason: (r.failure_reason as string | null) ?? null,
  };
}

/**
 * Applies one lifecycle event to the `stream_sessions` read model, in one transaction with a
 * row lock: read the row, `evolveSession`, write it back with the event's stream sequence.
 * An event whose sequence is not newer than the row's `last_seq` is skipped, so redelivery and
 * replay are idempotent. `table` lets a replay write into a fresh table.
 */
export async function applySessionEvent(
  db: Kysely<Database>,
  event: DomainEvent,
  streamSequence: number,
  table: 'stream_sessions' = 'stream_sessions',
): Promise<void> {
  await db.transaction().execute((trx) => applySessionEventIn(trx, event, streamSequence, table));
}

/**
 * {@link applySessionEvent} inside a transaction the caller holds (the read-model projection
 * applies it together with the other tables an event touches).
 */
export async function applySessionEventIn(
  trx: Transaction<Database>,
  event: DomainEvent,
  streamSequence: number,
  table: 'stream_sessions' = 'stream_sessions',
): Promise<void> {
  const sessionId = (event.data as { sessionId?: string }).sessionId;
  if (!sessionId) return;
  const row = await trx.selectFrom(table).selectAll().where('session_id', '=', sessionId).forUpdate().executeTakeFirst();
  if (row && Number(row.last_seq) >= streamSequence) return;
  const next = evolveSession(row ? rowToView(row) : null, event);
  if (!next) return;
  const values = {
    session_id: next.sessionId,
    channel_id: next.channelId,
    status: next.status,
    started_at: new Date(next.startedAt),
    ended_at: next.endedAt ? new Date(next.endedAt) : null,
    renditions: JSON.stringify(next.renditions),
    master_playlist_key: next.masterPlaylistKey,
    vod_master_playlist_key: next.vodMasterPlaylistKey,
    vod_mp4_key: next.vodMp4Key,
    duration_seconds: next.durationSeconds,
    failure_reason: next.failureReason,
    last_seq: streamSequence,
  };
  await trx.insertInto(table).values(values)
    .onConflict((oc) => oc.column('session_id').doUpdateSet({ ...values, session_id: sql`excluded.session_id` })).execute();
}

/** A session joined with its channel, as the API lists it. */
export interface SessionListing extends SessionView {
  readonly channelName: string;
  readonly title: string;
}

/**
 * Lists sessions for discovery: live ones (`starting`, `live`, `reconnecting`) first, then the rest, newest first.
 * @param limit at most this many rows (1..200).
 * @param channelId only this channel's sessions; `sessionId` only that session.
 */
export async function listSessions(db: Kysely<Database>, opts: { limit: number; channelId?: string; sessionId?: string }): Promise<SessionListing[]> {
  let q = db.selectFrom('stream_sessions as s').innerJoin('channels as c', 'c.id', 's.channel_id')
    .selectAll('s').select(['c.display_name', 'c.title'])
    .orderBy(sql`case when s.status in ('starting','live','reconnecting') then 0 else 1 end`)
    .orderBy('s.started_at', 'desc')
    .limit(Math.max(1, Math.min(200, opts.limit)));
  if (opts.channelId) q = q.where('s.channel_id', '=', opts.channelId);
  if (opts.sessionId) q = q.where('s.session_id', '=', opts.sessionId);
  const rows = await q.execute();
  return rows.map((r) => ({ ...rowToView(r), channelName: r.display_name, title: r.title }));
}

/** The session currently publishing on a channel (`starting`, `live` or `reconnecting`), newest first; or null. */
export async function currentLiveSession(db: Kysely<Database>, channelId: string): Promise<SessionView | null> {
  const r = await db.selectFrom('stream_sessions').selectAll().where('channel_id', '=', channelId)
    .where('status', 'in', [...LIVE_SESSION_STATUSES]).orderBy('started_at', 'desc').limit(1).executeTakeFirst();
  return r ? rowToView(r) : null;
}

