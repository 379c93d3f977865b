/**
 * Access tokens: short-lived JWTs (RFC 7519) in JWS compact serialisation (RFC 7515), HS256
 * over a key ring so that secrets rotate without signing anyone out. Follows the JWT Best
 * Current Practices (RFC 8725): one allowed algorithm, explicit typing (`typ: at+jwt`, RFC 9068
 * §2.1), issuer and audience checked, keys chosen by `kid` from the ring only.
 */
import { randomUUID } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import type { Role } from '@live/events';

/** One HMAC key of the access-token key ring. */
export interface JwtKey {
  /** Key id, sent as the JWT header `kid`. `[A-Za-z0-9_-]{1,64}`. */
  readonly kid: string;
  /** At least 32 bytes of secret. */
  readonly secret: string;
}

/** The authenticated caller, from a verified access token. */
export interface AuthUser {
  readonly userId: string;
  readonly username: string;
  /** Global roles: always `viewer`; `streamer` when they own a channel; `admin`. */
  readonly roles: readonly Role[];
}

/** Why a token was refused: the error catalogues' codes (API and chat gateway share them). */
export type TokenErrorCode = 'TOKEN_INVALID' | 'TOKEN_EXPIRED';

/** Thrown by {@link verifyAccessToken}; `code` is the catalogue code to answer with. */
export class TokenError extends Error {
  override readonly name = 'TokenError';
  constructor(readonly code: TokenErrorCode) {
    super(code === 'TOKEN_EXPIRED' ? 'the access token has expired' : 'the access token is not valid');
  }
}

/** `iss` of every access token. */
export const JWT_ISSUER = 'live-platform';
/** `aud` of every access token. */
export const JWT_AUDIENCE = 'live-api';
/** JOSE header `typ` of access tokens (RFC 9068 §2.1), so no other JWT passes as one (RFC 8725 §3.11). */
export const ACCESS_TOKEN_TYP = 'at+jwt';
/** The only JWS algorithm signed and accepted. `none`, RS*, ES*, PS*, EdDSA are all refused. */
export const JWT_ALGORITHM = 'HS256';
/** Shortest secret accepted, bytes (RFC 7518 §3.2: an HS256 key must be at least the hash size). */
export const JWT_MIN_SECRET_BYTES = 32;

/** Longest token string considered at all (a real one is ~450 characters). */
const MAX_TOKEN_LENGTH = 4096;
const KID = /^[A-Za-z0-9_-]{1,64}$/;
const TOKEN_ROLES: readonly Role[] = ['viewer', 'streamer', 'admin'];

/** The claims set of an access token (RFC 7519 §4). Times are seconds since the Unix epoch. */
export interface AccessTokenClaims {
  /** The user id. */
  readonly sub: string;
  /** The username. */
  readonly name: string;
  /** Global roles at issue time: `viewer` always, `streamer`, `admin`. */
  readonly roles: readonly Role[];
  readonly iss: typeof JWT_ISSUER;
  readonly aud: typeof JWT_AUDIENCE;
  readonly iat: number;
  readonly exp: number;
  /** Unique token id (UUIDv4). */
  readonly jti: string;
}

/** A signed access token and its lifetime. */
export interface SignedAccessToken {
  /** The compact JWS (`header.payload.signature`). */
  readonly accessToken: string;
  /** Seconds until it expires (the config's `accessTokenTtlSeconds`). */
  readonly expiresIn: number;
}

type KeyRing = ReadonlyMap<string, Uint8Array>;
const rings = new WeakMap<readonly JwtKey[], KeyRing>();

/**
 * Checks the key ring and returns it as `kid → secret bytes` (cached per ring array).
 * Called once at start-up by the authenticator, so a bad configuration fails there.
 * @throws TypeError when the ring is empty, a `kid` is not `[A-Za-z0-9_-]{1,64}` or repeats,
 *   or a secret is shorter than {@link JWT_MIN_SECRET_BYTES} bytes (UTF-8).
 */
export function assertKeyRing(keys: readonly JwtKey[]): void {
  keyRing(keys);
}

function keyRing(keys: readonly JwtKey[]): KeyRing {
  const cached = rings.get(keys);
  if (cached) return cached;
  if (keys.length === 0) throw new TypeError('jwtKeys needs at least one key');
  const ring = new Map<string, Uint8Array>();
  for (const k of keys) {
    if (!KID.test(k.kid)) throw new TypeError(`jwtKeys: kid ${JSON.stringify(k.kid)} must match ${KID.source}`);
    if (ring.has(k.kid)) throw new TypeError(`jwtKeys: kid ${k.kid} appears twice`);
    const secret = new TextEncoder().encode(k.secret);
    if (secret.length < JWT_MIN_SECRET_BYTES) throw new TypeError(`jwtKeys: the secret of ${k.kid} is shorter than ${JWT_MIN_SECRET_BYTES} bytes`);
    ring.set(k.kid, secret);
  }
  rings.set(keys, ring);
  return ring;
}

/**
 * Signs an access token for `user` with the first key of `config.jwtKeys` (header
 * `{ alg: HS256, typ: at+jwt, kid }`), valid for `config.accessTokenTtlSeconds`.
 * Claims: see {@link AccessTokenClaims}.
 * @param nowMs issue time, ms since the epoch (default: now).
 * @throws TypeError when the key ring is invalid (see {@link assertKeyRing}).
 */
export async function signAccessToken(
  config: { readonly jwtKeys: readonly JwtKey[]; readonly accessTokenTtlSeconds: number },
  user: AuthUser,
  nowMs: number = Date.now(),
): Promise<SignedAccessToken> {
  const ring = keyRing(config.jwtKeys);
  const first = config.jwtKeys[0]!;
  const iat = Math.floor(nowMs / 1000);
  const accessToken = await new SignJWT({ name: user.username, roles: [...user.roles] })
    .setProtectedHeader({ alg: JWT_ALGORITHM, typ: ACCESS_TOKEN_TYP, kid: first.kid })
    .setSubject(user.userId)
    .setIssuer(JWT_ISSUER)
    .setAudience(JWT_AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(iat + config.accessTokenTtlSeconds)
    .setJti(randomUUID())
    .sign(ring.get(first.kid)!);
  return { accessToken, expiresIn: config.accessTokenTtlSeconds };
}

/**
 * Verifies an access token and returns the caller it names.
 * Steps: the protected header is read without trusting it (RFC 7515 §5.2); its `alg` must be
 * HS256 and its `kid` one of the ring (any key of the ring verifies, so tokens signed before a
 * rotation keep working until they expire); then the signature, `typ`, `iss`, `aud`, `exp`,
 * `iat`, and the shapes of `sub`, `name`, `roles`, `jti` are checked.
 * Error messages are the catalogue's, never jose's.
 * @param nowMs the current time, ms since the epoch (default: now); `exp` has no leeway.
 * @throws TokenError TOKEN_EXPIRED when the token is authentic but past `exp`.
 * @throws TokenError TOKEN_INVALID for anything else: malformed, `alg: none` or any other
 *   algorithm, missing or unknown `kid`, bad signature, wrong `typ`/`iss`/`aud`, bad claims.
 */
export async function verifyAccessToken(config: { readonly jwtKeys: readonly JwtKey[] }, token: string, nowMs?: number): Promise<AuthUser> {
  const ring = keyRing(config.jwtKeys);
  if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) throw new TokenError('TOKEN_INVALID');
  let header: { alg?: unknown; kid?: unknown };
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw new TokenError('TOKEN_INVALID');
  }
  if (header.alg !== JWT_ALGORITHM) throw new TokenError('TOKEN_INVALID');
  const secret = typeof header.kid === 'string' ? ring.get(header.kid) : undefined;
  if (!secret) throw new TokenError('TOKEN_INVALID');
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, secret, {
      algorithms: [JWT_ALGORITHM],
      typ: ACCESS_TOKEN_TYP,
      issuer: JWT_ISSUER,
      audience: JWT_AUDIENCE,
      requiredClaims: ['sub', 'iat', 'exp', 'jti'],
      ...(nowMs !== undefined ? { currentDate: new Date(nowMs) } : {}),
    }));
  } catch (err) {
    // jose checks the signature before the claims, so "expired" implies "authentic".
    if (err instanceof joseErrors.JWTExpired) throw new TokenError('TOKEN_EXPIRED');
    throw new TokenError('TOKEN_INVALID');
  }
  const { sub, name, roles, jti } = payload;
  if (typeof sub !== 'string' || sub.length === 0 || typeof name !== 'string' || typeof jti !== 'string') throw new TokenError('TOKEN_INVALID');
  if (!Array.isArray(roles) || !roles.every((r): r is Role => TOKEN_ROLES.includes(r as Role))) throw new TokenError('TOKEN_INVALID');
  return { userId: sub, username: name, roles: [...new Set(roles)] };
}

/**
 * Parses the `JWT_KEYS` environment form of a key ring: `kid:secret[,kid:secret…]` (the first
 * signs; every key verifies), then checks it ({@link assertKeyRing}).
 * @throws TypeError naming the rule broken (missing `:`, bad kid, short secret, repeated kid).
 */
export function parseJwtKeys(text: string): JwtKey[] {
  const keys = text.split(',').map((pair) => {
    const i = pair.indexOf(':');
    if (i < 0) throw new TypeError('JWT_KEYS must be kid:secret pairs separated by commas');
    return { kid: pair.slice(0, i).trim(), secret: pair.slice(i + 1).trim() };
  });
  assertKeyRing(keys);
  return keys;
}

/**
 * The playback-token key ring a process verifies with, from its settings: `PLAYBACK_KEYS` when
 * set, else `JWT_KEYS` (the API signs playback tokens by the same rule), parsed as
 * {@link parseJwtKeys}; undefined when neither is set. The edge and the ingest's WHEP endpoint
 * read it this way.
 * @throws TypeError whose message starts with the variable that does not parse (`PLAYBACK_KEYS: …`),
 *   for `checkSettings` of `@live/runtime` to report as that variable's error.
 */
export function playbackKeysFromSettings(s: { readonly PLAYBACK_KEYS?: string | undefined; readonly JWT_KEYS?: string | undefined }): JwtKey[] | undefined {
  const name = s.PLAYBACK_KEYS ? 'PLAYBACK_KEYS' : s.JWT_KEYS ? 'JWT_KEYS' : undefined;
  if (name === undefined) return undefined;
  try {
    return parseJwtKeys(s[name]!);
  } catch (err) {
    const message = (err as Error).message;
    throw new TypeError(message.startsWith(name) ? message : `${name}: ${message}`);
  }
}

/**
 * The `exp` of an access token, seconds since the Unix epoch, read WITHOUT verifying anything:
 * call it only on a token {@link verifyAccessToken} accepted (a long-lived connection uses it to
 * know when the caller must present a fresh token).
 * @throws TokenError TOKEN_INVALID when the token cannot be decoded or has no numeric `exp`.
 */
export function accessTokenExpiry(token: string): number {
  let exp: unknown;
  try {
    exp = decodeJwt(token).exp;
  } catch {
    throw new TokenError('TOKEN_INVALID');
  }
  if (typeof exp !== 'number') throw new TokenError('TOKEN_INVALID');
  return exp;
}
