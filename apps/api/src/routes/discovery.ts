import { Type, type Static } from '@sinclair/typebox';
import { CATEGORIES, isCategory } from '@live/events';
import { categoryCounts, InvalidCursorError, searchChannels, SEARCH_QUERY_MAX_LENGTH, type ChannelSearchItem } from '@live/db';
import type { ApiApp, ApiContext } from '../context.js';
import { ApiError, ErrorBody } from '../errors.js';
import { cleanText } from '../text.js';
import { liveMasterPath } from '@live/media/formats';

/** Largest `limit` of `GET /api/streams/search`. */
export const SEARCH_PAGE_MAX = 50;
/** Most tags one search may require. */
export const SEARCH_MAX_TAGS = 10;

const TAG = '[a-z0-9-]{1,25}';

/**
 * A string or null, as JSON Schema `type: ['string', 'null']` rather than TypeBox's `anyOf`:
 * fast-json-stringify serialises a type list directly, while for `anyOf` it runs an Ajv
 * validation of every value to pick the branch (a measurable share of a search's CPU time).
 */
function NullableString(opts: { description?: string; format?: string } = {}) {
  return Type.Unsafe<string | null>({ type: ['string', 'null'], ...opts });
}

/** Querystring of `GET /api/streams/search`. */
export const SearchQuery = Type.Object({
  q: Type.Optional(Type.String({ maxLength: 1000, description: `Free text, at most ${SEARCH_QUERY_MAX_LENGTH} characters after NFC normalisation and trimming. Typo tolerant.` })),
  category: Type.Optional(Type.String({ maxLength: 64, description: `A category id: ${CATEGORIES.map((c) => c.id).join(', ')}.` })),
  tags: Type.Optional(Type.String({
    pattern: `^${TAG}(,${TAG}){0,${SEARCH_MAX_TAGS - 1}}$`,
    description: `Comma-separated tags (each ${TAG}, at most ${SEARCH_MAX_TAGS}); a channel must have every one.`,
  })),
  live: Type.Optional(Type.Boolean({ description: 'true: only live channels; false: only offline ones.' })),
  cursor: Type.Optional(Type.String({ maxLength: 1024, description: '`nextCursor` of the previous page.' })),
  limit: Type.Integer({ minimum: 1, maximum: SEARCH_PAGE_MAX, default: 20 }),
}, { additionalProperties: false });

/** One channel of a search result. */
export const SearchItem = Type.Object({
  channelId: Type.String(),
  displayName: Type.String(),
  title: Type.String(),
  category: Type.String({ description: "A category id, or '' when none." }),
  tags: Type.Array(Type.String()),
  language: Type.String({ description: "BCP 47 primary language subtag, or ''." }),
  mature: Type.Boolean(),
  live: Type.Boolean(),
  sessionId: NullableString(),
  startedAt: NullableString({ format: 'date-time' }),
  viewers: Type.Integer({ minimum: 0 }),
  followers: Type.Integer({ minimum: 0 }),
  playbackUrl: NullableString({ description: 'Master playlist of the live session (`<edge>/live/<channelId>/master.m3u8`); null when offline.' }),
}, { additionalProperties: false });

/** Response of `GET /api/streams/search`. */
export const SearchResponse = Type.Object({
  items: Type.Array(SearchItem),
  nextCursor: NullableString({ description: 'Pass as `cursor` for the next page; null on the last page.' }),
});

/** One entry of `GET /api/categories`. */
export const CategoryItem = Type.Object({
  id: Type.String(),
  name: Type.String(),
  channels: Type.Integer({ minimum: 0 }),
  liveChannels: Type.Integer({ minimum: 0 }),
});

/** Response of `GET /api/categories`. */
export const CategoriesResponse = Type.Object({ items: Type.Array(CategoryItem) });

/** Playback URL of a channel's live session on the edge (HLS master playlist, RFC 8216 section 4.3.4). */
function playbackUrl(edgeBaseUrl: string, channelId: string): string {
  return `${edgeBaseUrl}${liveMasterPath(channelId)}`;
}

/**
 * Refuses a query string with a malformed percent-encoding (RFC 3986 section 2.1) or one that
 * does not decode to UTF-8 (RFC 3986 section 2.5): a lone surrogate sent as `%ED%A0%80`, a
 * truncated sequence `%F0%9F`. Fastify's parser would pass such a value on undecoded.
 * @throws ApiError VALIDATION_FAILED.
 */
function assertUtf8QueryString(url: string): void {
  const start = url.indexOf('?');
  if (start < 0) return;
  for (const pair of url.slice(start + 1).split('&')) {
    try {
      decodeURIComponent(pair.replace(/\+/g, ' '));
    } catch {
      throw new ApiError('VALIDATION_FAILED', 'The query string is not valid percent-encoded UTF-8 (a lone surrogate or a broken escape).');
    }
  }
}

function toResponseItem(edgeBaseUrl: string, i: ChannelSearchItem): Static<typeof SearchItem> {
  return {
    channelId: i.channelId, displayName: i.displayName, title: i.title, category: i.category, tags: i.tags as string[],
    language: i.language, mature: i.mature, live: i.live, sessionId: i.sessionId, startedAt: i.startedAt,
    viewers: i.viewers, followers: i.followers, playbackUrl: i.live ? playbackUrl(edgeBaseUrl, i.channelId) : null,
  };
}

/**
 * Discovery routes (anonymous, read-only, from the `channels` read model):
 * - `GET /api/streams/search?q=&category=&tags=&live=&cursor=&limit=`: channels matching free
 *   text (full-text on whole words, or trigram similarity for typos; see `searchChannels` in
 *   @live/db), filtered by category, tags (all required) and live state; live channels first,
 *   then by viewers, then id. `limit` 1..50 (default 20). Pages with `nextCursor`.
 *   Errors: 400 VALIDATION_FAILED (bad limit/tags/live, unknown category,
 *   `q` longer than 100 characters or holding control, invisible formatting or unpaired
 *   surrogate characters, a query string that is not percent-encoded UTF-8), 400 INVALID_CURSOR.
 *   Unknown query fields are dropped (Fastify's Ajv runs with `removeAdditional`).
 * - `GET /api/categories`: every category with its channel and live-channel counts, most live
 *   first.
 * Static paths: `/api/streams/search` wins over a parametric `/api/streams/:id` (Fastify's
 * router, find-my-way, prefers static segments).
 */
export async function discoveryRoutes(app: ApiApp, ctx: ApiContext): Promise<void> {
  app.get('/api/streams/search', {
    schema: {
      summary: 'Search and browse channels',
      tags: ['discovery'],
      querystring: SearchQuery,
      response: { 200: SearchResponse, 400: ErrorBody, 429: ErrorBody, 500: ErrorBody },
    },
    preValidation: async (req) => assertUtf8QueryString(req.url),
  }, async (req) => {
    const query = req.query;
    const q = query.q === undefined ? '' : cleanText(query.q, 'q', { max: SEARCH_QUERY_MAX_LENGTH });
    if (query.category !== undefined && !isCategory(query.category)) {
      throw new ApiError('VALIDATION_FAILED', `category must be one of ${CATEGORIES.map((c) => c.id).join(', ')}`);
    }
    const tags = query.tags === undefined ? [] : [...new Set(query.tags.split(','))];
    try {
      const page = await searchChannels(ctx.db, {
        q, tags, limit: query.limit,
        ...(query.category !== undefined ? { category: query.category } : {}),
        ...(query.live !== undefined ? { live: query.live } : {}),
        ...(query.cursor !== undefined ? { cursor: query.cursor } : {}),
      });
      return { items: page.items.map((i) => toResponseItem(ctx.config.edgeBaseUrl, i)), nextCursor: page.nextCursor };
    } catch (err) {
      if (err instanceof InvalidCursorError) throw new ApiError('INVALID_CURSOR');
      throw err;
    }
  });

  app.get('/api/categories', {
    schema: {
      summary: 'Categories with channel counts',
      tags: ['discovery'],
      response: { 200: CategoriesResponse, 429: ErrorBody, 500: ErrorBody },
    },
  }, async () => ({ items: await categoryCounts(ctx.db) }));
}
