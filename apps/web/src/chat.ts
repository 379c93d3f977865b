/**
 * The chat panel's protocol state (pure: no DOM, no React, no sockets): the gateway's frames
 * (`ChatServerFrame` in `@live/events`, events/src/chat.ts) folded by {@link chatReducer} into
 * what the panel renders, plus the small decisions around the socket (URL, close codes,
 * reconnect delay, message length, error texts). The socket itself lives in useChat.ts.
 *
 * Message text is plain text: it is kept here as the gateway sent it and rendered as React
 * children (text nodes), never as HTML.
 */
import {
  CHAT_CLOSE, CHAT_MAX_MESSAGE_LENGTH, DEFAULT_CHAT_SETTINGS, EMOTES,
  type ChatErrorCode, type ChatLine, type ChatMemberRestriction, type ChatRoomSettings, type ChatServerFrame, type Emote,
} from '@live/events';

/** Most chat lines (and system lines) kept in memory; older ones are dropped. */
export const MAX_KEPT_CHAT_ENTRIES = 300;
/** How long an informational feedback ("held for review", "report sent") is shown, ms. */
export const INFO_FEEDBACK_MS = 8_000;
/** Slow-mode intervals offered to moderators, seconds (0 = off). */
export const SLOW_MODE_CHOICES: readonly number[] = [0, 3, 10, 30, 60, 120, 300];

/** How each emote of `EMOTES` is drawn (an emoji), with a label for screen readers. */
export const EMOTE_GLYPHS: Readonly<Record<Emote, { readonly glyph: string; readonly label: string }>> = {
  heart: { glyph: '❤️', label: 'heart' },
  laugh: { glyph: '😂', label: 'laugh' },
  clap: { glyph: '👏', label: 'clap' },
  fire: { glyph: '🔥', label: 'fire' },
  hype: { glyph: '🎉', label: 'hype' },
  gg: { glyph: '🏆', label: 'GG' },
  wave: { glyph: '👋', label: 'wave' },
  wow: { glyph: '😮', label: 'wow' },
  sad: { glyph: '😢', label: 'sad' },
  pog: { glyph: '😲', label: 'pog' },
};

/** The emotes in the order the gateway lists them. */
export const CHAT_EMOTES: readonly Emote[] = EMOTES;

// ---- socket decisions -----------------------------------------------------------------------

/**
 * The WebSocket URL of a channel's room: `ws(s)://<host>/chat/<channelId>` on the page's own
 * origin (Vite proxies `/chat` to the gateway), with `?after=<seq>` to resume after the last
 * message seen (null: join with the room's recent backlog).
 */
export function chatSocketUrl(location: { readonly protocol: string; readonly host: string }, channelId: string, after: number | null): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const query = after !== null && Number.isSafeInteger(after) && after >= 0 ? `?after=${after}` : '';
  return `${scheme}//${location.host}/chat/${encodeURIComponent(channelId)}${query}`;
}

/**
 * Delay before the n-th (1-based) reconnection attempt, ms: 1 s, 2 s, 4 s, … capped at 30 s,
 * scaled by a jitter factor in [0.75, 1.25) from `random` (in [0, 1)) so that the members of a
 * room a gateway dropped do not all come back in the same instant.
 */
export function chatReconnectDelayMs(attempt: number, random: number = Math.random()): number {
  const base = Math.min(30_000, 1000 * 2 ** Math.max(0, Math.min(attempt, 16) - 1));
  return Math.round(base * (0.75 + 0.5 * Math.min(Math.max(random, 0), 1)));
}

/** What to do after the socket closed: reconnect (with backoff) or stop, and what to tell the user. */
export interface CloseDecision {
  readonly reconnect: boolean;
  /** Shown while disconnected. */
  readonly reason: string;
}

/**
 * How to react to the gateway closing the socket (RFC 6455 §7.4 and the gateway's
 * `CHAT_CLOSE`): 4004 (no such room) stops; everything else — 1000/1001 (a gateway shutting
 * down), 1006 (dropped), 1009 (frame too big), 4008 (slow consumer), 4009 (protocol abuse) —
 * reconnects with backoff and resumes. (A close the page asks for itself never gets here.)
 */
export function closeDecision(code: number): CloseDecision {
  switch (code) {
    case CHAT_CLOSE.ROOM_NOT_FOUND:
      return { reconnect: false, reason: 'This channel has no chat room.' };
    case 1000:
    case 1001:
      return { reconnect: true, reason: 'The chat server is restarting.' };
    case 1009:
      return { reconnect: true, reason: 'A message was too big for the chat server.' };
    case CHAT_CLOSE.SLOW_CONSUMER:
      return { reconnect: true, reason: 'The connection could not keep up with the chat.' };
    case CHAT_CLOSE.PROTOCOL_ABUSE:
      return { reconnect: true, reason: 'The chat server closed the connection.' };
    default:
      return { reconnect: true, reason: 'Lost the connection to chat.' };
  }
}

/** Length of `text` as the gateway counts it: Unicode code points after NFC normalisation. */
export function chatTextLength(text: string): number {
  let n = 0;
  for (const _ of text.normalize('NFC')) n += 1;
  return n;
}

/** True when `text` may be sent: not blank and at most `CHAT_MAX_MESSAGE_LENGTH` code points. */
export function canSendText(text: string): boolean {
  return text.trim() !== '' && chatTextLength(text) <= CHAT_MAX_MESSAGE_LENGTH;
}

// ---- parsing ----------------------------------------------------------------------------------

const isStr = (v: unknown): v is string => typeof v === 'string';
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** True when `v` has the shape of a `ChatLine`. */
export function isChatLine(v: unknown): v is ChatLine {
  return isObj(v) && isStr(v.id) && v.id !== '' && isNum(v.seq) && (v.kind === 'message' || v.kind === 'emote') &&
    isStr(v.userId) && isStr(v.username) && isStr(v.text) && isStr(v.at);
}

function isSettings(v: unknown): v is ChatRoomSettings {
  return isObj(v) && isNum(v.slowModeSeconds) && typeof v.followersOnly === 'boolean' && typeof v.emoteOnly === 'boolean' &&
    typeof v.linksAllowed === 'boolean' && typeof v.duplicateFilter === 'boolean';
}

/**
 * One text frame from the gateway as a `ChatServerFrame`, or null when it is not JSON or not a
 * frame this client understands (unknown types and malformed frames are ignored, not errors).
 */
export function parseServerFrame(data: string): ChatServerFrame | null {
  let v: unknown;
  try {
    v = JSON.parse(data);
  } catch {
    return null;
  }
  if (!isObj(v) || !isStr(v.type)) return null;
  const f = v as Record<string, unknown> & { type: string };
  switch (f.type) {
    case 'welcome':
      return isStr(f.room) && isStr(f.connectionId) && isSettings(f.settings) && isNum(f.viewers) ? (f as unknown as ChatServerFrame) : null;
    case 'history':
      return Array.isArray(f.messages) && typeof f.complete === 'boolean'
        ? ({ type: 'history', messages: f.messages.filter(isChatLine), complete: f.complete } as ChatServerFrame)
        : null;
    case 'message':
    case 'emote':
      return isChatLine(f) ? (f as unknown as ChatServerFrame) : null;
    case 'notice':
      return isStr(f.code) && isStr(f.text) && isStr(f.at) ? (f as unknown as ChatServerFrame) : null;
    case 'moderation':
      return (f.action === 'delete' || f.action === 'timeout' || f.action === 'ban' || f.action === 'unban') &&
        (f.messageId === undefined || isStr(f.messageId)) && (f.userId === undefined || isStr(f.userId)) &&
        (f.durationSeconds === undefined || isNum(f.durationSeconds))
        ? (f as unknown as ChatServerFrame) : null;
    case 'mode':
      return isSettings(f.settings) ? (f as unknown as ChatServerFrame) : null;
    case 'slow_mode':
      return isNum(f.retryAfterMs) && isNum(f.slowModeSeconds) ? (f as unknown as ChatServerFrame) : null;
    case 'viewers':
      return isNum(f.count) ? (f as unknown as ChatServerFrame) : null;
    case 'authenticated': {
      if (!isStr(f.userId) || !isStr(f.username) || typeof f.moderator !== 'boolean') return null;
      // A restriction this client cannot read is dropped (the gateway still refuses on send).
      const { restriction, ...rest } = f;
      return (memberRestriction(restriction) ? f : rest) as unknown as ChatServerFrame;
    }
    case 'ack':
      return isStr(f.id) && (f.status === 'accepted' || f.status === 'held' || f.status === 'done') ? (f as unknown as ChatServerFrame) : null;
    case 'error':
      return isStr(f.code) && isStr(f.message) ? (f as unknown as ChatServerFrame) : null;
    case 'pong':
      return { type: 'pong', ...(isStr(f.ref) ? { ref: f.ref } : {}) };
    default:
      return null;
  }
}

// ---- state ----------------------------------------------------------------------------------

/**
 * How a line is shown: `visible`; `deleted` (a moderator deleted it: the text is gone, a
 * tombstone "message deleted" remains); `removed` (its author was banned or timed out: greyed,
 * text hidden from everyone but moderators).
 */
export type LineStatus = 'visible' | 'deleted' | 'removed';

/** One entry of the list: a chat line, or a system line (notices, mode changes, missed messages). */
export type ChatEntry =
  | { readonly type: 'line'; readonly line: ChatLine; readonly status: LineStatus }
  | { readonly type: 'system'; readonly id: string; readonly text: string };

/** `connecting`: first attempt; `open`: welcome received; `reconnecting`: waiting to retry; `closed`: given up (see `closedReason`). */
export type ChatConnection = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** Who the socket is authenticated as (the `authenticated` frame). */
export interface ChatIdentity {
  readonly userId: string;
  readonly username: string;
  readonly moderator: boolean;
}

/**
 * The one inline message under the send box: an error the gateway answered (`code` is a
 * `ChatErrorCode`, or `SLOW_MODE`/`HELD`/`REPORTED`/`NOT_CONNECTED`/`SIGNED_OUT`), with the end
 * of the wait it imposes (`until`, ms since the epoch, counted down in the text), and the text of
 * the message it refused (to put back into the send box).
 */
export interface ChatFeedback {
  readonly tone: 'error' | 'info';
  readonly code: string;
  readonly text: string;
  readonly until: number | null;
  readonly failedText: string | null;
  /** ms since the epoch; info feedback fades after {@link INFO_FEEDBACK_MS}. */
  readonly at: number;
}

/** A standing restriction of the signed-in user in this room (from moderation frames or errors). */
export interface ChatRestriction {
  readonly kind: 'banned' | 'timeout';
  /** End of a timeout, ms since the epoch; null for a ban. */
  readonly until: number | null;
}

/** What the client sent and awaits an answer to, by `ref`. */
export interface PendingSend {
  readonly kind: 'message' | 'emote' | 'report' | 'moderate' | 'auth';
  /** The message text, the emote name, or '' for other kinds. */
  readonly text: string;
}

/** The panel's state. Replaced (never mutated) on every action. */
export interface ChatState {
  readonly connection: ChatConnection;
  /** Why the socket is (or was last) down; null while connected. */
  readonly closedReason: string | null;
  /** When the next connection attempt starts (ms since the epoch), while `reconnecting`. */
  readonly retryAt: number | null;
  readonly entries: readonly ChatEntry[];
  /** Highest `seq` seen: the resume cursor (`?after=`). */
  readonly lastSeq: number | null;
  /** Ids of deleted messages, so that a copy arriving later (history, resume) stays deleted. */
  readonly deletedIds: readonly string[];
  readonly settings: ChatRoomSettings;
  /** Connections in the room, all gateways; null until the welcome. */
  readonly viewers: number | null;
  readonly me: ChatIdentity | null;
  readonly restriction: ChatRestriction | null;
  readonly feedback: ChatFeedback | null;
  readonly pending: Readonly<Record<string, PendingSend>>;
}

/** Actions of {@link chatReducer}. `now`: ms since the epoch (the reducer reads no clock). */
export type ChatAction =
  | { readonly type: 'connecting' }
  | { readonly type: 'closed'; readonly code: number; readonly now: number; readonly retryInMs: number | null }
  | { readonly type: 'frame'; readonly frame: ChatServerFrame; readonly now: number }
  | { readonly type: 'sent'; readonly ref: string; readonly pending: PendingSend }
  /** Something refused before it reached the gateway (not connected, signed out). */
  | { readonly type: 'local_error'; readonly code: string; readonly text: string; readonly now: number }
  | { readonly type: 'dismiss_feedback' }
  /** The user signed out: forget who the socket was authenticated as. */
  | { readonly type: 'signed_out' };

/** The state before the first connection. */
export const INITIAL_CHAT_STATE: ChatState = {
  connection: 'connecting',
  closedReason: null,
  retryAt: null,
  entries: [],
  lastSeq: null,
  deletedIds: [],
  settings: DEFAULT_CHAT_SETTINGS,
  viewers: null,
  me: null,
  restriction: null,
  feedback: null,
  pending: {},
};

const ERROR_TEXT: Partial<Record<ChatErrorCode | 'SLOW_MODE' | 'NOT_CONNECTED', string>> = {
  AUTH_REQUIRED: 'Sign in to chat.',
  TOKEN_INVALID: 'Your sign-in is no longer valid; sign in again to chat.',
  TOKEN_EXPIRED: 'Your sign-in expired; sign in again to chat.',
  RATE_LIMITED: 'You are sending messages too quickly.',
  SLOW_MODE: 'Slow mode is on.',
  MESSAGE_TOO_LONG: `Messages can be at most ${CHAT_MAX_MESSAGE_LENGTH} characters.`,
  INVALID_TEXT: 'That message cannot be sent.',
  DUPLICATE_MESSAGE: 'You just sent the same message.',
  LINKS_NOT_ALLOWED: 'Links are not allowed in this chat.',
  BLOCKED_TERM: 'Your message contains a blocked term.',
  FOLLOWERS_ONLY: 'This chat is in followers-only mode: follow the channel to chat.',
  EMOTE_ONLY: 'This chat is in emote-only mode: send an emote.',
  BANNED: 'You are banned from this chat.',
  ALREADY_REPORTED: 'You have already reported this message; the moderators have it.',
  TIMED_OUT: 'You are timed out.',
  FORBIDDEN: 'You are not allowed to do that here.',
  CANNOT_RESTRICT: 'The channel owner cannot be banned or timed out, and nobody can ban or time out themselves.',
  MESSAGE_NOT_FOUND: 'That message no longer exists.',
  UNAVAILABLE: 'Chat is unavailable right now; try again.',
  NOT_CONNECTED: 'Not connected to chat yet.',
};

/** Whole seconds left until `until` (ms since the epoch), rounded up; 0 when passed. */
export function secondsLeft(until: number, now: number): number {
  return Math.max(0, Math.ceil((until - now) / 1000));
}

/** "45 s", "3 min 05 s", "2 min", "2 h 10 min", "1 h", "3 d 4 h" for a wait of `seconds` (rounded up). */
export function waitLabel(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds));
  const two = (a: string, n: number, b: string) => (n > 0 ? `${a} ${b}` : a);
  if (s < 60) return `${s} s`;
  if (s < 3600) return two(`${Math.floor(s / 60)} min`, s % 60, `${String(s % 60).padStart(2, '0')} s`);
  if (s < 86_400) return two(`${Math.floor(s / 3600)} h`, Math.floor((s % 3600) / 60), `${Math.floor((s % 3600) / 60)} min`);
  return two(`${Math.floor(s / 86_400)} d`, Math.floor((s % 86_400) / 3600), `${Math.floor((s % 86_400) / 3600)} h`);
}

/**
 * The feedback's text at `now`: the message, plus the time left when it imposes a wait
 * ("Slow mode is on. You can send again in 4 s."), or null once the wait has passed or an
 * informational feedback has been shown for {@link INFO_FEEDBACK_MS}.
 */
export function feedbackText(f: ChatFeedback | null, now: number): string | null {
  if (!f) return null;
  if (f.until !== null) {
    // `now` may come from a once-a-second ticker older than the feedback itself: never show
    // more than the wait the server gave.
    const left = secondsLeft(f.until, Math.max(now, f.at));
    return left > 0 ? `${f.text} You can send again in ${waitLabel(left)}.` : null;
  }
  if (f.tone === 'info' && now - f.at >= INFO_FEEDBACK_MS) return null;
  return f.text;
}

/** The `restriction` of an `authenticated` frame, when well-formed: a ban, or a timeout with an ISO 8601 `until`. */
function memberRestriction(v: unknown): v is ChatMemberRestriction {
  if (!isObj(v)) return false;
  return v.kind === 'ban' || (v.kind === 'timeout' && isStr(v.until) && !Number.isNaN(Date.parse(v.until)));
}

/** The standing restriction the gateway announced on signing in (none: not banned or timed out now). */
function restrictionOnJoin(r: ChatMemberRestriction | undefined): ChatRestriction | null {
  if (!r) return null;
  return r.kind === 'ban' ? { kind: 'banned', until: null } : { kind: 'timeout', until: Date.parse(r.until) };
}

/** `hh:mm` of an instant (ms since the epoch) in the browser's time zone, 24-hour clock. */
export function clockTime(ms: number): string {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

/**
 * The restriction's text at `now` ("You are banned from this chat.", "You are timed out until
 * 14:05 (9 min 59 s left)."), or null when it has ended. Shown in place of the send box.
 */
export function restrictionText(r: ChatRestriction | null, now: number): string | null {
  if (!r) return null;
  if (r.kind === 'banned') return 'You are banned from this chat.';
  const left = r.until === null ? 0 : secondsLeft(r.until, now);
  return left > 0 && r.until !== null ? `You are timed out until ${clockTime(r.until)} (${waitLabel(left)} left).` : null;
}

/** Short descriptions of the room's active modes ("Slow mode 30 s", "Followers-only", …). */
export function modeBadges(s: ChatRoomSettings): string[] {
  const out: string[] = [];
  if (s.slowModeSeconds > 0) out.push(`Slow mode ${waitLabel(s.slowModeSeconds)}`);
  if (s.followersOnly) out.push('Followers-only');
  if (s.emoteOnly) out.push('Emote-only');
  if (!s.linksAllowed) out.push('No links');
  return out;
}

/** System lines announcing what changed from `prev` to `next` (empty when nothing did). */
export function describeModeChange(prev: ChatRoomSettings, next: ChatRoomSettings): string[] {
  const out: string[] = [];
  if (prev.slowModeSeconds !== next.slowModeSeconds) {
    out.push(next.slowModeSeconds > 0 ? `Slow mode is on: one message every ${waitLabel(next.slowModeSeconds)}.` : 'Slow mode is off.');
  }
  if (prev.followersOnly !== next.followersOnly) out.push(next.followersOnly ? 'Followers-only mode is on.' : 'Followers-only mode is off.');
  if (prev.emoteOnly !== next.emoteOnly) out.push(next.emoteOnly ? 'Emote-only mode is on.' : 'Emote-only mode is off.');
  if (prev.linksAllowed !== next.linksAllowed) out.push(next.linksAllowed ? 'Links are allowed.' : 'Links are not allowed.');
  return out;
}

/** Number of chat lines (not system lines) in the state. */
export function lineCount(s: ChatState): number {
  return s.entries.reduce((n, e) => n + (e.type === 'line' ? 1 : 0), 0);
}

function trim(entries: ChatEntry[]): ChatEntry[] {
  return entries.length > MAX_KEPT_CHAT_ENTRIES ? entries.slice(entries.length - MAX_KEPT_CHAT_ENTRIES) : entries;
}

/**
 * Adds chat lines: a line whose id is already held is skipped (a resume or a history overlaps
 * what was shown), a line whose id was deleted arrives as a tombstone, and lines are kept in
 * `seq` order (a line older than the newest shown is inserted in place).
 */
function addLines(s: ChatState, lines: readonly ChatLine[]): ChatState {
  if (lines.length === 0) return s;
  const held = new Set<string>();
  for (const e of s.entries) if (e.type === 'line') held.add(e.line.id);
  const deleted = new Set(s.deletedIds);
  const entries = [...s.entries];
  let lastSeq = s.lastSeq;
  for (const line of [...lines].sort((a, b) => a.seq - b.seq)) {
    if (held.has(line.id)) continue;
    held.add(line.id);
    const entry: ChatEntry = { type: 'line', line, status: deleted.has(line.id) ? 'deleted' : 'visible' };
    if (lastSeq === null || line.seq > lastSeq) {
      entries.push(entry);
      lastSeq = line.seq;
    } else {
      const at = entries.findIndex((e) => e.type === 'line' && e.line.seq > line.seq);
      if (at < 0) entries.push(entry);
      else entries.splice(at, 0, entry);
    }
  }
  return { ...s, entries: trim(entries), lastSeq };
}

function addSystem(s: ChatState, id: string, text: string): ChatState {
  if (s.entries.some((e) => e.type === 'system' && e.id === id)) return s;
  return { ...s, entries: trim([...s.entries, { type: 'system', id, text }]) };
}

function withoutPending(s: ChatState, ref: string | undefined): { state: ChatState; sent: PendingSend | null } {
  if (ref === undefined || !(ref in s.pending)) return { state: s, sent: null };
  const { [ref]: sent, ...rest } = s.pending;
  return { state: { ...s, pending: rest }, sent: sent ?? null };
}

function errorFeedback(code: string, message: string, now: number, retryAfterMs: number | undefined, failed: PendingSend | null): ChatFeedback {
  const base = ERROR_TEXT[code as keyof typeof ERROR_TEXT] ?? (message || 'Something went wrong.');
  return {
    tone: 'error',
    code,
    text: base,
    until: retryAfterMs !== undefined && retryAfterMs > 0 ? now + retryAfterMs : null,
    failedText: failed && failed.kind === 'message' ? failed.text : null,
    at: now,
  };
}

function onFrame(s: ChatState, f: ChatServerFrame, now: number): ChatState {
  switch (f.type) {
    case 'welcome':
      return {
        ...s, connection: 'open', closedReason: null, retryAt: null, settings: f.settings, viewers: f.viewers, me: null,
        // A ban may have been lifted while away; the gateway says BANNED again on the next send if not.
        restriction: s.restriction?.kind === 'timeout' ? s.restriction : null,
        feedback: s.feedback?.code === 'NOT_CONNECTED' ? null : s.feedback,
      };
    case 'history': {
      const next = addLines(s, f.messages);
      // An incomplete resume: some messages left the room's history while we were away.
      return !f.complete && s.lastSeq !== null ? addSystem(next, `gap-${s.lastSeq}`, 'Some messages were missed while disconnected.') : next;
    }
    case 'message':
    case 'emote': {
      const { type: _type, ...line } = f;
      return addLines(s, [line]);
    }
    case 'notice':
      return addSystem(s, `notice-${f.at}-${f.code}`, f.text);
    case 'moderation':
      return onModeration(s, f, now);
    case 'mode': {
      let next: ChatState = { ...s, settings: f.settings };
      describeModeChange(s.settings, f.settings).forEach((text, i) => {
        next = addSystem(next, `mode-${f.at}-${i}`, text);
      });
      return next;
    }
    case 'slow_mode': {
      const { state, sent } = withoutPending(s, f.ref);
      return { ...state, feedback: errorFeedback('SLOW_MODE', '', now, f.retryAfterMs, sent) };
    }
    case 'viewers':
      return { ...s, viewers: f.count };
    case 'authenticated': {
      const { state } = withoutPending(s, f.ref);
      const stale = ['AUTH_REQUIRED', 'TOKEN_EXPIRED', 'TOKEN_INVALID'].includes(s.feedback?.code ?? '');
      // The gateway says whether the user is banned or timed out here now: shown before they type.
      return {
        ...state, me: { userId: f.userId, username: f.username, moderator: f.moderator }, restriction: restrictionOnJoin(f.restriction),
        feedback: stale ? null : s.feedback,
      };
    }
    case 'ack': {
      const { state, sent } = withoutPending(s, f.ref);
      if (f.status === 'held') {
        return { ...state, feedback: { tone: 'info', code: 'HELD', text: 'Your message is held for review by the moderators.', until: null, failedText: null, at: now } };
      }
      if (sent?.kind === 'report') {
        return { ...state, feedback: { tone: 'info', code: 'REPORTED', text: 'Thanks — the moderators will review that message.', until: null, failedText: null, at: now } };
      }
      // A message went through: an earlier error about sending no longer applies.
      const clear = (sent?.kind === 'message' || sent?.kind === 'emote') && state.feedback?.tone === 'error';
      return clear ? { ...state, feedback: null } : state;
    }
    case 'error': {
      const { state, sent } = withoutPending(s, f.ref);
      // An expired token is refreshed and the frame re-sent by the socket owner (useChat).
      if ((f.code === 'TOKEN_EXPIRED' || f.code === 'TOKEN_INVALID') && sent !== null && sent.kind !== 'auth') return state;
      const feedback = errorFeedback(f.code, f.message, now, f.retryAfterMs, sent);
      // A ban or timeout is shown as the standing restriction, not as a one-off error too — except
      // for a refused report, whose reporter clicked and must learn why nothing was filed.
      const said = sent?.kind === 'report' ? feedback : null;
      if (f.code === 'BANNED') return { ...state, feedback: said, restriction: { kind: 'banned', until: null } };
      if (f.code === 'TIMED_OUT' && feedback.until !== null) return { ...state, feedback: said, restriction: { kind: 'timeout', until: feedback.until } };
      return { ...state, feedback };
    }
    case 'pong':
      return s;
  }
}

function onModeration(s: ChatState, f: Extract<ChatServerFrame, { type: 'moderation' }>, now: number): ChatState {
  if (f.action === 'delete') {
    const id = f.messageId;
    if (id === undefined) return s;
    const deletedIds = s.deletedIds.includes(id) ? s.deletedIds : [...s.deletedIds, id].slice(-MAX_KEPT_CHAT_ENTRIES);
    const entries = s.entries.map((e): ChatEntry => (e.type === 'line' && e.line.id === id ? { ...e, status: 'deleted' } : e));
    return { ...s, entries, deletedIds };
  }
  const userId = f.userId;
  if (userId === undefined) return s;
  const mine = s.me?.userId === userId;
  if (f.action === 'unban') return mine ? { ...s, restriction: null } : s;
  const entries = s.entries.map((e): ChatEntry => (e.type === 'line' && e.line.userId === userId && e.status === 'visible' ? { ...e, status: 'removed' } : e));
  let restriction = s.restriction;
  if (mine) {
    restriction = f.action === 'ban'
      ? { kind: 'banned', until: null }
      : { kind: 'timeout', until: now + Math.max(0, f.durationSeconds ?? 0) * 1000 };
  }
  return { ...s, entries, restriction };
}

/**
 * The chat reducer (pure): connection changes, frames from the gateway, and what the client
 * sent. Lines are deduplicated by id and ordered by seq; `lastSeq` is the resume cursor.
 */
export function chatReducer(s: ChatState, a: ChatAction): ChatState {
  switch (a.type) {
    case 'connecting':
      return { ...s, connection: s.connection === 'open' || s.connection === 'reconnecting' ? 'reconnecting' : 'connecting', retryAt: null };
    case 'closed': {
      const d = closeDecision(a.code);
      const reconnect = d.reconnect && a.retryInMs !== null;
      // Frames awaiting an answer got none: a message may or may not have been accepted, and
      // the resume shows it if it was.
      return {
        ...s, connection: reconnect ? 'reconnecting' : 'closed', closedReason: d.reason,
        retryAt: reconnect ? a.now + (a.retryInMs ?? 0) : null, pending: {},
      };
    }
    case 'frame':
      return onFrame(s, a.frame, a.now);
    case 'sent':
      return { ...s, pending: { ...s.pending, [a.ref]: a.pending } };
    case 'local_error':
      return { ...s, feedback: { tone: 'error', code: a.code, text: ERROR_TEXT[a.code as keyof typeof ERROR_TEXT] ?? a.text, until: null, failedText: null, at: a.now } };
    case 'dismiss_feedback':
      return s.feedback === null ? s : { ...s, feedback: null };
    case 'signed_out':
      return { ...s, me: null, restriction: null, pending: {} };
  }
}
