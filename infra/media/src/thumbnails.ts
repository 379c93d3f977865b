/**
 * Thumbnails: the live poster of a stream (one JPEG rewritten every 10 s while live) and the
 * seek-preview thumbnails of a VOD (JPEG sprite sheets + a WebVTT track pointing into them).
 *
 * Live poster, and why this way (2 shared cores): every tick reads the lowest rendition at
 * least {@link DEFAULT_POSTER_WIDTH} px wide from storage (its newest COMPLETE segment and that
 * segment's init segment), and decodes ONE frame with ffmpeg (`-frames:v 1`). Segments start
 * with an IDR frame (fixed GOP = one segment), so that frame decodes on its own: one small
 * keyframe decode plus an ffmpeg start, about 50 ms of CPU every 10 s (< 1 % of a core), and
 * nothing at all while the stream stalls (an unchanged newest segment is not decoded again).
 * The alternative, an extra output on the live transcode (a `split` branch `fps=1/10` to an
 * image2 `-update 1` muxer), costs about the same CPU but couples the poster to the ladder's
 * ffmpeg: a poster problem could fail the transcode, and it needs a local file the worker then
 * has to upload anyway. Reading from storage also makes the poster show exactly what viewers
 * get, works with both publishers (ffmpeg's hls muxer and our LL-HLS packager), and works for
 * AES-128 encrypted sessions when given the keys ({@link LivePosterOptions.decryptionKey}).
 *
 * VOD thumbnails: one ffmpeg pass over the local faststart MP4 decodes KEYFRAMES ONLY
 * (`-skip_frame nokey`: the other frames are not even decoded), keeps one frame per interval
 * (`fps=1/<interval>`), scales it to 160x90 (letterboxed), and writes raw frames; a second,
 * tiny pass tiles them into JPEG sprites (`tile=<columns>x<rows>`). The raw intermediate gives
 * the exact thumbnail count (file size / frame size), so the cues never point at an empty cell.
 * The WebVTT track follows the de-facto convention of JW Player, video.js (videojs-vtt-thumbnails)
 * and hls.js-based players: each cue's payload is `sprite_<n>.jpg#xywh=x,y,w,h` (W3C Media
 * Fragments URI 1.0 §4.2.2 spatial dimension, pixels), relative to the track's URL.
 */
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CACHE_CONTROL, type ObjectStorage } from '@live/storage';
import { ffmpegPath as defaultFfmpegPath, runFfmpeg } from './ffmpeg.js';
import { decryptAes128 } from './encryption.js';
import {
  buildThumbnailCues,
  mediaPlaylistKey,
  parseIv,
  parseMediaPlaylist,
  PlaylistParseError,
  type PlaylistSegment,
  posterKey,
  renderThumbnailsVtt,
  spriteKey,
  type SpriteLayout,
  spriteLayoutFor,
  spriteName,
  type ThumbnailCue,
  thumbnailsVttKey,
} from './formats/index.js';
import {
  type MediaLogger,
} from './publisher.js';

// ---------------------------------------------------------------------------------------------
// live poster

/** Default poster width in pixels: a discovery card at 2x device pixel ratio. */
export const DEFAULT_POSTER_WIDTH = 640;
/** Default poster refresh period in milliseconds. */
export const DEFAULT_POSTER_INTERVAL_MS = 10_000;
/** A poster decode still running after this many milliseconds is stopped (the next pass tries again). */
const POSTER_DECODE_TIMEOUT_MS = 15_000;

/**
 * The newest complete Media Segment of a media playlist, classic or Low-Latency (RFC 8216bis):
 * the last segment `parseMediaPlaylist` finds (EXT-X-PART / PRELOAD-HINT lines of the open
 * segment are not segments), with its EXT-X-MAP URI and EXT-X-KEY. Returns `null` for a playlist
 * without a complete segment and for text `parseMediaPlaylist` refuses; never throws.
 */
export function newestCompleteSegment(playlist: string): PlaylistSegment | null {
  try {
    return parseMediaPlaylist(playlist).segments.at(-1) ?? null;
  } catch (err) {
    if (err instanceof PlaylistParseError) return null;
    throw err;
  }
}

/**
 * The rendition a poster of `width` pixels is decoded from: the narrowest one at least `width`
 * wide (decoding more pixels than needed costs CPU), else the widest one there is (a 240p-only
 * ladder gives a 426 px poster rather than an upscaled one).
 *
 * @throws RangeError when `renditions` is empty.
 */
export function posterRenditionFor<R extends { name: string; width: number; height: number }>(renditions: readonly R[], width = DEFAULT_POSTER_WIDTH): R {
  if (renditions.length === 0) throw new RangeError('no renditions to take a poster from');
  const byWidth = [...renditions].sort((a, b) => a.width - b.width);
  return byWidth.find((r) => r.width >= width) ?? byWidth[byWidth.length - 1]!;
}

/**
 * Size of the poster taken from a `source`-sized frame at most `width` wide: the source size
 * when it is not wider, else `width` x the height ffmpeg's `scale=<width>:-2` gives (aspect
 * kept, rounded to an even number).
 */
export function posterSize(source: { width: number; height: number }, width = DEFAULT_POSTER_WIDTH): { width: number; height: number } {
  if (source.width <= width) return { width: source.width, height: source.height };
  return { width, height: Math.round((source.height * width) / source.width / 2) * 2 };
}

/** Options of {@link buildPosterArgs}. */
export interface PosterArgsOptions {
  /** Scale to this width (aspect kept, even height); omit to keep the decoded size. */
  scaleWidth?: number;
  /** JPEG quality, ffmpeg `-q:v` (2 best .. 31 worst). Default 4. */
  quality?: number;
}

/**
 * ffmpeg arguments that decode the FIRST video frame of `input` (init segment + one media
 * segment, which starts with an IDR frame) into the JPEG `output`:
 * `-threads 1 -i <input> -map 0:v:0 -frames:v 1 [-vf scale=<w>:-2] -q:v <q> -f image2 -update 1 <output>`.
 */
export function buildPosterArgs(input: string, output: string, opts: PosterArgsOptions = {}): string[] {
  return [
    '-hide_banner', '-nostats', '-loglevel', 'error', '-y',
    // one frame: frame threads would only add start-up work and delay
    '-threads', '1',
    '-i', input,
    '-map', '0:v:0',
    '-frames:v', '1',
    // -2: keep the aspect ratio with an even height (yuv420p)
    ...(opts.scaleWidth !== undefined ? ['-vf', `scale=${opts.scaleWidth}:-2`] : []),
    '-q:v', String(opts.quality ?? 4),
    // image2 + update: one file, overwritten, no %d pattern in the name
    '-f', 'image2', '-update', '1',
    output,
  ];
}

/** Options of {@link createLivePoster}. */
export interface LivePosterOptions {
  storage: ObjectStorage;
  /** Session key prefix, e.g. `sessions/<sessionId>`; the poster goes to {@link posterKey}. */
  keyPrefix: string;
  /** The session's ladder (names and coded sizes); see {@link posterRenditionFor}. */
  renditions: readonly { name: string; width: number; height: number }[];
  /** Poster width in pixels (never upscaled). Default {@link DEFAULT_POSTER_WIDTH}. */
  width?: number;
  /** Refresh period in milliseconds. Default {@link DEFAULT_POSTER_INTERVAL_MS}. */
  intervalMs?: number;
  /** Until the first poster exists, retry this often (ms) so a new stream gets one quickly. Default min(2000, intervalMs). */
  firstPosterRetryMs?: number;
  /**
   * The 16-byte AES-128 key behind an EXT-X-KEY URI (e.g. `/keys/<sessionId>/<n>.key` ->
   * `deriveContentKey(secret, sessionId, n)`), as `packageVod`'s `decryptionKey`: encrypted
   * segments are decrypted before the decode (init segments are clear). Without it, an
   * encrypted session gets no poster (one warning).
   */
  decryptionKey?: (keyUri: string) => Buffer | Promise<Buffer>;
  /** ffmpeg binary; default `ffmpegPath()`. */
  ffmpegPath?: string;
  /** Parent of the scratch directory (a few hundred KB). Default `os.tmpdir()`. */
  tmpDir?: string;
  logger?: MediaLogger;
}

/** What one poster pass wrote: the key, the segment it was decoded from, the JPEG's size in bytes. */
export interface PosterWritten {
  key: string;
  rendition: string;
  sequence: number;
  bytes: number;
}

/** A running live poster; see {@link createLivePoster}. */
export interface LivePoster {
  /** Starts the periodic refresh (first pass immediately). Idempotent; no-op after `stop`. */
  start(): void;
  /**
   * One pass now: decodes the newest complete segment when it changed since the last poster.
   * Resolves with what was written, or `null` when there is nothing (new) to decode yet.
   *
   * @throws {FfmpegError} when the decode fails; storage errors as is.
   */
  refresh(): Promise<PosterWritten | null>;
  /** Stops refreshing, aborts a running decode, waits for it, removes the scratch directory. The poster object stays. */
  stop(): Promise<void>;
  /** Posters written so far. */
  readonly written: number;
}

/**
 * The live poster of a session (see the module comment for the method and its cost): every
 * `intervalMs` reads the playlist of {@link posterRenditionFor}, and when its newest complete
 * segment changed, decodes that segment's first frame (with its init segment) to a JPEG of at
 * most `width` px and writes it to `<keyPrefix>/poster.jpg` with `writeObject` and
 * `Cache-Control: public, max-age=10` ({@link CACHE_CONTROL}.poster): mutable, so never served
 * as immutable. Passes never overlap; a failed pass is logged (`warn`) and the next one tries
 * again. The poster stays in storage after `stop()` (the last frame of the broadcast).
 *
 * @throws RangeError when `renditions` is empty.
 */
export function createLivePoster(opts: LivePosterOptions): LivePoster {
  const width = opts.width ?? DEFAULT_POSTER_WIDTH;
  const intervalMs = opts.intervalMs ?? DEFAULT_POSTER_INTERVAL_MS;
  const firstRetryMs = opts.firstPosterRetryMs ?? Math.min(2000, intervalMs);
  const rendition = posterRenditionFor(opts.renditions, width);
  const size = posterSize(rendition, width);
  const key = posterKey(opts.keyPrefix);
  const dir = `${opts.keyPrefix}/${rendition.name}`;
  const abort = new AbortController();
  let started = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<unknown> | null = null;
  let work: Promise<string> | undefined;
  let lastUri: string | undefined;
  let written = 0;
  let warnedEncrypted = false;

  const scratch = () => (work ??= mkdtemp(path.join(opts.tmpDir ?? tmpdir(), 'live-poster-')));

  async function readSegment(seg: PlaylistSegment): Promise<Buffer | null> {
    const bytes = await opts.storage.read(`${dir}/${seg.uri}`);
    if (!bytes || !seg.key) return bytes;
    if (!opts.decryptionKey) {
      if (!warnedEncrypted) opts.logger?.warn?.({ keyPrefix: opts.keyPrefix }, 'poster: the segments are encrypted and no decryptionKey was given; no poster');
      warnedEncrypted = true;
      return null;
    }
    // RFC 8216bis §5.2 METHOD=AES-128: CBC + PKCS#7 over the whole segment, IV from the tag
    return decryptAes128(bytes, await opts.decryptionKey(seg.key.uri), parseIv(seg.key.iv));
  }

  async function pass(): Promise<PosterWritten | null> {
    const playlist = await opts.storage.read(mediaPlaylistKey(opts.keyPrefix, rendition.name));
    if (!playlist) return null;
    const newest = newestCompleteSegment(playlist.toString('utf8'));
    if (!newest || newest.uri === lastUri) return null; // nothing yet, or the stream stalled
    // init segments are clear (the packager ends the key scope before every EXT-X-MAP)
    const init = newest.map !== undefined ? await opts.storage.read(`${dir}/${newest.map}`) : Buffer.alloc(0);
    const media = await readSegment(newest);
    if (!init || !media) return null; // gone meanwhile (retention), or undecryptable
    const work = await scratch();
    const input = path.join(work, 'segment.mp4');
    const output = path.join(work, 'poster.jpg');
    await writeFile(input, Buffer.concat([init, media]));
    // one keyframe takes well under a second; a decode still running after this is stuck
    const timeout = AbortSignal.timeout(POSTER_DECODE_TIMEOUT_MS);
    const res = await runFfmpeg(
      buildPosterArgs(input, output, size.width < rendition.width ? { scaleWidth: size.width } : {}),
      { ffmpegPath: opts.ffmpegPath ?? defaultFfmpegPath(), signal: AbortSignal.any([abort.signal, timeout]), killGraceMs: 500 },
    );
    if (res.aborted) {
      if (timeout.aborted && !stopped) opts.logger?.warn?.({ keyPrefix: opts.keyPrefix, uri: newest.uri }, 'poster decode timed out');
      return null;
    }
    const jpeg = await readFile(output);
    await opts.storage.writeObject(key, jpeg, { cacheControl: CACHE_CONTROL.poster });
    lastUri = newest.uri;
    written++;
    opts.logger?.debug?.({ key, rendition: rendition.name, sequence: newest.sequence, bytes: jpeg.byteLength }, 'poster written');
    return { key, rendition: rendition.name, sequence: newest.sequence, bytes: jpeg.byteLength };
  }

  /** Runs one pass at a time: a refresh() during a timed pass waits for it, then runs its own. */
  function exclusive(): Promise<PosterWritten | null> {
    const run = (current ?? Promise.resolve()).catch(() => undefined).then(() => (stopped ? null : pass()));
    current = run;
    return run;
  }

  function schedule(delayMs: number): void {
    if (stopped) return;
    timer = setTimeout(() => {
      const began = Date.now();
      exclusive()
        .catch((err: unknown) => {
          opts.logger?.warn?.({ keyPrefix: opts.keyPrefix, err: err instanceof Error ? err.message : String(err) }, 'poster pass failed');
        })
        .finally(() => {
          const period = written === 0 ? firstRetryMs : intervalMs;
          schedule(Math.max(0, period - (Date.now() - began)));
        });
    }, delayMs);
    timer.unref();
  }

  return {
    start() {
      if (started || stopped) return;
      started = true;
      schedule(0);
    },
    refresh() {
      return exclusive();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (timer) clearTimeout(timer);
      abort.abort();
      await current?.catch(() => undefined);
      if (work) await rm(await work, { recursive: true, force: true }).catch(() => undefined);
    },
    get written() {
      return written;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// VOD thumbnails

/** Default seconds between VOD thumbnails. */
export const DEFAULT_THUMBNAIL_INTERVAL_SECONDS = 5;
/** Default thumbnail cell size in pixels (16:9). */
export const DEFAULT_THUMBNAIL_SIZE = { width: 160, height: 90 } as const;

/** Options of {@link buildThumbnailFrameArgs}. */
export interface ThumbnailFrameArgsOptions {
  intervalSeconds: number;
  width: number;
  height: number;
  /** Stop after this many thumbnails (`-frames:v`). */
  maxFrames: number;
}

/**
 * ffmpeg arguments of the first VOD pass: keyframes of `input` only (`-skip_frame nokey`, a
 * decoder option: the other frames are not decoded), one per interval (`fps=1/<interval>`,
 * nearest frame, the last frame passed through at the end), scaled into `width` x `height` with the aspect kept and letterboxed, written
 * as raw `yuv420p` frames to `output` (`width*height*3/2` bytes each).
 */
export function buildThumbnailFrameArgs(input: string, output: string, opts: ThumbnailFrameArgsOptions): string[] {
  const { width: w, height: h } = opts;
  return [
    '-hide_banner', '-nostats', '-loglevel', 'error', '-y',
    // decode keyframes only: with a 2 s GOP that is 1/60 of the frames, and all a 5 s grid needs
    '-skip_frame', 'nokey',
    '-i', input,
    '-map', '0:v:0',
    '-vf', [
      // eof_action=pass: with keyframes only, the input ends right after the last keyframe, and
      // the default rounding would drop the thumbnail of the last interval (seen with ffmpeg 5.1)
      `fps=fps=1/${opts.intervalSeconds}:eof_action=pass`,
      `scale=${w}:${h}:force_original_aspect_ratio=decrease:force_divisible_by=2`,
      // letterbox (a 4:3 or portrait source keeps its shape inside the 16:9 cell)
      `pad=${w}:${h}:(ow-iw)/2:(oh-ih)/2:color=black`,
      'setsar=1',
      'format=yuv420p',
    ].join(','),
    '-frames:v', String(opts.maxFrames),
    '-f', 'rawvideo', '-pix_fmt', 'yuv420p',
    output,
  ];
}

/**
 * ffmpeg arguments of the second VOD pass: raw `yuv420p` frames of `layout.width` x
 * `layout.height` from `input` tiled `columns` x `rows` per image, written as JPEG sheets
 * `<outputDir>/sprite_0.jpg`, `sprite_1.jpg`, ... (`-start_number 0`). The input must hold a
 * multiple of `columns*rows` frames (the caller pads), so every sheet is complete.
 */
export function buildSpriteArgs(input: string, outputDir: string, layout: SpriteLayout, quality = 5): string[] {
  return [
    '-hide_banner', '-nostats', '-loglevel', 'error', '-y',
    '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-video_size', `${layout.width}x${layout.height}`, '-framerate', '1',
    '-i', input,
    '-vf', `tile=${layout.columns}x${layout.rows}`,
    '-q:v', String(quality),
    '-f', 'image2', '-start_number', '0',
    path.join(outputDir, 'sprite_%d.jpg'),
  ];
}

/** Options of {@link generateVodThumbnails}. */
export interface VodThumbnailsOptions {
  storage: ObjectStorage;
  /** Session key prefix, e.g. `sessions/<sessionId>`. */
  keyPrefix: string;
  /** A local media file of the VOD (the faststart MP4 `packageVod` builds). */
  input: string;
  /** Media duration in seconds (> 0): the last cue ends there. */
  durationSeconds: number;
  /** Seconds between thumbnails (> 0). Default {@link DEFAULT_THUMBNAIL_INTERVAL_SECONDS}. */
  intervalSeconds?: number;
  /** Cell size in pixels, even numbers. Default {@link DEFAULT_THUMBNAIL_SIZE} (160x90). */
  width?: number;
  height?: number;
  /** Largest grid per sheet. Default 10 x 10 (a 1600x900 sheet covers 100 thumbnails). */
  maxColumns?: number;
  maxRows?: number;
  ffmpegPath?: string;
  /** Parent of the scratch directory (about 22 KB per thumbnail at 160x90). Default `os.tmpdir()`. */
  tmpDir?: string;
  signal?: AbortSignal;
  logger?: MediaLogger;
}

/** Result of {@link generateVodThumbnails}: the track's key, the sheets' keys (in order), the grid and the cues written. */
export interface VodThumbnailsResult {
  vttKey: string;
  spriteKeys: string[];
  layout: SpriteLayout;
  cues: ThumbnailCue[];
}

/** Thumbnails could not be produced (no frame decoded, invalid options, aborted). */
export class ThumbnailError extends Error {
  override readonly name = 'ThumbnailError';
}

/**
 * Produces the seek-preview thumbnails of a VOD from a local media file: sheets
 * `<prefix>/thumbs/sprite_<n>.jpg` (JPEG, a grid of `width` x `height` cells, see
 * {@link spriteLayoutFor}) and the track `<prefix>/thumbs/thumbnails.vtt` (see
 * {@link renderThumbnailsVtt}), both with `Cache-Control: public, max-age=60`
 * ({@link CACHE_CONTROL}.thumbnails: re-packaging rewrites them under the same names). Sheets
 * are written before the track that names them (as segments before playlists); sheets left over
 * from an earlier, longer packaging of the same prefix are deleted afterwards. Re-running is
 * safe.
 *
 * @throws {ThumbnailError} when no frame could be decoded, options are invalid, or `signal` aborted.
 * @throws {FfmpegError} when ffmpeg fails; storage errors as is.
 */
export async function generateVodThumbnails(opts: VodThumbnailsOptions): Promise<VodThumbnailsResult> {
  const interval = opts.intervalSeconds ?? DEFAULT_THUMBNAIL_INTERVAL_SECONDS;
  const w = opts.width ?? DEFAULT_THUMBNAIL_SIZE.width;
  const h = opts.height ?? DEFAULT_THUMBNAIL_SIZE.height;
  if (!(interval > 0) || !(opts.durationSeconds > 0)) throw new ThumbnailError('intervalSeconds and durationSeconds must be > 0');
  if (!Number.isSafeInteger(w) || !Number.isSafeInteger(h) || w <= 0 || h <= 0 || w % 2 || h % 2) {
    throw new ThumbnailError(`thumbnail size must be positive even integers, got ${w}x${h}`);
  }
  const bin = opts.ffmpegPath ?? defaultFfmpegPath();
  const maxFrames = Math.ceil(Math.round(opts.durationSeconds * 1000) / Math.round(interval * 1000));
  const work = await mkdtemp(path.join(opts.tmpDir ?? tmpdir(), 'live-thumbs-'));
  try {
    const raw = path.join(work, 'frames.yuv');
    const frameBytes = (w * h * 3) / 2;
    const first = await runFfmpeg(buildThumbnailFrameArgs(opts.input, raw, { intervalSeconds: interval, width: w, height: h, maxFrames }), {
      ffmpegPath: bin,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    if (first.aborted) throw new ThumbnailError('aborted');
    const count = Math.floor((await stat(raw).catch(() => ({ size: 0 }))).size / frameBytes);
    if (count === 0) throw new ThumbnailError(`no frame decoded from ${path.basename(opts.input)}`);

    const layout = spriteLayoutFor(count, { width: w, height: h }, opts.maxColumns ?? 10, opts.maxRows ?? 10);
    const perSheet = layout.columns * layout.rows;
    const sheets = Math.ceil(count / perSheet);
    const padFrames = sheets * perSheet - count;
    if (padFrames > 0) {
      // black cells (Y=16, U=V=128: limited-range black) so the tile filter emits whole sheets only
      const pad = Buffer.alloc(padFrames * frameBytes, 128);
      for (let f = 0; f < padFrames; f++) pad.fill(16, f * frameBytes, f * frameBytes + w * h);
      const frames = await readFile(raw);
      await writeFile(raw, Buffer.concat([frames.subarray(0, count * frameBytes), pad]));
    }
    const sheetDir = path.join(work, 'sheets');
    await mkdir(sheetDir);
    const second = await runFfmpeg(buildSpriteArgs(raw, sheetDir, layout), { ffmpegPath: bin, ...(opts.signal ? { signal: opts.signal } : {}) });
    if (second.aborted) throw new ThumbnailError('aborted');

    const spriteKeys: string[] = [];
    for (let n = 0; n < sheets; n++) {
      const jpeg = await readFile(path.join(sheetDir, spriteName(n)));
      const k = spriteKey(opts.keyPrefix, n);
      await opts.storage.writeObject(k, jpeg, { cacheControl: CACHE_CONTROL.thumbnails });
      spriteKeys.push(k);
    }
    const cues = buildThumbnailCues({ count, intervalSeconds: interval, durationSeconds: opts.durationSeconds, layout });
    const vttKey = thumbnailsVttKey(opts.keyPrefix);
    await opts.storage.writeObject(vttKey, Buffer.from(renderThumbnailsVtt(cues), 'utf8'), { cacheControl: CACHE_CONTROL.thumbnails });

    // sheets of an earlier, longer packaging are no longer named by the track
    const keep = new Set(spriteKeys);
    const stale = (await opts.storage.list(`${opts.keyPrefix}/thumbs/sprite_`)).filter((k) => !keep.has(k));
    if (stale.length > 0) await opts.storage.deleteObjects(stale);

    opts.logger?.info?.({ keyPrefix: opts.keyPrefix, vttKey, thumbnails: count, sheets, intervalSeconds: interval }, 'vod thumbnails written');
    return { vttKey, spriteKeys, layout, cues };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
