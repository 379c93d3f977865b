/**
 * Chat read models as the chat gateways (`apps/chat`) and the API read them: a room's snapshot
 * (owner, moderators, live session, viewers, settings, restrictions in force, banned terms),
 * the global banned-term list, follows and admin checks. Written only by the projection
 * (projections.ts) from the chat events of EVENTS.
 */
import type { Kysely } from 'kysely';
import { DEFAULT_CHAT_SETTINGS, type BannedTerm, type ChatRoomSettings } from '@live/events';
import type { Database } from './schema.js';

type Db = Kysely<Database>;

/** A ban (`until` null) or a timeout (`until` = its end) of one user in one room. */
export interface ChatRestriction {
  readonly userId: string;
  readonly until: Date | null;
}

/** What a gateway needs to know about a room to admit members and check messages. */
export interface ChatRoomSnapshot {
  readonly channelId: string;
  /** Null for operator-seeded channels. */
  readonly ownerUserId: string | null;
  /** The channel's moderators (`channel_moderators`), by user id. */
  readonly moderatorIds: readonly string[];
  /** The session publishing now; null when offline. */
  readonly liveSessionId: string | null;
  /** `channels.viewer_count`: room members across gateways while live, 0 offline. */
  readonly viewerCount: number;
  /** From `chat_settings`, or {@link DEFAULT_CHAT_SETTINGS} when nobody changed them. */
  readonly settings: ChatRoomSettings;
  /** Bans and timeouts still in force at `now`. */
  readonly restrictions: readonly ChatRestriction[];
  /** The channel's banned terms in list order (the global list is {@link loadGlobalBannedTerms}). */
  readonly terms: readonly BannedTerm[];
  /** Users whose messages are hidden up to their latest ban or timeout ({@link loadHiddenAuthors}). */
  readonly hiddenAuthors: readonly HiddenAuthor[];
}

/** A user banned or timed out in a room, with the latest instant that happened (`isHiddenChatLine` of @live/events). */
export interface HiddenAuthor {
  readonly userId: string;
  readonly through: Date;
}

/**
 * The users of a room whose messages stay hidden, with the instant of their latest ban or
 * timeout (the event's `occurredAt`), from the moderation log (`chat_moderation_log`, kept
 * forever: an unban removes the restriction, not the log rows, so earlier messages stay hidden).
 * @throws the driver's error.
 */
export async function loadHiddenAuthors(db: Db, channelId: string): Promise<HiddenAuthor[]> {
  const rows = await db.selectFrom('chat_moderation_log').select(['target_user_id', (eb) => eb.fn.max('created_at').as('through')])
    .where('channel_id', '=', channelId).where('action', 'in', ['ChatUserBanned', 'ChatUserTimedOut']).where('target_user_id', 'is not', null)
    .groupBy('target_user_id').orderBy('target_user_id').execute();
  return rows.map((r) => ({ userId: r.target_user_id!, through: new Date(r.through) }));
}

/** {@link loadHiddenAuthors} as the map `isHiddenChatLine` of @live/events reads (user id → ms since the epoch). */
export async function loadHiddenAuthorMap(db: Db, channelId: string): Promise<Map<string, number>> {
  return new Map((await loadHiddenAuthors(db, channelId)).map((h) => [h.userId, h.through.getTime()]));
}

/** The settings a `chat_settings` row holds. */
export function chatSettingsOfRow(r: { slow_mode_seconds: number; followers_only: boolean; emote_only: boolean; links_allowed: boolean; duplicate_filter: boolean }): ChatRoomSettings {
  return {
    slowModeSeconds: r.slow_mode_seconds, followersOnly: r.followers_only, emoteOnly: r.emote_only,
    linksAllowed: r.links_allowed, duplicateFilter: r.duplicate_filter,
  };
}

/**
 * A room's settings: its `chat_settings` row, or {@link DEFAULT_CHAT_SETTINGS} when it has none
 * (also for a channel that does not exist).
 * @throws the driver's error.
 */
export async function loadChatSettings(db: Db, channelId: string): Promise<ChatRoomSettings> {
  const r = await db.selectFrom('chat_settings').selectAll().where('channel_id', '=', channelId).executeTakeFirst();
  return r ? chatSettingsOfRow(r) : DEFAULT_CHAT_SETTINGS;
}

/**
 * A banned-term list in position order: a channel's, or with `channelId` '' the global one.
 * @throws the driver's error.
 */
export async function loadBannedTerms(db: Db, channelId: string): Promise<BannedTerm[]> {
  const rows = await db.selectFrom('chat_banned_terms').select(['pattern', 'action']).where('channel_id', '=', channelId).orderBy('position').execute();
  return rows.map((r) => ({ pattern: r.pattern, action: r.action }));
}

/**
 * Bans and timeouts of a room in force at `now` (a timeout whose `until` has passed is left
 * out, though its row may remain), ordered by user id.
 * @throws the driver's error.
 */
export async function loadChatRestrictions(db: Db, channelId: string, now: Date = new Date()): Promise<ChatRestriction[]> {
  const rows = await db.selectFrom('chat_restrictions').select(['user_id', 'until']).where('channel_id', '=', channelId)
    .where((eb) => eb.or([eb('until', 'is', null), eb('until', '>', now)])).orderBy('user_id').execute();
  return rows.map((r) => ({ userId: r.user_id, until: r.until }));
}

/**
 * Everything a gateway needs about one room, read in parallel (six queries, no transaction:
 * each part is current as of its own read).
 * @param now the instant restrictions are checked against (default: the wall clock).
 * @returns null when no channel has that id.
 * @throws the driver's error.
 */
export async function loadChatRoom(db: Db, channelId: string, now: Date = new Date()): Promise<ChatRoomSnapshot | null> {
  const [channel, moderators, settings, restrictions, terms, hiddenAuthors] = await Promise.all([
    db.selectFrom('channels').select(['id', 'owner_user_id', 'live_session_id', 'viewer_count']).where('id', '=', channelId).executeTakeFirst(),
    db.selectFrom('channel_moderators').select('user_id').where('channel_id', '=', channelId).orderBy('user_id').execute(),
    loadChatSettings(db, channelId),
    loadChatRestrictions(db, channelId, now),
    loadBannedTerms(db, channelId),
    loadHiddenAuthors(db, channelId),
  ]);
  if (!channel) return null;
  return {
    channelId: channel.id,
    ownerUserId: channel.owner_user_id,
    moderatorIds: moderators.map((m) => m.user_id),
    liveSessionId: channel.live_session_id,
    viewerCount: channel.viewer_count,
    settings,
    restrictions,
    terms,
    hiddenAuthors,
  };
}

/**
 * The platform-wide banned-term list (set by admins, `evt.platform.chat`), in position order;
 * it applies in every room besides the room's own list.
 * @throws the driver's error.
 */
export async function loadGlobalBannedTerms(db: Db): Promise<BannedTerm[]> {
  return loadBannedTerms(db, '');
}

/**
 * Whether `userId` follows `channelId` (the `follows` read model; for followers-only rooms).
 * @throws the driver's error.
 */
export async function isFollowing(db: Db, userId: string, channelId: string): Promise<boolean> {
  const r = await db.selectFrom('follows').select('channel_id').where('follower_id', '=', userId).where('channel_id', '=', channelId).executeTakeFirst();
  return r !== undefined;
}

/**
 * Whether `userId` is a platform admin now (`users.is_admin`, kept by UserRoleGranted /
 * UserRoleRevoked); false for an unknown user.
 * @throws the driver's error.
 */
export async function isPlatformAdmin(db: Db, userId: string): Promise<boolean> {
  const r = await db.selectFrom('users').select('is_admin').where('id', '=', userId).executeTakeFirst();
  return r?.is_admin === true;
}
