import { Type } from '@sinclair/typebox';
import { channelSubject, domainEvent, isRecordingStatus, RECORDING_RETENTION_DAYS, streamEvent, type EventEnvelope } from '@live/events';
import { listRecordings, type RecordingRow } from '@live/db';
import { ApiError, ErrorBody } from '../errors.js';
import { requireChannelManager, type ApiApp, type ApiContext } from '../context.js';
import { cleanText } from '../text.js';
import { strictValidator } from '../validation.js';

const PRODUCER = 'api';
const IdParam = Type.String({ pattern: '^[A-Za-z0-9_-]{1,128}$' });
/** Longest recording title, characters (as a stream title in the web app). */
const RECORDING_TITLE_MAX = 140;

/** One recording as the dashboard lists it. */
export const RecordingView = Type.Object({
  sessionId: Type.String(),
  channelId: Type.String(),
  title: Type.String(),
  status: Type.Union([Type.Literal('ended'), Type.Literal('vod'), Type.Literal('failed')]),
  startedAt: Type.String({ format: 'date-time' }),
  endedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  durationSeconds: Type.Union([Type.Number({ description: 'Seconds of media in the VOD (its playlists).' }), Type.Null()]),
  vodUrl: Type.Union([Type.String(), Type.Null()]),
});

/** A channel's retention setting. */
export const RetentionView = Type.Object({
  channelId: Type.String(),
  retentionDays: Type.Union([Type.Integer({ minimum: RECORDING_RETENTION_DAYS.min, maximum: RECORDING_RETENTION_DAYS.max }), Type.Null()], {
    description: 'Recordings are deleted this many days after they end; null keeps them forever.',
  }),
});

function recordingView(r: RecordingRow, edge: string) {
  return {
    sessionId: r.sessionId, channelId: r.channelId, title: r.title, status: r.status, startedAt: r.startedAt.toISOString(),
    endedAt: r.endedAt?.toISOString() ?? null, durationSeconds: r.durationSeconds, vodUrl: r.vodMasterPlaylistKey ? `${edge}/${r.vodMasterPlaylistKey}` : null,
  };
}

/**
 * The recording `sessionId` for a change by its channel's owner (or an admin).
 * @throws ApiError RECORDING_NOT_FOUND (no such session, or deleted), RECORDING_LIVE (still
 *   broadcasting), RECORDING_PROCESSING (`ended`: the VOD is being packaged), and the owner checks.
 */
async function ownedRecording(ctx: ApiContext, req: Parameters<typeof requireChannelManager>[1], sessionId: string, opts: { allowEnded: boolean }) {
  const s = await ctx.db.selectFrom('stream_sessions').select(['session_id', 'channel_id', 'status']).where('session_id', '=', sessionId).executeTakeFirst();
  if (!s) throw new ApiError('RECORDING_NOT_FOUND');
  const actor = await requireChannelManager(ctx, req, s.channel_id);
  if (!isRecordingStatus(s.status)) throw new ApiError('RECORDING_LIVE');
  if (s.status === 'ended' && !opts.allowEnded) throw new ApiError('RECORDING_PROCESSING');
  return { channelId: s.channel_id, actor };
}

/**
 * Recording routes (owner or admin):
 * - `GET /api/channels/{channelId}/recordings`: the channel's recordings, newest first.
 * - `PATCH /api/recordings/{sessionId}` `{ title }`: appends RecordingRenamed; answers the recording.
 * - `DELETE /api/recordings/{sessionId}`: appends RecordingDeletionRequested and answers 202 once
 *   the read model dropped it (every read of it is a 404 from then on); the worker's
 *   `deleteRecording` workflow removes its objects and appends RecordingDeleted.
 * - `GET`/`PUT /api/channels/{channelId}/recording-retention` `{ retentionDays }`: appends
 *   RecordingRetentionSet; the worker's scheduled `recordingRetention` workflow deletes what is past it.
 */
export async function recordingRoutes(app: ApiApp, ctx: ApiContext): Promise<void> {
  const edge = ctx.config.edgeBaseUrl.replace(/\/$/, '');
  const tags = ['recordings'];
  const ChannelParams = Type.Object({ channelId: IdParam });
  const SessionParams = Type.Object({ sessionId: IdParam });

  app.get('/api/channels/:channelId/recordings', {
    schema: {
      tags, params: ChannelParams,
      querystring: Type.Object({ limit: Type.Integer({ minimum: 1, maximum: 200, default: 100 }) }, { additionalProperties: false }),
      response: { 200: Type.Object({ items: Type.Array(RecordingView) }), 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody },
    },
  }, async (req) => {
    await requireChannelManager(ctx, req, req.params.channelId);
    const rows = await listRecordings(ctx.db, req.params.channelId, req.query.limit);
    return { items: rows.map((r) => recordingView(r, edge)) };
  });

  app.patch('/api/recordings/:sessionId', {
    schema: {
      tags, params: SessionParams,
      body: Type.Object({ title: Type.String({ maxLength: 1000 }) }, { additionalProperties: false }),
      response: { 200: RecordingView, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody },
    },
  }, async (req) => {
    const { sessionId } = req.params;
    const { channelId, actor } = await ownedRecording(ctx, req, sessionId, { allowEnded: true });
    const title = cleanText(req.body.title, 'title', { min: 1, max: RECORDING_TITLE_MAX });
    await ctx.commit([streamEvent(ctx.clock, 'RecordingRenamed', { channelId, sessionId, title, actorUserId: actor.userId }, { producer: PRODUCER })]);
    const row = (await listRecordings(ctx.db, channelId, 200)).find((r) => r.sessionId === sessionId);
    if (!row) throw new ApiError('RECORDING_NOT_FOUND');
    return recordingView(row, edge);
  });

  app.delete('/api/recordings/:sessionId', {
    schema: {
      tags, params: SessionParams,
      response: { 202: Type.Object({ sessionId: Type.String(), status: Type.Literal('deleting') }), 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody },
    },
  }, async (req, reply) => {
    const { sessionId } = req.params;
    const { channelId, actor } = await ownedRecording(ctx, req, sessionId, { allowEnded: false });
    const ev: EventEnvelope = streamEvent(ctx.clock, 'RecordingDeletionRequested', { channelId, sessionId, reason: 'owner', actorUserId: actor.userId }, { producer: PRODUCER });
    await ctx.commit([ev]);
    return reply.status(202).send({ sessionId, status: 'deleting' as const });
  });

  app.get('/api/channels/:channelId/recording-retention', {
    schema: { tags, params: ChannelParams, response: { 200: RetentionView, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody } },
  }, async (req) => {
    await requireChannelManager(ctx, req, req.params.channelId);
    const c = await ctx.db.selectFrom('channels').select('recording_retention_days').where('id', '=', req.params.channelId).executeTakeFirst();
    return { channelId: req.params.channelId, retentionDays: c?.recording_retention_days ?? null };
  });

  app.put('/api/channels/:channelId/recording-retention', {
    // Strict: Ajv's coercion would turn a 0 (or '') into null, "keep forever".
    validatorCompiler: strictValidator,
    schema: {
      tags, params: ChannelParams,
      body: Type.Object({ retentionDays: RetentionView.properties.retentionDays }, { additionalProperties: false }),
      response: { 200: RetentionView, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody },
    },
  }, async (req) => {
    const { channelId } = req.params;
    const actor = await requireChannelManager(ctx, req, channelId);
    const { retentionDays } = req.body;
    await ctx.commit([domainEvent(ctx.clock, 'RecordingRetentionSet', channelSubject(channelId), { channelId, retentionDays, actorUserId: actor.userId }, { producer: PRODUCER })]);
    return { channelId, retentionDays };
  });
}
