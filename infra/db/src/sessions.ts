import { sql, type Kysely } from 'kysely';
import { LIVE_SESSION_STATUSES, type SessionView } from '@live/events';
import type { Database } from './schema.js';

type Row = Database['stream_sessions'];

/**
 * The {@link SessionView} of a `stream_sessions` row as the driver returns it (`renditions`
 * parsed from jsonb). Also used by the projection's session rule.
 */
export function sessionViewOfRow(r: { [K in keyof Row]: unknown }): SessionView {
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

/** A session joined with its channel, as the API lists it. */
export interface SessionListing extends SessionView {
  readonly channelName: string;
  /**
   * The session's own title (the channel's when it started, followed while live, then kept: a
   * recording keeps its title); the channel's current title for a session recorded without one.
   */
  readonly title: string;
}

/**
 * Lists sessions for discovery: live ones (`starting`, `live`, `reconnecting`) first, then the rest, newest first.
 * @param limit at most this many rows (1..200).
 * @param channelId only this channel's sessions; `sessionId` only that session.
 */
export async function listSessions(db: Kysely<Database>, opts: { limit: number; channelId?: string; sessionId?: string }): Promise<SessionListing[]> {
  let q = db.selectFrom('stream_sessions as s').innerJoin('channels as c', 'c.id', 's.channel_id')
    .selectAll('s').select(['c.display_name', 'c.title as channel_title'])
    .orderBy(sql`case when s.status in ('starting','live','reconnecting') then 0 else 1 end`)
    .orderBy('s.started_at', 'desc')
    .limit(Math.max(1, Math.min(200, opts.limit)));
  if (opts.channelId) q = q.where('s.channel_id', '=', opts.channelId);
  if (opts.sessionId) q = q.where('s.session_id', '=', opts.sessionId);
  const rows = await q.execute();
  return rows.map((r) => ({ ...sessionViewOfRow(r), channelName: r.display_name, title: r.title || r.channel_title }));
}

/** The session currently publishing on a channel (`starting`, `live` or `reconnecting`), newest first; or null. */
export async function currentLiveSession(db: Kysely<Database>, channelId: string): Promise<SessionView | null> {
  const r = await db.selectFrom('stream_sessions').selectAll().where('channel_id', '=', channelId)
    .where('status', 'in', [...LIVE_SESSION_STATUSES]).orderBy('started_at', 'desc').limit(1).executeTakeFirst();
  return r ? sessionViewOfRow(r) : null;
}

