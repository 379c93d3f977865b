import { randomUUID } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import { Type, type Static } from '@sinclair/typebox';
import { channelSubject, domainEvent, isCategory, maskedStreamKeyFromLast4, userSubject, type EventEnvelope } from '@live/events';
import { generateStreamKey, hashStreamKey, type Db } from '@live/db';
import { ConcurrencyError } from '@live/messaging';
import { ApiError, ErrorBody } from '../errors.js';
import { channelRelation, requireChannelManager, requireUser, type ApiApp, type ApiContext } from '../context.js';
import { cleanText } from '../text.js';
import { decodeCursor, pageOf } from './cursor.js';
import { liveMasterPath } from '@live/media/formats';

const PRODUCER = 'api';
/** Most active (not revoked, not expired) stream keys a channel may hold. */
export const MAX_ACTIVE_STREAM_KEYS = 10;

const ChannelIdParam = Type.String({ pattern: '^[A-Za-z0-9_-]{1,128}$' });
const UserIdParam = Type.String({ pattern: '^[A-Za-z0-9_-]{1,128}$' });
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
const Tag = Type.String({ pattern: '^[a-z0-9-]{1,25}$' });

/** A channel as the API returns it. Timestamps are ISO-8601; `viewers` is the live session's current viewers. */
export const ChannelView = Type.Object({
  channelId: Type.String(),
  displayName: Type.String(),
  ownerUserId: Nullable(Type.String()),
  title: Type.String(),
  category: Type.String(),
  tags: Type.Array(Type.String()),
  language: Type.String(),
  mature: Type.Boolean(),
  followers: Type.Integer(),
  live: Type.Boolean(),
  sessionId: Nullable(Type.String()),
  startedAt: Nullable(Type.String()),
  viewers: Type.Integer(),
  playbackUrl: Nullable(Type.String()),
  createdAt: Type.String(),
  /** The channel's "about" text (plain text), or ''. */
  description: Type.String(),
  /** Whether the caller follows the channel (false when anonymous). */
  following: Type.Boolean(),
});
/** Static type of {@link ChannelView}. */
export type ChannelView = Static<typeof ChannelView>;

/** A stream key as listed: never the key itself, only its last 4 characters. */
export const StreamKeyView = Type.Object({
  keyId: Type.String(),
  label: Type.String(),
  masked: Type.String(),
  status: Type.Union([Type.Literal('active'), Type.Literal('expired'), Type.Literal('revoked'), Type.Literal('disabled')]),
  createdAt: Type.String(),
  expiresAt: Nullable(Type.String()),
  revokedAt: Nullable(Type.String()),
  allowedCidrs: Type.Array(Type.String()),
});
/** Static type of {@link StreamKeyView}. */
export type StreamKeyView = Static<typeof StreamKeyView>;

/**
 * Where a channel's encoders publish (schema properties, spread into the answers that carry a
 * key): `ingestUrl`, the RTMP(S) server (OBS "Server"); `srtUrl`, the SRT listener
 * `srt://host:port` (the key goes in the `streamid`, `#!::r=live/<key>,m=publish`), and
 * `whipUrl`, the channel's WHIP endpoint (the key as the Bearer token), each only when the API
 * knows its public URL (`INGEST_SRT_PUBLIC_URL`, `INGEST_WHIP_PUBLIC_URL`).
 */
export const IngestEndpointProperties = {
  ingestUrl: Type.String(),
  srtUrl: Type.Optional(Type.String()),
  whipUrl: Type.Optional(Type.String()),
};

/** The values of {@link IngestEndpointProperties} for `channelId` under the API's configuration. */
export function ingestEndpoints(config: Pick<ApiContext['config'], 'ingestUrl' | 'srtIngestUrl' | 'whipIngestBaseUrl'>, channelId: string): { ingestUrl: string; srtUrl?: string; whipUrl?: string } {
  return {
    ingestUrl: config.ingestUrl,
    ...(config.srtIngestUrl ? { srtUrl: config.srtIngestUrl } : {}),
    ...(config.whipIngestBaseUrl ? { whipUrl: `${config.whipIngestBaseUrl.replace(/\/$/, '')}/${encodeURIComponent(channelId)}` } : {}),
  };
}

/** Answer to creating or rotating a key: the only time the key itself is shown. */
export const IssuedStreamKey = Type.Object({ streamKey: Type.String(), key: StreamKeyView, ...IngestEndpointProperties });

const PageQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 50 }),
  cursor: Type.Optional(Type.String({ maxLength: 200 })),
}, { additionalProperties: false });

/**
 * Reads one channel as a {@link ChannelView}, or null.
 * @param viewerId the caller (for `following`), or null.
 */
export async function loadChannelView(db: Db, edge: string, channelId: string, viewerId: string | null): Promise<ChannelView | null> {
  const c = await db.selectFrom('channels').selectAll().where('id', '=', channelId).executeTakeFirst();
  if (!c) return null;
  const following = viewerId
    ? !!(await db.selectFrom('follows').select('channel_id').where('follower_id', '=', viewerId).where('channel_id', '=', channelId).executeTakeFirst())
    : false;
  return {
    channelId: c.id, displayName: c.display_name, ownerUserId: c.owner_user_id, title: c.title, category: c.category, tags: c.tags,
    language: c.language, mature: c.mature, followers: c.follower_count, live: c.live_session_id !== null, sessionId: c.live_session_id,
    startedAt: c.live_started_at ? c.live_started_at.toISOString() : null, viewers: c.viewer_count,
    playbackUrl: c.live_session_id ? `${edge}${liveMasterPath(c.id)}` : null, createdAt: c.created_at.toISOString(), description: c.description, following,
  };
}

function keyView(r: { id: string; label: string; key_last4: string; status: string; created_at: Date; expires_at: Date | null; revoked_at: Date | null; allowed_cidrs: string[] }, now: number): StreamKeyView {
  const expired = r.status === 'active' && r.expires_at !== null && r.expires_at.getTime() <= now;
  return {
    keyId: r.id, label: r.label, masked: maskedStreamKeyFromLast4(r.key_last4),
    status: expired ? 'expired' : (r.status as StreamKeyView['status']),
    createdAt: r.created_at.toISOString(), expiresAt: r.expires_at ? r.expires_at.toISOString() : null,
    revokedAt: r.revoked_at ? r.revoked_at.toISOString() : null, allowedCidrs: r.allowed_cidrs,
  };
}

/**
 * Validates CIDR blocks (RFC 4632 for IPv4, RFC 4291 §2.3 for IPv6) and returns them normalised
 * as `address/prefix`; a bare address gets /32 or /128.
 * @throws ApiError VALIDATION_FAILED naming the first bad entry.
 */
export function parseCidrs(list: readonly string[]): string[] {
  return list.map((raw) => {
    const [addr = '', prefixText, extra] = raw.trim().split('/');
    const family = isIP(addr);
    const max = family === 4 ? 32 : 128;
    const prefix = prefixText === undefined ? max : Number(prefixText);
    if (!family || extra !== undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > max || (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText))) {
      throw new ApiError('VALIDATION_FAILED', `allowedCidrs: ${JSON.stringify(raw.slice(0, 64))} is not an address or CIDR block`);
    }
    new BlockList().addSubnet(addr, prefix, family === 4 ? 'ipv4' : 'ipv6');
    return `${addr}/${prefix}`;
  });
}

function newKeyMaterial() {
  const key = generateStreamKey();
  return { key, keyHash: hashStreamKey(key), keyLast4: key.slice(-4) };
}

/**
 * Issues a new stream key for a channel: appends StreamKeyIssued (the hash only) and waits for
 * the read model. Returns the key (to show once) and its listing.
 */
export async function issueStreamKey(ctx: ApiContext, channelId: string, actorUserId: string | null, opts: { label: string; expiresInDays: number; allowedCidrs: string[] }): Promise<{ key: string; view: StreamKeyView }> {
  const { key, keyHash, keyLast4 } = newKeyMaterial();
  const keyId = randomUUID();
  const expiresAt = new Date(ctx.clock.now() + opts.expiresInDays * 86_400_000).toISOString();
  const ev = domainEvent(ctx.clock, 'StreamKeyIssued', channelSubject(channelId), {
    channelId, keyId, keyHash, keyLast4, label: opts.label, expiresAt, allowedCidrs: opts.allowedCidrs, actorUserId,
  }, { producer: PRODUCER });
  await ctx.commit([ev]);
  return { key, view: keyView({ id: keyId, label: opts.label, key_last4: keyLast4, status: 'active', created_at: new Date(ev.occurredAt), expires_at: new Date(expiresAt), revoked_at: null, allowed_cidrs: opts.allowedCidrs }, ctx.clock.now()) };
}

/** Active, unexpired keys of a channel. */
export async function activeKeyCount(db: Db, channelId: string, now: Date): Promise<number> {
  const r = await db.selectFrom('stream_keys').select((eb) => eb.fn.countAll<string>().as('n')).where('channel_id', '=', channelId).where('status', '=', 'active')
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)])).executeTakeFirstOrThrow();
  return Number(r.n);
}

/**
 * Channel, moderator, stream-key and follow routes:
 * - `POST /api/channels` (signed in; one channel per user; its id defaults to the lower-cased username),
 *   `GET /api/channels/:channelId`, `PATCH /api/channels/:channelId` (owner/admin: title, category, tags, language, mature);
 * - `GET|PUT|DELETE /api/channels/:channelId/moderators[/:userId]` (owner/admin appoint);
 * - `GET|POST /api/channels/:channelId/stream-keys`, `POST …/stream-keys/:keyId/rotate`, `DELETE …/stream-keys/:keyId` (owner/admin);
 * - `PUT|DELETE /api/channels/:channelId/follow`, `GET /api/channels/:channelId/followers`, `GET /api/users/:userId/following`.
 * Every change is an event (ChannelCreated, ChannelMetadataUpdated, ChannelModeratorAdded/Removed,
 * StreamKeyIssued/Rotated/Revoked, ChannelFollowed/Unfollowed) appended before the answer, which
 * is sent once the read models include it.
 */
export async function channelRoutes(app: ApiApp, ctx: ApiContext): Promise<void> {
  const edge = ctx.config.edgeBaseUrl.replace(/\/$/, '');
  const tags = ['channels'];

  app.post('/api/channels', {
    schema: {
      tags,
      body: Type.Object({
        channelId: Type.Optional(Type.String({ pattern: '^[a-z0-9_]{3,32}$' })),
        displayName: Type.Optional(Type.String({ maxLength: 200 })),
      }, { additionalProperties: false }),
      response: { 201: ChannelView, 400: ErrorBody, 401: ErrorBody, 409: ErrorBody },
    },
  }, async (req, reply) => {
    const u = requireUser(req);
    const owned = await ctx.db.selectFrom('channels').select('id').where('owner_user_id', '=', u.userId).executeTakeFirst();
    if (owned) throw new ApiError('CHANNEL_EXISTS', `You already have the channel ${owned.id}.`);
    const channelId = req.body.channelId ?? u.username.toLowerCase();
    const displayName = req.body.displayName !== undefined ? cleanText(req.body.displayName, 'displayName', { min: 1, max: 50 }) : u.username;
    const ev = domainEvent(ctx.clock, 'ChannelCreated', channelSubject(channelId), { channelId, ownerUserId: u.userId, displayName }, { producer: PRODUCER });
    let seq: number;
    try {
      seq = await ctx.append(ev, { expectedLastSubjectSequence: 0 });
    } catch (err) {
      if (err instanceof ConcurrencyError) throw new ApiError('CHANNEL_EXISTS', `The channel id ${channelId} is taken; choose another channelId.`);
      throw err;
    }
    await ctx.projected(seq);
    // When the projector is behind (it catches up from the log), answer from the event itself.
    const view = await loadChannelView(ctx.db, edge, channelId, u.userId) ?? {
      channelId, displayName, ownerUserId: u.userId, title: '', category: '', tags: [], language: '', mature: false, followers: 0,
      live: false, sessionId: null, startedAt: null, viewers: 0, playbackUrl: null, createdAt: ev.occurredAt, description: '', following: false,
    };
    return reply.status(201).send(view);
  });

  app.get('/api/channels/:channelId', {
    schema: { tags, params: Type.Object({ channelId: ChannelIdParam }), response: { 200: ChannelView, 404: ErrorBody } },
  }, async (req) => {
    const view = await loadChannelView(ctx.db, edge, req.params.channelId, req.user?.userId ?? null);
    if (!view) throw new ApiError('CHANNEL_NOT_FOUND');
    return view;
  });

  app.patch('/api/channels/:channelId', {
    schema: {
      tags,
      params: Type.Object({ channelId: ChannelIdParam }),
      body: Type.Object({
        title: Type.Optional(Type.String({ maxLength: 1000 })),
        category: Type.Optional(Type.String({ maxLength: 64 })),
        tags: Type.Optional(Type.Array(Tag, { maxItems: 10, uniqueItems: true })),
        language: Type.Optional(Type.String({ pattern: '^([a-z]{2,3})?$' })),
        mature: Type.Optional(Type.Boolean()),
        description: Type.Optional(Type.String({ maxLength: 2000, description: 'Plain text, at most 300 characters after cleaning.' })),
      }, { additionalProperties: false, minProperties: 1 }),
      response: { 200: ChannelView, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody },
    },
  }, async (req) => {
    const u = await requireChannelManager(ctx, req, req.params.channelId);
    const ev = await metadataEvent(ctx, req.params.channelId, req.body);
    await ctx.commit([ev]);
    const view = await loadChannelView(ctx.db, edge, req.params.channelId, u.userId);
    if (!view) throw new ApiError('CHANNEL_NOT_FOUND');
    return view;
  });

  // --- moderators -------------------------------------------------------------------------
  const ModeratorView = Type.Object({ userId: Type.String(), username: Type.String(), displayName: Type.String(), since: Type.String() });
  app.get('/api/channels/:channelId/moderators', {
    schema: { tags, params: Type.Object({ channelId: ChannelIdParam }), response: { 200: Type.Object({ items: Type.Array(ModeratorView) }), 404: ErrorBody } },
  }, async (req) => {
    await channelRelation(ctx.db, null, req.params.channelId);
    const rows = await ctx.db.selectFrom('channel_moderators as m').innerJoin('users as u', 'u.id', 'm.user_id')
      .select(['u.id', 'u.username', 'u.display_name', 'm.created_at']).where('m.channel_id', '=', req.params.channelId).orderBy('m.created_at').execute();
    return { items: rows.map((r) => ({ userId: r.id, username: r.username, displayName: r.display_name, since: r.created_at.toISOString() })) };
  });
  for (const method of ['PUT', 'DELETE'] as const) {
    app.route({
      method,
      url: '/api/channels/:channelId/moderators/:userId',
      schema: { tags, params: Type.Object({ channelId: ChannelIdParam, userId: UserIdParam }), response: { 204: Type.Null(), 401: ErrorBody, 403: ErrorBody, 404: ErrorBody } },
      handler: async (req, reply) => {
        const { channelId, userId } = req.params as { channelId: string; userId: string };
        const u = await requireChannelManager(ctx, req, channelId);
        const target = await ctx.db.selectFrom('users').select('id').where('id', '=', userId).executeTakeFirst();
        if (!target) throw new ApiError('USER_NOT_FOUND');
        const isMod = !!(await ctx.db.selectFrom('channel_moderators').select('user_id').where('channel_id', '=', channelId).where('user_id', '=', userId).executeTakeFirst());
        if (method === 'PUT' && !isMod) {
          await ctx.commit([domainEvent(ctx.clock, 'ChannelModeratorAdded', channelSubject(channelId), { channelId, userId, actorUserId: u.userId }, { producer: PRODUCER })]);
        } else if (method === 'DELETE' && isMod) {
          await ctx.commit([domainEvent(ctx.clock, 'ChannelModeratorRemoved', channelSubject(channelId), { channelId, userId, actorUserId: u.userId }, { producer: PRODUCER })]);
        }
        return reply.status(204).send(null);
      },
    });
  }

  // --- stream keys ------------------------------------------------------------------------
  app.get('/api/channels/:channelId/stream-keys', {
    schema: { tags: ['stream keys'], params: Type.Object({ channelId: ChannelIdParam }), response: { 200: Type.Object({ items: Type.Array(StreamKeyView) }), 401: ErrorBody, 403: ErrorBody, 404: ErrorBody } },
  }, async (req) => {
    await requireChannelManager(ctx, req, req.params.channelId);
    const rows = await ctx.db.selectFrom('stream_keys').select(['id', 'label', 'key_last4', 'status', 'created_at', 'expires_at', 'revoked_at', 'allowed_cidrs'])
      .where('channel_id', '=', req.params.channelId).orderBy('created_at', 'desc').orderBy('id').execute();
    const now = ctx.clock.now();
    return { items: rows.map((r) => keyView(r, now)) };
  });

  app.post('/api/channels/:channelId/stream-keys', {
    schema: {
      tags: ['stream keys'],
      params: Type.Object({ channelId: ChannelIdParam }),
      body: Type.Object({
        label: Type.Optional(Type.String({ maxLength: 200 })),
        expiresInDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 365 })),
        allowedCidrs: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 20 })),
      }, { additionalProperties: false }),
      response: { 201: IssuedStreamKey, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody },
    },
  }, async (req, reply) => {
    const u = await requireChannelManager(ctx, req, req.params.channelId);
    const label = cleanText(req.body.label ?? 'default', 'label', { min: 1, max: 50 });
    const allowedCidrs = parseCidrs(req.body.allowedCidrs ?? []);
    if ((await activeKeyCount(ctx.db, req.params.channelId, new Date(ctx.clock.now()))) >= MAX_ACTIVE_STREAM_KEYS) throw new ApiError('STREAM_KEY_LIMIT');
    const issued = await issueStreamKey(ctx, req.params.channelId, u.userId, { label, expiresInDays: req.body.expiresInDays ?? ctx.config.streamKeyTtlDays, allowedCidrs });
    return reply.status(201).send({ streamKey: issued.key, key: issued.view, ...ingestEndpoints(ctx.config, req.params.channelId) });
  });

  const KeyParams = Type.Object({ channelId: ChannelIdParam, keyId: Type.String({ pattern: '^[A-Za-z0-9_-]{1,128}$' }) });
  app.post('/api/channels/:channelId/stream-keys/:keyId/rotate', {
    schema: {
      tags: ['stream keys'],
      params: KeyParams,
      body: Type.Object({ expiresInDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 365 })) }, { additionalProperties: false }),
      response: { 201: IssuedStreamKey, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody },
    },
  }, async (req, reply) => {
    const u = await requireChannelManager(ctx, req, req.params.channelId);
    const old = await ctx.db.selectFrom('stream_keys').selectAll().where('id', '=', req.params.keyId).where('channel_id', '=', req.params.channelId).executeTakeFirst();
    if (!old) throw new ApiError('STREAM_KEY_NOT_FOUND');
    if (old.status === 'revoked') throw new ApiError('STREAM_KEY_REVOKED');
    const { key, keyHash, keyLast4 } = newKeyMaterial();
    const keyId = randomUUID();
    const expiresAt = new Date(ctx.clock.now() + (req.body.expiresInDays ?? ctx.config.streamKeyTtlDays) * 86_400_000).toISOString();
    const ev = domainEvent(ctx.clock, 'StreamKeyRotated', channelSubject(req.params.channelId), {
      channelId: req.params.channelId, oldKeyId: old.id, keyId, keyHash, keyLast4, label: old.label, expiresAt, allowedCidrs: old.allowed_cidrs, actorUserId: u.userId,
    }, { producer: PRODUCER });
    await ctx.commit([ev]);
    const view = keyView({ id: keyId, label: old.label, key_last4: keyLast4, status: 'active', created_at: new Date(ev.occurredAt), expires_at: new Date(expiresAt), revoked_at: null, allowed_cidrs: old.allowed_cidrs }, ctx.clock.now());
    return reply.status(201).send({ streamKey: key, key: view, ...ingestEndpoints(ctx.config, req.params.channelId) });
  });

  app.delete('/api/channels/:channelId/stream-keys/:keyId', {
    schema: { tags: ['stream keys'], params: KeyParams, response: { 204: Type.Null(), 401: ErrorBody, 403: ErrorBody, 404: ErrorBody } },
  }, async (req, reply) => {
    const u = await requireChannelManager(ctx, req, req.params.channelId);
    const old = await ctx.db.selectFrom('stream_keys').select(['id', 'status']).where('id', '=', req.params.keyId).where('channel_id', '=', req.params.channelId).executeTakeFirst();
    if (!old) throw new ApiError('STREAM_KEY_NOT_FOUND');
    if (old.status !== 'revoked') {
      await ctx.commit([domainEvent(ctx.clock, 'StreamKeyRevoked', channelSubject(req.params.channelId), { channelId: req.params.channelId, keyId: old.id, actorUserId: u.userId }, { producer: PRODUCER })]);
    }
    return reply.status(204).send(null);
  });

  // --- follows ----------------------------------------------------------------------------
  for (const method of ['PUT', 'DELETE'] as const) {
    app.route({
      method,
      url: '/api/channels/:channelId/follow',
      schema: { tags: ['follows'], params: Type.Object({ channelId: ChannelIdParam }), response: { 204: Type.Null(), 401: ErrorBody, 404: ErrorBody } },
      handler: async (req, reply) => {
        const u = requireUser(req);
        const { channelId } = req.params as { channelId: string };
        await channelRelation(ctx.db, u, channelId);
        const follows = !!(await ctx.db.selectFrom('follows').select('channel_id').where('follower_id', '=', u.userId).where('channel_id', '=', channelId).executeTakeFirst());
        let ev: EventEnvelope | null = null;
        if (method === 'PUT' && !follows) ev = domainEvent(ctx.clock, 'ChannelFollowed', userSubject(u.userId), { userId: u.userId, channelId }, { producer: PRODUCER });
        if (method === 'DELETE' && follows) ev = domainEvent(ctx.clock, 'ChannelUnfollowed', userSubject(u.userId), { userId: u.userId, channelId }, { producer: PRODUCER });
        if (ev) await ctx.commit([ev]);
        return reply.status(204).send(null);
      },
    });
  }

  const FollowerView = Type.Object({ userId: Type.String(), username: Type.String(), displayName: Type.String(), followedAt: Type.String() });
  app.get('/api/channels/:channelId/followers', {
    schema: {
      tags: ['follows'], params: Type.Object({ channelId: ChannelIdParam }), querystring: PageQuery,
      response: { 200: Type.Object({ total: Type.Integer(), items: Type.Array(FollowerView), nextCursor: Nullable(Type.String()) }), 400: ErrorBody, 404: ErrorBody },
    },
  }, async (req) => {
    const { channelId } = req.params;
    const ch = await ctx.db.selectFrom('channels').select('follower_count').where('id', '=', channelId).executeTakeFirst();
    if (!ch) throw new ApiError('CHANNEL_NOT_FOUND');
    const after = req.query.cursor !== undefined ? decodeCursor(req.query.cursor) : null;
    let q = ctx.db.selectFrom('follows as f').innerJoin('users as u', 'u.id', 'f.follower_id')
      .select(['u.id', 'u.username', 'u.display_name', 'f.created_at']).where('f.channel_id', '=', channelId)
      .orderBy('f.created_at', 'desc').orderBy('u.id').limit(req.query.limit + 1);
    if (after) q = q.where((eb) => eb.or([eb('f.created_at', '<', new Date(after.t)), eb.and([eb('f.created_at', '=', new Date(after.t)), eb('u.id', '>', after.id)])]));
    const { page, nextCursor } = pageOf(await q.execute(), req.query.limit, (r) => ({ t: r.created_at.toISOString(), id: r.id }));
    return {
      total: ch.follower_count,
      items: page.map((r) => ({ userId: r.id, username: r.username, displayName: r.display_name, followedAt: r.created_at.toISOString() })),
      nextCursor,
    };
  });

  const FollowingView = Type.Object({ channelId: Type.String(), displayName: Type.String(), title: Type.String(), live: Type.Boolean(), followedAt: Type.String() });
  app.get('/api/users/:userId/following', {
    schema: {
      tags: ['follows'], params: Type.Object({ userId: UserIdParam }), querystring: PageQuery,
      response: { 200: Type.Object({ total: Type.Integer(), items: Type.Array(FollowingView), nextCursor: Nullable(Type.String()) }), 400: ErrorBody, 404: ErrorBody },
    },
  }, async (req) => {
    const { userId } = req.params;
    const user = await ctx.db.selectFrom('users').select('id').where('id', '=', userId).executeTakeFirst();
    if (!user) throw new ApiError('USER_NOT_FOUND');
    const total = await ctx.db.selectFrom('follows').select((eb) => eb.fn.countAll<string>().as('n')).where('follower_id', '=', userId).executeTakeFirstOrThrow();
    const after = req.query.cursor !== undefined ? decodeCursor(req.query.cursor) : null;
    let q = ctx.db.selectFrom('follows as f').innerJoin('channels as c', 'c.id', 'f.channel_id')
      .select(['c.id', 'c.display_name', 'c.title', 'c.live_session_id', 'f.created_at']).where('f.follower_id', '=', userId)
      .orderBy('f.created_at', 'desc').orderBy('c.id').limit(req.query.limit + 1);
    if (after) q = q.where((eb) => eb.or([eb('f.created_at', '<', new Date(after.t)), eb.and([eb('f.created_at', '=', new Date(after.t)), eb('c.id', '>', after.id)])]));
    const { page, nextCursor } = pageOf(await q.execute(), req.query.limit, (r) => ({ t: r.created_at.toISOString(), id: r.id }));
    return {
      total: Number(total.n),
      items: page.map((r) => ({ channelId: r.id, displayName: r.display_name, title: r.title, live: r.live_session_id !== null, followedAt: r.created_at.toISOString() })),
      nextCursor,
    };
  });
}

/**
 * Builds the ChannelMetadataUpdated event for a partial change: fields not given keep their
 * current values (the event carries the whole metadata).
 * @throws ApiError CHANNEL_NOT_FOUND, VALIDATION_FAILED (unknown category, bad title text).
 */
export async function metadataEvent(ctx: ApiContext, channelId: string, patch: { title?: string; category?: string; tags?: string[]; language?: string; mature?: boolean; description?: string }) {
  const c = await ctx.db.selectFrom('channels').select(['title', 'category', 'tags', 'language', 'mature', 'description']).where('id', '=', channelId).executeTakeFirst();
  if (!c) throw new ApiError('CHANNEL_NOT_FOUND');
  if (patch.category !== undefined && patch.category !== '' && !isCategory(patch.category)) {
    throw new ApiError('VALIDATION_FAILED', `category ${JSON.stringify(patch.category.slice(0, 64))} is not one of GET /api/categories`);
  }
  return domainEvent(ctx.clock, 'ChannelMetadataUpdated', channelSubject(channelId), {
    channelId,
    title: patch.title !== undefined ? cleanText(patch.title, 'title', { max: 140 }) : c.title,
    category: patch.category ?? c.category,
    tags: patch.tags ?? c.tags,
    language: patch.language ?? c.language,
    mature: patch.mature ?? c.mature,
    description: patch.description !== undefined ? cleanText(patch.description, 'description', { max: 300, multiline: true }) : c.description,
  }, { producer: PRODUCER });
}
