/**
 * The chat moderation tools as the web app reads and writes them (pure): the API paths and body
 * parsers of apps/api/src/routes/chat.ts (restrictions, banned terms, the moderation log) and
 * channels.ts (moderators), the timeout lengths offered, and the sentences the panel shows.
 */
import { MAX_BANNED_TERMS, MAX_TIMEOUT_SECONDS, type BannedTerm } from '@live/events';
import { clockTime, waitLabel } from './chat';

/** Timeout lengths offered wherever a moderator times someone out (seconds, label). */
export const TIMEOUT_CHOICES: ReadonlyArray<{ readonly seconds: number; readonly label: string }> = [
  { seconds: 60, label: '1 min' },
  { seconds: 600, label: '10 min' },
  { seconds: 3600, label: '1 h' },
  { seconds: 86_400, label: '24 h' },
];

/** A ban (`until` null) or a timeout in force, as `GET /api/channels/{id}/chat/restrictions` lists it. */
export interface RestrictionItem {
  readonly userId: string;
  readonly username: string;
  readonly kind: 'ban' | 'timeout';
  /** ISO 8601 end of a timeout; null for a ban. */
  readonly until: string | null;
  readonly reason: string;
  readonly createdAt: string;
}

/** A moderator of a channel (`GET /api/channels/{id}/moderators`). */
export interface ModeratorItem {
  readonly userId: string;
  readonly username: string;
  readonly since: string;
}

/** One row of the moderation log (`GET /api/channels/{id}/chat/log`); `action` is the event type. */
export interface LogEntry {
  readonly id: string;
  readonly action: string;
  readonly actorUsername: string | null;
  readonly targetUsername: string | null;
  readonly detail: Readonly<Record<string, unknown>>;
  readonly createdAt: string;
}

const enc = encodeURIComponent;
/** `/api/channels/<id>/chat/restrictions`: list (GET) and add (POST). */
export const restrictionsPath = (channelId: string): string => `/api/channels/${enc(channelId)}/chat/restrictions`;
/** `/api/channels/<id>/chat/restrictions/<userId>`: lift (DELETE). */
export const restrictionPath = (channelId: string, userId: string): string => `${restrictionsPath(channelId)}/${enc(userId)}`;
/** `/api/channels/<id>/chat/banned-terms`: the room's list (GET, PUT the whole list). */
export const bannedTermsPath = (channelId: string): string => `/api/channels/${enc(channelId)}/chat/banned-terms`;
/** `/api/channels/<id>/moderators`, or one of them (PUT appoints, DELETE removes). */
export const moderatorsPath = (channelId: string, userId?: string): string => `/api/channels/${enc(channelId)}/moderators${userId === undefined ? '' : `/${enc(userId)}`}`;
/** `/api/channels/<id>/chat/log`: the newest 50 entries. */
export const moderationLogPath = (channelId: string): string => `/api/channels/${enc(channelId)}/chat/log`;
/** `/api/users/by-name/<username>`: a public profile by username. */
export const userByNamePath = (username: string): string => `/api/users/by-name/${enc(username.trim())}`;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string';
const strOrNull = (v: unknown): v is string | null => v === null || isStr(v);
function listOf(body: unknown, key: string): unknown[] {
  const v = isObj(body) ? body[key] : undefined;
  if (!Array.isArray(v)) throw new Error('Unexpected answer from the server.');
  return v;
}

/** A restrictions body as {@link RestrictionItem}s; malformed items are dropped. @throws Error when the body has no `items` list. */
export function parseRestrictions(body: unknown): RestrictionItem[] {
  return listOf(body, 'items').flatMap((i): RestrictionItem[] => {
    if (!isObj(i) || !isStr(i.userId) || !isStr(i.username) || (i.kind !== 'ban' && i.kind !== 'timeout') || !strOrNull(i.until) || !isStr(i.reason) || !isStr(i.createdAt)) return [];
    return [{ userId: i.userId, username: i.username, kind: i.kind, until: i.until, reason: i.reason, createdAt: i.createdAt }];
  });
}

/** A moderators body as {@link ModeratorItem}s. @throws Error when the body has no `items` list. */
export function parseModerators(body: unknown): ModeratorItem[] {
  return listOf(body, 'items').flatMap((i): ModeratorItem[] => (isObj(i) && isStr(i.userId) && isStr(i.username) && isStr(i.since) ? [{ userId: i.userId, username: i.username, since: i.since }] : []));
}

/** A banned-terms body as terms in list order. @throws Error when the body has no `terms` list. */
export function parseBannedTerms(body: unknown): BannedTerm[] {
  return listOf(body, 'terms').flatMap((t): BannedTerm[] => (isObj(t) && isStr(t.pattern) && (t.action === 'block' || t.action === 'hold') ? [{ pattern: t.pattern, action: t.action }] : []));
}

/** A log body as {@link LogEntry}s, newest first. @throws Error when the body has no `items` list. */
export function parseModerationLog(body: unknown): LogEntry[] {
  return listOf(body, 'items').flatMap((e): LogEntry[] => {
    if (!isObj(e) || !isStr(e.id) || !isStr(e.action) || !strOrNull(e.actorUsername) || !strOrNull(e.targetUsername) || !isStr(e.createdAt)) return [];
    return [{ id: e.id, action: e.action, actorUsername: e.actorUsername, targetUsername: e.targetUsername, detail: isObj(e.detail) ? e.detail : {}, createdAt: e.createdAt }];
  });
}

/** "Banned" or "Timed out until 14:05" (local time) for a listed restriction. */
export function restrictionLabel(r: RestrictionItem): string {
  if (r.kind === 'ban' || r.until === null) return 'Banned';
  const t = Date.parse(r.until);
  return Number.isNaN(t) ? 'Timed out' : `Timed out until ${clockTime(t)}`;
}

/**
 * A custom timeout typed in minutes as seconds, or null when it is not a whole number of
 * minutes from 1 to the longest timeout ({@link MAX_TIMEOUT_SECONDS}, 14 days).
 */
export function customTimeoutSeconds(minutes: string): number | null {
  if (!/^\d{1,6}$/.test(minutes.trim())) return null;
  const s = Number(minutes.trim()) * 60;
  return s >= 60 && s <= MAX_TIMEOUT_SECONDS ? s : null;
}

/**
 * The list with `term` appended, or a sentence why not: an empty pattern, one already listed
 * (same text, any case), or a full list ({@link MAX_BANNED_TERMS}). The server checks the RE2
 * syntax when the list is saved.
 */
export function withTerm(terms: readonly BannedTerm[], term: BannedTerm): { terms: BannedTerm[] } | { error: string } {
  const pattern = term.pattern.trim();
  if (pattern === '') return { error: 'Type a word or pattern first.' };
  if (terms.some((t) => t.pattern.toLowerCase() === pattern.toLowerCase())) return { error: `“${pattern}” is already on the list.` };
  if (terms.length >= MAX_BANNED_TERMS) return { error: `The list holds at most ${MAX_BANNED_TERMS} terms; remove one first.` };
  return { terms: [...terms, { pattern, action: term.action }] };
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** One log entry as a sentence: "mod banned viewer (spam)", "mod timed out viewer for 10 min", "mod changed the banned terms". */
export function describeLogEntry(e: LogEntry): string {
  const who = e.actorUsername ?? 'someone';
  const whom = e.targetUsername ?? 'a user';
  const reason = isStr(e.detail.reason) && e.detail.reason !== '' ? ` (${e.detail.reason})` : '';
  switch (e.action) {
    case 'ChatUserBanned': return `${who} banned ${whom}${reason}`;
    case 'ChatUserTimedOut': {
      const d = num(e.detail.durationSeconds);
      return `${who} timed out ${whom}${d === null ? '' : ` for ${waitLabel(d)}`}${reason}`;
    }
    case 'ChatUserUnbanned': return `${who} lifted the ban or timeout of ${whom}`;
    case 'ChatMessageDeleted': return `${who} deleted a message of ${whom}${reason}`;
    case 'ChatSettingsChanged': return `${who} changed the chat settings`;
    case 'ChatBannedTermsSet': return `${who} changed the banned terms`;
    case 'ModerationItemResolved': return `${who} resolved a moderation-queue item${isStr(e.detail.resolution) ? ` (${e.detail.resolution})` : ''}`;
    default: return `${who}: ${e.action}${e.targetUsername ? ` → ${whom}` : ''}`;
  }
}
