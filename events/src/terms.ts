// A separate entry point (`@live/events/terms`) so that workflow bundles do not carry RE2.
import { RE2JS } from 're2js';
import { MAX_BANNED_TERMS, type BannedTerm } from './chat.js';

/** Longest banned-term pattern, characters. */
export const MAX_TERM_PATTERN_LENGTH = 200;

/**
 * Checks a banned-term list that a moderator or admin submitted: at most
 * {@link MAX_BANNED_TERMS} terms, each pattern 1..{@link MAX_TERM_PATTERN_LENGTH} characters of
 * valid RE2 syntax (github.com/google/re2/wiki/Syntax; RE2 matches in linear time, so a term
 * cannot stall a gateway the way a back-tracking expression can), action `block` or `hold`.
 * @returns null when the list is valid, else a sentence naming the first bad term.
 */
export function bannedTermsProblem(terms: readonly BannedTerm[]): string | null {
  if (terms.length > MAX_BANNED_TERMS) return `at most ${MAX_BANNED_TERMS} banned terms`;
  for (const [i, t] of terms.entries()) {
    if (t.action !== 'block' && t.action !== 'hold') return `terms[${i}].action must be block or hold`;
    if (t.pattern.length === 0 || t.pattern.length > MAX_TERM_PATTERN_LENGTH) return `terms[${i}].pattern must be 1..${MAX_TERM_PATTERN_LENGTH} characters`;
    try {
      RE2JS.compile(t.pattern, RE2JS.CASE_INSENSITIVE);
    } catch (err) {
      return `terms[${i}].pattern is not a valid RE2 expression: ${(err as Error).message}`;
    }
  }
  return null;
}

/** A compiled banned-term list: the first term whose pattern occurs in a text, or null. */
export type BannedTermMatcher = (text: string) => BannedTerm | null;

/**
 * Compiles terms into one matcher (case-insensitive RE2, unanchored: a pattern matches
 * anywhere in the text). Terms that do not compile (which {@link bannedTermsProblem} refuses
 * before they are stored) are skipped. `block` terms are tried before `hold` terms, so a message
 * matching both is blocked.
 */
export function compileBannedTerms(terms: readonly BannedTerm[]): BannedTermMatcher {
  const compiled: Array<{ term: BannedTerm; re: RE2JS }> = [];
  for (const term of [...terms].sort((a, b) => (a.action === b.action ? 0 : a.action === 'block' ? -1 : 1))) {
    try {
      compiled.push({ term, re: RE2JS.compile(term.pattern, RE2JS.CASE_INSENSITIVE) });
    } catch {
      // refused at submission; an old stored one that no longer compiles is ignored
    }
  }
  if (compiled.length === 0) return () => null;
  return (text) => {
    for (const c of compiled) if (c.re.matcher(text).find()) return c.term;
    return null;
  };
}
