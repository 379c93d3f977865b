/** The analytics page's data shaping (src/analytics.ts, src/analyticsCharts.ts) and its route. */
import { describe, expect, it } from 'vitest';
import { isStreamItem } from '../src/api';
import {
  analyticsPath, formatMs, formatRatio, formatWatchTime, intervalFor, parseRangeValue, parseSessionList, parseStreamAnalytics, rangeValue, summarize,
} from '../src/analytics';
import { analyticsCharts, intervalLabel, isolatedIndices, renditionChart, ttffChart, viewersChart, watchTimeChart } from '../src/analyticsCharts';
import { hrefFor, parseRoute } from '../src/routes';

const T0 = Date.UTC(2026, 11, 7, 12, 0, 0);
const at = (min: number) => new Date(T0 + min * 60_000).toISOString();
const point = (min: number, p: Partial<Record<string, number | null>> = {}) => ({
  t: at(min), concurrentViewers: 0, chatMessages: 0, ingestBitrateKbps: null, ingestFrameRate: null, rebufferingRatio: null,
  watchTimeSeconds: 0, ttffP50Ms: null, ttffP95Ms: null, ...p,
});

/** An API answer as `GET /api/streams/{id}/analytics` sends it (with fields the page ignores). */
const BODY = {
  channelId: 'ann', sessionId: 'sess-1', from: at(0), to: at(3), intervalSeconds: 60,
  uniqueViewers: 2, playbackSessions: 3, watchTimeSeconds: 150, ttffP50Ms: 900, ttffP95Ms: 1400, rebufferingRatio: 0.02,
  errorsPer1000Sessions: 0, fatalErrors: 0, followersGained: 1, chatMessages: 4, peakConcurrentViewers: 2,
  renditions: [{ rendition: '720p', seconds: 90, share: 0.75 }, { rendition: '480p', seconds: 30, share: 0.25 }],
  series: [
    point(0, { concurrentViewers: 2, watchTimeSeconds: 90, ttffP50Ms: 900, ttffP95Ms: 1400, rebufferingRatio: 0.05, chatMessages: 3 }),
    point(1, { concurrentViewers: 1, watchTimeSeconds: 60, rebufferingRatio: 0, chatMessages: 1 }),
    point(2),
  ],
  sessions: [],
};
const utc = (iso: string) => iso.slice(11, 16);

describe('analytics answer', () => {
  it('keeps the fields the page uses and refuses a malformed answer', () => {
    const a = parseStreamAnalytics(BODY);
    expect(a.series).toHaveLength(3);
    expect(a.series[0]).toEqual({ t: at(0), concurrentViewers: 2, chatMessages: 3, watchTimeSeconds: 90, rebufferingRatio: 0.05, ttffP50Ms: 900, ttffP95Ms: 1400 });
    expect(a).not.toHaveProperty('sessions');
    expect(() => parseStreamAnalytics({ ...BODY, series: [{ t: at(0) }] })).toThrow(/expected shape/);
    expect(() => parseStreamAnalytics({ ...BODY, watchTimeSeconds: '150' })).toThrow(/expected shape/);
    expect(() => parseStreamAnalytics(null)).toThrow(/expected shape/);
  });

  it('sums up: peak and average concurrent viewers over the intervals with viewers, empty without playback', () => {
    const s = summarize(parseStreamAnalytics(BODY));
    expect(s).toMatchObject({ peakConcurrentViewers: 2, averageConcurrentViewers: 1.5, watchTimeSeconds: 150, ttffP50Ms: 900, ttffP95Ms: 1400, rebufferingRatio: 0.02, empty: false });
    const none = summarize(parseStreamAnalytics({ ...BODY, playbackSessions: 0, watchTimeSeconds: 0, peakConcurrentViewers: 0, series: [point(0)], renditions: [] }));
    expect(none).toMatchObject({ averageConcurrentViewers: 0, empty: true });
  });

  it('formats watch time, milliseconds and ratios with units', () => {
    expect([formatWatchTime(42.4), formatWatchTime(150), formatWatchTime(7560), formatWatchTime(Number.NaN)]).toEqual(['42 s', '2.5 min', '2.1 h', '—']);
    expect([formatMs(850.4), formatMs(1234), formatMs(null)]).toEqual(['850 ms', '1.2 s', '—']);
    expect([formatRatio(0.0123), formatRatio(0.5)]).toEqual(['1.23 %', '50.0 %']);
  });
});

describe('ranges', () => {
  it('asks for a session over its own span at an interval that fits it, and for the channel over the last 7 or 30 days', () => {
    const now = T0;
    const session = { startedAt: at(-120), endedAt: at(-10) };
    // 110 min + 1 min after the end: 30-s intervals give 222 points (≤ 240).
    expect(analyticsPath('ann', { kind: 'session', sessionId: 's 1' }, now, session)).toBe('/api/streams/s%201/analytics?interval=30');
    expect(analyticsPath('ann', { kind: 'session', sessionId: 's1' }, now)).toBe('/api/streams/s1/analytics?interval=60');
    const week = new URL(analyticsPath('ann', { kind: 'days', days: 7 }, now), 'http://x');
    expect(week.pathname).toBe('/api/streams/ann/analytics');
    expect(Object.fromEntries(week.searchParams)).toEqual({ from: new Date(now - 7 * 86_400_000).toISOString(), to: new Date(now).toISOString(), interval: '3600' });
    const month = new URL(analyticsPath('ann', { kind: 'days', days: 30 }, now), 'http://x');
    expect(month.searchParams.get('interval')).toBe('21600');
    // Every range stays within the API's limits: ≤ 31 days, ≤ 2000 points.
    expect((Date.parse(month.searchParams.get('to')!) - Date.parse(month.searchParams.get('from')!)) / 21_600_000).toBeLessThanOrEqual(2000);
  });

  it('picks the smallest interval with at most 240 points', () => {
    expect(intervalFor(60_000)).toBe(30);
    expect(intervalFor(3 * 3600_000)).toBe(60);
    expect(intervalFor(12 * 3600_000)).toBe(300);
    expect(intervalFor(400 * 86_400_000)).toBe(86_400);
    expect(intervalFor(Number.NaN)).toBe(30);
  });

  it('round-trips the picker values and the route', () => {
    for (const r of [{ kind: 'days', days: 7 }, { kind: 'days', days: 30 }, { kind: 'session', sessionId: 'abc' }] as const) {
      expect(parseRangeValue(rangeValue(r))).toEqual(r);
    }
    expect(parseRangeValue('1d')).toBeNull();
    expect(parseRangeValue('session:')).toBeNull();
    expect(parseRoute('/dashboard/analytics')).toEqual({ name: 'analytics', range: null });
    expect(parseRoute('/dashboard/analytics/', '?range=30d')).toEqual({ name: 'analytics', range: '30d' });
    expect(hrefFor({ name: 'analytics', range: 'session:a b' })).toBe('/dashboard/analytics?range=session%3Aa+b');
    expect(hrefFor({ name: 'analytics', range: null })).toBe('/dashboard/analytics');
  });

  it('lists the channel\'s sessions newest first, dropping malformed items', () => {
    const item = (id: string, startedAt: string) => ({
      sessionId: id, channelId: 'ann', channelName: 'Ann', title: '', status: 'vod', startedAt, endedAt: null, playbackUrl: null, vodUrl: null, vodMp4Url: null, renditions: [],
    });
    const list = parseSessionList({ items: [item('old', at(-60)), { sessionId: 3 }, item('new', at(-5))] }, isStreamItem);
    expect(list.map((s) => s.sessionId)).toEqual(['new', 'old']);
    expect(() => parseSessionList({}, isStreamItem)).toThrow(/items/);
  });
});

describe('chart data', () => {
  const a = parseStreamAnalytics(BODY);

  it('puts every time chart on the intervals\' Unix seconds, with gaps where there is no value', () => {
    const charts = analyticsCharts(a, utc);
    expect(charts.map((c) => c.id)).toEqual(['viewers', 'watch-time', 'ttff', 'rebuffering', 'renditions', 'chat']);
    const viewers = viewersChart(a, utc);
    expect(viewers.x).toEqual([T0 / 1000, T0 / 1000 + 60, T0 / 1000 + 120]);
    expect(viewers.step).toBe(60);
    expect(viewers.series[0]!.values).toEqual([2, 1, 0]);
    expect(watchTimeChart(a, utc).series[0]!.values).toEqual([1.5, 1, 0]);
    const ttff = ttffChart(a, utc);
    expect(ttff.series.map((s) => s.values)).toEqual([[900, null, null], [1400, null, null]]);
    expect(charts.find((c) => c.id === 'rebuffering')!.series[0]!.values).toEqual([5, 0, null]);
    expect(charts.find((c) => c.id === 'chat')!.series[0]!.values).toEqual([3, 1, 0]);
    expect(charts.every((c) => !c.empty)).toBe(true);
  });

  it('describes each chart in a sentence and a table, with units', () => {
    const viewers = viewersChart(a, utc);
    expect(viewers.summary).toBe('Concurrent viewers, per minute, from 12:00 to 12:02: Viewers highest 2 at 12:00.');
    expect(viewers.table.columns).toEqual(['Interval start (per minute)', 'Viewers']);
    expect(viewers.table.rows).toEqual([['12:00', '2'], ['12:01', '1'], ['12:02', '0']]);
    expect(ttffChart(a, utc).table.rows[1]).toEqual(['12:01', '—', '—']);
    expect(ttffChart(a, utc).summary).toContain('Median highest 900 ms at 12:00; 95th percentile highest 1400 ms at 12:00');
    expect(watchTimeChart(a, utc).table.rows[0]).toEqual(['12:00', '1.5 min']);
    const r = renditionChart(a);
    expect(r).toMatchObject({ x: [0, 1], categories: ['720p', '480p'], step: 1, empty: false });
    expect(r.series[0]!.values).toEqual([75, 25]);
    expect(r.summary).toBe('Rendition mix, share of watch time: 720p 75.0 %, 480p 25.0 %.');
    expect(r.table.rows[0]).toEqual(['720p', '75.0 %', '1.5 min']);
  });

  it('marks charts without data as empty; a measured 0 % rebuffering is data', () => {
    const smooth = parseStreamAnalytics({ ...BODY, series: [point(0, { concurrentViewers: 1, watchTimeSeconds: 60, rebufferingRatio: 0 }), point(1)] });
    expect(analyticsCharts(smooth, utc).find((c) => c.id === 'rebuffering')).toMatchObject({ empty: false, summary: expect.stringContaining('highest 0.00 %') as unknown });
    expect(analyticsCharts(smooth, utc).find((c) => c.id === 'chat')!.empty).toBe(true);
    const quiet = parseStreamAnalytics({ ...BODY, renditions: [], series: [point(0), point(1)] });
    const charts = analyticsCharts(quiet, utc);
    expect(charts.every((c) => c.empty)).toBe(true);
    expect(charts[0]!.summary).toBe('Concurrent viewers, per minute, from 12:00 to 12:01: no data.');
    expect(renditionChart(quiet).summary).toBe('Rendition mix: no data.');
  });

  it('finds the values standing alone between gaps (drawn as dots)', () => {
    expect(isolatedIndices([null, 5, null, 1, 2, null, 0])).toEqual([1, 6]);
    expect(isolatedIndices([3])).toEqual([0]);
    expect(isolatedIndices([null, null])).toEqual([]);
  });

  it('names intervals', () => {
    expect([60, 300, 3600, 21_600, 86_400, 30, 90].map(intervalLabel)).toEqual(['minute', '5 minutes', 'hour', '6 hours', 'day', '30 seconds', '90 seconds']);
  });
});
