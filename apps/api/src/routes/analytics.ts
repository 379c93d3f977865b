/**
 * Analytics routes: a streamer's view of a stream and the admins' platform overview, answered
 * from ClickHouse through the query functions of `@live/analytics` (queries.ts).
 */
import { Type, type Static } from '@sinclair/typebox';
import { analyticsOverview, streamAnalytics, type ClickHouseClient } from '@live/analytics';
import { ApiError, ErrorBody } from '../errors.js';
import { requireChannelManager, requireRole, requireUser, type ApiApp, type ApiContext } from '../context.js';

/** The ClickHouse client the analytics routes query (`createAnalyticsClient` of `@live/analytics`). */
export type AnalyticsClient = ClickHouseClient;

const IdParam = Type.String({ pattern: '^[A-Za-z0-9_-]{1,128}$' });
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
const Ratio = Type.Number({ minimum: 0, maximum: 1, description: 'fraction, 0..1' });
const DateTime = Type.String({ format: 'date-time' });

/** Shortest `interval` of `GET /api/streams/{id}/analytics`, seconds. */
export const MIN_ANALYTICS_INTERVAL_SECONDS = 10;
/** Longest `interval`, seconds (one day). */
export const MAX_ANALYTICS_INTERVAL_SECONDS = 86_400;
/** Default `interval`, seconds. */
export const DEFAULT_ANALYTICS_INTERVAL_SECONDS = 60;
/** Longest range of `GET /api/streams/{id}/analytics`, ms (31 days). */
export const MAX_STREAM_ANALYTICS_RANGE_MS = 31 * 86_400_000;
/** Most points of a stream's `series` ((to − from) / interval). */
export const MAX_ANALYTICS_POINTS = 2000;
/** Longest range of `GET /api/analytics/overview`, ms (366 days). */
export const MAX_OVERVIEW_RANGE_MS = 366 * 86_400_000;
/** Range used when the caller gives neither `from` nor `to` (and, for a channel, no session bounds it), ms. */
export const DEFAULT_ANALYTICS_RANGE_MS = 86_400_000;

/**
 * Answer of `GET /api/streams/{id}/analytics`: what was asked (`channelId`, `sessionId` or null
 * for a whole channel, `from`/`to` ISO 8601, `intervalSeconds`) and the `StreamAnalytics` of
 * `@live/analytics` over it. Units: seconds of watch time, ms of TTFF and stall, ratios 0..1,
 * kbit/s of ingest bitrate, frames/s; `series[].t` is the start of each interval (ISO 8601).
 */
export const StreamAnalyticsResponse = Type.Object({
  channelId: Type.String(),
  sessionId: Nullable(Type.String()),
  from: DateTime,
  to: DateTime,
  intervalSeconds: Type.Integer(),
  uniqueViewers: Type.Integer({ minimum: 0 }),
  playbackSessions: Type.Integer({ minimum: 0 }),
  watchTimeSeconds: Type.Number({ minimum: 0 }),
  ttffP50Ms: Nullable(Type.Number()),
  ttffP95Ms: Nullable(Type.Number()),
  rebufferingRatio: Ratio,
  errorsPer1000Sessions: Type.Number({ minimum: 0 }),
  fatalErrors: Type.Integer({ minimum: 0 }),
  renditions: Type.Array(Type.Object({ rendition: Type.String(), seconds: Type.Number(), share: Ratio })),
  followersGained: Type.Integer(),
  chatMessages: Type.Integer({ minimum: 0 }),
  peakConcurrentViewers: Type.Integer({ minimum: 0 }),
  series: Type.Array(Type.Object({
    t: DateTime,
    concurrentViewers: Type.Integer({ minimum: 0 }),
    chatMessages: Type.Integer({ minimum: 0 }),
    ingestBitrateKbps: Nullable(Type.Number()),
    ingestFrameRate: Nullable(Type.Number()),
    rebufferingRatio: Nullable(Ratio),
    watchTimeSeconds: Type.Number({ minimum: 0, description: 'seconds played in the interval' }),
    ttffP50Ms: Nullable(Type.Number({ description: 'median time to first frame of the playbacks that started in the interval, ms' })),
    ttffP95Ms: Nullable(Type.Number({ description: '95th percentile time to first frame in the interval, ms' })),
  })),
  sessions: Type.Array(Type.Object({
    playbackSessionId: Type.String(),
    viewerId: Type.String(),
    watchTimeSeconds: Type.Number({ minimum: 0 }),
    rebufferMs: Type.Number({ minimum: 0 }),
    rebufferingRatio: Ratio,
    ttffMs: Nullable(Type.Number()),
    errors: Type.Integer({ minimum: 0 }),
  })),
});
/** Static type of {@link StreamAnalyticsResponse}. */
export type StreamAnalyticsResponse = Static<typeof StreamAnalyticsResponse>;

/** Answer of `GET /api/analytics/overview`: the platform over `from`..`to` (the `AnalyticsOverview` of `@live/analytics`). */
export const AnalyticsOverviewResponse = Type.Object({
  from: DateTime,
  to: DateTime,
  uniqueViewers: Type.Integer({ minimum: 0 }),
  playbackSessions: Type.Integer({ minimum: 0 }),
  watchTimeSeconds: Type.Number({ minimum: 0 }),
  rebufferingRatio: Ratio,
  errorsPer1000Sessions: Type.Number({ minimum: 0 }),
  chatMessages: Type.Integer({ minimum: 0 }),
  streamsLive: Type.Integer({ minimum: 0 }),
  topChannels: Type.Array(Type.Object({ channelId: Type.String(), watchTimeSeconds: Type.Number({ minimum: 0 }), uniqueViewers: Type.Integer({ minimum: 0 }) })),
});
/** Static type of {@link AnalyticsOverviewResponse}. */
export type AnalyticsOverviewResponse = Static<typeof AnalyticsOverviewResponse>;

const RangeQuery = {
  from: Type.Optional(Type.String({ format: 'date-time', description: 'ISO 8601 start (inclusive)' })),
  to: Type.Optional(Type.String({ format: 'date-time', description: 'ISO 8601 end (exclusive)' })),
};

/**
 * Resolves the analysed range: explicit bounds win; a missing one comes from `dflt`.
 * @throws ApiError ANALYTICS_RANGE_INVALID when `from` is not before `to` or the range is longer than `maxMs`.
 */
export function resolveRange(q: { from?: string | undefined; to?: string | undefined }, dflt: { from: number; to: number }, maxMs: number): { from: Date; to: Date } {
  let from = q.from !== undefined ? Date.parse(q.from) : undefined;
  let to = q.to !== undefined ? Date.parse(q.to) : undefined;
  if (from !== undefined && to === undefined) to = Math.max(from + 1, Math.min(dflt.to, from + maxMs));
  if (to !== undefined && from === undefined) from = Math.min(to - 1, Math.max(dflt.from, to - maxMs));
  from ??= dflt.from;
  to ??= dflt.to;
  if (!Number.isFinite(from) || !Number.isFinite(to)) throw new ApiError('ANALYTICS_RANGE_INVALID', '`from` and `to` must be ISO 8601 date-times.');
  if (from >= to) throw new ApiError('ANALYTICS_RANGE_INVALID', '`from` must be before `to`.');
  if (to - from > maxMs) throw new ApiError('ANALYTICS_RANGE_INVALID', `The range may span at most ${Math.round(maxMs / 86_400_000)} days.`);
  return { from: new Date(from), to: new Date(to) };
}

const iso = (v: Date | string): string => new Date(v).toISOString();

/**
 * Analytics routes (TypeBox schemas; answers from ClickHouse):
 * - `GET /api/streams/{id}/analytics?from=&to=&interval=`: `{id}` a channel id (all its
 *   playback, default range the last 24 h) or a broadcast session id (that session, default
 *   range its span: start to end, or now while live); `interval` seconds between `series`
 *   points ({@link MIN_ANALYTICS_INTERVAL_SECONDS}..{@link MAX_ANALYTICS_INTERVAL_SECONDS},
 *   default 60). For the channel's owner or an admin. Errors: UNAUTHENTICATED (401),
 *   NOT_CHANNEL_OWNER (403), STREAM_NOT_FOUND (404), VALIDATION_FAILED / ANALYTICS_RANGE_INVALID
 *   (400: `from` ≥ `to`, range over 31 days, more than {@link MAX_ANALYTICS_POINTS} points),
 *   ANALYTICS_UNAVAILABLE (503: no ClickHouse client, or the query failed).
 * - `GET /api/analytics/overview?from=&to=`: platform totals and the top channels by watch time
 *   (default the last 24 h, at most 366 days); admins only (401/403), ANALYTICS_UNAVAILABLE as above.
 * @param analytics the ClickHouse client, or undefined when the API runs without analytics.
 */
export async function analyticsRoutes(app: ApiApp, ctx: ApiContext, analytics: AnalyticsClient | undefined): Promise<void> {
  const tags = ['analytics'];
  const requireAnalytics = (): AnalyticsClient => {
    if (!analytics) throw new ApiError('ANALYTICS_UNAVAILABLE', 'Analytics are not configured on this API (CLICKHOUSE_URL is unset).');
    return analytics;
  };
  async function query<T>(fn: () => Promise<T>, log: (err: unknown) => void): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ApiError) throw err;
      log(err);
      throw new ApiError('ANALYTICS_UNAVAILABLE');
    }
  }

  app.get('/api/streams/:id/analytics', {
    schema: {
      tags,
      summary: "A stream's analytics (channel owner or admin)",
      params: Type.Object({ id: IdParam }),
      querystring: Type.Object({
        ...RangeQuery,
        interval: Type.Integer({ minimum: MIN_ANALYTICS_INTERVAL_SECONDS, maximum: MAX_ANALYTICS_INTERVAL_SECONDS, default: DEFAULT_ANALYTICS_INTERVAL_SECONDS, description: 'seconds per series point' }),
      }, { additionalProperties: false }),
      response: { 200: StreamAnalyticsResponse, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 503: ErrorBody },
    },
  }, async (req) => {
    requireUser(req);
    const now = ctx.clock.now();
    let channelId: string;
    let sessionId: string | null = null;
    let dflt = { from: now - DEFAULT_ANALYTICS_RANGE_MS, to: now };
    const ch = await ctx.db.selectFrom('channels').select('id').where('id', '=', req.params.id).executeTakeFirst();
    if (ch) {
      channelId = ch.id;
    } else {
      const s = await ctx.db.selectFrom('stream_sessions').select(['channel_id', 'started_at', 'ended_at']).where('session_id', '=', req.params.id).executeTakeFirst();
      if (!s) throw new ApiError('STREAM_NOT_FOUND');
      channelId = s.channel_id;
      sessionId = req.params.id;
      const start = new Date(s.started_at).getTime();
      // A session's span; viewers of the end of a broadcast are still counted a minute after it.
      dflt = { from: start, to: Math.max(start + 1, s.ended_at ? new Date(s.ended_at).getTime() + 60_000 : now) };
    }
    await requireChannelManager(ctx, req, channelId);
    const range = resolveRange(req.query, dflt, MAX_STREAM_ANALYTICS_RANGE_MS);
    const intervalSeconds = req.query.interval;
    const points = Math.ceil((range.to.getTime() - range.from.getTime()) / (intervalSeconds * 1000));
    if (points > MAX_ANALYTICS_POINTS) {
      throw new ApiError('ANALYTICS_RANGE_INVALID', `That is ${points} points; at most ${MAX_ANALYTICS_POINTS}: widen the interval or shorten the range.`);
    }
    const client = requireAnalytics();
    const a = await query(
      () => streamAnalytics(client, { channelId, ...(sessionId !== null ? { sessionId } : {}), from: range.from, to: range.to, intervalSeconds }),
      (err) => req.log.warn({ err: (err as Error).message, streamId: channelId, sessionId }, 'stream analytics query failed'),
    );
    return {
      ...a,
      channelId, sessionId, from: range.from.toISOString(), to: range.to.toISOString(), intervalSeconds,
      renditions: [...a.renditions],
      series: a.series.map((p) => ({ ...p, t: iso(p.t) })),
      sessions: [...a.sessions],
    };
  });

  app.get('/api/analytics/overview', {
    schema: {
      tags,
      summary: 'Platform analytics (admins)',
      querystring: Type.Object(RangeQuery, { additionalProperties: false }),
      response: { 200: AnalyticsOverviewResponse, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 503: ErrorBody },
    },
  }, async (req) => {
    requireRole(req, 'admin');
    const now = ctx.clock.now();
    const range = resolveRange(req.query, { from: now - DEFAULT_ANALYTICS_RANGE_MS, to: now }, MAX_OVERVIEW_RANGE_MS);
    const client = requireAnalytics();
    const o = await query(
      () => analyticsOverview(client, range),
      (err) => req.log.warn({ err: (err as Error).message }, 'analytics overview query failed'),
    );
    return { ...o, from: iso(o.from), to: iso(o.to), topChannels: [...o.topChannels] };
  });
}
