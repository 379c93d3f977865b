/**
 * Low-latency MPEG-DASH (ISO/IEC 23009-1 §5.3.9.5.3 `availabilityTimeOffset` /
 * `availabilityTimeComplete`, DASH-IF IOP "Low-latency Modes for DASH") over the LL-HLS
 * packager's objects: the segment being written (the "open" segment) is announced in the MPD
 * before it is complete, and a request for it is answered with a growing chunked response made
 * of its parts, in order, each as soon as it is written. A clear segment is byte for byte the
 * concatenation of its parts (ll-publisher.ts), so the chunked body equals the segment stored
 * once complete.
 *
 * Pure: the decisions are made from the rendition's live media playlist (its EXT-X-PART lines
 * and preload hint), as the edge reads it; the edge does the I/O (apps/edge/src/open-segment.ts).
 */
import { parseLowLatencyPlaylist, type ParsedLowLatencyPlaylist } from './ll-hls.js';

/** The segment being written, as a live media playlist shows it. */
export interface DashOpenSegment {
  /** Its media sequence number (the packager's `seg_<msn>.m4s`). */
  readonly msn: number;
  /** URIs of its parts listed so far, in order (relative to the playlist). */
  readonly parts: readonly string[];
}

/** Segment URIs of the packager (`llSegmentUri`): `seg_<msn, 5 to 9 digits>.m4s`. */
const SEGMENT_URI = /^seg_(\d{5,9})\.m4s$/;

/** An EXT-X-KEY other than METHOD=NONE: the segments and parts are encrypted (parts separately). */
const ENCRYPTED = /^#EXT-X-KEY:(?![^\n]*METHOD=NONE)/m;

/** The MSN of the open segment: the one after the last listed complete segment. */
function openMsnOf(pl: ParsedLowLatencyPlaylist): number {
  return pl.mediaSequence + pl.skippedSegments + pl.segments.length;
}

/**
 * The open segment of a live LL-HLS media playlist: the segment after the last complete one,
 * when the playlist lists at least one of its parts and it continues the last listed segment's
 * packager attempt (no EXT-X-DISCONTINUITY or EXT-X-MAP after the last segment URI). Null
 * otherwise: an ENDLIST playlist, no part of it written yet, or a new attempt starting (its
 * segment belongs to another Period).
 */
export function dashOpenSegmentOf(playlistText: string): DashOpenSegment | null {
  const pl = parseLowLatencyPlaylist(playlistText);
  if (pl.endList || pl.openParts.length === 0) return null;
  const lines = playlistText.split(/\r?\n/);
  const lastUriLine = pl.segments.at(-1)?.line ?? 0;
  const tail = lines.slice(lastUriLine, pl.openParts[0]!.line - 1);
  if (tail.some((l) => l.startsWith('#EXT-X-DISCONTINUITY') || l.startsWith('#EXT-X-MAP'))) return null;
  return { msn: openMsnOf(pl), parts: pl.openParts.map((p) => p.uri) };
}

/**
 * What to do next for a request of `seg_<msn>.m4s` that storage did not hold, having already
 * sent `sent` of its parts:
 * - `send`: send these parts (URIs relative to the playlist) in order; `last`: they end the
 *   segment (it is complete: end the response after them);
 * - `wait`: nothing new is listed: hold until the playlist lists part `request.part` of
 *   segment `request.msn` or a later segment (a blocking reload of that part, RFC 8216bis
 *   §6.2.5.2; the part is the preload-hinted one), then decide again;
 * - `rest`: the segment is complete but its parts are no longer listed (they slid out of the
 *   playlist's part window): send the stored segment from the byte offset already sent, then end;
 * - `gone`: it can no longer appear (a segment before the open one that the playlist does not
 *   list, beyond the open one, an ENDLIST playlist, no preload hint, not a segment name): 404;
 * - `encrypted`: the playlist has an EXT-X-KEY: parts are encrypted one by one, their
 *   concatenation is not the segment; not served as a growing response.
 *
 * @param playlistText the rendition's live media playlist as stored.
 * @param segmentUri the requested file name relative to the playlist (`seg_00043.m4s`).
 * @param sent parts already sent (0 for a new request); a non-negative integer.
 */
export function planOpenSegment(
  playlistText: string, segmentUri: string, sent: number,
): { action: 'send'; parts: string[]; last: boolean } | { action: 'wait'; request: { msn: number; part: number } } | { action: 'rest' }
  | { action: 'gone'; reason: string } | { action: 'encrypted' } {
  const m = SEGMENT_URI.exec(segmentUri);
  if (!m) return { action: 'gone', reason: 'not a segment name of the packager' };
  if (ENCRYPTED.test(playlistText)) return { action: 'encrypted' };
  const msn = Number(m[1]);
  const pl = parseLowLatencyPlaylist(playlistText);
  const complete = pl.segments.find((s) => s.uri === segmentUri);
  if (complete) {
    const parts = complete.parts.map((p) => p.uri);
    return parts.length > 0 && sent <= parts.length ? { action: 'send', parts: parts.slice(sent), last: true } : { action: 'rest' };
  }
  if (pl.endList) return { action: 'gone', reason: 'the playlist has ended' };
  const openMsn = openMsnOf(pl);
  if (msn < openMsn) return { action: 'gone', reason: 'a segment before the open one that the playlist does not list' };
  if (msn > openMsn) return { action: 'gone', reason: 'a segment after the open one' };
  const open = dashOpenSegmentOf(playlistText);
  const parts = open?.parts ?? [];
  if (sent < parts.length) return { action: 'send', parts: parts.slice(sent), last: false };
  if (!pl.preloadHints.some((h) => h.type === 'PART')) return { action: 'gone', reason: 'the playlist hints no part' };
  return { action: 'wait', request: { msn, part: sent } };
}

/**
 * The low-latency timing of a live media playlist for the MPD: `partDuration` (PART-TARGET, s)
 * and `segmentDuration` (EXT-X-TARGETDURATION, s). Null when the playlist is not low-latency
 * (no EXT-X-PART-INF) or has no target duration.
 */
export function dashLowLatencyTimingOf(playlistText: string): { partDuration: number; segmentDuration: number } | null {
  const pl = parseLowLatencyPlaylist(playlistText);
  if (!(pl.partTarget !== undefined && pl.partTarget > 0) || !(pl.targetDuration !== undefined && pl.targetDuration > 0)) return null;
  if (pl.partTarget >= pl.targetDuration) return null;
  return { partDuration: pl.partTarget, segmentDuration: pl.targetDuration };
}
