/**
 * Low-Latency HLS (draft-pantos-hls-rfc8216bis, "8216bis" below; Apple "Enabling Low-Latency
 * HLS"): rendering media playlists with Partial Segments, blocking playlist reload helpers for
 * the edge, and a conformance checker written from the specification's rules.
 *
 * Pure module: no I/O.
 */
import { compareDeltaUpdate, DELTA_UPDATE_VERSION } from './delta.js';
import type { SegmentKey } from './keys.js';
import { parseLlPartUri } from './layout.js';
import { formatDuration, newTagScope, parseAttributeList, segmentHeadLines, targetDurationFor, type PlaylistSegment } from './playlist.js';

/**
 * One Partial Segment (8216bis §4.4.4.9 EXT-X-PART): `uri` relative to the playlist,
 * `duration` in seconds, `independent` when it starts with a sync sample (INDEPENDENT=YES).
 */
export interface PlaylistPart {
  uri: string;
  duration: number;
  independent: boolean;
}

/** A media segment of a low-latency playlist: a {@link PlaylistSegment} plus its parts (`parts` omitted or empty once they were removed). */
export interface LlPlaylistSegment extends PlaylistSegment {
  parts?: PlaylistPart[];
}

/**
 * The segment still being produced at the live edge: its Media Sequence Number, the parts
 * published so far (at least one), and the tags that apply to it (like a
 * {@link PlaylistSegment}'s `discontinuity`, `map`, `programDateTime`, `key`).
 */
export interface LlOpenSegment {
  sequence: number;
  parts: PlaylistPart[];
  discontinuity: boolean;
  map?: string;
  programDateTime?: string;
  key?: SegmentKey;
}

/**
 * EXT-X-RENDITION-REPORT (8216bis §4.4.5.4) for another rendition of the same master:
 * `uri` relative to this playlist (e.g. `../480p/index.m3u8`), `lastMsn` the MSN of its last
 * segment or open segment, `lastPart` the index of its last part in that segment.
 */
export interface RenditionReport {
  uri: string;
  lastMsn: number;
  lastPart?: number;
}

/** Options of {@link renderLowLatencyPlaylist}. */
export interface RenderLowLatencyPlaylistOptions {
  /** Completed segments, in order; parts are written for those that still carry `parts`. */
  segments: readonly LlPlaylistSegment[];
  /** The segment being produced (its published parts), if any. */
  open?: LlOpenSegment;
  /** PART-TARGET in seconds (8216bis §4.4.3.7); written with 5 decimals, rounded up. */
  partTarget: number;
  /** EXT-X-TARGETDURATION; default max(ceil of longest EXTINF, `minTargetDuration`). */
  targetDuration?: number;
  /** Lower bound of the computed target duration (the nominal segment length, seconds). Default 1. */
  minTargetDuration?: number;
  /** URI of the next part (EXT-X-PRELOAD-HINT TYPE=PART, 8216bis §4.4.5.3); omitted when undefined. */
  preloadHint?: string;
  /** EXT-X-RENDITION-REPORT tags for the other renditions. */
  renditionReports?: readonly RenditionReport[];
  /** PART-HOLD-BACK in seconds; default 3 x PART-TARGET (8216bis §4.4.3.8: at least 2x, SHOULD be 3x). */
  partHoldBack?: number;
  /** HOLD-BACK in seconds; default 3 x target duration (8216bis §4.4.3.8 minimum). */
  holdBack?: number;
  /**
   * `EVENT` (default) for a live playlist that only grows; `null` writes no
   * EXT-X-PLAYLIST-TYPE: a sliding (DVR window) playlist removes segments from its start,
   * which an EVENT playlist may not do (8216bis §4.4.3.5).
   */
  playlistType?: 'EVENT' | null;
  /**
   * EXT-X-DISCONTINUITY-SEQUENCE (8216bis §4.4.3.3): the number of discontinuities that slid out
   * of the playlist with removed segments; written when > 0.
   */
  discontinuitySequence?: number;
  /**
   * CAN-SKIP-UNTIL of EXT-X-SERVER-CONTROL (8216bis §4.4.3.8), seconds: the Skip Boundary of the
   * Playlist Delta Updates the edge serves for `_HLS_skip=YES` ({@link renderPlaylistDeltaUpdate}).
   * Default {@link DEFAULT_SKIP_TARGET_DURATIONS} x target duration, the spec's minimum;
   * `null` advertises none. @throws {RangeError} (from the renderer) when under 6 x target duration.
   */
  canSkipUntil?: number | null;
  /** Write `IV=` on every EXT-X-KEY (one key line per segment): the pre-issue-17 format, for `bench:playlist`. Default false. */
  explicitIv?: boolean;
}

/** CAN-SKIP-UNTIL in target durations: 6, the least 8216bis §4.4.3.8 allows ("at least six times the Target Duration"). */
export const DEFAULT_SKIP_TARGET_DURATIONS = 6;

/** Formats a PART-TARGET / hold-back value: 5 decimals, rounded UP so no part rendered with {@link formatPartDuration} exceeds it. */
export function formatPartTarget(seconds: number): string {
  return (Math.ceil(Number((seconds * 1e5).toFixed(3))) / 1e5).toFixed(5);
}

/** Formats an EXT-X-PART DURATION: seconds, 5 decimals, rounded down (never above the true duration). */
export function formatPartDuration(seconds: number): string {
  return (Math.floor(Number((seconds * 1e5).toFixed(3))) / 1e5).toFixed(5);
}

function partLine(p: PlaylistPart): string {
  return `#EXT-X-PART:DURATION=${formatPartDuration(p.duration)},URI="${p.uri}"${p.independent ? ',INDEPENDENT=YES' : ''}`;
}

/**
 * Renders a low-latency media playlist (8216bis §4.4, Appendix "Low-Latency" example layout):
 *
 * ```
 * #EXTM3U
 * #EXT-X-VERSION:7
 * #EXT-X-TARGETDURATION:2
 * #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.00000,PART-HOLD-BACK=1.50000,HOLD-BACK=6.00000
 * #EXT-X-PART-INF:PART-TARGET=0.50000
 * #EXT-X-MEDIA-SEQUENCE:0
 * #EXT-X-INDEPENDENT-SEGMENTS
 * #EXT-X-PLAYLIST-TYPE:EVENT
 * #EXT-X-MAP:URI="init_1.mp4"
 * #EXT-X-PROGRAM-DATE-TIME:2026-01-02T03:04:05.678Z
 * #EXTINF:2.000000,
 * seg_00000.m4s
 * #EXT-X-PART:DURATION=0.50000,URI="seg_00001.part0.m4s",INDEPENDENT=YES
 * ...
 * #EXTINF:2.000000,
 * seg_00001.m4s
 * #EXT-X-PART:DURATION=0.50000,URI="seg_00002.part0.m4s",INDEPENDENT=YES
 * #EXT-X-PRELOAD-HINT:TYPE=PART,URI="seg_00002.part1.m4s"
 * #EXT-X-RENDITION-REPORT:URI="../480p/index.m3u8",LAST-MSN=2,LAST-PART=0
 * ```
 *
 * Every completed segment is listed with EXTINF + URI, so clients without LL-HLS support
 * play the same playlist (8216bis §4.4.4.9: clients that do not support parts ignore them).
 * EXT-X-DISCONTINUITY, EXT-X-MAP and EXT-X-PROGRAM-DATE-TIME are written before a segment's
 * parts (they apply to its first sample); PROGRAM-DATE-TIME on the first segment and after
 * each discontinuity. An encrypted segment's EXT-X-KEY (METHOD=AES-128, its own IV) comes
 * after its MAP and before its parts, so it applies to the parts and the segment, never to the
 * init segment (8216bis §4.4.4.4; see `segmentHeadLines`): one key line per key period, without
 * IV, since each segment's IV is its Media Sequence Number (§5.2). EXT-X-SERVER-CONTROL carries
 * CAN-SKIP-UNTIL (`canSkipUntil`), so clients may ask for delta updates; the full playlist stays
 * EXT-X-VERSION 7 (only EXT-X-SKIP, in the delta, needs 9). Ends with a newline.
 *
 * @throws {RangeError} when `partTarget` is not positive, there is nothing to list and no
 *   `targetDuration`, or `canSkipUntil` is under 6 x target duration.
 */
export function renderLowLatencyPlaylist(opts: RenderLowLatencyPlaylistOptions): string {
  if (!(opts.partTarget > 0)) throw new RangeError('partTarget must be > 0');
  const segs = opts.segments;
  if (segs.length === 0 && !opts.open && opts.targetDuration === undefined) throw new RangeError('no segments and no targetDuration');
  const td = opts.targetDuration ?? Math.max(opts.minTargetDuration ?? 1, targetDurationFor(segs));
  const partHoldBack = opts.partHoldBack ?? 3 * opts.partTarget;
  const holdBack = opts.holdBack ?? 3 * td;
  const canSkipUntil = opts.canSkipUntil === undefined ? DEFAULT_SKIP_TARGET_DURATIONS * td : opts.canSkipUntil;
  if (canSkipUntil !== null && !(canSkipUntil >= DEFAULT_SKIP_TARGET_DURATIONS * td)) throw new RangeError(`canSkipUntil ${canSkipUntil} is under 6 x target duration ${td}`);
  const skip = canSkipUntil === null ? '' : `,CAN-SKIP-UNTIL=${formatPartTarget(canSkipUntil)}`;
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:7',
    `#EXT-X-TARGETDURATION:${td}`,
    `#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES${skip},PART-HOLD-BACK=${formatPartTarget(partHoldBack)},HOLD-BACK=${formatPartTarget(holdBack)}`,
    `#EXT-X-PART-INF:PART-TARGET=${formatPartTarget(opts.partTarget)}`,
    `#EXT-X-MEDIA-SEQUENCE:${segs[0]?.sequence ?? opts.open?.sequence ?? 0}`,
  ];
  if (opts.discontinuitySequence) lines.push(`#EXT-X-DISCONTINUITY-SEQUENCE:${opts.discontinuitySequence}`);
  lines.push('#EXT-X-INDEPENDENT-SEGMENTS');
  if (opts.playlistType !== null) lines.push(`#EXT-X-PLAYLIST-TYPE:${opts.playlistType ?? 'EVENT'}`);
  const scope = newTagScope(false, opts.explicitIv ?? false);
  const head = (s: Pick<PlaylistSegment, 'sequence' | 'discontinuity' | 'map' | 'programDateTime' | 'key'>) => {
    lines.push(...segmentHeadLines(s, scope));
  };
  for (const seg of segs) {
    head(seg);
    for (const p of seg.parts ?? []) lines.push(partLine(p));
    lines.push(`#EXTINF:${formatDuration(seg.duration)},`, seg.uri);
  }
  if (opts.open) {
    head(opts.open);
    for (const p of opts.open.parts) lines.push(partLine(p));
  }
  if (opts.preloadHint !== undefined) lines.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${opts.preloadHint}"`);
  for (const r of opts.renditionReports ?? []) {
    lines.push(`#EXT-X-RENDITION-REPORT:URI="${r.uri}",LAST-MSN=${r.lastMsn}${r.lastPart !== undefined ? `,LAST-PART=${r.lastPart}` : ''}`);
  }
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// Reading a low-latency playlist
// ---------------------------------------------------------------------------------------------

/** A part as read back by {@link parseLowLatencyPlaylist}: its parent's MSN, its index in the parent, its 1-based `line`. */
export interface ParsedPart extends PlaylistPart {
  msn: number;
  index: number;
  line: number;
}

/**
 * What {@link parseLowLatencyPlaylist} reads: raw tag attributes and the segment/part
 * structure. `segments[i].parts` are the parts listed before segment i's URI; `openParts` the
 * parts after the last URI (they belong to MSN `lastMsn + 1`). Durations in seconds.
 */
export interface ParsedLowLatencyPlaylist {
  targetDuration?: number;
  mediaSequence: number;
  endList: boolean;
  partTarget?: number;
  partInfCount: number;
  independentSegments: boolean;
  serverControl?: Record<string, string>;
  programDateTimes: number;
  segments: Array<{ msn: number; uri: string; duration: number; line: number; parts: ParsedPart[] }>;
  openParts: ParsedPart[];
  preloadHints: Array<{ type: string; uri: string; line: number }>;
  renditionReports: Array<Record<string, string> & { line: string }>;
  /** `#EXTM3U` first line present. */
  header: boolean;
  /** EXT-X-VERSION, when present. */
  version?: number;
  /**
   * SKIPPED-SEGMENTS of the EXT-X-SKIP tags (8216bis §4.4.5.2; 0 in a full playlist): the first
   * listed segment has MSN `mediaSequence + skippedSegments`.
   */
  skippedSegments: number;
  /** The 1-based lines of the EXT-X-SKIP tags (at most one is allowed). */
  skipLines: number[];
}

/**
 * Parses a (low-latency) media playlist into its segment and part structure. Lenient: it
 * never throws; the checker reports what is missing.
 */
export function parseLowLatencyPlaylist(text: string): ParsedLowLatencyPlaylist {
  const lines = text.split(/\r?\n/);
  const out: ParsedLowLatencyPlaylist = {
    mediaSequence: 0,
    endList: false,
    partInfCount: 0,
    independentSegments: false,
    programDateTimes: 0,
    segments: [],
    openParts: [],
    preloadHints: [],
    renditionReports: [],
    header: lines[0]?.replace(/^\uFEFF/, '').trim() === '#EXTM3U',
    skippedSegments: 0,
    skipLines: [],
  };
  let pendingParts: ParsedPart[] = [];
  let extinf: number | undefined;
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    if (!line.startsWith('#')) {
      const msn = out.mediaSequence + out.skippedSegments + out.segments.length;
      out.segments.push({ msn, uri: line, duration: extinf ?? NaN, line: i + 1, parts: pendingParts.map((p) => ({ ...p, msn })) });
      pendingParts = [];
      extinf = undefined;
      return;
    }
    const colon = line.indexOf(':');
    const tag = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1);
    switch (tag) {
      case '#EXT-X-TARGETDURATION':
        out.targetDuration = Number(value);
        break;
      case '#EXT-X-MEDIA-SEQUENCE':
        out.mediaSequence = Number(value);
        break;
      case '#EXT-X-ENDLIST':
        out.endList = true;
        break;
      case '#EXT-X-VERSION':
        out.version = Number(value);
        break;
      case '#EXT-X-SKIP': {
        const n = parseAttributeList(value)['SKIPPED-SEGMENTS'];
        out.skipLines.push(i + 1);
        out.skippedSegments += n !== undefined && DECIMAL_INTEGER.test(n) ? Number(n) : 0;
        break;
      }
      case '#EXTINF':
        extinf = Number(value.split(',')[0]);
        break;
      case '#EXT-X-PROGRAM-DATE-TIME':
        out.programDateTimes++;
        break;
      case '#EXT-X-INDEPENDENT-SEGMENTS':
        out.independentSegments = true;
        break;
      case '#EXT-X-PART-INF': {
        out.partInfCount++;
        const a = parseAttributeList(value);
        if (a['PART-TARGET'] !== undefined) out.partTarget = Number(a['PART-TARGET']);
        break;
      }
      case '#EXT-X-SERVER-CONTROL':
        out.serverControl = parseAttributeList(value);
        break;
      case '#EXT-X-PART': {
        const a = parseAttributeList(value);
        pendingParts.push({
          uri: a.URI ?? '',
          duration: a.DURATION !== undefined ? Number(a.DURATION) : NaN,
          independent: a.INDEPENDENT === 'YES',
          msn: -1,
          index: pendingParts.length,
          line: i + 1,
        });
        break;
      }
      case '#EXT-X-PRELOAD-HINT': {
        const a = parseAttributeList(value);
        out.preloadHints.push({ type: a.TYPE ?? '', uri: a.URI ?? '', line: i + 1 });
        break;
      }
      case '#EXT-X-RENDITION-REPORT':
        out.renditionReports.push({ ...parseAttributeList(value), line: String(i + 1) });
        break;
      default:
        break;
    }
  });
  const openMsn = out.mediaSequence + out.skippedSegments + out.segments.length;
  out.openParts = pendingParts.map((p) => ({ ...p, msn: openMsn }));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Blocking playlist reload (8216bis §6.2.5.2), for the edge
// ---------------------------------------------------------------------------------------------

/**
 * A parsed blocking reload request (8216bis §6.2.5.2 delivery directives): `msn` from
 * `_HLS_msn`, `part` from `_HLS_part` (only with `msn`), `skip` from `_HLS_skip` (`YES` or
 * `v2`, §6.2.5.1: answer with a Playlist Delta Update, `renderPlaylistDeltaUpdate`; `v2` is
 * served as `YES` since CAN-SKIP-DATERANGES is not advertised). `skip` combines with `msn` /
 * `part`: the edge waits as for any blocking reload, then sends the delta of the playlist that
 * satisfied it. All fields absent: a plain (non-blocking) full playlist request.
 */
export interface BlockingReloadRequest {
  msn?: number;
  part?: number;
  skip?: 'YES' | 'v2';
}

/** Outcome of {@link parseBlockingReloadQuery}: the request, or an HTTP status with a reason. */
export type BlockingReloadParse = { ok: true; request: BlockingReloadRequest } | { ok: false; status: 400; reason: string };

const DECIMAL_INTEGER = /^(0|[1-9][0-9]{0,15})$/;

/**
 * Reads the delivery directives of a media playlist request (8216bis §6.2.5.2, §6.2.5.1):
 * `_HLS_msn=<M>`, `_HLS_part=<N>` (decimal-integers), `_HLS_skip=YES|v2`.
 *
 * Errors (status 400, as the spec says a server SHOULD answer malformed directives with
 * Bad Request): `_HLS_part` without `_HLS_msn`; a value that is not a decimal-integer
 * (8216bis §4.2: `[0-9]+`, at most 2^53 - 1 here so it fits a double exactly); a repeated
 * directive; `_HLS_skip` other than `YES` / `v2`.
 *
 * @param query the request's query (`URLSearchParams`, or a record as Fastify gives it).
 */
export function parseBlockingReloadQuery(query: URLSearchParams | Readonly<Record<string, unknown>>): BlockingReloadParse {
  const get = (name: string): { value?: string; error?: string } => {
    if (query instanceof URLSearchParams) {
      const all = query.getAll(name);
      if (all.length > 1) return { error: `${name} given more than once` };
      return all.length === 1 ? { value: all[0]! } : {};
    }
    const v = query[name];
    if (v === undefined) return {};
    if (Array.isArray(v)) return { error: `${name} given more than once` };
    return { value: String(v) };
  };
  const msn = get('_HLS_msn');
  const part = get('_HLS_part');
  const skip = get('_HLS_skip');
  for (const [name, d] of [['_HLS_msn', msn], ['_HLS_part', part], ['_HLS_skip', skip]] as const) {
    if (d.error) return { ok: false, status: 400, reason: d.error };
    // 16 digits may exceed 2^53: such a value would not be read back exactly, so it is refused too
    if (name !== '_HLS_skip' && d.value !== undefined && (!DECIMAL_INTEGER.test(d.value) || !Number.isSafeInteger(Number(d.value)))) {
      return { ok: false, status: 400, reason: `${name} is not a decimal-integer: ${JSON.stringify(d.value)}` };
    }
  }
  if (part.value !== undefined && msn.value === undefined) {
    return { ok: false, status: 400, reason: '_HLS_part without _HLS_msn' };
  }
  const request: BlockingReloadRequest = {};
  if (msn.value !== undefined) request.msn = Number(msn.value);
  if (part.value !== undefined) request.part = Number(part.value);
  if (skip.value !== undefined) {
    if (skip.value !== 'YES' && skip.value !== 'v2') return { ok: false, status: 400, reason: `_HLS_skip must be YES or v2: ${JSON.stringify(skip.value)}` };
    request.skip = skip.value;
  }
  return { ok: true, request };
}

/**
 * The Advance Part Limit of 8216bis §6.2.5.2: 3 / PART-TARGET parts when PART-TARGET is
 * under one second, else 3 (a request may ask for at most that many parts beyond the last
 * one in the playlist).
 */
export function advancePartLimit(partTarget: number): number {
  return partTarget < 1 ? 3 / partTarget : 3;
}

/**
 * Does `playlistText` already satisfy a blocking request for segment `msn` (and part
 * `part`)? True when the playlist contains (8216bis §6.2.5.2: "a Media Segment with a Media
 * Sequence Number of M or later, or ... the Partial Segment N of M or later"):
 * - without `part`: a complete segment (EXTINF + URI) with MSN >= `msn`;
 * - with `part`: a complete segment with MSN >= `msn`, or a part of segment `msn` with index
 *   >= `part`, or any part of a later segment;
 * - an EXT-X-ENDLIST playlist always satisfies (nothing more will come).
 *
 * @param msn Media Sequence Number (decimal-integer, >= 0).
 * @param part part index inside segment `msn` (from 0), optional.
 */
export function playlistHasPart(playlistText: string, msn: number, part?: number): boolean {
  const pl = parseLowLatencyPlaylist(playlistText);
  if (pl.endList) return true;
  const lastMsn = pl.mediaSequence + pl.skippedSegments + pl.segments.length - 1;
  if (pl.segments.length > 0 && lastMsn >= msn) return true;
  if (part === undefined) return false;
  for (const p of [...pl.segments.flatMap((s) => s.parts), ...pl.openParts]) {
    if (p.msn > msn || (p.msn === msn && p.index >= part)) return true;
  }
  return false;
}

/**
 * What the edge should do with a blocking request against the current playlist:
 * - `serve`: answer with this playlist now (also for a request without `_HLS_msn`);
 * - `wait`: hold the request and re-check when the playlist changes, answering 503 when
 *   {@link blockingReloadTimeoutMs} has passed (8216bis §6.2.5.2);
 * - `{ status: 400 }`: answer Bad Request now: `_HLS_msn` is more than two segments beyond
 *   the last segment in the playlist, or `_HLS_part` is more than the Advance Part Limit
 *   beyond the last part (8216bis §6.2.5.2).
 */
export function decideBlockingReload(
  request: BlockingReloadRequest,
  playlistText: string,
): { action: 'serve' } | { action: 'wait' } | { action: 'reject'; status: 400; reason: string } {
  if (request.msn === undefined) return { action: 'serve' };
  if (playlistHasPart(playlistText, request.msn, request.part)) return { action: 'serve' };
  const pl = parseLowLatencyPlaylist(playlistText);
  const lastMsn = pl.mediaSequence + pl.skippedSegments + pl.segments.length - 1;
  if (request.msn > lastMsn + 2) {
    return { action: 'reject', status: 400, reason: `_HLS_msn ${request.msn} is more than 2 beyond the last segment ${lastMsn}` };
  }
  if (request.part !== undefined && pl.partTarget !== undefined) {
    // parts counted from the last listed part; the next segment's part 0 follows the last one
    const open = pl.openParts.at(-1) ?? pl.segments.at(-1)?.parts.at(-1);
    if (open) {
      const perSegment = Math.max(1, Math.round((pl.targetDuration ?? 1) / pl.partTarget));
      const ahead = (request.msn - open.msn) * perSegment + (request.part - open.index);
      if (ahead > advancePartLimit(pl.partTarget)) {
        return { action: 'reject', status: 400, reason: `_HLS_part ${request.part} of ${request.msn} is more than the Advance Part Limit beyond the last part` };
      }
    }
  }
  return { action: 'wait' };
}

/**
 * What a server should do with a request for a part that storage does not hold (yet), given
 * the rendition's current media playlist (RFC 8216bis §6.2.6: a server SHOULD treat a request
 * for a resource named by EXT-X-PRELOAD-HINT as a blocking request and answer once the resource
 * is complete; §4.4.5.3: the hinted resource may be requested before it is available):
 * - `listed`: the playlist names `uri` (a part or segment): it exists; read it again;
 * - `wait`: `uri` is the preload-hinted part, or a later part of the same packager attempt
 *   within the Advance Part Limit of the hint (a viewer whose playlist is newer than this
 *   server's copy); hold the request like a blocking reload for `request` (`_HLS_msn` /
 *   `_HLS_part` of that part), then decide again;
 * - `gone`: `uri` can no longer appear (before the hint and not listed, another attempt's name,
 *   an ENDLIST playlist, no hint, or a name that is not the packager's part naming
 *   {@link parseLlPartUri}): answer 404 at once.
 *
 * @param playlistText the rendition's live media playlist as stored.
 * @param uri the requested file name relative to the playlist (`seg_00012.part3.m4s`).
 */
export function decideHintedPartRequest(
  playlistText: string,
  uri: string,
): { action: 'listed' } | { action: 'wait'; request: { msn: number; part: number } } | { action: 'gone'; reason: string } {
  const pl = parseLowLatencyPlaylist(playlistText);
  const listed = [...pl.segments.flatMap((s) => [s.uri, ...s.parts.map((p) => p.uri)]), ...pl.openParts.map((p) => p.uri)];
  if (listed.includes(uri)) return { action: 'listed' };
  if (pl.endList) return { action: 'gone', reason: 'the playlist has ended' };
  const hint = pl.preloadHints.find((h) => h.type === 'PART');
  if (!hint) return { action: 'gone', reason: 'the playlist hints no part' };
  const wanted = parseLlPartUri(uri);
  const hinted = parseLlPartUri(hint.uri);
  if (!wanted || !hinted) return { action: 'gone', reason: 'not a part name of this playlist' };
  if (wanted.attempt !== hinted.attempt) return { action: 'gone', reason: 'a part of another packager attempt' };
  const perSegment = pl.partTarget !== undefined ? Math.max(1, Math.round((pl.targetDuration ?? 1) / pl.partTarget)) : 1;
  const ahead = (wanted.msn - hinted.msn) * perSegment + (wanted.index - hinted.index);
  if (wanted.msn < hinted.msn || (wanted.msn === hinted.msn && wanted.index < hinted.index)) return { action: 'gone', reason: 'an earlier part that the playlist does not list' };
  if (ahead > advancePartLimit(pl.partTarget ?? 1)) return { action: 'gone', reason: 'beyond the Advance Part Limit of the preload hint' };
  return { action: 'wait', request: { msn: wanted.msn, part: wanted.index } };
}

/**
 * How long the edge holds a blocking request before answering 503: three times the target
 * duration (8216bis §6.2.5.2), in milliseconds. `targetDurationSeconds` is EXT-X-TARGETDURATION.
 */
export function blockingReloadTimeoutMs(targetDurationSeconds: number): number {
  return 3 * targetDurationSeconds * 1000;
}

/** Options of {@link awaitBlockingReload}. */
export interface AwaitBlockingReloadOptions {
  /** Reads the current playlist text (e.g. from object storage); `null` when it does not exist (yet). */
  read(): Promise<string | null>;
  /**
   * Resolves when the playlist may have changed (e.g. a storage `onPlaylistWritten` listener), or
   * after a poll interval; default: wait `pollMs`.
   */
  changed?(): Promise<void>;
  /** Poll interval in ms when `changed` is not given. Default 100. */
  pollMs?: number;
  /** Give up after this many ms; default {@link blockingReloadTimeoutMs} of the playlist's EXT-X-TARGETDURATION (6000 if unknown). */
  timeoutMs?: number;
  /** Aborts the wait (client went away): resolves with status 503 at once. */
  signal?: AbortSignal;
}

/**
 * Serves one blocking playlist reload (8216bis §6.2.5.2) on top of {@link decideBlockingReload}:
 * re-reads the playlist until it satisfies `request`, and resolves with what to answer:
 * `{ status: 200, text }`, `{ status: 400, reason }` (directive beyond the spec's limits), or
 * `{ status: 503 }` when three target durations passed first (or the wait was aborted);
 * `{ status: 404 }` when there is no playlist and the request does not block.
 * No I/O of its own: the caller supplies `read` (and optionally `changed`).
 *
 * @throws whatever `read` throws.
 */
export async function awaitBlockingReload(
  request: BlockingReloadRequest,
  opts: AwaitBlockingReloadOptions,
): Promise<{ status: 200; text: string } | { status: 400; reason: string } | { status: 404 } | { status: 503; reason: string }> {
  const started = Date.now();
  let timeoutMs = opts.timeoutMs;
  const pause = () => opts.changed?.() ?? new Promise<void>((r) => void setTimeout(r, opts.pollMs ?? 100));
  for (;;) {
    const text = await opts.read();
    if (text === null) {
      if (request.msn === undefined) return { status: 404 };
    } else {
      const d = decideBlockingReload(request, text);
      if (d.action === 'serve') return { status: 200, text };
      if (d.action === 'reject') return { status: 400, reason: d.reason };
      if (timeoutMs === undefined) {
        const td = parseLowLatencyPlaylist(text).targetDuration;
        timeoutMs = blockingReloadTimeoutMs(td !== undefined && td > 0 ? td : 2);
      }
    }
    const left = (timeoutMs ?? 6000) - (Date.now() - started);
    if (left <= 0) return { status: 503, reason: 'the requested segment or part did not appear within 3 target durations' };
    if (opts.signal?.aborted) return { status: 503, reason: 'aborted' };
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: (() => void) | undefined;
    try {
      await Promise.race([
        pause(),
        new Promise<void>((r) => {
          timer = setTimeout(r, left);
        }),
        new Promise<void>((r) => {
          onAbort = () => r();
          opts.signal?.addEventListener('abort', onAbort, { once: true });
        }),
      ]);
    } finally {
      clearTimeout(timer);
      if (onAbort) opts.signal?.removeEventListener('abort', onAbort);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Conformance checker
// ---------------------------------------------------------------------------------------------

/**
 * One finding of {@link checkLowLatencyPlaylist}: `rule` (stable id), `severity` (`error` for a
 * MUST, `warning` for a SHOULD), a human `message`, and the 1-based `line` when it applies to one.
 */
export interface LlHlsViolation {
  rule: string;
  severity: 'error' | 'warning';
  message: string;
  line?: number;
}

/** Options of {@link checkLowLatencyPlaylist}. */
export interface CheckLowLatencyOptions {
  /**
   * The packager's part naming, e.g. {@link llPartUri}: when given, every part's URI must be
   * `partUri(msn, index)` (numbering is contiguous from 0 within each segment and follows the
   * MSN) and the preload hint must name the next part (`(lastMsn, lastIndex + 1)` or
   * `(lastMsn + 1, 0)`).
   */
  partUri?: (msn: number, index: number) => string;
  /** Number of EXT-X-RENDITION-REPORT tags expected (renditions in the master minus one). */
  renditionReports?: number;
  /**
   * The full playlist a Playlist Delta Update (a text with EXT-X-SKIP) was made from: the delta
   * must then say the same about every segment it lists (rule `delta-update`, see
   * `compareDeltaUpdate`).
   */
  fullPlaylist?: string;
}

/**
 * Checks a live low-latency media playlist against the rules of 8216bis (and Apple's LL-HLS
 * requirements where noted). Rules (`rule` ids):
 *
 * - `header`: starts with `#EXTM3U` (§4.4.1.1); `target-duration`: EXT-X-TARGETDURATION present,
 *   every EXTINF rounded to the nearest integer <= it (§4.4.3.1);
 * - `part-inf`: exactly one EXT-X-PART-INF with a positive PART-TARGET when there are parts (§4.4.3.7);
 * - `server-control`: EXT-X-SERVER-CONTROL with CAN-BLOCK-RELOAD=YES (§4.4.3.8; Apple requires
 *   blocking reload for LL-HLS); `part-hold-back`: PART-HOLD-BACK present with parts and >= 2 x
 *   PART-TARGET (MUST), warning under 3 x (SHOULD) (§4.4.3.8); `hold-back`: HOLD-BACK, when
 *   present, >= 3 x target duration (§4.4.3.8);
 * - `part-duration-max`: every part's DURATION <= PART-TARGET; `part-duration-min`: every part
 *   >= 85% of PART-TARGET, except parts with INDEPENDENT=YES and the final part of a parent
 *   segment (§4.4.4.9: "The duration of a Partial Segment MUST be less than or equal to the
 *   Part Target Duration. The duration of each Partial Segment MUST be at least 85% of the
 *   Part Target Duration, with the exception of Partial Segments with the INDEPENDENT=YES
 *   attribute and the final Partial Segment of any Parent Segment.");
 * - `part-uri`: every EXT-X-PART has a URI (§4.4.4.9, REQUIRED); `part-independent`: with
 *   EXT-X-INDEPENDENT-SEGMENTS every segment starts with a keyframe, so its first part must say
 *   INDEPENDENT=YES (§4.4.2.1, §4.4.4.9);
 * - `part-sum`: a completed segment's parts add up to its EXTINF (within 1 ms per part);
 * - `parts-contiguous`: once a segment lists parts, every later segment does (parts are
 *   removed oldest first), and part URIs follow `partUri` when given;
 * - `part-age`: parts only on segments that start within 3 target durations of the end of the
 *   playlist, measured from the segment's (= its first part's) start (§4.4.4.9: parts SHOULD be
 *   removed once more than three target durations from the end; removal is per parent
 *   segment so part indexes never shift) -> warning;
 * - `parts-recent`: the last segments carry parts: at least PART-HOLD-BACK worth of parts at
 *   the live edge (a client joining at PART-HOLD-BACK must find parts there) -> warning
 *   (briefly expected right after a discontinuity: parts of the old attempt are gone);
 * - `preload-hint`: without ENDLIST, exactly one EXT-X-PRELOAD-HINT TYPE=PART (Apple LL-HLS),
 *   at most one per TYPE (§4.4.5.3), none with ENDLIST, naming a part not already listed, and
 *   the next part per `partUri` when given;
 * - `rendition-report`: each report has URI and LAST-MSN, and LAST-PART when the playlist has
 *   parts (§4.4.5.4); the expected number of them when `renditionReports` is given;
 * - `program-date-time`: at least one EXT-X-PROGRAM-DATE-TIME (warning; Apple requires it for LL-HLS);
 * - `can-skip-until`: CAN-SKIP-UNTIL, when advertised, is at least 6 x target duration (§4.4.3.8);
 * - `skip` (Playlist Delta Updates, §4.4.5.2, §6.2.5.1): at most one EXT-X-SKIP, only in a
 *   playlist that advertises CAN-SKIP-UNTIL, has EXT-X-VERSION >= 9 (§7) and no EXT-X-ENDLIST,
 *   and whose listed segments span at least CAN-SKIP-UNTIL (nothing within the Skip Boundary
 *   skipped); `delta-update`: with `fullPlaylist`, the delta agrees with it segment by segment
 *   (MSN, URI, EXTINF, MAP, KEY, discontinuities, PROGRAM-DATE-TIME; `compareDeltaUpdate`).
 *
 * @returns the violations, empty for a conforming playlist. Never throws.
 */
export function checkLowLatencyPlaylist(text: string, options: CheckLowLatencyOptions = {}): LlHlsViolation[] {
  const v: LlHlsViolation[] = [];
  const err = (rule: string, message: string, line?: number) => v.push(line === undefined ? { rule, severity: 'error', message } : { rule, severity: 'error', message, line });
  const warn = (rule: string, message: string, line?: number) => v.push(line === undefined ? { rule, severity: 'warning', message } : { rule, severity: 'warning', message, line });
  const pl = parseLowLatencyPlaylist(text);
  const EPS = 1e-6;

  if (!pl.header) err('header', 'first line is not #EXTM3U');
  const td = pl.targetDuration;
  if (td === undefined || !Number.isFinite(td)) err('target-duration', 'EXT-X-TARGETDURATION missing');
  else {
    for (const s of pl.segments) {
      if (!Number.isFinite(s.duration)) err('target-duration', `segment ${s.msn} has no EXTINF`, s.line);
      else if (Math.round(s.duration) > td) err('target-duration', `segment ${s.msn} EXTINF ${s.duration} rounds above target duration ${td}`, s.line);
    }
  }

  const allParts = [...pl.segments.flatMap((s) => s.parts), ...pl.openParts];
  const pt = pl.partTarget;
  if (pl.partInfCount > 1) err('part-inf', 'more than one EXT-X-PART-INF');
  if (allParts.length > 0 && (pt === undefined || !(pt > 0))) err('part-inf', 'parts without an EXT-X-PART-INF PART-TARGET');
  if (pl.partInfCount === 0 && allParts.length === 0 && !pl.endList) err('part-inf', 'no EXT-X-PART-INF and no parts: not a low-latency playlist');

  const sc = pl.serverControl;
  if (!sc) err('server-control', 'EXT-X-SERVER-CONTROL missing');
  else {
    if (sc['CAN-BLOCK-RELOAD'] !== 'YES') err('server-control', 'CAN-BLOCK-RELOAD=YES missing');
    const phb = sc['PART-HOLD-BACK'] !== undefined ? Number(sc['PART-HOLD-BACK']) : undefined;
    if (pl.partInfCount > 0 && phb === undefined) err('part-hold-back', 'PART-HOLD-BACK missing although the playlist has EXT-X-PART-INF');
    if (phb !== undefined && pt !== undefined && pt > 0) {
      if (phb < 2 * pt - EPS) err('part-hold-back', `PART-HOLD-BACK ${phb} < 2 x PART-TARGET ${pt}`);
      else if (phb < 3 * pt - EPS) warn('part-hold-back', `PART-HOLD-BACK ${phb} < 3 x PART-TARGET ${pt} (SHOULD be at least 3x)`);
    }
    const hb = sc['HOLD-BACK'] !== undefined ? Number(sc['HOLD-BACK']) : undefined;
    if (hb !== undefined && td !== undefined && hb < 3 * td - EPS) err('hold-back', `HOLD-BACK ${hb} < 3 x target duration ${td}`);
  }

  for (const p of allParts) if (!p.uri) err('part-uri', `part ${p.msn}.${p.index} has no URI`, p.line);
  if (pl.independentSegments) {
    for (const s of [...pl.segments.map((x) => x.parts), pl.openParts]) {
      const first = s[0];
      if (first && first.index === 0 && !first.independent) {
        err('part-independent', `part ${first.msn}.0 starts a segment of an EXT-X-INDEPENDENT-SEGMENTS playlist but lacks INDEPENDENT=YES`, first.line);
      }
    }
  }

  if (pt !== undefined && pt > 0) {
    const checkParts = (parts: ParsedPart[], closed: boolean) => {
      parts.forEach((p, i) => {
        if (!Number.isFinite(p.duration)) {
          err('part-duration-max', `part ${p.msn}.${p.index} has no DURATION`, p.line);
          return;
        }
        if (p.duration > pt + EPS) err('part-duration-max', `part ${p.msn}.${p.index} DURATION ${p.duration} > PART-TARGET ${pt}`, p.line);
        const finalOfParent = closed && i === parts.length - 1;
        if (p.duration < 0.85 * pt - EPS && !p.independent && !finalOfParent) {
          err('part-duration-min', `part ${p.msn}.${p.index} DURATION ${p.duration} < 85% of PART-TARGET ${pt} and is neither INDEPENDENT nor the final part of its segment`, p.line);
        }
      });
    };
    for (const s of pl.segments) checkParts(s.parts, true);
    checkParts(pl.openParts, false);
  }

  for (const s of pl.segments) {
    if (s.parts.length === 0 || !Number.isFinite(s.duration)) continue;
    const sum = s.parts.reduce((n, p) => n + p.duration, 0);
    if (Math.abs(sum - s.duration) > 0.001 * s.parts.length + EPS) err('part-sum', `segment ${s.msn}: parts add up to ${sum.toFixed(5)} s, EXTINF says ${s.duration}`, s.line);
  }

  // contiguity: parts removed oldest first, so after the first segment with parts all have them
  const firstWithParts = pl.segments.findIndex((s) => s.parts.length > 0);
  if (firstWithParts >= 0) {
    for (const s of pl.segments.slice(firstWithParts)) {
      if (s.parts.length === 0) err('parts-contiguous', `segment ${s.msn} lists no parts although an earlier segment does`, s.line);
    }
  }
  if (options.partUri) {
    for (const p of allParts) {
      const want = options.partUri(p.msn, p.index);
      if (p.uri !== want) err('parts-contiguous', `part ${p.msn}.${p.index} URI ${JSON.stringify(p.uri)}, expected ${JSON.stringify(want)}`, p.line);
    }
  }

  if (td !== undefined && pl.segments.length > 0) {
    const openDuration = pl.openParts.reduce((n, p) => n + p.duration, 0);
    let fromEnd = openDuration;
    for (let i = pl.segments.length - 1; i >= 0; i--) {
      const s = pl.segments[i]!;
      fromEnd += Number.isFinite(s.duration) ? s.duration : 0;
      // this segment (and its first part) starts `fromEnd` seconds before the end
      if (s.parts.length > 0 && fromEnd > 3 * td + EPS) {
        warn('part-age', `segment ${s.msn} still lists parts ${fromEnd.toFixed(3)} s from the end (more than 3 target durations)`, s.line);
      }
    }
  }
  if (!pl.endList && pt !== undefined && sc?.['PART-HOLD-BACK'] !== undefined) {
    const phb = Number(sc['PART-HOLD-BACK']);
    let withParts = pl.openParts.reduce((n, p) => n + p.duration, 0);
    for (let i = pl.segments.length - 1; i >= 0 && pl.segments[i]!.parts.length > 0; i--) withParts += pl.segments[i]!.duration;
    const total = pl.segments.reduce((n, s) => n + (Number.isFinite(s.duration) ? s.duration : 0), 0) + pl.openParts.reduce((n, p) => n + p.duration, 0);
    if (withParts + EPS < Math.min(phb, total)) warn('parts-recent', `only ${withParts.toFixed(3)} s of parts at the live edge, less than PART-HOLD-BACK ${phb}`);
  }

  const partHints = pl.preloadHints.filter((h) => h.type === 'PART');
  if (pl.endList && pl.preloadHints.length > 0) err('preload-hint', 'EXT-X-PRELOAD-HINT in a playlist with EXT-X-ENDLIST', pl.preloadHints[0]!.line);
  if (!pl.endList && allParts.length > 0 && partHints.length === 0) err('preload-hint', 'no EXT-X-PRELOAD-HINT TYPE=PART at the live edge');
  for (const type of new Set(pl.preloadHints.map((h) => h.type))) {
    const same = pl.preloadHints.filter((h) => h.type === type);
    if (same.length > 1) err('preload-hint', `${same.length} EXT-X-PRELOAD-HINT tags of TYPE=${type}`, same[1]!.line);
  }
  for (const h of pl.preloadHints) {
    if (h.type !== 'PART' && h.type !== 'MAP') err('preload-hint', `EXT-X-PRELOAD-HINT TYPE=${JSON.stringify(h.type)}`, h.line);
    if (!h.uri) err('preload-hint', 'EXT-X-PRELOAD-HINT without URI', h.line);
    if (h.type === 'PART' && allParts.some((p) => p.uri === h.uri)) err('preload-hint', `preload hint ${JSON.stringify(h.uri)} names a part already listed`, h.line);
  }
  const hint = partHints[0];
  if (hint && options.partUri) {
    const last = allParts.at(-1);
    const lastMsn = pl.mediaSequence + pl.skippedSegments + pl.segments.length - 1;
    const candidates = last
      ? [options.partUri(last.msn, last.index + 1), options.partUri(last.msn + 1, 0)]
      : [options.partUri(lastMsn + 1, 0)];
    if (!candidates.includes(hint.uri)) err('preload-hint', `preload hint ${JSON.stringify(hint.uri)} is not the next part (${candidates.join(' or ')})`, hint.line);
  }

  for (const r of pl.renditionReports) {
    const line = Number(r.line);
    if (!r.URI) err('rendition-report', 'EXT-X-RENDITION-REPORT without URI', line);
    if (r['LAST-MSN'] === undefined || !DECIMAL_INTEGER.test(r['LAST-MSN'])) err('rendition-report', 'EXT-X-RENDITION-REPORT without a LAST-MSN', line);
    if (allParts.length > 0 && (r['LAST-PART'] === undefined || !DECIMAL_INTEGER.test(r['LAST-PART']))) {
      err('rendition-report', 'EXT-X-RENDITION-REPORT without LAST-PART in a playlist with parts', line);
    }
  }
  if (options.renditionReports !== undefined && !pl.endList && pl.renditionReports.length !== options.renditionReports) {
    err('rendition-report', `${pl.renditionReports.length} EXT-X-RENDITION-REPORT tags, expected ${options.renditionReports}`);
  }
  if (pl.programDateTimes === 0) warn('program-date-time', 'no EXT-X-PROGRAM-DATE-TIME');
  checkDeltaRules(pl, text, options, err);
  return v;
}

/** The `can-skip-until`, `skip` and `delta-update` rules of {@link checkLowLatencyPlaylist}. */
function checkDeltaRules(pl: ParsedLowLatencyPlaylist, text: string, options: CheckLowLatencyOptions, err: (rule: string, message: string, line?: number) => void): void {
  const raw = pl.serverControl?.['CAN-SKIP-UNTIL'];
  const canSkipUntil = raw !== undefined ? Number(raw) : undefined;
  const td = pl.targetDuration;
  if (canSkipUntil !== undefined && td !== undefined && !(canSkipUntil >= 6 * td - 1e-6)) err('can-skip-until', `CAN-SKIP-UNTIL ${raw} < 6 x target duration ${td}`);
  if (pl.skipLines.length === 0) return;
  const line = pl.skipLines[0];
  if (pl.skipLines.length > 1) err('skip', `${pl.skipLines.length} EXT-X-SKIP tags`, pl.skipLines[1]);
  if (canSkipUntil === undefined) err('skip', 'EXT-X-SKIP in a playlist without CAN-SKIP-UNTIL', line);
  if (!(pl.version !== undefined && pl.version >= DELTA_UPDATE_VERSION)) err('skip', `EXT-X-SKIP needs EXT-X-VERSION ${DELTA_UPDATE_VERSION} or more, found ${pl.version ?? 'none'}`, line);
  if (pl.endList) err('skip', 'EXT-X-SKIP in a playlist with EXT-X-ENDLIST', line);
  const listed = pl.segments.reduce((n, s) => n + (Number.isFinite(s.duration) ? s.duration : 0), 0);
  if (canSkipUntil !== undefined && listed < canSkipUntil - 1e-6) err('skip', `the listed segments span ${listed.toFixed(3)} s, less than CAN-SKIP-UNTIL ${raw}: segments within the Skip Boundary were skipped`, line);
  if (options.fullPlaylist !== undefined) {
    for (const m of compareDeltaUpdate(text, options.fullPlaylist)) err('delta-update', m.message);
  }
}

