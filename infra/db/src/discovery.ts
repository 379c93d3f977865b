/**
 * Discovery queries over the `channels` read model: search with typo tolerance, filters, and
 * keyset pagination; per-category channel counts.
 *
 * Matching (PostgreSQL docs "Full Text Search" 12.3.2 `websearch_to_tsquery` and 12.4.2.1
 * `ts_rewrite`; "pg_trgm" F.35.2 `word_similarity`, `<%`, and F.35.5 "Text Search Integration",
 * which suggests exactly this: trigrams find the words a misspelling means, full-text search
 * finds the documents):
 * 1. A word of `q` (a lexeme of `to_tsvector('simple', q)`) that some channel contains is taken
 *    as typed. One of 3+ characters that no channel contains is a typo; its corrections are the
 *    words `w` of channels whose `search_text` is trigram-similar to it (`word <% search_text`,
 *    served by the GIN `gin_trgm_ops` index `channels_search_trgm_idx`; up to
 *    {@link TYPO_SAMPLE_ROWS} such channels are looked at) with `word <% w` themselves, i.e.
 *    trigram word similarity >= `pg_trgm.word_similarity_threshold` (default 0.6, not changed
 *    here): "minecrat" → "minecraft" (0.78), "speedrunn" → "speedrun" (0.8), "speedr" →
 *    "speedrun" (search-as-you-type prefixes work the same way).
 * 2. The query is `websearch_to_tsquery('simple', q)` (whole words; quotes, `or` and `-word`
 *    work as on web search engines) with every typo `x` rewritten to `x | correction…`
 *    (`ts_rewrite`), matched against the generated `search_vector`, served by the GIN index
 *    `channels_search_vector_idx`. SQL and LIKE metacharacters in `q` are plain text: `q` is a
 *    bound parameter and only ever parsed by the text-search parser.
 * Why not `word_similarity(q, search_text)` (`q <% search_text`) on every row as the filter:
 * its recheck builds trigrams of each candidate's whole `search_text` (~15 µs a row here), so a
 * typo of a popular word (1,500 of 10,000 channels) costs 20-40 ms, and a rare one, when the
 * planner walks the ordering index instead, a scan of the table (100+ ms); bench/api measured
 * at most 175 requests/s that way. The sampled corrections bound the trigram work to a few
 * channels per typo. Trade-off: a spelling variant that none of the sampled channels contains
 * is not offered (a complete vocabulary needs a table of words of its own, which the schema
 * does not have).
 */
import { sql, type Kysely, type RawBuilder, type SqlBool } from 'kysely';
import { CATEGORIES } from '@live/events';
import type { Database } from './schema.js';
import { editDistanceCorrections, searchVocabulary } from './fuzzy.js';

/** Longest `q` accepted, in code points (the API cleans and bounds it before it gets here). */
export const SEARCH_QUERY_MAX_LENGTH = 100;
/** Largest page {@link searchChannels} returns. */
export const SEARCH_MAX_LIMIT = 100;
/** Shortest word of `q` that is corrected, in characters (trigrams of shorter words match almost anything). */
export const TYPO_MIN_WORD_LENGTH = 3;
/** Most words of one `q` that are corrected (the longest ones). */
export const TYPO_MAX_WORDS = 6;
/** Channels looked at, per corrected word, for similar words. */
export const TYPO_SAMPLE_ROWS = 16;
/** Most corrections one word is widened to (the most similar ones). */
export const TYPO_MAX_CORRECTIONS = 8;

/**
 * Thrown by {@link searchChannels} when `cursor` is not one {@link searchChannels} issued
 * (not base64url, not the expected JSON, wrong types or ranges). The API answers INVALID_CURSOR.
 */
export class InvalidCursorError extends Error {
  override readonly name = 'InvalidCursorError';
  constructor(reason: string) {
    super(`invalid search cursor: ${reason}`);
  }
}

/** What {@link searchChannels} looks for. Every field but `limit` is optional: none = browse all. */
export interface ChannelSearchParams {
  /**
   * Free text, already cleaned by the caller (NFC, no control characters), at most
   * {@link SEARCH_QUERY_MAX_LENGTH} code points; lower-cased here. Empty or blank = no text
   * condition. Always sent as a bound parameter: SQL and LIKE metacharacters are plain text.
   */
  readonly q?: string;
  /** A category id (exact match, e.g. `gaming`). */
  readonly category?: string;
  /** Tags that must all be present on the channel (`tags @> $tags`). Empty = no condition. */
  readonly tags?: readonly string[];
  /** true = only channels publishing now; false = only offline channels; undefined = both. */
  readonly live?: boolean;
  /** `nextCursor` of the previous page, to continue after it. */
  readonly cursor?: string | null;
  /** Page size, 1..{@link SEARCH_MAX_LIMIT}. */
  readonly limit: number;
}

/** One channel in a search result. */
export interface ChannelSearchItem {
  readonly channelId: string;
  readonly displayName: string;
  readonly title: string;
  /** A category id, or '' when the channel has none. */
  readonly category: string;
  readonly tags: readonly string[];
  /** BCP 47 primary language subtag, or ''. */
  readonly language: string;
  readonly mature: boolean;
  /** True while the channel is publishing (it has a live session). */
  readonly live: boolean;
  /** The live session's id; null when offline. */
  readonly sessionId: string | null;
  /** ISO-8601 time the live session started; null when offline. */
  readonly startedAt: string | null;
  /** Current viewers of the live session (0 when offline). */
  readonly viewers: number;
  readonly followers: number;
}

/** One page of {@link searchChannels}. */
export interface ChannelSearchPage {
  readonly items: readonly ChannelSearchItem[];
  /** Opaque cursor for the next page; null when this page is the last. */
  readonly nextCursor: string | null;
}

/** A category with how many channels are in it. */
export interface CategoryCount {
  /** Category id from events `CATEGORIES`. */
  readonly id: string;
  readonly name: string;
  /** Channels whose category is this one. */
  readonly channels: number;
  /** Of those, channels publishing now. */
  readonly liveChannels: number;
}

/** Keyset position: the sort key of the last row of a page. */
interface SearchPosition {
  /** live */
  readonly l: boolean;
  /** viewer_count */
  readonly v: number;
  /** channel id */
  readonly i: string;
}

const MAX_INT4 = 2_147_483_647;

/**
 * Encodes a keyset position as an opaque cursor: base64url (RFC 4648 section 5) of the JSON
 * `{ l: live, v: viewers, i: channelId }`.
 */
function encodeCursor(p: SearchPosition): string {
  return Buffer.from(JSON.stringify({ l: p.l, v: p.v, i: p.i }), 'utf8').toString('base64url');
}

/**
 * Decodes and validates a cursor made by {@link encodeCursor}. Cursors are not signed: a
 * hand-made but well-formed one is only a position in the sort order and reveals nothing a
 * browse would not.
 * @throws InvalidCursorError for anything else.
 */
function decodeCursor(cursor: string): SearchPosition {
  if (!/^[A-Za-z0-9_-]{1,700}$/.test(cursor)) throw new InvalidCursorError('not base64url');
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidCursorError('not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidCursorError('not an object');
  const keys = Object.keys(value).sort();
  if (keys.join(',') !== 'i,l,v') throw new InvalidCursorError('unexpected fields');
  const { l, v, i } = value as Record<string, unknown>;
  if (typeof l !== 'boolean') throw new InvalidCursorError('bad live flag');
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_INT4) throw new InvalidCursorError('bad viewer count');
  if (typeof i !== 'string' || !/^[A-Za-z0-9_-]{1,128}$/.test(i)) throw new InvalidCursorError('bad channel id');
  const p = { l, v, i };
  // Only the exact bytes we issue are accepted (no alternative encodings of the same position).
  if (encodeCursor(p) !== cursor) throw new InvalidCursorError('not canonical');
  return p;
}

// The sort key, written exactly as the expression of `channels_discovery_idx` so that a browse
// (no text condition) reads that index in order and stops after `limit` rows.
const LIVE = sql<boolean>`(live_session_id is not null)`;

/** A word of `q` that no channel contains, and the similar words channels do contain. */
export interface TypoCorrection {
  /** The lexeme as `to_tsvector('simple', q)` makes it. */
  readonly word: string;
  /** Most similar first; may be empty. */
  readonly corrections: readonly string[];
}

/**
 * The words of `q` that are correction candidates: lexemes of `to_tsvector('simple', q)` of at
 * least {@link TYPO_MIN_WORD_LENGTH} characters that no channel contains (a GIN probe of
 * `channels_search_vector_idx` each). A SQL `from`-able subquery with one column, `word`.
 */
function unknownWords(q: string): RawBuilder<{ word: string }> {
  return sql<{ word: string }>`(
    select word from unnest(tsvector_to_array(to_tsvector('simple', ${q}))) word
    where char_length(word) >= ${TYPO_MIN_WORD_LENGTH}
      and not exists (select from channels where search_vector @@ plainto_tsquery('simple', word)))`;
}

/**
 * Finds corrections for the words of `q` that no channel contains (step 1 of the matching in
 * this module's header), as {@link searchChannels} applies them: for each of the
 * {@link TYPO_MAX_WORDS} longest such words, up to {@link TYPO_MAX_CORRECTIONS} lexemes `l` of
 * channels whose `search_text` is trigram-similar to it (`word <% search_text`, via
 * `channels_search_trgm_idx`, at most {@link TYPO_SAMPLE_ROWS} channels) with `word <% l`,
 * most similar first. One statement, kept simple because it is planned on every call; the
 * ranking is done here.
 * @param q lower-cased search text.
 * @throws the driver's error when the database fails.
 */
export async function typoCorrections(db: Kysely<Database>, q: string): Promise<TypoCorrection[]> {
  const r = await sql<{ word: string; lexeme: string | null; similarity: number | null }>`
    select u.word, c.lexeme, word_similarity(u.word, c.lexeme) as similarity
    from (select word from ${unknownWords(q)} w order by char_length(word) desc, word limit ${TYPO_MAX_WORDS}) u
    left join lateral (
      select distinct lexeme
      from (select search_vector from channels where u.word <% search_text limit ${TYPO_SAMPLE_ROWS}) s
      cross join lateral unnest(tsvector_to_array(s.search_vector)) lexeme
      where u.word <% lexeme and lexeme <> u.word
    ) c on true`.execute(db);
  const byWord = new Map<string, Array<{ lexeme: string; similarity: number }>>();
  for (const row of r.rows) {
    const list = byWord.get(row.word) ?? [];
    if (row.lexeme !== null) list.push({ lexeme: row.lexeme, similarity: row.similarity ?? 0 });
    byWord.set(row.word, list);
  }
  const out = [...byWord.keys()]
    .sort((a, b) => [...b].length - [...a].length || (a < b ? -1 : a > b ? 1 : 0))
    .map((word) => ({
      word,
      corrections: (byWord.get(word) ?? [])
        .sort((a, b) => b.similarity - a.similarity || (a.lexeme < b.lexeme ? -1 : a.lexeme > b.lexeme ? 1 : 0))
        .slice(0, TYPO_MAX_CORRECTIONS)
        .map((c) => c.lexeme),
    }));
  if (out.length === 0) return out;
  // Words a few edits away that trigrams miss ("smoek" → "smoke", "testng" → "testing"), after
  // the trigram ones.
  const vocabulary = await searchVocabulary(db);
  return out.map((c) => {
    const edits = editDistanceCorrections(c.word, vocabulary, TYPO_MAX_CORRECTIONS).filter((w) => !c.corrections.includes(w));
    return { word: c.word, corrections: [...c.corrections, ...edits].slice(0, TYPO_MAX_CORRECTIONS) };
  });
}

/**
 * `lexeme` as tsquery input: in single quotes, embedded quotes and backslashes doubled, so no
 * character of it is read as an operator (PostgreSQL docs 8.11.2 "tsquery"). Sent as a bound
 * parameter and cast with `::tsquery`.
 */
function tsqueryLiteral(lexeme: string): string {
  return `'${lexeme.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** Filters and position of one page, as {@link searchChannels} validated them. */
interface PageSpec {
  readonly category: string | undefined;
  readonly tags: readonly string[];
  readonly live: boolean | undefined;
  readonly after: SearchPosition | null;
  readonly limit: number;
}

/** The page query: filters, keyset position, order, `limit + 1` rows (to know if more follow). */
function pageQuery(db: Kysely<Database>, spec: PageSpec, match: RawBuilder<SqlBool> | null) {
  let query = db.selectFrom('channels').select([
    'id', 'display_name', 'title', 'category', 'tags', 'language', 'mature', 'live_session_id', 'viewer_count', 'follower_count',
    // ISO-8601 UTC text straight from the server: no Date parsing per row in the driver.
    sql<string | null>`to_char(live_started_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`.as('started_at'),
  ]);
  if (match) query = query.where(match);
  if (spec.category !== undefined) query = query.where('category', '=', spec.category);
  if (spec.tags.length > 0) query = query.where(sql<SqlBool>`tags @> ${[...spec.tags]}::text[]`);
  if (spec.live !== undefined) query = query.where(sql<SqlBool>`${LIVE} = ${spec.live}`);
  const after = spec.after;
  if (after) {
    // (live desc, viewer_count desc, id asc) strictly after the cursor's row; false < true for
    // booleans. The mixed directions rule out one row-value comparison for all three, but the
    // redundant `(live, viewer_count) <= (l, v)` is an index condition on channels_discovery_idx,
    // so the scan starts at the cursor's (live, viewers) group instead of the first row.
    query = query
      .where(sql<SqlBool>`(${LIVE}, viewer_count) <= (${after.l}, ${after.v})`)
      .where(sql<SqlBool>`(${LIVE} < ${after.l} or (${LIVE} = ${after.l} and (viewer_count < ${after.v} or (viewer_count = ${after.v} and id > ${after.i}))))`);
  }
  return query
    .orderBy(sql`${LIVE} desc`)
    .orderBy('viewer_count', 'desc')
    .orderBy('id', 'asc')
    .limit(spec.limit + 1);
}

type PageRow = Awaited<ReturnType<ReturnType<typeof pageQuery>['execute']>>[number];

function toPage(rows: readonly PageRow[], limit: number): ChannelSearchPage {
  const items: ChannelSearchItem[] = rows.slice(0, limit).map((r) => ({
    channelId: r.id,
    displayName: r.display_name,
    title: r.title,
    category: r.category,
    tags: r.tags,
    language: r.language,
    mature: r.mature,
    live: r.live_session_id !== null,
    sessionId: r.live_session_id,
    startedAt: r.live_session_id !== null ? r.started_at : null,
    viewers: r.viewer_count,
    followers: r.follower_count,
  }));
  const last = items[items.length - 1];
  const nextCursor = rows.length > limit && last ? encodeCursor({ l: last.live, v: last.viewers, i: last.channelId }) : null;
  return { items, nextCursor };
}

/**
 * Searches and browses channels (the discovery read model).
 *
 * Order: live channels first, then `viewer_count` descending, then channel id ascending (a
 * total order, so pages never overlap). Pagination is keyset on that order; a channel whose
 * live state or viewer count changes between two page reads may move across the page boundary
 * (be seen twice or not at all), as with any keyset pagination over a changing sort key.
 *
 * Text matching: see this module's header. Statements (each planned on every call, so each
 * is kept simple): one without `q`; with `q`, one when every word of it is in some channel and
 * the page is not empty (the page query also reports whether a word is in none), else two or
 * three: that page, {@link typoCorrections}, and when something was corrected, the page again
 * with the corrected query.
 *
 * @returns up to `limit` items and the cursor of the next page (null when none is left).
 * @throws InvalidCursorError when `cursor` is malformed or tampered with.
 * @throws RangeError when `limit` is not an integer in 1..{@link SEARCH_MAX_LIMIT} or `q` is
 *   longer than {@link SEARCH_QUERY_MAX_LENGTH} code points (the caller should have refused it).
 * @throws the driver's error when the database fails.
 */
export async function searchChannels(db: Kysely<Database>, params: ChannelSearchParams): Promise<ChannelSearchPage> {
  const { limit } = params;
  if (!Number.isInteger(limit) || limit < 1 || limit > SEARCH_MAX_LIMIT) throw new RangeError(`limit must be an integer in 1..${SEARCH_MAX_LIMIT}`);
  const q = (params.q ?? '').trim().toLowerCase();
  if ([...q].length > SEARCH_QUERY_MAX_LENGTH) throw new RangeError(`q must be at most ${SEARCH_QUERY_MAX_LENGTH} characters`);
  const spec: PageSpec = {
    category: params.category, tags: params.tags ?? [], live: params.live, limit,
    after: params.cursor ? decodeCursor(params.cursor) : null,
  };
  if (q === '') return toPage(await pageQuery(db, spec, null).execute(), limit);

  // Whole words as typed; the same statement says whether some word is in no channel (an
  // InitPlan, evaluated once).
  const typed = await pageQuery(db, spec, sql<SqlBool>`search_vector @@ websearch_to_tsquery('simple', ${q})`)
    .select(sql<boolean>`exists (select from ${unknownWords(q)} u)`.as('has_unknown_word'))
    .execute();
  if (typed.length > 0 && typed[0]?.has_unknown_word === false) return toPage(typed, limit);

  // A word is in no channel, or nothing matched: correct the unknown words, then the same page
  // with each typo widened to its corrections. The tsquery is a constant the planner sees
  // (ts_rewrite is immutable), so it estimates the matches as for any word.
  let tsquery: RawBuilder<string> = sql<string>`websearch_to_tsquery('simple', ${q})`;
  let corrected = false;
  for (const { word, corrections } of await typoCorrections(db, q)) {
    if (corrections.length === 0) continue;
    const alternatives = [word, ...corrections].map(tsqueryLiteral).join(' | ');
    tsquery = sql<string>`ts_rewrite(${tsquery}, ${tsqueryLiteral(word)}::tsquery, ${alternatives}::tsquery)`;
    corrected = true;
  }
  if (!corrected) return toPage(typed, limit);
  return toPage(await pageQuery(db, spec, sql<SqlBool>`search_vector @@ ${tsquery}`).execute(), limit);
}

/**
 * Channel counts per category: every entry of events `CATEGORIES` (zeros included), ordered by
 * live channels descending, then name. Channels without a category ('') are not counted.
 * @throws the driver's error when the database fails.
 */
export async function categoryCounts(db: Kysely<Database>): Promise<CategoryCount[]> {
  const rows = await db.selectFrom('channels')
    .select([
      'category',
      sql<number>`count(*)::int`.as('channels'),
      sql<number>`(count(*) filter (where live_session_id is not null))::int`.as('live'),
    ])
    .where('category', '<>', '')
    .groupBy('category')
    .execute();
  const byId = new Map(rows.map((r) => [r.category, r]));
  return CATEGORIES
    .map((c) => ({ id: c.id, name: c.name, channels: byId.get(c.id)?.channels ?? 0, liveChannels: byId.get(c.id)?.live ?? 0 }))
    .sort((a, b) => b.liveChannels - a.liveChannels || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
