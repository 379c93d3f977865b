import { Type, type Static } from '@sinclair/typebox';
import { channelSubject, domainEvent, MAX_PLAYBACK_ALLOWLIST, PLAYBACK_KEY_ROTATION_BOUNDS, type ChannelPlaybackPolicyChangedV2 } from '@live/events';
import { channelPlaybackPolicy, isPlaybackAllowListed } from '@live/db';
import { playbackKeyRing, signPlaybackToken, type PlaybackKeyRing } from '@live/auth';
import { ApiError, ErrorBody } from '../errors.js';
import { channelRelation, requireChannelManager, type ApiApp, type ApiContext } from '../context.js';
import { renderSteeringManifest, SteeringManifest } from '../steering.js';
import { startEdgeMonitor, type EdgeMonitor } from '../edges.js';

const PRODUCER = 'api';
const IdParam = Type.String({ pattern: '^[A-Za-z0-9_-]{1,128}$' });
const UserId = Type.String({ pattern: '^[A-Za-z0-9_-]{1,128}$' });

/** A channel's playback policy, as set and as returned. */
export const PlaybackPolicyView = Type.Object({
  channelId: Type.String(),
  visibility: Type.Union([Type.Literal('public'), Type.Literal('followers'), Type.Literal('allowlist')]),
  allowList: Type.Array(Type.String()),
  /** The usernames of `allowList`'s users, in the same order (what people type and read). */
  allowListUsernames: Type.Array(Type.String()),
  encryption: Type.Object({ enabled: Type.Boolean(), rotateEverySegments: Type.Integer() }),
  bindAddress: Type.Boolean(),
});
/** Static type of {@link PlaybackPolicyView}. */
export type PlaybackPolicyView = Static<typeof PlaybackPolicyView>;

/** Body of `PUT /api/channels/{channelId}/playback-policy`: the whole policy (omitted parts reset to their defaults). */
export const PlaybackPolicyBody = Type.Object({
  visibility: Type.Union([Type.Literal('public'), Type.Literal('followers'), Type.Literal('allowlist')]),
  allowList: Type.Optional(Type.Array(UserId, { maxItems: MAX_PLAYBACK_ALLOWLIST, uniqueItems: true, description: 'User ids allowed to watch when visibility is allowlist.' })),
  allowListUsernames: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
    maxItems: MAX_PLAYBACK_ALLOWLIST, description: 'Usernames (any case) allowed to watch, added to allowList.',
  })),
  encryption: Type.Optional(Type.Object({
    enabled: Type.Boolean(),
    rotateEverySegments: Type.Optional(Type.Integer({ minimum: PLAYBACK_KEY_ROTATION_BOUNDS.min, maximum: PLAYBACK_KEY_ROTATION_BOUNDS.max, description: 'A new AES-128 key every this many segments; 0 = one key per session (default 0).' })),
  }, { additionalProperties: false })),
  bindAddress: Type.Optional(Type.Boolean({ description: 'Bind every playback token of the channel to the requester\'s IP address (default false).' })),
}, { additionalProperties: false });

/** Answer to `POST /api/streams/{id}/playback-token`. */
export const PlaybackTokenAnswer = Type.Object({
  /** The playback token (URL-safe). */
  token: Type.String(),
  /** ISO-8601 expiry (second precision). Ask again before it passes. */
  expiresAt: Type.String({ format: 'date-time' }),
  /** `token=<token>`: the query parameter to append to playlist URLs (the edge propagates it to every child URI). */
  query: Type.String(),
});

/**
 * Signed-playback routes:
 * - `GET /api/channels/{channelId}/playback-policy` (owner, moderators, admins) and
 *   `PUT /api/channels/{channelId}/playback-policy` (owner or admin): appends
 *   ChannelPlaybackPolicyChanged and answers once the read model includes it. Allow-listed users
 *   come as ids (`allowList`) and/or usernames (`allowListUsernames`) and must exist
 *   (USER_NOT_FOUND otherwise); the view lists both.
 * - `POST /api/streams/{id}/playback-token` (id = channel id or session id; body
 *   `{ bindAddress?: boolean }`): a playback token for the channel (and, for a session id, only
 *   that session), valid `playbackTokenTtlSeconds`, carrying
 *   the channel's policy version (the edge refuses it once the policy changes) and, with
 *   `bindAddress` in the body or in the channel's policy, bound to the caller's address
 *   (`request.ip`). Who gets one: anyone for a
 *   `public` channel; for `followers`, signed-in followers; for `allowlist`, listed users; the
 *   owner, the channel's moderators and admins always. Refusals: UNAUTHENTICATED (anonymous on a
 *   private channel), PLAYBACK_FOLLOWERS_ONLY, PLAYBACK_NOT_ALLOWED, STREAM_NOT_FOUND.
 * - `GET /api/streams/{id}/steering` (anyone): the HLS Content Steering manifest
 *   ({@link steeringRoute}).
 */
export async function playbackRoutes(app: ApiApp, ctx: ApiContext): Promise<void> {
  const ring: PlaybackKeyRing = playbackKeyRing(ctx.config.playbackKeys.length > 0 ? ctx.config.playbackKeys : ctx.config.jwtKeys);
  const tags = ['playback'];
  steeringRoute(app, ctx);

  async function view(channelId: string): Promise<PlaybackPolicyView> {
    const p = await channelPlaybackPolicy(ctx.db, channelId, { withAllowList: true });
    if (!p) throw new ApiError('CHANNEL_NOT_FOUND');
    const allowList = [...p.allowList];
    return { channelId, visibility: p.visibility, allowList, allowListUsernames: await usernamesOf(allowList), encryption: { ...p.encryption }, bindAddress: p.bindAddress };
  }

  /** The usernames of `userIds`, in their order (an id without a user keeps the id). */
  async function usernamesOf(userIds: readonly string[]): Promise<string[]> {
    if (userIds.length === 0) return [];
    const rows = await ctx.db.selectFrom('users').select(['id', 'username']).where('id', 'in', [...userIds]).execute();
    const names = new Map(rows.map((r) => [r.id, r.username]));
    return userIds.map((id) => names.get(id) ?? id);
  }

  /**
   * The user ids of `usernames` (case-insensitive).
   * @throws ApiError USER_NOT_FOUND naming the first unknown username.
   */
  async function idsOfUsernames(usernames: readonly string[]): Promise<string[]> {
    const lower = [...new Set(usernames.map((n) => n.trim().toLowerCase()).filter((n) => n !== ''))];
    if (lower.length === 0) return [];
    const rows = await ctx.db.selectFrom('users').select(['id', 'username_lower']).where('username_lower', 'in', lower).execute();
    const ids = new Map(rows.map((r) => [r.username_lower, r.id]));
    const unknown = lower.find((n) => !ids.has(n));
    if (unknown !== undefined) throw new ApiError('USER_NOT_FOUND', `allowListUsernames: no user ${unknown}.`);
    return lower.map((n) => ids.get(n)!);
  }

  app.get('/api/channels/:channelId/playback-policy', {
    schema: { tags, params: Type.Object({ channelId: IdParam }), response: { 200: PlaybackPolicyView, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody } },
  }, async (req) => {
    await requireChannelManager(ctx, req, req.params.channelId, { allowModerators: true });
    return view(req.params.channelId);
  });

  app.put('/api/channels/:channelId/playback-policy', {
    schema: {
      tags,
      params: Type.Object({ channelId: IdParam }),
      body: PlaybackPolicyBody,
      response: { 200: PlaybackPolicyView, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody },
    },
  }, async (req) => {
    const { channelId } = req.params;
    const u = await requireChannelManager(ctx, req, channelId);
    const allowList = [...new Set([...(req.body.allowList ?? []), ...(await idsOfUsernames(req.body.allowListUsernames ?? []))])].sort();
    if (allowList.length > MAX_PLAYBACK_ALLOWLIST) throw new ApiError('VALIDATION_FAILED', `allowList: at most ${MAX_PLAYBACK_ALLOWLIST} users.`);
    if (allowList.length > 0) {
      const known = new Set((await ctx.db.selectFrom('users').select('id').where('id', 'in', allowList).execute()).map((r) => r.id));
      const unknown = allowList.find((id) => !known.has(id));
      if (unknown !== undefined) throw new ApiError('USER_NOT_FOUND', `allowList: no user ${unknown}.`);
    }
    const data: ChannelPlaybackPolicyChangedV2 = {
      channelId,
      visibility: req.body.visibility,
      allowList,
      encryption: { enabled: req.body.encryption?.enabled ?? false, rotateEverySegments: req.body.encryption?.rotateEverySegments ?? 0 },
      actorUserId: u.userId,
      bindAddress: req.body.bindAddress ?? false,
    };
    await ctx.commit([domainEvent(ctx.clock, 'ChannelPlaybackPolicyChanged', channelSubject(channelId), data, { producer: PRODUCER })]);
    return { channelId, visibility: data.visibility, allowList, allowListUsernames: await usernamesOf(allowList), encryption: { ...data.encryption }, bindAddress: data.bindAddress };
  });

  app.post('/api/streams/:id/playback-token', {
    schema: {
      tags,
      params: Type.Object({ id: IdParam }),
      body: Type.Object({ bindAddress: Type.Optional(Type.Boolean({ description: 'Bind the token to the caller\'s IP address.' })) }, { additionalProperties: false }),
      response: { 200: PlaybackTokenAnswer, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody },
    },
  }, async (req, reply) => {
    void reply.header('cache-control', 'no-store');
    const { id } = req.params;
    let channelId = id;
    let sessionId: string | null = null;
    let policy = await channelPlaybackPolicy(ctx.db, id);
    if (!policy) {
      const s = await ctx.db.selectFrom('stream_sessions').select('channel_id').where('session_id', '=', id).executeTakeFirst();
      policy = s ? await channelPlaybackPolicy(ctx.db, s.channel_id) : null;
      if (!s || !policy) throw new ApiError('STREAM_NOT_FOUND');
      channelId = s.channel_id;
      sessionId = id;
    }
    const user = req.user;
    if (policy.visibility !== 'public') {
      const rel = await channelRelation(ctx.db, user, channelId);
      if (rel === 'none') {
        if (!user) throw new ApiError('UNAUTHENTICATED', 'Sign in first: this stream is not public.');
        if (policy.visibility === 'followers') {
          const follows = await ctx.db.selectFrom('follows').select('channel_id').where('follower_id', '=', user.userId).where('channel_id', '=', channelId).executeTakeFirst();
          if (!follows) throw new ApiError('PLAYBACK_FOLLOWERS_ONLY');
        } else if (!(await isPlaybackAllowListed(ctx.db, channelId, user.userId))) {
          throw new ApiError('PLAYBACK_NOT_ALLOWED');
        }
      }
    }
    const expiresAtMs = Math.floor((ctx.clock.now() + ctx.config.playbackTokenTtlSeconds * 1000) / 1000) * 1000;
    // No viewer id: nothing verifies it, and the token travels in every URI of every playlist
    // reload (bench:playlist), so it carries only what the edge checks.
    const token = signPlaybackToken({
      channelId, expiresAt: expiresAtMs,
      ...(sessionId ? { sessionId } : {}),
      ...(req.body.bindAddress || policy.bindAddress ? { clientAddress: req.ip } : {}),
      policyVersion: policy.version,
    }, ring);
    return { token, expiresAt: new Date(expiresAtMs).toISOString(), query: `token=${token}` };
  });
}

/**
 * Requests per minute one address may make to the steering route. Above the global limit: a
 * player asks every TTL (2 s by default: 30 a minute), many viewers may share one address, and
 * hls.js stops steering for the rest of the playback after a 429.
 */
const STEERING_RATE_LIMIT_PER_MINUTE = 1200;

/**
 * `GET /api/streams/{id}/steering?_HLS_pathway=<id>&_HLS_throughput=<bit/s>`: the steering
 * manifest of HLS Content Steering (steering.ts), named in the edges' master playlists
 * (`EXT-X-CONTENT-STEERING:SERVER-URI`). `id` is the stream (the session whose master playlist
 * it is); it is not looked up: every stream gets the same edges today. The edges of
 * `edgePathways` are health-checked from the moment the app is built until it closes
 * (edges.ts); healthy ones come first, starting at the player's `_HLS_pathway`. Answered
 * `Cache-Control: no-store` (health changes within a TTL). Without `edgePathways`: 404
 * NOT_FOUND (a player then keeps its Pathway and retries after a while; a 410 would switch
 * steering off for its whole playback). Other query parameters (a playback token) are ignored.
 */
function steeringRoute(app: ApiApp, ctx: ApiContext): void {
  const { edgePathways: pathways, edgeHealthIntervalMs, steeringTtlSeconds } = ctx.config;
  if (!Number.isInteger(steeringTtlSeconds) || steeringTtlSeconds < 1) throw new Error('ApiConfig.steeringTtlSeconds must be a positive integer');
  if (!Number.isInteger(edgeHealthIntervalMs) || edgeHealthIntervalMs < 10) throw new Error('ApiConfig.edgeHealthIntervalMs must be an integer of at least 10');
  let monitor: EdgeMonitor | null = null;
  if (pathways.length > 0) {
    const m = startEdgeMonitor({
      pathways, intervalMs: edgeHealthIntervalMs,
      onChange: (pathway, up, reason) => (up ? app.log.info({ pathway }, 'edge is healthy again') : app.log.warn({ pathway, reason }, 'edge failed its health check: last in the steering priority')),
    });
    monitor = m;
    app.addHook('onClose', async () => m.stop());
  }
  app.get('/api/streams/:id/steering', {
    config: { rateLimit: { max: STEERING_RATE_LIMIT_PER_MINUTE, timeWindow: 60_000 } },
    schema: {
      tags: ['playback'],
      params: Type.Object({ id: IdParam }),
      querystring: Type.Object({
        _HLS_pathway: Type.Optional(Type.String({ maxLength: 128, description: 'The Pathway the player is on.' })),
        _HLS_throughput: Type.Optional(Type.String({ maxLength: 32, description: 'The player\'s throughput estimate, bit/s (not used).' })),
      }),
      response: { 200: SteeringManifest, 400: ErrorBody, 404: ErrorBody, 429: ErrorBody },
    },
  }, async (req, reply) => {
    if (!monitor) throw new ApiError('NOT_FOUND', 'Content steering is off: the API has no EDGE_PATHWAYS.');
    const m = monitor;
    void reply.header('cache-control', 'no-store');
    return renderSteeringManifest({ pathways, isUp: (id) => m.isUp(id), current: req.query._HLS_pathway, ttlSeconds: steeringTtlSeconds });
  });
}
