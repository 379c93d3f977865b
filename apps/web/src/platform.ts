/**
 * The platform API beyond `/api/streams`, as the web app reads it (pure: URL building and
 * response validation; requests go through `callApi` / `Session.request`):
 * discovery (`/api/streams/search`, `/api/categories`), channels and follows
 * (`/api/channels/…`), and going live (`/api/streams/start`).
 */
import { ApiError } from './api';
import type { SearchParams } from './routes';

/** Channels per page of search results. */
export const SEARCH_PAGE_SIZE = 20;
/** Longest search text the API accepts, in code points. */
export const SEARCH_QUERY_MAX_LENGTH = 100;
/** Most tags a channel may have. */
export const MAX_TAGS = 10;
/** Longest channel title, in code points. */
export const TITLE_MAX_LENGTH = 140;

/** One channel of `GET /api/streams/search`. */
export interface SearchItem {
  readonly channelId: string;
  readonly displayName: string;
  readonly title: string;
  /** A category id, or '' when none. */
  readonly category: string;
  readonly tags: readonly string[];
  readonly live: boolean;
  readonly viewers: number;
  readonly followers: number;
  /** Live master playlist; null when offline. */
  readonly playbackUrl: string | null;
  /** ISO 8601 start of the live session; null when offline. */
  readonly startedAt: string | null;
}

/** One page of search results; `nextCursor` is null on the last page. */
export interface SearchPage {
  readonly items: readonly SearchItem[];
  readonly nextCursor: string | null;
}

/** One entry of `GET /api/categories`. */
export interface Category {
  readonly id: string;
  readonly name: string;
  readonly channels: number;
  readonly liveChannels: number;
}

/** A channel as `GET /api/channels/{channelId}` returns it. */
export interface ChannelView {
  readonly channelId: string;
  readonly displayName: string;
  readonly ownerUserId: string | null;
  readonly title: string;
  readonly category: string;
  readonly tags: readonly string[];
  readonly followers: number;
  readonly live: boolean;
  /** The live session's id while live (null when offline). */
  readonly sessionId?: string | null;
  readonly viewers: number;
  /** When the live session started (ISO 8601), null when offline; absent from older APIs. */
  readonly startedAt?: string | null;
  /** The channel's "about" text (plain text), '' when unset; absent from older APIs. */
  readonly description?: string;
  /** Whether the caller follows the channel (false when anonymous). */
  readonly following: boolean;
}

/** Answer of `POST /api/streams/start`: where and with which key to publish. */
export interface PreparedBroadcast {
  /** RTMP server URL (OBS "Server"). */
  readonly ingestUrl: string;
  /** SRT listener `srt://host:port`, when offered. */
  readonly srtUrl?: string;
  /** The channel's WHIP endpoint, when offered. */
  readonly whipUrl?: string;
  readonly keyId: string;
  /** The key with all but its last 4 characters hidden. */
  readonly maskedKey: string;
  /** The stream key itself, only when this call issued it (shown once); null otherwise. */
  readonly streamKey: string | null;
  readonly playbackUrl: string;
  readonly channel: ChannelView;
}

const isStr = (v: unknown): v is string => typeof v === 'string';
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const isStrOrNull = (v: unknown): v is string | null => v === null || typeof v === 'string';
const obj = (v: unknown): Record<string, unknown> | null => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : null);
const isStrArray = (v: unknown): v is string[] => Array.isArray(v) && v.every(isStr);

/** True when `v` has the shape of a {@link SearchItem}. */
export function isSearchItem(v: unknown): v is SearchItem {
  const o = obj(v);
  return !!o && isStr(o.channelId) && isStr(o.displayName) && isStr(o.title) && isStr(o.category) && isStrArray(o.tags) &&
    typeof o.live === 'boolean' && isCount(o.viewers) && isCount(o.followers) && isStrOrNull(o.playbackUrl) &&
    (o.startedAt === undefined || isStrOrNull(o.startedAt));
}

/** True when `v` has the shape of a {@link Category}. */
export function isCategory(v: unknown): v is Category {
  const o = obj(v);
  return !!o && isStr(o.id) && isStr(o.name) && isCount(o.channels) && isCount(o.liveChannels);
}

/** True when `v` has the shape of a {@link ChannelView}. */
export function isChannelView(v: unknown): v is ChannelView {
  const o = obj(v);
  return !!o && isStr(o.channelId) && isStr(o.displayName) && isStrOrNull(o.ownerUserId) && isStr(o.title) && isStr(o.category) &&
    isStrArray(o.tags) && isCount(o.followers) && typeof o.live === 'boolean' && isCount(o.viewers) && typeof o.following === 'boolean';
}

/** True when `v` has the shape of a {@link PreparedBroadcast}. */
export function isPreparedBroadcast(v: unknown): v is PreparedBroadcast {
  const o = obj(v);
  return !!o && isStr(o.ingestUrl) && isStr(o.keyId) && isStr(o.maskedKey) && isStrOrNull(o.streamKey) && isStr(o.playbackUrl) && isChannelView(o.channel);
}

/**
 * Validates a `GET /api/streams/search` body. Items without the documented shape are dropped.
 * @throws ApiError `shape` when there is no `items` array.
 */
export function parseSearchPage(body: unknown): SearchPage {
  const o = obj(body);
  if (!o || !Array.isArray(o.items)) throw new ApiError('GET /api/streams/search: response has no "items" array', 'shape');
  return { items: o.items.filter(isSearchItem), nextCursor: isStr(o.nextCursor) && o.nextCursor !== '' ? o.nextCursor : null };
}

/**
 * Validates a `GET /api/categories` body.
 * @throws ApiError `shape` when there is no `items` array.
 */
export function parseCategories(body: unknown): Category[] {
  const o = obj(body);
  if (!o || !Array.isArray(o.items)) throw new ApiError('GET /api/categories: response has no "items" array', 'shape');
  return o.items.filter(isCategory);
}

/**
 * `/api/streams/search?…` for the filters, a page cursor and size. Empty filters are left out
 * (`q` is trimmed; the API cleans it further).
 */
export function searchApiPath(params: SearchParams & { readonly cursor?: string | null; readonly limit?: number }): string {
  const p = new URLSearchParams();
  const q = params.q.trim();
  if (q !== '') p.set('q', q);
  if (params.category) p.set('category', params.category);
  if (params.live !== null) p.set('live', String(params.live));
  if (params.cursor) p.set('cursor', params.cursor);
  p.set('limit', String(params.limit ?? SEARCH_PAGE_SIZE));
  return `/api/streams/search?${p.toString()}`;
}

/** `/api/channels/{channelId}`. */
export function channelApiPath(channelId: string): string {
  return `/api/channels/${encodeURIComponent(channelId)}`;
}

/** `/api/channels/{channelId}/follow` (PUT follows, DELETE unfollows). */
export function followApiPath(channelId: string): string {
  return `${channelApiPath(channelId)}/follow`;
}

/** The display name of category `id` ('' stays '', an unknown id shows as itself). */
export function categoryName(categories: readonly Category[] | null, id: string): string {
  if (id === '') return '';
  return categories?.find((c) => c.id === id)?.name ?? id;
}

const TAG = /^[a-z0-9-]{1,25}$/;

/**
 * Tags typed as text ("Speedrun, chill  retro"): split on commas and whitespace, lower-cased,
 * de-duplicated in order. `invalid` lists entries that are not 1-25 of `a-z 0-9 -`; `tooMany`
 * is set when more than {@link MAX_TAGS} remain.
 */
export function parseTags(text: string): { tags: string[]; invalid: string[]; tooMany: boolean } {
  const tags: string[] = [];
  const invalid: string[] = [];
  for (const raw of text.split(/[\s,]+/)) {
    if (raw === '') continue;
    const t = raw.toLowerCase().replace(/^#/, '');
    if (!TAG.test(t)) invalid.push(raw);
    else if (!tags.includes(t)) tags.push(t);
  }
  return { tags, invalid, tooMany: tags.length > MAX_TAGS };
}

/** "1 follower" / "1,234 followers" style count with a noun. */
export function countLabel(n: number, singular: string, plural = `${singular}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? singular : plural}`;
}
