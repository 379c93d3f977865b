import { Type, type Static } from '@sinclair/typebox';
import { maskedStreamKeyFromLast4, streamEvent } from '@live/events';
import { listSessions, type SessionListing } from '@live/db';
import { ApiError, ErrorBody } from '../errors.js';
import { requireChannelManager, requireUser, type ApiApp, type ApiContext } from '../context.js';
import { ingestEndpoints, IngestEndpointProperties, issueStreamKey, loadChannelView, metadataEvent, ChannelView } from './channels.js';
import { liveManifestPath, liveMasterPath, vodManifestPath } from '@live/media/formats';

const IdParam = Type.String({ pattern: '^[A-Za-z0-9_-]{1,128}$' });
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

const Rendition = Type.Object({
  name: Type.String(), width: Type.Integer(), height: Type.Integer(), bandwidth: Type.Integer(), codecs: Type.String(), passthrough: Type.Boolean(),
});

/** One broadcast session as the API returns it. */
export const StreamItem = Type.Object({
  sessionId: Type.String(),
  channelId: Type.String(),
  channelName: Type.String(),
  title: Type.String(),
  status: Type.Union([Type.Literal('starting'), Type.Literal('live'), Type.Literal('reconnecting'), Type.Literal('ended'), Type.Literal('vod'), Type.Literal('failed')]),
  startedAt: Type.String({ format: 'date-time' }),
  endedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  playbackUrl: Type.Union([Type.String(), Type.Null()]),
  /** WHEP endpoint of the live stream (`<WHEP_PUBLIC_URL>/<channelId>`): real-time playback over WebRTC; null when offline or WHEP is not offered. */
  whepUrl: Type.Union([Type.String(), Type.Null()]),
  vodUrl: Type.Union([Type.String(), Type.Null()]),
  vodMp4Url: Type.Union([Type.String(), Type.Null()]),
  /** MPEG-DASH manifests over the same segments (null like playbackUrl / vodUrl); an encrypted channel's answer 409 DASH_ENCRYPTED. */
  dashUrl: Type.Union([Type.String(), Type.Null()], { description: 'Live MPEG-DASH manifest (`<edge>/live/<channelId>/manifest.mpd`); null when not live. Unencrypted channels only.' }),
  vodDashUrl: Type.Union([Type.String(), Type.Null()], { description: 'VOD MPEG-DASH manifest (`<edge>/sessions/<sessionId>/vod.mpd`); null until the VOD is ready. Unencrypted channels only.' }),
  durationSeconds: Type.Union([Type.Number(), Type.Null()]),
  renditions: Type.Array(Type.String()),
  renditionDetails: Type.Array(Rendition),
  failureReason: Type.Union([Type.String(), Type.Null()]),
});
/** Static type of {@link StreamItem}. */
export type StreamItem = Static<typeof StreamItem>;

/** Renders a session listing for the API (`edge` = the playback URL prefix, `whep` = the WHEP base URL or ''). */
export function toItem(s: SessionListing, edge: string, whep = ''): StreamItem {
  const live = s.status === 'starting' || s.status === 'live' || s.status === 'reconnecting';
  return {
    sessionId: s.sessionId,
    channelId: s.channelId,
    channelName: s.channelName,
    title: s.title,
    status: s.status,
    startedAt: s.startedAt,
    endedAt: s.endedAt,
    playbackUrl: live ? `${edge}${liveMasterPath(s.channelId)}` : null,
    whepUrl: live && whep ? `${whep}/${encodeURIComponent(s.channelId)}` : null,
    vodUrl: s.vodMasterPlaylistKey ? `${edge}/${s.vodMasterPlaylistKey}` : null,
    vodMp4Url: s.vodMp4Key ? `${edge}/${s.vodMp4Key}` : null,
    dashUrl: live ? `${edge}${liveManifestPath(s.channelId)}` : null,
    vodDashUrl: s.vodMasterPlaylistKey ? `${edge}${vodManifestPath(s.sessionId)}` : null,
    durationSeconds: s.durationSeconds,
    renditions: s.renditions.map((r) => r.name),
    renditionDetails: s.renditions.map((r) => ({ ...r })),
    failureReason: s.failureReason,
  };
}


/**
 * Live state of a stream, by channel id (its current or most recent broadcast) or by session id:
 * a {@link StreamItem} of that session (sessionId null and status `offline` for a channel that
 * never broadcast) plus `live` and current `viewers`.
 */
export const StreamState = Type.Object({
  ...StreamItem.properties,
  sessionId: Nullable(Type.String()),
  status: Type.Union([...StreamItem.properties.status.anyOf, Type.Literal('offline')]),
  startedAt: Nullable(Type.String({ format: 'date-time' })),
  live: Type.Boolean(),
  viewers: Type.Integer(),
  category: Type.String(),
});
/** Static type of {@link StreamState}. */
export type StreamState = Static<typeof StreamState>;

/** Answer to `POST /api/streams/start`: where and with which key to publish. */
export const PreparedBroadcast = Type.Object({
  channel: ChannelView,
  ...IngestEndpointProperties,
  /** The key to use: its id and masked form; `streamKey` holds the key itself only when this call issued it. */
  keyId: Type.String(),
  maskedKey: Type.String(),
  streamKey: Nullable(Type.String()),
  playbackUrl: Type.String(),
});

/**
 * Stream routes:
 * - `GET /api/streams` (sessions, live first), `GET /api/streams/:id` (live state by channel id or session id);
 * - `POST /api/streams/start` (streamer: sets title/category/tags and returns the ingest URL and key reference,
 *   issuing a key when the channel has none usable);
 * - `POST /api/streams/:id/stop` (owner/admin: appends StreamStopRequested; the ingest node disconnects the publisher).
 */
export async function streamRoutes(app: ApiApp, ctx: ApiContext): Promise<void> {
  const edge = ctx.config.edgeBaseUrl.replace(/\/$/, '');
  const whep = ctx.config.whepBaseUrl.replace(/\/$/, '');
  const tags = ['streams'];

  app.get('/api/streams', {
    schema: {
      tags,
      querystring: Type.Object({
        limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
        channelId: Type.Optional(IdParam),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ items: Type.Array(StreamItem) }), 400: ErrorBody },
    },
  }, async (req) => {
    const rows = await listSessions(ctx.db, { limit: req.query.limit, ...(req.query.channelId ? { channelId: req.query.channelId } : {}) });
    return { items: rows.map((r) => toItem(r, edge, whep)) };
  });

  app.get('/api/streams/:id', {
    schema: { tags, params: Type.Object({ id: IdParam }), response: { 200: StreamState, 400: ErrorBody, 404: ErrorBody } },
  }, async (req) => {
    const ch = await ctx.db.selectFrom('channels').select(['id', 'display_name', 'title', 'category', 'viewer_count', 'live_session_id']).where('id', '=', req.params.id).executeTakeFirst();
    if (ch) {
      const [latest] = await listSessions(ctx.db, { limit: 1, ...(ch.live_session_id ? { sessionId: ch.live_session_id } : { channelId: ch.id }) });
      const live = ch.live_session_id !== null;
      if (!latest) {
        return {
          sessionId: null, channelId: ch.id, channelName: ch.display_name, title: ch.title, category: ch.category, status: 'offline' as const, live: false, viewers: 0,
          startedAt: null, endedAt: null, playbackUrl: null, whepUrl: null, vodUrl: null, vodMp4Url: null, dashUrl: null, vodDashUrl: null, durationSeconds: null, renditions: [], renditionDetails: [], failureReason: null,
        };
      }
      return { ...toItem(latest, edge, whep), category: ch.category, live, viewers: live ? ch.viewer_count : 0 };
    }
    const [s] = await listSessions(ctx.db, { limit: 1, sessionId: req.params.id });
    if (!s) throw new ApiError('STREAM_NOT_FOUND');
    const c = await ctx.db.selectFrom('channels').select(['category', 'viewer_count', 'live_session_id']).where('id', '=', s.channelId).executeTakeFirst();
    const live = c?.live_session_id === s.sessionId;
    return { ...toItem(s, edge, whep), category: c?.category ?? '', live, viewers: live ? (c?.viewer_count ?? 0) : 0 };
  });

  app.post('/api/streams/start', {
    schema: {
      tags,
      body: Type.Object({
        channelId: Type.Optional(IdParam),
        title: Type.Optional(Type.String({ maxLength: 1000 })),
        category: Type.Optional(Type.String({ maxLength: 64 })),
        tags: Type.Optional(Type.Array(Type.String({ pattern: '^[a-z0-9-]{1,25}$' }), { maxItems: 10, uniqueItems: true })),
        language: Type.Optional(Type.String({ pattern: '^([a-z]{2,3})?$' })),
        mature: Type.Optional(Type.Boolean()),
        description: Type.Optional(Type.String({ maxLength: 2000, description: "The channel's about text: plain text, at most 300 characters after cleaning." })),
      }, { additionalProperties: false }),
      response: { 200: PreparedBroadcast, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody },
    },
  }, async (req) => {
    const u = requireUser(req);
    let channelId = req.body.channelId;
    if (!channelId) {
      const own = await ctx.db.selectFrom('channels').select('id').where('owner_user_id', '=', u.userId).executeTakeFirst();
      if (!own) throw new ApiError('CHANNEL_NOT_FOUND', 'You have no channel yet: create one with POST /api/channels.');
      channelId = own.id;
    }
    await requireChannelManager(ctx, req, channelId);
    const { channelId: _c, ...patch } = req.body;
    if (Object.keys(patch).length > 0) await ctx.commit([await metadataEvent(ctx, channelId, patch)]);
    const now = new Date(ctx.clock.now());
    let streamKey: string | null = null;
    let key = await ctx.db.selectFrom('stream_keys').select(['id', 'key_last4']).where('channel_id', '=', channelId).where('status', '=', 'active')
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)])).orderBy('created_at', 'desc').executeTakeFirst();
    if (!key) {
      const issued = await issueStreamKey(ctx, channelId, u.userId, { label: 'default', expiresInDays: ctx.config.streamKeyTtlDays, allowedCidrs: [] });
      streamKey = issued.key;
      key = { id: issued.view.keyId, key_last4: issued.key.slice(-4) };
    }
    const channel = await loadChannelView(ctx.db, edge, channelId, u.userId);
    if (!channel) throw new ApiError('CHANNEL_NOT_FOUND');
    return {
      channel, ...ingestEndpoints(ctx.config, channelId), keyId: key.id, maskedKey: maskedStreamKeyFromLast4(key.key_last4), streamKey,
      playbackUrl: `${edge}${liveMasterPath(channelId)}`,
    };
  });

  app.post('/api/streams/:id/stop', {
    schema: {
      tags,
      params: Type.Object({ id: IdParam }),
      response: { 202: Type.Object({ sessionId: Type.String(), status: Type.Literal('stopping') }), 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody },
    },
  }, async (req, reply) => {
    requireUser(req);
    let ch = await ctx.db.selectFrom('channels').select(['id', 'live_session_id']).where('id', '=', req.params.id).executeTakeFirst();
    if (!ch) {
      const s = await ctx.db.selectFrom('stream_sessions').select('channel_id').where('session_id', '=', req.params.id).executeTakeFirst();
      if (!s) throw new ApiError('STREAM_NOT_FOUND');
      ch = await ctx.db.selectFrom('channels').select(['id', 'live_session_id']).where('id', '=', s.channel_id).executeTakeFirst();
      if (!ch) throw new ApiError('STREAM_NOT_FOUND');
      if (ch.live_session_id !== req.params.id) throw new ApiError('STREAM_NOT_LIVE');
    }
    const actor = await requireChannelManager(ctx, req, ch.id);
    if (!ch.live_session_id) throw new ApiError('STREAM_NOT_LIVE');
    const ev = streamEvent(ctx.clock, 'StreamStopRequested', { channelId: ch.id, sessionId: ch.live_session_id, actorUserId: actor.userId }, { producer: 'api' });
    await ctx.append(ev);
    return reply.status(202).send({ sessionId: ch.live_session_id, status: 'stopping' as const });
  });
}
