/**
 * The analytics page's data (pure; no DOM, no React): the answer of
 * `GET /api/streams/{id}/analytics` (apps/api/src/routes/analytics.ts, figures from
 * `streamAnalytics` of `@live/analytics`) parsed and checked, the ranges the page offers (one
 * broadcast session, or the channel over the last 7 or 30 days) turned into request paths, and
 * the summary tiles.
 */
import type { StreamItem } from './api';

/** One interval of {@link StreamAnalytics.series}; `t` is its ISO 8601 start. */
export interface AnalyticsPoint {
  readonly t: string;
  /** Playback sessions with a heartbeat in the interval. */
  readonly concurrentViewers: number;
  /** Chat messages accepted in the interval (deleted ones excluded). */
  readonly chatMessages: number;
  /** Seconds played in the interval. */
  readonly watchTimeSeconds: number;
  /** Stalled / (stalled + playing) time in the interval, 0..1; null when nothing played. */
  readonly rebufferingRatio: number | null;
  /** Median and 95th percentile time to first frame of the playbacks that started in the interval, ms; null without any. */
  readonly ttffP50Ms: number | null;
  readonly ttffP95Ms: number | null;
}

/** Share of heartbeat watch time per rendition (`share` 0..1, `seconds` played). */
export interface RenditionShare {
  readonly rendition: string;
  readonly seconds: number;
  readonly share: number;
}

/** The fields of `GET /api/streams/{id}/analytics` the page uses. Units: s, ms, ratios 0..1. */
export interface StreamAnalytics {
  readonly channelId: string;
  readonly sessionId: string | null;
  readonly from: string;
  readonly to: string;
  readonly intervalSeconds: number;
  readonly uniqueViewers: number;
  readonly playbackSessions: number;
  readonly watchTimeSeconds: number;
  readonly ttffP50Ms: number | null;
  readonly ttffP95Ms: number | null;
  readonly rebufferingRatio: number;
  readonly peakConcurrentViewers: number;
  readonly chatMessages: number;
  readonly renditions: readonly RenditionShare[];
  readonly series: readonly AnalyticsPoint[];
}

/** What the page shows: one broadcast session, or the whole channel over the last `days` days. */
export type AnalyticsRange = { readonly kind: 'session'; readonly sessionId: string } | { readonly kind: 'days'; readonly days: 7 | 30 };

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isNumOrNull = (v: unknown): v is number | null => v === null || isNum(v);
const isStr = (v: unknown): v is string => typeof v === 'string';

function isPoint(v: unknown): v is AnalyticsPoint {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return isStr(o.t) && isNum(o.concurrentViewers) && isNum(o.chatMessages) && isNum(o.watchTimeSeconds)
    && isNumOrNull(o.rebufferingRatio) && isNumOrNull(o.ttffP50Ms) && isNumOrNull(o.ttffP95Ms);
}

function isRendition(v: unknown): v is RenditionShare {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return isStr(o.rendition) && isNum(o.seconds) && isNum(o.share);
}

/**
 * Checks an analytics answer and keeps the fields the page uses.
 * @throws Error when `body` lacks a field or has one of the wrong type (the page shows the message).
 */
export function parseStreamAnalytics(body: unknown): StreamAnalytics {
  const o = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const ok = isStr(o.channelId) && (o.sessionId === null || isStr(o.sessionId)) && isStr(o.from) && isStr(o.to) && isNum(o.intervalSeconds)
    && isNum(o.uniqueViewers) && isNum(o.playbackSessions) && isNum(o.watchTimeSeconds) && isNumOrNull(o.ttffP50Ms) && isNumOrNull(o.ttffP95Ms)
    && isNum(o.rebufferingRatio) && isNum(o.peakConcurrentViewers) && isNum(o.chatMessages)
    && Array.isArray(o.renditions) && o.renditions.every(isRendition) && Array.isArray(o.series) && o.series.every(isPoint);
  if (!ok) throw new Error('The analytics answer does not have the expected shape.');
  const a = o as unknown as StreamAnalytics;
  return {
    channelId: a.channelId, sessionId: a.sessionId, from: a.from, to: a.to, intervalSeconds: a.intervalSeconds,
    uniqueViewers: a.uniqueViewers, playbackSessions: a.playbackSessions, watchTimeSeconds: a.watchTimeSeconds,
    ttffP50Ms: a.ttffP50Ms, ttffP95Ms: a.ttffP95Ms, rebufferingRatio: a.rebufferingRatio, peakConcurrentViewers: a.peakConcurrentViewers,
    chatMessages: a.chatMessages,
    renditions: a.renditions.map((r) => ({ rendition: r.rendition, seconds: r.seconds, share: r.share })),
    series: a.series.map((p) => ({
      t: p.t, concurrentViewers: p.concurrentViewers, chatMessages: p.chatMessages, watchTimeSeconds: p.watchTimeSeconds,
      rebufferingRatio: p.rebufferingRatio, ttffP50Ms: p.ttffP50Ms, ttffP95Ms: p.ttffP95Ms,
    })),
  };
}

/** `GET /api/streams?channelId=` path for the channel's most recent `limit` sessions (newest first). */
export function channelSessionsPath(channelId: string, limit = 20): string {
  return `/api/streams?${new URLSearchParams({ channelId, limit: String(limit) }).toString()}`;
}

/** The `items` of a `GET /api/streams` answer that have the documented shape, newest first. */
export function parseSessionList(body: unknown, isItem: (v: unknown) => v is StreamItem): StreamItem[] {
  const items = (body as { items?: unknown } | null)?.items;
  if (!Array.isArray(items)) throw new Error('The session list answer has no "items" array.');
  return items.filter(isItem).sort((a, b) => Date.parse(b.startedAt) - Date.parse(a.startedAt));
}

/** Series intervals the page picks from, seconds (each within the API's 10 s .. 1 day). */
export const INTERVAL_CHOICES = [30, 60, 300, 900, 1800, 3600, 21_600, 86_400] as const;
/** Most points the page asks for in one chart (well below the API's limit of 2000). */
export const MAX_CHART_POINTS = 240;
/** Interval of the 7-day view (hourly) and of the 30-day view (every 6 hours), seconds. */
export const DAYS_INTERVAL_SECONDS: Readonly<Record<7 | 30, number>> = { 7: 3600, 30: 21_600 };

/** The smallest of {@link INTERVAL_CHOICES} that splits `spanMs` into at most {@link MAX_CHART_POINTS} intervals. */
export function intervalFor(spanMs: number): number {
  const span = Number.isFinite(spanMs) && spanMs > 0 ? spanMs : 0;
  return INTERVAL_CHOICES.find((s) => span / (s * 1000) <= MAX_CHART_POINTS) ?? 86_400;
}

/**
 * The request path for a range. A session is asked for over its own span (the API's default:
 * start to end plus a minute, or now while live) at an interval fitting that span (`session`
 * from the channel's list; 60 s when it is not listed); `days` ask for the channel over
 * `[now − days, now)`.
 */
export function analyticsPath(channelId: string, range: AnalyticsRange, now: number, session?: Pick<StreamItem, 'startedAt' | 'endedAt'>): string {
  if (range.kind === 'session') {
    const end = session?.endedAt ? Date.parse(session.endedAt) + 60_000 : now;
    const interval = session ? intervalFor(end - Date.parse(session.startedAt)) : 60;
    return `/api/streams/${encodeURIComponent(range.sessionId)}/analytics?interval=${interval}`;
  }
  const q = new URLSearchParams({
    from: new Date(now - range.days * 86_400_000).toISOString(),
    to: new Date(now).toISOString(),
    interval: String(DAYS_INTERVAL_SECONDS[range.days]),
  });
  return `/api/streams/${encodeURIComponent(channelId)}/analytics?${q.toString()}`;
}

/** The `<select>` value of a range (`7d`, `30d`, `session:<id>`), and back (null for anything else). */
export function rangeValue(range: AnalyticsRange): string {
  return range.kind === 'days' ? `${range.days}d` : `session:${range.sessionId}`;
}

/** Inverse of {@link rangeValue}. */
export function parseRangeValue(value: string): AnalyticsRange | null {
  if (value === '7d') return { kind: 'days', days: 7 };
  if (value === '30d') return { kind: 'days', days: 30 };
  if (value.startsWith('session:') && value.length > 'session:'.length) return { kind: 'session', sessionId: value.slice('session:'.length) };
  return null;
}

/** The summary tiles: viewers, watch time, TTFF and rebuffering over the whole range. */
export interface AnalyticsSummary {
  readonly peakConcurrentViewers: number;
  /** Mean of `concurrentViewers` over the intervals that had any viewer; 0 without any. */
  readonly averageConcurrentViewers: number;
  readonly watchTimeSeconds: number;
  readonly ttffP50Ms: number | null;
  readonly ttffP95Ms: number | null;
  readonly rebufferingRatio: number;
  readonly uniqueViewers: number;
  readonly chatMessages: number;
  /** True when nobody watched in the range (the page shows its empty state). */
  readonly empty: boolean;
}

/** Summary of an analytics answer (see {@link AnalyticsSummary}). */
export function summarize(a: StreamAnalytics): AnalyticsSummary {
  const watched = a.series.filter((p) => p.concurrentViewers > 0);
  const average = watched.length > 0 ? watched.reduce((s, p) => s + p.concurrentViewers, 0) / watched.length : 0;
  return {
    peakConcurrentViewers: a.peakConcurrentViewers,
    averageConcurrentViewers: average,
    watchTimeSeconds: a.watchTimeSeconds,
    ttffP50Ms: a.ttffP50Ms,
    ttffP95Ms: a.ttffP95Ms,
    rebufferingRatio: a.rebufferingRatio,
    uniqueViewers: a.uniqueViewers,
    chatMessages: a.chatMessages,
    empty: a.playbackSessions === 0 && a.watchTimeSeconds === 0,
  };
}

/** "42 s", "3.5 min", "2.1 h" for a duration in seconds. */
export function formatWatchTime(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${trim(seconds / 60)} min`;
  return `${trim(seconds / 3600)} h`;
}

/** "850 ms", "1.2 s" for milliseconds; "—" for null. */
export function formatMs(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '—';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${trim(ms / 1000)} s`;
}

/** "1.25 %" for a ratio 0..1 (two decimals below 10 %, one above). */
export function formatRatio(ratio: number): string {
  const pct = ratio * 100;
  return `${pct < 10 ? pct.toFixed(2) : pct.toFixed(1)} %`;
}

/** A number with at most one decimal, without a trailing ".0". */
function trim(v: number): string {
  return String(Math.round(v * 10) / 10);
}
