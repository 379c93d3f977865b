import type { ColumnType, Generated, Selectable } from 'kysely';
import type { PlaybackVisibility } from '@live/events';

/** `channels`: one per streamer channel. `id` is a subject-safe token (see events `subjectToken`). */
export interface ChannelsTable {
  id: string;
  /** URL-safe unique name, e.g. `demo`; equal to `id` for every channel created through events. */
  slug: string;
  display_name: string;
  title: string;
  created_at: ColumnType<Date, Date | string | undefined, never>;
  /** Owning user; null for operator-seeded channels (the demo). */
  owner_user_id: ColumnType<string | null, string | null | undefined, string | null>;
  /** A category id from events `CATEGORIES`, or ''. */
  category: Generated<string>;
  tags: ColumnType<string[], string[] | undefined, string[]>;
  /** BCP 47 primary language subtag or ''. */
  language: Generated<string>;
  mature: Generated<boolean>;
  /** The channel's "about" text (plain text, at most 300 characters), or ''. */
  description: Generated<string>;
  follower_count: Generated<number>;
  /** Current viewers of the live session (0 when offline): chat room members across gateways, from ChannelViewersCounted. */
  viewer_count: Generated<number>;
  /** The session publishing now; null when offline. */
  live_session_id: ColumnType<string | null, string | null | undefined, string | null>;
  live_started_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  /** Lower-cased channel id, display name, title and tags: what discovery search matches. */
  search_text: Generated<string>;
  /** Generated `to_tsvector('simple', search_text)`. Never written. */
  search_vector: ColumnType<string, never, never>;
  updated_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  /** Who may watch (ChannelPlaybackPolicyChanged): `public` (default), `followers`, `allowlist`. */
  playback_visibility: ColumnType<PlaybackVisibility, PlaybackVisibility | undefined, PlaybackVisibility>;
  /** AES-128 HLS encryption of new segments (default false). */
  playback_encrypted: Generated<boolean>;
  /** Segments per content key period; 0 = one key per session (default 0). */
  playback_key_rotation_segments: Generated<number>;
  /** Number of ChannelPlaybackPolicyChanged events applied (0 = never set): playback tokens carry it. */
  playback_policy_version: Generated<number>;
  /** Every playback token of the channel is bound to the requester's address (default false). */
  playback_bind_address: Generated<boolean>;
  /** Recordings are deleted this many days after they end (RecordingRetentionSet); null keeps them forever. */
  recording_retention_days: Generated<number | null>;
}

/** `channel_playback_allowlist`: users allowed to watch an `allowlist` channel (replaced by each ChannelPlaybackPolicyChanged). */
export interface ChannelPlaybackAllowlistTable {
  channel_id: string;
  user_id: string;
}

/** `users`: accounts, projected from the user aggregate's events. */
export interface UsersTable {
  id: string;
  username: string;
  /** Lower-cased username: unique. */
  username_lower: string;
  /** Lower-cased: unique. */
  email: string;
  display_name: string;
  bio: Generated<string>;
  /** argon2id PHC string. */
  password_hash: string;
  is_admin: Generated<boolean>;
  /** Notifications created at or before this are read. */
  notifications_read_up_to: ColumnType<Date | null, Date | null | undefined, Date | null>;
  created_at: Date;
  updated_at: Date;
}

/** `channel_moderators`: who moderates which channel. */
export interface ChannelModeratorsTable {
  channel_id: string;
  user_id: string;
  created_at: Date;
}

/** `follows`: follower → channel. */
export interface FollowsTable {
  follower_id: string;
  channel_id: string;
  created_at: Date;
}

/** `notifications`: kept notifications (`FollowedChannelWentLive`), one per follower and session. */
export interface NotificationsTable {
  /** `<sessionId>:<userId>` (deterministic, so a replay writes the same rows). */
  id: string;
  user_id: string;
  type: 'FollowedChannelWentLive';
  channel_id: string;
  session_id: string;
  /** JSON object: `{ channelId, channelName, title, sessionId, startedAt }`. */
  payload: ColumnType<unknown, string, string>;
  created_at: Date;
}

/**
 * `auth_refresh_tokens`: refresh tokens (hashed), grouped in families (one per login). A token
 * is single-use; presenting a used one revokes its family. Command-side credential store, not a
 * projection of EVENTS.
 */
export interface AuthRefreshTokensTable {
  id: string;
  family_id: string;
  user_id: string;
  /** Hex SHA-256 of the token. */
  token_hash: string;
  created_at: Generated<Date>;
  expires_at: Date;
  used_at: Date | null;
  revoked_at: Date | null;
}

/**
 * `auth_login_failures`: failed sign-ins per throttle key (`pair:<username>|<ip>`,
 * `address:<ip>`, `account:<username>`) with their progressive delay (apps/api auth/throttle.ts).
 */
export interface AuthLoginFailuresTable {
  key: string;
  /** When the current run of failures began. */
  window_start: Date;
  /** Failures counted, including attempts in flight. */
  failures: number;
  /** The key refuses attempts until then (the end of its current delay). */
  blocked_until: Date | null;
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
  label: Generated<string>;
  /** CIDR blocks a publisher must connect from; empty = any. */
  allowed_cidrs: ColumnType<string[], string[] | undefined, string[]>;
  revoked_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  /** Key id that replaced this one on rotation. */
  replaced_by: ColumnType<string | null, string | null | undefined, string | null>;
}

/** `stream_sessions`: read model of broadcast sessions, projected from EVENTS. */
export interface StreamSessionsTable {
  session_id: string;
  channel_id: string;
  status: 'starting' | 'live' | 'reconnecting' | 'ended' | 'vod' | 'failed';
  started_at: Date;
  ended_at: Date | null;
  /** JSON array of RenditionSummary. */
  renditions: ColumnType<unknown, string, string>;
  master_playlist_key: string | null;
  vod_master_playlist_key: string | null;
  vod_mp4_key: string | null;
  duration_seconds: number | null;
  failure_reason: string | null;
  /**
   * The session's own metadata: the channel's title, category and tags when the session started,
   * followed by ChannelMetadataUpdated while it is live (starting, live, reconnecting), then kept.
   */
  title: ColumnType<string, string | undefined, string>;
  category: ColumnType<string, string | undefined, string>;
  tags: ColumnType<string[], string[] | undefined, string[]>;
  /** EVENTS stream sequence of the last event applied to this row. */
  last_seq: ColumnType<string, number | string, number | string>;
}

/** `projection_offsets`: per projection, the last EVENTS sequence applied (for replay/progress). */
export interface ProjectionOffsetsTable {
  name: string;
  last_seq: ColumnType<string, number | string, number | string>;
  updated_at: Generated<Date>;
}

/** `chat_settings`: a room's modes (ChatSettingsChanged); no row = `DEFAULT_CHAT_SETTINGS`. */
export interface ChatSettingsTable {
  channel_id: string;
  /** Seconds between a non-moderator's messages; 0 = off. */
  slow_mode_seconds: number;
  followers_only: boolean;
  emote_only: boolean;
  links_allowed: boolean;
  duplicate_filter: boolean;
  /** User who made the last change. */
  updated_by: string;
  updated_at: Date;
}

/**
 * `chat_restrictions`: who may not send in a room (ChatUserBanned / ChatUserTimedOut upsert,
 * ChatUserUnbanned deletes). Expired timeouts may stay: readers filter on `until > now`.
 */
export interface ChatRestrictionsTable {
  channel_id: string;
  user_id: string;
  kind: 'ban' | 'timeout';
  /** End of a timeout; null for a ban. */
  until: Date | null;
  reason: string;
  actor_user_id: string;
  created_at: Date;
}

/** `chat_banned_terms`: one banned-term list per channel, `channel_id` '' = the global list (ChatBannedTermsSet replaces it). */
export interface ChatBannedTermsTable {
  channel_id: string;
  /** 0-based position in the list. */
  position: number;
  /** RE2 pattern. */
  pattern: string;
  action: 'block' | 'hold';
}

/** Status of a moderation-queue item. */
export type ModerationItemStatus = 'open' | 'approved' | 'dismissed' | 'deleted';

/**
 * `moderation_queue`: reported messages (ChatMessageReported) and held messages
 * (ChatMessageHeld), resolved by ModerationItemResolved; a ChatMessageDeleted marks the open
 * reports of its message `deleted`.
 */
export interface ModerationQueueTable {
  /** Event id of the report or of the held message. */
  id: string;
  /** EVENTS stream sequence of that event: the queue's order. */
  seq: ColumnType<string, number | string, number | string>;
  channel_id: string;
  kind: 'report' | 'held';
  /** The reported message's id; for a held message, its own id (= `id`). */
  message_id: string;
  /** CHAT stream sequence of the reported message; null for a held message (never stored in CHAT). */
  message_seq: ColumnType<string | null, number | string | null, number | string | null>;
  /** Kind of a held message (what an approval releases); null for a report (the event does not carry it). */
  message_kind: 'message' | 'emote' | null;
  author_user_id: string;
  author_username: string;
  text: string;
  /** The report's reason, or the banned-term pattern that held the message. */
  reason: string;
  reporter_user_id: string | null;
  /** Live session of a held message; null for reports. */
  session_id: string | null;
  status: ModerationItemStatus;
  created_at: Date;
  resolved_by: string | null;
  resolved_at: Date | null;
}

/** A `moderation_queue` row as selected (`message_seq` is a bigint string). */
export type ModerationQueueRow = Selectable<ModerationQueueTable>;

/** `chat_moderation_log`: one row per moderation event (the chat audit trail). */
export interface ChatModerationLogTable {
  /** The event id. */
  id: string;
  /** EVENTS stream sequence of the event: the log's order. */
  seq: ColumnType<string, number | string, number | string>;
  /** '' for the global banned-term list. */
  channel_id: string;
  /** The event type, e.g. `ChatUserBanned`. */
  action: string;
  actor_user_id: string;
  target_user_id: string | null;
  message_id: string | null;
  /** JSON object: what the event said beyond the columns (reason, duration, settings, terms, resolution). */
  detail: ColumnType<Record<string, unknown>, string, string>;
  created_at: Date;
}

/**
 * `restream_destinations`: a channel's restream destinations (RestreamDestination* events) and
 * the state of the latest push to each (Restream* events of its sessions).
 */
export interface RestreamDestinationsTable {
  id: string;
  channel_id: string;
  name: string;
  /** `rtmp://` or `rtmps://` server URL, without the key. */
  url: string;
  /** The stream key sealed with AES-256-GCM (`@live/auth` `sealSecret`); never returned by the API. */
  key_sealed: string;
  key_last4: string;
  enabled: boolean;
  created_at: Date;
  updated_at: Date;
  /** idle: never pushed; live: pushing; reconnecting: failed, retrying; stopped: the last push stopped. */
  state: ColumnType<'idle' | 'live' | 'reconnecting' | 'stopped', 'idle' | 'live' | 'reconnecting' | 'stopped' | undefined, 'idle' | 'live' | 'reconnecting' | 'stopped'>;
  state_session_id: string | null;
  /** The attempt of the latest push (1-based per session; 0 before any). */
  state_attempt: ColumnType<number, number | undefined, number>;
  /** Why it is reconnecting or stopped. */
  state_reason: string | null;
  state_at: Date | null;
}

/** Who a webhook endpoint belongs to: one channel (its owner registers it) or the platform (admins). */
export type WebhookScope = 'channel' | 'platform';

/** `webhook_endpoints`: an HTTP endpoint that receives signed deliveries (infra/db/src/webhooks.ts). */
export interface WebhookEndpointsTable {
  /** UUIDv7. */
  id: string;
  scope: WebhookScope;
  /** The channel (scope `channel`); null for `platform`, which receives every channel's events. */
  channel_id: string | null;
  /** The user who registered it. */
  created_by: string;
  /** http(s) URL deliveries are POSTed to. */
  url: string;
  description: Generated<string>;
  /** Webhook types (`stream.started` …, events WEBHOOK_EVENT_TYPES) it receives. */
  event_types: string[];
  /** The signing secret (`whsec_…`), kept as is: the dispatcher needs it to sign. Never returned after creation or rotation. */
  secret: string;
  enabled: Generated<boolean>;
  /** Why it was disabled (retries exhausted: the last error), null while enabled. */
  disabled_reason: ColumnType<string | null, string | null | undefined, string | null>;
  disabled_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  /** The dispatcher process delivering to it now, and until when its claim holds (one at a time per endpoint). */
  claimed_by: ColumnType<string | null, string | null | undefined, string | null>;
  claimed_until: ColumnType<Date | null, Date | null | undefined, Date | null>;
  created_at: ColumnType<Date, Date | string | undefined, never>;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** `webhook_deliveries`: the per-endpoint queue (in `seq` order) and its log. */
export interface WebhookDeliveriesTable {
  /** UUIDv7 of the delivery (the `Live-Delivery-Id` header). */
  id: string;
  /** Queue order (bigserial as a string): an endpoint's deliveries are sent one at a time in this order. */
  seq: ColumnType<string, never, never>;
  endpoint_id: string;
  /** The domain event's id (the payload's `id`). */
  event_id: string;
  /** The webhook type (`stream.started` …). */
  event_type: string;
  /** EVENTS stream sequence of the event. */
  event_seq: ColumnType<string, number | string, number | string>;
  /** The exact JSON body sent (signed as is). */
  payload: string;
  /** `pending` until an attempt got a 2xx, then `delivered`. */
  status: ColumnType<'pending' | 'delivered', 'pending' | 'delivered' | undefined, 'pending' | 'delivered'>;
  /** Failed attempts in a row (the retry schedule's position; reset when the endpoint is re-enabled). */
  failures: Generated<number>;
  /** Every attempt made. */
  attempts: Generated<number>;
  next_attempt_at: ColumnType<Date, Date | undefined, Date>;
  delivered_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  /** For a redelivery asked for by the owner: the delivery it repeats. */
  redelivery_of: ColumnType<string | null, string | null | undefined, never>;
  created_at: ColumnType<Date, Date | undefined, never>;
}

/** `webhook_attempts`: one row per HTTP attempt of a delivery. */
export interface WebhookAttemptsTable {
  id: Generated<string>;
  delivery_id: string;
  attempted_at: Date;
  /** The receiver's HTTP status; null when no answer came (connection error, timeout). */
  status_code: number | null;
  /** What went wrong (non-2xx, timeout, connection refused …); null on success. */
  error: string | null;
  /** Milliseconds from sending to the answer (or the failure). */
  duration_ms: number;
  /** A 2xx answer. */
  ok: boolean;
}

/** The whole Postgres schema as Kysely sees it. */
export interface Database {
  channels: ChannelsTable;
  stream_keys: StreamKeysTable;
  stream_sessions: StreamSessionsTable;
  projection_offsets: ProjectionOffsetsTable;
  users: UsersTable;
  channel_moderators: ChannelModeratorsTable;
  channel_playback_allowlist: ChannelPlaybackAllowlistTable;
  follows: FollowsTable;
  notifications: NotificationsTable;
  auth_refresh_tokens: AuthRefreshTokensTable;
  auth_login_failures: AuthLoginFailuresTable;
  chat_settings: ChatSettingsTable;
  chat_restrictions: ChatRestrictionsTable;
  chat_banned_terms: ChatBannedTermsTable;
  moderation_queue: ModerationQueueTable;
  chat_moderation_log: ChatModerationLogTable;
  restream_destinations: RestreamDestinationsTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
}
