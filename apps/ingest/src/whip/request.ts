/**
 * The HTTP side of WHIP (RFC 9725) as pure functions: which resource a path names, the Bearer
 * token, the offer's content type, and the JSON error body every refusal carries.
 */
import { PLAYBACK_TOKEN_ERRORS } from '@live/auth';

/** What a request path names: the channel's WHIP endpoint or one session's resource. */
export type WhipRoute =
  | { readonly kind: 'endpoint'; readonly channel: string }
  | { readonly kind: 'resource'; readonly channel: string; readonly resourceId: string };

const SEGMENT = '[A-Za-z0-9_-]{1,100}';
const PATHS = {
  whip: { endpoint: new RegExp(`^/whip/(${SEGMENT})/?$`), resource: new RegExp(`^/whip/(${SEGMENT})/([0-9a-f-]{36})$`) },
  whep: { endpoint: new RegExp(`^/whep/(${SEGMENT})/?$`), resource: new RegExp(`^/whep/(${SEGMENT})/([0-9a-f-]{36})$`) },
} as const;

/**
 * Parses a request path (without its query) of `protocol`: `/<protocol>/<channel>` (the endpoint
 * publishers (WHIP) or viewers (WHEP) POST their offer to; `<channel>` is the channel's id or
 * slug) or `/<protocol>/<channel>/<resource id>` (the session's resource, `DELETE` ends it).
 * Undefined for anything else.
 */
export function parseWhipPath(pathname: string, protocol: 'whip' | 'whep' = 'whip'): WhipRoute | undefined {
  const e = PATHS[protocol].endpoint.exec(pathname);
  if (e) return { kind: 'endpoint', channel: e[1]! };
  const r = PATHS[protocol].resource.exec(pathname);
  if (r) return { kind: 'resource', channel: r[1]!, resourceId: r[2]! };
  return undefined;
}

/** The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1), or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer +([\x21-\x7e]+) *$/i.exec(header ?? '');
  return m?.[1];
}

/** Whether a Content-Type header is `application/sdp` (parameters and case ignored). */
export function isSdpContentType(header: string | undefined): boolean {
  return (header ?? '').split(';')[0]!.trim().toLowerCase() === 'application/sdp';
}

/** The error codes of the WHIP and WHEP endpoints, with their HTTP status (and the playback-token codes of `@live/auth`'s `PLAYBACK_TOKEN_ERRORS`). */
export const WHIP_ERRORS = {
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  UNSUPPORTED_MEDIA_TYPE: 415,
  PAYLOAD_TOO_LARGE: 413,
  SDP_MALFORMED: 400,
  SDP_UNSUPPORTED_CODEC: 406,
  MISSING_TOKEN: 401,
  UNKNOWN_STREAM_KEY: 401,
  STREAM_KEY_DISABLED: 403,
  STREAM_KEY_EXPIRED: 403,
  ADDRESS_NOT_ALLOWED: 403,
  CHANNEL_MISMATCH: 403,
  BAD_APP: 400,
  ALREADY_LIVE: 409,
  TOO_MANY_SESSIONS: 503,
  TOO_MANY_SESSIONS_FROM_ADDRESS: 429,
  INTERNAL: 500,
  // WHEP (playback)
  CHANNEL_NOT_FOUND: 404,
  CHANNEL_OFFLINE: 404,
  SOURCE_NOT_WEBRTC_COMPATIBLE: 422,
} as const;

/** A code of {@link WHIP_ERRORS}. */
export type WhipErrorCode = keyof typeof WHIP_ERRORS;

/**
 * The HTTP status and JSON body (`{ code, message }`, the API's error shape) of a refusal.
 * A playback-token code answers its `PLAYBACK_TOKEN_ERRORS` status; other unknown codes (a gate
 * refusal this table lacks) answer 403.
 */
export function whipError(code: string, message: string): { status: number; body: string } {
  const status = (WHIP_ERRORS as Record<string, number>)[code] ?? (PLAYBACK_TOKEN_ERRORS as Record<string, { status: number } | undefined>)[code]?.status ?? 403;
  return { status, body: JSON.stringify({ code, message }) };
}
