import { Type } from '@sinclair/typebox';

/**
 * The API's error catalogue: every error a client can see, with its HTTP status. Bodies are
 * `{ code, message }`; a stack trace never reaches a client.
 */
export const API_ERRORS = {
  BAD_REQUEST: { status: 400, message: 'The request is malformed.' },
  BAD_JSON: { status: 400, message: 'The request body is not valid JSON.' },
  BAD_URL: { status: 400, message: 'The URL is malformed: a percent-encoded part is not valid UTF-8.' },
  CONTENT_LENGTH_MISMATCH: { status: 400, message: 'The request body is not as long as its Content-Length says.' },
  VALIDATION_FAILED: { status: 400, message: 'The request does not match the schema.' },
  MESSAGE_TOO_LONG: { status: 400, message: 'The chat message is too long (at most 500 characters).' },
  INVALID_TEXT: { status: 400, message: 'The chat message is empty or contains characters that are not allowed.' },
  INVALID_CURSOR: { status: 400, message: 'The cursor is not one this API issued.' },
  BEACON_TIME_IN_FUTURE: { status: 400, message: 'A beacon is timestamped too far in the future (check the clock); nothing was accepted.' },
  BEACON_TOO_OLD: { status: 400, message: 'A beacon is older than the API accepts; nothing was accepted.' },
  INVALID_RESTREAM_DESTINATION: { status: 400, message: 'The restream destination is not valid: an rtmp:// or rtmps:// URL and a stream key.' },
  ANALYTICS_RANGE_INVALID: { status: 400, message: 'The time range or interval is out of bounds.' },
  WEBHOOK_URL_INVALID: { status: 400, message: 'The webhook URL must be an absolute http:// or https:// URL without a user or password.' },
  UNAUTHENTICATED: { status: 401, message: 'Sign in first: this needs a valid access token.' },
  TOKEN_INVALID: { status: 401, message: 'The access token is invalid.' },
  TOKEN_EXPIRED: { status: 401, message: 'The access token has expired; refresh it.' },
  INVALID_CREDENTIALS: { status: 401, message: 'Wrong username or password.' },
  REFRESH_TOKEN_INVALID: { status: 401, message: 'The refresh token is invalid or expired; sign in again.' },
  REFRESH_TOKEN_REUSED: { status: 401, message: 'The refresh token was already used; every session of this sign-in was revoked. Sign in again.' },
  FORBIDDEN: { status: 403, message: 'Your role does not allow this.' },
  NOT_CHANNEL_OWNER: { status: 403, message: 'Only the channel owner (or an admin) may do this.' },
  NOT_CHAT_MODERATOR: { status: 403, message: "Only the channel's owner, its moderators or an admin may moderate its chat." },
  PLAYBACK_FOLLOWERS_ONLY: { status: 403, message: 'This stream is for followers of the channel: follow it to watch.' },
  PLAYBACK_NOT_ALLOWED: { status: 403, message: "This stream is restricted to viewers the channel allowed, and you are not one of them." },
  BANNED: { status: 403, message: 'You are banned from this chat.' },
  TIMED_OUT: { status: 403, message: 'You are timed out in this chat; try again when the timeout ends (Retry-After).' },
  FOLLOWERS_ONLY: { status: 403, message: 'This chat is for followers of the channel only.' },
  CANNOT_RESTRICT: { status: 403, message: 'The channel owner cannot be banned or timed out in their own chat, and nobody can restrict themselves.' },
  NOT_FOUND: { status: 404, message: 'No such resource.' },
  SESSION_NOT_FOUND: { status: 404, message: 'No such stream session.' },
  STREAM_NOT_FOUND: { status: 404, message: 'No such stream.' },
  USER_NOT_FOUND: { status: 404, message: 'No such user.' },
  CHANNEL_NOT_FOUND: { status: 404, message: 'No such channel.' },
  STREAM_KEY_NOT_FOUND: { status: 404, message: 'No such stream key.' },
  RESTREAM_DESTINATION_NOT_FOUND: { status: 404, message: 'No such restream destination.' },
  MODERATION_ITEM_NOT_FOUND: { status: 404, message: 'No such moderation-queue item.' },
  WEBHOOK_NOT_FOUND: { status: 404, message: 'No such webhook endpoint.' },
  RECORDING_NOT_FOUND: { status: 404, message: 'No such recording (it may have been deleted).' },
  WEBHOOK_DELIVERY_NOT_FOUND: { status: 404, message: 'No such delivery of this webhook endpoint.' },
  USERNAME_TAKEN: { status: 409, message: 'That username is taken.' },
  EMAIL_TAKEN: { status: 409, message: 'That email address is already registered.' },
  CHANNEL_EXISTS: { status: 409, message: 'You already have a channel.' },
  STREAM_KEY_REVOKED: { status: 409, message: 'The stream key is revoked.' },
  STREAM_KEY_LIMIT: { status: 409, message: 'The channel has the most active stream keys allowed; revoke one first.' },
  RESTREAM_DESTINATION_LIMIT: { status: 409, message: 'The channel has the most restream destinations allowed (10); remove one first.' },
  STREAM_NOT_LIVE: { status: 409, message: 'The stream is not live.' },
  DUPLICATE_MESSAGE: { status: 409, message: 'You sent the same chat message less than 30 s ago.' },
  RECORDING_LIVE: { status: 409, message: 'That session is still live: end the stream first.' },
  RECORDING_PROCESSING: { status: 409, message: 'The recording is still being packaged; try again in a minute.' },
  MODERATION_ITEM_RESOLVED: { status: 409, message: 'The moderation-queue item was already resolved.' },
  RESOLUTION_NOT_APPLICABLE: { status: 409, message: 'That resolution does not apply to this item: approve held messages, delete reported ones.' },
  WEBHOOK_LIMIT: { status: 409, message: 'The channel (or the platform) has the most webhook endpoints allowed; delete one first.' },
  CONFLICT: { status: 409, message: 'Someone else changed this at the same time; retry.' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large.' },
  BEACON_BATCH_TOO_LARGE: { status: 413, message: 'Too many beacons in one batch; split it.' },
  URI_TOO_LONG: { status: 414, message: 'A part of the URL path is too long.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Send the body as application/json.' },
  EMOTE_ONLY: { status: 422, message: 'This chat is in emote-only mode: send an emote.' },
  LINKS_NOT_ALLOWED: { status: 422, message: 'Links are not allowed in this chat.' },
  BLOCKED_TERM: { status: 422, message: 'The chat message contains a blocked term.' },
  BEACON_SESSION_UNKNOWN: { status: 422, message: 'The beacons name a stream session that does not exist; nothing was accepted.' },
  RATE_LIMITED: { status: 429, message: 'Too many requests.' },
  SLOW_MODE: { status: 429, message: 'Slow mode is on in this chat; wait before sending again (Retry-After).' },
  LOGIN_THROTTLED: { status: 429, message: 'Too many failed sign-ins; wait and try again.' },
  INTERNAL: { status: 500, message: 'Internal error.' },
  NOT_READY: { status: 503, message: 'A dependency is unavailable.' },
  EVENT_LOG_UNAVAILABLE: { status: 503, message: 'The event log is unavailable; nothing was changed. Retry.' },
  RESTREAM_NOT_CONFIGURED: { status: 503, message: 'Restreaming is not configured on this server (RESTREAM_KEY_SECRET); ask its operator.' },
  ANALYTICS_UNAVAILABLE: { status: 503, message: 'Analytics are unavailable (no ClickHouse configured, or it does not answer). Retry later.' },
} as const;

/** A catalogue error code. */
export type ApiErrorCode = keyof typeof API_ERRORS;

/**
 * Fastify's own errors (its `FST_ERR_*` codes) as catalogue errors. The router's errors
 * (`FST_ERR_BAD_URL`, `FST_ERR_MAX_PARAM_LENGTH`, `FST_ERR_ASYNC_CONSTRAINT`) reach the app's
 * `frameworkErrors` handler, the body parser's (`FST_ERR_CTP_*`) its error handler; both answer
 * with the catalogue's code, status and message, never Fastify's (whose messages echo the path).
 * A Fastify code not listed here is a programming or set-up error (INTERNAL).
 */
export const FASTIFY_ERRORS: Readonly<Record<string, ApiErrorCode>> = {
  FST_ERR_BAD_URL: 'BAD_URL',
  FST_ERR_INVALID_URL: 'BAD_URL',
  FST_ERR_NOT_FOUND: 'NOT_FOUND',
  FST_ERR_VALIDATION: 'VALIDATION_FAILED',
  FST_ERR_MAX_PARAM_LENGTH: 'URI_TOO_LONG',
  FST_ERR_ASYNC_CONSTRAINT: 'INTERNAL',
  FST_ERR_CTP_INVALID_JSON_BODY: 'BAD_JSON',
  // An empty body declared as JSON is not a JSON text either (RFC 8259 §2).
  FST_ERR_CTP_EMPTY_JSON_BODY: 'BAD_JSON',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'CONTENT_LENGTH_MISMATCH',
};

/**
 * The catalogue code for a Fastify error code (`err.code` of an error Fastify raised), or
 * undefined when `code` is not Fastify's (`FST_ERR_` prefix).
 */
export function fastifyErrorCode(code: string | undefined): ApiErrorCode | undefined {
  if (code === undefined || !code.startsWith('FST_ERR_')) return undefined;
  return Object.hasOwn(FASTIFY_ERRORS, code) ? FASTIFY_ERRORS[code] : 'INTERNAL';
}

/** Error thrown by route handlers; rendered by the app's error handler as `{ code, message }`. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly statusCode: number;
  /** Seconds the client should wait (sent as `Retry-After`), for 429s. */
  readonly retryAfterSeconds: number | undefined;
  constructor(readonly code: ApiErrorCode, message?: string, opts: { retryAfterSeconds?: number } = {}) {
    super(message ?? API_ERRORS[code].message);
    this.statusCode = API_ERRORS[code].status;
    this.retryAfterSeconds = opts.retryAfterSeconds;
  }
}

/** TypeBox schema of every error answer: `{ code, message }`. */
export const ErrorBody = Type.Object({ code: Type.String(), message: Type.String() });
