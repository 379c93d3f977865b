/**
 * Pure arithmetic and formatting of the chaos test (`chaos.e2e.test.ts`, issue 18 item 5): the
 * longest playback stall in a window of `video.currentTime` samples, lost and duplicated ids,
 * and the Markdown table of one row per SIGKILL. No I/O here.
 */

/** One reading of the player: wall-clock ms (`Date.now()`) and `video.currentTime` (seconds; NaN without a player). */
export type PlaybackSample = readonly [at: number, currentTime: number];

/** `currentTime` must grow by more than this (seconds) between two readings to count as playing. */
const ADVANCE_EPSILON = 0.01;

/**
 * The longest time (ms) `currentTime` did not advance, among the stalls that overlap
 * `[from, to]` (wall-clock ms): a stall already under way at `from` counts whole, one still
 * under way at `to` counts up to `to`. Samples must be in time order; a NaN reading, or one that
 * does not exceed the last advancing one, is a stalled reading.
 * @returns ms; `to - from` when there is no advancing reading at all before `to`.
 */
export function longestStall(samples: readonly PlaybackSample[], from: number, to: number): number {
  let lastAdvanceAt: number | undefined;
  let lastTime = Number.NEGATIVE_INFINITY;
  let longest = 0;
  for (const [at, t] of samples) {
    if (at > to) break;
    if (Number.isNaN(t) || t <= lastTime + ADVANCE_EPSILON) continue;
    if (lastAdvanceAt !== undefined && at >= from) longest = Math.max(longest, at - lastAdvanceAt);
    lastAdvanceAt = at;
    lastTime = t;
  }
  if (lastAdvanceAt === undefined) return to - from;
  // A stall still under way at `to` (it may have begun before `from`: it counts whole).
  return Math.max(longest, to - lastAdvanceAt);
}

/** How many of `expected` ids are absent from `stored`, and how many stored ids occur more than once (each extra copy counts). */
export function lostAndDuplicated(expected: readonly string[], stored: readonly string[]): { lost: number; duplicated: number } {
  const counts = new Map<string, number>();
  for (const id of stored) counts.set(id, (counts.get(id) ?? 0) + 1);
  const lost = expected.filter((id) => !counts.has(id)).length;
  let duplicated = 0;
  for (const n of counts.values()) duplicated += n - 1;
  return { lost, duplicated };
}

/** One line of the chaos table: what was killed and what the platform did about it. */
export interface ChaosRow {
  /** The kind of kill, e.g. `nats-server`, `ingest`, `baseline`. */
  readonly kill: string;
  /** Which instance, and how it was chosen, e.g. `nats-2 (EVENTS leader)`. */
  readonly target: string;
  /** Longest time `video.currentTime` did not advance in Chromium, ms. */
  readonly stallMs: number;
  /** Fatal hls.js errors (details) in the window. */
  readonly fatal: readonly string[];
  /** EVENTS ids lost / duplicated in the window (probe appends and the session's events); null until counted. */
  readonly eventsLost: number | null;
  readonly eventsDuplicated: number | null;
  /** Chat messages sent in the window that some client never received, and (client, message) deliveries missing. */
  readonly chatLostMessages: number;
  readonly chatMissingDeliveries: number;
  /** Sessions of the broadcast so far, and VODs (counted at the end); null until known. */
  readonly sessions: number | null;
  readonly vods: number | null;
  /** The standby projector's takeover time (ms), for the projector kill; null otherwise. */
  readonly takeoverMs: number | null;
  /** From the kill to the tier's own recovery signal (a resumed publish, a new transcode attempt, …), ms. */
  readonly recoveredMs: number | null;
  /** Free text: how recovery showed. */
  readonly note: string;
}

const seconds = (ms: number | null): string => (ms === null ? '–' : (ms / 1000).toFixed(1));
const count = (n: number | null): string => (n === null ? '?' : String(n));

/**
 * A GitHub-flavoured Markdown table of the rows: kill, target, stall (s, with the goal ≤ 6 s
 * marked), fatal player errors, EVENTS lost/duplicated, chat lost, sessions/VODs, projector
 * takeover (s), recovery (s), note.
 */
export function formatChaosTable(rows: readonly ChaosRow[]): string {
  const head = ['SIGKILL', 'target', 'playback stall (s)', 'fatal player errors', 'EVENTS lost / dup', 'chat lost (msgs / deliveries)', 'sessions / VODs', 'projector takeover (s)', 'recovered after (s)', 'note'];
  const lines = rows.map((r) => [
    r.kill, r.target,
    `${seconds(r.stallMs)}${r.stallMs > 6000 ? ' (> 6)' : ''}`,
    r.fatal.length === 0 ? '0' : `${r.fatal.length}: ${[...new Set(r.fatal)].join(', ')}`,
    `${count(r.eventsLost)} / ${count(r.eventsDuplicated)}`,
    `${r.chatLostMessages} / ${r.chatMissingDeliveries}`,
    `${count(r.sessions)} / ${count(r.vods)}`,
    seconds(r.takeoverMs), seconds(r.recoveredMs), r.note,
  ]);
  const row = (cells: readonly string[]): string => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [row(head), row(head.map(() => '---')), ...lines.map(row)].join('\n');
}
