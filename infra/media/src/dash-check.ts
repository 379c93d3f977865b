/**
 * A conformance checker for the MPDs the edge serves (`renderDashMpd`), written from the rules
 * of ISO/IEC 23009-1 (4th ed.) and DASH-IF IOP 4.3 that players enforce: Shaka Player and
 * dash.js refuse or mis-play an MPD without these (a missing `minBufferTime`, a dynamic MPD
 * without `availabilityStartTime`, a Representation without codecs or bandwidth, a
 * SegmentTemplate without `media`, a SegmentTimeline that goes backwards, a segment advertised
 * before it is available). Pure, but outside `formats/` (which imports no package): it parses
 * XML with fast-xml-parser. The same shape of findings as `checkLowLatencyPlaylist`.
 *
 * Its own entry point, `@live/media/dash-check` (tests and tools): it needs an XML parser that no
 * deployable should bundle.
 */
import { XMLParser } from 'fast-xml-parser';
import { MPD_NAMESPACE, UTC_DIRECT_SCHEME } from './formats/dash.js';

/** One finding of {@link checkDashMpd}: `rule` (stable id), `severity` (`error`: a SHALL players enforce, `warning`: a SHOULD), `message`. */
export interface DashViolation {
  rule: string;
  severity: 'error' | 'warning';
  message: string;
}

/** Options of {@link checkDashMpd}. */
export interface CheckDashOptions {
  /** The clock a dynamic MPD's availability is checked against (default: its `publishTime`). */
  now?: Date;
}

type Node = Record<string, unknown>;

const ARRAYS = new Set(['Period', 'AdaptationSet', 'Representation', 'S', 'UTCTiming']);

/** Parses MPD XML into plain objects (attributes prefixed `@`); null when it is not XML with an `<MPD>` root. */
function parseMpd(xml: string): Node | null {
  try {
    const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', parseAttributeValue: false, isArray: (name) => ARRAYS.has(name) }).parse(xml, true) as Node;
    return (doc.MPD as Node | undefined) ?? null;
  } catch {
    return null;
  }
}

/**
 * Seconds of an xs:duration as MPDs use it (`PT1H2M3.5S`, `P1DT2S`; years and months are
 * refused: their length is not fixed). NaN when malformed.
 */
export function parseDashDuration(value: string | undefined): number {
  const m = value === undefined ? null : /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(value);
  if (!m || value === 'P' || value!.endsWith('T')) return NaN;
  return Number(m[1] ?? 0) * 86400 + Number(m[2] ?? 0) * 3600 + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0);
}

const list = (v: unknown): Node[] => (Array.isArray(v) ? (v as Node[]) : []);
const attr = (n: Node | undefined, name: string): string | undefined => (n?.[`@${name}`] as string | undefined);
const RFC6381 = /^[A-Za-z0-9]{4}(\.[A-Za-z0-9]+)*$/;
const TEMPLATE_ID = /\$(RepresentationID|Number|Time|Bandwidth)(%0\d+d)?\$|\$\$/g;

/** One Representation's segment template, as it applies (its own, else its AdaptationSet's). */
interface Template {
  timescale: number;
  pto: number;
  startNumber: number;
  media: string | undefined;
  initialization: string | undefined;
  segments: Array<{ t: number; d: number }>;
  /** `availabilityTimeOffset` (s; 0 when absent, NaN when malformed) and `availabilityTimeComplete` as written. */
  ato: number;
  atc: string | undefined;
}

/** Reads a SegmentTemplate and expands its SegmentTimeline; pushes timeline findings. */
function readTemplate(st: Node, where: string, out: DashViolation[]): Template {
  const timescale = Number(attr(st, 'timescale') ?? 1);
  const pto = Number(attr(st, 'presentationTimeOffset') ?? 0);
  const startNumber = Number(attr(st, 'startNumber') ?? 1);
  const bad = (rule: string, message: string): void => {
    out.push({ rule, severity: 'error', message: `${where}: ${message}` });
  };
  if (!Number.isInteger(timescale) || timescale <= 0) bad('segment-template', `timescale ${attr(st, 'timescale')} is not a positive integer`);
  if (!Number.isInteger(pto) || pto < 0) bad('segment-template', `presentationTimeOffset ${attr(st, 'presentationTimeOffset')} is not a non-negative integer`);
  if (!Number.isInteger(startNumber) || startNumber < 0) bad('segment-template', `startNumber ${attr(st, 'startNumber')} is not a non-negative integer`);
  const segments: Array<{ t: number; d: number }> = [];
  const timeline = st.SegmentTimeline as Node | undefined;
  const ss = list(timeline?.S);
  if (timeline !== undefined && ss.length === 0) bad('segment-timeline', 'SegmentTimeline without S');
  let next = pto;
  ss.forEach((s, i) => {
    const d = Number(attr(s, 'd'));
    const r = Number(attr(s, 'r') ?? 0);
    const tAttr = attr(s, 't');
    const t = tAttr !== undefined ? Number(tAttr) : next;
    if (!Number.isInteger(d) || d <= 0) return bad('segment-timeline', `S[${i}]@d ${attr(s, 'd')} is not a positive integer`);
    if (!Number.isInteger(r) || r < 0) return bad('segment-timeline', `S[${i}]@r ${attr(s, 'r')} is not a non-negative integer (no open-ended -1 in these MPDs)`);
    if (!Number.isInteger(t) || t < 0) return bad('segment-timeline', `S[${i}]@t ${tAttr} is not a non-negative integer`);
    if (i > 0 && t < next) bad('segment-timeline', `S[${i}]@t ${t} overlaps the previous segment (ends at ${next})`);
    else if (i > 0 && t > next) out.push({ rule: 'segment-timeline', severity: 'warning', message: `${where}: gap before S[${i}] (${next} to ${t})` });
    for (let k = 0; k <= r; k++) segments.push({ t: t + k * d, d });
    next = t + (r + 1) * d;
  });
  if (segments.length > 0 && segments[0]!.t < pto) {
    out.push({ rule: 'segment-timeline', severity: 'warning', message: `${where}: the first segment starts before presentationTimeOffset` });
  }
  const atoAttr = attr(st, 'availabilityTimeOffset');
  const ato = atoAttr === undefined ? 0 : /^\d+(\.\d+)?$/.test(atoAttr) ? Number(atoAttr) : Number.NaN;
  return { timescale, pto, startNumber, media: attr(st, 'media'), initialization: attr(st, 'initialization'), segments, ato, atc: attr(st, 'availabilityTimeComplete') };
}

/** Checks `media` / `initialization` templates (ISO/IEC 23009-1 §5.3.9.4.4). */
function checkTemplateUrls(t: Template, where: string, out: DashViolation[]): void {
  const bad = (message: string): void => {
    out.push({ rule: 'segment-template', severity: 'error', message: `${where}: ${message}` });
  };
  if (!t.media) return bad('SegmentTemplate without media');
  if (!t.initialization) bad('SegmentTemplate without initialization (a CMAF track needs its header)');
  const stray = (s: string) => s.replace(TEMPLATE_ID, '').includes('$');
  if (stray(t.media) || (t.initialization && stray(t.initialization))) bad('unknown or unbalanced $identifier$');
  if (!/\$(Number|Time)(%0\d+d)?\$/.test(t.media)) bad('media has neither $Number$ nor $Time$');
  if (t.initialization && /\$(Number|Time)/.test(t.initialization)) bad('initialization uses $Number$ or $Time$');
  if (t.segments.length === 0) out.push({ rule: 'segment-timeline', severity: 'error', message: `${where}: no SegmentTimeline (these MPDs list every segment)` });
}

/** MPD-level attributes; returns the timing the Period checks need. */
function checkMpdAttributes(mpd: Node, out: DashViolation[]): { dynamic: boolean; ast: number; publish: number; tsbd: number; maxSeg: number; duration: number } {
  const err = (rule: string, message: string) => out.push({ rule, severity: 'error', message });
  if (attr(mpd, 'xmlns') !== MPD_NAMESPACE) err('namespace', `MPD namespace is ${attr(mpd, 'xmlns')}, not ${MPD_NAMESPACE}`);
  if (!attr(mpd, 'profiles')) err('profiles', 'MPD@profiles is required (§5.3.1.2)');
  if (Number.isNaN(parseDashDuration(attr(mpd, 'minBufferTime')))) err('min-buffer-time', 'MPD@minBufferTime is required (§5.3.1.2)');
  const type = attr(mpd, 'type') ?? 'static';
  if (type !== 'static' && type !== 'dynamic') err('type', `MPD@type ${type} is neither static nor dynamic`);
  const dynamic = type === 'dynamic';
  const ast = Date.parse(attr(mpd, 'availabilityStartTime') ?? '');
  const publish = Date.parse(attr(mpd, 'publishTime') ?? '');
  const tsbd = parseDashDuration(attr(mpd, 'timeShiftBufferDepth'));
  const maxSeg = parseDashDuration(attr(mpd, 'maxSegmentDuration'));
  const duration = parseDashDuration(attr(mpd, 'mediaPresentationDuration'));
  if (dynamic) {
    if (Number.isNaN(ast)) err('dynamic', 'a dynamic MPD needs availabilityStartTime (§5.3.1.2)');
    if (Number.isNaN(publish)) err('dynamic', 'a dynamic MPD needs publishTime (§5.3.1.2)');
    if (ast > publish) err('availability-start', 'availabilityStartTime is after publishTime: nothing is available yet');
    if (list(mpd.UTCTiming).length === 0) err('utc-timing', 'a dynamic MPD needs UTCTiming (DASH-IF IOP 4.7.2)');
    if (Number.isNaN(tsbd)) out.push({ rule: 'dynamic', severity: 'warning', message: 'no timeShiftBufferDepth: players assume an unbounded window' });
    if (attr(mpd, 'minimumUpdatePeriod') !== undefined && Number.isNaN(parseDashDuration(attr(mpd, 'minimumUpdatePeriod')))) err('dynamic', 'malformed minimumUpdatePeriod');
  } else if (Number.isNaN(duration)) {
    err('static-duration', 'a static MPD needs mediaPresentationDuration (§5.3.1.2)');
  }
  return { dynamic, ast, publish, tsbd, maxSeg, duration };
}

/**
 * Checks an MPD. Rules (`rule` ids; ISO/IEC 23009-1 sections, DASH-IF IOP 4.3 where noted):
 * - `xml`: well-formed with an `<MPD>` root; `namespace`: `urn:mpeg:dash:schema:mpd:2011`;
 *   `profiles`, `min-buffer-time`, `type`: the required MPD attributes (§5.3.1.2);
 * - `dynamic`: availabilityStartTime and publishTime on a dynamic MPD; `utc-timing`: a UTCTiming
 *   element (IOP 4.7.2); `static-duration`: mediaPresentationDuration on a static one;
 * - `period`: at least one Period; `period-id`: every Period of a dynamic MPD has a unique id
 *   (IOP 4.3.2.2.1, players match Periods across updates by it); `period-start`: starts present
 *   and increasing;
 * - `adaptation-set`: at least one per Period, mimeType on it or its Representations;
 *   `representation`: unique id, positive integer bandwidth, codecs present and RFC 6381 shaped
 *   (IOP 3.2.4: players choose by codecs), width and height on video;
 * - `segment-template`: one per Representation, positive timescale, media with $Number$ or
 *   $Time$ and only known identifiers, an initialization without them (§5.3.9.4.4);
 *   `segment-timeline`: positive d, r >= 0, no overlap (gaps are warnings) (§5.3.9.6);
 * - `max-segment-duration`: no segment longer than MPD@maxSegmentDuration (§5.3.1.2);
 * - `period-duration` (static): each Representation covers its Period within one segment;
 * - `availability-start` (dynamic): availabilityStartTime not after publishTime; `availability`
 *   (warning): the newest segment's availability time (AST + Period start + its end) is not
 *   after `now` (players wait for it and play further behind); `time-shift` (warning): the
 *   newest segment ends within timeShiftBufferDepth of `now`; with availabilityTimeOffset,
 *   availability is that much earlier (§5.3.9.5.3).
 * - low latency (any SegmentTemplate with `availabilityTimeOffset`; DASH-IF IOP "Low-latency
 *   Modes for DASH"): `ll-availability-time-offset`: every template's offset above 0 and below its
 *   segment duration, with `availabilityTimeComplete="false"` (chunked delivery of the segment
 *   being written); `ll-open-segment` (dynamic): the newest listed segment ends no more than one
 *   part (segment duration − offset) before `now`, i.e. the segment being written is listed;
 *   `ll-service-description`: a ServiceDescription with Latency@target (ms, positive integer) and
 *   PlaybackRate 0 < min <= 1 <= max; `ll-utc-timing`: a UTCTiming with an HTTP scheme the player
 *   can query again (http-iso, http-xsdate, http-ntp, http-head).
 * Whether the segments exist is for the caller: {@link dashSegmentUrls} lists what to request.
 */
export function checkDashMpd(xml: string, opts: CheckDashOptions = {}): DashViolation[] {
  const out: DashViolation[] = [];
  const mpd = parseMpd(xml);
  if (!mpd) return [{ rule: 'xml', severity: 'error', message: 'not XML with an <MPD> root' }];
  const timing = checkMpdAttributes(mpd, out);
  const now = opts.now?.getTime() ?? timing.publish;
  const periods = list(mpd.Period);
  if (periods.length === 0) out.push({ rule: 'period', severity: 'error', message: 'no Period' });
  const ids = new Set<string>();
  const templates: TemplateAt[] = [];
  let prevStart = -Infinity;
  periods.forEach((p, pi) => {
    const id = attr(p, 'id');
    if (timing.dynamic && (id === undefined || ids.has(id))) out.push({ rule: 'period-id', severity: 'error', message: `Period ${pi} has no id or a repeated one` });
    if (id !== undefined) ids.add(id);
    const start = parseDashDuration(attr(p, 'start'));
    if (Number.isNaN(start) || start <= prevStart) out.push({ rule: 'period-start', severity: 'error', message: `Period ${pi}: start ${attr(p, 'start')} missing or not after the previous one` });
    prevStart = start;
    const nextStart = parseDashDuration(attr(periods[pi + 1], 'start'));
    const periodEnd = pi + 1 < periods.length ? nextStart : timing.duration;
    checkPeriod(p, `Period ${id ?? pi}`, { ...timing, now, start, periodEnd }, out, templates);
  });
  if (templates.some((x) => x.t.ato !== 0)) checkLowLatency(mpd, timing.dynamic ? now : Number.NaN, templates, out);
  return out;
}

/** The checks of one Period's AdaptationSets and Representations. */
function checkPeriod(p: Node, where: string, timing: ReturnType<typeof checkMpdAttributes> & { now: number; start: number; periodEnd: number }, out: DashViolation[], templates: TemplateAt[]): void {
  const sets = list(p.AdaptationSet);
  if (sets.length === 0) out.push({ rule: 'adaptation-set', severity: 'error', message: `${where}: no AdaptationSet` });
  const repIds = new Set<string>();
  for (const as of sets) {
    const reps = list(as.Representation);
    if (reps.length === 0) out.push({ rule: 'adaptation-set', severity: 'error', message: `${where}: AdaptationSet ${attr(as, 'id')} has no Representation` });
    for (const rep of reps) {
      const id = attr(rep, 'id');
      const w = `${where} Representation ${id}`;
      const err = (rule: string, message: string) => out.push({ rule, severity: 'error', message: `${w}: ${message}` });
      if (!id || repIds.has(id)) err('representation', 'id missing or repeated in its Period');
      if (id) repIds.add(id);
      if (!(Number(attr(rep, 'bandwidth')) > 0) || !Number.isInteger(Number(attr(rep, 'bandwidth')))) err('representation', 'bandwidth missing or not a positive integer');
      const mime = attr(rep, 'mimeType') ?? attr(as, 'mimeType');
      if (!mime) err('adaptation-set', 'no mimeType on the Representation or its AdaptationSet');
      const codecs = attr(rep, 'codecs') ?? attr(as, 'codecs');
      if (!codecs || !codecs.split(',').every((c) => RFC6381.test(c.trim()))) err('representation', `codecs ${JSON.stringify(codecs)} missing or not RFC 6381 strings`);
      if (mime?.startsWith('video/') && (!(Number(attr(rep, 'width')) > 0) || !(Number(attr(rep, 'height')) > 0))) err('representation', 'a video Representation needs width and height');
      const st = (rep.SegmentTemplate ?? as.SegmentTemplate) as Node | undefined;
      if (!st) {
        err('segment-template', 'no SegmentTemplate');
        continue;
      }
      const t = readTemplate(st, w, out);
      checkTemplateUrls(t, w, out);
      checkSegmentTiming(t, w, timing, out);
      templates.push({ t, where: w, lastEnd: lastEndMs(t, timing) });
    }
  }
}

/** A Representation's template as checked, where it is, and the wall-clock end of its newest segment (ms; NaN for a static MPD). */
interface TemplateAt {
  t: Template;
  where: string;
  lastEnd: number;
}

/** Wall-clock time (ms) at which a dynamic MPD's newest segment of `t` ends: AST + Period start + its end. NaN otherwise. */
function lastEndMs(t: Template, timing: ReturnType<typeof checkMpdAttributes> & { start: number }): number {
  const last = t.segments.at(-1);
  if (!timing.dynamic || !last || !(t.timescale > 0)) return Number.NaN;
  return timing.ast + (timing.start + (last.t + last.d - t.pto) / t.timescale) * 1000;
}

/** UTCTiming schemes a player can query again while it plays (ISO/IEC 23009-1 §5.8.5.7; DASH-IF IOP low-latency asks for one). */
const REFRESHABLE_UTC = new Set(['urn:mpeg:dash:utc:http-iso:2014', 'urn:mpeg:dash:utc:http-xsdate:2014', 'urn:mpeg:dash:utc:http-ntp:2014', 'urn:mpeg:dash:utc:http-head:2014']);

/**
 * The low-latency rules, for an MPD whose SegmentTemplates carry `availabilityTimeOffset`
 * (ISO/IEC 23009-1 §5.3.9.5.3, DASH-IF IOP "Low-latency Modes for DASH"): see {@link checkDashMpd}.
 * `now`: the clock of a dynamic MPD (NaN for a static one: the open-segment rule is skipped).
 */
function checkLowLatency(mpd: Node, now: number, templates: readonly TemplateAt[], out: DashViolation[]): void {
  const err = (rule: string, message: string) => out.push({ rule, severity: 'error', message });
  for (const { t, where, lastEnd } of templates) {
    const longest = t.segments.length > 0 && t.timescale > 0 ? Math.max(...t.segments.map((x) => x.d)) / t.timescale : Number.NaN;
    if (!Number.isFinite(t.ato) || t.ato <= 0 || !(t.ato < longest)) {
      err('ll-availability-time-offset', `${where}: availabilityTimeOffset ${Number.isNaN(t.ato) ? 'malformed' : t.ato} is not above 0 and below the segment duration (${longest} s): on every Representation of a low-latency MPD`);
      continue;
    }
    if (t.atc !== 'false') err('ll-availability-time-offset', `${where}: availabilityTimeComplete must be "false" beside availabilityTimeOffset (segments delivered in chunks while being written)`);
    // The newest listed segment should be the one being written: it ends at most one part (segment - offset) before now.
    if (Number.isFinite(now) && Number.isFinite(lastEnd) && lastEnd + (longest - t.ato) * 1000 <= now) {
      err('ll-open-segment', `${where}: the newest listed segment ended ${((now - lastEnd) / 1000).toFixed(3)} s before now: the segment being written is not listed, so a player cannot request it early`);
    }
  }
  const sd = mpd.ServiceDescription as Node | undefined;
  const latency = sd?.Latency as Node | undefined;
  const target = attr(latency, 'target');
  if (!sd || target === undefined || !/^[1-9]\d*$/.test(target)) {
    err('ll-service-description', 'a low-latency MPD needs a ServiceDescription with Latency@target, a positive integer of milliseconds');
  }
  const rate = sd?.PlaybackRate as Node | undefined;
  const min = Number(attr(rate, 'min'));
  const max = Number(attr(rate, 'max'));
  if (!rate || !(min > 0 && min <= 1 && max >= 1)) {
    err('ll-service-description', `a low-latency MPD needs a ServiceDescription PlaybackRate with 0 < min <= 1 <= max (got ${attr(rate, 'min')}, ${attr(rate, 'max')})`);
  }
  if (!list(mpd.UTCTiming).some((u) => REFRESHABLE_UTC.has(attr(u, 'schemeIdUri') ?? ''))) {
    err('ll-utc-timing', `a low-latency MPD needs a UTCTiming a player can query again (http-iso, http-xsdate, http-ntp or http-head), not only ${UTC_DIRECT_SCHEME}`);
  }
}

/** max-segment-duration, period-duration (static), availability and time-shift (dynamic). */
function checkSegmentTiming(t: Template, where: string, timing: ReturnType<typeof checkMpdAttributes> & { now: number; start: number; periodEnd: number }, out: DashViolation[]): void {
  if (t.segments.length === 0 || !(t.timescale > 0)) return;
  const longest = Math.max(...t.segments.map((s) => s.d)) / t.timescale;
  if (longest > timing.maxSeg + 1e-3) out.push({ rule: 'max-segment-duration', severity: 'error', message: `${where}: a segment lasts ${longest} s, over maxSegmentDuration ${timing.maxSeg} s` });
  const last = t.segments.at(-1)!;
  const endInPeriod = (last.t + last.d - t.pto) / t.timescale;
  if (!timing.dynamic && Number.isFinite(timing.periodEnd)) {
    const span = timing.periodEnd - timing.start;
    if (Math.abs(endInPeriod - span) > longest) {
      out.push({ rule: 'period-duration', severity: 'error', message: `${where}: segments end at ${endInPeriod.toFixed(3)} s of a ${span.toFixed(3)} s Period` });
    }
  }
  if (timing.dynamic && Number.isFinite(timing.ast) && Number.isFinite(timing.now)) {
    const lastEnd = timing.ast + (timing.start + endInPeriod) * 1000;
    const ato = Number.isFinite(t.ato) ? t.ato : 0;
    if (lastEnd - ato * 1000 > timing.now + 1) {
      // Not an error (a SegmentTemplate may describe future segments; players wait for their
      // availability time), but a player then plays that much further behind than it could.
      out.push({ rule: 'availability', severity: 'warning', message: `${where}: the newest segment is available only ${((lastEnd - timing.now) / 1000).toFixed(3)} s after now by the MPD's clock` });
    }
    if (Number.isFinite(timing.tsbd) && lastEnd < timing.now - timing.tsbd * 1000) {
      out.push({ rule: 'time-shift', severity: 'warning', message: `${where}: the newest segment is older than timeShiftBufferDepth` });
    }
  }
}

/**
 * Every segment URL an MPD names (initialization first, then each media segment, per
 * Representation in document order), with `$RepresentationID$`, `$Number$`, `$Time$`,
 * `$Bandwidth$` (with `%0Nd` widths) expanded and resolved against `mpdUrl`: what a player will
 * request. Empty for something that is not an MPD.
 */
export function dashSegmentUrls(xml: string, mpdUrl: string): string[] {
  const mpd = parseMpd(xml);
  const urls: string[] = [];
  for (const p of list(mpd?.Period)) {
    for (const as of list(p.AdaptationSet)) {
      for (const rep of list(as.Representation)) {
        const st = (rep.SegmentTemplate ?? as.SegmentTemplate) as Node | undefined;
        if (!st) continue;
        const t = readTemplate(st, '', []);
        const fill = (tpl: string, n: number, time: number) => tpl.replace(TEMPLATE_ID, (m, name: string | undefined, width: string | undefined) => {
          if (m === '$$') return '$';
          const v = name === 'RepresentationID' ? attr(rep, 'id') ?? '' : name === 'Number' ? String(n) : name === 'Time' ? String(time) : attr(rep, 'bandwidth') ?? '';
          return width ? v.padStart(Number(width.slice(2, -1)), '0') : v;
        });
        if (t.initialization) urls.push(new URL(fill(t.initialization, 0, 0), mpdUrl).href);
        if (t.media) t.segments.forEach((s, i) => urls.push(new URL(fill(t.media!, t.startNumber + i, s.t), mpdUrl).href));
      }
    }
  }
  return urls;
}
