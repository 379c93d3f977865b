import type { ColumnType, Generated } from 'kysely';

/** `channels`: one per streamer channel. `id` is a subject-safe token (see events `subjectToken`). */
export interface ChannelsTable {
  id: string;
  /** URL-safe unique name, e.g. `demo`. */
  slug: string;
  display_name: string;
  title: string;
  created_at: ColumnType<Date, Date | string | undefined, never>;
}

/**
 * `stream_keys`: publish credentials. The key itself is never stored: `key_hash` is the
 * hex SHA-256 of the full key (keys are 192-bit random, so a fast hash is the right tool;
 * argon2 is for low-entropy passwords). `key_last4` lets a UI show a masked key.
 */
export interface StreamKeysTable {
  id: string;
  channel_id: string;
  key_hash: string;
  key_last4: string;
  status: 'active' | 'disabled' | 'revoked';
  created_at: ColumnType<Date, Date | string | undefined, never>;
  /** NULL = never expires. */
  expires_at: Date | null;
}

/** `stream_sessions`: read model of broadcast sessions, projected from EVENTS. */
export interface StreamSessionsTable {
  session_id: string;
  channel_id: string;
  status: 'starting' | 'live' | 'ended' | 'vod' | 'failed';
  started_at: Date;
  ended_at: Date | null;
  /** JSON array of RenditionSummary. */
  renditions: ColumnType<unknown, string, string>;
  master_playlist_key: string | null;
  vod_master_playlist_key: string | null;
  vod_mp4_key: string | null;
  duration_seconds: number | null;
  failure_reason: string | null;
  /** EVENTS stream sequence of the last event applied to this row. */
  last_seq: ColumnType<string, number | string, number | string>;
}

/** `projection_offsets`: per projection, the last EVENTS sequence applied (for replay/progress). */
export interface ProjectionOffsetsTable {
  name: string;
  last_seq: ColumnType<string, number | string, number | string>;
  updated_at: Generated<Date>;
}

/** The whole Postgres schema as Kysely sees it. */
export interface Database {
  channels: ChannelsTable;
  stream_keys: StreamKeysTable;
  stream_sessions: StreamSessionsTable;
  projection_offsets: ProjectionOffsetsTable;
}
