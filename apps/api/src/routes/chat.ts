import { Type, type Static } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import {
  CHAT_POLICY_SUBJECT, CHAT_STREAM, MAX_BANNED_TERMS, MAX_SLOW_MODE_SECONDS, MAX_TIMEOUT_SECONDS,
  channelSubject, chatSubject, decideRestriction, domainEvent, isHiddenChatLine, type BannedTerm, type ChatRoomSettings, type RestrictionRequest,
} from '@live/events';
import { bannedTermsProblem, MAX_TERM_PATTERN_LENGTH } from '@live/events/terms';
import { loadBannedTerms, loadChatSettings, loadHiddenAuthorMap, type ModerationQueueRow } from '@live/db';
import { appendChatMessage, deleteChatMessage, readChatHistory, type Messaging } from '@live/messaging';
import { ApiError, ErrorBody } from '../errors.js';
import { channelRelation, requireRole, requireUser, type ApiApp, type ApiContext, type AuthUser } from '../context.js';

const PRODUCER = 'api';
const IdParam = Type.String({ pattern: '^[A-Za-z0-9_-]{1,128}$' });
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
const MessageKind = Type.Union([Type.Literal('message'), Type.Literal('emote')]);

/** One chat line (`ChatLine` of @live/events): `seq` is its CHAT stream sequence, `at` ISO-8601. */
export const ChatLineView = Type.Object({
  id: Type.String(), seq: Type.Integer(), kind: MessageKind, userId: Type.String(), username: Type.String(), text: Type.String(), at: Type.String(),
});

/** A room's settings (`ChatRoomSettings`); slow mode in seconds, 0..{@link MAX_SLOW_MODE_SECONDS}. */
export const ChatSettingsView = Type.Object({
  slowModeSeconds: Type.Integer({ minimum: 0, maximum: MAX_SLOW_MODE_SECONDS }),
  followersOnly: Type.Boolean(),
  emoteOnly: Type.Boolean(),
  linksAllowed: Type.Boolean(),
  duplicateFilter: Type.Boolean(),
}, { additionalProperties: false });

/** A banned-term list: RE2 patterns (matched case-insensitively) with what a match does. */
export const BannedTermsBody = Type.Object({
  terms: Type.Array(Type.Object({
    pattern: Type.String({ minLength: 1, maxLength: MAX_TERM_PATTERN_LENGTH }),
    action: Type.Union([Type.Literal('block'), Type.Literal('hold')]),
  }, { additionalProperties: false }), { maxItems: MAX_BANNED_TERMS }),
}, { additionalProperties: false });

const ItemStatus = Type.Union([Type.Literal('open'), Type.Literal('approved'), Type.Literal('dismissed'), Type.Literal('deleted')]);

/** A moderation-queue item: a reported message (`report`) or one held by a banned term (`held`). Times ISO-8601. */
export const ModerationItemView = Type.Object({
  id: Type.String(),
  channelId: Type.String(),
  kind: Type.Union([Type.Literal('report'), Type.Literal('held')]),
  messageId: Type.String(),
  /** CHAT sequence of the reported message; null for a held one. */
  messageSeq: Nullable(Type.Integer()),
  authorUserId: Type.String(),
  authorUsername: Type.String(),
  text: Type.String(),
  /** The report's reason, or the pattern that held the message. */
  reason: Type.String(),
  reporterUserId: Nullable(Type.String()),
  sessionId: Nullable(Type.String()),
  status: ItemStatus,
  createdAt: Type.String(),
  resolvedBy: Nullable(Type.String()),
  resolvedAt: Nullable(Type.String()),
});
/** Static type of {@link ModerationItemView}. */
export type ModerationItemView = Static<typeof ModerationItemView>;

/** A ban (`until` null) or timeout in force. */
export const RestrictionView = Type.Object({
  userId: Type.String(),
  username: Type.String(),
  kind: Type.Union([Type.Literal('ban'), Type.Literal('timeout')]),
  until: Nullable(Type.String()),
  reason: Type.String(),
  actorUserId: Type.String(),
  createdAt: Type.String(),
});

/** One row of a room's moderation audit log; `action` is the event type (ChatUserBanned, …). */
export const ModerationLogEntry = Type.Object({
  id: Type.String(),
  action: Type.String(),
  actorUserId: Type.String(),
  actorUsername: Nullable(Type.String()),
  targetUserId: Nullable(Type.String()),
  targetUsername: Nullable(Type.String()),
  messageId: Nullable(Type.String()),
  detail: Type.Record(Type.String(), Type.Unknown()),
  createdAt: Type.String(),
});

function itemView(r: ModerationQueueRow): ModerationItemView {
  return {
    id: r.id, channelId: r.channel_id, kind: r.kind, messageId: r.message_id, messageSeq: r.message_seq === null ? null : Number(r.message_seq),
    authorUserId: r.author_user_id, authorUsername: r.author_username, text: r.text, reason: r.reason, reporterUserId: r.reporter_user_id,
    sessionId: r.session_id, status: r.status, createdAt: r.created_at.toISOString(), resolvedBy: r.resolved_by,
    resolvedAt: r.resolved_at ? r.resolved_at.toISOString() : null,
  };
}

/**
 * The caller when they may moderate `channelId`'s chat: its owner, one of its moderators, or
 * a platform admin (the relation read by `channelRelation`).
 * @throws ApiError UNAUTHENTICATED, CHANNEL_NOT_FOUND or NOT_CHAT_MODERATOR.
 */
export async function requireChatModerator(ctx: ApiContext, req: FastifyRequest, channelId: string): Promise<AuthUser> {
  const u = requireUser(req);
  if ((await channelRelation(ctx.db, u, channelId)) === 'none') throw new ApiError('NOT_CHAT_MODERATOR');
  return u;
}

/**
 * Runs a JetStream operation of @live/messaging (CHAT reads and writes, which do not go through
 * `ctx.append`), mapping any failure to EVENT_LOG_UNAVAILABLE.
 */
export async function onLog<T>(ctx: ApiContext, req: FastifyRequest, fn: (m: Messaging) => Promise<T>): Promise<T> {
  if (!ctx.messaging) throw new ApiError('EVENT_LOG_UNAVAILABLE');
  try {
    return await fn(ctx.messaging);
  } catch (err) {
    if (err instanceof ApiError) throw err;
    req.log.warn({ err }, 'JetStream operation failed');
    throw new ApiError('EVENT_LOG_UNAVAILABLE');
  }
}

/**
 * The channel whose room a stream id names: a channel id, or a session id of that channel.
 * @throws ApiError STREAM_NOT_FOUND.
 */
export async function roomOf(ctx: ApiContext, id: string): Promise<string> {
  const ch = await ctx.db.selectFrom('channels').select('id').where('id', '=', id).executeTakeFirst();
  if (ch) return ch.id;
  const s = await ctx.db.selectFrom('stream_sessions').select('channel_id').where('session_id', '=', id).executeTakeFirst();
  if (!s) throw new ApiError('STREAM_NOT_FOUND');
  return s.channel_id;
}

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Chat routes (the HTTP side of the chat; messages themselves go through the chat gateways):
 * - `GET /api/streams/:id/chat` — a room's stored history (anonymous), less the messages a ban or
 *   timeout hid (sending, `POST` on the same path, is in chat-send.ts);
 * - `GET /api/moderation/queue`, `POST /api/moderation/queue/:itemId/resolve` — reports and held messages;
 * - `GET|PUT /api/channels/:channelId/chat/settings` — room modes (GET anonymous);
 * - `GET|PUT /api/channels/:channelId/chat/banned-terms`, `GET|PUT /api/chat/banned-terms` (global, admins);
 * - `GET|POST /api/channels/:channelId/chat/restrictions`, `DELETE …/restrictions/:userId` — bans and timeouts;
 * - `GET /api/channels/:channelId/chat/log` — the moderation audit log.
 * Moderation is for the channel's owner, its moderators and admins. Every change is an event
 * (ChatSettingsChanged, ChatBannedTermsSet, ChatUserBanned/TimedOut/Unbanned, ChatMessageDeleted,
 * ModerationItemResolved; an approved held message is appended to CHAT as ChatMessageAccepted)
 * and the answer is sent once the read models include it.
 */
export async function chatRoutes(app: ApiApp, ctx: ApiContext): Promise<void> {
  const tags = ['chat'];
  const ChannelParams = Type.Object({ channelId: IdParam });

  // --- history ----------------------------------------------------------------------------
  app.get('/api/streams/:id/chat', {
    schema: {
      tags,
      params: Type.Object({ id: IdParam }),
      querystring: Type.Object({
        before: Type.Optional(Type.Integer({ minimum: 1 })),
        limit: Type.Integer({ minimum: 1, maximum: 100, default: 50 }),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ messages: Type.Array(ChatLineView), nextBefore: Nullable(Type.Integer()) }), 400: ErrorBody, 404: ErrorBody, 503: ErrorBody },
    },
  }, async (req) => {
    const channelId = await roomOf(ctx, req.params.id);
    // Messages of an author banned or timed out after sending them are left out for everyone
    // (isHiddenChatLine of @live/events, as the gateways' join history); deleted ones are gone from CHAT.
    const [stored, hidden] = await Promise.all([onLog(ctx, req, (m) => readChatHistory(m, channelId)), loadHiddenAuthorMap(ctx.db, channelId)]);
    const lines = stored.filter((l) => !isHiddenChatLine(l, hidden));
    const { before, limit } = req.query;
    const older = before === undefined ? lines : lines.filter((l) => l.seq < before);
    const messages = older.slice(-limit);
    return { messages, nextBefore: older.length > messages.length && messages[0] ? messages[0].seq : null };
  });

  // --- moderation queue -------------------------------------------------------------------
  app.get('/api/moderation/queue', {
    schema: {
      tags,
      querystring: Type.Object({
        channelId: Type.Optional(IdParam),
        status: Type.Optional(ItemStatus),
        limit: Type.Integer({ minimum: 1, maximum: 100, default: 50 }),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ items: Type.Array(ModerationItemView) }), 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody },
    },
  }, async (req) => {
    const u = requireUser(req);
    const { channelId, status = 'open', limit } = req.query;
    let q = ctx.db.selectFrom('moderation_queue').selectAll().where('status', '=', status);
    if (channelId !== undefined) {
      await requireChatModerator(ctx, req, channelId);
      q = q.where('channel_id', '=', channelId);
    } else if (!u.roles.includes('admin')) {
      q = q.where((eb) => eb.or([
        eb('channel_id', 'in', eb.selectFrom('channels').select('id').where('owner_user_id', '=', u.userId)),
        eb('channel_id', 'in', eb.selectFrom('channel_moderators').select('channel_id').where('user_id', '=', u.userId)),
      ]));
    }
    const rows = await q.orderBy('seq').limit(limit).execute();
    return { items: rows.map(itemView) };
  });

  app.post('/api/moderation/queue/:itemId/resolve', {
    schema: {
      tags,
      params: Type.Object({ itemId: IdParam }),
      body: Type.Object({ resolution: Type.Union([Type.Literal('approved'), Type.Literal('dismissed'), Type.Literal('deleted')]) }, { additionalProperties: false }),
      response: { 200: ModerationItemView, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 503: ErrorBody },
    },
  }, async (req) => {
    requireUser(req);
    const item = await ctx.db.selectFrom('moderation_queue').selectAll().where('id', '=', req.params.itemId).executeTakeFirst();
    if (!item) throw new ApiError('MODERATION_ITEM_NOT_FOUND');
    const u = await requireChatModerator(ctx, req, item.channel_id);
    if (item.status !== 'open') throw new ApiError('MODERATION_ITEM_RESOLVED', `The item was already resolved (${item.status}).`);
    const { resolution } = req.body;
    const channelId = item.channel_id;
    /** The event that carried out the resolution (the resolution's cause), if any. */
    let causationId: string | null = null;
    if (resolution === 'approved') {
      if (item.kind !== 'held') throw new ApiError('RESOLUTION_NOT_APPLICABLE', 'Only a held message can be approved; dismiss or delete a report.');
      // The released message keeps the held message's id, so clients and reports refer to one id.
      const base = domainEvent(ctx.clock, 'ChatMessageAccepted', chatSubject(channelId), {
        channelId, userId: item.author_user_id, username: item.author_username, kind: item.message_kind ?? 'message', text: item.text, sessionId: item.session_id,
      }, { producer: PRODUCER });
      await onLog(ctx, req, (m) => appendChatMessage(m, { ...base, id: item.id, meta: { ...base.meta, correlationId: item.id } }));
      causationId = item.id;
    } else if (resolution === 'deleted') {
      if (item.kind !== 'report') throw new ApiError('RESOLUTION_NOT_APPLICABLE', 'Only a reported message can be deleted; dismiss or approve a held one.');
      if (item.message_seq === null) throw new ApiError('RESOLUTION_NOT_APPLICABLE', 'The report does not name the message position; dismiss it.');
      const messageSeq = Number(item.message_seq);
      const deletion = domainEvent(ctx.clock, 'ChatMessageDeleted', channelSubject(channelId), {
        channelId, messageId: item.message_id, messageSeq, authorUserId: item.author_user_id, actorUserId: u.userId, reason: 'reported',
      }, { producer: PRODUCER, causationId: item.id });
      await onLog(ctx, req, async (m) => {
        // The sequence comes from the report: erase only if it holds this room's message (or is already gone).
        const stored = await m.jsm.streams.getMessage(CHAT_STREAM, { seq: messageSeq }).catch(() => null);
        if (stored) {
          let id: unknown = null;
          try { id = (stored.json() as { id?: unknown }).id; } catch { id = null; }
          if (stored.subject !== chatSubject(channelId) || id !== item.message_id) {
            throw new ApiError('RESOLUTION_NOT_APPLICABLE', 'The reported message is not at the position the report names; dismiss it.');
          }
        }
        await deleteChatMessage(m, deletion);
      });
      causationId = deletion.id;
    }
    const resolved = domainEvent(ctx.clock, 'ModerationItemResolved', channelSubject(channelId), { channelId, itemId: item.id, actorUserId: u.userId, resolution }, { producer: PRODUCER, causationId });
    await ctx.commit([resolved]);
    const row = await ctx.db.selectFrom('moderation_queue').selectAll().where('id', '=', item.id).executeTakeFirst();
    // When the projector is behind, answer from the event.
    return row && row.status !== 'open' ? itemView(row) : { ...itemView(item), status: resolution, resolvedBy: u.userId, resolvedAt: resolved.occurredAt };
  });

  // --- settings ---------------------------------------------------------------------------
  app.get('/api/channels/:channelId/chat/settings', {
    schema: { tags, params: ChannelParams, response: { 200: ChatSettingsView, 404: ErrorBody } },
  }, async (req) => {
    await channelRelation(ctx.db, null, req.params.channelId);
    return loadChatSettings(ctx.db, req.params.channelId);
  });

  app.put('/api/channels/:channelId/chat/settings', {
    schema: { tags, params: ChannelParams, body: ChatSettingsView, response: { 200: ChatSettingsView, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 503: ErrorBody } },
  }, async (req) => {
    const { channelId } = req.params;
    const u = await requireChatModerator(ctx, req, channelId);
    const b = req.body;
    const settings: ChatRoomSettings = {
      slowModeSeconds: b.slowModeSeconds, followersOnly: b.followersOnly, emoteOnly: b.emoteOnly, linksAllowed: b.linksAllowed, duplicateFilter: b.duplicateFilter,
    };
    if (!sameJson(await loadChatSettings(ctx.db, channelId), settings)) {
      await ctx.commit([domainEvent(ctx.clock, 'ChatSettingsChanged', channelSubject(channelId), { channelId, actorUserId: u.userId, settings }, { producer: PRODUCER })]);
    }
    return settings;
  });

  // --- banned terms -----------------------------------------------------------------------
  /** Validates and stores a list (channel '' = global) unless it is the current one. */
  async function setTerms(channelId: string, actorUserId: string, terms: BannedTerm[]): Promise<{ terms: BannedTerm[] }> {
    const problem = bannedTermsProblem(terms);
    if (problem) throw new ApiError('VALIDATION_FAILED', problem);
    if (!sameJson(await loadBannedTerms(ctx.db, channelId), terms)) {
      const subject = channelId === '' ? CHAT_POLICY_SUBJECT : channelSubject(channelId);
      await ctx.commit([domainEvent(ctx.clock, 'ChatBannedTermsSet', subject, { channelId, actorUserId, terms }, { producer: PRODUCER })]);
    }
    return { terms };
  }
  const TermsResponse = { 200: BannedTermsBody, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 503: ErrorBody };

  app.get('/api/channels/:channelId/chat/banned-terms', { schema: { tags, params: ChannelParams, response: TermsResponse } }, async (req) => {
    await requireChatModerator(ctx, req, req.params.channelId);
    return { terms: await loadBannedTerms(ctx.db, req.params.channelId) };
  });
  app.put('/api/channels/:channelId/chat/banned-terms', { schema: { tags, params: ChannelParams, body: BannedTermsBody, response: TermsResponse } }, async (req) => {
    const u = await requireChatModerator(ctx, req, req.params.channelId);
    return setTerms(req.params.channelId, u.userId, req.body.terms);
  });
  app.get('/api/chat/banned-terms', { schema: { tags, response: TermsResponse } }, async (req) => {
    requireRole(req, 'admin');
    return { terms: await loadBannedTerms(ctx.db, '') };
  });
  app.put('/api/chat/banned-terms', { schema: { tags, body: BannedTermsBody, response: TermsResponse } }, async (req) => {
    const u = requireRole(req, 'admin');
    return setTerms('', u.userId, req.body.terms);
  });

  // --- restrictions -----------------------------------------------------------------------
  app.get('/api/channels/:channelId/chat/restrictions', {
    schema: { tags, params: ChannelParams, response: { 200: Type.Object({ items: Type.Array(RestrictionView) }), 401: ErrorBody, 403: ErrorBody, 404: ErrorBody } },
  }, async (req) => {
    await requireChatModerator(ctx, req, req.params.channelId);
    const rows = await ctx.db.selectFrom('chat_restrictions as r').leftJoin('users as u', 'u.id', 'r.user_id')
      .select(['r.user_id', 'u.username', 'r.kind', 'r.until', 'r.reason', 'r.actor_user_id', 'r.created_at'])
      .where('r.channel_id', '=', req.params.channelId)
      .where((eb) => eb.or([eb('r.until', 'is', null), eb('r.until', '>', new Date(ctx.clock.now()))]))
      .orderBy('r.created_at', 'desc').orderBy('r.user_id').execute();
    return {
      items: rows.map((r) => ({
        userId: r.user_id, username: r.username ?? '', kind: r.kind, until: r.until ? r.until.toISOString() : null, reason: r.reason,
        actorUserId: r.actor_user_id, createdAt: r.created_at.toISOString(),
      })),
    };
  });

  app.post('/api/channels/:channelId/chat/restrictions', {
    schema: {
      tags,
      params: ChannelParams,
      body: Type.Object({
        userId: IdParam,
        /** Absent = a ban; else a timeout of this many seconds. */
        durationSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_TIMEOUT_SECONDS })),
        reason: Type.Optional(Type.String({ maxLength: 1000 })),
      }, { additionalProperties: false }),
      response: { 201: RestrictionView, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 503: ErrorBody },
    },
  }, async (req, reply) => {
    const { channelId } = req.params;
    const u = await requireChatModerator(ctx, req, channelId);
    const { userId, durationSeconds, reason: rawReason } = req.body;
    const target = await ctx.db.selectFrom('users').select(['id', 'username']).where('id', '=', userId).executeTakeFirst();
    if (!target) throw new ApiError('USER_NOT_FOUND');
    const ch = await ctx.db.selectFrom('channels').select('owner_user_id').where('id', '=', channelId).executeTakeFirstOrThrow();
    // The same rules as the chat gateway's `moderate` frames (@live/events moderation.ts).
    const request: RestrictionRequest = durationSeconds === undefined
      ? { kind: 'ban', userId, ...(rawReason !== undefined ? { reason: rawReason } : {}) }
      : { kind: 'timeout', userId, durationSeconds, ...(rawReason !== undefined ? { reason: rawReason } : {}) };
    const d = decideRestriction(ctx.clock, request, { channelId, ownerUserId: ch.owner_user_id, actorUserId: u.userId, producer: PRODUCER });
    if (!d.ok) throw new ApiError(d.code === 'CANNOT_RESTRICT' ? 'CANNOT_RESTRICT' : 'VALIDATION_FAILED', d.message);
    const ev = d.event;
    await ctx.commit([ev]);
    return reply.status(201).send({
      userId, username: target.username, kind: ev.type === 'ChatUserBanned' ? 'ban' as const : 'timeout' as const,
      until: ev.type === 'ChatUserTimedOut' ? ev.data.until : null, reason: ev.type === 'ChatUserUnbanned' ? '' : ev.data.reason, actorUserId: u.userId, createdAt: ev.occurredAt,
    });
  });

  app.delete('/api/channels/:channelId/chat/restrictions/:userId', {
    schema: { tags, params: Type.Object({ channelId: IdParam, userId: IdParam }), response: { 204: Type.Null(), 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 503: ErrorBody } },
  }, async (req, reply) => {
    const { channelId, userId } = req.params;
    const u = await requireChatModerator(ctx, req, channelId);
    const row = await ctx.db.selectFrom('chat_restrictions').select('user_id').where('channel_id', '=', channelId).where('user_id', '=', userId).executeTakeFirst();
    // Idempotent: lifting a restriction nobody has writes nothing.
    if (row) {
      const d = decideRestriction(ctx.clock, { kind: 'unban', userId }, { channelId, ownerUserId: null, actorUserId: u.userId, producer: PRODUCER });
      if (d.ok) await ctx.commit([d.event]);
    }
    return reply.status(204).send(null);
  });

  // --- audit log --------------------------------------------------------------------------
  app.get('/api/channels/:channelId/chat/log', {
    schema: {
      tags,
      params: ChannelParams,
      querystring: Type.Object({
        limit: Type.Integer({ minimum: 1, maximum: 100, default: 50 }),
        /** Only entries older than this one (a previous page's `nextBefore`). */
        before: Type.Optional(Type.Integer({ minimum: 1 })),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ items: Type.Array(ModerationLogEntry), nextBefore: Nullable(Type.Integer()) }), 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody },
    },
  }, async (req) => {
    const { channelId } = req.params;
    const { limit, before } = req.query;
    await requireChatModerator(ctx, req, channelId);
    let q = ctx.db.selectFrom('chat_moderation_log as l')
      .leftJoin('users as a', 'a.id', 'l.actor_user_id').leftJoin('users as t', 't.id', 'l.target_user_id')
      .select(['l.id', 'l.seq', 'l.action', 'l.actor_user_id', 'a.username as actor_username', 'l.target_user_id', 't.username as target_username', 'l.message_id', 'l.detail', 'l.created_at'])
      .where('l.channel_id', '=', channelId).orderBy('l.seq', 'desc').limit(limit + 1);
    if (before !== undefined) q = q.where('l.seq', '<', String(before));
    const rows = await q.execute();
    const page = rows.slice(0, limit);
    return {
      items: page.map((r) => ({
        id: r.id, action: r.action, actorUserId: r.actor_user_id, actorUsername: r.actor_username, targetUserId: r.target_user_id,
        targetUsername: r.target_username, messageId: r.message_id, detail: r.detail, createdAt: r.created_at.toISOString(),
      })),
      nextBefore: rows.length > limit && page.length > 0 ? Number(page[page.length - 1]!.seq) : null,
    };
  });
}
