import { ApiError } from '../errors.js';

/** Position in a list ordered by time descending, then id: `{ t: ISO-8601, id }`. */
export interface TimeCursor {
  readonly t: string;
  readonly id: string;
}

/** Encodes a {@link TimeCursor} as an opaque base64url string. */
export function encodeCursor(c: TimeCursor): string {
  return Buffer.from(JSON.stringify([c.t, c.id]), 'utf8').toString('base64url');
}

/**
 * Decodes a cursor made by {@link encodeCursor}.
 * @throws ApiError INVALID_CURSOR for anything else (tampered, truncated, wrong shape).
 */
export function decodeCursor(s: string): TimeCursor {
  try {
    const v: unknown = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string' && !Number.isNaN(Date.parse(v[0])) && v[1].length <= 128) {
      return { t: v[0], id: v[1] };
    }
  } catch {
    // fall through
  }
  throw new ApiError('INVALID_CURSOR');
}

/**
 * Splits rows fetched with `limit + 1` into the page and the cursor of the next one (null on the
 * last page).
 */
export function pageOf<T>(rows: readonly T[], limit: number, cursorOf: (row: T) => TimeCursor): { page: T[]; nextCursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return { page, nextCursor: rows.length > limit && last ? encodeCursor(cursorOf(last)) : null };
}
