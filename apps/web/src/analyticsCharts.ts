/**
 * Analytics answer → chart data (pure; no DOM, no uPlot): for each chart of the analytics page
 * its x values, its series (uPlot's `AlignedData` order: x first, then one array per series,
 * null where there is no value), the axis unit, and the text alternatives, a one-sentence
 * summary (the chart's accessible name) and a data table.
 */
import { formatRatio, type StreamAnalytics } from './analytics';

/** How a chart draws its series. */
export type ChartKind = 'line' | 'bars';

/** One series of a {@link ChartSpec}: its legend label, values (null = no value, a gap) and colour. */
export interface ChartSeries {
  readonly label: string;
  readonly values: readonly (number | null)[];
  readonly color: string;
}

/** Everything needed to draw one chart and describe it in text. */
export interface ChartSpec {
  /** Stable id (test ids, element ids). */
  readonly id: 'viewers' | 'watch-time' | 'ttff' | 'rebuffering' | 'renditions' | 'chat';
  readonly title: string;
  readonly kind: ChartKind;
  /** Label of the y axis, with its unit. */
  readonly yLabel: string;
  /**
   * x values: Unix seconds of each interval's start for time charts; 0..n−1 for a category chart
   * (then `categories` names them).
   */
  readonly x: readonly number[];
  readonly categories?: readonly string[];
  /** Distance between consecutive x values: the interval in seconds for time charts, 1 for categories. */
  readonly step: number;
  readonly series: readonly ChartSeries[];
  /** A sentence summing the chart up (its accessible name). */
  readonly summary: string;
  /** The data as a table: header cells and rows of formatted cells. */
  readonly table: { readonly columns: readonly string[]; readonly rows: readonly (readonly string[])[] };
  /** True when the chart has nothing to show (every value null or 0). */
  readonly empty: boolean;
}

/** Colours of the series, readable on the page's dark panels. */
export const CHART_COLORS = ['#7c9cff', '#f0a35e', '#6fd39a', '#e36f8e', '#c49bff'] as const;

/** "minute", "5 minutes", "hour", "6 hours", "day" for an interval in seconds. */
export function intervalLabel(seconds: number): string {
  const units: Array<[number, string]> = [[86_400, 'day'], [3600, 'hour'], [60, 'minute'], [1, 'second']];
  for (const [size, name] of units) {
    if (seconds % size === 0) {
      const n = seconds / size;
      return n === 1 ? name : `${n} ${name}s`;
    }
  }
  return `${seconds} seconds`;
}

const round1 = (v: number): number => Math.round(v * 10) / 10;

/** A time for text alternatives, in the browser's time zone (injectable for tests). */
export type TimeFormat = (iso: string) => string;

const defaultTime: TimeFormat = (iso) => new Date(iso).toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });

/** Highest non-null value and the index where it first occurs; null when every value is null. */
function peak(values: readonly (number | null)[]): { value: number; index: number } | null {
  let best: { value: number; index: number } | null = null;
  for (let index = 0; index < values.length; index++) {
    const v = values[index];
    if (v !== null && v !== undefined && (best === null || v > best.value)) best = { value: v, index };
  }
  return best;
}

/** No value at all; with `zeroIsData` false, zeros count as nothing too (no viewers, no messages). */
const isEmpty = (series: readonly ChartSeries[], zeroIsData: boolean): boolean =>
  series.every((s) => s.values.every((v) => v === null || (!zeroIsData && v === 0)));

/** A time chart over the answer's series: one row per interval, one column per series. */
function timeChart(
  a: StreamAnalytics, time: TimeFormat,
  spec: {
    id: ChartSpec['id']; title: string; kind: ChartKind; yLabel: string; unit: string; series: ChartSeries[];
    format?: (v: number) => string;
    /** A measured 0 is a result (0 % stalled), not an absence of data. */
    zeroIsData?: boolean;
  },
): ChartSpec {
  const x = a.series.map((p) => Date.parse(p.t) / 1000);
  const fmt = spec.format ?? ((v: number) => `${round1(v)} ${spec.unit}`.trim());
  const every = intervalLabel(a.intervalSeconds);
  const empty = isEmpty(spec.series, spec.zeroIsData ?? false);
  const first = a.series[0];
  const last = a.series[a.series.length - 1];
  const span = first && last ? `from ${time(first.t)} to ${time(last.t)}` : 'in this period';
  const parts = spec.series.map((s) => {
    const p = peak(s.values);
    const point = p ? a.series[p.index] : undefined;
    return p && point ? `${s.label} highest ${fmt(p.value)} at ${time(point.t)}` : `no ${s.label.toLowerCase()}`;
  });
  return {
    id: spec.id, title: spec.title, kind: spec.kind, yLabel: spec.yLabel, x, step: a.intervalSeconds, series: spec.series, empty,
    summary: `${spec.title}, per ${every}, ${span}: ${empty ? 'no data' : parts.join('; ')}.`,
    table: {
      columns: [`Interval start (per ${every})`, ...spec.series.map((s) => s.label)],
      rows: a.series.map((p, i) => [time(p.t), ...spec.series.map((s) => { const v = s.values[i]; return v === null || v === undefined ? '—' : fmt(v); })]),
    },
  };
}

/** Concurrent viewers per interval (playback sessions with a heartbeat in it). */
export function viewersChart(a: StreamAnalytics, time: TimeFormat = defaultTime): ChartSpec {
  return timeChart(a, time, {
    id: 'viewers', title: 'Concurrent viewers', kind: 'line', yLabel: 'viewers', unit: '',
    series: [{ label: 'Viewers', values: a.series.map((p) => p.concurrentViewers), color: CHART_COLORS[0] }],
    format: (v) => String(v),
  });
}

/** Watch time per interval, minutes. */
export function watchTimeChart(a: StreamAnalytics, time: TimeFormat = defaultTime): ChartSpec {
  return timeChart(a, time, {
    id: 'watch-time', title: 'Watch time', kind: 'bars', yLabel: 'minutes watched', unit: 'min',
    series: [{ label: 'Watch time', values: a.series.map((p) => p.watchTimeSeconds / 60), color: CHART_COLORS[2] }],
  });
}

/** Median and 95th percentile time to first frame per interval, ms (null where no playback started). */
export function ttffChart(a: StreamAnalytics, time: TimeFormat = defaultTime): ChartSpec {
  return timeChart(a, time, {
    id: 'ttff', title: 'Time to first frame', kind: 'line', yLabel: 'milliseconds', unit: 'ms',
    series: [
      { label: 'Median', values: a.series.map((p) => p.ttffP50Ms), color: CHART_COLORS[0] },
      { label: '95th percentile', values: a.series.map((p) => p.ttffP95Ms), color: CHART_COLORS[1] },
    ],
    format: (v) => `${Math.round(v)} ms`,
  });
}

/** Rebuffering ratio per interval, percent (null where nothing played; 0 where playback never stalled, which is data). */
export function rebufferingChart(a: StreamAnalytics, time: TimeFormat = defaultTime): ChartSpec {
  return timeChart(a, time, {
    id: 'rebuffering', title: 'Rebuffering ratio', kind: 'line', yLabel: '% of viewing time stalled', unit: '%',
    series: [{ label: 'Rebuffering', values: a.series.map((p) => (p.rebufferingRatio === null ? null : p.rebufferingRatio * 100)), color: CHART_COLORS[3] }],
    format: (v) => formatRatio(v / 100),
    zeroIsData: true,
  });
}

/** Chat messages per interval. */
export function chatChart(a: StreamAnalytics, time: TimeFormat = defaultTime): ChartSpec {
  return timeChart(a, time, {
    id: 'chat', title: 'Chat rate', kind: 'bars', yLabel: `messages per ${intervalLabel(a.intervalSeconds)}`, unit: '',
    series: [{ label: 'Messages', values: a.series.map((p) => p.chatMessages), color: CHART_COLORS[4] }],
    format: (v) => String(v),
  });
}

/** Share of watch time per rendition (most watched first), percent, as a category bar chart. */
export function renditionChart(a: StreamAnalytics): ChartSpec {
  const categories = a.renditions.map((r) => r.rendition);
  const values = a.renditions.map((r) => r.share * 100);
  const empty = categories.length === 0;
  return {
    id: 'renditions', title: 'Rendition mix', kind: 'bars', yLabel: '% of watch time', x: categories.map((_, i) => i), categories, step: 1,
    series: [{ label: 'Share of watch time', values, color: CHART_COLORS[1] }],
    empty,
    summary: empty
      ? 'Rendition mix: no data.'
      : `Rendition mix, share of watch time: ${a.renditions.map((r) => `${r.rendition} ${formatRatio(r.share)}`).join(', ')}.`,
    table: {
      columns: ['Rendition', 'Share of watch time', 'Watch time'],
      rows: a.renditions.map((r) => [r.rendition, formatRatio(r.share), `${round1(r.seconds / 60)} min`]),
    },
  };
}

/**
 * Indices of the values that stand alone: non-null with no non-null neighbour. A line chart
 * draws them as dots, since a line through gaps would leave them invisible.
 */
export function isolatedIndices(values: readonly (number | null)[]): number[] {
  const out: number[] = [];
  const has = (i: number): boolean => i >= 0 && i < values.length && values[i] !== null && values[i] !== undefined;
  for (let i = 0; i < values.length; i++) if (has(i) && !has(i - 1) && !has(i + 1)) out.push(i);
  return out;
}

/** Every chart of the page, in page order. */
export function analyticsCharts(a: StreamAnalytics, time: TimeFormat = defaultTime): ChartSpec[] {
  return [viewersChart(a, time), watchTimeChart(a, time), ttffChart(a, time), rebufferingChart(a, time), renditionChart(a), chatChart(a, time)];
}
