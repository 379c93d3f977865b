/**
 * One chart of the analytics page, drawn by uPlot (https://github.com/leeoniya/uPlot) on a
 * canvas sized to its container, with its text alternatives: the chart is an image named by its
 * summary sentence, and a "Show data" disclosure holds the same figures as a table.
 */
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { isolatedIndices, type ChartSpec } from './analyticsCharts';

/** Height of the plotting area and axes, CSS px. */
const CHART_HEIGHT = 220;
/** Most points of a line chart that are all drawn as dots. */
const DOTTED_POINTS = 60;
const AXIS = { stroke: '#b5bccb', grid: { stroke: '#2a2f3a', width: 1 }, ticks: { stroke: '#2a2f3a', width: 1 } };

/** uPlot options for a spec at a width (px). */
function optionsFor(spec: ChartSpec, width: number): uPlot.Options {
  const categories = spec.categories;
  const bars = uPlot.paths.bars?.({ size: [0.6, 48] });
  return {
    width, height: CHART_HEIGHT,
    legend: { show: false },
    cursor: { drag: { x: false, y: false } },
    scales: {
      // Bars get half a step of room at both ends, so that the first and last are drawn whole.
      x: categories
        ? { time: false, auto: false, range: [-0.5, categories.length - 0.5] }
        : { time: true, ...(spec.kind === 'bars' ? { range: (_u, min, max): uPlot.Range.MinMax => [min - spec.step / 2, max + spec.step / 2] } : {}) },
      y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] },
    },
    axes: [
      categories
        ? { ...AXIS, splits: () => categories.map((_, i) => i), values: (_u, splits) => splits.map((i) => categories[i] ?? '') }
        : { ...AXIS, space: 100 }, // room for uPlot's second row ("12/7/26 5:38am") under adjacent ticks
      { ...AXIS, label: spec.yLabel, labelSize: 18, size: 52 },
    ],
    series: [
      {},
      ...spec.series.map((s) => ({
        label: s.label,
        stroke: s.color,
        width: 2,
        fill: spec.kind === 'bars' ? `${s.color}cc` : `${s.color}22`,
        ...(spec.kind === 'bars' && bars ? { paths: bars } : {}),
        // Lines: every point when there are few, else only those standing alone between gaps.
        points: spec.kind === 'line'
          ? { show: true, filter: spec.x.length <= DOTTED_POINTS ? null : isolatedIndices(s.values) }
          : { show: false },
        spanGaps: false,
      })),
    ],
  };
}

/** A chart figure: title, legend (for several series), the canvas, and the data table. */
export function AnalyticsChart({ spec }: { spec: ChartSpec }) {
  const holder = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = holder.current;
    if (!el || spec.empty) return undefined;
    const data = [spec.x, ...spec.series.map((s) => s.values)] as unknown as uPlot.AlignedData;
    const plot = new uPlot(optionsFor(spec, Math.max(200, el.clientWidth)), data, el);
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(200, el.clientWidth), height: CHART_HEIGHT }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [spec]);
  const titleId = `chart-${spec.id}-title`;
  return (
    <figure className="chart" aria-labelledby={titleId} data-testid={`chart-${spec.id}`} data-empty={spec.empty}>
      <figcaption id={titleId} className="chart-title">
        {spec.title}
      </figcaption>
      {spec.series.length > 1 && !spec.empty && (
        <ul className="chart-legend" aria-hidden="true">
          {spec.series.map((s) => (
            <li key={s.label}>
              <span className="chart-swatch" style={{ background: s.color }} /> {s.label}
            </li>
          ))}
        </ul>
      )}
      {spec.empty ? (
        <p className="muted chart-empty">No data in this period.</p>
      ) : (
        <div ref={holder} className="chart-canvas" role="img" aria-label={spec.summary} />
      )}
      {!spec.empty && (
        <details className="chart-data">
          <summary>Show data</summary>
          <div className="table-scroll" tabIndex={0} role="region" aria-label={`${spec.title}: data`}>
            <table>
              <caption className="sr-only">{spec.title}</caption>
              <thead>
                <tr>
                  {spec.table.columns.map((c) => (
                    <th key={c} scope="col">
                      {c}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {spec.table.rows.map((row, i) => (
                  <tr key={i}>
                    {row.map((cell, j) =>
                      j === 0 ? (
                        <th key={j} scope="row">
                          {cell}
                        </th>
                      ) : (
                        <td key={j}>{cell}</td>
                      ),
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </details>
      )}
    </figure>
  );
}
