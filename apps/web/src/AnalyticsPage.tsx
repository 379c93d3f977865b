/**
 * `/dashboard/analytics` (signed-in channel owner): the channel's analytics for one broadcast or
 * the last 7 / 30 days, from `GET /api/streams/{id}/analytics`: summary tiles and uPlot charts
 * (concurrent viewers, watch time, time to first frame, rebuffering, rendition mix, chat rate),
 * each with a text alternative. Loaded lazily (uPlot stays out of the home page's bundle).
 */
import { useCallback, useMemo, useState } from 'react';
import { isStreamItem, type StreamItem } from './api';
import {
  analyticsPath, channelSessionsPath, formatMs, formatRatio, formatWatchTime, parseRangeValue, parseSessionList, parseStreamAnalytics,
  rangeValue, summarize, type AnalyticsRange, type StreamAnalytics,
} from './analytics';
import { analyticsCharts, intervalLabel } from './analyticsCharts';
import { AnalyticsChart } from './AnalyticsChart';
import { clockDuration } from './format';
import { hrefFor, Link, navigate } from './router';
import { useApiList } from './useApiList';
import { useSession } from './useSession';

const parseSessions = (body: unknown): StreamItem[] => parseSessionList(body, isStreamItem);

/** "Dec 7, 14:02 · Title (12:05)" for the session picker. */
function sessionLabel(s: StreamItem): string {
  const when = new Date(s.startedAt).toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  const length = s.endedAt ? clockDuration((Date.parse(s.endedAt) - Date.parse(s.startedAt)) / 1000) : 'live';
  return `${when} · ${s.title || 'Untitled broadcast'} (${length})`;
}

/** The range picker: the channel's last 7 or 30 days, or one of its recent broadcasts. */
function RangePicker({ value, sessions, onChange, onRefresh }: { value: string; sessions: readonly StreamItem[]; onChange: (v: string) => void; onRefresh: () => void }) {
  return (
    <div className="analytics-controls">
      <label htmlFor="analytics-range">Period</label>
      <select id="analytics-range" value={value} onChange={(e) => onChange(e.target.value)} data-testid="analytics-range">
        <optgroup label="Channel">
          <option value="7d">Last 7 days</option>
          <option value="30d">Last 30 days</option>
        </optgroup>
        {sessions.length > 0 && (
          <optgroup label="Broadcasts">
            {sessions.map((s) => (
              <option key={s.sessionId} value={rangeValue({ kind: 'session', sessionId: s.sessionId })}>
                {sessionLabel(s)}
              </option>
            ))}
          </optgroup>
        )}
      </select>
      <button type="button" className="button" onClick={onRefresh}>
        Refresh
      </button>
    </div>
  );
}

/** The summary tiles of an answer. */
function SummaryTiles({ a }: { a: StreamAnalytics }) {
  const s = summarize(a);
  const tiles: Array<[string, string, string]> = [
    ['peak', 'Peak concurrent viewers', String(s.peakConcurrentViewers)],
    ['average', 'Average concurrent viewers', String(Math.round(s.averageConcurrentViewers * 10) / 10)],
    ['unique', 'Unique viewers', String(s.uniqueViewers)],
    ['watch-time', 'Total watch time', formatWatchTime(s.watchTimeSeconds)],
    ['ttff-p50', 'Time to first frame, median', formatMs(s.ttffP50Ms)],
    ['ttff-p95', 'Time to first frame, 95th percentile', formatMs(s.ttffP95Ms)],
    ['rebuffering', 'Rebuffering ratio', formatRatio(s.rebufferingRatio)],
    ['chat', 'Chat messages', String(s.chatMessages)],
  ];
  return (
    <section aria-labelledby="analytics-summary-title">
      <h2 id="analytics-summary-title" className="sr-only">
        Summary
      </h2>
      <dl className="tiles" data-testid="analytics-summary">
        {tiles.map(([id, label, value]) => (
          <div key={id} className="tile" data-testid={`tile-${id}`}>
            <dt>{label}</dt>
            <dd>{value}</dd>
          </div>
        ))}
      </dl>
      {s.empty && (
        <p className="empty" role="status" data-testid="analytics-empty">
          No viewers in this period.
        </p>
      )}
    </section>
  );
}

/** "Dec 1, 14:00 – Dec 8, 14:00, per hour" for the analysed range. */
function rangeCaption(a: StreamAnalytics): string {
  const f = (iso: string) => new Date(iso).toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  return `${f(a.from)} – ${f(a.to)}, one point per ${intervalLabel(a.intervalSeconds)}`;
}

/** The analytics of the selected range: loading, error, or tiles and charts. */
function AnalyticsView({ channelId, range, session, now }: { channelId: string; range: AnalyticsRange; session: StreamItem | undefined; now: number }) {
  const path = analyticsPath(channelId, range, now, session);
  const parse = useCallback((body: unknown) => ({ path, analytics: parseStreamAnalytics(body) }), [path]);
  const { data, error } = useApiList(path, parse);
  const current = data?.path === path ? data.analytics : null;
  const charts = useMemo(() => (current ? analyticsCharts(current) : []), [current]);
  if (current === null) {
    return error !== null ? (
      <p className="banner banner-error" role="alert" data-testid="analytics-error">
        Can’t load analytics: {error}
      </p>
    ) : (
      <p className="muted" role="status" data-testid="analytics-loading">
        Loading analytics…
      </p>
    );
  }
  return (
    <div data-testid="analytics-view" data-range={rangeValue(range)}>
      <p className="muted analytics-caption">{rangeCaption(current)}</p>
      <SummaryTiles a={current} />
      <div className="charts">
        {charts.map((spec) => (
          <AnalyticsChart key={spec.id} spec={spec} />
        ))}
      </div>
    </div>
  );
}

/** The page for a signed-in user with a channel. */
function ChannelAnalytics({ channelId, rangeParam }: { channelId: string; rangeParam: string | null }) {
  const sessions = useApiList(channelSessionsPath(channelId), parseSessions);
  const [now, setNow] = useState(() => Date.now());
  const list = sessions.data ?? [];
  const latest = list[0];
  // Without `?range=`: the latest broadcast, or the last 7 days for a channel that never broadcast.
  // Nothing until the list answered (a session's interval follows from its length in the list).
  const listed = sessions.data !== null || sessions.error !== null;
  const range: AnalyticsRange | null = !listed ? null
    : (parseRangeValue(rangeParam ?? '') ?? (latest ? { kind: 'session', sessionId: latest.sessionId } : { kind: 'days', days: 7 }));
  const session = range?.kind === 'session' ? list.find((s) => s.sessionId === range.sessionId) : undefined;
  const choose = (value: string) => {
    setNow(Date.now());
    navigate(hrefFor({ name: 'analytics', range: value }));
  };
  return (
    <>
      {sessions.error !== null && sessions.data === null && (
        <p className="banner banner-error" role="alert">
          Can’t load your broadcasts: {sessions.error}
        </p>
      )}
      {range === null ? (
        <p className="muted" role="status">
          Loading your broadcasts…
        </p>
      ) : (
        <>
          <RangePicker value={rangeValue(range)} sessions={list} onChange={choose} onRefresh={() => setNow(Date.now())} />
          <AnalyticsView key={`${rangeValue(range)}@${now}`} channelId={channelId} range={range} session={session} now={now} />
        </>
      )}
    </>
  );
}

/** `/dashboard/analytics`: the signed-in user's channel analytics (`range` from the URL, see routes.ts). */
export function AnalyticsPage({ range }: { range: string | null }) {
  const { status, user } = useSession();
  const here = hrefFor({ name: 'analytics', range });
  return (
    <main className="page analytics-page">
      <div className="analytics-head">
        <h1 className="page-title">Channel analytics</h1>
        <Link href={hrefFor({ name: 'dashboard' })}>Back to the dashboard</Link>
      </div>
      {status === 'restoring' ? (
        <p className="muted" role="status">
          Loading your account…
        </p>
      ) : !user ? (
        <p>
          <Link href={hrefFor({ name: 'signin', next: here })}>Sign in</Link> to see your channel’s analytics.
        </p>
      ) : user.channelId === null ? (
        <p>
          You have no channel yet: <Link href={hrefFor({ name: 'dashboard' })}>create it on the dashboard</Link>.
        </p>
      ) : (
        <ChannelAnalytics key={user.channelId} channelId={user.channelId} rangeParam={range} />
      )}
    </main>
  );
}
