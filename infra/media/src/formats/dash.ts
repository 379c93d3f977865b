/**
 * MPEG-DASH (ISO/IEC 23009-1) delivery of the packager's CMAF segments: a pure MPD renderer
 * over what the LL-HLS packager already writes (master and media playlists, the same
 * `init_<n>.mp4` and `seg_<msn>.m4s` objects; nothing is packaged twice), and the pieces the
 * edge and the conformance checker share.
 *
 * Shape (DASH-IF IOP 4.3 live and on-demand profiles, `urn:mpeg:dash:profile:isoff-live:2011`):
 * one Period per packager attempt (`init_<n>.mp4`; a resumed transcode restarts media time),
 * one AdaptationSet per content kind, one Representation per rendition with its own
 * SegmentTemplate: `initialization="<rendition>/init_<n>.mp4"`,
 * `media="<rendition>/seg_$Number%05d$.m4s"` ({@link llSegmentUri}'s names), `startNumber` the
 * first listed MSN and an explicit SegmentTimeline (segment durations vary by a frame or two).
 * A rendition's segments carry video and audio in one track set (the packager muxes them), so a
 * Representation is multiplexed: `codecs="avc1…,mp4a…"`, the CODECS of the HLS variant.
 *
 * Live (`type="dynamic"`): only the current attempt is listed (a resumed transcode starts a new
 * availability anchor). `availabilityStartTime` is the wall-clock time of media time 0 of that
 * attempt: the PROGRAM-DATE-TIME of the first listed segment minus its media time (tfdt), so
 * every segment's MPD time equals its PROGRAM-DATE-TIME; `timeShiftBufferDepth` is the DVR
 * window the playlist lists, `suggestedPresentationDelay` its HOLD-BACK, `minimumUpdatePeriod`
 * its target duration; `<UTCTiming>` carries the server's clock (direct scheme). Without
 * `live.lowLatency`, segments are listed once complete (the playlist lists them), with no
 * `availabilityTimeOffset`.
 *
 * Low-latency live (`live.lowLatency`, ISO/IEC 23009-1 §5.3.9.5.3, DASH-IF IOP "Low-latency
 * Modes for DASH"): the segment being written is listed last in the SegmentTimeline (its
 * `openDuration`, the expected length) and every SegmentTemplate carries
 * `availabilityTimeOffset` = segment duration − part duration and
 * `availabilityTimeComplete="false"`: a segment becomes available once its first part is written,
 * and a request then receives it as a growing chunked response (the edge's open-segment
 * answer). The MPD also carries a `<ServiceDescription>` (`<Latency target>` in ms,
 * `<PlaybackRate min max>` for catch-up) and a `<UTCTiming>` with the edge's time endpoint
 * (`urn:mpeg:dash:utc:http-iso:2014`) before the direct one.
 */
import type { MediaPlaylist, VariantStream } from './playlist.js';

/** XML namespace of the MPD schema (ISO/IEC 23009-1 §5.3.1). */
export const MPD_NAMESPACE = 'urn:mpeg:dash:schema:mpd:2011';
/** The DASH profile the MPDs follow: ISO live profile (SegmentTemplate, CMAF-style segments). */
export const DASH_LIVE_PROFILE = 'urn:mpeg:dash:profile:isoff-live:2011';
/** Content-Type of an MPD (ISO/IEC 23009-1 Annex C). */
export const MPD_CONTENT_TYPE = 'application/dash+xml';

/** Bad input to the MPD renderer: no representation, mismatched attempts, missing timing. */
export class DashMpdError extends Error {
  override readonly name = 'DashMpdError';
}

/**
 * One packager attempt of a rendition (a run of segments sharing one init segment, without a
 * discontinuity): `init` (its init segment's object name), `firstNumber` (MSN of its first
 * listed segment), `start` (media time of that segment, the `tfdt` of its first fragment, in
 * `timescale` ticks), `durations` (EXTINF of each listed segment, seconds, in MSN order) and,
 * live, `programDateTime` (ISO 8601 wall-clock time of the first listed segment).
 */
export interface DashRun {
  readonly init: string;
  readonly firstNumber: number;
  readonly start: number;
  readonly durations: readonly number[];
  readonly programDateTime?: string;
  /**
   * Live, low-latency: the segment after the listed ones (MSN `firstNumber + durations.length`)
   * is being written (at least one of its parts exists); listed last in the timeline with this
   * expected duration (seconds), so a player can request it before it is complete.
   */
  readonly openDuration?: number;
}

/**
 * One Representation: the HLS variant it is made from (`id` is the rendition name, which is
 * also its directory), `timescale` (ticks per second of its SegmentTimeline: the init segment's
 * video track timescale) and its runs, oldest first.
 */
export interface DashRepresentationInput {
  readonly id: string;
  readonly bandwidth: number;
  readonly codecs: readonly string[];
  readonly width: number;
  readonly height: number;
  readonly frameRate?: number;
  readonly timescale: number;
  readonly runs: readonly DashRun[];
}

/** Live timing of a dynamic MPD, all in seconds except `now`. */
export interface DashLiveTiming {
  /** The server's clock: `publishTime` and the `<UTCTiming>` value. */
  readonly now: Date;
  /** How often players reload the MPD: the playlist's target duration. */
  readonly minimumUpdatePeriod: number;
  /** How far behind the live edge players play: the playlist's HOLD-BACK. */
  readonly suggestedPresentationDelay: number;
  /** Low-latency DASH (see the module comment); absent: complete segments only. */
  readonly lowLatency?: DashLowLatency;
}

/**
 * Low-latency DASH settings of a dynamic MPD (seconds unless stated). `partDuration` and
 * `segmentDuration` are the packager's PART-TARGET and target duration:
 * `availabilityTimeOffset` = `segmentDuration - partDuration`.
 */
export interface DashLowLatency {
  readonly segmentDuration: number;
  readonly partDuration: number;
  /** `<ServiceDescription><Latency target>`: wall clock minus presentation time aimed at, ms. */
  readonly targetLatencyMs: number;
  /** `<PlaybackRate min max>`: the rates a player may use to hold the target (e.g. 0.96, 1.04). */
  readonly minPlaybackRate: number;
  readonly maxPlaybackRate: number;
  /** URL of an `urn:mpeg:dash:utc:http-iso:2014` time endpoint (absolute or relative to the MPD). */
  readonly timeUrl?: string;
}

/** The UTCTiming scheme of an HTTP endpoint answering the time as ISO 8601 text (ISO/IEC 23009-1 §5.8.5.7). */
export const UTC_HTTP_ISO_SCHEME = 'urn:mpeg:dash:utc:http-iso:2014';
/** The UTCTiming scheme carrying the time in the MPD itself. */
export const UTC_DIRECT_SCHEME = 'urn:mpeg:dash:utc:direct:2014';

/** Options of {@link renderDashMpd}. */
export interface RenderDashMpdOptions {
  /** `static` (a finished session's VOD) or `dynamic` (live; needs `live` and one run per representation). */
  readonly type: 'static' | 'dynamic';
  readonly representations: readonly DashRepresentationInput[];
  readonly live?: DashLiveTiming;
  /** Query appended to every segment and init URL (e.g. `token=…`, without `?`). */
  readonly query?: string;
}

/** `PT<seconds>S` (xs:duration) with at most 3 decimals. */
export function formatDashDuration(seconds: number): string {
  return `PT${Number(seconds.toFixed(3))}S`;
}

/** A DASH FrameRateType (ISO/IEC 23009-1 §5.3.12.2): `30`, or `30000/1001` for NTSC rates, else `<fps*1000>/1000`. */
export function formatDashFrameRate(fps: number): string {
  if (Math.abs(fps - Math.round(fps)) < 1e-3) return String(Math.round(fps));
  const ntsc = Math.round(fps * 1.001);
  if (Math.abs(fps - (ntsc * 1000) / 1001) < 1e-3) return `${ntsc * 1000}/1001`;
  return `${Math.round(fps * 1000)}/1000`;
}

const VIDEO_CODEC = /^(avc[13]|hvc1|hev1|av01|vp09|vp8)(\.|$)/;

/** Is `codec` (an RFC 6381 string) a video codec? */
function isVideoCodec(codec: string): boolean {
  return VIDEO_CODEC.test(codec);
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * The `<S>` elements of a run's SegmentTimeline (its open segment last, when it has one): `t` of the first, then `d` per segment (ticks,
 * from the cumulative durations so rounding never accumulates) with `r` for repeats.
 */
function timelineOf(run: DashRun, timescale: number): { lines: string[]; end: number } {
  const lines: string[] = [];
  let acc = 0;
  let prev = run.start;
  let open: { d: number; r: number; t?: number } | null = null;
  const flush = (): void => {
    if (!open) return;
    lines.push(`<S${open.t !== undefined ? ` t="${open.t}"` : ''} d="${open.d}"${open.r > 0 ? ` r="${open.r}"` : ''}/>`);
  };
  const durations = run.openDuration !== undefined ? [...run.durations, run.openDuration] : run.durations;
  for (const duration of durations) {
    acc += duration;
    const next = run.start + Math.round(acc * timescale);
    const d = next - prev;
    if (d <= 0) throw new DashMpdError(`segment durations must be positive (run ${run.init}, ${duration} s)`);
    if (open && open.d === d) open.r++;
    else {
      flush();
      open = { d, r: 0, ...(lines.length === 0 ? { t: run.start } : {}) };
    }
    prev = next;
  }
  flush();
  return { lines, end: prev };
}

/** Checks the input shape; throws {@link DashMpdError}. */
function checkInput(opts: RenderDashMpdOptions): number {
  const reps = opts.representations;
  if (reps.length === 0) throw new DashMpdError('an MPD needs at least one representation');
  const periods = reps[0]!.runs.length;
  if (periods === 0) throw new DashMpdError(`representation ${reps[0]!.id} has no segment`);
  const ids = new Set<string>();
  for (const r of reps) {
    if (!/^[A-Za-z0-9_.-]+$/.test(r.id) || ids.has(r.id)) throw new DashMpdError(`bad or repeated representation id ${JSON.stringify(r.id)}`);
    ids.add(r.id);
    if (r.runs.length !== periods) throw new DashMpdError(`representation ${r.id} has ${r.runs.length} attempts, ${reps[0]!.id} has ${periods}`);
    if (!Number.isInteger(r.timescale) || r.timescale <= 0) throw new DashMpdError(`representation ${r.id}: timescale must be a positive integer`);
    if (!(r.bandwidth > 0)) throw new DashMpdError(`representation ${r.id}: bandwidth must be positive`);
    if (r.codecs.length === 0) throw new DashMpdError(`representation ${r.id}: no codecs`);
    for (const run of r.runs) {
      if (run.durations.length === 0) throw new DashMpdError(`representation ${r.id}: attempt ${run.init} has no segment`);
      if (!Number.isInteger(run.start) || run.start < 0 || !Number.isInteger(run.firstNumber) || run.firstNumber < 0) {
        throw new DashMpdError(`representation ${r.id}: attempt ${run.init} has a bad start or first number`);
      }
      if (!/^[A-Za-z0-9_.-]+$/.test(run.init)) throw new DashMpdError(`bad init segment name ${JSON.stringify(run.init)}`);
    }
  }
  for (const r of reps) {
    for (const run of r.runs) {
      if (run.openDuration !== undefined && (opts.type !== 'dynamic' || !opts.live?.lowLatency || !(run.openDuration > 0))) {
        throw new DashMpdError(`representation ${r.id}: an open segment is listed only in a low-latency dynamic MPD, with a positive duration`);
      }
    }
  }
  const ll = opts.live?.lowLatency;
  if (ll && !(ll.partDuration > 0 && ll.segmentDuration > ll.partDuration && Number.isInteger(ll.targetLatencyMs) && ll.targetLatencyMs > 0
    && ll.minPlaybackRate > 0 && ll.minPlaybackRate <= 1 && ll.maxPlaybackRate >= 1)) {
    throw new DashMpdError('low-latency timing needs 0 < partDuration < segmentDuration, a positive integer targetLatencyMs and 0 < minPlaybackRate <= 1 <= maxPlaybackRate');
  }
  if (opts.type === 'dynamic') {
    if (!opts.live) throw new DashMpdError('a dynamic MPD needs live timing');
    if (periods !== 1) throw new DashMpdError('a dynamic MPD lists the current attempt only');
    const pdt = reps[0]!.runs[0]!.programDateTime;
    if (pdt === undefined || Number.isNaN(Date.parse(pdt))) throw new DashMpdError('a dynamic MPD needs the PROGRAM-DATE-TIME of the first segment');
  }
  return periods;
}

/** The Representation lines of one Period. */
function representationLines(r: DashRepresentationInput, run: DashRun, pto: number, query: string, ll: DashLowLatency | undefined): string[] {
  const attrs = [`id="${r.id}"`, `bandwidth="${Math.round(r.bandwidth)}"`, `codecs="${escapeXml(r.codecs.join(','))}"`];
  if (r.width > 0 && r.height > 0) attrs.push(`width="${r.width}"`, `height="${r.height}"`, 'sar="1:1"');
  if (r.frameRate !== undefined) attrs.push(`frameRate="${formatDashFrameRate(r.frameRate)}"`);
  const q = query ? `?${escapeXml(query)}` : '';
  const { lines } = timelineOf(run, r.timescale);
  const lowLatency = ll ? ` availabilityTimeOffset="${Number((ll.segmentDuration - ll.partDuration).toFixed(3))}" availabilityTimeComplete="false"` : '';
  return [
    `<Representation ${attrs.join(' ')}>`,
    `<SegmentTemplate timescale="${r.timescale}" presentationTimeOffset="${pto}" startNumber="${run.firstNumber}" initialization="${r.id}/${run.init}${q}" media="${r.id}/seg_$Number%05d$.m4s${q}"${lowLatency}>`,
    '<SegmentTimeline>', ...lines, '</SegmentTimeline>',
    '</SegmentTemplate>',
    '</Representation>',
  ];
}

/** The `<ServiceDescription>` of a low-latency MPD (ISO/IEC 23009-1 Annex K; before the Periods). */
function serviceDescriptionLines(ll: DashLowLatency): string[] {
  return [
    '<ServiceDescription id="0">',
    `<Latency target="${ll.targetLatencyMs}"/>`,
    `<PlaybackRate min="${ll.minPlaybackRate}" max="${ll.maxPlaybackRate}"/>`,
    '</ServiceDescription>',
  ];
}

/** Seconds a run lasts (its segments' durations, as the timeline rounds them). */
function runSeconds(r: DashRepresentationInput, run: DashRun): number {
  return (timelineOf(run, r.timescale).end - run.start) / r.timescale;
}

/**
 * Renders an MPD over the packager's segments (see the module comment for its shape).
 * Static: Periods one after another from 0 (each Period's `presentationTimeOffset` is its
 * first segment's media time), `mediaPresentationDuration` their sum (the first
 * representation's). Dynamic: one Period at 0, `presentationTimeOffset` 0, so a segment's
 * MPD time is its media time and `availabilityStartTime` = PROGRAM-DATE-TIME of the first
 * listed segment minus its media time; `timeShiftBufferDepth` is the listed duration.
 *
 * @returns the MPD document (UTF-8 XML, ends with a newline).
 * @throws {DashMpdError} when there is no representation or segment, representations disagree
 *   on their number of attempts, a timescale, bandwidth or duration is not positive, codecs are
 *   missing, an id or init name has characters outside `[A-Za-z0-9_.-]`, or a dynamic MPD lacks
 *   `live`, a PROGRAM-DATE-TIME, or lists more than one attempt; when a run has an
 *   `openDuration` outside a low-latency dynamic MPD, or `live.lowLatency` is out of range.
 */
export function renderDashMpd(opts: RenderDashMpdOptions): string {
  const periods = checkInput(opts);
  const reps = opts.representations;
  const query = opts.query ?? '';
  const maxSegment = Math.max(...reps.flatMap((r) => r.runs.flatMap((run) => [...run.durations, ...(run.openDuration !== undefined ? [run.openDuration] : [])])));
  const ll = opts.type === 'dynamic' ? opts.live?.lowLatency : undefined;
  const mpd = [`xmlns="${MPD_NAMESPACE}"`, `profiles="${DASH_LIVE_PROFILE}"`, `type="${opts.type}"`, `minBufferTime="${formatDashDuration(Math.max(1, Math.ceil(maxSegment)))}"`];
  mpd.push(`maxSegmentDuration="${formatDashDuration(maxSegment)}"`);
  const body: string[] = [];
  let start = 0;
  for (let k = 0; k < periods; k++) {
    const first = reps[0]!;
    const run0 = first.runs[k]!;
    const pto = (r: DashRepresentationInput): number => (opts.type === 'dynamic' ? 0 : r.runs[k]!.start);
    body.push(`<Period id="${escapeXml(run0.init.replace(/\.[^.]*$/, ''))}" start="${formatDashDuration(start)}">`);
    const sets: Array<[string, DashRepresentationInput[]]> = [
      ['video', reps.filter((r) => r.codecs.some(isVideoCodec))],
      ['audio', reps.filter((r) => !r.codecs.some(isVideoCodec))],
    ];
    let setId = 0;
    for (const [kind, members] of sets) {
      if (members.length === 0) continue;
      const widest = Math.max(...members.map((m) => m.width));
      const tallest = Math.max(...members.map((m) => m.height));
      const size = kind === 'video' && widest > 0 ? ` maxWidth="${widest}" maxHeight="${tallest}"` : '';
      body.push(`<AdaptationSet id="${setId++}" contentType="${kind}" mimeType="${kind}/mp4" segmentAlignment="true" startWithSAP="1"${size}>`);
      for (const r of members) body.push(...representationLines(r, r.runs[k]!, pto(r), query, ll));
      body.push('</AdaptationSet>');
    }
    body.push('</Period>');
    start += runSeconds(first, run0);
  }
  if (opts.type === 'static') {
    mpd.push(`mediaPresentationDuration="${formatDashDuration(start)}"`);
  } else {
    const live = opts.live!;
    const first = reps[0]!;
    const run = first.runs[0]!;
    const ast = Date.parse(run.programDateTime!) - Math.round((run.start / first.timescale) * 1000);
    mpd.push(
      `availabilityStartTime="${new Date(ast).toISOString()}"`, `publishTime="${live.now.toISOString()}"`,
      `minimumUpdatePeriod="${formatDashDuration(live.minimumUpdatePeriod)}"`, `timeShiftBufferDepth="${formatDashDuration(runSeconds(first, run))}"`,
      `suggestedPresentationDelay="${formatDashDuration(live.suggestedPresentationDelay)}"`,
    );
    if (ll) body.unshift(...serviceDescriptionLines(ll));
    if (ll?.timeUrl) body.push(`<UTCTiming schemeIdUri="${UTC_HTTP_ISO_SCHEME}" value="${escapeXml(ll.timeUrl)}"/>`);
    body.push(`<UTCTiming schemeIdUri="${UTC_DIRECT_SCHEME}" value="${live.now.toISOString()}"/>`);
  }
  return ['<?xml version="1.0" encoding="UTF-8"?>', `<MPD ${mpd.join(' ')}>`, ...body, '</MPD>', ''].join('\n');
}

/** A run of {@link dashRunsOf} before its media time is known: a {@link DashRun} without `start`. */
export type DashRunOutline = Omit<DashRun, 'start'>;

/**
 * Cuts a media playlist into the runs an MPD lists (one per packager attempt: a new run at
 * every EXT-X-DISCONTINUITY or change of EXT-X-MAP): all of them for a VOD (`live` false), the
 * last one only for a live MPD. A live run's `programDateTime` is its first segment's
 * PROGRAM-DATE-TIME, extrapolated by the EXTINF durations from the nearest earlier tagged
 * segment of the run when that segment has none. The caller reads each run's first segment's
 * media time (tfdt) to make it a {@link DashRun}.
 *
 * @throws {DashMpdError} when the playlist lists no segment, a segment has no EXT-X-MAP, or a
 *   live run has no PROGRAM-DATE-TIME at all.
 */
export function dashRunsOf(playlist: MediaPlaylist, live: boolean): DashRunOutline[] {
  const runs: Array<{ init: string; firstNumber: number; durations: number[]; programDateTime?: string }> = [];
  let pdtMs: number | undefined;
  for (const seg of playlist.segments) {
    if (seg.map === undefined) throw new DashMpdError(`segment ${seg.sequence} has no EXT-X-MAP (init segment)`);
    const cur = runs.at(-1);
    if (!cur || seg.discontinuity || seg.map !== cur.init) {
      runs.push({ init: seg.map, firstNumber: seg.sequence, durations: [seg.duration] });
      pdtMs = undefined;
    } else cur.durations.push(seg.duration);
    const run = runs.at(-1)!;
    if (seg.programDateTime !== undefined) pdtMs = Date.parse(seg.programDateTime);
    if (pdtMs !== undefined && run.programDateTime === undefined) {
      const before = run.durations.slice(0, -1).reduce((a, b) => a + b, 0);
      run.programDateTime = new Date(Math.round(pdtMs - before * 1000)).toISOString();
    }
    if (pdtMs !== undefined) pdtMs += seg.duration * 1000;
  }
  if (runs.length === 0) throw new DashMpdError('the playlist lists no segment');
  const chosen = live ? runs.slice(-1) : runs;
  if (live && chosen[0]!.programDateTime === undefined) throw new DashMpdError('a live playlist without EXT-X-PROGRAM-DATE-TIME cannot anchor a dynamic MPD');
  return chosen;
}

/**
 * The Representation of a rendition: the variant's bandwidth, codecs, size and frame rate, its
 * directory name `id` (the variant URI's first path segment, `720p/index.m3u8` → `720p`), the
 * given `timescale` and runs.
 * @throws {DashMpdError} when the variant URI is not `<name>/<playlist>`.
 */
export function dashRepresentationOf(variant: VariantStream, timescale: number, runs: readonly DashRun[]): DashRepresentationInput {
  const m = /^([A-Za-z0-9_.-]+)\/[^/]+$/.exec(variant.uri);
  if (!m) throw new DashMpdError(`variant URI ${JSON.stringify(variant.uri)} is not <rendition>/<playlist>`);
  return {
    id: m[1]!, bandwidth: variant.bandwidth, codecs: variant.codecs, width: variant.width, height: variant.height,
    ...(variant.frameRate !== undefined ? { frameRate: variant.frameRate } : {}), timescale, runs,
  };
}
