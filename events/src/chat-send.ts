/**
 * Sending a chat message: one set of checks for every way a message enters a room — a chat
 * gateway's `message`/`emote` frames (`apps/chat`) and the API's `POST /api/streams/{id}/chat`
 * (`apps/api`, for bots and integrations) — so both refuse the same messages with the same
 * code. Pure: the caller supplies the room's rules, the user's restriction, the follower answer
 * and its own per-room {@link UserLimits}; it appends the message (or the held message) when
 * the decision says so.
 */
import type { BannedTerm, ChatErrorCode, ChatMessageKind, ChatRoomSettings } from './chat.js';
import { CHAT_MAX_MESSAGE_LENGTH } from './chat.js';
import { containsLink, type RateLimit, type UserLimits } from './chat-limits.js';
import { restrictionRefusal, type Restriction } from './moderation.js';
import { checkText } from './text.js';

/** A message to send: free text, or one emote (then `text` is the emote name, already checked by the caller's parser). */
export interface ChatSendRequest {
  readonly kind: ChatMessageKind;
  readonly text: string;
}

/** Everything about the room and the sender that the checks read. */
export interface ChatSendContext {
  readonly userId: string;
  /** The room's owner, one of its moderators or a platform admin: room modes and terms do not apply. */
  readonly moderator: boolean;
  /** The sender's ban or timeout in force now (see `restrictionAt`), or null. */
  readonly restriction: Restriction | null;
  readonly settings: ChatRoomSettings;
  /** The caller's per-room counters; a token is taken from them (the only state changed). */
  readonly limits: UserLimits;
  /** The rate limit `limits` enforces, for the refusal's sentence. */
  readonly rateLimit: RateLimit;
  /** The platform-wide banned term the text contains, or null (`compileBannedTerms` of @live/events/terms). */
  readonly globalTerm: (text: string) => BannedTerm | null;
  /** The room's own banned term the text contains, or null. */
  readonly channelTerm: (text: string) => BannedTerm | null;
  /** Whether the sender follows the channel; only read in a followers-only room (see {@link needsFollowerCheck}). */
  readonly follower: boolean;
  /** ms since the epoch. */
  readonly now: number;
}

/** Why a message is refused: a {@link ChatErrorCode}, or `SLOW_MODE` (the gateway answers it with a `slow_mode` frame). */
export type ChatSendRefusalCode = Extract<ChatErrorCode,
  'BANNED' | 'TIMED_OUT' | 'RATE_LIMITED' | 'MESSAGE_TOO_LONG' | 'INVALID_TEXT' | 'EMOTE_ONLY' | 'DUPLICATE_MESSAGE' | 'LINKS_NOT_ALLOWED' | 'BLOCKED_TERM' | 'FOLLOWERS_ONLY'
> | 'SLOW_MODE';

/**
 * Outcome of {@link decideChatSend}: the cleaned text to append (`heldBy`: the `hold` term's
 * pattern when it waits in the moderation queue instead), or the refusal with a sentence and,
 * for waits, the ms until the user may try again.
 */
export type ChatSendDecision =
  | { readonly ok: true; readonly kind: ChatMessageKind; readonly text: string; readonly heldBy: string | null }
  | { readonly ok: false; readonly code: ChatSendRefusalCode; readonly message: string; readonly retryAfterMs?: number };

/** True when {@link decideChatSend} will read `follower`: a followers-only room and a sender who is not a moderator. */
export function needsFollowerCheck(settings: ChatRoomSettings, moderator: boolean): boolean {
  return settings.followersOnly && !moderator;
}

/**
 * The banned term that decides a text: a `block` term of either list wins over a `hold` term;
 * the global list is asked first. Null when neither list matches.
 */
export function decidingTerm(global: BannedTerm | null, channel: BannedTerm | null): BannedTerm | null {
  if (global?.action === 'block') return global;
  if (channel?.action === 'block') return channel;
  return global ?? channel;
}

/**
 * Decides whether a message may be sent, in this order:
 * 1. a ban or timeout: `BANNED`, `TIMED_OUT` (with the time left) — {@link restrictionRefusal};
 * 2. the rate limit (`limits.take`, one token per message): `RATE_LIMITED` with the wait;
 * 3. the text (`checkText`, 1..{@link CHAT_MAX_MESSAGE_LENGTH} code points): `MESSAGE_TOO_LONG`, `INVALID_TEXT`;
 * then, for senders who are not moderators:
 * 4. emote-only mode: `EMOTE_ONLY` for text;
 * 5. slow mode: `SLOW_MODE` with the wait;
 * 6. for text: the duplicate filter (`DUPLICATE_MESSAGE`), no-links mode (`LINKS_NOT_ALLOWED`),
 *    banned terms ({@link decidingTerm}: `block` → `BLOCKED_TERM`, `hold` → accepted with `heldBy`);
 * 7. followers-only mode: `FOLLOWERS_ONLY` unless `follower`.
 * Never throws. The caller then reserves the message in `limits` (`reserve`) while it appends it.
 */
export function decideChatSend(request: ChatSendRequest, ctx: ChatSendContext): ChatSendDecision {
  const { now, limits } = ctx;
  if (ctx.restriction) return { ok: false, ...restrictionRefusal(ctx.restriction) };
  const wait = limits.take(ctx.userId, now);
  if (wait > 0) return { ok: false, code: 'RATE_LIMITED', message: `at most ${ctx.rateLimit.capacity} messages per ${ctx.rateLimit.windowMs / 1000} s`, retryAfterMs: wait };
  let text = request.text;
  if (request.kind === 'message') {
    const t = checkText(request.text, 'text', { min: 1, max: CHAT_MAX_MESSAGE_LENGTH });
    if (!t.ok) return { ok: false, code: t.problem === 'too_long' ? 'MESSAGE_TOO_LONG' : 'INVALID_TEXT', message: t.message };
    text = t.text;
  }
  if (ctx.moderator) return { ok: true, kind: request.kind, text, heldBy: null };
  const s = ctx.settings;
  if (s.emoteOnly && request.kind === 'message') return { ok: false, code: 'EMOTE_ONLY', message: 'this chat is in emote-only mode' };
  const slow = limits.slowModeWait(ctx.userId, s.slowModeSeconds, now);
  if (slow > 0) return { ok: false, code: 'SLOW_MODE', message: `slow mode: one message every ${s.slowModeSeconds} s`, retryAfterMs: Math.ceil(slow) };
  let heldBy: string | null = null;
  if (request.kind === 'message') {
    if (s.duplicateFilter && limits.isDuplicate(ctx.userId, text, now)) return { ok: false, code: 'DUPLICATE_MESSAGE', message: 'you sent the same message less than 30 s ago' };
    if (!s.linksAllowed && containsLink(text)) return { ok: false, code: 'LINKS_NOT_ALLOWED', message: 'links are not allowed in this chat' };
    const term = decidingTerm(ctx.globalTerm(text), ctx.channelTerm(text));
    if (term?.action === 'block') return { ok: false, code: 'BLOCKED_TERM', message: 'the message contains a blocked term' };
    if (term?.action === 'hold') heldBy = term.pattern;
  }
  if (needsFollowerCheck(s, false) && !ctx.follower) return { ok: false, code: 'FOLLOWERS_ONLY', message: 'this chat is for followers only' };
  return { ok: true, kind: request.kind, text, heldBy };
}
