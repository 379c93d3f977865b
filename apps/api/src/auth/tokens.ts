/**
 * Access tokens of the API: the shared implementation in `@live/auth` (HS256 JWTs over a key
 * ring, RFC 7519 / RFC 8725), with its {@link TokenError} mapped onto the API's error catalogue.
 */
import { assertKeyRing, signAccessToken, TokenError, verifyAccessToken as verifyToken, type AuthUser, type JwtKey } from '@live/auth';
import { ApiError } from '../errors.js';

export { assertKeyRing, signAccessToken };
export { ACCESS_TOKEN_TYP, JWT_ALGORITHM, JWT_AUDIENCE, JWT_ISSUER, JWT_MIN_SECRET_BYTES, type AccessTokenClaims, type SignedAccessToken } from '@live/auth';

/**
 * Verifies an access token (see `@live/auth` `verifyAccessToken` for every check made).
 * @param nowMs the current time, ms since the epoch (default: now).
 * @throws ApiError TOKEN_EXPIRED when the token is authentic but past `exp`.
 * @throws ApiError TOKEN_INVALID for anything else.
 */
export async function verifyAccessToken(config: { readonly jwtKeys: readonly JwtKey[] }, token: string, nowMs?: number): Promise<AuthUser> {
  try {
    return await verifyToken(config, token, nowMs);
  } catch (err) {
    if (err instanceof TokenError) throw new ApiError(err.code);
    throw err;
  }
}
