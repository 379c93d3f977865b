/**
 * Playlist Delta Updates (draft-pantos-hls-rfc8216bis, "8216bis" below, §6.2.5.1, §4.4.5.2
 * EXT-X-SKIP, §4.4.3.8 CAN-SKIP-UNTIL): the edge answers a `_HLS_skip=YES` reload of a live
 * media playlist with the same playlist whose older segments are replaced by one EXT-X-SKIP tag,
 * so a low-latency viewer's reloads stay small however long the DVR window is.
 *
 * Pure module: no I/O.
 */
import { KEY_NONE_LINE } from './keys.js';
import { parseAttributeList, parseMediaPlaylist, PlaylistParseError, type MediaPlaylist } from './playlist.js';

/** What {@link renderPlaylistDeltaUpdate} produces: the delta's text and how many segments it skips. */
export interface PlaylistDeltaUpdate {
  /** The Playlist Delta Update (EXT-X-VERSION 9 or more, one EXT-X-SKIP), ending with a newline. */
  readonly text: string;
  /** SKIPPED-SEGMENTS: the number of segments replaced (>= 1). */
  readonly skippedSegments: number;
}

/** Tags of the playlist header (8216bis §4.4.2, §4.4.3): everything before the first segment's tags. */
const HEADER_TAGS = new Set([
  '#EXTM3U', '#EXT-X-VERSION', '#EXT-X-TARGETDURATION', '#EXT-X-SERVER-CONTROL', '#EXT-X-PART-INF', '#EXT-X-MEDIA-SEQUENCE',
  '#EXT-X-DISCONTINUITY-SEQUENCE', '#EXT-X-INDEPENDENT-SEGMENTS', '#EXT-X-PLAYLIST-TYPE', '#EXT-X-START', '#EXT-X-DEFINE',
]);

/** The EXT-X-VERSION a playlist with EXT-X-SKIP needs (8216bis §7). */
export const DELTA_UPDATE_VERSION = 9;

function tagOf(line: string): string {
  const colon = line.indexOf(':');
  return colon < 0 ? line : line.slice(0, colon);
}

/** A media segment's lines in a playlist: its tags and parts, then its URI line (last). */
interface SegmentLines {
  readonly lines: string[];
  readonly duration: number;
}

/** Splits a media playlist into header lines, segments (their lines up to the URI) and the tail (open segment, hints, reports). */
function splitPlaylist(lines: readonly string[]): { header: string[]; segments: SegmentLines[]; tail: string[] } {
  const header: string[] = [];
  let i = 0;
  for (; i < lines.length; i++) {
    const t = lines[i]!.trim();
    if (t !== '' && !HEADER_TAGS.has(tagOf(t))) break;
    if (t !== '') header.push(lines[i]!);
  }
  const segments: SegmentLines[] = [];
  let pending: string[] = [];
  let duration = NaN;
  for (; i < lines.length; i++) {
    const raw = lines[i]!;
    const t = raw.trim();
    if (t === '') continue;
    pending.push(raw);
    if (t.startsWith('#EXTINF:')) duration = Number(t.slice(8).split(',')[0]);
    if (!t.startsWith('#')) {
      segments.push({ lines: pending, duration });
      pending = [];
      duration = NaN;
    }
  }
  return { header, segments, tail: pending };
}

/** The tags in effect after the skipped segments: EXT-X-MAP (with the key in effect at it), EXT-X-KEY, the last PROGRAM-DATE-TIME, date ranges. */
interface CarriedState {
  map?: string;
  keyAtMap?: string;
  key?: string;
  /** PROGRAM-DATE-TIME (ms) of the segment `pdtAt`, the last skipped segment that had one. */
  pdtMs?: number;
  pdtAt: number;
  dateRanges: string[];
}

function carriedState(skipped: readonly SegmentLines[]): CarriedState {
  const st: CarriedState = { pdtAt: -1, dateRanges: [] };
  skipped.forEach((seg, index) => {
    for (const raw of seg.lines) {
      const t = raw.trim();
      const tag = tagOf(t);
      if (tag === '#EXT-X-MAP') {
        st.map = t;
        if (st.key !== undefined) st.keyAtMap = st.key;
        else delete st.keyAtMap;
      } else if (tag === '#EXT-X-KEY') {
        st.key = t;
      } else if (tag === '#EXT-X-PROGRAM-DATE-TIME') {
        const ms = Date.parse(t.slice(tag.length + 1));
        if (Number.isFinite(ms)) {
          st.pdtMs = ms;
          st.pdtAt = index;
        }
      } else if (tag === '#EXT-X-DATERANGE') {
        st.dateRanges.push(t);
      }
    }
  });
  return st;
}

/** Is `line` an EXT-X-KEY that encrypts (not METHOD=NONE)? */
function encrypts(line: string | undefined): line is string {
  return line !== undefined && parseAttributeList(line.slice(line.indexOf(':') + 1)).METHOD !== 'NONE';
}

/**
 * The lines to put between EXT-X-SKIP and the first listed segment so that every tag that applied
 * to it in the full playlist still does: the EXT-X-MAP in effect (after the key that applied to
 * it), the EXT-X-KEY in effect (8216bis §4.4.4.4: a key applies to every segment and MAP until
 * the next key tag, so the first full segment's key must be restated), its PROGRAM-DATE-TIME
 * extrapolated with the skipped EXTINFs (§4.4.4.6), and the skipped EXT-X-DATERANGE tags (only
 * `_HLS_skip=v2` with CAN-SKIP-DATERANGES may drop them, which we do not advertise).
 */
function carriedLines(skipped: readonly SegmentLines[], first: SegmentLines): string[] {
  const st = carriedState(skipped);
  const head = first.lines.map((l) => l.trim()).filter((t) => t.startsWith('#') && !t.startsWith('#EXT-X-PART:') && !t.startsWith('#EXTINF:'));
  const mapAt = head.findIndex((t) => t.startsWith('#EXT-X-MAP:'));
  const keyAt = head.findIndex((t) => t.startsWith('#EXT-X-KEY:'));
  const out: string[] = [];
  let written: string | undefined;
  if (mapAt < 0 && st.map !== undefined) {
    if (encrypts(st.keyAtMap)) out.push((written = st.keyAtMap));
    out.push(st.map);
  }
  // the head restates the key before anything it applies to: nothing to carry
  const headSetsKey = keyAt >= 0 && (mapAt < 0 || keyAt < mapAt);
  if (!headSetsKey) {
    if (encrypts(st.key) && st.key !== written) out.push(st.key);
    else if (!encrypts(st.key) && written !== undefined) out.push(KEY_NONE_LINE);
  }
  if (!head.some((t) => t.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) && st.pdtMs !== undefined) {
    const seconds = skipped.slice(st.pdtAt).reduce((n, s) => n + (Number.isFinite(s.duration) ? s.duration : 0), 0);
    out.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(st.pdtMs + Math.round(seconds * 1000)).toISOString()}`);
  }
  return [...out, ...st.dateRanges];
}

/**
 * Renders the Playlist Delta Update (8216bis §6.2.5.1) of a live media playlist, as the edge
 * answers `_HLS_skip=YES` (and `v2`, served as YES: we do not advertise CAN-SKIP-DATERANGES, so
 * no EXT-X-DATERANGE is skipped) from the full playlist the packager published:
 *
 * ```
 * #EXTM3U
 * #EXT-X-VERSION:9
 * ... the full playlist's header (TARGETDURATION, SERVER-CONTROL, PART-INF, MEDIA-SEQUENCE, ...) ...
 * #EXT-X-SKIP:SKIPPED-SEGMENTS=<n>
 * #EXT-X-MAP:URI="init_1.mp4"                      (the MAP in effect, unless the next segment has its own)
 * #EXT-X-KEY:METHOD=AES-128,URI="/keys/s/3.key"    (the key in effect, §4.4.4.4)
 * #EXT-X-PROGRAM-DATE-TIME:<extrapolated>          (unless the next segment has its own)
 * ... the last segments as in the full playlist (parts, hints, rendition reports) ...
 * ```
 *
 * The Skip Boundary: the newest complete segments whose EXTINFs add up to at least CAN-SKIP-UNTIL
 * stay in full (§4.4.3.8, §6.2.5.1), everything older is replaced by EXT-X-SKIP (§4.4.5.2: the
 * URI lines and every Media Segment tag applying only to them). EXT-X-MEDIA-SEQUENCE and
 * EXT-X-DISCONTINUITY-SEQUENCE stay those of the full playlist (the skipped segments still
 * count); EXT-X-VERSION is raised to 9 (§7). See `carriedLines` for what is restated.
 *
 * @param fullText the full media playlist (as `renderLowLatencyPlaylist` writes it; any media playlist works).
 * @returns the delta, or null when no delta applies: the playlist has EXT-X-ENDLIST (VOD or
 *   ended: never skipped), advertises no CAN-SKIP-UNTIL, already has an EXT-X-SKIP, or is
 *   shorter than the Skip Boundary (nothing to skip): serve `fullText` then. Never throws.
 */
export function renderPlaylistDeltaUpdate(fullText: string): PlaylistDeltaUpdate | null {
  if (/^#EXT-X-(ENDLIST|SKIP)\b/m.test(fullText)) return null;
  const lines = fullText.split('\n');
  const { header, segments, tail } = splitPlaylist(lines);
  const sc = header.find((l) => l.trim().startsWith('#EXT-X-SERVER-CONTROL:'));
  const canSkipUntil = sc ? Number(parseAttributeList(sc.trim().slice('#EXT-X-SERVER-CONTROL:'.length))['CAN-SKIP-UNTIL']) : NaN;
  if (!(canSkipUntil > 0) || header[0]?.replace(/^\uFEFF/, '').trim() !== '#EXTM3U') return null;
  let kept = 0;
  let seconds = 0;
  while (kept < segments.length && seconds < canSkipUntil) seconds += segments[segments.length - 1 - kept++]!.duration || 0;
  const skip = seconds >= canSkipUntil ? segments.length - kept : 0;
  if (skip <= 0) return null;
  const versionAt = header.findIndex((l) => l.trim().startsWith('#EXT-X-VERSION:'));
  const out = [...header];
  if (versionAt < 0) out.splice(1, 0, `#EXT-X-VERSION:${DELTA_UPDATE_VERSION}`);
  else if (!(Number(out[versionAt]!.trim().slice(15)) >= DELTA_UPDATE_VERSION)) out[versionAt] = `#EXT-X-VERSION:${DELTA_UPDATE_VERSION}`;
  out.push(`#EXT-X-SKIP:SKIPPED-SEGMENTS=${skip}`, ...carriedLines(segments.slice(0, skip), segments[skip]!));
  for (const s of segments.slice(skip)) out.push(...s.lines);
  out.push(...tail);
  return { text: out.join('\n') + '\n', skippedSegments: skip };
}

/** One finding of {@link compareDeltaUpdate} (rule `delta-update`, always an error). */
export interface DeltaUpdateMismatch {
  readonly message: string;
  /** The Media Sequence Number concerned, when one is. */
  readonly msn?: number;
}

/** PROGRAM-DATE-TIME of every segment, ms, extrapolated along EXTINF from the last one given (8216bis §4.4.4.6); NaN before the first. */
function programDateTimesMs(pl: MediaPlaylist): number[] {
  let at = NaN;
  return pl.segments.map((s) => {
    if (s.discontinuity && s.programDateTime === undefined) at = NaN;
    if (s.programDateTime !== undefined) at = Date.parse(s.programDateTime);
    const here = at;
    at += s.duration * 1000;
    return here;
  });
}

/**
 * Checks that a Playlist Delta Update says what the full playlist it stands for says
 * (8216bis §6.2.5.1): the same EXT-X-MEDIA-SEQUENCE, EXT-X-DISCONTINUITY-SEQUENCE and target
 * duration; SKIPPED-SEGMENTS plus the listed segments = the full playlist's segments; every
 * listed segment with the same MSN, URI, EXTINF, discontinuity, EXT-X-MAP and EXT-X-KEY (URI and
 * IV, §4.4.4.4, §5.2: the key tag in effect must be restated before the first listed segment),
 * and a PROGRAM-DATE-TIME, where the delta gives one, within 2 ms of the full playlist's
 * (extrapolated); the lines after the last segment URI (open segment's parts, preload hint,
 * rendition reports) identical.
 * @returns the mismatches, empty when the delta is faithful. Never throws.
 */
export function compareDeltaUpdate(deltaText: string, fullText: string): DeltaUpdateMismatch[] {
  let delta: MediaPlaylist;
  let full: MediaPlaylist;
  try {
    delta = parseMediaPlaylist(deltaText);
    full = parseMediaPlaylist(fullText);
  } catch (err) {
    return [{ message: `unreadable playlist: ${err instanceof PlaylistParseError ? err.message : String(err)}` }];
  }
  const out: DeltaUpdateMismatch[] = [];
  const same = (what: string, a: unknown, b: unknown) => {
    if (a !== b) out.push({ message: `${what} ${JSON.stringify(a)} differs from the full playlist's ${JSON.stringify(b)}` });
  };
  same('EXT-X-MEDIA-SEQUENCE', delta.mediaSequence, full.mediaSequence);
  same('EXT-X-DISCONTINUITY-SEQUENCE', delta.discontinuitySequence, full.discontinuitySequence);
  same('EXT-X-TARGETDURATION', delta.targetDuration, full.targetDuration);
  same('SKIPPED-SEGMENTS + listed segments', (delta.skippedSegments ?? 0) + delta.segments.length, full.segments.length);
  const pdts = programDateTimesMs(full);
  for (const d of delta.segments) {
    const i = d.sequence - full.mediaSequence;
    const f = full.segments[i];
    if (!f) {
      out.push({ message: `segment ${d.sequence} is not in the full playlist`, msn: d.sequence });
      continue;
    }
    const fields: Array<[string, unknown, unknown]> = [
      ['URI', d.uri, f.uri], ['EXTINF', d.duration, f.duration], ['EXT-X-MAP', d.map, f.map],
      ['EXT-X-KEY', d.key ? `${d.key.uri} ${d.key.iv}` : 'none', f.key ? `${f.key.uri} ${f.key.iv}` : 'none'],
      ['EXT-X-DISCONTINUITY', d.discontinuity, f.discontinuity],
    ];
    for (const [what, a, b] of fields) if (a !== b) out.push({ message: `segment ${d.sequence}: ${what} ${JSON.stringify(a)}, full playlist ${JSON.stringify(b)}`, msn: d.sequence });
    if (d.programDateTime !== undefined && !(Math.abs(Date.parse(d.programDateTime) - pdts[i]!) <= 2)) {
      out.push({ message: `segment ${d.sequence}: PROGRAM-DATE-TIME ${d.programDateTime}, full playlist ${Number.isFinite(pdts[i]) ? new Date(pdts[i]!).toISOString() : 'none'}`, msn: d.sequence });
    }
  }
  const tailOf = (text: string) => splitPlaylist(text.split('\n')).tail.join('\n');
  if (tailOf(deltaText) !== tailOf(fullText)) out.push({ message: 'the lines after the last segment (parts, preload hint, rendition reports) differ' });
  return out;
}
