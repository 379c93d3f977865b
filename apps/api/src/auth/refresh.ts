/**
 * Refresh tokens with rotation and reuse detection (OAuth 2.0 Security Best Current Practice,
 * RFC 9700 §4.14.2; OAuth 2.1 §4.3.1): every refresh token is single-use; using one returns
 * the next token of the same *family* (one family per sign-in); presenting a token a second
 * time means it leaked, so the whole family is revoked and its holder has to sign in again.
 *
 * Tokens are opaque: `rt_` + 32 random bytes in base64url (256 bits). Only their hex SHA-256
 * is stored (`auth_refresh_tokens.token_hash`): a fast hash suffices for a high-entropy secret,
 * and a leaked table cannot be replayed. This is a command-side credential store, not a
 * projection of EVENTS.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Db } from '@live/db';
import { ApiError } from '../errors.js';

/** Prefix of every refresh token (recognisable in secret scanners). */
export const REFRESH_TOKEN_PREFIX = 'rt_';
/** Shape of a refresh token: the prefix and 43 base64url characters (32 bytes). */
export const REFRESH_TOKEN_PATTERN = /^rt_[A-Za-z0-9_-]{43}$/;

/** A refresh token just issued. The token itself is returned once and never stored. */
export interface IssuedRefreshToken {
  readonly refreshToken: string;
  /** The sign-in this token belongs to. */
  readonly familyId: string;
  readonly userId: string;
  readonly expiresAt: Date;
}

/** Hex SHA-256 of a refresh token: what `auth_refresh_tokens.token_hash` holds. */
export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A new random refresh token (`rt_` + base64url of 32 bytes from the CSPRNG). */
export function newRefreshToken(): string {
  return REFRESH_TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/**
 * Issues a refresh token valid for `ttlSeconds`: the first of a new family (a sign-in) unless
 * `familyId` is given.
 * @param nowMs issue time, ms since the epoch.
 * @throws the driver's error when the insert fails.
 */
export async function issueRefreshToken(
  db: Db,
  opts: { userId: string; ttlSeconds: number; nowMs: number; familyId?: string },
): Promise<IssuedRefreshToken> {
  const refreshToken = newRefreshToken();
  const familyId = opts.familyId ?? randomUUID();
  const expiresAt = new Date(opts.nowMs + opts.ttlSeconds * 1000);
  await db.insertInto('auth_refresh_tokens').values({
    id: randomUUID(), family_id: familyId, user_id: opts.userId, token_hash: hashRefreshToken(refreshToken),
    created_at: new Date(opts.nowMs), expires_at: expiresAt, used_at: null, revoked_at: null,
  }).execute();
  return { refreshToken, familyId, userId: opts.userId, expiresAt };
}

/**
 * Exchanges a refresh token for the next one of its family (rotation). In one transaction the
 * token's row is locked (`SELECT … FOR UPDATE`, so two concurrent uses of one token are
 * serialised and the second is seen as a reuse), checked, marked used, and its successor
 * inserted. Each successor is valid for `ttlSeconds` from now (a sliding lifetime).
 * On reuse, the family's revocation is committed before the error is thrown.
 * @param nowMs the current time, ms since the epoch.
 * @throws ApiError REFRESH_TOKEN_INVALID when the token is malformed, unknown, expired or revoked.
 * @throws ApiError REFRESH_TOKEN_REUSED when it was already used (every token of the family is
 *   now revoked).
 */
export async function rotateRefreshToken(db: Db, token: string, opts: { ttlSeconds: number; nowMs: number }): Promise<IssuedRefreshToken> {
  if (!REFRESH_TOKEN_PATTERN.test(token)) throw new ApiError('REFRESH_TOKEN_INVALID');
  const now = new Date(opts.nowMs);
  const outcome = await db.transaction().execute(async (trx): Promise<IssuedRefreshToken | 'invalid' | 'reused'> => {
    const row = await trx.selectFrom('auth_refresh_tokens')
      .select(['id', 'family_id', 'user_id', 'expires_at', 'used_at', 'revoked_at'])
      .where('token_hash', '=', hashRefreshToken(token))
      .forUpdate()
      .executeTakeFirst();
    if (!row || row.revoked_at !== null || row.expires_at.getTime() <= opts.nowMs) return 'invalid';
    if (row.used_at !== null) {
      await trx.updateTable('auth_refresh_tokens').set({ revoked_at: now })
        .where('family_id', '=', row.family_id).where('revoked_at', 'is', null).execute();
      return 'reused';
    }
    await trx.updateTable('auth_refresh_tokens').set({ used_at: now }).where('id', '=', row.id).execute();
    return issueRefreshToken(trx, { userId: row.user_id, familyId: row.family_id, ttlSeconds: opts.ttlSeconds, nowMs: opts.nowMs });
  });
  if (outcome === 'invalid') throw new ApiError('REFRESH_TOKEN_INVALID');
  if (outcome === 'reused') throw new ApiError('REFRESH_TOKEN_REUSED');
  return outcome;
}

/**
 * Revokes the family (sign-in) of `token`: sign-out. Idempotent: an unknown, malformed or
 * already revoked token changes nothing and is not an error (so sign-out never leaks whether a
 * token existed).
 * @returns the number of tokens revoked now.
 */
export async function revokeRefreshFamily(db: Db, token: string, nowMs: number): Promise<number> {
  if (!REFRESH_TOKEN_PATTERN.test(token)) return 0;
  const r = await db.updateTable('auth_refresh_tokens').set({ revoked_at: new Date(nowMs) })
    .where('family_id', '=', (eb) => eb.selectFrom('auth_refresh_tokens').select('family_id').where('token_hash', '=', hashRefreshToken(token)))
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows);
}

/**
 * Revokes every refresh token of `userId` (every sign-in: after a password change).
 * @returns the number of tokens revoked now.
 */
export async function revokeUserRefreshTokens(db: Db, userId: string, nowMs: number): Promise<number> {
  const r = await db.updateTable('auth_refresh_tokens').set({ revoked_at: new Date(nowMs) })
    .where('user_id', '=', userId).where('revoked_at', 'is', null).executeTakeFirst();
  return Number(r.numUpdatedRows);
}

/**
 * Deletes refresh tokens that expired more than `graceSeconds` ago (housekeeping; expired
 * tokens are refused anyway). Not scheduled by the API itself.
 * @returns the number of rows deleted.
 */
export async function deleteExpiredRefreshTokens(db: Db, nowMs: number, graceSeconds = 86_400): Promise<number> {
  const r = await db.deleteFrom('auth_refresh_tokens')
    .where('expires_at', '<', new Date(nowMs - graceSeconds * 1000)).executeTakeFirst();
  return Number(r.numDeletedRows);
}
