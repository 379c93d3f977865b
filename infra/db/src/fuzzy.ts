/**
 * Edit-distance spelling correction for discovery search, the fallback of the trigram
 * corrections in `discovery.ts`: trigrams miss short words with a swapped or dropped letter
 * ("smoek" shares only 3 of 6 trigrams with "smoke": word similarity 0.5, under pg_trgm's 0.6),
 * which the optimal string alignment distance (Damerau–Levenshtein with adjacent
 * transpositions counted as one edit; Boytsov 2011, "Indexing methods for approximate dictionary
 * searching", §2) measures directly. The words come from the channels' own vocabulary
 * ({@link searchVocabulary}: the lexemes of `search_vector`, cached per database handle), so a
 * correction is always a word some channel has.
 */
import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.js';

/** Most edits a correction may be away: 1 for words of up to 5 characters, 2 for longer ones. */
export function maxEditsFor(word: string): number {
  return [...word].length <= 5 ? 1 : 2;
}

/**
 * Optimal string alignment distance between `a` and `b` (insertions, deletions, substitutions
 * and adjacent transpositions, each one edit), by code points; gives up early and returns
 * `limit + 1` once the distance is certain to exceed `limit`.
 */
export function osaDistance(a: string, b: string, limit = Infinity): number {
  const s = [...a];
  const t = [...b];
  if (Math.abs(s.length - t.length) > limit) return limit + 1;
  let prev2: number[] = [];
  let prev = Array.from({ length: t.length + 1 }, (_, j) => j);
  for (let i = 1; i <= s.length; i++) {
    const cur = [i];
    let rowMin = i;
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      let d = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) d = Math.min(d, prev2[j - 2]! + 1);
      cur.push(d);
      if (d < rowMin) rowMin = d;
    }
    if (rowMin > limit) return limit + 1;
    prev2 = prev;
    prev = cur;
  }
  return prev[t.length]!;
}

/**
 * The words of `vocabulary` within {@link maxEditsFor}(`word`) edits of `word` (itself
 * excluded), nearest first, then alphabetically; at most `max`.
 */
export function editDistanceCorrections(word: string, vocabulary: Iterable<string>, max: number): string[] {
  const limit = maxEditsFor(word);
  const found: Array<{ w: string; d: number }> = [];
  for (const w of vocabulary) {
    if (w === word) continue;
    const d = osaDistance(word, w, limit);
    if (d <= limit) found.push({ w, d });
  }
  return found.sort((x, y) => x.d - y.d || (x.w < y.w ? -1 : x.w > y.w ? 1 : 0)).slice(0, max).map((f) => f.w);
}

/** How long {@link searchVocabulary} keeps a database's vocabulary, ms. */
export const VOCABULARY_TTL_MS = 60_000;

const cache = new WeakMap<object, { at: number; words: Promise<readonly string[]> }>();

/**
 * Every lexeme of the channels' `search_vector` (`ts_stat`, PostgreSQL docs 12.4.4), loaded at
 * most once per {@link VOCABULARY_TTL_MS} per database handle and shared by concurrent callers.
 * A failed load is not cached.
 * @throws the driver's error when the database fails.
 */
export function searchVocabulary(db: Kysely<Database>, now = Date.now()): Promise<readonly string[]> {
  const hit = cache.get(db);
  if (hit && now - hit.at < VOCABULARY_TTL_MS) return hit.words;
  const words = sql<{ word: string }>`select word from ts_stat('select search_vector from channels')`.execute(db)
    .then((r) => r.rows.map((row) => row.word));
  cache.set(db, { at: now, words });
  words.catch(() => { if (cache.get(db)?.words === words) cache.delete(db); });
  return words;
}
