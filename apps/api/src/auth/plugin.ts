/**
 * The authentication hook: turns `Authorization: Bearer <access token>` (RFC 6750 §2.1) into
 * `req.user`. Authorisation (who may do what) is left to the routes (`requireUser`,
 * `requireRole`, `requireChannelManager` in context.ts).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiContext } from '../context.js';
import { ApiError } from '../errors.js';
import { assertKeyRing, verifyAccessToken } from './tokens.js';

/**
 * The one path that may carry the access token in the query (`?access_token=`, RFC 6750 §2.3):
 * the browser's `EventSource` cannot send an `Authorization` header.
 */
export const QUERY_TOKEN_PATH = '/api/notifications/stream';

// RFC 6750 §2.1: credentials = "Bearer" 1*SP b68token; the scheme is case-insensitive (RFC 9110 §11.1).
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;

/**
 * Builds the `onRequest` hook that authenticates every request:
 * - no `Authorization` header (and no query token) → `req.user = null` (anonymous; routes that
 *   need a caller answer UNAUTHENTICATED);
 * - `Authorization: Bearer <jwt>` → the token is verified ({@link verifyAccessToken}) and
 *   `req.user = { userId, username, roles }`;
 * - on {@link QUERY_TOKEN_PATH} only, `?access_token=<jwt>` is accepted the same way (anywhere
 *   else it is ignored, so tokens do not spread into URLs, logs and Referer headers);
 * - a token that is present but invalid is refused even on public routes (a client holding a
 *   bad token should learn so, not silently be served as anonymous).
 * 401 answers carry `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 §3).
 * @throws TypeError at build time when `ctx.config.jwtKeys` is not a valid key ring.
 * @throws ApiError (from the hook) TOKEN_INVALID for any scheme other than Bearer, a malformed
 *   or unverifiable token; TOKEN_EXPIRED for an expired one; BAD_REQUEST when both the header
 *   and the query carry a token (RFC 6750 §2: only one method per request).
 */
export function createAuthenticator(ctx: ApiContext): (req: FastifyRequest, reply?: FastifyReply) => Promise<void> {
  assertKeyRing(ctx.config.jwtKeys);
  return async (req, reply) => {
    req.user = null;
    const header = req.headers.authorization;
    const queryTokens = queryAccessTokens(req.url);
    if (header === undefined && queryTokens.length === 0) return;
    if (header !== undefined && queryTokens.length > 0) {
      throw new ApiError('BAD_REQUEST', 'Send the access token either in the Authorization header or in the query, not both.');
    }
    let token: string;
    if (header !== undefined) {
      const m = BEARER.exec(header.trim());
      if (!m) throw challenge(reply, new ApiError('TOKEN_INVALID', 'Use the Authorization scheme "Bearer <access token>".'));
      token = m[1]!;
    } else {
      if (queryTokens.length !== 1) throw challenge(reply, new ApiError('TOKEN_INVALID'));
      token = queryTokens[0]!;
    }
    try {
      req.user = await verifyAccessToken(ctx.config, token, ctx.clock.now());
    } catch (err) {
      throw err instanceof ApiError ? challenge(reply, err) : err;
    }
  };
}

/**
 * `url` with the value of every `access_token` query parameter replaced by `[REDACTED]`.
 * For the request logger's `req` serializer: Fastify logs `req.url` ("incoming request") before
 * any hook runs, so without it a query token (see {@link QUERY_TOKEN_PATH}) lands in the logs.
 */
export function redactAccessToken(url: string): string {
  return url.replace(/([?&]access_token=)[^&#]*/gi, '$1[REDACTED]');
}

/** The `access_token` query values of `url` when its path is {@link QUERY_TOKEN_PATH}, else []. */
function queryAccessTokens(url: string): string[] {
  const q = url.indexOf('?');
  if (q < 0 || url.slice(0, q) !== QUERY_TOKEN_PATH) return [];
  return new URLSearchParams(url.slice(q + 1)).getAll('access_token');
}

function challenge(reply: FastifyReply | undefined, err: ApiError): ApiError {
  const error = err.code === 'TOKEN_INVALID' || err.code === 'TOKEN_EXPIRED' ? 'invalid_token' : 'invalid_request';
  void reply?.header('www-authenticate', `Bearer realm="live-api", error="${error}"`);
  return err;
}
