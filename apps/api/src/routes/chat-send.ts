/**
 * `POST /api/streams/{id}/chat`: sending a chat message over HTTP, for bots and integrations,
 * under the same rules as a chat gateway's `message`/`emote` frames (`decideChatSend` of
 * @live/events) and answered with the same codes (from the API's catalogue). The per-user rate
 * limit, slow mode and duplicate filter are counted per API process, as each gateway counts its
 * own (chat-limits.ts of @live/events).
 */
import { Type } from '@sinclair/typebox';
import {
  CHAT_MAX_FRAME_BYTES, DEFAULT_RATE_LIMIT, EMOTES, UserLimits, channelSubject, chatSubject, decideChatSend, domainEvent, needsFollowerCheck,
  restrictionAt, type BannedTerm, type ChatSendRefusalCode,
} from '@live/events';
import { compileBannedTerms, type BannedTermMatcher } from '@live/events/terms';
import { isFollowing, loadBannedTerms, loadChatSettings } from '@live/db';
import { appendChatMessage } from '@live/messaging';
import { ApiError, ErrorBody, type ApiErrorCode } from '../errors.js';
import { channelRelation, requireUser, type ApiApp, type ApiContext } from '../context.js';
import { onLog, roomOf } from './chat.js';
import { strictValidator } from '../validation.js';

const PRODUCER = 'api';

/** How long a room's counters are kept after its last message through the API, ms (the longest slow mode). */
const LIMITS_IDLE_MS = 3600_000;

/** The catalogue code for each refusal of `decideChatSend` (the same code the gateway sends in its `error` frame; SLOW_MODE is its `slow_mode` frame). */
const REFUSAL: Readonly<Record<ChatSendRefusalCode, ApiErrorCode>> = {
  BANNED: 'BANNED', TIMED_OUT: 'TIMED_OUT', RATE_LIMITED: 'RATE_LIMITED', SLOW_MODE: 'SLOW_MODE', MESSAGE_TOO_LONG: 'MESSAGE_TOO_LONG',
  INVALID_TEXT: 'INVALID_TEXT', EMOTE_ONLY: 'EMOTE_ONLY', DUPLICATE_MESSAGE: 'DUPLICATE_MESSAGE', LINKS_NOT_ALLOWED: 'LINKS_NOT_ALLOWED',
  BLOCKED_TERM: 'BLOCKED_TERM', FOLLOWERS_ONLY: 'FOLLOWERS_ONLY',
};

/** Body of `POST /api/streams/{id}/chat`: exactly one of `text` (a message) and `emote` (one of `EMOTES`). */
export const ChatSendBody = Type.Object({
  text: Type.Optional(Type.String({ maxLength: CHAT_MAX_FRAME_BYTES })),
  emote: Type.Optional(Type.Union(EMOTES.map((e) => Type.Literal(e)))),
}, { additionalProperties: false });

/** The answer: the message's id and, once accepted into the room, its position (`seq`); `held` waits in the moderation queue. */
export const ChatSendView = Type.Object({
  id: Type.String(),
  status: Type.Union([Type.Literal('accepted'), Type.Literal('held')]),
  seq: Type.Union([Type.Integer(), Type.Null()]),
});

/** Compiled banned-term lists by their JSON, so that an unchanged list is compiled once. */
class TermCache {
  private readonly compiled = new Map<string, BannedTermMatcher>();
  matcher(terms: readonly BannedTerm[]): BannedTermMatcher {
    const key = JSON.stringify(terms);
    let m = this.compiled.get(key);
    if (!m) {
      if (this.compiled.size >= 1000) this.compiled.clear();
      m = compileBannedTerms(terms);
      this.compiled.set(key, m);
    }
    return m;
  }
}

/** Registers `POST /api/streams/:id/chat` (signed in; `:id` a channel id or a session id of it). */
export async function chatSendRoutes(app: ApiApp, ctx: ApiContext): Promise<void> {
  const rooms = new Map<string, { limits: UserLimits; usedAt: number }>();
  const terms = new TermCache();
  const limitsOf = (channelId: string, now: number): UserLimits => {
    for (const [id, r] of rooms) if (now - r.usedAt > LIMITS_IDLE_MS) rooms.delete(id);
    const r = rooms.get(channelId) ?? { limits: new UserLimits(DEFAULT_RATE_LIMIT), usedAt: now };
    r.usedAt = now;
    rooms.set(channelId, r);
    return r.limits;
  };

  app.post('/api/streams/:id/chat', {
    bodyLimit: CHAT_MAX_FRAME_BYTES,
    // `{"text": 5}` is refused, not sent as "5"; an unknown field is refused, not dropped.
    validatorCompiler: strictValidator,
    schema: {
      tags: ['chat'],
      summary: 'Send a chat message (as the WebSocket does)',
      params: Type.Object({ id: Type.String({ pattern: '^[A-Za-z0-9_-]{1,128}$' }) }),
      body: ChatSendBody,
      response: { 201: ChatSendView, 202: ChatSendView, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 413: ErrorBody, 422: ErrorBody, 429: ErrorBody, 503: ErrorBody },
    },
  }, async (req, reply) => {
    const u = requireUser(req);
    const { text, emote } = req.body;
    if ((text === undefined) === (emote === undefined)) throw new ApiError('VALIDATION_FAILED', 'Send exactly one of text and emote.');
    const channelId = await roomOf(ctx, req.params.id);
    const [relation, settings, channelTerms, globalTerms, restriction, channel] = await Promise.all([
      channelRelation(ctx.db, u, channelId),
      loadChatSettings(ctx.db, channelId),
      loadBannedTerms(ctx.db, channelId),
      loadBannedTerms(ctx.db, ''),
      ctx.db.selectFrom('chat_restrictions').select('until').where('channel_id', '=', channelId).where('user_id', '=', u.userId).executeTakeFirst(),
      ctx.db.selectFrom('channels').select('live_session_id').where('id', '=', channelId).executeTakeFirstOrThrow(),
    ]);
    const moderator = relation !== 'none';
    const follower = needsFollowerCheck(settings, moderator) ? await isFollowing(ctx.db, u.userId, channelId) : false;
    const now = ctx.clock.now();
    const limits = limitsOf(channelId, now);
    const d = decideChatSend(emote !== undefined ? { kind: 'emote', text: emote } : { kind: 'message', text: text! }, {
      userId: u.userId, moderator, restriction: restrictionAt(restriction ? restriction.until?.getTime() ?? null : undefined, now), settings, limits,
      rateLimit: DEFAULT_RATE_LIMIT, globalTerm: terms.matcher(globalTerms), channelTerm: terms.matcher(channelTerms), follower, now,
    });
    if (!d.ok) {
      const retry = d.retryAfterMs !== undefined ? { retryAfterSeconds: Math.ceil(d.retryAfterMs / 1000) } : {};
      throw new ApiError(REFUSAL[d.code], d.message, retry);
    }
    const reservation = limits.reserve(u.userId, now);
    const data = { channelId, userId: u.userId, username: u.username, kind: d.kind, text: d.text, sessionId: channel.live_session_id };
    try {
      if (d.heldBy !== null) {
        const held = domainEvent(ctx.clock, 'ChatMessageHeld', channelSubject(channelId), { ...data, term: d.heldBy }, { producer: PRODUCER });
        await ctx.commit([held]);
        reservation.stored(d.text, ctx.clock.now());
        return reply.status(202).send({ id: held.id, status: 'held' as const, seq: null });
      }
      const e = domainEvent(ctx.clock, 'ChatMessageAccepted', chatSubject(channelId), data, { producer: PRODUCER });
      const r = await onLog(ctx, req, (m) => appendChatMessage(m, e));
      reservation.stored(d.text, ctx.clock.now());
      return reply.status(201).send({ id: e.id, status: 'accepted' as const, seq: r.seq });
    } catch (err) {
      reservation.release(); // a retry must neither wait out the slow mode nor count as a duplicate
      throw err;
    }
  });
}
