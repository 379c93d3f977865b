import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ObjectStorage } from '@live/storage';
import { FFMPEG_PLAYLIST_NAME } from './args.js';
import type { Rendition, RenditionName, SourceInfo } from './ladder.js';
import { codecsFromInitSegment } from './mp4.js';
import {
  archivePlaylistKey,
  detectInbandCaptions,
  type MasterClosedCaptions,
  masterClosedCaptionsOf,
  masterPlaylistKey,
  measureBitrates,
  mediaPlaylistKey,
  parseMediaPlaylist,
  type PlaylistSegment,
  renderMasterPlaylist,
  renderMediaPlaylist,
  type VariantStream,
} from './formats/index.js';
import { createSerialPoller } from './poller.js';

/** Pino-compatible structured logger subset used by the publisher and VOD packager. */
export interface MediaLogger {
  debug?(obj: Record<string, unknown>, msg: string): void;
  info?(obj: Record<string, unknown>, msg: string): void;
  warn?(obj: Record<string, unknown>, msg: string): void;
  error?(obj: Record<string, unknown>, msg: string): void;
}

/**
 * Publishing progress of one rendition. `segments` are the segments already in storage
 * and in its published playlist, in order (with `map`, `bytes`, and `programDateTime` when
 * known); `lastSequence` the highest published sequence number (-1 before the first);
 * `initSegments` the init segment names uploaded so far (one per attempt); `codecs` the
 * RFC 6381 strings read from its init segment once known.
 */
export interface RenditionPublishState {
  rendition: Rendition;
  segments: PlaylistSegment[];
  lastSequence: number;
  initSegments: string[];
  codecs?: string[];
  /**
   * EXT-X-DISCONTINUITY-SEQUENCE of `segments[0]`: discontinuities that were removed with
   * segments before it (a DVR window that deletes slid-out segments). Absent = 0.
   */
  discontinuitySequence?: number;
}

/**
 * Everything needed to continue a session's playlists in another process: JSON-serialisable
 * (a Temporal activity heartbeats it; a retry passes it back as `resume`). Renditions are
 * in ladder order (highest first); `frameRate` in frames/s for FRAME-RATE; `masterWritten`
 * and `ended` (ENDLIST written) as they say.
 *
 * Size: about 150 bytes per segment per rendition (2 MB after ~1 h of a 4-rung ladder at
 * 2 s segments); for long sessions heartbeat {@link nextStartNumber} only and resume with
 * {@link loadPublisherState}, which rebuilds the same state from storage.
 */
export interface PublisherState {
  version: 1;
  keyPrefix: string;
  frameRate?: number;
  /**
   * PART-TARGET and PART-HOLD-BACK of the session's low-latency playlists, seconds (e.g. 0.5 and
   * 1.0); absent for regular HLS. A server must not change them in a playlist (RFC 8216bis
   * §6.2.1 lists the changes it may make), so a resumed attempt keeps them whatever its own
   * worker is set to (`planLowLatencyParts`).
   */
  partTarget?: number;
  partHoldBack?: number;
  renditions: RenditionPublishState[];
  masterWritten: boolean;
  ended: boolean;
}

/** Callbacks of the publisher. */
export interface PublisherEvents {
  /** A segment is in storage AND in the rendition's published playlist. */
  onSegment?(rendition: RenditionName, segment: PlaylistSegment): void;
  /** The master playlist was written (once per session). */
  onMasterWritten?(key: string): void;
  /** A background poll (after `start()`) failed; it is retried on the next tick. */
  onError?(err: unknown): void;
}

/** What kind of media object an announcer is told about. */
export type AnnouncedObjectKind = 'init' | 'part' | 'segment';

/**
 * Told about every object and playlist a publisher has just written (after the storage write
 * succeeded, in publishing order: an object before the playlist that names it), so that the
 * edges can learn of a new part without polling storage. The worker wires it to core NATS
 * (`@live/events` `mediaSubject`, `encodeMediaAnnouncement`); `@live/media` itself knows no
 * transport. Paths are below the publisher's `keyPrefix` (`480p/seg_00012.part3.m4s`,
 * `480p/index.m3u8`, `master.m3u8`). Calls are synchronous and must not block; a call that
 * throws is logged (warn) and publishing goes on (storage stays the record).
 */
export interface MediaAnnouncer {
  /**
   * An init segment, part or segment is in storage.
   * @param size bytes stored.
   * @param bytes the stored bytes when the publisher holds them in memory (the LL-HLS packager
   *   does; the HLS publisher uploads ffmpeg's files and passes none).
   */
  object(kind: AnnouncedObjectKind, path: string, size: number, bytes?: Uint8Array): void;
  /** A media or master playlist is in storage with this text; `live` as given to `writePlaylist`. */
  playlist(path: string, text: string, live: boolean): void;
}

/**
 * Calls `fn` on `announcer` (when there is one), logging instead of throwing: an announcement
 * is a hint, a failing one must not stop publishing.
 */
export function announceSafely(announcer: MediaAnnouncer | undefined, logger: MediaLogger | undefined, fn: (a: MediaAnnouncer) => void): void {
  if (!announcer) return;
  try {
    fn(announcer);
  } catch (err) {
    logger?.warn?.({ err }, 'media announcer threw');
  }
}

/** Options of {@link createHlsPublisher}. */
export interface HlsPublisherOptions {
  storage: ObjectStorage;
  /** ffmpeg's work directory of THIS attempt (`buildLadderArgs`' `outputDir`). */
  outputDir: string;
  /** Storage key prefix of the session, e.g. `sessions/<sessionId>` (no trailing slash). */
  keyPrefix: string;
  /** The ladder passed to `buildLadderArgs`, highest first. */
  ladder: readonly Rendition[];
  /** State of a previous attempt ({@link HlsPublisher.state} or {@link loadPublisherState}): playlists continue after an EXT-X-DISCONTINUITY. */
  resume?: PublisherState;
  /** Source info: its frame rate goes into FRAME-RATE; its audio decides fallback CODECS. */
  source?: SourceInfo;
  /** FRAME-RATE of the variants (frames/s); default `source.video.frameRate`. */
  frameRate?: number;
  /** Poll interval of `start()` in milliseconds. Default 200 (a tenth of a segment). */
  pollIntervalMs?: number;
  logger?: MediaLogger;
  events?: PublisherEvents;
  /** Told about every object and live/final playlist written (see {@link MediaAnnouncer}); archive playlists are not announced. */
  announcer?: MediaAnnouncer;
}

/**
 * The packager loop between ffmpeg's work directory and object storage. See
 * {@link createHlsPublisher}.
 */
export interface HlsPublisher {
  /**
   * One pass: publish every new complete segment of every rendition, then the playlists,
   * then (once) the master. Calls are serialised. Resolves with the number of segments
   * published by this pass.
   *
   * @throws {PublisherError} on a stale work directory (a segment number already published);
   *   storage errors as is (state is only advanced after successful writes, so the next
   *   poll retries).
   */
  poll(): Promise<number>;
  /** Starts polling every `pollIntervalMs` in the background (errors go to `events.onError` and the logger). */
  start(): void;
  /** Stops background polling and waits for a running pass. */
  stop(): Promise<void>;
  /**
   * After ffmpeg has exited: a final pass (the last, possibly short, segment of each rendition
   * included), then every media playlist rewritten with EXT-X-ENDLIST (and as not-live for
   * caching), and the master if it was never written. Resolves with the final state.
   * With `{ endList: false }` (the publisher may reconnect: the reconnect window) the media
   * playlists are written as live instead, without EXT-X-ENDLIST, and the state is not ended: a
   * later publisher resuming this state continues the playlists after an EXT-X-DISCONTINUITY,
   * and its `finish()` ends them.
   */
  finish(opts?: { readonly endList?: boolean }): Promise<PublisherState>;
  /** A deep copy of the current state (safe to JSON-serialise and heartbeat). */
  state(): PublisherState;
  /** The callbacks (mutable: assign after creation if convenient). */
  events: PublisherEvents;
}

/** A publishing invariant was violated (stale work directory, unsafe segment name). */
export class PublisherError extends Error {
  override readonly name = 'PublisherError';
}

/** Segments per archive playlist (`archive_<k>.m3u8` holds MSNs `k*ARCHIVE_CHUNK_SEGMENTS ..`): bounds the bytes rewritten per slide. */
export const ARCHIVE_CHUNK_SEGMENTS = 500;

/**
 * The `startNumber` for the next ffmpeg attempt: one past the highest published segment
 * number of any rendition (0 for a new session), so segment names are never reused.
 */
export function nextStartNumber(state: PublisherState | undefined): number {
  if (!state) return 0;
  return Math.max(-1, ...state.renditions.map((r) => r.lastSequence)) + 1;
}

/** The init segment names used so far (in order), across renditions; the next attempt's name must differ. */
export function nextAttemptNumber(state: PublisherState | undefined): number {
  if (!state) return 1;
  return Math.max(0, ...state.renditions.map((r) => r.initSegments.length)) + 1;
}

function emptyState(keyPrefix: string, ladder: readonly Rendition[], frameRate: number | undefined): PublisherState {
  const s: PublisherState = {
    version: 1,
    keyPrefix,
    renditions: ladder.map((rendition) => ({ rendition: { ...rendition }, segments: [], lastSequence: -1, initSegments: [] })),
    masterWritten: false,
    ended: false,
  };
  if (frameRate !== undefined) s.frameRate = frameRate;
  return s;
}

const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/**
 * Variant attributes for one rendition (8216bis §4.4.6.2), in bit/s.
 *
 * - `vod` with measured segment sizes: BANDWIDTH = measured peak segment bit rate,
 *   AVERAGE-BANDWIDTH = measured average (exact: all segments exist).
 * - live encode: BANDWIDTH = (VBV maxrate + audio), AVERAGE = (target + audio).
 * - live passthrough: BANDWIDTH = measured peak x 1.1 when segments are known (the source's
 *   encoder is not ours), else (source bitrate x 1.1 + audio); AVERAGE = measured average,
 *   else (source bitrate + audio).
 */
export function variantBandwidth(
  rendition: Rendition,
  segments: readonly PlaylistSegment[],
  mode: 'live' | 'vod',
): { bandwidth: number; averageBandwidth: number } {
  const measured = measureBitrates(segments);
  const estimated = {
    bandwidth: (rendition.maxrateKbps + rendition.audioBitrateKbps) * 1000,
    averageBandwidth: (rendition.videoBitrateKbps + rendition.audioBitrateKbps) * 1000,
  };
  if (mode === 'vod') return measured ? { bandwidth: measured.peak, averageBandwidth: measured.average } : estimated;
  if (rendition.passthrough && measured) {
    return { bandwidth: Math.round(measured.peak * 1.1), averageBandwidth: measured.average };
  }
  return estimated;
}

/**
 * The codecs of a rendition for CODECS: read from its (latest) init segment in storage, so
 * they are exactly what the encoder or the source wrote; falls back to the ladder's
 * `codecString` (+ `mp4a.40.2` when there is audio).
 */
export async function renditionCodecs(
  storage: ObjectStorage,
  keyPrefix: string,
  r: RenditionPublishState,
  hasAudio: boolean,
): Promise<string[]> {
  const init = r.initSegments.at(-1);
  if (init) {
    try {
      const bytes = await storage.read(`${keyPrefix}/${r.rendition.name}/${init}`);
      if (bytes) {
        const codecs = codecsFromInitSegment(bytes).filter((c) => /^(avc[13]|mp4a)\./.test(c));
        if (codecs.length > 0) return codecs;
      }
    } catch {
      // fall through to the ladder's value
    }
  }
  return hasAudio ? [r.rendition.codecString, 'mp4a.40.2'] : [r.rendition.codecString];
}

/**
 * What a master playlist declares of in-band closed captions ({@link masterClosedCaptionsOf}),
 * from a rendition's latest segment and its init segment as stored: x264 carries the source's
 * CEA-608 captions into every encoded rendition and a passthrough keeps them, so one rendition
 * tells. undefined when they cannot be read (missing, encrypted, not H.264): then the master
 * says nothing of captions, as before. Never throws.
 */
export async function renditionClosedCaptions(storage: ObjectStorage, keyPrefix: string, r: RenditionPublishState): Promise<MasterClosedCaptions | undefined> {
  const segment = r.segments.at(-1);
  const init = segment?.map ?? r.initSegments.at(-1);
  if (!segment || !init) return undefined;
  try {
    const [initBytes, bytes] = await Promise.all([
      storage.read(`${keyPrefix}/${r.rendition.name}/${init}`),
      storage.read(`${keyPrefix}/${r.rendition.name}/${segment.uri}`),
    ]);
    return initBytes && bytes ? masterClosedCaptionsOf(detectInbandCaptions(initBytes, bytes)) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Creates the HLS publisher: the packager loop between ffmpeg's work directory and storage.
 *
 * Each pass reads `<outputDir>/<rendition>/ffmpeg.m3u8` (ffmpeg lists a segment only once it
 * is complete, and renames its playlist into place thanks to `-hls_flags temp_file`); for
 * every segment it has not published yet it
 * 1. uploads the init segment (once per attempt) and the segment (`writeSegment`), FIRST;
 * 2. then rewrites OUR playlist `<prefix>/<rendition>/index.m3u8` (EVENT, version 7, with
 *    EXT-X-MAP and EXT-X-PROGRAM-DATE-TIME; `writePlaylist`, live);
 * and, once every rendition has a segment, writes `<prefix>/master.m3u8` (once).
 * This is the order RFC 8216bis §6.2.1 requires: a client never sees a URI before its object.
 *
 * Resume: with `resume`, playlists continue with the published segments; the first new
 * segment of each rendition is marked EXT-X-DISCONTINUITY (new timestamps, new init
 * segment: 8216bis §4.4.4.3) and gets a fresh EXT-X-MAP and PROGRAM-DATE-TIME. Start ffmpeg
 * with `startNumber = nextStartNumber(state)` and a new init segment name, in a fresh
 * `outputDir`.
 */
export function createHlsPublisher(opts: HlsPublisherOptions): HlsPublisher {
  const { storage, outputDir, keyPrefix, ladder, logger } = opts;
  const frameRate = opts.frameRate ?? opts.source?.video?.frameRate ?? opts.resume?.frameRate;
  const hasAudio = opts.source ? opts.source.audio !== undefined : true;
  const state: PublisherState = emptyState(keyPrefix, ladder, frameRate);
  if (opts.resume) {
    state.masterWritten = opts.resume.masterWritten;
    for (const r of state.renditions) {
      const prev = opts.resume.renditions.find((p) => p.rendition.name === r.rendition.name);
      if (!prev) continue;
      r.segments = prev.segments.map((s) => ({ ...s }));
      r.lastSequence = prev.lastSequence;
      r.initSegments = [...prev.initSegments];
      if (prev.codecs) r.codecs = [...prev.codecs];
    }
    for (const p of opts.resume.renditions) {
      if (!ladder.some((r) => r.name === p.rendition.name)) {
        logger?.warn?.({ rendition: p.rendition.name }, 'resumed state has a rendition that is not in the ladder; ignored');
      }
    }
  }

  // per attempt (this publisher instance), in memory only
  const consumed = new Map<string, number>(); // ffmpeg playlist entries processed
  const attemptInits = new Set<string>(); // `${rendition}/${init}` uploaded by this attempt
  const dirty = new Set<string>(); // renditions whose playlist lags their segments
  const resumedWithSegments = new Set(state.renditions.filter((r) => r.segments.length > 0).map((r) => r.rendition.name));
  const pendingEvents: Array<[RenditionName, PlaylistSegment]> = [];
  const events: PublisherEvents = opts.events ?? {};

  async function writeMediaPlaylist(r: RenditionPublishState, ended: boolean) {
    const text = renderMediaPlaylist({ segments: r.segments, playlistType: 'EVENT', endList: ended });
    await storage.writePlaylist(mediaPlaylistKey(keyPrefix, r.rendition.name), text, { live: !ended });
    announceSafely(opts.announcer, logger, (a) => a.playlist(`${r.rendition.name}/index.m3u8`, text, !ended));
  }

  async function publishRendition(r: RenditionPublishState): Promise<number> {
    const name = r.rendition.name;
    const dir = path.join(outputDir, name);
    let text: string;
    try {
      text = await readFile(path.join(dir, FFMPEG_PLAYLIST_NAME), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0; // ffmpeg has not cut a segment yet
      throw err;
    }
    // drop a trailing partial line (only possible without temp_file): never act on a cut URI
    if (!text.endsWith('\n')) text = text.slice(0, text.lastIndexOf('\n') + 1);
    const ffmpegList = parseMediaPlaylist(text);
    const done = consumed.get(name) ?? 0;
    let published = 0;
    for (const seg of ffmpegList.segments.slice(done)) {
      if (!SAFE_NAME.test(seg.uri) || (seg.map !== undefined && !SAFE_NAME.test(seg.map))) {
        throw new PublisherError(`unsafe segment name in ffmpeg playlist: ${JSON.stringify(seg.uri)}`);
      }
      if (seg.sequence <= r.lastSequence) {
        throw new PublisherError(
          `${name}: segment ${seg.sequence} is already published (last ${r.lastSequence}): stale outputDir or wrong startNumber`,
        );
      }
      if (seg.map !== undefined && !attemptInits.has(`${name}/${seg.map}`)) {
        const initFile = path.join(dir, seg.map);
        await storage.writeSegment(`${keyPrefix}/${name}/${seg.map}`, initFile);
        if (opts.announcer) {
          const initSize = (await stat(initFile)).size;
          announceSafely(opts.announcer, logger, (a) => a.object('init', `${name}/${seg.map}`, initSize));
        }
        attemptInits.add(`${name}/${seg.map}`);
        if (!r.initSegments.includes(seg.map)) r.initSegments.push(seg.map);
        r.codecs = undefined;
      }
      const local = path.join(dir, seg.uri);
      const bytes = (await stat(local)).size;
      await storage.writeSegment(`${keyPrefix}/${name}/${seg.uri}`, local);
      announceSafely(opts.announcer, logger, (a) => a.object('segment', `${name}/${seg.uri}`, bytes));
      const prev = r.segments.at(-1);
      const entry: PlaylistSegment = {
        uri: seg.uri,
        duration: seg.duration,
        sequence: seg.sequence,
        discontinuity:
          (prev !== undefined && resumedWithSegments.has(name) && done + published === 0) ||
          (prev !== undefined && prev.map !== seg.map),
        bytes,
      };
      if (seg.map !== undefined) entry.map = seg.map;
      if (seg.programDateTime !== undefined) entry.programDateTime = seg.programDateTime;
      r.segments.push(entry);
      r.lastSequence = seg.sequence;
      consumed.set(name, done + ++published);
      dirty.add(name);
      pendingEvents.push([name, entry]);
    }
    if (dirty.has(name)) {
      await writeMediaPlaylist(r, false);
      dirty.delete(name);
    }
    return published;
  }

  async function writeMaster(renditions: RenditionPublishState[]) {
    const variants: VariantStream[] = [];
    for (const r of renditions) {
      r.codecs ??= await renditionCodecs(storage, keyPrefix, r, hasAudio);
      const v: VariantStream = {
        uri: `${r.rendition.name}/index.m3u8`,
        ...variantBandwidth(r.rendition, r.segments, 'live'),
        width: r.rendition.width,
        height: r.rendition.height,
        codecs: r.codecs,
      };
      if (frameRate !== undefined) v.frameRate = frameRate;
      variants.push(v);
    }
    const key = masterPlaylistKey(keyPrefix);
    const closedCaptions = await renditionClosedCaptions(storage, keyPrefix, renditions[0]!);
    const text = renderMasterPlaylist(variants, closedCaptions ? { closedCaptions } : {});
    await storage.writePlaylist(key, text, { live: true });
    announceSafely(opts.announcer, logger, (a) => a.playlist('master.m3u8', text, true));
    state.masterWritten = true;
    logger?.info?.({ key, variants: variants.length }, 'master playlist written');
    events.onMasterWritten?.(key);
  }

  function flushEvents() {
    const notYet: typeof pendingEvents = [];
    for (const [name, seg] of pendingEvents.splice(0)) {
      if (dirty.has(name)) {
        notYet.push([name, seg]); // its playlist write failed: report after the retry
        continue;
      }
      try {
        events.onSegment?.(name, seg);
      } catch (err) {
        logger?.warn?.({ err, rendition: name }, 'onSegment listener threw');
      }
    }
    pendingEvents.push(...notYet);
  }

  async function pollOnce(): Promise<number> {
    if (state.ended) return 0;
    // allSettled: a failing rendition must not leave others running into the next pass
    const results = await Promise.allSettled(state.renditions.map((r) => publishRendition(r)));
    flushEvents();
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const counts = results.map((r) => (r.status === 'fulfilled' ? r.value : 0));
    if (!state.masterWritten && state.renditions.every((r) => r.segments.length > 0)) await writeMaster(state.renditions);
    const n = counts.reduce((a, b) => a + b, 0);
    if (n > 0) logger?.debug?.({ keyPrefix, segments: n }, 'segments published');
    return n;
  }

  const poller = createSerialPoller(pollOnce, opts.pollIntervalMs ?? 200, (err: unknown) => {
    logger?.error?.({ err, keyPrefix }, 'publisher poll failed');
    events.onError?.(err);
  });
  const poll = poller.run;

  const publisher: HlsPublisher = {
    poll,
    start() {
      poller.start();
    },
    async stop() {
      await poller.stop();
    },
    async finish(opts) {
      const endList = opts?.endList ?? true;
      await publisher.stop();
      await poll();
      const withSegments = state.renditions.filter((r) => r.segments.length > 0);
      for (const r of withSegments) await writeMediaPlaylist(r, endList);
      if (!state.masterWritten && withSegments.length > 0) await writeMaster(withSegments);
      state.ended = endList;
      return publisher.state();
    },
    state: () => structuredClone(state),
    events,
  };
  return publisher;
}

/** Options of {@link loadPublisherState}. */
export interface LoadPublisherStateOptions {
  /** `stat` every segment to record its size (needed for measured VOD bandwidth). Default true. */
  measureBytes?: boolean;
  /** Frame rate to record in the state (frames/s). */
  frameRate?: number;
}

/**
 * Rebuilds a {@link PublisherState} from the playlists already in storage
 * (`<prefix>/<rendition>/index.m3u8`, `<prefix>/master.m3u8`): the alternative resume path
 * when no heartbeat details survived, and the input of `packageVod` given only a ladder.
 * A rendition without a playlist starts empty. PROGRAM-DATE-TIME is known only where the
 * playlist states it (start and discontinuities). With a DVR window, the segments that slid out
 * are read first from the archive playlists `<name>/archive_0.m3u8`, `archive_1.m3u8`, … (up to
 * the first missing one); EXT-X-KEY lines come back as each segment's `key`, and the first
 * PART-TARGET and PART-HOLD-BACK found as `partTarget` and `partHoldBack`.
 *
 * @throws {PlaylistParseError} when a stored playlist is not readable.
 */
export async function loadPublisherState(
  storage: ObjectStorage,
  keyPrefix: string,
  ladder: readonly Rendition[],
  options: LoadPublisherStateOptions = {},
): Promise<PublisherState> {
  const state = emptyState(keyPrefix, ladder, options.frameRate);
  let endedAll = true;
  let any = false;
  for (const r of state.renditions) {
    const text = await storage.read(mediaPlaylistKey(keyPrefix, r.rendition.name));
    if (!text) {
      endedAll = false;
      continue;
    }
    any = true;
    const pl = parseMediaPlaylist(text.toString('utf8'));
    endedAll &&= pl.endList;
    if (state.partTarget === undefined && pl.partTarget !== undefined) state.partTarget = pl.partTarget;
    if (state.partHoldBack === undefined && pl.partHoldBack !== undefined) state.partHoldBack = pl.partHoldBack;
    // segments that slid out of a DVR window are listed in the archive playlists (kept for VOD)
    const archived: PlaylistSegment[] = [];
    for (let chunk = 0; ; chunk++) {
      const a = await storage.read(archivePlaylistKey(keyPrefix, r.rendition.name, chunk));
      if (!a) break;
      archived.push(...parseMediaPlaylist(a.toString('utf8')).segments.filter((s) => s.sequence < (pl.segments[0]?.sequence ?? Infinity)));
    }
    r.segments = [...archived, ...pl.segments];
    const archivedDiscontinuities = archived.filter((s) => s.discontinuity).length;
    if (pl.discontinuitySequence - archivedDiscontinuities > 0) r.discontinuitySequence = pl.discontinuitySequence - archivedDiscontinuities;
    if (options.measureBytes ?? true) {
      for (const seg of r.segments) {
        const info = await storage.stat(`${keyPrefix}/${r.rendition.name}/${seg.uri}`);
        if (info) seg.bytes = info.size;
      }
    }
    r.lastSequence = r.segments.at(-1)?.sequence ?? -1;
    for (const seg of r.segments) if (seg.map !== undefined && !r.initSegments.includes(seg.map)) r.initSegments.push(seg.map);
  }
  state.masterWritten = (await storage.stat(masterPlaylistKey(keyPrefix))) !== null;
  state.ended = any && endedAll;
  return state;
}
