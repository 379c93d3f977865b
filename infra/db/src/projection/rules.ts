/**
 * The read-model projection rules: what each event of EVENTS does to the PostgreSQL read models,
 * as pure functions over a batch's in-memory {@link WorkingSet}. prefetch.ts loads what these
 * rules read; flush.ts writes what they changed. Every timestamp written comes from the event
 * (`occurredAt`), so a replay into empty tables writes the same rows as the live projection.
 */
import {
  DEFAULT_CHAT_SETTINGS, evolveSession, PLAYBACK_VISIBILITIES, type ChatRoomSettings, type DomainEvent, type EventOf,
} from '@live/events';
import { chatSettingsOfRow } from '../chat.js';
import { sessionViewOfRow } from '../sessions.js';
import { pairKey, type ChannelRow, type WorkingSet } from './rows.js';

/** What a `FollowedChannelWentLive` notification says. */
export interface FollowedChannelWentLivePayload {
  readonly channelId: string;
  readonly channelName: string;
  readonly title: string;
  readonly sessionId: string;
  /** ISO-8601 time the broadcast started. */
  readonly startedAt: string;
}

/**
 * The lower-cased text discovery search matches for a channel: id, display name, title, tags.
 * Trigram similarity and the `simple` text-search configuration both work on it.
 */
export function channelSearchText(c: { id: string; displayName: string; title: string; tags: readonly string[] }): string {
  return [c.id, c.displayName, c.title, ...c.tags].join(' ').toLowerCase();
}

/** `row` with `patch` applied and its search text recomputed when a searched field changed. */
function patchChannel(ws: WorkingSet, row: ChannelRow, patch: Partial<ChannelRow>): void {
  const next = { ...row, ...patch };
  if ('display_name' in patch || 'title' in patch || 'tags' in patch) {
    next.search_text = channelSearchText({ id: next.id, displayName: next.display_name, title: next.title, tags: next.tags });
  }
  ws.channels.put(next);
}

/** Applies `patch` to the channel when it exists (an update of a missing row changes nothing). */
function updateChannel(ws: WorkingSet, channelId: string, patch: Partial<ChannelRow>, when: (c: ChannelRow) => boolean = () => true): void {
  const c = ws.channels.get(channelId);
  if (c && when(c)) patchChannel(ws, c, patch);
}

/**
 * The `stream_sessions` rule: the session's row evolved by `evolveSession`, stamped with the
 * event's sequence; an event not newer than the row's `last_seq` changes nothing.
 */
function applySession(ws: WorkingSet, e: DomainEvent, seq: number): void {
  const sessionId = (e.data as { sessionId?: string }).sessionId;
  if (!sessionId) return;
  const row = ws.sessions.get(sessionId);
  if (row && Number(row.last_seq) >= seq) return;
  const next = evolveSession(row ? sessionViewOfRow({ ...row, renditions: JSON.parse(row.renditions) as unknown }) : null, e);
  if (!next) return;
  // A new session records the channel's metadata as it is now; an existing one keeps its own.
  const channel = !row && e.type === 'StreamPublishStarted' ? ws.channels.get(next.channelId) : null;
  const metadata = row ? { title: row.title, category: row.category, tags: row.tags } : { title: channel?.title ?? '', category: channel?.category ?? '', tags: [...(channel?.tags ?? [])] };
  ws.sessions.put({
    ...metadata,
    session_id: next.sessionId, channel_id: next.channelId, status: next.status,
    started_at: new Date(next.startedAt), ended_at: next.endedAt ? new Date(next.endedAt) : null,
    renditions: JSON.stringify(next.renditions), master_playlist_key: next.masterPlaylistKey,
    vod_master_playlist_key: next.vodMasterPlaylistKey, vod_mp4_key: next.vodMp4Key,
    duration_seconds: next.durationSeconds, failure_reason: next.failureReason, last_seq: seq,
  });
}

/** A followed channel went live: one notification per follower (ids `<sessionId>:<followerId>`). */
function wentLive(ws: WorkingSet, e: EventOf<'RenditionsReady'>): void {
  const ch = ws.channels.get(e.data.channelId);
  // Only a session that is still the channel's live one notifies (a late RenditionsReady after the
  // publisher left does not).
  if (!ch || ch.live_session_id !== e.data.sessionId) return;
  const payload: FollowedChannelWentLivePayload = {
    channelId: ch.id, channelName: ch.display_name, title: ch.title, sessionId: e.data.sessionId,
    startedAt: (ch.live_started_at ?? new Date(e.occurredAt)).toISOString(),
  };
  const text = JSON.stringify(payload);
  const createdAt = new Date(e.occurredAt);
  for (const f of ws.follows.lookup('channel', ch.id)) {
    const id = `${e.data.sessionId}:${f.follower_id}`;
    if (ws.notifications.has(id)) continue;
    ws.notifications.set(id, {
      id, user_id: f.follower_id, type: 'FollowedChannelWentLive', channel_id: ch.id, session_id: e.data.sessionId, payload: text, created_at: createdAt,
    });
  }
}

/** Appends the audit row of a moderation event (first one by event id wins). */
function logModeration(ws: WorkingSet, e: DomainEvent & { data: { channelId: string; actorUserId: string } }, seq: number, row: { target: string | null; message: string | null; detail: Record<string, unknown> }): void {
  if (ws.moderationLog.has(e.id)) return;
  ws.moderationLog.set(e.id, {
    id: e.id, seq, channel_id: e.data.channelId, action: e.type, actor_user_id: e.data.actorUserId, target_user_id: row.target,
    message_id: row.message, detail: JSON.stringify(row.detail), created_at: new Date(e.occurredAt),
  });
}

function currentChatSettings(ws: WorkingSet, channelId: string): ChatRoomSettings {
  const r = ws.chatSettings.get(channelId);
  return r ? chatSettingsOfRow(r) : DEFAULT_CHAT_SETTINGS;
}

/** Account events: users, roles, notification read marks. */
function applyUserEvent(ws: WorkingSet, e: DomainEvent, at: Date): void {
  switch (e.type) {
    case 'UserRegistered': {
      const lower = e.data.username.toLowerCase();
      // Any conflict (same id on redelivery; a duplicate username or email, which the API's claims
      // in the log rule out) is skipped rather than stopping the projection.
      if (ws.users.get(e.data.userId) || ws.users.lookup('usernameLower', lower).length > 0 || ws.users.lookup('email', e.data.email).length > 0) return;
      ws.users.put({
        id: e.data.userId, username: e.data.username, username_lower: lower, email: e.data.email, display_name: e.data.displayName, bio: '',
        password_hash: e.data.passwordHash, is_admin: e.data.roles.includes('admin'), notifications_read_up_to: null, created_at: at, updated_at: at,
      });
      return;
    }
    case 'UserProfileUpdated':
    case 'UserPasswordChanged':
    case 'UserRoleGranted':
    case 'UserRoleRevoked':
    case 'NotificationsRead': {
      const u = ws.users.get(e.data.userId);
      if (!u) return;
      if (e.type === 'UserProfileUpdated') ws.users.put({ ...u, display_name: e.data.displayName, bio: e.data.bio, updated_at: at });
      else if (e.type === 'UserPasswordChanged') ws.users.put({ ...u, password_hash: e.data.passwordHash, updated_at: at });
      else if (e.type === 'NotificationsRead') ws.users.put({ ...u, notifications_read_up_to: new Date(e.data.readUpTo) });
      else if (e.data.role === 'admin') ws.users.put({ ...u, is_admin: e.type === 'UserRoleGranted', updated_at: at });
      return;
    }
  }
}

/** A new channel, or a re-created one: owner and display name taken over. */
function channelCreated(ws: WorkingSet, e: EventOf<'ChannelCreated'>, at: Date): void {
  const c = ws.channels.get(e.data.channelId);
  if (c) {
    patchChannel(ws, c, { owner_user_id: e.data.ownerUserId, display_name: e.data.displayName, updated_at: at });
    return;
  }
  patchChannel(ws, {
    id: e.data.channelId, slug: e.data.channelId, display_name: e.data.displayName, title: '', created_at: at, owner_user_id: e.data.ownerUserId,
    category: '', tags: [], language: '', mature: false, description: '', follower_count: 0, viewer_count: 0, live_session_id: null, live_started_at: null,
    search_text: '', updated_at: at, playback_visibility: 'public', playback_encrypted: false, playback_key_rotation_segments: 0,
    playback_policy_version: 0, playback_bind_address: false, recording_retention_days: null,
  }, { display_name: e.data.displayName });
}

/** A new playback policy: the channel's columns (the version counts changes) and its allow-list. */
function playbackPolicyChanged(ws: WorkingSet, e: EventOf<'ChannelPlaybackPolicyChanged'>, at: Date): void {
  const d = e.data;
  const visibility = PLAYBACK_VISIBILITIES.includes(d.visibility) ? d.visibility : 'public';
  const rotation = Number.isSafeInteger(d.encryption?.rotateEverySegments) ? Math.max(0, d.encryption.rotateEverySegments) : 0;
  const c = ws.channels.get(d.channelId);
  if (c) {
    ws.channels.put({
      ...c, playback_visibility: visibility, playback_encrypted: d.encryption?.enabled === true, playback_key_rotation_segments: rotation,
      updated_at: at, playback_bind_address: d.bindAddress === true, playback_policy_version: c.playback_policy_version + 1,
    });
  }
  const users = [...new Set(Array.isArray(d.allowList) ? d.allowList.filter((u): u is string => typeof u === 'string') : [])];
  ws.allowlist.replace(d.channelId, users.map((user_id) => ({ channel_id: d.channelId, user_id })));
}

/** Stream keys: issued, rotated (the old one revoked), revoked. */
function applyStreamKeyEvent(ws: WorkingSet, e: EventOf<'StreamKeyIssued' | 'StreamKeyRotated' | 'StreamKeyRevoked'>, at: Date): void {
  const revoke = (keyId: string, replacedBy?: string) => {
    const k = ws.streamKeys.get(keyId);
    if (k && k.status !== 'revoked') ws.streamKeys.put({ ...k, status: 'revoked', revoked_at: at, ...(replacedBy ? { replaced_by: replacedBy } : {}) });
  };
  if (e.type === 'StreamKeyRevoked') { revoke(e.data.keyId); return; }
  if (e.type === 'StreamKeyRotated') revoke(e.data.oldKeyId, e.data.keyId);
  const d = e.data;
  // Any conflict (the id on redelivery, a duplicate hash) is skipped.
  if (ws.streamKeys.get(d.keyId) || ws.streamKeys.lookup('keyHash', d.keyHash).length > 0) return;
  ws.streamKeys.put({
    id: d.keyId, channel_id: d.channelId, key_hash: d.keyHash, key_last4: d.keyLast4, status: 'active', created_at: at,
    expires_at: d.expiresAt ? new Date(d.expiresAt) : null, label: d.label, allowed_cidrs: [...d.allowedCidrs], revoked_at: null, replaced_by: null,
  });
}

/** Follows and the channel's follower count (changed only when the follow row really changed). */
function applyFollowEvent(ws: WorkingSet, e: EventOf<'ChannelFollowed' | 'ChannelUnfollowed'>, at: Date): void {
  const key = pairKey(e.data.userId, e.data.channelId);
  const exists = ws.follows.get(key) !== undefined;
  if (e.type === 'ChannelFollowed') {
    if (exists) return;
    ws.follows.put({ follower_id: e.data.userId, channel_id: e.data.channelId, created_at: at });
    const c = ws.channels.get(e.data.channelId);
    if (c) ws.channels.put({ ...c, follower_count: c.follower_count + 1 });
    return;
  }
  if (!exists) return;
  ws.follows.delete(key);
  const c = ws.channels.get(e.data.channelId);
  if (c) ws.channels.put({ ...c, follower_count: Math.max(c.follower_count - 1, 0) });
}

/** Statuses of a session that is still broadcasting: its metadata follows the channel's. */
const BROADCASTING: ReadonlySet<string> = new Set(['starting', 'live', 'reconnecting']);

/** Metadata changed while the channel is live: the live session's title, category and tags follow. */
function liveSessionMetadata(ws: WorkingSet, e: EventOf<'ChannelMetadataUpdated'>, seq: number): void {
  const sessionId = ws.channels.get(e.data.channelId)?.live_session_id;
  const s = sessionId ? ws.sessions.get(sessionId) : undefined;
  if (!s || !BROADCASTING.has(s.status) || Number(s.last_seq) >= seq) return;
  ws.sessions.put({ ...s, title: e.data.title, category: e.data.category, tags: [...e.data.tags], last_seq: seq });
}

/** Stream lifecycle: the session row, and the channel's live columns. */
function applyStreamEvent(ws: WorkingSet, e: DomainEvent, seq: number, at: Date): void {
  applySession(ws, e, seq);
  switch (e.type) {
    case 'StreamPublishStarted':
      updateChannel(ws, e.data.channelId, { live_session_id: e.data.sessionId, live_started_at: at, viewer_count: 0 });
      return;
    case 'StreamPublishEnded':
    case 'StreamFailed':
      updateChannel(ws, e.data.channelId, { live_session_id: null, live_started_at: null, viewer_count: 0 }, (c) => c.live_session_id === e.data.sessionId);
      return;
    case 'RenditionsReady':
      wentLive(ws, e);
      return;
  }
}

/**
 * Recordings: a rename sets the session's own title; a deletion (requested by the owner, or done
 * by retention) drops the session's row, so every read of it answers 404 from then on.
 */
function applyRecordingEvent(ws: WorkingSet, e: EventOf<'RecordingRenamed' | 'RecordingDeletionRequested' | 'RecordingDeleted'>, seq: number): void {
  const s = ws.sessions.get(e.data.sessionId);
  if (!s || Number(s.last_seq) >= seq) return;
  if (e.type === 'RecordingRenamed') ws.sessions.put({ ...s, title: e.data.title, last_seq: seq });
  else ws.sessions.delete(e.data.sessionId);
}

/** Room settings, bans, timeouts and banned terms, each with its moderation-log row. */
function applyChatRuleEvent(ws: WorkingSet, e: EventOf<'ChatSettingsChanged' | 'ChatUserTimedOut' | 'ChatUserBanned' | 'ChatUserUnbanned' | 'ChatBannedTermsSet'>, seq: number, at: Date): void {
  switch (e.type) {
    case 'ChatSettingsChanged': {
      // The event carries the whole settings; fields a producer left out keep their current value.
      const st: ChatRoomSettings = { ...currentChatSettings(ws, e.data.channelId), ...e.data.settings };
      ws.chatSettings.put({
        channel_id: e.data.channelId, slow_mode_seconds: st.slowModeSeconds, followers_only: st.followersOnly, emote_only: st.emoteOnly,
        links_allowed: st.linksAllowed, duplicate_filter: st.duplicateFilter, updated_by: e.data.actorUserId, updated_at: at,
      });
      logModeration(ws, e, seq, { target: null, message: null, detail: { settings: st } });
      return;
    }
    case 'ChatUserTimedOut':
    case 'ChatUserBanned': {
      const reason = e.data.reason ?? '';
      ws.restrictions.put({
        channel_id: e.data.channelId, user_id: e.data.userId, kind: e.type === 'ChatUserBanned' ? 'ban' : 'timeout',
        until: e.type === 'ChatUserTimedOut' ? new Date(e.data.until) : null, reason, actor_user_id: e.data.actorUserId, created_at: at,
      });
      const detail = e.type === 'ChatUserTimedOut' ? { reason, durationSeconds: e.data.durationSeconds, until: e.data.until } : { reason };
      logModeration(ws, e, seq, { target: e.data.userId, message: null, detail });
      return;
    }
    case 'ChatUserUnbanned':
      ws.restrictions.delete(pairKey(e.data.channelId, e.data.userId));
      logModeration(ws, e, seq, { target: e.data.userId, message: null, detail: {} });
      return;
    case 'ChatBannedTermsSet': {
      const terms = Array.isArray(e.data.terms) ? e.data.terms : [];
      ws.bannedTerms.replace(e.data.channelId, terms.map((t, position) => ({ channel_id: e.data.channelId, position, pattern: t.pattern, action: t.action })));
      logModeration(ws, e, seq, { target: null, message: null, detail: { terms } });
      return;
    }
  }
}

/** The moderation queue: reports, held messages, resolutions and deletions. */
function applyQueueEvent(ws: WorkingSet, e: EventOf<'ChatMessageReported' | 'ChatMessageHeld' | 'ModerationItemResolved' | 'ChatMessageDeleted'>, seq: number, at: Date): void {
  switch (e.type) {
    case 'ChatMessageReported':
      if (ws.queue.get(e.id)) return;
      ws.queue.put({
        id: e.id, seq, channel_id: e.data.channelId, kind: 'report', message_id: e.data.messageId, message_seq: e.data.messageSeq, message_kind: null,
        author_user_id: e.data.authorUserId, author_username: e.data.authorUsername ?? '', text: e.data.text, reason: e.data.reason ?? '',
        reporter_user_id: e.data.reporterUserId, session_id: null, status: 'open', created_at: at, resolved_by: null, resolved_at: null,
      });
      return;
    case 'ChatMessageHeld':
      if (ws.queue.get(e.id)) return;
      ws.queue.put({
        id: e.id, seq, channel_id: e.data.channelId, kind: 'held', message_id: e.id, message_seq: null, message_kind: e.data.kind,
        author_user_id: e.data.userId, author_username: e.data.username, text: e.data.text, reason: e.data.term,
        reporter_user_id: null, session_id: e.data.sessionId ?? null, status: 'open', created_at: at, resolved_by: null, resolved_at: null,
      });
      return;
    case 'ModerationItemResolved': {
      const item = ws.queue.get(e.data.itemId);
      if (item) ws.queue.put({ ...item, status: e.data.resolution, resolved_by: e.data.actorUserId, resolved_at: at });
      logModeration(ws, e, seq, {
        target: item?.author_user_id ?? null, message: item?.message_id ?? null,
        detail: { itemId: e.data.itemId, resolution: e.data.resolution, ...(item ? { kind: item.kind } : {}) },
      });
      return;
    }
    case 'ChatMessageDeleted':
      for (const r of ws.queue.lookup('messageId', e.data.messageId).filter((q) => q.kind === 'report' && q.status === 'open')) {
        ws.queue.put({ ...r, status: 'deleted', resolved_by: e.data.actorUserId, resolved_at: at });
      }
      logModeration(ws, e, seq, { target: e.data.authorUserId, message: e.data.messageId, detail: { reason: e.data.reason ?? '', messageSeq: e.data.messageSeq } });
      return;
  }
}

/** Restream destinations: their settings (channel events) and their latest push's state (stream events). */
function applyRestreamEvent(ws: WorkingSet, e: EventOf<'RestreamDestinationAdded' | 'RestreamDestinationUpdated' | 'RestreamDestinationRemoved' | 'RestreamStarted' | 'RestreamReconnecting' | 'RestreamStopped'>, at: Date): void {
  const id = e.data.destinationId;
  if (e.type === 'RestreamDestinationRemoved') return ws.restreamDestinations.delete(id);
  const d = ws.restreamDestinations.get(id);
  switch (e.type) {
    case 'RestreamDestinationAdded':
      if (d) return;
      return ws.restreamDestinations.put({
        id, channel_id: e.data.channelId, name: e.data.name, url: e.data.url, key_sealed: e.data.keySealed, key_last4: e.data.keyLast4,
        enabled: e.data.enabled, created_at: at, updated_at: at, state: 'idle', state_session_id: null, state_attempt: 0, state_reason: null, state_at: null,
      });
    case 'RestreamDestinationUpdated':
      if (!d) return;
      return ws.restreamDestinations.put({
        ...d, name: e.data.name, url: e.data.url, enabled: e.data.enabled, updated_at: at,
        ...(e.data.keySealed !== undefined ? { key_sealed: e.data.keySealed, key_last4: e.data.keyLast4 ?? '' } : {}),
      });
    case 'RestreamStarted':
      if (!d) return;
      return ws.restreamDestinations.put({ ...d, state: 'live', state_session_id: e.data.sessionId, state_attempt: e.data.attempt, state_reason: null, state_at: at });
    case 'RestreamReconnecting':
      if (!d) return;
      return ws.restreamDestinations.put({ ...d, state: 'reconnecting', state_session_id: e.data.sessionId, state_attempt: e.data.attempt, state_reason: e.data.reason, state_at: at });
    case 'RestreamStopped':
      if (!d) return;
      return ws.restreamDestinations.put({ ...d, state: 'stopped', state_session_id: e.data.sessionId, state_reason: e.data.reason, state_at: at });
  }
}

/**
 * Applies one event of the EVENTS log (at stream sequence `seq`) to the working set: users,
 * channels (with their playback policy and search text), channel_playback_allowlist,
 * stream_keys, channel_moderators, follows, notifications, stream_sessions, and the chat
 * moderation models chat_settings, chat_restrictions, chat_banned_terms, moderation_queue,
 * chat_moderation_log, and restream_destinations; recordings (renamed, deleted) and the channel's
 * retention. Events that only analytics read change nothing.
 * @throws NotPrefetchedError when the batch did not load a row the event reads (prefetch.ts).
 */
export function applyEvent(ws: WorkingSet, e: DomainEvent, seq: number): void {
  const at = new Date(e.occurredAt);
  switch (e.type) {
    case 'UserRegistered': case 'UserProfileUpdated': case 'UserPasswordChanged': case 'UserRoleGranted': case 'UserRoleRevoked': case 'NotificationsRead':
      return applyUserEvent(ws, e, at);
    case 'ChannelCreated':
      return channelCreated(ws, e, at);
    case 'ChannelMetadataUpdated':
      updateChannel(ws, e.data.channelId, {
        title: e.data.title, category: e.data.category, tags: [...e.data.tags], language: e.data.language, mature: e.data.mature, updated_at: at,
        ...(e.data.description !== undefined ? { description: e.data.description } : {}),
      });
      return liveSessionMetadata(ws, e, seq);
    case 'ChannelModeratorAdded': {
      const key = pairKey(e.data.channelId, e.data.userId);
      if (!ws.moderators.get(key)) ws.moderators.put({ channel_id: e.data.channelId, user_id: e.data.userId, created_at: at });
      return;
    }
    case 'ChannelModeratorRemoved':
      return ws.moderators.delete(pairKey(e.data.channelId, e.data.userId));
    case 'ChannelPlaybackPolicyChanged':
      return playbackPolicyChanged(ws, e, at);
    case 'StreamKeyIssued': case 'StreamKeyRotated': case 'StreamKeyRevoked':
      return applyStreamKeyEvent(ws, e, at);
    case 'ChannelFollowed': case 'ChannelUnfollowed':
      return applyFollowEvent(ws, e, at);
    case 'StreamPublishStarted': case 'StreamPublishEnded': case 'StreamFailed': case 'RenditionsReady':
    case 'TranscodeStarted': case 'VodReady':
    case 'StreamPublishInterrupted': // the session shows `reconnecting`; the channel stays live
    case 'StreamPublishResumed':
      return applyStreamEvent(ws, e, seq, at);
    case 'ChatSettingsChanged': case 'ChatUserTimedOut': case 'ChatUserBanned': case 'ChatUserUnbanned': case 'ChatBannedTermsSet':
      return applyChatRuleEvent(ws, e, seq, at);
    case 'ChatMessageReported': case 'ChatMessageHeld': case 'ModerationItemResolved': case 'ChatMessageDeleted':
      return applyQueueEvent(ws, e, seq, at);
    case 'ChannelViewersCounted':
      // Viewers of a live session only: the column is 0 while offline (reset on publish start/end).
      return updateChannel(ws, e.data.channelId, { viewer_count: Number.isFinite(e.data.viewers) ? Math.max(0, Math.trunc(e.data.viewers)) : 0 },
        (c) => c.live_session_id !== null);
    case 'RestreamDestinationAdded': case 'RestreamDestinationUpdated': case 'RestreamDestinationRemoved':
    case 'RestreamStarted': case 'RestreamReconnecting': case 'RestreamStopped':
      return applyRestreamEvent(ws, e, at);
    case 'RecordingRenamed': case 'RecordingDeletionRequested': case 'RecordingDeleted':
      return applyRecordingEvent(ws, e, seq);
    case 'RecordingRetentionSet':
      return updateChannel(ws, e.data.channelId, { recording_retention_days: e.data.retentionDays === null ? null : Math.max(1, Math.trunc(e.data.retentionDays)), updated_at: at });
    case 'StreamIngestHealthReported': // analytics only (ClickHouse)
    case 'ChatMessageAccepted': // only ever stored in CHAT, never on EVENTS
    case 'StreamStopRequested':
    case 'UniqueValueClaimed':
    case 'UniqueValueReleased':
      return;
  }
}
