/**
 * Chat: the events of a channel's chat room, the CHAT stream, and the WebSocket protocol the
 * gateways (`apps/chat`) speak with browsers. Pure types, constants and validators; no I/O.
 *
 * Where things live:
 * - Messages and their tombstones are records of the CHAT stream on `chat.<channelId>`
 *   (bounded history: the last {@link CHAT_HISTORY_PER_ROOM} per room, at most 24 h).
 *   Every gateway with members in a room reads that subject in stream order and publishes to
 *   the room's members; the stream sequence is the message's position (`seq`), the cursor a
 *   reconnecting client resumes from.
 * - Moderation (deletions, timeouts, bans, room settings, banned terms, reports, held
 *   messages) is appended to EVENTS on `evt.channel.<channelId>` (global terms on
 *   `evt.platform.chat`) and kept forever, with the acting user; Postgres read models are
 *   projected from it. A deletion is appended to both streams under one event id.
 */
import { decodeEvent, type DomainEvent, type EventOf } from './catalogue.js';
import { subjectToken } from './subjects.js';
import type { StreamDefinition } from './streams.js';

/** The JetStream stream of chat messages. */
export const CHAT_STREAM = 'CHAT';
/** Messages kept per room (JetStream `max_msgs_per_subject`). */
export const CHAT_HISTORY_PER_ROOM = 1000;
/** Age after which a chat message leaves the CHAT stream, seconds (24 h). */
export const CHAT_HISTORY_MAX_AGE_SECONDS = 24 * 3600;
/** Messages sent to a client when it joins a room without a resume cursor. */
export const CHAT_JOIN_BACKLOG = 50;
/** Longest message, in Unicode code points after NFC normalisation. */
export const CHAT_MAX_MESSAGE_LENGTH = 500;
/** Largest WebSocket frame a gateway accepts from a client, bytes (a longer one closes with 1009). */
export const CHAT_MAX_FRAME_BYTES = 8 * 1024;

/**
 * The CHAT stream: `chat.*`, file-backed, the last {@link CHAT_HISTORY_PER_ROOM} messages per
 * room and at most {@link CHAT_HISTORY_MAX_AGE_SECONDS}; 2-minute `Nats-Msg-Id` dedup window.
 */
export const CHAT_STREAM_DEFINITION: StreamDefinition = {
  name: CHAT_STREAM,
  subjects: ['chat.*'],
  retention: 'limits',
  storage: 'file',
  duplicateWindowNs: 120 * 1e9,
  maxAgeNs: CHAT_HISTORY_MAX_AGE_SECONDS * 1e9,
  maxMsgsPerSubject: CHAT_HISTORY_PER_ROOM,
  maxMsgSize: 64 * 1024,
  replicas: 1,
};

/** `chat.<channelId>`: one room's messages and tombstones in the CHAT stream. */
export function chatSubject(channelId: string): string {
  return `chat.${subjectToken(channelId)}`;
}

/** `evt.platform.chat`: platform-wide chat policy events (the global banned-term list). */
export const CHAT_POLICY_SUBJECT = 'evt.platform.chat';

/**
 * `presence.chat.<gatewayId>`: core NATS (not stored) subject on which each gateway publishes
 * its member count per room every {@link PRESENCE_INTERVAL_MS}.
 */
export function chatPresenceSubject(gatewayId: string): string {
  return `presence.chat.${subjectToken(gatewayId)}`;
}
/** Filter matching every gateway's presence reports. */
export const ALL_CHAT_PRESENCE_SUBJECTS = 'presence.chat.*';
/** How often a gateway reports presence, ms. */
export const PRESENCE_INTERVAL_MS = 2000;
/** A gateway not heard from for this long no longer counts, ms. */
export const PRESENCE_EXPIRY_MS = 3 * PRESENCE_INTERVAL_MS;

/** Body of a presence report on {@link chatPresenceSubject}. */
export interface ChatPresenceReport {
  readonly gatewayId: string;
  /** Connections per room (channel id → count), rooms with zero members omitted. */
  readonly rooms: Readonly<Record<string, number>>;
  /** ms since the epoch, gateway clock. */
  readonly at: number;
}

/** Emotes a client may send in an `emote` frame (rendered by the client, e.g. as emoji). */
export const EMOTES = ['heart', 'laugh', 'clap', 'fire', 'hype', 'gg', 'wave', 'wow', 'sad', 'pog'] as const;
/** One of {@link EMOTES}. */
export type Emote = (typeof EMOTES)[number];
/** True when `v` is one of {@link EMOTES}. */
export function isEmote(v: unknown): v is Emote {
  return typeof v === 'string' && (EMOTES as readonly string[]).includes(v);
}

/** What a chat line is: free text, or one emote from {@link EMOTES} (`text` is then the emote name). */
export type ChatMessageKind = 'message' | 'emote';

/** A room's modes, as set by its moderators. */
export interface ChatRoomSettings {
  /** Seconds a non-moderator must wait between messages; 0 = off. At most 3600. */
  readonly slowModeSeconds: number;
  /** Only followers of the channel (and its owner and moderators) may send. */
  readonly followersOnly: boolean;
  /** Only `emote` messages are accepted from non-moderators. */
  readonly emoteOnly: boolean;
  /** Messages containing links are refused from non-moderators when false. */
  readonly linksAllowed: boolean;
  /** The same text from the same user within 30 s is refused when true. */
  readonly duplicateFilter: boolean;
}

/** Settings of a room nobody has changed. */
export const DEFAULT_CHAT_SETTINGS: ChatRoomSettings = {
  slowModeSeconds: 0,
  followersOnly: false,
  emoteOnly: false,
  linksAllowed: true,
  duplicateFilter: true,
};

/** Longest slow mode, seconds. */
export const MAX_SLOW_MODE_SECONDS = 3600;
/** Longest timeout, seconds (14 days, as Twitch). */
export const MAX_TIMEOUT_SECONDS = 14 * 24 * 3600;

/** What a banned term does to a message that matches it. */
export type BannedTermAction = 'block' | 'hold';

/** One banned term: a regular expression (RE2 syntax, matched case-insensitively) and its action. */
export interface BannedTerm {
  /** RE2 pattern (linear-time; no back-references or look-around), 1..200 characters. */
  readonly pattern: string;
  readonly action: BannedTermAction;
}
/** Most terms in one list. */
export const MAX_BANNED_TERMS = 200;

// ---- events -------------------------------------------------------------------------------

/** A chat line was accepted into a room (CHAT stream, `chat.<channelId>`). The message id is the event id. */
export interface ChatMessageAcceptedV1 {
  readonly channelId: string;
  readonly userId: string;
  readonly username: string;
  readonly kind: ChatMessageKind;
  /** NFC text, 1..{@link CHAT_MAX_MESSAGE_LENGTH} code points; for `emote`, the emote name. */
  readonly text: string;
  /** The live session when it was sent, or null when the channel was offline. */
  readonly sessionId: string | null;
}

/**
 * A moderator deleted a message. Appended to EVENTS (audit) and, under the same id, to CHAT
 * (the tombstone every member and the history see); the original is then erased from CHAT.
 */
export interface ChatMessageDeletedV1 {
  readonly channelId: string;
  readonly messageId: string;
  /** CHAT stream sequence of the deleted message. */
  readonly messageSeq: number;
  readonly authorUserId: string;
  readonly actorUserId: string;
  readonly reason: string;
}

/** A user may not send in a channel's room until `until`. */
export interface ChatUserTimedOutV1 {
  readonly channelId: string;
  readonly userId: string;
  readonly actorUserId: string;
  /** Seconds, 1..{@link MAX_TIMEOUT_SECONDS}. */
  readonly durationSeconds: number;
  /** ISO-8601 end of the timeout. */
  readonly until: string;
  readonly reason: string;
}

/** A user may not send in a channel's room until unbanned. */
export interface ChatUserBannedV1 {
  readonly channelId: string;
  readonly userId: string;
  readonly actorUserId: string;
  readonly reason: string;
}

/** A ban or timeout was lifted. */
export interface ChatUserUnbannedV1 {
  readonly channelId: string;
  readonly userId: string;
  readonly actorUserId: string;
}

/** A room's settings were changed: the whole new settings. */
export interface ChatSettingsChangedV1 {
  readonly channelId: string;
  readonly actorUserId: string;
  readonly settings: ChatRoomSettings;
}

/** A banned-term list was replaced: a channel's (`evt.channel.<id>`) or the global one (`evt.platform.chat`, `channelId` ''). */
export interface ChatBannedTermsSetV1 {
  readonly channelId: string;
  readonly actorUserId: string;
  readonly terms: readonly BannedTerm[];
}

/** A viewer reported a message into the channel's moderation queue. The report id is the event id. */
export interface ChatMessageReportedV1 {
  readonly channelId: string;
  readonly messageId: string;
  readonly messageSeq: number;
  readonly reporterUserId: string;
  readonly reason: string;
  readonly authorUserId: string;
  readonly authorUsername: string;
  /** The reported text, as it was. */
  readonly text: string;
}

/** A message matched a `hold` term and waits in the moderation queue. The message id is the event id. */
export interface ChatMessageHeldV1 {
  readonly channelId: string;
  readonly userId: string;
  readonly username: string;
  readonly kind: ChatMessageKind;
  readonly text: string;
  /** The pattern that matched. */
  readonly term: string;
  readonly sessionId: string | null;
}

/** How a moderation-queue item was resolved. */
export type ModerationResolution = 'approved' | 'dismissed' | 'deleted';

/** A moderator resolved a queue item (a report or a held message). */
export interface ModerationItemResolvedV1 {
  readonly channelId: string;
  /** The report's or held message's event id. */
  readonly itemId: string;
  readonly actorUserId: string;
  /** `approved`: a held message was released into the room; `deleted`: the reported message was deleted; `dismissed`: nothing done. */
  readonly resolution: ModerationResolution;
}

/** The viewers of a channel's room across all gateways changed (presence). */
export interface ChannelViewersCountedV1 {
  readonly channelId: string;
  /** WebSocket connections in the room, all gateways. */
  readonly viewers: number;
}

// ---- WebSocket protocol ---------------------------------------------------------------------
//
// Endpoint: `GET /chat/<channelId>` upgraded to a WebSocket (RFC 6455), optionally
// `?after=<seq>` to resume after the last message seen. Text frames carry one JSON object
// each. Anonymous connections read; `auth` with an access token lets them send.

/** Frames a client sends. `ref` is an optional client token echoed in the `ack` or `error` it causes. */
export type ChatClientFrame =
  | { readonly type: 'auth'; readonly token: string; readonly ref?: string }
  | { readonly type: 'message'; readonly text: string; readonly ref?: string }
  | { readonly type: 'emote'; readonly emote: Emote; readonly ref?: string }
  | { readonly type: 'report'; readonly messageId: string; readonly reason: string; readonly ref?: string }
  | { readonly type: 'moderate'; readonly action: ChatModerationRequest; readonly ref?: string }
  | { readonly type: 'ping'; readonly ref?: string };

/** Moderation a moderator, the channel owner or an admin may ask for over the socket. */
export type ChatModerationRequest =
  | { readonly kind: 'delete'; readonly messageId: string; readonly reason?: string }
  | { readonly kind: 'timeout'; readonly userId: string; readonly durationSeconds: number; readonly reason?: string }
  | { readonly kind: 'ban'; readonly userId: string; readonly reason?: string }
  | { readonly kind: 'unban'; readonly userId: string }
  | { readonly kind: 'settings'; readonly settings: Partial<ChatRoomSettings> };

/** One chat line as members see it. */
export interface ChatLine {
  /** Message id (the event id, UUIDv7). */
  readonly id: string;
  /** Position in the room (CHAT stream sequence); increasing, with gaps. */
  readonly seq: number;
  readonly kind: ChatMessageKind;
  readonly userId: string;
  readonly username: string;
  /** Plain text: clients must render it as text, never as HTML. */
  readonly text: string;
  /** ISO-8601 time the gateway accepted it. */
  readonly at: string;
}

/** A member's ban, or timeout until `until` (ISO 8601), as the `authenticated` frame tells it. */
export type ChatMemberRestriction = { readonly kind: 'ban' } | { readonly kind: 'timeout'; readonly until: string };

/** Error codes of the chat protocol (and the HTTP chat routes). */
export type ChatErrorCode =
  | 'BAD_FRAME' | 'UNKNOWN_TYPE' | 'INVALID_FIELD' | 'BINARY_NOT_SUPPORTED'
  | 'AUTH_REQUIRED' | 'TOKEN_INVALID' | 'TOKEN_EXPIRED'
  | 'RATE_LIMITED' | 'MESSAGE_TOO_LONG' | 'INVALID_TEXT' | 'DUPLICATE_MESSAGE'
  | 'LINKS_NOT_ALLOWED' | 'BLOCKED_TERM' | 'FOLLOWERS_ONLY' | 'EMOTE_ONLY'
  | 'BANNED' | 'TIMED_OUT' | 'FORBIDDEN' | 'MESSAGE_NOT_FOUND' | 'UNAVAILABLE'
  /** A ban or timeout of the channel owner or of oneself (moderation.ts, as the API answers it). */
  | 'CANNOT_RESTRICT'
  /** The user has reported this message before (one report per message and user). */
  | 'ALREADY_REPORTED';

/** Frames a gateway sends. */
export type ChatServerFrame =
  | { readonly type: 'welcome'; readonly room: string; readonly connectionId: string; readonly settings: ChatRoomSettings; readonly viewers: number }
  /** Backlog on join (the last {@link CHAT_JOIN_BACKLOG}) or on resume (everything after `after`, `complete` false if some had already left the history). */
  | { readonly type: 'history'; readonly messages: readonly ChatLine[]; readonly complete: boolean }
  | ({ readonly type: 'message' } & ChatLine)
  | ({ readonly type: 'emote' } & ChatLine)
  | { readonly type: 'notice'; readonly code: string; readonly text: string; readonly at: string }
  | { readonly type: 'moderation'; readonly action: 'delete' | 'timeout' | 'ban' | 'unban'; readonly messageId?: string; readonly userId?: string; readonly durationSeconds?: number; readonly actorUserId: string; readonly at: string }
  /** The room's settings changed (`actorUserId` null: re-read after the gateway reconnected to NATS). */
  | { readonly type: 'mode'; readonly settings: ChatRoomSettings; readonly actorUserId: string | null; readonly at: string }
  /** The answer to a message sent before the room's slow-mode interval passed: how long to wait, ms. */
  | { readonly type: 'slow_mode'; readonly slowModeSeconds: number; readonly retryAfterMs: number; readonly ref?: string }
  | { readonly type: 'viewers'; readonly count: number }
  /** Signed in; `restriction` present when the user is banned or timed out in the room right now (`until` ISO 8601). */
  | { readonly type: 'authenticated'; readonly userId: string; readonly username: string; readonly moderator: boolean; readonly restriction?: ChatMemberRestriction; readonly ref?: string }
  | { readonly type: 'ack'; readonly ref?: string; readonly id: string; readonly status: 'accepted' | 'held' | 'done'; readonly seq?: number }
  | { readonly type: 'error'; readonly code: ChatErrorCode; readonly message: string; readonly ref?: string; readonly retryAfterMs?: number }
  | { readonly type: 'pong'; readonly ref?: string };

/** WebSocket close codes the gateway uses besides RFC 6455's (1001 going away, 1009 too big). */
export const CHAT_CLOSE = {
  /** The room (channel) does not exist. */
  ROOM_NOT_FOUND: 4004,
  /** The client could not keep up (send buffer over the limit). */
  SLOW_CONSUMER: 4008,
  /** Too many invalid frames in a row. */
  PROTOCOL_ABUSE: 4009,
} as const;

/** A stored CHAT record: an accepted message or a tombstone, with its stream sequence. */
export interface ChatRecord {
  readonly seq: number;
  readonly event: EventOf<'ChatMessageAccepted'> | EventOf<'ChatMessageDeleted'>;
}

/**
 * Decodes one CHAT message body into a {@link ChatRecord}; null for anything else (a CHAT
 * subject only ever holds these two types; a foreign or corrupt record is skipped, not fatal).
 */
export function decodeChatRecord(seq: number, body: unknown): ChatRecord | null {
  let event: DomainEvent;
  try {
    event = decodeEvent(body);
  } catch {
    return null;
  }
  if (event.type !== 'ChatMessageAccepted' && event.type !== 'ChatMessageDeleted') return null;
  return { seq, event };
}

