/**
 * The WebVTT thumbnails track of a VOD (W3C WebVTT; the convention of JW Player, video.js's
 * videojs-vtt-thumbnails and hls.js-based players): each cue's payload is an image reference,
 * usually `sprite_<n>.jpg#xywh=x,y,w,h` (W3C Media Fragments URI 1.0 §4.2.2 spatial dimension,
 * pixels), relative to the track's URL. Pure: rendered by the worker, parsed by the web app's
 * seek preview and by tests.
 */
import { spriteName } from './layout.js';

/**
 * Grid of one sprite sheet: `columns` x `rows` cells of `width` x `height` pixels each, filled
 * row by row from the top left, no spacing (what ffmpeg's `tile` filter produces with its
 * default `padding=0:margin=0`). A sheet is `columns*width` x `rows*height` pixels.
 */
export interface SpriteLayout {
  columns: number;
  rows: number;
  width: number;
  height: number;
}

/**
 * One thumbnail cue: media time `[start, end)` in seconds is previewed by the region
 * `x,y,w,h` (pixels, from the top-left corner) of the image `uri` (relative to the track).
 * `xywh` is `null` for a cue whose payload has no `#xywh=` fragment (the whole image).
 */
export interface ThumbnailCue {
  start: number;
  end: number;
  uri: string;
  xywh: { x: number; y: number; w: number; h: number } | null;
}

/** Options of {@link buildThumbnailCues}. */
export interface BuildThumbnailCuesOptions {
  /** Thumbnails available, in time order (thumbnail `i` shows the frame at `i * intervalSeconds`). */
  count: number;
  /** Seconds between thumbnails (> 0). */
  intervalSeconds: number;
  /** Media duration in seconds (> 0): the last cue ends there. */
  durationSeconds: number;
  /** Grid of every sprite sheet (the last one may be partly empty). */
  layout: SpriteLayout;
  /** Image URI of sheet `n`; default {@link spriteName}. */
  spriteUri?: (n: number) => string;
}

/**
 * The cues of a thumbnails track: thumbnail `i` covers `[i*interval, (i+1)*interval)` and
 * lives in sheet `floor(i / (columns*rows))`, cell `i mod (columns*rows)` (row-major). Times
 * are computed in whole milliseconds (what WebVTT timestamps carry), so cues are contiguous:
 * every cue starts where the previous one ended, the first at 0, the last ends at the duration
 * (stretched when there are fewer thumbnails than `ceil(duration/interval)`; thumbnails that
 * would start at or after the duration are left out).
 *
 * @throws RangeError when `count` is not a non-negative integer, or the interval, duration or
 *   a layout dimension is not positive.
 */
export function buildThumbnailCues(opts: BuildThumbnailCuesOptions): ThumbnailCue[] {
  const { count, intervalSeconds, durationSeconds, layout } = opts;
  if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`count must be a non-negative integer, got ${count}`);
  if (!(intervalSeconds > 0) || !(durationSeconds > 0)) throw new RangeError('intervalSeconds and durationSeconds must be > 0');
  for (const [k, v] of Object.entries(layout)) {
    if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`layout.${k} must be a positive integer, got ${String(v)}`);
  }
  const uriOf = opts.spriteUri ?? spriteName;
  const intervalMs = Math.round(intervalSeconds * 1000);
  const durationMs = Math.round(durationSeconds * 1000);
  const perSheet = layout.columns * layout.rows;
  const usable = Math.min(count, Math.ceil(durationMs / intervalMs));
  const cues: ThumbnailCue[] = [];
  for (let i = 0; i < usable; i++) {
    const startMs = i * intervalMs;
    const endMs = i === usable - 1 ? durationMs : Math.min((i + 1) * intervalMs, durationMs);
    const cell = i % perSheet;
    cues.push({
      start: startMs / 1000,
      end: endMs / 1000,
      uri: uriOf(Math.floor(i / perSheet)),
      xywh: { x: (cell % layout.columns) * layout.width, y: Math.floor(cell / layout.columns) * layout.height, w: layout.width, h: layout.height },
    });
  }
  return cues;
}

/**
 * A WebVTT timestamp `hh:mm:ss.ttt` (W3C WebVTT §4.2.1: hours are at least two digits and may
 * exceed 99) from seconds, rounded to the millisecond.
 *
 * @throws RangeError for a negative or non-finite time.
 */
export function formatVttTimestamp(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) throw new RangeError(`invalid WebVTT time ${seconds}`);
  const ms = Math.round(seconds * 1000);
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Math.floor((ms % 60_000) / 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(h)}:${pad(m)}:${pad(s)}.${pad(ms % 1000, 3)}`;
}

/**
 * Renders a thumbnails track (W3C WebVTT): the `WEBVTT` header, then one cue per thumbnail,
 * `<start> --> <end>` and the payload `<uri>#xywh=x,y,w,h` (or just `<uri>`), blocks separated
 * by blank lines, `\n` line endings, ending with a newline.
 *
 * @throws RangeError for a cue whose time is invalid or whose end is not after its start.
 */
export function renderThumbnailsVtt(cues: readonly ThumbnailCue[]): string {
  let out = 'WEBVTT\n';
  for (const c of cues) {
    if (!(c.end > c.start)) throw new RangeError(`cue ${c.uri} ends at ${c.end}, not after its start ${c.start}`);
    const payload = c.xywh ? `${c.uri}#xywh=${c.xywh.x},${c.xywh.y},${c.xywh.w},${c.xywh.h}` : c.uri;
    out += `\n${formatVttTimestamp(c.start)} --> ${formatVttTimestamp(c.end)}\n${payload}\n`;
  }
  return out;
}

/** A thumbnails track could not be parsed (no `WEBVTT` header, or a malformed timing line). */
export class ThumbnailsVttError extends Error {
  override readonly name = 'ThumbnailsVttError';
}

function parseVttTime(text: string): number {
  // W3C WebVTT §4.2.1: [hh:]mm:ss.ttt, hours of 2+ digits, minutes and seconds 00-59
  const m = /^(?:(\d{2,}):)?([0-5]\d):([0-5]\d)\.(\d{3})$/.exec(text.trim());
  if (!m) throw new ThumbnailsVttError(`bad WebVTT timestamp ${JSON.stringify(text)}`);
  return Number(m[1] ?? 0) * 3600 + Number(m[2]) * 60 + Number(m[3]) + Number(m[4]) / 1000;
}

/**
 * Parses a thumbnails track: every cue's times and its payload's first line as `uri` with the
 * optional `#xywh=[pixel:]x,y,w,h` fragment (W3C Media Fragments URI 1.0 §4.2.2; `percent:`
 * regions are returned with `xywh: null`, as if the whole image). Cue identifiers, settings,
 * NOTE / STYLE / REGION blocks are skipped. The inverse of {@link renderThumbnailsVtt}.
 *
 * With `skipInvalid` (a player reading a track from the network), nothing throws: a text without
 * the header gives `[]`, and a cue with a malformed timing line or an end not after its start
 * is left out.
 *
 * @throws {ThumbnailsVttError} (without `skipInvalid`) when the header is missing or a timing
 *   line is malformed.
 */
export function parseThumbnailsVtt(text: string, opts: { skipInvalid?: boolean } = {}): ThumbnailCue[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  if (!/^WEBVTT(?:[ \t].*)?$/.test(lines[0] ?? '')) {
    if (opts.skipInvalid) return [];
    throw new ThumbnailsVttError('missing WEBVTT header');
  }
  const cues: ThumbnailCue[] = [];
  let i = 1;
  while (i < lines.length) {
    // a block: consecutive non-empty lines
    while (i < lines.length && lines[i]!.trim() === '') i++;
    const block: string[] = [];
    while (i < lines.length && lines[i]!.trim() !== '') block.push(lines[i++]!);
    if (block.length === 0) break;
    const timing = block.findIndex((l) => l.includes('-->'));
    if (timing < 0 || timing > 1) continue; // NOTE, STYLE, REGION, or a stray line
    const [startText, rest] = block[timing]!.split('-->') as [string, string];
    const endText = rest.trim().split(/[ \t]+/)[0] ?? '';
    const payload = block[timing + 1]?.trim();
    if (!payload) continue;
    const hash = payload.indexOf('#');
    const uri = hash < 0 ? payload : payload.slice(0, hash);
    const frag = hash < 0 ? null : /(?:^|&)xywh=(?:pixel:)?(\d+),(\d+),(\d+),(\d+)(?:&|$)/.exec(payload.slice(hash + 1));
    let start: number;
    let end: number;
    try {
      start = parseVttTime(startText);
      end = parseVttTime(endText);
    } catch (err) {
      if (opts.skipInvalid) continue;
      throw err;
    }
    if (opts.skipInvalid && !(end > start)) continue;
    cues.push({
      start,
      end,
      uri,
      xywh: frag ? { x: Number(frag[1]), y: Number(frag[2]), w: Number(frag[3]), h: Number(frag[4]) } : null,
    });
  }
  return cues;
}

/**
 * Grid for `count` thumbnails with at most `maxColumns` x `maxRows` cells per sheet: full-size
 * sheets when there are more thumbnails than one sheet holds, otherwise a single sheet just
 * large enough (e.g. 12 thumbnails, max 10x10: 10 columns x 2 rows), so a short VOD does not
 * ship a mostly empty 1600x900 image.
 *
 * @throws RangeError when a dimension is not a positive integer.
 */
export function spriteLayoutFor(count: number, cell: { width: number; height: number }, maxColumns = 10, maxRows = 10): SpriteLayout {
  for (const v of [cell.width, cell.height, maxColumns, maxRows]) {
    if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`sprite dimensions must be positive integers, got ${v}`);
  }
  const n = Math.max(1, count);
  const columns = Math.min(maxColumns, n);
  const rows = Math.min(maxRows, Math.ceil(n / columns));
  return { columns, rows, width: cell.width, height: cell.height };
}
