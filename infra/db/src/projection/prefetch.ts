/**
 * What a batch of events reads from the read models (pure: {@link batchNeeds}), and loading it
 * into the batch's working set with one query per table ({@link loadWorkingSet}). Each key an
 * event reads is requested exactly; where a rule reads a set (a channel's followers when it goes
 * live, the queue items of a deleted message), every row of that set is loaded.
 */
import { sql, type Transaction } from 'kysely';
import type { DomainEvent } from '@live/events';
import type { Database } from '../schema.js';
import { emptyWorkingSet, pairKey, type BannedTermRow, type AllowlistRow, type WorkingSet } from './rows.js';

/** The keys a batch reads, by table. Pairs are `[first, second]` of a two-column key. */
export interface BatchNeeds {
  readonly userIds: Set<string>;
  readonly usernamesLower: Set<string>;
  readonly emails: Set<string>;
  readonly channelIds: Set<string>;
  readonly streamKeyIds: Set<string>;
  readonly streamKeyHashes: Set<string>;
  /** [channelId, userId] */
  readonly moderators: Map<string, [string, string]>;
  readonly allowlistChannels: Set<string>;
  /** [followerId, channelId] */
  readonly follows: Map<string, [string, string]>;
  /** Channels whose every follower is read (they go live). */
  readonly followedChannels: Set<string>;
  readonly sessionIds: Set<string>;
  /** Channels whose live session (the loaded channel row's `live_session_id`) is read. */
  readonly liveSessionChannels: Set<string>;
  readonly chatSettingsChannels: Set<string>;
  /** [channelId, userId] */
  readonly restrictions: Map<string, [string, string]>;
  readonly bannedTermsChannels: Set<string>;
  readonly queueIds: Set<string>;
  readonly queueMessageIds: Set<string>;
  readonly restreamDestinationIds: Set<string>;
}

/**
 * Lookups the prefetch makes by a column that is neither a primary key nor unique, by table:
 * a replay keeps the indexes that lead with them while it fills fresh tables.
 */
export const PREFETCH_SECONDARY_LOOKUPS: Readonly<Record<string, readonly string[]>> = {
  follows: ['channel_id'],
  moderation_queue: ['message_id'],
};

const SESSION_EVENTS = new Set<DomainEvent['type']>([
  'StreamPublishStarted', 'StreamPublishEnded', 'StreamFailed', 'RenditionsReady', 'TranscodeStarted', 'VodReady',
  'StreamPublishInterrupted', 'StreamPublishResumed', 'RecordingRenamed', 'RecordingDeletionRequested', 'RecordingDeleted',
]);

function emptyNeeds(): BatchNeeds {
  return {
    userIds: new Set(), usernamesLower: new Set(), emails: new Set(), channelIds: new Set(), streamKeyIds: new Set(), streamKeyHashes: new Set(),
    moderators: new Map(), allowlistChannels: new Set(), follows: new Map(), followedChannels: new Set(), sessionIds: new Set(), liveSessionChannels: new Set(),
    chatSettingsChannels: new Set(), restrictions: new Map(), bannedTermsChannels: new Set(), queueIds: new Set(), queueMessageIds: new Set(),
    restreamDestinationIds: new Set(),
  };
}

/** Adds the keys one event's rule (rules.ts) reads. */
function addNeeds(n: BatchNeeds, e: DomainEvent): void {
  const pair = (m: Map<string, [string, string]>, a: string, b: string) => m.set(pairKey(a, b), [a, b]);
  if (SESSION_EVENTS.has(e.type)) {
    const sessionId = (e.data as { sessionId?: string }).sessionId;
    if (sessionId) n.sessionIds.add(sessionId);
  }
  switch (e.type) {
    case 'UserRegistered':
      n.userIds.add(e.data.userId); n.usernamesLower.add(e.data.username.toLowerCase()); n.emails.add(e.data.email);
      return;
    case 'UserProfileUpdated': case 'UserPasswordChanged': case 'UserRoleGranted': case 'UserRoleRevoked': case 'NotificationsRead':
      n.userIds.add(e.data.userId);
      return;
    case 'ChannelMetadataUpdated':
      n.channelIds.add(e.data.channelId); n.liveSessionChannels.add(e.data.channelId);
      return;
    case 'ChannelCreated': case 'ChannelViewersCounted': case 'RecordingRetentionSet':
    case 'StreamPublishStarted': case 'StreamPublishEnded': case 'StreamFailed':
      n.channelIds.add(e.data.channelId);
      return;
    case 'RenditionsReady':
      n.channelIds.add(e.data.channelId); n.followedChannels.add(e.data.channelId);
      return;
    case 'ChannelPlaybackPolicyChanged':
      n.channelIds.add(e.data.channelId); n.allowlistChannels.add(e.data.channelId);
      return;
    case 'ChannelModeratorAdded': case 'ChannelModeratorRemoved':
      pair(n.moderators, e.data.channelId, e.data.userId);
      return;
    case 'StreamKeyIssued': case 'StreamKeyRotated':
      n.streamKeyIds.add(e.data.keyId); n.streamKeyHashes.add(e.data.keyHash);
      if (e.type === 'StreamKeyRotated') n.streamKeyIds.add(e.data.oldKeyId);
      return;
    case 'StreamKeyRevoked':
      n.streamKeyIds.add(e.data.keyId);
      return;
    case 'ChannelFollowed': case 'ChannelUnfollowed':
      pair(n.follows, e.data.userId, e.data.channelId); n.channelIds.add(e.data.channelId);
      return;
    case 'ChatSettingsChanged':
      n.chatSettingsChannels.add(e.data.channelId);
      return;
    case 'ChatUserTimedOut': case 'ChatUserBanned': case 'ChatUserUnbanned':
      pair(n.restrictions, e.data.channelId, e.data.userId);
      return;
    case 'ChatBannedTermsSet':
      n.bannedTermsChannels.add(e.data.channelId);
      return;
    case 'ChatMessageReported': case 'ChatMessageHeld':
      n.queueIds.add(e.id);
      return;
    case 'ModerationItemResolved':
      n.queueIds.add(e.data.itemId);
      return;
    case 'ChatMessageDeleted':
      n.queueMessageIds.add(e.data.messageId);
      return;
    case 'RestreamDestinationAdded': case 'RestreamDestinationUpdated': case 'RestreamDestinationRemoved':
    case 'RestreamStarted': case 'RestreamReconnecting': case 'RestreamStopped':
      n.restreamDestinationIds.add(e.data.destinationId);
      return;
    default:
      return;
  }
}

/** The keys every rule of the batch reads (rules.ts), by table. */
export function batchNeeds(events: Iterable<DomainEvent>): BatchNeeds {
  const n = emptyNeeds();
  for (const e of events) addNeeds(n, e);
  return n;
}

/** `= any($1)` over one array parameter (one plan for any number of keys). */
function anyOf(values: Iterable<string>) {
  return sql<string>`any(${[...values]})`;
}

function firsts(m: Map<string, [string, string]>): string[] {
  return [...new Set([...m.values()].map((p) => p[0]))];
}
function seconds(m: Map<string, [string, string]>): string[] {
  return [...new Set([...m.values()].map((p) => p[1]))];
}

function groupBy<R>(rows: readonly R[], owner: (r: R) => string): Map<string, R[]> {
  const out = new Map<string, R[]>();
  for (const r of rows) {
    const k = owner(r);
    const g = out.get(k);
    if (g) g.push(r); else out.set(k, [r]);
  }
  return out;
}

/** Loads users, channels, stream keys and restream destinations of the batch. */
async function loadAccounts(trx: Transaction<Database>, n: BatchNeeds, ws: WorkingSet): Promise<void> {
  if (n.userIds.size + n.usernamesLower.size + n.emails.size > 0) {
    const rows = await trx.selectFrom('users').selectAll()
      .where((eb) => eb.or([eb('id', '=', anyOf(n.userIds)), eb('username_lower', '=', anyOf(n.usernamesLower)), eb('email', '=', anyOf(n.emails))])).execute();
    ws.users.load(rows, n.userIds);
  }
  if (n.channelIds.size > 0) {
    const rows = await trx.selectFrom('channels').selectAll().where('id', '=', anyOf(n.channelIds)).execute();
    ws.channels.load(rows.map(({ search_vector: _, ...r }) => r), n.channelIds);
  }
  if (n.streamKeyIds.size + n.streamKeyHashes.size > 0) {
    const rows = await trx.selectFrom('stream_keys').selectAll()
      .where((eb) => eb.or([eb('id', '=', anyOf(n.streamKeyIds)), eb('key_hash', '=', anyOf(n.streamKeyHashes))])).execute();
    ws.streamKeys.load(rows, n.streamKeyIds);
  }
  if (n.restreamDestinationIds.size > 0) {
    const rows = await trx.selectFrom('restream_destinations').selectAll().where('id', '=', anyOf(n.restreamDestinationIds)).execute();
    ws.restreamDestinations.load(rows, n.restreamDestinationIds);
  }
}

/** Loads moderators, allow-lists, follows and sessions of the batch. */
async function loadChannelRelations(trx: Transaction<Database>, n: BatchNeeds, ws: WorkingSet): Promise<void> {
  if (n.moderators.size > 0) {
    const rows = await trx.selectFrom('channel_moderators').selectAll()
      .where('channel_id', '=', anyOf(firsts(n.moderators))).where('user_id', '=', anyOf(seconds(n.moderators))).execute();
    ws.moderators.load(rows, n.moderators.keys());
  }
  if (n.allowlistChannels.size > 0) {
    const rows = await trx.selectFrom('channel_playback_allowlist').selectAll().where('channel_id', '=', anyOf(n.allowlistChannels)).execute();
    ws.allowlist.load(groupBy<AllowlistRow>(rows, (r) => r.channel_id), n.allowlistChannels);
  }
  if (n.follows.size + n.followedChannels.size > 0) {
    const rows = await trx.selectFrom('follows').selectAll().where((eb) => eb.or([
      eb.and([eb('follower_id', '=', anyOf(firsts(n.follows))), eb('channel_id', '=', anyOf(seconds(n.follows)))]),
      eb('channel_id', '=', anyOf(n.followedChannels)),
    ])).execute();
    ws.follows.load(rows, n.follows.keys());
  }
  // The live sessions of channels whose metadata changes (their rows are loaded by now).
  for (const channelId of n.liveSessionChannels) {
    const live = ws.channels.get(channelId)?.live_session_id;
    if (live) n.sessionIds.add(live);
  }
  if (n.sessionIds.size > 0) {
    const rows = await trx.selectFrom('stream_sessions').selectAll().where('session_id', '=', anyOf(n.sessionIds)).execute();
    ws.sessions.load(rows.map((r) => ({ ...r, renditions: JSON.stringify(r.renditions ?? []) })), n.sessionIds);
  }
}

/** Loads the chat moderation models of the batch. */
async function loadChatModels(trx: Transaction<Database>, n: BatchNeeds, ws: WorkingSet): Promise<void> {
  if (n.chatSettingsChannels.size > 0) {
    const rows = await trx.selectFrom('chat_settings').selectAll().where('channel_id', '=', anyOf(n.chatSettingsChannels)).execute();
    ws.chatSettings.load(rows, n.chatSettingsChannels);
  }
  if (n.restrictions.size > 0) {
    const rows = await trx.selectFrom('chat_restrictions').selectAll()
      .where('channel_id', '=', anyOf(firsts(n.restrictions))).where('user_id', '=', anyOf(seconds(n.restrictions))).execute();
    ws.restrictions.load(rows, n.restrictions.keys());
  }
  if (n.bannedTermsChannels.size > 0) {
    const rows = await trx.selectFrom('chat_banned_terms').selectAll().where('channel_id', '=', anyOf(n.bannedTermsChannels)).execute();
    ws.bannedTerms.load(groupBy<BannedTermRow>(rows, (r) => r.channel_id), n.bannedTermsChannels);
  }
  if (n.queueIds.size + n.queueMessageIds.size > 0) {
    const rows = await trx.selectFrom('moderation_queue').selectAll()
      .where((eb) => eb.or([eb('id', '=', anyOf(n.queueIds)), eb('message_id', '=', anyOf(n.queueMessageIds))])).execute();
    ws.queue.load(rows, n.queueIds);
  }
}

/**
 * A working set holding every row the batch's events read, loaded in the caller's transaction
 * (about one query per table the batch touches).
 * @throws the driver's error.
 */
export async function loadWorkingSet(trx: Transaction<Database>, events: Iterable<DomainEvent>): Promise<WorkingSet> {
  const n = batchNeeds(events);
  const ws = emptyWorkingSet();
  await loadAccounts(trx, n, ws);
  await loadChannelRelations(trx, n, ws);
  await loadChatModels(trx, n, ws);
  return ws;
}
