import type { FastifyBaseLogger, FastifyInstance, FastifyRequest, RawReplyDefaultExpression, RawRequestDefaultExpression, RawServerDefault } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { EventClock, EventEnvelope, Role } from '@live/events';
import { waitForProjection, type Db } from '@live/db';
import { appendEvent, ConcurrencyError, type Messaging } from '@live/messaging';
import { ApiError } from './errors.js';
import { PasswordHasher } from './auth/passwords.js';
import type { AuthUser, JwtKey, SealingKey } from '@live/auth';
import type { EdgePathway } from '@live/runtime';

export type { AuthUser, JwtKey } from '@live/auth';

/** The Fastify instance type every route module receives (TypeBox type provider). */
export type ApiApp = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>;

/** Settings of the API (environment in `main.ts`, literals in tests). */
export interface ApiConfig {
  /**
   * Access-token key ring: the first key signs; every key verifies. Rotating the secret = put a
   * new key first and keep the old one until its tokens have expired (no one is logged out).
   */
  readonly jwtKeys: readonly JwtKey[];
  /** Access-token lifetime, seconds (default 900). */
  readonly accessTokenTtlSeconds: number;
  /** Refresh-token lifetime, seconds (default 30 days). */
  readonly refreshTokenTtlSeconds: number;
  /** Default stream-key lifetime, days (default 30). */
  readonly streamKeyTtlDays: number;
  /** RTMP URL publishers are told to use, e.g. `rtmp://127.0.0.1:1935/live`. */
  readonly ingestUrl: string;
  /** SRT listener publishers are told to use, `srt://host:port`; '' = not offered. */
  readonly srtIngestUrl: string;
  /** Base of WHIP publish URLs (`<base>/<channelId>`), e.g. `https://live.example.com/whip`; '' = not offered. */
  readonly whipIngestBaseUrl: string;
  /** Prefix of playback URLs (the edge's public base URL); '' = same-origin paths. */
  readonly edgeBaseUrl: string;
  /** Base of WHEP playback URLs (`<base>/<channelId>`, the ingest's WHIP listener), e.g. `https://live.example.com/whep`; '' = no WHEP. */
  readonly whepBaseUrl: string;
  /** Usernames that become admins when they register (bootstrap of the first admin). */
  readonly adminUsernames: readonly string[];
  /** How long a command waits for the read models to include its events, ms (default 5000). */
  readonly projectionTimeoutMs: number;
  /**
   * Failed sign-ins to one account from one address that cost no delay (default 5); each further
   * one makes that pair wait 1 s, 2 s, 4 s … up to `loginMaxDelaySeconds` (auth/throttle.ts).
   */
  readonly loginPairFreeFailures: number;
  /** Failed sign-ins from one address over all accounts before its progressive delay starts (default 30). */
  readonly loginAddressFreeFailures: number;
  /**
   * Failed sign-ins to one account from all addresses before its progressive delay starts
   * (default 100, NIST SP 800-63B §5.2.2); capped at `loginAccountMaxDelaySeconds`, never a lockout.
   */
  readonly loginAccountFreeFailures: number;
  /** Longest delay of an account + address pair and of an address, seconds (default 300). */
  readonly loginMaxDelaySeconds: number;
  /** Longest delay of an account over all addresses, seconds (default 30). */
  readonly loginAccountMaxDelaySeconds: number;
  /** Password hashes and verifications (argon2id) computed at once; more wait their turn (default 1: half of a 2-core node). */
  readonly passwordHashConcurrency: number;
  /** A throttle key's failures are forgotten after this many seconds without an attempt once its delay ended (default 900). */
  readonly loginWindowSeconds: number;
  /**
   * Playback-token key ring (`PLAYBACK_KEYS`), shared with the edge; empty = sign playback tokens
   * with `jwtKeys` (the edge then needs the same ring). The first key signs.
   */
  readonly playbackKeys: readonly JwtKey[];
  /** Playback-token lifetime, seconds (default 600; the player asks for a new one before it ends). */
  readonly playbackTokenTtlSeconds: number;
  /**
   * Edges as HLS Content Steering Pathways (`EDGE_PATHWAYS`, steering.ts), health-checked every
   * `edgeHealthIntervalMs` (edges.ts); empty (default) = no steering manifest.
   */
  readonly edgePathways: readonly EdgePathway[];
  /** Interval of the edges' `/healthz` checks, ms (default 1000; a check times out after the same, at most 2 s). */
  readonly edgeHealthIntervalMs: number;
  /** TTL of the steering manifest, seconds (default 2): how soon players follow a change. */
  readonly steeringTtlSeconds: number;
  /** Seals restream destination keys (`RESTREAM_KEY_SECRET`); undefined: destinations cannot be added or given a new key. */
  readonly restreamSealing?: SealingKey;
}

/** Defaults of {@link ApiConfig} (all but `jwtKeys`). */
export const DEFAULT_API_CONFIG: Omit<ApiConfig, 'jwtKeys'> = {
  accessTokenTtlSeconds: 900,
  refreshTokenTtlSeconds: 30 * 24 * 3600,
  streamKeyTtlDays: 30,
  ingestUrl: 'rtmp://127.0.0.1:1935/live',
  srtIngestUrl: '',
  whipIngestBaseUrl: '',
  edgeBaseUrl: '',
  whepBaseUrl: '',
  adminUsernames: [],
  projectionTimeoutMs: 5000,
  loginPairFreeFailures: 5,
  loginAddressFreeFailures: 30,
  loginAccountFreeFailures: 100,
  loginMaxDelaySeconds: 300,
  loginAccountMaxDelaySeconds: 30,
  loginWindowSeconds: 900,
  passwordHashConcurrency: 1,
  playbackKeys: [],
  playbackTokenTtlSeconds: 600,
  edgePathways: [],
  edgeHealthIntervalMs: 1000,
  steeringTtlSeconds: 2,
};

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller, or null for an anonymous request. Set by the auth hook from `Authorization: Bearer`. */
    user: AuthUser | null;
  }
}

/** What every route module works with: dependencies plus the command helpers. */
export interface ApiContext {
  readonly db: Db;
  /** Null when the API runs without NATS (read-only); commands then fail with EVENT_LOG_UNAVAILABLE. */
  readonly messaging: Messaging | null;
  readonly config: ApiConfig;
  readonly clock: EventClock;
  /**
   * Appends one event to EVENTS (`Nats-Msg-Id` = event id) and returns its stream sequence.
   * `expectedLastSubjectSequence` makes it a guarded write on the event's subject (0 = empty).
   * @throws ConcurrencyError (from @live/messaging) when the guard fails.
   * @throws ApiError EVENT_LOG_UNAVAILABLE when JetStream does not answer; nothing was appended.
   */
  append(event: EventEnvelope, opts?: { expectedLastSubjectSequence?: number }): Promise<number>;
  /**
   * Appends events in order (each unguarded), then waits until the read models include the last
   * one, so the caller's next read sees its own write. Returns the last sequence.
   * @throws ApiError EVENT_LOG_UNAVAILABLE as {@link append}.
   */
  commit(events: readonly EventEnvelope[]): Promise<number>;
  /** Waits until the read models include `streamSequence` (see `waitForProjection`). */
  projected(streamSequence: number): Promise<boolean>;
  /** Password hashing and verification, at most `config.passwordHashConcurrency` at once. */
  readonly passwords: PasswordHasher;
}

/**
 * Builds the {@link ApiContext} over the given dependencies.
 */
export function createApiContext(deps: { db: Db; messaging: Messaging | null; config: ApiConfig; clock: EventClock }): ApiContext {
  const { db, messaging, config } = deps;
  const requireMessaging = (): Messaging => {
    if (!messaging) throw new ApiError('EVENT_LOG_UNAVAILABLE');
    return messaging;
  };
  const ctx: ApiContext = {
    db, messaging, config, clock: deps.clock,
    passwords: new PasswordHasher(config.passwordHashConcurrency),
    async append(event, opts = {}) {
      const m = requireMessaging();
      try {
        const r = await appendEvent(m.js, event, opts.expectedLastSubjectSequence !== undefined ? { expectedLastSubjectSequence: opts.expectedLastSubjectSequence } : {});
        return r.seq;
      } catch (err) {
        if (err instanceof ConcurrencyError) throw err;
        throw new ApiError('EVENT_LOG_UNAVAILABLE');
      }
    },
    async commit(events) {
      let seq = 0;
      for (const e of events) seq = await ctx.append(e);
      if (seq > 0) await ctx.projected(seq);
      return seq;
    },
    projected: (seq) => waitForProjection(db, seq, config.projectionTimeoutMs),
  };
  return ctx;
}

/**
 * The caller, or a 401.
 * @throws ApiError UNAUTHENTICATED for an anonymous request.
 */
export function requireUser(req: FastifyRequest): AuthUser {
  if (!req.user) throw new ApiError('UNAUTHENTICATED');
  return req.user;
}

/**
 * The caller when they hold `role` globally (admins pass every check), or a 401/403.
 * @throws ApiError UNAUTHENTICATED (anonymous) or FORBIDDEN (role missing).
 */
export function requireRole(req: FastifyRequest, role: Exclude<Role, 'moderator'>): AuthUser {
  const u = requireUser(req);
  if (!u.roles.includes(role) && !u.roles.includes('admin')) throw new ApiError('FORBIDDEN', `This needs the ${role} role.`);
  return u;
}

/** How a user relates to a channel, strongest first. */
export type ChannelRelation = 'admin' | 'owner' | 'moderator' | 'none';

/**
 * The caller's relation to `channelId`, read from the read models (not from the token, so a
 * moderator removed a second ago is refused at once).
 * @throws ApiError CHANNEL_NOT_FOUND when the channel does not exist.
 */
export async function channelRelation(db: Db, user: AuthUser | null, channelId: string): Promise<ChannelRelation> {
  const ch = await db.selectFrom('channels').select(['id', 'owner_user_id']).where('id', '=', channelId).executeTakeFirst();
  if (!ch) throw new ApiError('CHANNEL_NOT_FOUND');
  if (!user) return 'none';
  if (user.roles.includes('admin')) return 'admin';
  if (ch.owner_user_id === user.userId) return 'owner';
  const m = await db.selectFrom('channel_moderators').select('user_id').where('channel_id', '=', channelId).where('user_id', '=', user.userId).executeTakeFirst();
  return m ? 'moderator' : 'none';
}

/**
 * The caller when they own `channelId` (or are an admin; with `allowModerators`, also a
 * moderator of it).
 * @throws ApiError UNAUTHENTICATED, CHANNEL_NOT_FOUND, or NOT_CHANNEL_OWNER / FORBIDDEN.
 */
export async function requireChannelManager(ctx: ApiContext, req: FastifyRequest, channelId: string, opts: { allowModerators?: boolean } = {}): Promise<AuthUser> {
  const u = requireUser(req);
  const rel = await channelRelation(ctx.db, u, channelId);
  if (rel === 'admin' || rel === 'owner') return u;
  if (rel === 'moderator' && opts.allowModerators) return u;
  throw new ApiError(rel === 'moderator' ? 'FORBIDDEN' : 'NOT_CHANNEL_OWNER');
}
