/** What a replay did, and its summary table. */
import { formatTable } from './progress.js';

/** Rows of one rebuilt table. */
export interface TableCount {
  /** Table name as the application sees it (e.g. `channels`, `domain_events`). */
  readonly table: string;
  /** Rows in the rebuilt table (what is live after the swap). */
  readonly rows: number;
  /** Rows the live table had just before the swap (for a dry run: now). */
  readonly liveRows: number;
}

/** Outcome of `replay readmodels` or `replay analytics`. */
export interface ReplayReport {
  readonly projection: 'readmodels' | 'analytics';
  /** Where the rebuilt tables were built (a Postgres schema, or the `_replay` suffix). */
  readonly builtIn: string;
  /** First EVENTS sequence replayed (for analytics: of EVENTS; TELEMETRY and CHAT start by time). */
  readonly fromSeq: number;
  /** Last EVENTS sequence replayed (fromSeq − 1 when there was nothing to read). */
  readonly toSeq: number;
  /** Messages read from the log(s). */
  readonly eventsRead: number;
  /** Messages that changed the rebuilt tables (Postgres: not skipped by the offset). */
  readonly eventsApplied: number;
  /** Messages that could not be decoded and were skipped (the live projector terminates them too). */
  readonly eventsSkipped: number;
  /** Wall time of the whole replay, seconds. */
  readonly seconds: number;
  /** `eventsRead / seconds`. */
  readonly eventsPerSecond: number;
  readonly tables: readonly TableCount[];
  /** True when the rebuilt tables replaced the live ones (false for `--dry-run`). */
  readonly swapped: boolean;
  /** Things the operator should know (a clamped `--from`, leftovers dropped). */
  readonly notes: readonly string[];
}

/**
 * The summary printed at the end of a replay: a totals table (events read, applied, skipped,
 * events/s, seconds) and a rows-per-table table (rebuilt, live before, difference).
 */
export function formatReplaySummary(r: ReplayReport): string {
  const head = `${r.projection}: ${r.swapped ? 'rebuilt and swapped in' : 'dry run, live tables untouched'} (sequences ${r.fromSeq}..${r.toSeq}, built in ${r.builtIn})\n\n`;
  const totals = formatTable(
    ['events read', 'applied', 'skipped', 'events/s', 'seconds'],
    [[r.eventsRead, r.eventsApplied, r.eventsSkipped, Math.round(r.eventsPerSecond), Number(r.seconds.toFixed(1))]],
  );
  const tables = formatTable(
    ['table', 'rows', r.swapped ? 'rows before' : 'live rows', 'difference'],
    r.tables.map((t) => [t.table, t.rows, t.liveRows, signed(t.rows - t.liveRows)]),
  );
  const notes = r.notes.length > 0 ? `\n${r.notes.map((n) => `note: ${n}`).join('\n')}\n` : '';
  return `${head}${totals}\n${tables}${notes}`;
}

function signed(n: number): string {
  return n > 0 ? `+${n}` : String(n);
}
