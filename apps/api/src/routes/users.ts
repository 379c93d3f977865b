/**
 * Accounts: registration, sign-in, token refresh and sign-out, the caller's own account,
 * public profiles, and admin role changes. Commands append events to EVENTS (producer `api`)
 * and read the Postgres read models (`users`, `channels`); credentials that are not facts of
 * the domain (refresh tokens, failed sign-ins) live in their own command-side tables.
 *
 * Passwords: argon2id (RFC 9106, OWASP Password Storage Cheat Sheet; auth/passwords.ts). Access
 * tokens: JWT/JWS HS256 (RFC 7519, RFC 7515; auth/tokens.ts). Refresh tokens: rotation with reuse
 * detection (OAuth 2.0 Security BCP, RFC 9700 §4.14.2; auth/refresh.ts). Sign-in throttling:
 * auth/throttle.ts.
 *
 * Logs name users by `userId` only: never a password, a token or a hash.
 */
import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { FormatRegistry, Type, type Static } from '@sinclair/typebox';
import {
  domainEvent, EVENTS_STREAM, formatUuidV7, uniqueClaimSubject, userSubject,
  type EventEnvelope, type GlobalRole, type Role, type UniqueValueKind,
} from '@live/events';
import type { Db } from '@live/db';
import { ConcurrencyError, lastSubjectMessage, subjectHasMessages } from '@live/messaging';
import { requireRole, requireUser, type ApiApp, type ApiContext, type AuthUser } from '../context.js';
import { ApiError, ErrorBody } from '../errors.js';
import { cleanText } from '../text.js';
import { checkPasswordPolicy, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../auth/passwords.js';
import { signAccessToken } from '../auth/tokens.js';
import { issueRefreshToken, revokeRefreshFamily, revokeUserRefreshTokens, rotateRefreshToken } from '../auth/refresh.js';
import { loginThrottleKeys, recordLoginSuccess, reserveLoginAttempt, type LoginThrottlePolicy } from '../auth/throttle.js';

import { strictValidator } from '../validation.js';

const PRODUCER = 'api';

// ---------------------------------------------------------------------------------------------
// Validation. Bodies are checked strictly with TypeBox's compiler instead of Fastify's default
// Ajv, which coerces types (`{"username": true}` would become "true") and silently strips unknown
// properties: here a wrong type or an unknown property is a VALIDATION_FAILED.

// The "email" format of ajv-formats (`fast` mode): a practical subset of RFC 5321 addresses.
const EMAIL = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;
if (!FormatRegistry.Has('email')) FormatRegistry.Set('email', (v) => EMAIL.test(v));

// ---------------------------------------------------------------------------------------------
// Schemas.

const UserId = Type.String({ pattern: '^[A-Za-z0-9_-]{1,128}$', description: 'User id (UUIDv7).' });
const Username = Type.String({ pattern: '^[A-Za-z0-9_]{3,32}$', description: 'Letters, digits and underscore; unique case-insensitively.' });
const Email = Type.String({ format: 'email', maxLength: 254, description: 'Stored lower-cased; unique.' });
const NewPassword = Type.String({ minLength: PASSWORD_MIN_LENGTH, maxLength: PASSWORD_MAX_LENGTH * 2, description: `${PASSWORD_MIN_LENGTH}..${PASSWORD_MAX_LENGTH} characters, no control characters.` });
const AnyPassword = Type.String({ minLength: 1, maxLength: 1024 });
// Generous UTF-16 bounds here; cleanText enforces the real limits in code points after NFC.
const DisplayName = Type.String({ maxLength: 400, description: '1..50 characters (NFC); no control or invisible formatting characters.' });
const Bio = Type.String({ maxLength: 2400, description: 'Up to 300 characters (NFC); newlines allowed.' });
const RefreshToken = Type.String({ minLength: 1, maxLength: 256, description: 'Opaque refresh token (`rt_…`).' });
const RoleName = Type.Literal('admin');

const SelfView = Type.Object({
  userId: Type.String(),
  username: Type.String(),
  email: Type.String(),
  displayName: Type.String(),
  bio: Type.String(),
  roles: Type.Array(Type.Union([Type.Literal('viewer'), Type.Literal('streamer'), Type.Literal('admin')])),
  createdAt: Type.String({ format: 'date-time' }),
  channelId: Type.Union([Type.String(), Type.Null()]),
});
type SelfView = Static<typeof SelfView>;

const PublicProfile = Type.Object({
  userId: Type.String(),
  username: Type.String(),
  displayName: Type.String(),
  bio: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  channelId: Type.Union([Type.String(), Type.Null()]),
});

const Tokens = {
  accessToken: Type.String({ description: 'JWT (HS256) for `Authorization: Bearer`.' }),
  refreshToken: Type.String({ description: 'Single-use refresh token; rotate it with POST /api/auth/refresh.' }),
  expiresIn: Type.Integer({ description: 'Seconds until the access token expires.' }),
};
const Session = Type.Object({ user: SelfView, ...Tokens });
const TokenPair = Type.Object(Tokens);

const RegisterBody = Type.Object({
  username: Username,
  email: Email,
  password: NewPassword,
  displayName: Type.Optional(DisplayName),
}, { additionalProperties: false });

const LoginBody = Type.Object({
  username: Type.String({ minLength: 1, maxLength: 254, description: 'Username or email address.' }),
  password: AnyPassword,
}, { additionalProperties: false });

const RefreshBody = Type.Object({ refreshToken: RefreshToken }, { additionalProperties: false });

const PatchMeBody = Type.Object({
  displayName: Type.Optional(DisplayName),
  bio: Type.Optional(Bio),
  currentPassword: Type.Optional(AnyPassword),
  newPassword: Type.Optional(NewPassword),
}, { additionalProperties: false });

const RoleBody = Type.Object({ role: RoleName }, { additionalProperties: false });
const UserParams = Type.Object({ userId: UserId }, { additionalProperties: false });
const UserRoleParams = Type.Object({ userId: UserId, role: RoleName }, { additionalProperties: false });
const NoContent = Type.Null({ description: 'No content.' });

const errors = (...statuses: number[]) => Object.fromEntries(statuses.map((s) => [s, ErrorBody]));
const bearer = [{ bearer: [] }];

// ---------------------------------------------------------------------------------------------
// Helpers.

interface UserRow {
  id: string;
  username: string;
  username_lower: string;
  email: string;
  display_name: string;
  bio: string;
  password_hash: string;
  is_admin: boolean;
  created_at: Date;
}

const USER_COLUMNS = ['id', 'username', 'username_lower', 'email', 'display_name', 'bio', 'password_hash', 'is_admin', 'created_at'] as const;

async function userById(db: Db, userId: string): Promise<UserRow | undefined> {
  return db.selectFrom('users').select(USER_COLUMNS).where('id', '=', userId).executeTakeFirst();
}

/** The user's channel (the oldest one they own), or null. */
async function channelOf(db: Db, userId: string): Promise<string | null> {
  const ch = await db.selectFrom('channels').select('id').where('owner_user_id', '=', userId).orderBy('created_at').orderBy('id').limit(1).executeTakeFirst();
  return ch?.id ?? null;
}

/** Global roles from the read models: viewer always; streamer when owning a channel; admin. */
function rolesOf(row: Pick<UserRow, 'is_admin'>, channelId: string | null): Role[] {
  return ['viewer', ...(channelId ? ['streamer' as const] : []), ...(row.is_admin ? ['admin' as const] : [])];
}

async function selfView(db: Db, row: UserRow): Promise<SelfView> {
  const channelId = await channelOf(db, row.id);
  return {
    userId: row.id, username: row.username, email: row.email, displayName: row.display_name, bio: row.bio,
    roles: rolesOf(row, channelId) as SelfView['roles'], createdAt: row.created_at.toISOString(), channelId,
  };
}

function throttlePolicy(ctx: ApiContext): LoginThrottlePolicy {
  const c = ctx.config;
  return {
    pair: { freeFailures: c.loginPairFreeFailures, maxDelaySeconds: c.loginMaxDelaySeconds },
    address: { freeFailures: c.loginAddressFreeFailures, maxDelaySeconds: c.loginMaxDelaySeconds },
    account: { freeFailures: c.loginAccountFreeFailures, maxDelaySeconds: c.loginAccountMaxDelaySeconds },
    windowSeconds: c.loginWindowSeconds,
  };
}

/** A new sign-in: an access token and the first refresh token of a new family. */
async function startSession(ctx: ApiContext, user: AuthUser): Promise<{ accessToken: string; refreshToken: string; expiresIn: number }> {
  const now = ctx.clock.now();
  const { accessToken, expiresIn } = await signAccessToken(ctx.config, user, now);
  const { refreshToken } = await issueRefreshToken(ctx.db, { userId: user.userId, ttlSeconds: ctx.config.refreshTokenTtlSeconds, nowMs: now });
  return { accessToken, refreshToken, expiresIn };
}

/** Hex SHA-256 of `<kind>:<normalised value>`, first 40 characters: the claim subject's token. */
function claimDigest(kind: UniqueValueKind, value: string): string {
  return createHash('sha256').update(`${kind}:${value}`, 'utf8').digest('hex').slice(0, 40);
}

/** Sequence, type, time and user of the newest event on `subject`, or null when it holds none. */
async function lastEventOn(ctx: ApiContext, subject: string): Promise<{ seq: number; type: string | null; occurredAt: string | null; userId: string | null } | null> {
  if (!ctx.messaging) throw new ApiError('EVENT_LOG_UNAVAILABLE');
  let m: Awaited<ReturnType<typeof lastSubjectMessage>>;
  try {
    m = await lastSubjectMessage(ctx.messaging.jsm, EVENTS_STREAM, subject);
  } catch {
    throw new ApiError('EVENT_LOG_UNAVAILABLE');
  }
  if (!m) return null;
  const body = (typeof m.body === 'object' && m.body !== null ? m.body : {}) as { type?: unknown; occurredAt?: unknown; data?: { userId?: unknown } };
  return {
    seq: m.seq,
    type: typeof body.type === 'string' ? body.type : null,
    occurredAt: typeof body.occurredAt === 'string' ? body.occurredAt : null,
    userId: typeof body.data?.userId === 'string' ? body.data.userId : null,
  };
}

/**
 * A claim older than this whose user never registered is abandoned (its registration crashed
 * between claiming and `UserRegistered`) and may be taken over. A registration appends its
 * events within milliseconds, so two minutes leaves a wide margin.
 */
export const ABANDONED_CLAIM_MS = 2 * 60_000;

async function isAbandonedClaim(ctx: ApiContext, last: { type: string | null; occurredAt: string | null; userId: string | null }): Promise<boolean> {
  if (last.type !== 'UniqueValueClaimed' || !last.userId || !last.occurredAt) return false;
  if (ctx.clock.now() - Date.parse(last.occurredAt) < ABANDONED_CLAIM_MS) return false;
  if (!ctx.messaging) throw new ApiError('EVENT_LOG_UNAVAILABLE');
  // Whether the user's subject has any event: counted by the stream's subject index, without
  // reading one (the API's NATS user may not read `evt.user.*`, which carries password hashes).
  try {
    return !(await subjectHasMessages(ctx.messaging.jsm, EVENTS_STREAM, userSubject(last.userId)));
  } catch {
    throw new ApiError('EVENT_LOG_UNAVAILABLE');
  }
}

interface Claim {
  readonly kind: UniqueValueKind;
  readonly value: string;
  readonly subject: string;
  readonly seq: number;
}

/**
 * Claims a unique value for `userId` (set validation through the log): `UniqueValueClaimed`
 * is appended on `evt.claim.<kind>.<digest>` expecting the subject to be empty, or to end with
 * a `UniqueValueReleased` (a value given up may be claimed again) or an abandoned claim (see
 * {@link ABANDONED_CLAIM_MS}; the newest claim on the subject owns the value). Of concurrent claims exactly
 * one wins; the others see a ConcurrencyError and the winner's claim. Returns null when the
 * value is taken.
 */
async function claimUnique(ctx: ApiContext, kind: UniqueValueKind, value: string, userId: string): Promise<Claim | null> {
  const subject = uniqueClaimSubject(kind, claimDigest(kind, value));
  let expected = 0;
  for (let attempt = 0; attempt < 5; attempt++) {
    const event = domainEvent(ctx.clock, 'UniqueValueClaimed', subject, { kind, value, userId }, { producer: PRODUCER });
    try {
      return { kind, value, subject, seq: await ctx.append(event, { expectedLastSubjectSequence: expected }) };
    } catch (err) {
      if (!(err instanceof ConcurrencyError)) throw err;
      const last = await lastEventOn(ctx, subject);
      if (last === null) expected = 0;
      else if (last.type === 'UniqueValueReleased' || (await isAbandonedClaim(ctx, last))) expected = last.seq;
      else return null;
    }
  }
  throw new ApiError('CONFLICT');
}

/** Gives a claim back (guarded by the claim's own sequence). Best effort: a failure is logged. */
async function releaseClaim(ctx: ApiContext, req: FastifyRequest, claim: Claim, userId: string): Promise<void> {
  const event = domainEvent(ctx.clock, 'UniqueValueReleased', claim.subject, { kind: claim.kind, value: claim.value, userId }, { producer: PRODUCER });
  try {
    await ctx.append(event, { expectedLastSubjectSequence: claim.seq });
  } catch (err) {
    req.log.warn({ userId, kind: claim.kind, err: { name: (err as Error)?.name } }, 'could not release a unique-value claim');
  }
}

// ---------------------------------------------------------------------------------------------
// Routes.

/**
 * Registers the account routes (TypeBox schemas on every part, strict body validation, OpenAPI
 * tags `users` and `auth`):
 * - `POST /api/users/register` `{ username, email, password, displayName? }` → 201
 *   `{ user, accessToken, refreshToken, expiresIn }`; USERNAME_TAKEN, EMAIL_TAKEN (409),
 *   VALIDATION_FAILED. Uniqueness is kept by claims in the event log (see `UniqueValueClaimed`),
 *   not by database constraints, so it holds under any number of concurrent registrations.
 * - `POST /api/users/login` `{ username | email, password }` → 200 (same shape);
 *   INVALID_CREDENTIALS (same answer for an unknown user and a wrong password, same timing),
 *   LOGIN_THROTTLED (429 with `Retry-After`: progressive delays per account + address, per
 *   address and, much higher, per account; auth/throttle.ts).
 * - `POST /api/auth/refresh` `{ refreshToken }` → `{ accessToken, refreshToken, expiresIn }`;
 *   REFRESH_TOKEN_INVALID, REFRESH_TOKEN_REUSED (the family is revoked).
 * - `POST /api/auth/logout` `{ refreshToken }` → 204 (revokes the sign-in; idempotent).
 * - `GET /api/users/me` → the caller's account (with email and roles); UNAUTHENTICATED.
 * - `PATCH /api/users/me` `{ displayName?, bio?, currentPassword?, newPassword? }` → the
 *   account after `UserProfileUpdated` and/or `UserPasswordChanged` (which needs the right
 *   `currentPassword`, else INVALID_CREDENTIALS, and signs out every refresh token of the user).
 * - `GET /api/users/:userId` → public profile; USER_NOT_FOUND.
 * - `POST /api/users/:userId/roles` `{ role: 'admin' }`, `DELETE /api/users/:userId/roles/admin`
 *   → 204 (admins only: UNAUTHENTICATED, FORBIDDEN; USER_NOT_FOUND).
 * Roles in access tokens are computed from the read models at sign-in and refresh.
 */
export async function userRoutes(app: ApiApp, ctx: ApiContext): Promise<void> {
  const { db } = ctx;

  app.post('/api/users/register', {
    validatorCompiler: strictValidator,
    schema: {
      tags: ['users'], summary: 'Create an account and sign in',
      body: RegisterBody,
      response: { 201: Session, ...errors(400, 409, 413, 415, 429, 503) },
    },
  }, async (req, reply) => {
    const body = req.body;
    checkPasswordPolicy(body.password);
    const displayName = body.displayName === undefined ? body.username : cleanText(body.displayName, 'displayName', { min: 1, max: 50 });
    const usernameLower = body.username.toLowerCase();
    const email = body.email.toLowerCase();
    const roles: GlobalRole[] = ctx.config.adminUsernames.some((a) => a.toLowerCase() === usernameLower) ? ['admin'] : [];
    const passwordHash = await ctx.passwords.hash(body.password);
    const userId = formatUuidV7(ctx.clock.now(), ctx.clock.randomBytes(10));

    const usernameClaim = await claimUnique(ctx, 'username', usernameLower, userId);
    if (!usernameClaim) throw new ApiError('USERNAME_TAKEN');
    let emailClaim: Claim | null;
    try {
      emailClaim = await claimUnique(ctx, 'email', email, userId);
    } catch (err) {
      await releaseClaim(ctx, req, usernameClaim, userId);
      throw err;
    }
    if (!emailClaim) {
      await releaseClaim(ctx, req, usernameClaim, userId);
      throw new ApiError('EMAIL_TAKEN');
    }
    const registered = domainEvent(ctx.clock, 'UserRegistered', userSubject(userId), {
      userId, username: body.username, email, displayName, passwordHash, roles,
    }, { producer: PRODUCER, correlationId: userId });
    let seq: number;
    try {
      seq = await ctx.append(registered, { expectedLastSubjectSequence: 0 });
    } catch (err) {
      await releaseClaim(ctx, req, emailClaim, userId);
      await releaseClaim(ctx, req, usernameClaim, userId);
      throw err instanceof ConcurrencyError ? new ApiError('CONFLICT') : err;
    }
    await ctx.projected(seq);
    req.log.info({ userId, admin: roles.includes('admin') }, 'user registered');
    const user: SelfView = {
      userId, username: body.username, email, displayName, bio: '',
      roles: ['viewer', ...roles], createdAt: registered.occurredAt, channelId: null,
    };
    const tokens = await startSession(ctx, { userId, username: body.username, roles: user.roles });
    return reply.status(201).send({ user, ...tokens });
  });

  app.post('/api/users/login', {
    validatorCompiler: strictValidator,
    schema: {
      tags: ['auth'], summary: 'Sign in with a username (or email) and password',
      body: LoginBody,
      response: { 200: Session, ...errors(400, 401, 413, 415, 429) },
    },
  }, async (req) => {
    const identifier = req.body.username.toLowerCase();
    const row = await db.selectFrom('users').select(USER_COLUMNS)
      .where(identifier.includes('@') ? 'email' : 'username_lower', '=', identifier).executeTakeFirst();
    const reservation = await reserveLoginAttempt(db, loginThrottleKeys(row?.username_lower ?? identifier, req.ip), throttlePolicy(ctx), ctx.clock.now());
    const ok = row ? await ctx.passwords.verify(row.password_hash, req.body.password) : await ctx.passwords.verifyDummy(req.body.password);
    if (!row || !ok) {
      req.log.info({ userId: row?.id ?? null }, 'sign-in refused');
      throw new ApiError('INVALID_CREDENTIALS');
    }
    await recordLoginSuccess(db, reservation, ctx.clock.now());
    const user = await selfView(db, row);
    req.log.info({ userId: row.id }, 'signed in');
    return { user, ...(await startSession(ctx, { userId: row.id, username: row.username, roles: user.roles })) };
  });

  app.post('/api/auth/refresh', {
    validatorCompiler: strictValidator,
    schema: {
      tags: ['auth'], summary: 'Exchange a refresh token for new tokens (rotation)',
      body: RefreshBody,
      response: { 200: TokenPair, ...errors(400, 401, 413, 415) },
    },
  }, async (req) => {
    const now = ctx.clock.now();
    let next;
    try {
      next = await rotateRefreshToken(db, req.body.refreshToken, { ttlSeconds: ctx.config.refreshTokenTtlSeconds, nowMs: now });
    } catch (err) {
      if (err instanceof ApiError && err.code === 'REFRESH_TOKEN_REUSED') req.log.warn({}, 'refresh token reused; its sign-in was revoked');
      throw err;
    }
    const row = await userById(db, next.userId);
    if (!row) {
      await revokeRefreshFamily(db, next.refreshToken, now);
      throw new ApiError('REFRESH_TOKEN_INVALID');
    }
    const roles = rolesOf(row, await channelOf(db, row.id));
    const { accessToken, expiresIn } = await signAccessToken(ctx.config, { userId: row.id, username: row.username, roles }, now);
    return { accessToken, refreshToken: next.refreshToken, expiresIn };
  });

  app.post('/api/auth/logout', {
    validatorCompiler: strictValidator,
    schema: {
      tags: ['auth'], summary: 'Sign out: revoke the refresh token and every token of its sign-in',
      body: RefreshBody,
      response: { 204: NoContent, ...errors(400, 413, 415) },
    },
  }, async (req, reply) => {
    await revokeRefreshFamily(db, req.body.refreshToken, ctx.clock.now());
    return reply.status(204).send(null);
  });

  app.get('/api/users/me', {
    schema: {
      tags: ['users'], summary: 'The caller\'s account', security: bearer,
      response: { 200: SelfView, ...errors(401, 404) },
    },
  }, async (req) => {
    const me = requireUser(req);
    const row = await userById(db, me.userId);
    if (!row) throw new ApiError('USER_NOT_FOUND');
    return selfView(db, row);
  });

  app.patch('/api/users/me', {
    validatorCompiler: strictValidator,
    schema: {
      tags: ['users'], summary: 'Update the caller\'s profile and/or password', security: bearer,
      body: PatchMeBody,
      response: { 200: SelfView, ...errors(400, 401, 404, 413, 415, 429, 503) },
    },
  }, async (req) => {
    const me = requireUser(req);
    const body = req.body;
    // Every check of the input comes before any verification or write.
    const displayName = body.displayName === undefined ? undefined : cleanText(body.displayName, 'displayName', { min: 1, max: 50 });
    const bio = body.bio === undefined ? undefined : cleanText(body.bio, 'bio', { max: 300, multiline: true });
    if (body.newPassword !== undefined) {
      if (body.currentPassword === undefined) throw new ApiError('VALIDATION_FAILED', 'currentPassword is required to change the password');
      checkPasswordPolicy(body.newPassword, 'newPassword');
    }
    const row = await userById(db, me.userId);
    if (!row) throw new ApiError('USER_NOT_FOUND');

    const events: EventEnvelope[] = [];
    const subject = userSubject(row.id);
    if ((displayName !== undefined && displayName !== row.display_name) || (bio !== undefined && bio !== row.bio)) {
      events.push(domainEvent(ctx.clock, 'UserProfileUpdated', subject, {
        userId: row.id, displayName: displayName ?? row.display_name, bio: bio ?? row.bio,
      }, { producer: PRODUCER }));
    }
    if (body.newPassword !== undefined) {
      // Same throttle as sign-in: a stolen access token must not be a password-guessing oracle.
      const reservation = await reserveLoginAttempt(db, loginThrottleKeys(row.username_lower, req.ip), throttlePolicy(ctx), ctx.clock.now());
      if (!(await ctx.passwords.verify(row.password_hash, body.currentPassword!))) throw new ApiError('INVALID_CREDENTIALS', 'currentPassword is wrong.');
      await recordLoginSuccess(db, reservation, ctx.clock.now());
      events.push(domainEvent(ctx.clock, 'UserPasswordChanged', subject, { userId: row.id, passwordHash: await ctx.passwords.hash(body.newPassword) }, { producer: PRODUCER }));
    }
    if (events.length > 0) await ctx.commit(events);
    if (body.newPassword !== undefined) {
      // After the commit (projected): a sign-in with the old password that raced this change
      // created its family before now, so it is revoked too.
      const revoked = await revokeUserRefreshTokens(db, row.id, ctx.clock.now());
      req.log.info({ userId: row.id, revokedRefreshTokens: revoked }, 'password changed');
    }
    const after = await userById(db, row.id);
    return selfView(db, after ?? row);
  });

  const publicProfile = async (row: UserRow | undefined) => {
    if (!row) throw new ApiError('USER_NOT_FOUND');
    return {
      userId: row.id, username: row.username, displayName: row.display_name, bio: row.bio,
      createdAt: row.created_at.toISOString(), channelId: await channelOf(db, row.id),
    };
  };

  app.get('/api/users/:userId', {
    validatorCompiler: strictValidator,
    schema: {
      tags: ['users'], summary: 'A user\'s public profile',
      params: UserParams,
      response: { 200: PublicProfile, ...errors(400, 404) },
    },
  }, async (req) => publicProfile(await userById(db, req.params.userId)));

  // By username (case-insensitively), for moderators naming whom to ban or appoint.
  app.get('/api/users/by-name/:username', {
    validatorCompiler: strictValidator,
    schema: {
      tags: ['users'], summary: 'A user\'s public profile, by username',
      params: Type.Object({ username: Username }, { additionalProperties: false }),
      response: { 200: PublicProfile, ...errors(400, 404) },
    },
  }, async (req) => publicProfile(await db.selectFrom('users').select(USER_COLUMNS).where('username_lower', '=', req.params.username.toLowerCase()).executeTakeFirst()));

  /** Admin check against the read model too: an admin demoted a second ago is refused at once. */
  async function requireCurrentAdmin(req: FastifyRequest): Promise<AuthUser> {
    const actor = requireRole(req, 'admin');
    const row = await db.selectFrom('users').select('is_admin').where('id', '=', actor.userId).executeTakeFirst();
    if (!row?.is_admin) throw new ApiError('FORBIDDEN', 'This needs the admin role.');
    return actor;
  }

  async function changeRole(req: FastifyRequest, userId: string, type: 'UserRoleGranted' | 'UserRoleRevoked'): Promise<void> {
    const actor = await requireCurrentAdmin(req);
    const target = await db.selectFrom('users').select(['id', 'is_admin']).where('id', '=', userId).executeTakeFirst();
    if (!target) throw new ApiError('USER_NOT_FOUND');
    // Idempotent: granting a role the user has (or revoking one they lack) appends nothing.
    if (target.is_admin === (type === 'UserRoleGranted')) return;
    await ctx.commit([domainEvent(ctx.clock, type, userSubject(userId), { userId, role: 'admin', actorUserId: actor.userId }, { producer: PRODUCER })]);
    req.log.info({ userId, actorUserId: actor.userId, role: 'admin', change: type }, 'global role changed');
  }

  app.post('/api/users/:userId/roles', {
    validatorCompiler: strictValidator,
    schema: {
      tags: ['users'], summary: 'Grant a global role (admins only)', security: bearer,
      params: UserParams, body: RoleBody,
      response: { 204: NoContent, ...errors(400, 401, 403, 404, 413, 415, 503) },
    },
  }, async (req, reply) => {
    await changeRole(req, req.params.userId, 'UserRoleGranted');
    return reply.status(204).send(null);
  });

  app.delete('/api/users/:userId/roles/:role', {
    validatorCompiler: strictValidator,
    schema: {
      tags: ['users'], summary: 'Revoke a global role (admins only)', security: bearer,
      params: UserRoleParams,
      response: { 204: NoContent, ...errors(400, 401, 403, 404, 503) },
    },
  }, async (req, reply) => {
    await changeRole(req, req.params.userId, 'UserRoleRevoked');
    return reply.status(204).send(null);
  });
}
