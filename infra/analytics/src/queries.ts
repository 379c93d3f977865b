/**
 * The analytics the API serves, computed at query time from the tables of migration
 * `0002_viewer_analytics` (and `domain_events` for follows and stream lifecycle).
 *
 * Every table is a ReplacingMergeTree keyed by record id, so every read uses `FINAL`: a record
 * that was redelivered or replayed counts once even before the background merge. User input
 * reaches ClickHouse only as query parameters (`{name:Type}` placeholders bound by the server,
 * ClickHouse docs "Queries with parameters"); the SQL text is fixed, apart from choosing
 * between constant fragments (with or without a session filter).
 *
 * Time ranges are half-open, `[from, to)`, on the record's own time: the player's clock for
 * beacons (`client_at`), the event's `occurredAt` otherwise. Times reach ClickHouse as epoch
 * milliseconds (`Int64`), which both a ClickHouse server and chDB bind without losing the
 * millisecond part.
 */
import type { ClickHouseClient } from '@clickhouse/client';

/** Parameters of {@link streamAnalytics}. */
export interface StreamAnalyticsQuery {
  /** Channel whose stream(s) to report on. */
  readonly channelId: string;
  /** One broadcast session of the channel; all of the channel's sessions when absent. */
  readonly sessionId?: string;
  /** Start of the range, inclusive. */
  readonly from: Date;
  /** End of the range, exclusive. */
  readonly to: Date;
  /** Width of a series bucket, whole seconds ≥ 1. Buckets are aligned to multiples of it since the Unix epoch. */
  readonly intervalSeconds: number;
}

/** One bucket of {@link StreamAnalytics.series}. */
export interface StreamAnalyticsPoint {
  /** ISO-8601 start of the bucket (UTC); the bucket covers `[t, t + interval)`. */
  readonly t: string;
  /** Distinct playback sessions with a heartbeat in the bucket. */
  readonly concurrentViewers: number;
  /** Chat messages accepted in the bucket, deleted ones excluded. */
  readonly chatMessages: number;
  /** Mean ingest bitrate (audio + video) of the health reports in the bucket, kbit/s; null without reports. */
  readonly ingestBitrateKbps: number | null;
  /** Mean received frame rate of the health reports in the bucket, frames/s; null without reports. */
  readonly ingestFrameRate: number | null;
  /** Stalled ms / (stalled ms + playing ms) of the beacons in the bucket, 0..1; null when both are 0. */
  readonly rebufferingRatio: number | null;
  /** Sum of heartbeat and session_end `playingMs` of the beacons in the bucket, seconds. */
  readonly watchTimeSeconds: number;
  /** Median of the first_frame `ttffMs` reported in the bucket (linear interpolation), ms; null without first frames. */
  readonly ttffP50Ms: number | null;
  /** 95th percentile of the first_frame `ttffMs` reported in the bucket (linear interpolation), ms; null without first frames. */
  readonly ttffP95Ms: number | null;
}

/** One playback session (one page view) in {@link StreamAnalytics.sessions}. */
export interface PlaybackSessionSummary {
  readonly playbackSessionId: string;
  /** The browser's random viewer id (not a user id). */
  readonly viewerId: string;
  /** Sum of `playingMs` of its heartbeats and session_end, seconds. */
  readonly watchTimeSeconds: number;
  /** Sum of its rebuffer_end `durationMs`, ms. */
  readonly rebufferMs: number;
  /** rebufferMs / (rebufferMs + playing ms), 0..1; 0 when both are 0. */
  readonly rebufferingRatio: number;
  /** Its first_frame `ttffMs` (the smallest, should there be several); null without one. */
  readonly ttffMs: number | null;
  /** Its error beacons, fatal or not. */
  readonly errors: number;
}

/** What {@link streamAnalytics} returns; every figure is over the query's `[from, to)`. */
export interface StreamAnalytics {
  /** Distinct `viewerId`s. */
  readonly uniqueViewers: number;
  /** Distinct playback sessions (page views) with any beacon. */
  readonly playbackSessions: number;
  /** Sum of heartbeat and session_end `playingMs`, seconds. */
  readonly watchTimeSeconds: number;
  /** Median of first_frame `ttffMs` (linear interpolation between ranks), ms; null without first frames. */
  readonly ttffP50Ms: number | null;
  /** 95th percentile of first_frame `ttffMs` (linear interpolation), ms; null without first frames. */
  readonly ttffP95Ms: number | null;
  /** stalled ms / (stalled ms + playing ms), 0..1 (0 when both are 0). */
  readonly rebufferingRatio: number;
  /** Error beacons (fatal or not) per 1,000 playback sessions; 0 without sessions. */
  readonly errorsPer1000Sessions: number;
  /** Error beacons with `fatal: true`. */
  readonly fatalErrors: number;
  /**
   * Time played per rendition, from heartbeats (each heartbeat's `playingMs` is credited to the
   * rendition it reports): seconds, and share of the heartbeat playing time (0..1), largest first.
   */
  readonly renditions: readonly { rendition: string; seconds: number; share: number }[];
  /** ChannelFollowed minus ChannelUnfollowed of the channel (any session). May be negative. */
  readonly followersGained: number;
  /** Chat messages accepted, deleted ones excluded. */
  readonly chatMessages: number;
  /** Largest `concurrentViewers` of the series' buckets. */
  readonly peakConcurrentViewers: number;
  /** One point per bucket from the bucket holding `from` to the one holding the last instant before `to`. */
  readonly series: readonly StreamAnalyticsPoint[];
  /** The 100 playback sessions with the most watch time, longest first. */
  readonly sessions: readonly PlaybackSessionSummary[];
}

/** Most buckets a series may have (e.g. 7 days at 1-minute intervals is 10,080). */
export const MAX_SERIES_POINTS = 20_000;
/** How many sessions {@link StreamAnalytics.sessions} lists. */
export const TOP_SESSIONS = 100;
/** How many channels {@link AnalyticsOverview.topChannels} lists. */
export const TOP_CHANNELS = 10;

/** Beacon types whose `playing_ms` make up watch time. */
const WATCH_TYPES = `type IN ('heartbeat', 'session_end')`;
const FROM = `fromUnixTimestamp64Milli({fromMs:Int64}, 'UTC')`;
const TO = `fromUnixTimestamp64Milli({toMs:Int64}, 'UTC')`;

function inRange(column: string): string {
  return `${column} >= ${FROM} AND ${column} < ${TO}`;
}

function bucketOf(column: string): string {
  return `intDiv(toUnixTimestamp64Milli(${column}) - {originMs:Int64}, {intervalMs:Int64})`;
}

/** 64-bit integers come back as JSON strings (server default), other numbers as numbers. */
type Num = number | string;

function n(v: Num | null | undefined): number {
  return v === null || v === undefined ? 0 : Number(v);
}

function nullableNumber(v: Num | null | undefined): number | null {
  return v === null || v === undefined ? null : Number(v);
}

function ratio(stalled: number, playing: number): number | null {
  return stalled + playing > 0 ? stalled / (stalled + playing) : null;
}

async function rows<T>(client: ClickHouseClient, query: string, params: Record<string, unknown>): Promise<T[]> {
  const rs = await client.query({ query, query_params: params, format: 'JSONEachRow' });
  return rs.json<T>();
}

function checkRange(from: Date, to: Date): { fromMs: number; toMs: number } {
  const fromMs = from instanceof Date ? from.getTime() : Number.NaN;
  const toMs = to instanceof Date ? to.getTime() : Number.NaN;
  if (!Number.isFinite(fromMs) || !Number.isFinite(toMs)) throw new RangeError('from and to must be valid dates');
  if (fromMs >= toMs) throw new RangeError('from must be before to');
  return { fromMs, toMs };
}

/**
 * The beacon aggregates every query needs, computed per grouping set of one scan (aliases
 * differ from column names: an alias equal to a column would shadow it in the other aggregates).
 */
const BEACON_AGGREGATES = `
    uniqExact(viewer_id) AS unique_viewers,
    uniqExact(playback_session_id) AS playback_sessions,
    uniqExactIf(playback_session_id, type = 'heartbeat') AS concurrent,
    any(viewer_id) AS any_viewer,
    sumIf(playing_ms, ${WATCH_TYPES}) AS watch_ms,
    sumIf(playing_ms, type = 'heartbeat') AS heartbeat_ms,
    sumIf(rebuffer_ms, type = 'rebuffer_end') AS stall_ms,
    minIf(ttff_ms, type = 'first_frame') AS ttff_min,
    quantilesExactInclusiveIf(0.5, 0.95)(ttff_ms, type = 'first_frame') AS ttff,
    countIf(type = 'error') AS errors,
    countIf(type = 'error' AND fatal) AS fatal_errors`;

/** One row of a beacon grouping-set query; which key columns are meaningful depends on `g`. */
interface BeaconAggregateRow {
  /** `grouping(...)` bit mask: a bit is 1 when that key is aggregated away (SQL-standard GROUPING). */
  g: Num;
  unique_viewers: Num; playback_sessions: Num; concurrent: Num; any_viewer: string;
  watch_ms: Num; heartbeat_ms: Num; stall_ms: Num; ttff_min: Num | null; ttff: Array<number | null> | null;
  errors: Num; fatal_errors: Num;
}

/**
 * A streamer's analytics for one channel (optionally one broadcast session) over `[from, to)`:
 * viewers, watch time, quality of experience (TTFF percentiles, rebuffering, errors, rendition
 * mix), chat activity, followers gained and ingest health, plus a time series and the longest
 * playback sessions. Definitions are on {@link StreamAnalytics}; issue 6 "Aggregates".
 *
 * Two queries (run in parallel), each reading only the channel's primary-key range
 * (`channel_id`, then `session_id`, lead every sorting key) with `FINAL`, so that redelivered or
 * replayed records count once: one scan of `playback_beacons` computing totals, buckets,
 * renditions and sessions as `GROUPING SETS`; and one `UNION ALL` over `chat_messages` (minus
 * `chat_message_deletions`), `ingest_health` and `domain_events` (follows). With `sessionId`,
 * beacons, chat and ingest health are limited to that session; follows are counted for the
 * channel over the range (they have no session).
 *
 * @throws RangeError when `channelId` is empty, `from`/`to` are not valid dates or `from` is not
 *   before `to`, `intervalSeconds` is not an integer ≥ 1, or the series would have more than
 *   {@link MAX_SERIES_POINTS} buckets.
 * @throws ClickHouseError (from `@clickhouse/client`) when a query fails, e.g. the tables do not
 *   exist yet (`UNKNOWN_TABLE`: run `migrateAnalytics` first).
 */
export async function streamAnalytics(client: ClickHouseClient, q: StreamAnalyticsQuery): Promise<StreamAnalytics> {
  if (typeof q.channelId !== 'string' || q.channelId.length === 0) throw new RangeError('channelId must be a non-empty string');
  if (q.sessionId !== undefined && (typeof q.sessionId !== 'string' || q.sessionId.length === 0)) throw new RangeError('sessionId must be a non-empty string when given');
  const { fromMs, toMs } = checkRange(q.from, q.to);
  if (!Number.isSafeInteger(q.intervalSeconds) || q.intervalSeconds < 1) throw new RangeError('intervalSeconds must be an integer >= 1');
  const intervalMs = q.intervalSeconds * 1000;
  const originMs = Math.floor(fromMs / intervalMs) * intervalMs;
  const buckets = Math.ceil((toMs - originMs) / intervalMs);
  if (buckets > MAX_SERIES_POINTS) throw new RangeError(`the series would have ${buckets} points (more than ${MAX_SERIES_POINTS}): use a larger interval`);

  const session = q.sessionId !== undefined ? ' AND session_id = {sessionId:String}' : '';
  const params: Record<string, unknown> = {
    channelId: q.channelId, fromMs, toMs, originMs, intervalMs, perSet: Math.max(buckets, TOP_SESSIONS),
    ...(q.sessionId !== undefined ? { sessionId: q.sessionId } : {}),
  };

  const [beaconRows, otherRows] = await Promise.all([
    // Grouping sets: () totals, (bucket) series, (rendition_key) renditions, (playback_session_id)
    // sessions; `LIMIT n BY g` keeps every bucket and the longest sessions of each set.
    rows<BeaconAggregateRow & { bucket: Num; rendition_key: string; playback_session_id: string }>(client, `SELECT
        grouping(bucket, rendition_key, playback_session_id) AS g,
        ${bucketOf('client_at')} AS bucket,
        if(type = 'heartbeat', rendition, '') AS rendition_key,
        playback_session_id,${BEACON_AGGREGATES}
      FROM playback_beacons FINAL
      WHERE channel_id = {channelId:String}${session} AND ${inRange('client_at')}
      GROUP BY GROUPING SETS ((), (bucket), (rendition_key), (playback_session_id))
      ORDER BY g, watch_ms DESC, playback_session_id
      LIMIT {perSet:UInt32} BY g
      SETTINGS force_grouping_standard_compatibility = 1`, params),
    rows<{ source: 'chat' | 'ingest' | 'follows'; bucket: Num; a: number | null; b: number | null }>(client, `
      SELECT 'chat' AS source, ${bucketOf('occurred_at')} AS bucket, toFloat64(count()) AS a, toFloat64(0) AS b
      FROM chat_messages FINAL
      WHERE channel_id = {channelId:String}${session} AND ${inRange('occurred_at')}
        AND message_id NOT IN (SELECT message_id FROM chat_message_deletions WHERE channel_id = {channelId:String})
      GROUP BY bucket
      UNION ALL
      SELECT 'ingest' AS source, ${bucketOf('occurred_at')} AS bucket, avg(bitrate_kbps) AS a, avg(frame_rate) AS b
      FROM ingest_health FINAL
      WHERE channel_id = {channelId:String}${session} AND ${inRange('occurred_at')}
      GROUP BY bucket
      UNION ALL
      SELECT 'follows' AS source, toInt64(0) AS bucket,
        toFloat64(toInt64(countIf(type = 'ChannelFollowed')) - toInt64(countIf(type = 'ChannelUnfollowed'))) AS a, toFloat64(0) AS b
      FROM domain_events FINAL
      WHERE type IN ('ChannelFollowed', 'ChannelUnfollowed') AND channel_id = {channelId:String} AND ${inRange('occurred_at')}`, params),
  ]);

  const series: Array<{ -readonly [K in keyof StreamAnalyticsPoint]: StreamAnalyticsPoint[K] }> = [];
  for (let i = 0; i < buckets; i++) {
    series.push({
      t: new Date(originMs + i * intervalMs).toISOString(), concurrentViewers: 0, chatMessages: 0, ingestBitrateKbps: null, ingestFrameRate: null,
      rebufferingRatio: null, watchTimeSeconds: 0, ttffP50Ms: null, ttffP95Ms: null,
    });
  }
  // grouping(bucket, rendition_key, playback_session_id): bucket = 4, rendition = 2, session = 1; a set bit = aggregated away.
  let totals: BeaconAggregateRow | undefined;
  const renditionRows: Array<{ rendition: string; ms: number }> = [];
  const sessionRows: Array<BeaconAggregateRow & { playback_session_id: string }> = [];
  for (const r of beaconRows) {
    switch (n(r.g)) {
      case 7: totals = r; break;
      case 3: {
        const p = series[n(r.bucket)];
        if (p) {
          p.concurrentViewers = n(r.concurrent);
          p.rebufferingRatio = ratio(n(r.stall_ms), n(r.watch_ms));
          p.watchTimeSeconds = n(r.watch_ms) / 1000;
          p.ttffP50Ms = nullableNumber(r.ttff?.[0]);
          p.ttffP95Ms = nullableNumber(r.ttff?.[1]);
        }
        break;
      }
      case 5: if (r.rendition_key !== '') renditionRows.push({ rendition: r.rendition_key, ms: n(r.heartbeat_ms) }); break;
      case 6: if (sessionRows.length < TOP_SESSIONS) sessionRows.push(r); break;
    }
  }
  let chatMessages = 0;
  let followersGained = 0;
  for (const r of otherRows) {
    if (r.source === 'follows') { followersGained = n(r.a); continue; }
    const p = series[n(r.bucket)];
    if (!p) continue;
    if (r.source === 'chat') {
      p.chatMessages = n(r.a);
      chatMessages += p.chatMessages;
    } else {
      p.ingestBitrateKbps = nullableNumber(r.a);
      p.ingestFrameRate = nullableNumber(r.b);
    }
  }

  const watchMs = n(totals?.watch_ms);
  const stallMs = n(totals?.stall_ms);
  const playbackSessions = n(totals?.playback_sessions);
  renditionRows.sort((a, b) => b.ms - a.ms || (a.rendition < b.rendition ? -1 : 1));
  const renditionTotalMs = renditionRows.reduce((sum, r) => sum + r.ms, 0);
  return {
    uniqueViewers: n(totals?.unique_viewers),
    playbackSessions,
    watchTimeSeconds: watchMs / 1000,
    ttffP50Ms: nullableNumber(totals?.ttff?.[0]),
    ttffP95Ms: nullableNumber(totals?.ttff?.[1]),
    rebufferingRatio: ratio(stallMs, watchMs) ?? 0,
    errorsPer1000Sessions: playbackSessions > 0 ? (n(totals?.errors) * 1000) / playbackSessions : 0,
    fatalErrors: n(totals?.fatal_errors),
    renditions: renditionRows.map((r) => ({ rendition: r.rendition, seconds: r.ms / 1000, share: renditionTotalMs > 0 ? r.ms / renditionTotalMs : 0 })),
    followersGained,
    chatMessages,
    peakConcurrentViewers: series.reduce((m, p) => Math.max(m, p.concurrentViewers), 0),
    series,
    sessions: sessionRows.map((r) => ({
      playbackSessionId: r.playback_session_id,
      viewerId: r.any_viewer,
      watchTimeSeconds: n(r.watch_ms) / 1000,
      rebufferMs: n(r.stall_ms),
      rebufferingRatio: ratio(n(r.stall_ms), n(r.watch_ms)) ?? 0,
      ttffMs: nullableNumber(r.ttff_min),
      errors: n(r.errors),
    })),
  };
}

/** What {@link analyticsOverview} returns: the whole platform over `[from, to)`. */
export interface AnalyticsOverview {
  /** ISO-8601 start of the range (inclusive). */
  readonly from: string;
  /** ISO-8601 end of the range (exclusive). */
  readonly to: string;
  /** Distinct `viewerId`s over every channel. */
  readonly uniqueViewers: number;
  /** Distinct playback sessions (page views). */
  readonly playbackSessions: number;
  /** Sum of heartbeat and session_end `playingMs`, seconds. */
  readonly watchTimeSeconds: number;
  /** stalled ms / (stalled ms + playing ms), 0..1 (0 when both are 0). */
  readonly rebufferingRatio: number;
  /** Error beacons per 1,000 playback sessions; 0 without sessions. */
  readonly errorsPer1000Sessions: number;
  /** Chat messages accepted, deleted ones excluded. */
  readonly chatMessages: number;
  /**
   * Broadcast sessions that were live at some instant of the range: a StreamPublishStarted
   * before `to`, and no StreamPublishEnded / StreamFailed before `from`.
   */
  readonly streamsLive: number;
  /** The 10 channels with the most watch time (seconds), with their distinct viewers; most first. */
  readonly topChannels: readonly { channelId: string; watchTimeSeconds: number; uniqueViewers: number }[];
}

/**
 * The admins' overview of the whole platform over `[from, to)`: viewers, watch time, quality
 * of experience, chat, streams live and the channels watched most. Same definitions as
 * {@link streamAnalytics}, over every channel; reads with `FINAL` (records counted once). Two
 * queries: one scan of `playback_beacons` (totals and per-channel `GROUPING SETS`) and one
 * `UNION ALL` of chat and stream lifecycle. Unlike the stream query this one scans the range of
 * every channel (partitions by month and the `client_at` minmax index prune by time): seconds on
 * tens of millions of beacons; it is for admins, not for a page every viewer loads.
 * @throws RangeError when `from`/`to` are not valid dates or `from` is not before `to`.
 * @throws ClickHouseError (from `@clickhouse/client`) when a query fails.
 */
export async function analyticsOverview(client: ClickHouseClient, q: { from: Date; to: Date }): Promise<AnalyticsOverview> {
  const { fromMs, toMs } = checkRange(q.from, q.to);
  const params = { fromMs, toMs, top: TOP_CHANNELS };
  const [beaconRows, otherRows] = await Promise.all([
    // Grouping sets: () totals and (channel_id) per channel, the top channels kept by `LIMIT n BY g`.
    rows<BeaconAggregateRow & { channel_id: string }>(client, `SELECT grouping(channel_id) AS g, channel_id,${BEACON_AGGREGATES}
      FROM playback_beacons FINAL
      WHERE ${inRange('client_at')}
      GROUP BY GROUPING SETS ((), (channel_id))
      ORDER BY g, watch_ms DESC, channel_id
      LIMIT {top:UInt32} BY g
      SETTINGS force_grouping_standard_compatibility = 1`, params),
    rows<{ source: 'chat' | 'live'; n: Num }>(client, `
      SELECT 'chat' AS source, count() AS n
      FROM chat_messages FINAL
      WHERE ${inRange('occurred_at')} AND message_id NOT IN (SELECT message_id FROM chat_message_deletions)
      UNION ALL
      SELECT 'live' AS source, count() AS n FROM (
        SELECT session_id,
          countIf(type = 'StreamPublishStarted') AS starts,
          countIf(type IN ('StreamPublishEnded', 'StreamFailed')) AS ends,
          minIf(occurred_at, type IN ('StreamPublishEnded', 'StreamFailed')) AS ended_at
        FROM domain_events FINAL
        WHERE type IN ('StreamPublishStarted', 'StreamPublishEnded', 'StreamFailed') AND session_id != '' AND occurred_at < ${TO}
        GROUP BY session_id
        HAVING starts > 0 AND (ends = 0 OR ended_at >= ${FROM})
      )`, params),
  ]);
  // grouping(channel_id): 1 = the totals row, 0 = one channel.
  const totals = beaconRows.find((r) => n(r.g) === 1);
  const watchMs = n(totals?.watch_ms);
  const sessions = n(totals?.playback_sessions);
  return {
    from: new Date(fromMs).toISOString(),
    to: new Date(toMs).toISOString(),
    uniqueViewers: n(totals?.unique_viewers),
    playbackSessions: sessions,
    watchTimeSeconds: watchMs / 1000,
    rebufferingRatio: ratio(n(totals?.stall_ms), watchMs) ?? 0,
    errorsPer1000Sessions: sessions > 0 ? (n(totals?.errors) * 1000) / sessions : 0,
    chatMessages: n(otherRows.find((r) => r.source === 'chat')?.n),
    streamsLive: n(otherRows.find((r) => r.source === 'live')?.n),
    topChannels: beaconRows.filter((r) => n(r.g) === 0).map((r) => ({ channelId: r.channel_id, watchTimeSeconds: n(r.watch_ms) / 1000, uniqueViewers: n(r.unique_viewers) })),
  };
}
