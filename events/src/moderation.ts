/**
 * Chat restrictions (ban, timeout, unban): one set of rules for every way a moderator asks for
 * one — the REST routes (`apps/api`, `POST/DELETE /api/channels/{id}/chat/restrictions`) and the
 * chat gateway's `moderate` frames (`apps/chat`) — so both refuse the same requests with the same
 * code, clean the reason the same way and stamp a timeout's end with the caller's clock. Pure:
 * the caller checks that the actor may moderate the room and appends the event.
 */
import type { EventClock } from './envelope.js';
import type { EventOf } from './catalogue.js';
import { domainEvent } from './factory.js';
import { channelSubject } from './subjects.js';
import { checkText } from './text.js';
import { MAX_TIMEOUT_SECONDS } from './chat.js';

/** Longest moderation reason, in characters (after cleaning). */
export const MAX_MODERATION_REASON_LENGTH = 200;

/** A restriction a moderator asks for: a ban, a timeout of `durationSeconds` (1 … {@link MAX_TIMEOUT_SECONDS}), or lifting either. */
export type RestrictionRequest =
  | { readonly kind: 'ban'; readonly userId: string; readonly reason?: string }
  | { readonly kind: 'timeout'; readonly userId: string; readonly durationSeconds: number; readonly reason?: string }
  | { readonly kind: 'unban'; readonly userId: string };

/** Why a restriction is refused: `CANNOT_RESTRICT` (the channel owner, or oneself), `INVALID_REASON` (a reason that does not clean), `INVALID_DURATION`. */
export type RestrictionRefusalCode = 'CANNOT_RESTRICT' | 'INVALID_REASON' | 'INVALID_DURATION';

/** Outcome of {@link decideRestriction}: the event to append, or the refusal with a sentence for the moderator. */
export type RestrictionDecision =
  | { readonly ok: true; readonly event: EventOf<'ChatUserBanned'> | EventOf<'ChatUserTimedOut'> | EventOf<'ChatUserUnbanned'> }
  | { readonly ok: false; readonly code: RestrictionRefusalCode; readonly message: string };

/** The room a restriction applies to and who asks. `ownerUserId` null: a channel without an owner. */
export interface RestrictionContext {
  readonly channelId: string;
  readonly ownerUserId: string | null;
  readonly actorUserId: string;
  /** The appending service, for the event's `meta.producer`. */
  readonly producer: string;
}

/**
 * Decides a restriction request:
 * - a ban or timeout of the channel owner, or of the moderator themselves: `CANNOT_RESTRICT`
 *   (lifting a restriction is never refused);
 * - a reason is cleaned like any user text (`checkText`: no control or invisible formatting
 *   characters, at most {@link MAX_MODERATION_REASON_LENGTH}); absent is `''`; else `INVALID_REASON`;
 * - a timeout's duration is a whole number of seconds from 1 to {@link MAX_TIMEOUT_SECONDS}, else
 *   `INVALID_DURATION`; its `until` is `clock.now()` plus the duration (ISO 8601).
 * The event is `ChatUserBanned`, `ChatUserTimedOut` or `ChatUserUnbanned` on the channel's subject.
 */
export function decideRestriction(clock: EventClock, request: RestrictionRequest, ctx: RestrictionContext): RestrictionDecision {
  const { channelId, actorUserId } = ctx;
  const userId = request.userId;
  const meta = { producer: ctx.producer };
  const subject = channelSubject(channelId);
  if (request.kind === 'unban') return { ok: true, event: domainEvent(clock, 'ChatUserUnbanned', subject, { channelId, userId, actorUserId }, meta) };
  if (userId === ctx.ownerUserId) return { ok: false, code: 'CANNOT_RESTRICT', message: 'the channel owner cannot be banned or timed out in their own chat' };
  if (userId === actorUserId) return { ok: false, code: 'CANNOT_RESTRICT', message: 'you cannot ban or time out yourself' };
  const reason = checkText(request.reason ?? '', 'reason', { max: MAX_MODERATION_REASON_LENGTH });
  if (!reason.ok) return { ok: false, code: 'INVALID_REASON', message: reason.message };
  if (request.kind === 'ban') return { ok: true, event: domainEvent(clock, 'ChatUserBanned', subject, { channelId, userId, actorUserId, reason: reason.text }, meta) };
  const { durationSeconds } = request;
  if (!Number.isSafeInteger(durationSeconds) || durationSeconds < 1 || durationSeconds > MAX_TIMEOUT_SECONDS) {
    return { ok: false, code: 'INVALID_DURATION', message: `durationSeconds must be a whole number from 1 to ${MAX_TIMEOUT_SECONDS}` };
  }
  const until = new Date(clock.now() + durationSeconds * 1000).toISOString();
  return { ok: true, event: domainEvent(clock, 'ChatUserTimedOut', subject, { channelId, userId, actorUserId, durationSeconds, until, reason: reason.text }, meta) };
}

// ---- restrictions in force ------------------------------------------------------------------

/** Why a user may not send right now: a ban, or a timeout with the ms left. */
export type Restriction = { readonly kind: 'ban' } | { readonly kind: 'timeout'; readonly remainingMs: number };

/**
 * The restriction in force at `now` from a stored one: `until` null is a ban, a number the
 * end of a timeout (ms since the epoch); undefined (none stored) or a timeout that has ended
 * is null.
 */
export function restrictionAt(until: number | null | undefined, now: number): Restriction | null {
  if (until === undefined) return null;
  if (until === null) return { kind: 'ban' };
  return until > now ? { kind: 'timeout', remainingMs: until - now } : null;
}

/** The refusal a restricted user gets, with the wait in ms for a timeout. */
export interface RestrictionRefusal {
  readonly code: 'BANNED' | 'TIMED_OUT';
  readonly message: string;
  readonly retryAfterMs?: number;
}

/**
 * The rule for restricted users, one for every way of taking part in a room: a banned or
 * timed-out user may neither send (messages, emotes; over the socket or the API) nor report,
 * and is refused with BANNED or TIMED_OUT (with the time left). Reading the room stays open.
 */
export function restrictionRefusal(r: Restriction): RestrictionRefusal {
  return r.kind === 'ban'
    ? { code: 'BANNED', message: 'you are banned from this chat' }
    : { code: 'TIMED_OUT', message: 'you are timed out in this chat', retryAfterMs: r.remainingMs };
}

// ---- messages hidden by a ban or timeout --------------------------------------------------------

/**
 * Authors whose earlier messages are hidden in one room: user id → the latest instant (ms since
 * the epoch) they were banned or timed out there. Built from the moderation log (`loadHiddenAuthors`
 * of @live/db) and kept current with {@link hideAuthorMessages}.
 */
export type HiddenAuthors = ReadonlyMap<string, number>;

/**
 * Records a ban or timeout in `hidden`: every message its target sent up to `at` (the event's
 * `occurredAt`, ISO 8601) is hidden from then on. Keeps the latest instant per user.
 */
export function hideAuthorMessages(hidden: Map<string, number>, userId: string, at: string): void {
  const t = Date.parse(at);
  if (Number.isNaN(t)) return;
  if (t > (hidden.get(userId) ?? -Infinity)) hidden.set(userId, t);
}

/**
 * Whether a stored chat line is left out of every history and replay: its author was banned or
 * timed out in the room at or after the instant it was accepted (`at`, ISO 8601). As on Twitch,
 * lifting the ban (or the timeout ending) does not bring those messages back; what the user
 * sends afterwards is shown. Deleted messages are already gone from the CHAT stream.
 */
export function isHiddenChatLine(line: { readonly userId: string; readonly at: string }, hidden: HiddenAuthors): boolean {
  const through = hidden.get(line.userId);
  return through !== undefined && Date.parse(line.at) <= through;
}
