/**
 * HLS playlists: parsing ffmpeg's media playlists and rendering ours (RFC 8216 and
 * draft-pantos-hls-rfc8216bis, "8216bis" below).
 */
import { formatIv, hasSequenceIv, ivForSequence, KEY_NONE_LINE, keyTagLine, parseIv, type SegmentKey } from './keys.js';

/**
 * One media segment of a media playlist.
 *
 * - `uri`: segment URI as written in the playlist (relative to the playlist);
 * - `duration`: EXTINF duration in seconds (8216bis §4.4.4.1);
 * - `sequence`: its Media Sequence Number (8216bis §3.1.2);
 * - `programDateTime`: EXT-X-PROGRAM-DATE-TIME of its first sample, ISO 8601 UTC with
 *   milliseconds (`2026-01-02T03:04:05.678Z`), when known (8216bis §4.4.4.6);
 * - `discontinuity`: preceded by EXT-X-DISCONTINUITY (8216bis §4.4.4.3);
 * - `map`: URI of the EXT-X-MAP (init segment) that applies to it (8216bis §4.4.4.5);
 * - `bytes`: size in bytes when known (for measured bandwidth);
 * - `key`: the EXT-X-KEY (METHOD=AES-128, URI, IV) the segment is encrypted with (8216bis
 *   §4.4.4.4); absent for a clear segment.
 */
export interface PlaylistSegment {
  uri: string;
  duration: number;
  sequence: number;
  programDateTime?: string;
  discontinuity: boolean;
  map?: string;
  bytes?: number;
  key?: SegmentKey;
}

/** A parsed media playlist (8216bis §4.4.3 tags). `mediaSequence` and `discontinuitySequence` default to 0. */
export interface MediaPlaylist {
  version?: number;
  targetDuration?: number;
  mediaSequence: number;
  discontinuitySequence: number;
  playlistType?: 'EVENT' | 'VOD';
  independentSegments: boolean;
  endList: boolean;
  /**
   * SKIPPED-SEGMENTS of an EXT-X-SKIP (a Playlist Delta Update, 8216bis §4.4.5.2): that many
   * segments after EXT-X-MEDIA-SEQUENCE are not listed, and `segments` start at MSN
   * `mediaSequence + skippedSegments`. Absent: a full playlist.
   */
  skippedSegments?: number;
  /** PART-TARGET of an EXT-X-PART-INF (8216bis §4.4.3.7), seconds: present in a low-latency playlist. */
  partTarget?: number;
  /** PART-HOLD-BACK of an EXT-X-SERVER-CONTROL (8216bis §4.4.3.8), seconds. */
  partHoldBack?: number;
  segments: PlaylistSegment[];
}

/** The text is not a playlist we can read (missing `#EXTM3U`, URI without EXTINF, bad number). */
export class PlaylistParseError extends Error {
  override readonly name = 'PlaylistParseError';
}

/**
 * Parses an attribute list (8216bis §4.2): `KEY=value,KEY="quoted, value"` into a record of
 * raw values (quotes removed from quoted strings). A value that opens a quoted-string without
 * closing it (`URI="init.mp4`) is malformed and left out.
 */
export function parseAttributeList(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([A-Z0-9-]+)=("[^"\r\n]*"|[^,]*)(?:,|$)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    const raw = m[2]!;
    if (!raw.startsWith('"')) out[m[1]!] = raw;
    else if (raw.length >= 2 && raw.endsWith('"')) out[m[1]!] = raw.slice(1, -1);
    if (m[0] === '') re.lastIndex++;
  }
  return out;
}

/**
 * Normalises a PROGRAM-DATE-TIME value to `toISOString()` form. ffmpeg writes offsets
 * without a colon (`+0000`), which RFC 3339 / `Date.parse` do not accept everywhere.
 * Returns `undefined` for an unparsable date.
 */
export function normalizeProgramDateTime(value: string): string | undefined {
  const fixed = value.trim().replace(/([+-]\d{2})(\d{2})$/, '$1:$2');
  const ms = Date.parse(fixed);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : undefined;
}

function parseNumber(value: string, tag: string): number {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new PlaylistParseError(`${tag}: not a number: ${JSON.stringify(value)}`);
  return n;
}

/**
 * A decimal-integer (8216bis §4.2) that fits a double exactly: EXT-X-MEDIA-SEQUENCE and
 * EXT-X-DISCONTINUITY-SEQUENCE. Segment sequence numbers (and the AES-128 IVs derived from
 * them, §5.2) count from it, so a negative, fractional or inexact value is refused.
 */
function parseInteger(value: string, tag: string): number {
  const n = Number(value.trim());
  if (!/^\s*[0-9]+\s*$/.test(value) || !Number.isSafeInteger(n)) throw new PlaylistParseError(`${tag}: not a decimal-integer: ${JSON.stringify(value)}`);
  return n;
}

/**
 * Parses a media playlist, e.g. the `ffmpeg.m3u8` ffmpeg's hls muxer writes (which puts
 * EXT-X-PROGRAM-DATE-TIME between EXTINF and the URI; any tag order before a URI works).
 * EXT-X-KEY METHOD=AES-128 applies to every following segment until the next EXT-X-KEY
 * (8216bis §4.4.4.4): each such segment gets `key` with the tag's IV, or its Media Sequence
 * Number as IV when the tag has none (§5.2); METHOD=NONE ends it.
 * Unknown tags are ignored (8216bis §4.1: clients ignore unrecognised tags). Segment
 * sequence numbers start at EXT-X-MEDIA-SEQUENCE, plus SKIPPED-SEGMENTS after an EXT-X-SKIP
 * (a Playlist Delta Update, §4.4.5.2; see `skippedSegments`).
 *
 * @throws {PlaylistParseError} when the text does not start with `#EXTM3U`, a URI has no
 *   EXTINF, a numeric tag value is not a number (EXT-X-MEDIA-SEQUENCE,
 *   EXT-X-DISCONTINUITY-SEQUENCE and SKIPPED-SEGMENTS: not a decimal-integer below 2^53; PART-TARGET, PART-HOLD-BACK), or an EXT-X-KEY is neither
 *   NONE nor AES-128 with a URI (or has a malformed IV).
 */
export function parseMediaPlaylist(text: string): MediaPlaylist {
  const lines = text.split(/\r?\n/);
  if (lines[0]?.replace(/^\uFEFF/, '').trim() !== '#EXTM3U') throw new PlaylistParseError('missing #EXTM3U');
  const pl: MediaPlaylist = { mediaSequence: 0, discontinuitySequence: 0, independentSegments: false, endList: false, segments: [] };
  let duration: number | undefined;
  let pdt: string | undefined;
  let discontinuity = false;
  let map: string | undefined;
  let key: { uri: string; iv?: string } | undefined;
  for (const rawLine of lines.slice(1)) {
    const line = rawLine.trim();
    if (line === '') continue;
    if (!line.startsWith('#')) {
      if (duration === undefined) throw new PlaylistParseError(`segment ${JSON.stringify(line)} has no EXTINF`);
      const seg: PlaylistSegment = { uri: line, duration, sequence: pl.mediaSequence + (pl.skippedSegments ?? 0) + pl.segments.length, discontinuity };
      if (pdt !== undefined) seg.programDateTime = pdt;
      if (map !== undefined) seg.map = map;
      if (key) seg.key = { uri: key.uri, iv: key.iv ?? formatIv(ivForSequence(seg.sequence)) };
      pl.segments.push(seg);
      duration = undefined;
      pdt = undefined;
      discontinuity = false;
      continue;
    }
    if (!line.startsWith('#EXT')) continue; // a comment
    const colon = line.indexOf(':');
    const tag = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1);
    switch (tag) {
      case '#EXTINF':
        duration = parseNumber(value.split(',')[0] ?? '', tag);
        break;
      case '#EXT-X-PROGRAM-DATE-TIME':
        pdt = normalizeProgramDateTime(value);
        break;
      case '#EXT-X-DISCONTINUITY':
        discontinuity = true;
        break;
      case '#EXT-X-MAP':
        map = parseAttributeList(value).URI;
        break;
      case '#EXT-X-KEY': {
        const a = parseAttributeList(value);
        if (a.METHOD === 'NONE') key = undefined;
        else if (a.METHOD === 'AES-128' && a.URI) {
          key = { uri: a.URI };
          if (a.IV !== undefined) {
            try {
              key.iv = formatIv(parseIv(a.IV));
            } catch {
              throw new PlaylistParseError(`EXT-X-KEY: bad IV ${JSON.stringify(a.IV)}`);
            }
          }
        } else throw new PlaylistParseError(`EXT-X-KEY: unsupported ${JSON.stringify(value)} (only METHOD=NONE and METHOD=AES-128 with a URI)`);
        break;
      }
      case '#EXT-X-ENDLIST':
        pl.endList = true;
        break;
      case '#EXT-X-SKIP':
        pl.skippedSegments = (pl.skippedSegments ?? 0) + parseInteger(parseAttributeList(value)['SKIPPED-SEGMENTS'] ?? '', `${tag} SKIPPED-SEGMENTS`);
        break;
      case '#EXT-X-VERSION':
        pl.version = parseNumber(value, tag);
        break;
      case '#EXT-X-TARGETDURATION':
        pl.targetDuration = parseNumber(value, tag);
        break;
      case '#EXT-X-MEDIA-SEQUENCE':
        pl.mediaSequence = parseInteger(value, tag);
        break;
      case '#EXT-X-DISCONTINUITY-SEQUENCE':
        pl.discontinuitySequence = parseInteger(value, tag);
        break;
      case '#EXT-X-PLAYLIST-TYPE':
        if (value === 'EVENT' || value === 'VOD') pl.playlistType = value;
        break;
      case '#EXT-X-INDEPENDENT-SEGMENTS':
        pl.independentSegments = true;
        break;
      case '#EXT-X-PART-INF': {
        const partTarget = parseAttributeList(value)['PART-TARGET'];
        if (partTarget !== undefined) pl.partTarget = parseNumber(partTarget, `${tag} PART-TARGET`);
        break;
      }
      case '#EXT-X-SERVER-CONTROL': {
        const partHoldBack = parseAttributeList(value)['PART-HOLD-BACK'];
        if (partHoldBack !== undefined) pl.partHoldBack = parseNumber(partHoldBack, `${tag} PART-HOLD-BACK`);
        break;
      }
      default:
        break;
    }
  }
  return pl;
}

/**
 * EXT-X-TARGETDURATION for a list of segments: the ceiling of the longest EXTINF (as
 * rendered, 6 decimals), which satisfies 8216bis §4.4.3.1 (every duration rounded to the
 * nearest integer <= target). At least 1.
 */
export function targetDurationFor(segments: readonly Pick<PlaylistSegment, 'duration'>[]): number {
  let max = 0;
  for (const s of segments) max = Math.max(max, Number(s.duration.toFixed(6)));
  return Math.max(1, Math.ceil(max));
}

/** Options of {@link renderMediaPlaylist}. */
export interface RenderMediaPlaylistOptions {
  segments: readonly PlaylistSegment[];
  /**
   * `EVENT` for a live playlist that only grows, `VOD` for a finished one (8216bis §4.4.3.5);
   * omitted: no EXT-X-PLAYLIST-TYPE (a sliding-window live playlist, whose segments are removed
   * from the start, may not say EVENT).
   */
  playlistType?: 'EVENT' | 'VOD';
  /** Append EXT-X-ENDLIST: no more segments will be added (8216bis §4.4.3.4). */
  endList: boolean;
  /** EXT-X-MEDIA-SEQUENCE; default the first segment's `sequence` (0 when empty). */
  mediaSequence?: number;
  /** EXT-X-DISCONTINUITY-SEQUENCE, written when > 0 (only needed after removing segments). */
  discontinuitySequence?: number;
  /** EXT-X-TARGETDURATION; default {@link targetDurationFor} the segments. */
  targetDuration?: number;
  /** EXT-X-INDEPENDENT-SEGMENTS (every segment starts with a keyframe). Default true. */
  independentSegments?: boolean;
  /**
   * Where to write EXT-X-PROGRAM-DATE-TIME: `boundaries` (default) on the first segment and
   * after every discontinuity (the minimum 8216bis §4.4.4.6 / §6.2.1 asks for; clients
   * extrapolate with EXTINF), or on `every-segment` that has one.
   */
  programDateTime?: 'boundaries' | 'every-segment';
}

/** Formats an EXTINF duration: seconds with 6 decimals, as ffmpeg writes them. */
export function formatDuration(seconds: number): string {
  return seconds.toFixed(6);
}

/**
 * Renders a media playlist (8216bis §4.4), version 7 (EXT-X-MAP in a non-I-frame playlist
 * needs >= 6, §7). Layout:
 *
 * ```
 * #EXTM3U
 * #EXT-X-VERSION:7
 * #EXT-X-TARGETDURATION:2
 * #EXT-X-MEDIA-SEQUENCE:0
 * #EXT-X-INDEPENDENT-SEGMENTS
 * #EXT-X-PLAYLIST-TYPE:EVENT
 * #EXT-X-MAP:URI="init_1_720p.mp4"
 * #EXT-X-PROGRAM-DATE-TIME:2026-01-02T03:04:05.678Z
 * #EXTINF:2.000000,
 * seg_00000.m4s
 * #EXT-X-DISCONTINUITY
 * #EXT-X-MAP:URI="init_2_720p.mp4"
 * #EXT-X-PROGRAM-DATE-TIME:...
 * ...
 * #EXT-X-ENDLIST
 * ```
 *
 * EXT-X-MAP is written before the first segment, after every discontinuity and whenever the
 * init segment changes (§4.4.4.5). Encrypted segments get their EXT-X-KEY line (see
 * {@link segmentHeadLines}: MAP before KEY, so init segments stay clear). Ends with a newline.
 *
 * @throws {RangeError} for an empty segment list without an explicit `targetDuration`.
 */
export function renderMediaPlaylist(opts: RenderMediaPlaylistOptions): string {
  const segs = opts.segments;
  if (segs.length === 0 && opts.targetDuration === undefined) throw new RangeError('no segments and no targetDuration');
  const lines = [
    '#EXTM3U',
    '#EXT-X-VERSION:7',
    `#EXT-X-TARGETDURATION:${opts.targetDuration ?? targetDurationFor(segs)}`,
    `#EXT-X-MEDIA-SEQUENCE:${opts.mediaSequence ?? segs[0]?.sequence ?? 0}`,
  ];
  if (opts.discontinuitySequence) lines.push(`#EXT-X-DISCONTINUITY-SEQUENCE:${opts.discontinuitySequence}`);
  if (opts.independentSegments ?? true) lines.push('#EXT-X-INDEPENDENT-SEGMENTS');
  if (opts.playlistType) lines.push(`#EXT-X-PLAYLIST-TYPE:${opts.playlistType}`);
  const scope = newTagScope(opts.programDateTime === 'every-segment');
  for (const seg of segs) {
    lines.push(...segmentHeadLines(seg, scope));
    lines.push(`#EXTINF:${formatDuration(seg.duration)},`, seg.uri);
  }
  if (opts.endList) lines.push('#EXT-X-ENDLIST');
  return lines.join('\n') + '\n';
}

/**
 * What {@link segmentHeadLines} remembers between segments of one playlist: the EXT-X-MAP and
 * EXT-X-KEY in effect, whether the next segment is the first, and the PROGRAM-DATE-TIME mode.
 */
export interface TagScope {
  first: boolean;
  map?: string | undefined;
  key?: SegmentKey | undefined;
  /** The key in effect was written without IV (each segment's IV is its Media Sequence Number, 8216bis §5.2). */
  implicitIv?: boolean;
  everyProgramDateTime: boolean;
  /**
   * Write `IV=` on every EXT-X-KEY, hence one key line per segment (the format before issue 17;
   * kept for `bench:playlist`'s "before" row). Default false: IV omitted where it is the MSN.
   */
  explicitIv?: boolean;
}

/** A fresh {@link TagScope} for rendering one playlist from its first segment (`explicitIv`: see {@link TagScope}). */
export function newTagScope(everyProgramDateTime = false, explicitIv = false): TagScope {
  return { first: true, everyProgramDateTime, explicitIv };
}

/**
 * The tag lines that precede a segment (or an open segment's first part), in this order:
 *
 * 1. `#EXT-X-DISCONTINUITY` when `discontinuity` (8216bis §4.4.4.3);
 * 2. when an EXT-X-MAP is due (first segment, discontinuity, or a new init segment, §4.4.4.5) and
 *    an AES-128 key is in effect: `#EXT-X-KEY:METHOD=NONE` first, because an EXT-X-KEY applies to
 *    every EXT-X-MAP after it (§4.4.4.4) and our init segments are clear; then `#EXT-X-MAP`;
 * 3. `#EXT-X-PROGRAM-DATE-TIME` on the first segment, after a discontinuity, or on every one
 *    with `everyProgramDateTime` (§4.4.4.6);
 * 4. an EXT-X-KEY only where the key or the IV rule changes (8216bis §4.4.4.4: a key tag applies
 *    to every segment until the next one): when the segment's IV is its Media Sequence Number
 *    (`hasSequenceIv`, what our packager uses) the tag omits `IV` (§5.2) and is written once per
 *    key URI, not per segment; any other IV gets `IV=` and a tag of its own whenever it differs
 *    from the one in effect. `#EXT-X-KEY:METHOD=NONE` when a clear segment follows an encrypted one.
 *
 * Updates `scope`. Also used by the low-latency renderer, where the parts follow these lines (the
 * parts of a segment use its IV, so an implicit IV covers them too).
 * @throws {SegmentEncryptionError} for a malformed `key` (see `keyTagLine`).
 */
export function segmentHeadLines(seg: Pick<PlaylistSegment, 'sequence' | 'discontinuity' | 'map' | 'programDateTime' | 'key'>, scope: TagScope): string[] {
  const lines: string[] = [];
  if (seg.discontinuity) lines.push('#EXT-X-DISCONTINUITY');
  if (seg.map !== undefined && (scope.first || seg.discontinuity || seg.map !== scope.map)) {
    if (scope.key) {
      lines.push(KEY_NONE_LINE);
      scope.key = undefined;
    }
    lines.push(`#EXT-X-MAP:URI="${seg.map}"`);
  }
  scope.map = seg.map;
  if (seg.programDateTime && (scope.first || seg.discontinuity || scope.everyProgramDateTime)) {
    lines.push(`#EXT-X-PROGRAM-DATE-TIME:${seg.programDateTime}`);
  }
  if (seg.key) {
    const implicit = !scope.explicitIv && hasSequenceIv(seg.key, seg.sequence);
    const same = scope.key !== undefined && scope.key.uri === seg.key.uri
      && (implicit ? scope.implicitIv === true : scope.implicitIv !== true && scope.key.iv === seg.key.iv);
    if (!same) lines.push(keyTagLine(seg.key, implicit));
    scope.key = seg.key;
    scope.implicitIv = implicit;
  } else if (scope.key) {
    lines.push(KEY_NONE_LINE);
    scope.key = undefined;
  }
  scope.first = false;
  return lines;
}

/**
 * One variant of a master (multivariant) playlist. `bandwidth` and `averageBandwidth` in
 * bit/s (8216bis §4.4.6.2), `codecs` RFC 6381 strings, `frameRate` in frames/s, `uri`
 * relative to the master playlist.
 */
export interface VariantStream {
  uri: string;
  bandwidth: number;
  averageBandwidth?: number;
  width: number;
  height: number;
  codecs: readonly string[];
  frameRate?: number;
}

/**
 * What a master playlist says of in-band closed captions (RFC 8216bis §4.4.6.2 CLOSED-CAPTIONS):
 * `none`, every variant `CLOSED-CAPTIONS=NONE` (players need not look in the video); or the
 * CEA-608 channels the video carries (`CC1`…`CC4`), each an `EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS`
 * rendition (§4.4.6.1) of group `cc`, the first the default, and every variant
 * `CLOSED-CAPTIONS="cc"`. Absent: no attribute (players may probe a segment).
 */
export type MasterClosedCaptions = 'none' | { readonly channels: readonly ('CC1' | 'CC2' | 'CC3' | 'CC4')[] };

/** Options of {@link renderMasterPlaylist}. */
export interface RenderMasterPlaylistOptions {
  readonly closedCaptions?: MasterClosedCaptions;
}

/**
 * Renders a master playlist (8216bis §4.4.6): `#EXTM3U`, `#EXT-X-VERSION:7`,
 * `#EXT-X-INDEPENDENT-SEGMENTS`, the closed-caption renditions if any, then per variant
 * `#EXT-X-STREAM-INF:BANDWIDTH=..,AVERAGE-BANDWIDTH=..,RESOLUTION=WxH,CODECS="..",FRAME-RATE=30.000`
 * (and `CLOSED-CAPTIONS` per `opts.closedCaptions`) and its URI. Variants are ordered highest
 * first (by pixel count, then bandwidth), the order players list qualities in. Ends with a newline.
 *
 * @throws {RangeError} when there are no variants, or closed captions name no channel.
 */
export function renderMasterPlaylist(variants: readonly VariantStream[], opts: RenderMasterPlaylistOptions = {}): string {
  if (variants.length === 0) throw new RangeError('a master playlist needs at least one variant');
  const cc = opts.closedCaptions;
  if (cc !== undefined && cc !== 'none' && cc.channels.length === 0) throw new RangeError('closed captions need at least one channel');
  const sorted = [...variants].sort((a, b) => b.width * b.height - a.width * a.height || b.bandwidth - a.bandwidth);
  const lines = ['#EXTM3U', '#EXT-X-VERSION:7', '#EXT-X-INDEPENDENT-SEGMENTS'];
  if (cc !== undefined && cc !== 'none') {
    cc.channels.forEach((ch, i) => {
      lines.push(`#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID="cc",NAME="${ch}",DEFAULT=${i === 0 ? 'YES' : 'NO'},AUTOSELECT=YES,INSTREAM-ID="${ch}"`);
    });
  }
  for (const v of sorted) {
    const attrs = [`BANDWIDTH=${Math.round(v.bandwidth)}`];
    if (v.averageBandwidth !== undefined) attrs.push(`AVERAGE-BANDWIDTH=${Math.round(v.averageBandwidth)}`);
    attrs.push(`RESOLUTION=${v.width}x${v.height}`, `CODECS="${v.codecs.join(',')}"`);
    if (v.frameRate !== undefined) attrs.push(`FRAME-RATE=${v.frameRate.toFixed(3)}`);
    if (cc !== undefined) attrs.push(cc === 'none' ? 'CLOSED-CAPTIONS=NONE' : 'CLOSED-CAPTIONS="cc"');
    lines.push(`#EXT-X-STREAM-INF:${attrs.join(',')}`, v.uri);
  }
  return lines.join('\n') + '\n';
}

/**
 * Parses the variants of a master (multivariant) playlist as {@link renderMasterPlaylist}
 * writes them (8216bis §4.4.6.2 EXT-X-STREAM-INF, each followed by its URI line): BANDWIDTH
 * (required), AVERAGE-BANDWIDTH, RESOLUTION, CODECS (split on commas), FRAME-RATE. Variants are
 * returned in playlist order; EXT-X-MEDIA and I-frame playlists are ignored.
 *
 * @throws {PlaylistParseError} without `#EXTM3U`, when a variant has no URI line, or a
 *   BANDWIDTH / RESOLUTION / FRAME-RATE is malformed.
 */
export function parseMasterPlaylist(text: string): VariantStream[] {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  if (lines[0]?.replace(/^\uFEFF/, '') !== '#EXTM3U') throw new PlaylistParseError('missing #EXTM3U');
  const variants: VariantStream[] = [];
  for (let i = 1; i < lines.length; i++) {
    if (!lines[i]!.startsWith('#EXT-X-STREAM-INF:')) continue;
    const a = parseAttributeList(lines[i]!.slice('#EXT-X-STREAM-INF:'.length));
    let j = i + 1;
    while (j < lines.length && (lines[j] === '' || lines[j]!.startsWith('#'))) j++;
    const uri = lines[j];
    if (uri === undefined) throw new PlaylistParseError('EXT-X-STREAM-INF without a URI line');
    const bandwidth = Number(a.BANDWIDTH);
    if (!a.BANDWIDTH || !Number.isInteger(bandwidth) || bandwidth <= 0) throw new PlaylistParseError(`EXT-X-STREAM-INF: bad BANDWIDTH ${JSON.stringify(a.BANDWIDTH)}`);
    const res = a.RESOLUTION === undefined ? null : /^(\d+)x(\d+)$/.exec(a.RESOLUTION);
    if (a.RESOLUTION !== undefined && !res) throw new PlaylistParseError(`EXT-X-STREAM-INF: bad RESOLUTION ${JSON.stringify(a.RESOLUTION)}`);
    const v: VariantStream = { uri, bandwidth, width: res ? Number(res[1]) : 0, height: res ? Number(res[2]) : 0, codecs: a.CODECS ? a.CODECS.split(',').map((c) => c.trim()) : [] };
    if (a['AVERAGE-BANDWIDTH'] !== undefined) v.averageBandwidth = Number(a['AVERAGE-BANDWIDTH']);
    if (a['FRAME-RATE'] !== undefined) {
      const fr = Number(a['FRAME-RATE']);
      if (!(fr > 0)) throw new PlaylistParseError(`EXT-X-STREAM-INF: bad FRAME-RATE ${JSON.stringify(a['FRAME-RATE'])}`);
      v.frameRate = fr;
    }
    variants.push(v);
    i = j;
  }
  return variants;
}

/**
 * Measured bit rates of a segment list (8216bis §4.4.6.2 definitions), in bit/s:
 * `peak` is the largest segment bit rate (bytes x 8 / duration), `average` the total bytes x
 * 8 / total duration. Segments shorter than half the longest one (the tail segment at the
 * end of a stream, a few frames long) are left out of the peak: their size is dominated by
 * a keyframe and would report a peak several times the real one. `undefined` when no
 * segment has a size.
 */
export function measureBitrates(segments: readonly PlaylistSegment[]): { peak: number; average: number } | undefined {
  const sized = segments.filter((s) => s.bytes !== undefined && s.duration > 0);
  if (sized.length === 0) return undefined;
  const longest = Math.max(...sized.map((s) => s.duration));
  const forPeak = sized.filter((s) => s.duration >= longest / 2);
  const peak = Math.max(...forPeak.map((s) => (s.bytes! * 8) / s.duration));
  const totalBytes = sized.reduce((n, s) => n + s.bytes!, 0);
  const totalDuration = sized.reduce((n, s) => n + s.duration, 0);
  return { peak: Math.round(peak), average: Math.round((totalBytes * 8) / totalDuration) };
}
