import { sql, type Kysely, type Transaction } from 'kysely';
import { DEFAULT_CHAT_SETTINGS, PLAYBACK_VISIBILITIES, type ChatRoomSettings, type DomainEvent, type EventOf } from '@live/events';
import type { Database } from './schema.js';
import { applySessionEventIn } from './sessions.js';
import { chatSettingsOfRow } from './chat.js';

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

/** What a `FollowedChannelWentLive` notification says. */
export interface FollowedChannelWentLivePayload {
  readonly channelId: string;
  readonly channelName: string;
  readonly title: string;
  readonly sessionId: string;
  /** ISO-8601 time the broadcast started. */
  readonly startedAt: string;
}

/** Outcome of {@link projectEvent}. */
export interface ProjectionOutcome {
  /** False when the event's sequence was already applied (redelivery, replay over live tables). */
  readonly applied: boolean;
  /** Notifications created by this event (empty unless it made a followed channel live). */
  readonly notifications: readonly KeptNotification[];
}

/**
 * The lower-cased text discovery search matches for a channel: id, display name, title, tags.
 * Trigram similarity and the `simple` text-search configuration both work on it.
 */
export function channelSearchText(c: { id: string; displayName: string; title: string; tags: readonly string[] }): string {
  return [c.id, c.displayName, c.title, ...c.tags].join(' ').toLowerCase();
}

type Trx = Transaction<Database>;

async function refreshSearchText(trx: Trx, channelId: string): Promise<void> {
  const c = await trx.selectFrom('channels').select(['id', 'display_name', 'title', 'tags']).where('id', '=', channelId).executeTakeFirst();
  if (!c) return;
  await trx.updateTable('channels').set({ search_text: channelSearchText({ id: c.id, displayName: c.display_name, title: c.title, tags: c.tags }) })
    .where('id', '=', channelId).execute();
}

async function wentLive(trx: Trx, e: EventOf<'RenditionsReady'>): Promise<KeptNotification[]> {
  const ch = await trx.selectFrom('channels').select(['id', 'display_name', 'title', 'live_session_id', 'live_started_at'])
    .where('id', '=', e.data.channelId).executeTakeFirst();
  // Only a session that is still the channel's live one notifies (a late RenditionsReady after the
  // publisher left does not).
  if (!ch || ch.live_session_id !== e.data.sessionId) return [];
  const payload: FollowedChannelWentLivePayload = {
    channelId: ch.id, channelName: ch.display_name, title: ch.title, sessionId: e.data.sessionId,
    startedAt: (ch.live_started_at ?? new Date(e.occurredAt)).toISOString(),
  };
  const followers = await trx.selectFrom('follows').select('follower_id').where('channel_id', '=', ch.id).orderBy('follower_id').execute();
  if (followers.length === 0) return [];
  const createdAt = new Date(e.occurredAt);
  const rows = followers.map((f) => ({
    id: `${e.data.sessionId}:${f.follower_id}`, user_id: f.follower_id, type: 'FollowedChannelWentLive' as const,
    channel_id: ch.id, session_id: e.data.sessionId, payload: JSON.stringify(payload), created_at: createdAt,
  }));
  const inserted = await trx.insertInto('notifications').values(rows).onConflict((oc) => oc.column('id').doNothing())
    .returning(['id', 'user_id']).execute();
  return inserted.map((r) => ({ id: r.id, userId: r.user_id, type: 'FollowedChannelWentLive', payload, createdAt: createdAt.toISOString() }));
}

async function apply(trx: Trx, e: DomainEvent, seq: number): Promise<KeptNotification[]> {
  const at = new Date(e.occurredAt);
  switch (e.type) {
    case 'UserRegistered':
      await trx.insertInto('users').values({
        id: e.data.userId, username: e.data.username, username_lower: e.data.username.toLowerCase(), email: e.data.email,
        display_name: e.data.displayName, bio: '', password_hash: e.data.passwordHash, is_admin: e.data.roles.includes('admin'),
        created_at: at, updated_at: at,
      // Any conflict (same id on redelivery; a duplicate username or email, which the API's claims
      // in the log rule out) is skipped rather than stopping the projection.
      }).onConflict((oc) => oc.doNothing()).execute();
      return [];
    case 'UserProfileUpdated':
      await trx.updateTable('users').set({ display_name: e.data.displayName, bio: e.data.bio, updated_at: at }).where('id', '=', e.data.userId).execute();
      return [];
    case 'UserPasswordChanged':
      await trx.updateTable('users').set({ password_hash: e.data.passwordHash, updated_at: at }).where('id', '=', e.data.userId).execute();
      return [];
    case 'UserRoleGranted':
    case 'UserRoleRevoked':
      if (e.data.role === 'admin') {
        await trx.updateTable('users').set({ is_admin: e.type === 'UserRoleGranted', updated_at: at }).where('id', '=', e.data.userId).execute();
      }
      return [];
    case 'NotificationsRead':
      await trx.updateTable('users').set({ notifications_read_up_to: new Date(e.data.readUpTo) }).where('id', '=', e.data.userId).execute();
      return [];
    case 'ChannelCreated':
      await trx.insertInto('channels').values({
        id: e.data.channelId, slug: e.data.channelId, display_name: e.data.displayName, title: '', owner_user_id: e.data.ownerUserId,
        created_at: at, updated_at: at, search_text: channelSearchText({ id: e.data.channelId, displayName: e.data.displayName, title: '', tags: [] }),
      }).onConflict((oc) => oc.column('id').doUpdateSet({ owner_user_id: e.data.ownerUserId, display_name: e.data.displayName, updated_at: at })).execute();
      await refreshSearchText(trx, e.data.channelId);
      return [];
    case 'ChannelMetadataUpdated':
      await trx.updateTable('channels').set({
        title: e.data.title, category: e.data.category, tags: [...e.data.tags], language: e.data.language, mature: e.data.mature, updated_at: at,
      }).where('id', '=', e.data.channelId).execute();
      await refreshSearchText(trx, e.data.channelId);
      return [];
    case 'ChannelModeratorAdded':
      await trx.insertInto('channel_moderators').values({ channel_id: e.data.channelId, user_id: e.data.userId, created_at: at })
        .onConflict((oc) => oc.columns(['channel_id', 'user_id']).doNothing()).execute();
      return [];
    case 'ChannelModeratorRemoved':
      await trx.deleteFrom('channel_moderators').where('channel_id', '=', e.data.channelId).where('user_id', '=', e.data.userId).execute();
      return [];
    case 'ChannelPlaybackPolicyChanged': {
      const d = e.data;
      const visibility = PLAYBACK_VISIBILITIES.includes(d.visibility) ? d.visibility : 'public';
      const rotation = Number.isSafeInteger(d.encryption?.rotateEverySegments) ? Math.max(0, d.encryption.rotateEverySegments) : 0;
      await trx.updateTable('channels').set({
        playback_visibility: visibility, playback_encrypted: d.encryption?.enabled === true, playback_key_rotation_segments: rotation, updated_at: at,
        playback_bind_address: d.bindAddress === true, playback_policy_version: sql`playback_policy_version + 1`,
      }).where('id', '=', d.channelId).execute();
      const users = [...new Set(Array.isArray(d.allowList) ? d.allowList.filter((u): u is string => typeof u === 'string') : [])];
      await trx.deleteFrom('channel_playback_allowlist').where('channel_id', '=', d.channelId).execute();
      if (users.length > 0) await trx.insertInto('channel_playback_allowlist').values(users.map((user_id) => ({ channel_id: d.channelId, user_id }))).execute();
      return [];
    }
    case 'StreamKeyIssued':
    case 'StreamKeyRotated':
      if (e.type === 'StreamKeyRotated') {
        await trx.updateTable('stream_keys').set({ status: 'revoked', revoked_at: at, replaced_by: e.data.keyId })
          .where('id', '=', e.data.oldKeyId).where('status', '!=', 'revoked').execute();
      }
      await trx.insertInto('stream_keys').values({
        id: e.data.keyId, channel_id: e.data.channelId, key_hash: e.data.keyHash, key_last4: e.data.keyLast4, status: 'active',
        created_at: at, expires_at: e.data.expiresAt ? new Date(e.data.expiresAt) : null, label: e.data.label, allowed_cidrs: [...e.data.allowedCidrs],
      }).onConflict((oc) => oc.doNothing()).execute();
      return [];
    case 'StreamKeyRevoked':
      await trx.updateTable('stream_keys').set({ status: 'revoked', revoked_at: at }).where('id', '=', e.data.keyId).where('status', '!=', 'revoked').execute();
      return [];
    case 'ChannelFollowed': {
      const r = await trx.insertInto('follows').values({ follower_id: e.data.userId, channel_id: e.data.channelId, created_at: at })
        .onConflict((oc) => oc.columns(['follower_id', 'channel_id']).doNothing()).returning('channel_id').execute();
      if (r.length > 0) await trx.updateTable('channels').set({ follower_count: sql`follower_count + 1` }).where('id', '=', e.data.channelId).execute();
      return [];
    }
    case 'ChannelUnfollowed': {
      const r = await trx.deleteFrom('follows').where('follower_id', '=', e.data.userId).where('channel_id', '=', e.data.channelId).returning('channel_id').execute();
      if (r.length > 0) await trx.updateTable('channels').set({ follower_count: sql`greatest(follower_count - 1, 0)` }).where('id', '=', e.data.channelId).execute();
      return [];
    }
    case 'StreamPublishStarted':
      await applySessionEventIn(trx, e, seq);
      await trx.updateTable('channels').set({ live_session_id: e.data.sessionId, live_started_at: at, viewer_count: 0 }).where('id', '=', e.data.channelId).execute();
      return [];
    case 'StreamPublishEnded':
    case 'StreamFailed':
      await applySessionEventIn(trx, e, seq);
      await trx.updateTable('channels').set({ live_session_id: null, live_started_at: null, viewer_count: 0 })
        .where('id', '=', e.data.channelId).where('live_session_id', '=', e.data.sessionId).execute();
      return [];
    case 'RenditionsReady':
      await applySessionEventIn(trx, e, seq);
      return wentLive(trx, e);
    case 'TranscodeStarted':
    case 'VodReady':
    case 'StreamPublishInterrupted': // the session shows `reconnecting`; the channel stays live
    case 'StreamPublishResumed':
      await applySessionEventIn(trx, e, seq);
      return [];
    case 'ChatSettingsChanged': {
      // The event carries the whole settings; fields a producer left out keep their current value.
      const st: ChatRoomSettings = { ...(await currentChatSettings(trx, e.data.channelId)), ...e.data.settings };
      const row = {
        slow_mode_seconds: st.slowModeSeconds, followers_only: st.followersOnly, emote_only: st.emoteOnly,
        links_allowed: st.linksAllowed, duplicate_filter: st.duplicateFilter, updated_by: e.data.actorUserId, updated_at: at,
      };
      await trx.insertInto('chat_settings').values({ channel_id: e.data.channelId, ...row })
        .onConflict((oc) => oc.column('channel_id').doUpdateSet(row)).execute();
      await logModeration(trx, e, seq, { target: null, message: null, detail: { settings: st } });
      return [];
    }
    case 'ChatUserTimedOut':
    case 'ChatUserBanned': {
      const row = {
        kind: e.type === 'ChatUserBanned' ? 'ban' as const : 'timeout' as const,
        until: e.type === 'ChatUserTimedOut' ? new Date(e.data.until) : null,
        reason: e.data.reason ?? '', actor_user_id: e.data.actorUserId, created_at: at,
      };
      await trx.insertInto('chat_restrictions').values({ channel_id: e.data.channelId, user_id: e.data.userId, ...row })
        .onConflict((oc) => oc.columns(['channel_id', 'user_id']).doUpdateSet(row)).execute();
      const detail = e.type === 'ChatUserTimedOut'
        ? { reason: row.reason, durationSeconds: e.data.durationSeconds, until: e.data.until }
        : { reason: row.reason };
      await logModeration(trx, e, seq, { target: e.data.userId, message: null, detail });
      return [];
    }
    case 'ChatUserUnbanned':
      await trx.deleteFrom('chat_restrictions').where('channel_id', '=', e.data.channelId).where('user_id', '=', e.data.userId).execute();
      await logModeration(trx, e, seq, { target: e.data.userId, message: null, detail: {} });
      return [];
    case 'ChatBannedTermsSet': {
      const terms = Array.isArray(e.data.terms) ? e.data.terms : [];
      await trx.deleteFrom('chat_banned_terms').where('channel_id', '=', e.data.channelId).execute();
      if (terms.length > 0) {
        await trx.insertInto('chat_banned_terms')
          .values(terms.map((t, position) => ({ channel_id: e.data.channelId, position, pattern: t.pattern, action: t.action }))).execute();
      }
      await logModeration(trx, e, seq, { target: null, message: null, detail: { terms } });
      return [];
    }
    case 'ChatMessageReported':
      await trx.insertInto('moderation_queue').values({
        id: e.id, seq, channel_id: e.data.channelId, kind: 'report', message_id: e.data.messageId, message_seq: e.data.messageSeq, message_kind: null,
        author_user_id: e.data.authorUserId, author_username: e.data.authorUsername ?? '', text: e.data.text, reason: e.data.reason ?? '',
        reporter_user_id: e.data.reporterUserId, session_id: null, status: 'open', created_at: at, resolved_by: null, resolved_at: null,
      }).onConflict((oc) => oc.column('id').doNothing()).execute();
      return [];
    case 'ChatMessageHeld':
      await trx.insertInto('moderation_queue').values({
        id: e.id, seq, channel_id: e.data.channelId, kind: 'held', message_id: e.id, message_seq: null, message_kind: e.data.kind,
        author_user_id: e.data.userId, author_username: e.data.username, text: e.data.text, reason: e.data.term,
        reporter_user_id: null, session_id: e.data.sessionId ?? null, status: 'open', created_at: at, resolved_by: null, resolved_at: null,
      }).onConflict((oc) => oc.column('id').doNothing()).execute();
      return [];
    case 'ModerationItemResolved': {
      const item = await trx.updateTable('moderation_queue').set({ status: e.data.resolution, resolved_by: e.data.actorUserId, resolved_at: at })
        .where('id', '=', e.data.itemId).returning(['author_user_id', 'message_id', 'kind']).executeTakeFirst();
      await logModeration(trx, e, seq, {
        target: item?.author_user_id ?? null, message: item?.message_id ?? null,
        detail: { itemId: e.data.itemId, resolution: e.data.resolution, ...(item ? { kind: item.kind } : {}) },
      });
      return [];
    }
    case 'ChatMessageDeleted':
      await trx.updateTable('moderation_queue').set({ status: 'deleted', resolved_by: e.data.actorUserId, resolved_at: at })
        .where('message_id', '=', e.data.messageId).where('kind', '=', 'report').where('status', '=', 'open').execute();
      await logModeration(trx, e, seq, { target: e.data.authorUserId, message: e.data.messageId, detail: { reason: e.data.reason ?? '', messageSeq: e.data.messageSeq } });
      return [];
    case 'ChannelViewersCounted':
      // Viewers of a live session only: the column is 0 while offline (reset on publish start/end).
      await trx.updateTable('channels').set({ viewer_count: Number.isFinite(e.data.viewers) ? Math.max(0, Math.trunc(e.data.viewers)) : 0 })
        .where('id', '=', e.data.channelId).where('live_session_id', 'is not', null).execute();
      return [];
    case 'StreamIngestHealthReported': // analytics only (ClickHouse)
    case 'ChatMessageAccepted': // only ever stored in CHAT, never on EVENTS
    case 'StreamStopRequested':
    case 'UniqueValueClaimed':
    case 'UniqueValueReleased':
      return [];
  }
}

async function currentChatSettings(trx: Trx, channelId: string): Promise<ChatRoomSettings> {
  const r = await trx.selectFrom('chat_settings').selectAll().where('channel_id', '=', channelId).executeTakeFirst();
  return r ? chatSettingsOfRow(r) : DEFAULT_CHAT_SETTINGS;
}

/** Appends the audit row of a moderation event to `chat_moderation_log` (idempotent by event id). */
async function logModeration(trx: Trx, e: DomainEvent & { data: { channelId: string; actorUserId: string } }, seq: number, row: { target: string | null; message: string | null; detail: Record<string, unknown> }): Promise<void> {
  await trx.insertInto('chat_moderation_log').values({
    id: e.id, seq, channel_id: e.data.channelId, action: e.type, actor_user_id: e.data.actorUserId, target_user_id: row.target,
    message_id: row.message, detail: JSON.stringify(row.detail), created_at: new Date(e.occurredAt),
  }).onConflict((oc) => oc.column('id').doNothing()).execute();
}

/**
 * Applies one event of the EVENTS log to every Postgres read model (users, channels (with their
 * playback policy), channel_playback_allowlist, stream_keys, channel_moderators, follows, notifications, stream_sessions, and the chat
 * moderation models chat_settings, chat_restrictions, chat_banned_terms, moderation_queue,
 * chat_moderation_log) in one transaction,
 * together with the projection's offset in `projection_offsets` (name {@link READ_MODELS_PROJECTION}).
 * Events must arrive in stream order; an event whose sequence is not above the stored offset is
 * skipped, so redelivery and a replay over populated tables change nothing. Every timestamp
 * written comes from the event (`occurredAt`), so a replay into empty tables writes the same rows.
 * @param db the platform database, or `db.withSchema(s)` to build the read models in schema `s`.
 * @param streamSequence the event's EVENTS stream sequence (> 0).
 * @throws the driver's error; nothing of the event is then applied.
 */
export async function projectEvent(db: Kysely<Database>, event: DomainEvent, streamSequence: number): Promise<ProjectionOutcome> {
  return db.transaction().execute(async (trx) => {
    await trx.insertInto('projection_offsets').values({ name: READ_MODELS_PROJECTION, last_seq: 0 })
      .onConflict((oc) => oc.column('name').doNothing()).execute();
    const off = await trx.selectFrom('projection_offsets').select('last_seq').where('name', '=', READ_MODELS_PROJECTION).forUpdate().executeTakeFirstOrThrow();
    if (Number(off.last_seq) >= streamSequence) return { applied: false, notifications: [] };
    const notifications = await apply(trx, event, streamSequence);
    await trx.updateTable('projection_offsets').set({ last_seq: streamSequence, updated_at: new Date(event.occurredAt) })
      .where('name', '=', READ_MODELS_PROJECTION).execute();
    return { applied: true, notifications };
  });
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
