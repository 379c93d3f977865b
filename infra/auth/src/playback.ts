/**
 * Signed playback: short-lived HMAC-SHA256 tokens that let a viewer fetch one channel's HLS
 * playlists, segments, parts and content keys from the edge, and the AES-128 content keys of
 * encrypted HLS derived from a secret (never stored next to the segments).
 *
 * Token format (compact, URL-safe, no padding; RFC 4648 §5 base64url):
 *
 *     <kid>.<payload>.<signature>
 *
 * - `kid`: the key id in the ring (`[A-Za-z0-9_-]{1,64}`, same ring format as `JWT_KEYS`);
 * - `payload`: base64url of a small JSON object {@link PlaybackTokenClaims} (short keys);
 * - `signature`: base64url of HMAC-SHA256(secret, `"pt1." + kid + "." + payload`) (RFC 2104)
 *   truncated to its first 16 bytes (HMAC-SHA-256-128: RFC 2104 §5 allows truncation to half
 *   the output, as RFC 4868 does for IPsec); the `pt1.` prefix separates these signatures from
 *   any other use of the same key. The token travels in every URI of a playlist (for players
 *   that cannot add it themselves), so every character counts: the full 32-byte form that
 *   tokens signed before 2026-12-07 carry (43 characters) is still accepted.
 *
 * Verification is one HMAC, one `crypto.timingSafeEqual`, one base64url decode and one small
 * `JSON.parse` (the edge verifies every segment request); nothing is cached.
 */
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { isIPv4 } from 'node:net';
import { assertKeyRing, type JwtKey } from './tokens.js';

/** Why a playback token was refused; the edge and the API answer with these codes. */
export type PlaybackTokenErrorCode =
  | 'PLAYBACK_TOKEN_MISSING'
  | 'PLAYBACK_TOKEN_INVALID'
  | 'PLAYBACK_TOKEN_EXPIRED'
  | 'PLAYBACK_TOKEN_WRONG_STREAM'
  | 'PLAYBACK_TOKEN_WRONG_ADDRESS'
  | 'PLAYBACK_TOKEN_STALE';

/** HTTP status and client-facing message of every {@link PlaybackTokenErrorCode}. */
export const PLAYBACK_TOKEN_ERRORS: { readonly [K in PlaybackTokenErrorCode]: { readonly status: 401 | 403; readonly message: string } } = {
  PLAYBACK_TOKEN_MISSING: { status: 401, message: 'This stream needs a playback token (query parameter token); get one from POST /api/streams/{id}/playback-token.' },
  PLAYBACK_TOKEN_INVALID: { status: 401, message: 'The playback token is not valid.' },
  PLAYBACK_TOKEN_EXPIRED: { status: 401, message: 'The playback token has expired; get a new one.' },
  PLAYBACK_TOKEN_WRONG_STREAM: { status: 403, message: 'The playback token is for another stream.' },
  PLAYBACK_TOKEN_WRONG_ADDRESS: { status: 403, message: 'The playback token is bound to another client address.' },
  PLAYBACK_TOKEN_STALE: { status: 403, message: 'The channel\'s playback policy changed after the playback token was issued; get a new one.' },
};

/** Thrown by {@link verifyPlaybackToken}; `code` and `status` are what the edge answers. */
export class PlaybackTokenError extends Error {
  override readonly name = 'PlaybackTokenError';
  /** HTTP status: 401 (missing, invalid, expired) or 403 (wrong stream, wrong address, stale). */
  readonly status: 401 | 403;
  constructor(readonly code: PlaybackTokenErrorCode) {
    super(PLAYBACK_TOKEN_ERRORS[code].message);
    this.status = PLAYBACK_TOKEN_ERRORS[code].status;
  }
}

/** What a playback token grants, as signed. */
export interface PlaybackTokenGrant {
  /** The channel whose playback the token allows. */
  readonly channelId: string;
  /** When set, only this session of the channel (its live playlists, VOD, keys); else any session of the channel. */
  readonly sessionId?: string;
  /** Expiry: a Date, or ms since the Unix epoch. Stored with second precision (rounded down). */
  readonly expiresAt: Date | number;
  /** The signed-in viewer it was issued to (informational: for logs and analytics). */
  readonly viewerId?: string;
  /** When set, only requests from this IP address (IPv4 or IPv6 text form) are accepted. */
  readonly clientAddress?: string;
  /** The version of the channel's playback policy the token is issued under (0 when omitted). */
  readonly policyVersion?: number;
}

/** The verified claims of a playback token. */
export interface PlaybackTokenClaims {
  readonly kid: string;
  readonly channelId: string;
  /** Null for a channel-wide token. */
  readonly sessionId: string | null;
  /** Expiry, seconds since the Unix epoch. */
  readonly exp: number;
  /** Null for an anonymous viewer. */
  readonly viewerId: string | null;
  /** True when the token is bound to a client address. */
  readonly addressBound: boolean;
  /** The policy version the token was issued under; 0 for a token without one (signed before versions existed). */
  readonly policyVersion: number;
}

/** What a request asks for, checked by {@link verifyPlaybackToken}. */
export interface PlaybackRequestScope {
  /** The channel the requested object belongs to. */
  readonly channelId: string;
  /** The session the requested object belongs to, when known (a session-bound token must match it). */
  readonly sessionId?: string | null;
  /** The requester's IP address (the edge's `request.ip`). */
  readonly clientAddress: string;
  /**
   * The channel's current playback policy version, when the verifier knows it: a token issued
   * under an older version is refused (PLAYBACK_TOKEN_STALE).
   */
  readonly policyVersion?: number;
  /** The current time, ms since the Unix epoch (default: now). `exp` has no leeway. */
  readonly now?: number;
}

/** Longest token string considered at all (a real one is ~150–250 characters). */
export const MAX_PLAYBACK_TOKEN_LENGTH = 1024;
/** Shortest `CONTENT_KEY_SECRET` accepted, bytes. */
export const CONTENT_KEY_SECRET_MIN_BYTES = 16;

const B64URL = /^[A-Za-z0-9_-]+$/;
/** Bytes of HMAC-SHA256 a new token carries (HMAC-SHA-256-128). */
const SIGNATURE_BYTES = 16;
/** base64url characters of the 16-byte signature, unpadded; its last one has 4 unused bits. */
const SIGNATURE_CHARS = 22;
const CANONICAL_LAST = /[AQgw]$/;
/** base64url characters of a full 32-byte HMAC-SHA256 (tokens signed before truncation); 2 unused bits. */
const FULL_SIGNATURE_CHARS = 43;
const FULL_CANONICAL_LAST = /[AEIMQUYcgkosw048]$/;
const ADDRESS_TAG_BYTES = 16;

/** A key ring compiled for playback: `kid → secret bytes`, plus the signing key id. */
export interface PlaybackKeyRing {
  /** The key that signs new tokens (the first of the ring). */
  readonly signingKid: string;
  /** `kid → secret` as KeyObjects (imported once, not on every HMAC). */
  readonly keys: ReadonlyMap<string, KeyObject>;
}

const compiled = new WeakMap<readonly JwtKey[], PlaybackKeyRing>();

/**
 * Compiles (and caches per array) a key ring in the `JWT_KEYS` format (`parseJwtKeys`): the
 * first key signs, every key verifies, so a secret rotates by putting a new key first and
 * keeping the old one for the token lifetime (10 minutes by default).
 * @throws TypeError as `assertKeyRing` (empty ring, bad or repeated kid, secret < 32 bytes).
 */
export function playbackKeyRing(keys: readonly JwtKey[] | PlaybackKeyRing): PlaybackKeyRing {
  if (!Array.isArray(keys)) return keys as PlaybackKeyRing;
  const list = keys as readonly JwtKey[];
  const hit = compiled.get(list);
  if (hit) return hit;
  assertKeyRing(list);
  const ring: PlaybackKeyRing = { signingKid: list[0]!.kid, keys: new Map(list.map((k) => [k.kid, createSecretKey(Buffer.from(k.secret, 'utf8'))])) };
  compiled.set(list, ring);
  return ring;
}

/**
 * Normalises an IP address for binding: lower case, an IPv4-mapped IPv6 address
 * (`::ffff:192.0.2.1`, RFC 4291 §2.5.5.2) as its IPv4 form, zone ids dropped.
 */
export function normaliseClientAddress(address: string): string {
  let a = address.trim().toLowerCase();
  const zone = a.indexOf('%');
  if (zone >= 0) a = a.slice(0, zone);
  if (a.startsWith('::ffff:') && isIPv4(a.slice(7))) a = a.slice(7);
  return a;
}

function sign(secret: KeyObject, kid: string, payload: string): Buffer {
  return createHmac('sha256', secret).update(`pt1.${kid}.${payload}`).digest();
}

function addressTag(secret: KeyObject, address: string): string {
  return createHmac('sha256', secret).update(`pt1.addr.${normaliseClientAddress(address)}`).digest().subarray(0, ADDRESS_TAG_BYTES).toString('base64url');
}

/**
 * Compares two byte strings in time independent of where they differ (`crypto.timingSafeEqual`);
 * different lengths are unequal (the length of a signature is public).
 */
export function constantTimeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Signs a playback token (format in the module comment) with the ring's first key.
 * Payload keys: `c` channel id, `e` expiry (s since epoch), optional `s` session id,
 * `v` viewer id, `p` policy version (omitted when 0), `a` address tag (base64url of 16 bytes of HMAC-SHA256 over the normalised
 * address, so the address itself never travels in URLs or CDN logs).
 * @returns the token, URL-safe as is (`[A-Za-z0-9_.-]`).
 * @throws TypeError when the ring is invalid, `channelId` is empty, `expiresAt` is not a finite
 *   time, or `policyVersion` is not a non-negative safe integer.
 */
export function signPlaybackToken(grant: PlaybackTokenGrant, keyRing: readonly JwtKey[] | PlaybackKeyRing): string {
  const ring = playbackKeyRing(keyRing);
  const secret = ring.keys.get(ring.signingKid)!;
  const expMs = grant.expiresAt instanceof Date ? grant.expiresAt.getTime() : grant.expiresAt;
  if (!Number.isFinite(expMs)) throw new TypeError('signPlaybackToken: expiresAt must be a finite time');
  if (typeof grant.channelId !== 'string' || grant.channelId.length === 0) throw new TypeError('signPlaybackToken: channelId is required');
  const policyVersion = grant.policyVersion ?? 0;
  if (!Number.isSafeInteger(policyVersion) || policyVersion < 0) throw new TypeError('signPlaybackToken: policyVersion must be an integer >= 0');
  const claims: Record<string, string | number> = { c: grant.channelId, e: Math.floor(expMs / 1000) };
  if (policyVersion > 0) claims.p = policyVersion;
  if (grant.sessionId) claims.s = grant.sessionId;
  if (grant.viewerId) claims.v = grant.viewerId;
  if (grant.clientAddress) claims.a = addressTag(secret, grant.clientAddress);
  const payload = Buffer.from(JSON.stringify(claims), 'utf8').toString('base64url');
  return `${ring.signingKid}.${payload}.${sign(secret, ring.signingKid, payload).subarray(0, SIGNATURE_BYTES).toString('base64url')}`;
}

/**
 * Verifies a playback token for one request and returns its claims.
 * Order: shape → key id → signature (constant time) → payload → expiry → stream → address →
 * policy version, so
 * that only an authentic token can be reported as expired or as meant for something else.
 * @throws PlaybackTokenError PLAYBACK_TOKEN_MISSING (401) when `token` is undefined or empty;
 *   PLAYBACK_TOKEN_INVALID (401) when malformed, too long, signed by an unknown key id, with a
 *   bad signature, or with a payload of the wrong shape; PLAYBACK_TOKEN_EXPIRED (401) past `e`;
 *   PLAYBACK_TOKEN_WRONG_STREAM (403) when the channel differs, or the token names a session and
 *   the request's session differs; PLAYBACK_TOKEN_WRONG_ADDRESS (403) when the token is bound to
 *   another client address; PLAYBACK_TOKEN_STALE (403) when `scope.policyVersion` is newer than
 *   the token's (a token without `p` counts as version 0: it stays valid only while the
 *   channel's policy has never changed, so tokens signed before versions existed keep working
 *   for their short lifetime yet fall to the first policy change).
 * @throws TypeError when the key ring itself is invalid (a configuration error).
 */
export function verifyPlaybackToken(token: string | undefined | null, keyRing: readonly JwtKey[] | PlaybackKeyRing, scope: PlaybackRequestScope): PlaybackTokenClaims {
  if (token === undefined || token === null || token === '') throw new PlaybackTokenError('PLAYBACK_TOKEN_MISSING');
  const ring = playbackKeyRing(keyRing);
  if (typeof token !== 'string' || token.length > MAX_PLAYBACK_TOKEN_LENGTH) throw new PlaybackTokenError('PLAYBACK_TOKEN_INVALID');
  const d1 = token.indexOf('.');
  const d2 = d1 < 0 ? -1 : token.indexOf('.', d1 + 1);
  if (d1 <= 0 || d2 <= d1 + 1 || d2 === token.length - 1 || token.indexOf('.', d2 + 1) >= 0) throw new PlaybackTokenError('PLAYBACK_TOKEN_INVALID');
  const kid = token.slice(0, d1);
  const payload = token.slice(d1 + 1, d2);
  const sigText = token.slice(d2 + 1);
  const secret = ring.keys.get(kid);
  if (!secret || !B64URL.test(payload) || !B64URL.test(sigText)) throw new PlaybackTokenError('PLAYBACK_TOKEN_INVALID');
  // Canonical encoding only (22 characters, or 43 for a full signature; the unused low bits of the
  // last one zero), so no two token strings carry the same signature.
  const full = sigText.length === FULL_SIGNATURE_CHARS;
  if (full ? !FULL_CANONICAL_LAST.test(sigText) : sigText.length !== SIGNATURE_CHARS || !CANONICAL_LAST.test(sigText)) throw new PlaybackTokenError('PLAYBACK_TOKEN_INVALID');
  const expected = sign(secret, kid, payload);
  if (!constantTimeEqual(Buffer.from(sigText, 'base64url'), full ? expected : expected.subarray(0, SIGNATURE_BYTES))) throw new PlaybackTokenError('PLAYBACK_TOKEN_INVALID');
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    throw new PlaybackTokenError('PLAYBACK_TOKEN_INVALID');
  }
  if (typeof claims !== 'object' || claims === null) throw new PlaybackTokenError('PLAYBACK_TOKEN_INVALID');
  const { c, e, s, v, a, p } = claims as Record<string, unknown>;
  if (typeof c !== 'string' || typeof e !== 'number' || !Number.isFinite(e)
    || (p !== undefined && (typeof p !== 'number' || !Number.isSafeInteger(p) || p < 0))
    || (s !== undefined && typeof s !== 'string') || (v !== undefined && typeof v !== 'string') || (a !== undefined && typeof a !== 'string')) {
    throw new PlaybackTokenError('PLAYBACK_TOKEN_INVALID');
  }
  const now = scope.now ?? Date.now();
  if (e * 1000 <= now) throw new PlaybackTokenError('PLAYBACK_TOKEN_EXPIRED');
  if (c !== scope.channelId || (s !== undefined && scope.sessionId != null && s !== scope.sessionId)) throw new PlaybackTokenError('PLAYBACK_TOKEN_WRONG_STREAM');
  if (a !== undefined && !constantTimeEqual(Buffer.from(a, 'utf8'), Buffer.from(addressTag(secret, scope.clientAddress), 'utf8'))) {
    throw new PlaybackTokenError('PLAYBACK_TOKEN_WRONG_ADDRESS');
  }
  const policyVersion = (p as number | undefined) ?? 0;
  if (scope.policyVersion !== undefined && policyVersion < scope.policyVersion) throw new PlaybackTokenError('PLAYBACK_TOKEN_STALE');
  return { kid, channelId: c, sessionId: s ?? null, exp: e, viewerId: v ?? null, addressBound: a !== undefined, policyVersion };
}

/**
 * Derives the AES-128 content key of one key period of a session:
 * `HMAC-SHA256(secret, "hls-aes128\0" + sessionId + "\0" + keyIndex)` truncated to its first
 * 16 bytes (HMAC as a PRF, RFC 2104 / NIST SP 800-108 style). Keys are never written to object
 * storage: the packager (worker) and the edge each derive them from `CONTENT_KEY_SECRET`, which
 * only they hold, so a leaked bucket does not leak the keys.
 *
 * HLS rules the packager and the edge follow (RFC 8216bis §4.4.4.4 EXT-X-KEY, §5.2):
 * - `#EXT-X-KEY:METHOD=AES-128,URI="/keys/<sessionId>/<keyIndex>.key"` ({@link contentKeyPath})
 *   applies to every following Media Segment until the next EXT-X-KEY; a new key period starts
 *   every `rotateEverySegments` segments with a new tag and index;
 * - METHOD=AES-128: each whole Media Segment (for fMP4, also the EXT-X-MAP initialisation
 *   section under that key) is encrypted with AES-128 in CBC mode with PKCS#7 padding;
 * - without an IV attribute the IV is the segment's Media Sequence Number as a 128-bit
 *   big-endian integer (§5.2); the packager should write an explicit `IV=0x…` instead when
 *   segments can be renumbered (e.g. a VOD built from a live session);
 * - the key file is exactly 16 raw bytes, served with `Cache-Control: private, no-store`.
 * @param secret the content-key secret, at least {@link CONTENT_KEY_SECRET_MIN_BYTES} bytes.
 * @param sessionId the stream session.
 * @param keyIndex the key period, an integer ≥ 0 (segment index / rotateEverySegments, rounded down).
 * @returns 16 bytes.
 * @throws TypeError when the secret is too short, the session id empty, or the index not a non-negative safe integer.
 */
export function deriveContentKey(secret: Buffer, sessionId: string, keyIndex: number): Buffer {
  if (!Buffer.isBuffer(secret) || secret.length < CONTENT_KEY_SECRET_MIN_BYTES) throw new TypeError(`deriveContentKey: the secret must be at least ${CONTENT_KEY_SECRET_MIN_BYTES} bytes`);
  if (typeof sessionId !== 'string' || sessionId.length === 0) throw new TypeError('deriveContentKey: sessionId is required');
  if (!Number.isSafeInteger(keyIndex) || keyIndex < 0) throw new TypeError('deriveContentKey: keyIndex must be an integer >= 0');
  return createHmac('sha256', secret).update(`hls-aes128\0${sessionId}\0${keyIndex}`).digest().subarray(0, 16);
}

/**
 * The edge path of a content key, used as the EXT-X-KEY `URI` (the edge appends `token=`):
 * `/keys/<sessionId>/<keyIndex>.key`.
 * @throws TypeError when the session id is not `[A-Za-z0-9_-]{1,128}` or the index not a non-negative safe integer.
 */
export function contentKeyPath(sessionId: string, keyIndex: number): string {
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(sessionId)) throw new TypeError('contentKeyPath: invalid sessionId');
  if (!Number.isSafeInteger(keyIndex) || keyIndex < 0) throw new TypeError('contentKeyPath: keyIndex must be an integer >= 0');
  return `/keys/${sessionId}/${keyIndex}.key`;
}

/**
 * Parses `CONTENT_KEY_SECRET`: base64 (or base64url) of at least 16 bytes, or `hex:<hex>`.
 * @throws TypeError when it decodes to fewer than {@link CONTENT_KEY_SECRET_MIN_BYTES} bytes.
 */
export function parseContentKeySecret(text: string): Buffer {
  const t = text.trim();
  const buf = t.startsWith('hex:') ? Buffer.from(t.slice(4), 'hex') : Buffer.from(t, 'base64');
  if (buf.length < CONTENT_KEY_SECRET_MIN_BYTES) throw new TypeError(`CONTENT_KEY_SECRET must decode to at least ${CONTENT_KEY_SECRET_MIN_BYTES} bytes (base64, or hex:<hex>)`);
  return buf;
}
