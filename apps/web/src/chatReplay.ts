/**
 * Chat replay of a recording (pure): the chat lines of the broadcast, placed on the recording's
 * timeline. A line sent `at` plays at `(at − startedAt)` seconds into the recording (the
 * recording starts with the publish; a reconnect gap is not subtracted). Lines before the start
 * or after the end are left out.
 */
import { clockDuration } from './format';

/** A chat line as `GET /api/streams/{id}/chat` returns it (the fields the replay reads). */
export interface ReplaySource {
  readonly id: string;
  readonly seq: number;
  readonly kind: string;
  readonly userId: string;
  readonly username: string;
  readonly text: string;
  /** ISO 8601. */
  readonly at: string;
}

/** A line on the recording's timeline. */
export interface ReplayLine extends ReplaySource {
  /** Seconds into the recording. */
  readonly offset: number;
}

/**
 * Places `lines` on the timeline of a broadcast that ran from `startedAtMs` to `endedAtMs`
 * (null: still running), sorted by offset then sequence, duplicates (same id) once.
 */
export function replayTimeline(lines: readonly ReplaySource[], startedAtMs: number, endedAtMs: number | null): ReplayLine[] {
  const seen = new Set<string>();
  const out: ReplayLine[] = [];
  for (const l of lines) {
    const at = Date.parse(l.at);
    if (!Number.isFinite(at) || at < startedAtMs || (endedAtMs !== null && at > endedAtMs) || seen.has(l.id)) continue;
    seen.add(l.id);
    out.push({ ...l, offset: (at - startedAtMs) / 1000 });
  }
  return out.sort((a, b) => a.offset - b.offset || a.seq - b.seq);
}

/** How many lines of `timeline` have played at `seconds` (binary search; the timeline is sorted). */
export function playedCount(timeline: readonly ReplayLine[], seconds: number): number {
  let lo = 0;
  let hi = timeline.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (timeline[mid]!.offset <= seconds) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** "1:02:03" / "4:05": a position in the recording, whole seconds played (never rounded up). */
export function replayClock(seconds: number): string {
  return clockDuration(Math.max(0, Math.floor(seconds)));
}
