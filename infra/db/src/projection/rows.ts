/**
 * The read-model rows a projection batch holds in memory (state.ts), one type per table, in the
 * shape `selectAll` returns them, with two changes: jsonb columns hold their JSON text (written
 * back as is), and bigint columns (`last_seq`, `seq`) may be a number (a row made in memory) or
 * the driver's string (a row loaded). Channels leave out the generated `search_vector`.
 */
import type { Selectable } from 'kysely';
import type {
  ChannelModeratorsTable, ChannelPlaybackAllowlistTable, ChannelsTable, ChatBannedTermsTable, ChatModerationLogTable, ChatRestrictionsTable,
  ChatSettingsTable, FollowsTable, ModerationQueueTable, NotificationsTable, RestreamDestinationsTable, StreamKeysTable, StreamSessionsTable, UsersTable,
} from '../schema.js';
import { GroupState, TableState } from './state.js';

type Bigint = number | string;

export type UserRow = Selectable<UsersTable>;
export type ChannelRow = Omit<Selectable<ChannelsTable>, 'search_vector'>;
export type StreamKeyRow = Selectable<StreamKeysTable>;
export type RestreamDestinationRow = Selectable<RestreamDestinationsTable>;
export type ModeratorRow = Selectable<ChannelModeratorsTable>;
export type AllowlistRow = Selectable<ChannelPlaybackAllowlistTable>;
export type FollowRow = Selectable<FollowsTable>;
export type NotificationRow = Omit<Selectable<NotificationsTable>, 'payload'> & { payload: string };
export type SessionRow = Omit<Selectable<StreamSessionsTable>, 'renditions' | 'last_seq'> & { renditions: string; last_seq: Bigint };
export type ChatSettingsRow = Selectable<ChatSettingsTable>;
export type RestrictionRow = Selectable<ChatRestrictionsTable>;
export type BannedTermRow = Selectable<ChatBannedTermsTable>;
export type QueueRow = Omit<Selectable<ModerationQueueTable>, 'seq' | 'message_seq'> & { seq: Bigint; message_seq: Bigint | null };
export type ModerationLogRow = Omit<Selectable<ChatModerationLogTable>, 'seq' | 'detail'> & { seq: Bigint; detail: string };

/** The key of a row whose primary key has two columns. */
export function pairKey(a: string, b: string): string {
  return `${a}\u0000${b}`;
}

/**
 * Everything one batch reads and writes. Tables read by the rules are {@link TableState}s or
 * {@link GroupState}s; the insert-only tables (`notifications`, `chat_moderation_log`) are
 * pending inserts by id (first one wins, as `on conflict do nothing` in one transaction would).
 */
export interface WorkingSet {
  readonly users: TableState<UserRow, 'usernameLower' | 'email'>;
  readonly channels: TableState<ChannelRow>;
  readonly streamKeys: TableState<StreamKeyRow, 'keyHash'>;
  readonly moderators: TableState<ModeratorRow>;
  readonly allowlist: GroupState<AllowlistRow>;
  readonly follows: TableState<FollowRow, 'channel'>;
  readonly sessions: TableState<SessionRow>;
  readonly chatSettings: TableState<ChatSettingsRow>;
  readonly restrictions: TableState<RestrictionRow>;
  readonly bannedTerms: GroupState<BannedTermRow>;
  readonly queue: TableState<QueueRow, 'messageId'>;
  readonly restreamDestinations: TableState<RestreamDestinationRow>;
  readonly notifications: Map<string, NotificationRow>;
  readonly moderationLog: Map<string, ModerationLogRow>;
}

/** An empty working set. */
export function emptyWorkingSet(): WorkingSet {
  return {
    users: new TableState('users', (r) => r.id, { usernameLower: (r) => r.username_lower, email: (r) => r.email }),
    channels: new TableState('channels', (r) => r.id),
    streamKeys: new TableState('stream_keys', (r) => r.id, { keyHash: (r) => r.key_hash }),
    moderators: new TableState('channel_moderators', (r) => pairKey(r.channel_id, r.user_id)),
    allowlist: new GroupState('channel_playback_allowlist'),
    follows: new TableState('follows', (r) => pairKey(r.follower_id, r.channel_id), { channel: (r) => r.channel_id }),
    sessions: new TableState('stream_sessions', (r) => r.session_id),
    chatSettings: new TableState('chat_settings', (r) => r.channel_id),
    restrictions: new TableState('chat_restrictions', (r) => pairKey(r.channel_id, r.user_id)),
    bannedTerms: new GroupState('chat_banned_terms'),
    queue: new TableState('moderation_queue', (r) => r.id, { messageId: (r) => r.message_id }),
    restreamDestinations: new TableState('restream_destinations', (r) => r.id),
    notifications: new Map(),
    moderationLog: new Map(),
  };
}
