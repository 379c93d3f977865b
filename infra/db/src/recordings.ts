/**
 * The recordings read queries: a channel's recordings (finished sessions) for its dashboard, and
 * the recordings past their channel's retention for the retention workflow.
 */
import { sql, type Kysely } from 'kysely';
import { RECORDING_STATUSES } from '@live/events';
import type { Database } from './schema.js';

/** One recording (a finished session of `RECORDING_STATUSES`) as the dashboard lists it. */
export interface RecordingRow {
  readonly sessionId: string;
  readonly channelId: string;
  /** The session's own title ('' when it was recorded without one). */
  readonly title: string;
  readonly status: 'ended' | 'vod' | 'failed';
  readonly startedAt: Date;
  readonly endedAt: Date | null;
  /** Seconds of media in the VOD (its playlist's durations), null until packaged. */
  readonly durationSeconds: number | null;
  /** Storage key of the VOD master playlist, null until packaged. */
  readonly vodMasterPlaylistKey: string | null;
}

/**
 * A channel's recordings, newest first.
 * @param limit at most this many (1..200).
 */
export async function listRecordings(db: Kysely<Database>, channelId: string, limit: number): Promise<RecordingRow[]> {
  const rows = await db.selectFrom('stream_sessions')
    .select(['session_id', 'channel_id', 'title', 'status', 'started_at', 'ended_at', 'duration_seconds', 'vod_master_playlist_key'])
    .where('channel_id', '=', channelId).where('status', 'in', [...RECORDING_STATUSES])
    .orderBy('started_at', 'desc').orderBy('session_id').limit(Math.max(1, Math.min(200, limit))).execute();
  return rows.map((r) => ({
    sessionId: r.session_id, channelId: r.channel_id, title: r.title, status: r.status as RecordingRow['status'], startedAt: r.started_at,
    endedAt: r.ended_at, durationSeconds: r.duration_seconds, vodMasterPlaylistKey: r.vod_master_playlist_key,
  }));
}

/** A recording past its channel's retention. */
export interface ExpiredRecording {
  readonly channelId: string;
  readonly sessionId: string;
}

/**
 * Recordings whose channel has a retention limit and that ended (or, without an end time,
 * started) at least that many days before `nowMs` (ms since the epoch): `vod`, `failed`, and
 * `ended` ones (a session still `ended` that long after is not being packaged any more). Oldest
 * first, at most `limit`.
 */
export async function expiredRecordings(db: Kysely<Database>, nowMs: number, limit: number): Promise<ExpiredRecording[]> {
  const now = new Date(nowMs);
  const rows = await db.selectFrom('stream_sessions as s').innerJoin('channels as c', 'c.id', 's.channel_id')
    .select(['s.channel_id', 's.session_id'])
    .where('c.recording_retention_days', 'is not', null)
    .where('s.status', 'in', [...RECORDING_STATUSES])
    .where(sql<boolean>`coalesce(s.ended_at, s.started_at) + make_interval(days => c.recording_retention_days) <= ${now}`)
    .orderBy(sql`coalesce(s.ended_at, s.started_at)`).orderBy('s.session_id').limit(Math.max(1, limit)).execute();
  return rows.map((r) => ({ channelId: r.channel_id, sessionId: r.session_id }));
}
