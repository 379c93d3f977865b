/**
 * Progress bar and summary table of the CLI. The bar goes to stderr: redrawn in place (at most
 * every 100 ms) on a terminal, a plain line every few seconds otherwise (logs, CI), so stdout
 * stays clean for the summary or JSON output.
 */

/** Where progress is written: stderr, or a test's collector. */
export interface ProgressSink {
  write(chunk: string): unknown;
  /** True on a terminal (Node's `process.stderr.isTTY`). */
  readonly isTTY?: boolean;
  /** Terminal width in characters, when known. */
  readonly columns?: number;
}

/** Options of {@link createProgress}. */
export interface ProgressOptions {
  readonly sink: ProgressSink;
  /** Shown first on each line, e.g. `readmodels`. */
  readonly label: string;
  /** Events expected in all; may grow with {@link Progress.setTotal}. */
  readonly total: number;
  /** Clock in ms (tests pass a fake one). Default `Date.now`. */
  readonly now?: () => number;
  /** Minimum ms between two plain lines when the sink is not a terminal. Default 5,000. */
  readonly plainEveryMs?: number;
  /** Nothing is written at all (`--quiet`). */
  readonly silent?: boolean;
}

/** A running progress display. */
export interface Progress {
  /** Records that `done` events (a running total) have been processed; redraws when due. */
  update(done: number): void;
  /** Raises the expected total (more events were appended while replaying). */
  setTotal(total: number): void;
  /** Draws the final state (everything done: the total becomes the count done) and ends the line. Idempotent. */
  finish(): void;
}

/** `12345` → `12,345` (thousands separators, no locale surprises). */
export function formatCount(n: number): string {
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Seconds as `m:ss` (or `h:mm:ss` from an hour); `--:--` when unknown. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

/**
 * The numbers a progress line shows: events done of total, percent, events per second (average
 * since start) and the estimated time left at that rate.
 * @param elapsedMs time since the start, ms.
 */
export function progressFigures(done: number, total: number, elapsedMs: number): { percent: number; rate: number; etaSeconds: number } {
  const percent = total > 0 ? Math.min(100, (done / total) * 100) : 100;
  const rate = elapsedMs > 0 ? (done * 1000) / elapsedMs : 0;
  const etaSeconds = done >= total ? 0 : rate > 0 ? (total - done) / rate : Number.NaN;
  return { percent, rate, etaSeconds };
}

/**
 * Creates a progress display for `total` events (see the module comment for the two modes).
 * Nothing is drawn until the first {@link Progress.update}.
 */
export function createProgress(opts: ProgressOptions): Progress {
  const now = opts.now ?? Date.now;
  const tty = opts.sink.isTTY === true;
  const plainEveryMs = opts.plainEveryMs ?? 5000;
  const started = now();
  let total = opts.total;
  let done = 0;
  let lastDraw = Number.NEGATIVE_INFINITY;
  let finished = false;
  let drewTty = false;

  const line = (): string => {
    const f = progressFigures(done, total, now() - started);
    const counts = `${formatCount(done)}/${formatCount(total)}`;
    const tail = `${f.percent.toFixed(1).padStart(5)}%  ${formatCount(f.rate)} ev/s  ETA ${formatDuration(f.etaSeconds)}`;
    if (!tty) return `${opts.label}: ${counts} events (${f.percent.toFixed(1)}%), ${formatCount(f.rate)} events/s, ETA ${formatDuration(f.etaSeconds)}\n`;
    const width = Math.max(10, Math.min(40, (opts.sink.columns ?? 80) - opts.label.length - counts.length - tail.length - 8));
    const filled = Math.round((f.percent / 100) * width);
    return `\r${opts.label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${counts} ${tail}\x1b[K`;
  };

  const draw = (force: boolean): void => {
    if (opts.silent) return;
    const t = now();
    if (!force && t - lastDraw < (tty ? 100 : plainEveryMs)) return;
    lastDraw = t;
    opts.sink.write(line());
    drewTty ||= tty;
  };

  return {
    update(n) {
      done = n;
      if (done > total) total = done;
      draw(false);
    },
    setTotal(t) {
      total = Math.max(t, done);
    },
    finish() {
      if (finished) return;
      finished = true;
      // Done means done: a total estimated from sequence numbers counts deleted messages too.
      total = done;
      draw(true);
      if (drewTty && !opts.silent) opts.sink.write('\n');
    },
  };
}

/**
 * Formats rows as a plain-text table with a header line and a rule; columns of numbers are right-aligned
 * (numbers get thousands separators), text left-aligned.
 */
export function formatTable(headers: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? (Number.isInteger(c) ? formatCount(c) : c.toFixed(1)) : c)));
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number' || /^[+-]?[\d,.]+$/.test(String(r[i]))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const fmt = (r: readonly string[]): string =>
    r.map((c, i) => (numeric[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [fmt(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(fmt)].join('\n') + '\n';
}
