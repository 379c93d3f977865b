/**
 * Pure arithmetic and formatting of the abuse test (`abuse.e2e.test.ts`, issue 15 item 7): the
 * nearest-rank percentile of the normal requests' latencies, the growth of a node's memory, and
 * the Markdown table with one row per flood. No I/O here.
 */

/**
 * The `q` quantile (0 < q ≤ 1) of `values` by nearest rank (the smallest value with at least
 * `q` of the values at or below it), as reported by the note's tables.
 * @returns the value, or NaN when `values` is empty.
 */
export function nearestRank(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length))) - 1]!;
}

/** Latencies (ms) of one kind of normal request, before a flood and while it ran. */
export interface LatencyRow {
  /** e.g. `api GET /api/streams/{id}` */
  readonly what: string;
  readonly before: readonly number[];
  readonly during: readonly number[];
  /** Requests answered with an unexpected status (or not at all) while the flood ran. */
  readonly failedDuring: number;
}

/** Resident memory (MiB) of one app process before a flood and the highest reading while it ran. */
export interface MemoryRow {
  readonly node: string;
  readonly beforeMiB: number;
  readonly peakMiB: number;
}

/** One flood's figures, as the note's table shows them. */
export interface FloodRow {
  /** e.g. `1,000 idle RTMP sockets` */
  readonly flood: string;
  /** The bound that met it, e.g. `20 connections per address; 10 s to publish`. */
  readonly bound: string;
  readonly latency: readonly LatencyRow[];
  readonly memory: readonly MemoryRow[];
  /** What the attacker got, e.g. `800 accepted, closed after 10.0 s; 200 refused at accept`. */
  readonly attackerGot: string;
  /** The player during the flood: longest stall (ms) and whether `currentTime` advanced. */
  readonly longestStallMs: number;
}

const ms = (v: number): string => (Number.isNaN(v) ? '–' : `${v.toFixed(v < 10 ? 1 : 0)} ms`);

/**
 * The Markdown table of the floods: per flood, the bound, the p99 (and sample count) of each kind
 * of normal request before and during, the memory of the nodes that took the flood, what the
 * attacker got and the player's longest stall.
 */
export function floodTable(rows: readonly FloodRow[]): string {
  const out = [
    '| flood | bound | normal requests p99: before → during (n) | memory MiB: before → peak | attacker got | player stall |',
    '|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const latency = r.latency.map((l) => `${l.what}: ${ms(nearestRank(l.before, 0.99))} → ${ms(nearestRank(l.during, 0.99))} (${l.during.length}${l.failedDuring ? `, ${l.failedDuring} failed` : ''})`).join('<br>');
    const memory = r.memory.map((m) => `${m.node} ${m.beforeMiB.toFixed(0)} → ${m.peakMiB.toFixed(0)}`).join('<br>');
    out.push(`| ${r.flood} | ${r.bound} | ${latency} | ${memory} | ${r.attackerGot} | ${(r.longestStallMs / 1000).toFixed(1)} s |`);
  }
  return out.join('\n');
}

/**
 * Counts of each distinct value, as `value ×count` joined by `, ` in descending count order
 * (e.g. HTTP statuses `404 ×1990, 429 ×10`).
 */
export function tally(values: ReadonlyArray<string | number>): string {
  const counts = new Map<string | number, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1]).map(([v, n]) => `${v} ×${n}`).join(', ');
}
