import { mkdir, open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { FRAGMENTED_STREAM_NAME } from './args.js';
import { encryptAes128 } from './encryption.js';
import {
  archivePlaylistKey,
  llPartUri,
  llSegmentUri,
  masterPlaylistKey,
  mediaPlaylistKey,
  type PlaylistPart,
  type PlaylistSegment,
  renderLowLatencyPlaylist,
  renderMasterPlaylist,
  renderMediaPlaylist,
  type RenditionReport,
  type SegmentEncryption,
  type SegmentKey,
  segmentKeying,
  type VariantStream,
} from './formats/index.js';
import { Fmp4Splitter, parseFragment, parseInitTracks, type Fmp4Chunk, type Fmp4FragmentInfo, type Fmp4Track } from './fmp4.js';
import type { Rendition, RenditionName } from './ladder.js';
import {
  ARCHIVE_CHUNK_SEGMENTS,
  PublisherError,
  announceSafely,
  nextAttemptNumber,
  nextStartNumber,
  renditionClosedCaptions,
  renditionCodecs,
  variantBandwidth,
  type HlsPublisher,
  type HlsPublisherOptions,
  type PublisherState,
  type RenditionPublishState,
} from './publisher.js';
import { watchOutputDirs } from './output-watch.js';
import { DEFAULT_PART_HOLD_BACK_PARTS, partTargetSeconds } from './part-plan.js';
import { createSerialPoller } from './poller.js';

/** Options of {@link createLlHlsPublisher}: those of the HLS publisher plus the low-latency shape. */
export interface LlHlsPublisherOptions extends HlsPublisherOptions {
  /** Nominal segment length in seconds (a whole number of fixed GOPs; `buildLowLatencyLadderArgs`' `segmentSeconds`). */
  segmentSeconds: number;
  /** Frames per part (`buildLowLatencyLadderArgs`' `partFrames`). */
  partFrames: number;
  /**
   * PART-TARGET in seconds; default `partTargetSeconds(partFrames, frameRate)`. A resumed
   * attempt passes the session's (`planLowLatencyParts`), which must not be below one part.
   */
  partTarget?: number;
  /** Init segment object name of this attempt, e.g. `init_2.mp4`; default `init_<nextAttemptNumber(resume)>.mp4`. */
  initSegmentName?: string;
  /** MSN (and file number) of this attempt's first segment; default `nextStartNumber(resume)`. */
  startNumber?: number;
  /** Parts are listed for segments starting within this many target durations of the end. Default 3 (RFC 8216bis §4.4.4.9). */
  partRetentionTargetDurations?: number;
  /**
   * PART-HOLD-BACK in parts (multiples of PART-TARGET): how far behind the newest part players
   * start and stay (hls.js, Safari and Shaka take it as their target latency). An integer from
   * 2 (the minimum RFC 8216bis §4.4.3.8 allows) to 6; default
   * {@link DEFAULT_PART_HOLD_BACK_PARTS}. Larger buys players more buffer against late parts.
   */
  partHoldBackParts?: number;
  /**
   * Encrypt every part and every segment with METHOD=AES-128 (RFC 8216bis §4.4.4.4, §5.2); see
   * {@link createLlHlsPublisher}. Absent: clear media. Init segments are never encrypted.
   */
  encryption?: SegmentEncryption;
  /**
   * DVR window in seconds: the live media playlists list only the most recent complete segments
   * that add up to at least this long (a sliding window: EXT-X-MEDIA-SEQUENCE and
   * EXT-X-DISCONTINUITY-SEQUENCE advance, no EXT-X-PLAYLIST-TYPE). Default: unbounded (every
   * segment, PLAYLIST-TYPE EVENT). Must be at least 3 x `segmentSeconds` (RFC 8216bis §6.2.2).
   */
  dvrWindowSeconds?: number;
  /**
   * What becomes of the segments that slid out of the DVR window:
   * - `archive` (default): they stay in storage and are listed in archive playlists
   *   (`<name>/archive_<k>.m3u8`, see {@link archivePlaylistKey}), written BEFORE the live
   *   playlist drops them, so `loadPublisherState` (resume, VOD) still sees the whole broadcast;
   * - `delete`: `storage.deleteObjects` removes the segment and its parts AFTER a live playlist
   *   without them was written, once they have stayed available for the segment's duration plus
   *   the playlist's duration (RFC 8216bis §6.2.2); a VOD then covers only the window.
   */
  slidOutSegments?: 'archive' | 'delete';
  /** Clock in ms (default `Date.now`), for the §6.2.2 availability delay of deletions; tests inject one. */
  now?: () => number;
}

/**
 * The segments of a live playlist with a DVR window: the index of the first listed segment of
 * `segments` (in order), dropping from the start while what remains is still at least
 * `max(windowSeconds, minSeconds)` long. Never drops the last segment. Pure.
 */
export function dvrWindowStart(segments: readonly Pick<PlaylistSegment, 'duration'>[], windowSeconds: number, minSeconds = 0): number {
  const keep = Math.max(windowSeconds, minSeconds);
  let total = segments.reduce((n, s) => n + s.duration, 0);
  let start = 0;
  while (start < segments.length - 1 && total - segments[start]!.duration >= keep - 1e-6) {
    total -= segments[start]!.duration;
    start++;
  }
  return start;
}

interface HeldPart {
  bytes: Buffer[];
  duration: number;
  independent: boolean;
  start: number;
}

interface OpenSegment {
  sequence: number;
  start: number;
  duration: number;
  parts: PlaylistPart[];
  /** clear bytes of the parts (the segment is encrypted as a whole when it closes) */
  bytes: Buffer[];
  discontinuity: boolean;
  programDateTime?: string;
  /** EXT-X-KEY and key material when encrypting */
  key?: { tag: SegmentKey; key: Uint8Array; iv: Uint8Array };
}

interface Runtime {
  file?: FileHandle;
  offset: number;
  splitter: Fmp4Splitter;
  /** units cut from the stream and not handled yet (kept across passes when storage fails) */
  queue: Fmp4Chunk[];
  tracks?: Fmp4Track[];
  initWritten: boolean;
  /** parts of closed segments still listed (retention window), by MSN */
  partsBySeq: Map<number, PlaylistPart[]>;
  open?: OpenSegment;
  held?: HeldPart;
  nextSequence: number;
  /** wall clock (ms) of media time `anchorMedia` (s) for PROGRAM-DATE-TIME */
  anchorWallMs?: number;
  anchorMedia?: number;
  firstOfAttempt: boolean;
  /** MSN of the first segment the live playlist lists (DVR window); segments before it slid out */
  windowSeq: number;
  /** part object names per closed segment, kept until the segment is deleted (`delete` mode) */
  partUrisBySeq: Map<number, string[]>;
  /** objects removed from the playlist, deletable once `due` (ms) has passed (RFC 8216bis §6.2.2) */
  pendingDeletes: Array<{ keys: string[]; due: number }>;
  /** archive chunks whose playlist must be (re)written */
  archiveDirty: Set<number>;
}

/**
 * Creates the directories ffmpeg writes the low-latency streams into
 * (`<outputDir>/<rendition>/`): the mp4 muxer, unlike the hls muxer, does not create them.
 */
export async function prepareLowLatencyOutputDirs(outputDir: string, ladder: readonly Rendition[]): Promise<void> {
  for (const r of ladder) await mkdir(path.join(outputDir, r.name), { recursive: true });
}

/**
 * Creates the LOW-LATENCY HLS publisher (our own packager): it tails the fragmented MP4 that
 * ffmpeg writes per rendition (`buildLowLatencyLadderArgs`, `<outputDir>/<name>/stream.mp4`),
 * once started in a pass whenever ffmpeg writes to it (`watchOutputDirs`) and every
 * `pollIntervalMs` (default 100), and for every rendition
 *
 * 1. uploads the init segment (`ftyp`+`moov`) as `<name>/<initSegmentName>`;
 * 2. uploads each fragment (`moof`+`mdat`) as one Partial Segment `<name>/seg_NNNNN.partK.m4s`
 *    (a resumed attempt adds `.aN` before `.m4s` so names are never reused, see below);
 * 3. cuts a segment at a fragment that starts with a keyframe once the open segment is at least
 *    `segmentSeconds - PART-TARGET/2` long, and uploads the full segment `<name>/seg_NNNNN.m4s`,
 *    byte for byte the concatenation of its parts (of their clear bytes when encrypting);
 * 4. THEN rewrites `<name>/index.m3u8` with {@link renderLowLatencyPlaylist}: every complete
 *    segment (regular clients keep working on the same playlist), parts for the segments in the
 *    last `partRetentionTargetDurations` target durations, the open segment's parts, an
 *    EXT-X-PRELOAD-HINT for the next part, EXT-X-RENDITION-REPORTs for the other renditions;
 * 5. writes `master.m3u8` once every rendition has a complete segment.
 *
 * Objects before playlists, always (RFC 8216bis §6.2.1). Part durations come from the video
 * track's sample durations (trun), INDEPENDENT=YES from its first sample's sync flag.
 * A fragment shorter than 85% of PART-TARGET that is neither independent nor the last of its
 * segment (only possible when ffmpeg cuts unexpectedly) is held back and merged with the next
 * fragment when the sum fits in PART-TARGET (RFC 8216bis §4.4.4.9 duration rule).
 *
 * PROGRAM-DATE-TIME: wall clock at which the first fragment of the attempt was read, minus its
 * duration, extrapolated along media time; written on the first segment and after each
 * discontinuity, like the HLS publisher.
 *
 * Resume (Temporal retry): as {@link createHlsPublisher}; the first segment of the attempt is
 * marked EXT-X-DISCONTINUITY with the new init segment. Since the crashed attempt may have
 * published parts of the segment number this attempt starts with, a resumed attempt's part
 * names carry `.a<attempt>` (`seg_00012.part0.a2.m4s`).
 *
 * Encryption (`encryption`, RFC 8216bis §4.4.4.4 / §5.2 METHOD=AES-128): the segment with MSN
 * `n` is encrypted with the key of period `floor(n / rotateEverySegments)` (0: one key) and the
 * IV `n` as a 128-bit big-endian integer: the IV RFC 8216bis §5.2 implies when EXT-X-KEY has
 * no IV attribute, so the playlist has one EXT-X-KEY (without IV) per key period, before the
 * parts and URI of its first segment, not one per segment (`segmentHeadLines`).
 * Each part is a separate resource and is encrypted on its own (AES-128-CBC, PKCS#7) with its
 * parent segment's key and IV: 8216bis lets EXT-X-KEY apply to the parts listed after it, and
 * hls.js decrypts a part with its parent fragment's `decryptdata` (key + IV), each part as a
 * whole. The full segment is encrypted from the clear concatenation of its parts, so it is no
 * longer byte for byte the concatenation of the stored parts. Init segments stay clear: the
 * EXT-X-MAP is written before the first EXT-X-KEY, and after a discontinuity behind an
 * `#EXT-X-KEY:METHOD=NONE` (an EXT-X-KEY applies to every EXT-X-MAP after it). Keys are only
 * ever held in memory (`keyFor`).
 *
 * DVR window (`dvrWindowSeconds`): see the option. Parts stay near the live edge as without it.
 *
 * The returned object has the {@link HlsPublisher} interface; `finish()` publishes the last
 * part and segment and writes ENDLIST playlists without parts (nothing will be added).
 * `poll()` rejects with `PublisherError` (segment number already published, fragment before the
 * init segment), `Mp4ParseError` (ffmpeg wrote something that is not fragmented MP4), or the
 * storage's error (retried by the next pass).
 *
 * @throws {RangeError} when no frame rate is known (`frameRate`, `source.video.frameRate` or
 *   `resume.frameRate`): PART-TARGET is derived from it; when `dvrWindowSeconds` is below
 *   3 x `segmentSeconds` or `slidOutSegments` is unknown; when `partHoldBackParts` is not an
 *   integer from 2 to 6; when `partTarget` is shorter than one part.
 * @throws {SegmentEncryptionError} when `encryption.rotateEverySegments` is not an integer >= 0.
 */
export function createLlHlsPublisher(opts: LlHlsPublisherOptions): HlsPublisher {
  const { storage, outputDir, keyPrefix, ladder, logger } = opts;
  const frameRate = opts.frameRate ?? opts.source?.video?.frameRate ?? opts.resume?.frameRate;
  if (!frameRate || !(frameRate > 0)) throw new RangeError('createLlHlsPublisher needs a frame rate (frameRate or source.video.frameRate)');
  const onePart = partTargetSeconds(opts.partFrames, frameRate);
  const partTarget = opts.partTarget ?? onePart;
  if (!(Number.isFinite(partTarget) && partTarget >= onePart - 1e-6)) {
    throw new RangeError(`partTarget must be at least one part (${onePart} s: ${opts.partFrames} frames at ${frameRate} fps), got ${partTarget}`);
  }
  const partHoldBackParts = opts.partHoldBackParts ?? DEFAULT_PART_HOLD_BACK_PARTS;
  if (!Number.isInteger(partHoldBackParts) || partHoldBackParts < 2 || partHoldBackParts > 6) throw new RangeError(`partHoldBackParts must be an integer from 2 to 6, got ${partHoldBackParts}`);
  const partHoldBack = partHoldBackParts * partTarget;
  const hasAudio = opts.source ? opts.source.audio !== undefined : true;
  const initName = opts.initSegmentName ?? `init_${nextAttemptNumber(opts.resume)}.mp4`;
  const startNumber = opts.startNumber ?? nextStartNumber(opts.resume);
  const retention = opts.partRetentionTargetDurations ?? 3;
  const minTd = Math.max(1, Math.ceil(opts.segmentSeconds));
  const attempt = opts.resume && opts.resume.renditions.some((r) => r.segments.length > 0) ? nextAttemptNumber(opts.resume) : 0;
  const partUri = (msn: number, i: number) => llPartUri(msn, i, attempt);
  const keying = opts.encryption ? segmentKeying(opts.encryption) : undefined;
  const dvr = opts.dvrWindowSeconds;
  if (dvr !== undefined && !(Number.isFinite(dvr) && dvr >= 3 * opts.segmentSeconds)) {
    throw new RangeError(`dvrWindowSeconds must be a finite number >= 3 x segmentSeconds (${3 * opts.segmentSeconds}), got ${dvr}`);
  }
  const slidOut = opts.slidOutSegments ?? 'archive';
  if (slidOut !== 'archive' && slidOut !== 'delete') throw new RangeError(`slidOutSegments must be 'archive' or 'delete', got ${String(slidOut)}`);
  const now = opts.now ?? Date.now;

  const state: PublisherState = {
    version: 1,
    keyPrefix,
    renditions: ladder.map((rendition) => ({ rendition: { ...rendition }, segments: [], lastSequence: -1, initSegments: [] })),
    masterWritten: opts.resume?.masterWritten ?? false,
    ended: false,
    frameRate,
    partTarget,
    partHoldBack,
  };
  if (opts.resume) {
    for (const r of state.renditions) {
      const prev = opts.resume.renditions.find((p) => p.rendition.name === r.rendition.name);
      if (!prev) continue;
      r.segments = prev.segments.map((s) => ({ ...s }));
      r.lastSequence = prev.lastSequence;
      r.initSegments = [...prev.initSegments];
      if (prev.codecs) r.codecs = [...prev.codecs];
    }
  }
  const runtimes = new Map<string, Runtime>(
    state.renditions.map((r) => [
      r.rendition.name,
      {
        offset: 0, splitter: new Fmp4Splitter(), queue: [], initWritten: false, partsBySeq: new Map(), nextSequence: startNumber, firstOfAttempt: true,
        windowSeq: r.segments[0]?.sequence ?? startNumber, partUrisBySeq: new Map(), pendingDeletes: [], archiveDirty: new Set(),
      },
    ]),
  );
  const events = opts.events ?? {};
  const dirty = new Set<string>();
  const pendingEvents: Array<[RenditionName, PlaylistSegment]> = [];

  function pdtFor(rt: Runtime, mediaStart: number): string | undefined {
    if (rt.anchorWallMs === undefined || rt.anchorMedia === undefined) return undefined;
    return new Date(Math.round(rt.anchorWallMs + (mediaStart - rt.anchorMedia) * 1000)).toISOString();
  }

  async function publishPart(r: RenditionPublishState, rt: Runtime, part: HeldPart) {
    const name = r.rendition.name;
    if (!rt.open) {
      const prevSeg = r.segments.at(-1);
      rt.open = {
        sequence: rt.nextSequence++,
        start: part.start,
        duration: 0,
        parts: [],
        bytes: [],
        discontinuity: rt.firstOfAttempt && prevSeg !== undefined,
      };
      const pdt = pdtFor(rt, part.start);
      if (pdt) rt.open.programDateTime = pdt;
      if (keying) rt.open.key = keying(rt.open.sequence);
      rt.firstOfAttempt = false;
      if (rt.open.sequence <= r.lastSequence) {
        throw new PublisherError(`${name}: segment ${rt.open.sequence} is already published (last ${r.lastSequence}): wrong startNumber`);
      }
    }
    const open = rt.open;
    const uri = partUri(open.sequence, open.parts.length);
    const bytes = Buffer.concat(part.bytes);
    // a part is a resource of its own: encrypted on its own, with its parent segment's key and IV
    // (what hls.js applies to a part: the parent's decryptdata), PKCS#7-padded
    const stored = open.key ? encryptAes128(bytes, open.key.key, open.key.iv) : bytes;
    await storage.writeSegment(`${keyPrefix}/${name}/${uri}`, stored);
    announceSafely(opts.announcer, logger, (a) => a.object('part', `${name}/${uri}`, stored.length, stored));
    open.parts.push({ uri, duration: part.duration, independent: part.independent });
    open.bytes.push(bytes);
    open.duration += part.duration;
    dirty.add(name);
  }

  async function closeSegment(r: RenditionPublishState, rt: Runtime) {
    const open = rt.open;
    if (!open || open.parts.length === 0) return;
    const name = r.rendition.name;
    const uri = llSegmentUri(open.sequence);
    const clear = Buffer.concat(open.bytes);
    const bytes = open.key ? encryptAes128(clear, open.key.key, open.key.iv) : clear;
    await storage.writeSegment(`${keyPrefix}/${name}/${uri}`, bytes);
    announceSafely(opts.announcer, logger, (a) => a.object('segment', `${name}/${uri}`, bytes.length, bytes));
    const entry: PlaylistSegment = {
      uri,
      duration: 0,
      sequence: open.sequence,
      discontinuity: open.discontinuity,
      map: initName,
      bytes: bytes.length,
    };
    // EXTINF = the sum of the parts as rendered, so `part-sum` holds exactly
    entry.duration = Number(open.parts.reduce((n, p) => n + Math.floor(p.duration * 1e5 + 1e-3) / 1e5, 0).toFixed(6));
    if (open.programDateTime) entry.programDateTime = open.programDateTime;
    if (open.key) entry.key = open.key.tag;
    r.segments.push(entry);
    if (slidOut === 'delete') rt.partUrisBySeq.set(open.sequence, open.parts.map((p) => p.uri));
    r.lastSequence = open.sequence;
    rt.partsBySeq.set(open.sequence, open.parts);
    rt.open = undefined;
    dirty.add(name);
    pendingEvents.push([name, entry]);
  }

  /** Handles one fragment in stream order. */
  async function onFragment(r: RenditionPublishState, rt: Runtime, bytes: Buffer, info: Fmp4FragmentInfo) {
    if (rt.anchorWallMs === undefined) {
      rt.anchorWallMs = Date.now() - info.durationSeconds * 1000;
      rt.anchorMedia = info.startSeconds;
    }
    const startsSegment =
      info.independent &&
      (rt.open === undefined || (rt.open.parts.length > 0 && rt.open.duration + (rt.held?.duration ?? 0) >= opts.segmentSeconds - partTarget / 2));
    // Every step below mutates state only after its storage write succeeded, so a fragment whose
    // handling failed half-way (storage error) is handled again from where it stopped.
    if (rt.held) {
      const held = rt.held;
      if (!startsSegment && !info.independent && held.duration + info.durationSeconds <= partTarget + 1e-6) {
        // merge the short fragment with this one into one part (RFC 8216bis §4.4.4.9 85% rule)
        await publishPart(r, rt, { ...held, bytes: [...held.bytes, bytes], duration: held.duration + info.durationSeconds });
        rt.held = undefined;
        return;
      }
      if (!startsSegment) logger?.warn?.({ rendition: r.rendition.name, duration: held.duration, partTarget }, 'short part published mid-segment');
      await publishPart(r, rt, held);
      rt.held = undefined;
    }
    if (startsSegment) await closeSegment(r, rt);
    const part: HeldPart = { bytes: [bytes], duration: info.durationSeconds, independent: info.independent, start: info.startSeconds };
    if (info.durationSeconds > partTarget + 1e-6) {
      logger?.warn?.({ rendition: r.rendition.name, duration: info.durationSeconds, partTarget }, 'fragment longer than PART-TARGET');
    }
    if (!info.independent && info.durationSeconds < 0.85 * partTarget - 1e-6) {
      rt.held = part; // decided when the next fragment (or the end) comes
      return;
    }
    await publishPart(r, rt, part);
  }

  async function readRendition(r: RenditionPublishState): Promise<void> {
    const name = r.rendition.name;
    const rt = runtimes.get(name)!;
    if (!rt.file) {
      try {
        rt.file = await open(path.join(outputDir, name, FRAGMENTED_STREAM_NAME), 'r');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // ffmpeg has not started writing
        throw err;
      }
    }
    // units cut by an earlier pass whose handling failed (storage error) go first, in order
    await drain(r, rt);
    const size = (await rt.file.stat()).size;
    while (rt.offset < size) {
      const want = Math.min(size - rt.offset, 4 * 1024 * 1024);
      const buf = Buffer.alloc(want);
      const { bytesRead } = await rt.file.read(buf, 0, want, rt.offset);
      if (bytesRead === 0) break;
      rt.offset += bytesRead; // the splitter owns these bytes now, even if it throws
      rt.queue.push(...rt.splitter.push(buf.subarray(0, bytesRead)));
      await drain(r, rt);
    }
  }

  /** Handles the queued units of a rendition in order; a unit leaves the queue once handled. */
  async function drain(r: RenditionPublishState, rt: Runtime): Promise<void> {
    const name = r.rendition.name;
    while (rt.queue.length > 0) {
      const c = rt.queue[0]!;
      if (c.kind === 'init') {
        const tracks = parseInitTracks(c.bytes);
        await storage.writeSegment(`${keyPrefix}/${name}/${initName}`, c.bytes);
        announceSafely(opts.announcer, logger, (a) => a.object('init', `${name}/${initName}`, c.bytes.length, c.bytes));
        rt.tracks = tracks;
        rt.initWritten = true;
        if (!r.initSegments.includes(initName)) r.initSegments.push(initName);
        r.codecs = undefined;
      } else {
        if (!rt.tracks) throw new PublisherError(`${name}: fragment before the init segment`);
        await onFragment(r, rt, c.bytes, parseFragment(c.bytes, rt.tracks));
      }
      rt.queue.shift();
    }
  }

  function lastPosition(r: RenditionPublishState): { msn: number; part?: number } | undefined {
    const rt = runtimes.get(r.rendition.name)!;
    if (rt.open && rt.open.parts.length > 0) return { msn: rt.open.sequence, part: rt.open.parts.length - 1 };
    const last = r.segments.at(-1);
    if (!last) return undefined;
    const parts = rt.partsBySeq.get(last.sequence);
    return parts ? { msn: last.sequence, part: parts.length - 1 } : { msn: last.sequence };
  }

  /**
   * The DVR window of a rendition: which segments the playlist lists, the discontinuities that
   * slid out, and the segments newly removed since the last playlist write.
   */
  function windowOf(r: RenditionPublishState, rt: Runtime, td: number) {
    const start = dvr !== undefined ? dvrWindowStart(r.segments, dvr, 3 * td) : 0;
    const removed = r.segments.slice(0, start);
    const listed = r.segments.slice(start);
    const discontinuitySequence = (r.discontinuitySequence ?? 0) + removed.filter((x) => x.discontinuity).length;
    const newlyRemoved = removed.filter((x) => x.sequence >= rt.windowSeq);
    return { listed, removed, newlyRemoved, discontinuitySequence };
  }

  /** Archive mode: writes the archive playlists of the newly removed segments BEFORE the live playlist drops them. */
  async function archiveRemoved(r: RenditionPublishState, rt: Runtime, removed: readonly PlaylistSegment[], newlyRemoved: readonly PlaylistSegment[]) {
    for (const x of newlyRemoved) rt.archiveDirty.add(Math.floor(x.sequence / ARCHIVE_CHUNK_SEGMENTS));
    for (const chunk of [...rt.archiveDirty].sort((a, b) => a - b)) {
      const segs = removed.filter((x) => Math.floor(x.sequence / ARCHIVE_CHUNK_SEGMENTS) === chunk);
      if (segs.length > 0) {
        await storage.writePlaylist(archivePlaylistKey(keyPrefix, r.rendition.name, chunk), renderMediaPlaylist({ segments: segs, endList: false }), { live: false });
      }
      rt.archiveDirty.delete(chunk);
    }
  }

  /**
   * After a playlist without them was written: delete mode schedules the removed segments (and
   * their parts) for deletion once they have been available for their duration plus the
   * playlist's (RFC 8216bis §6.2.2), forgets them, and deletes what is due.
   */
  async function afterPlaylistWritten(r: RenditionPublishState, rt: Runtime, w: ReturnType<typeof windowOf>) {
    const first = w.listed[0];
    if (first) rt.windowSeq = first.sequence;
    if (slidOut !== 'delete') return;
    if (w.removed.length > 0) {
      const listedSeconds = w.listed.reduce((n, x) => n + x.duration, 0);
      for (const x of w.removed) {
        const dir = `${keyPrefix}/${r.rendition.name}`;
        const keys = [`${dir}/${x.uri}`, ...(rt.partUrisBySeq.get(x.sequence) ?? []).map((u) => `${dir}/${u}`)];
        rt.partUrisBySeq.delete(x.sequence);
        rt.pendingDeletes.push({ keys, due: now() + (x.duration + listedSeconds) * 1000 });
      }
      r.segments = w.listed;
      r.discontinuitySequence = w.discontinuitySequence;
    }
    const due = rt.pendingDeletes.filter((d) => d.due <= now());
    if (due.length === 0) return;
    await storage.deleteObjects(due.flatMap((d) => d.keys));
    rt.pendingDeletes = rt.pendingDeletes.filter((d) => !due.includes(d));
    logger?.debug?.({ rendition: r.rendition.name, objects: due.reduce((n, d) => n + d.keys.length, 0) }, 'slid-out segments deleted');
  }

  async function writeLlPlaylist(r: RenditionPublishState) {
    const name = r.rendition.name;
    const rt = runtimes.get(name)!;
    // retention: parts only for segments starting within `retention` target durations of the end
    const td = Math.max(minTd, ...r.segments.map((s) => Math.ceil(Number(s.duration.toFixed(6)))));
    const w = windowOf(r, rt, td);
    if (slidOut === 'archive' && w.newlyRemoved.length > 0) await archiveRemoved(r, rt, w.removed, w.newlyRemoved);
    let fromEnd = rt.open?.duration ?? 0;
    const withParts = new Map<number, PlaylistPart[]>();
    for (let i = w.listed.length - 1; i >= 0; i--) {
      const s = w.listed[i]!;
      fromEnd += s.duration;
      const parts = rt.partsBySeq.get(s.sequence);
      if (!parts) break;
      if (fromEnd > retention * td + 1e-6) {
        for (const seq of rt.partsBySeq.keys()) if (seq <= s.sequence) rt.partsBySeq.delete(seq);
        break;
      }
      withParts.set(s.sequence, parts);
    }
    const reports: RenditionReport[] = [];
    for (const other of state.renditions) {
      if (other === r) continue;
      const pos = lastPosition(other);
      if (!pos) continue;
      reports.push({ uri: `../${other.rendition.name}/index.m3u8`, lastMsn: pos.msn, ...(pos.part !== undefined ? { lastPart: pos.part } : {}) });
    }
    const open = rt.open && rt.open.parts.length > 0 ? rt.open : undefined;
    const hint = open
      ? open.duration + partTarget / 2 >= opts.segmentSeconds
        ? partUri(open.sequence + 1, 0)
        : partUri(open.sequence, open.parts.length)
      : partUri(rt.open?.sequence ?? rt.nextSequence, 0); // an open segment whose first part's write failed: that part is next
    const text = renderLowLatencyPlaylist({
      segments: w.listed.map((s) => ({ ...s, ...(withParts.has(s.sequence) ? { parts: withParts.get(s.sequence)! } : {}) })),
      ...(open
        ? {
            open: {
              sequence: open.sequence,
              parts: open.parts,
              discontinuity: open.discontinuity,
              map: initName,
              ...(open.programDateTime ? { programDateTime: open.programDateTime } : {}),
              ...(open.key ? { key: open.key.tag } : {}),
            },
          }
        : {}),
      partTarget,
      partHoldBack,
      minTargetDuration: minTd,
      preloadHint: hint,
      renditionReports: reports,
      ...(dvr !== undefined ? { playlistType: null, discontinuitySequence: w.discontinuitySequence } : {}),
    });
    await storage.writePlaylist(mediaPlaylistKey(keyPrefix, name), text, { live: true });
    announceSafely(opts.announcer, logger, (a) => a.playlist(`${name}/index.m3u8`, text, true));
    await afterPlaylistWritten(r, rt, w);
  }

  /** The ENDLIST playlist of a rendition (finish): the same window, no parts, hint or reports (8216bis §4.4.5.3). */
  async function writeEndedPlaylist(r: RenditionPublishState) {
    const rt = runtimes.get(r.rendition.name)!;
    const td = Math.max(minTd, ...r.segments.map((s) => Math.ceil(Number(s.duration.toFixed(6)))));
    const w = windowOf(r, rt, td);
    if (slidOut === 'archive' && w.newlyRemoved.length > 0) await archiveRemoved(r, rt, w.removed, w.newlyRemoved);
    const text = renderMediaPlaylist({
      segments: w.listed,
      ...(dvr !== undefined ? { discontinuitySequence: w.discontinuitySequence } : { playlistType: 'EVENT' as const }),
      endList: true,
      targetDuration: td,
    });
    await storage.writePlaylist(mediaPlaylistKey(keyPrefix, r.rendition.name), text, { live: false });
    announceSafely(opts.announcer, logger, (a) => a.playlist(`${r.rendition.name}/index.m3u8`, text, false));
    await afterPlaylistWritten(r, rt, w);
  }

  async function writeMaster(renditions: RenditionPublishState[]) {
    const variants: VariantStream[] = [];
    for (const r of renditions) {
      r.codecs ??= await renditionCodecs(storage, keyPrefix, r, hasAudio);
      variants.push({
        uri: `${r.rendition.name}/index.m3u8`,
        ...variantBandwidth(r.rendition, r.segments, 'live'),
        width: r.rendition.width,
        height: r.rendition.height,
        codecs: r.codecs,
        frameRate: frameRate!,
      });
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
    for (const [name, seg] of pendingEvents.splice(0)) {
      try {
        events.onSegment?.(name, seg);
      } catch (err) {
        logger?.warn?.({ err, rendition: name }, 'onSegment listener threw');
      }
    }
  }

  let reportsReady = false;
  async function writeDirtyPlaylists() {
    // Hold the first playlists until every rendition has a part of this attempt, so each
    // playlist can carry a complete EXT-X-RENDITION-REPORT (with LAST-PART) for every other
    // rendition (8216bis §4.4.5.4); renditions start within a fraction of a second of each other.
    reportsReady ||= state.renditions.every((r) => lastPosition(r)?.part !== undefined);
    if (!reportsReady) return;
    for (const r of state.renditions) {
      if (!dirty.has(r.rendition.name)) continue;
      await writeLlPlaylist(r);
      dirty.delete(r.rendition.name);
    }
    if (dirty.size === 0) flushEvents();
  }

  async function pollOnce(): Promise<number> {
    if (state.ended) return 0;
    const before = state.renditions.reduce((n, r) => n + r.segments.length, 0);
    const results = await Promise.allSettled(state.renditions.map((r) => readRendition(r)));
    const failed = results.find((x): x is PromiseRejectedResult => x.status === 'rejected');
    await writeDirtyPlaylists();
    if (failed) throw failed.reason;
    if (!state.masterWritten && state.renditions.every((r) => r.segments.length > 0)) await writeMaster(state.renditions);
    return state.renditions.reduce((n, r) => n + r.segments.length, 0) - before;
  }

  const poller = createSerialPoller(pollOnce, opts.pollIntervalMs ?? 100, (err: unknown) => {
    logger?.error?.({ err, keyPrefix }, 'low-latency publisher poll failed');
    events.onError?.(err);
  });
  const poll = poller.run;
  let unwatch: (() => void) | undefined;

  const publisher: HlsPublisher = {
    poll,
    start() {
      poller.start();
      // a pass as soon as ffmpeg flushes a fragment, not up to a poll interval later
      unwatch ??= watchOutputDirs(ladder.map((r) => path.join(outputDir, r.name)), poller.nudge, logger);
    },
    async stop() {
      unwatch?.();
      unwatch = undefined;
      await poller.stop();
      for (const rt of runtimes.values()) {
        // reopened (at the same offset) by the next poll, e.g. finish()'s
        await rt.file?.close().catch(() => undefined);
        rt.file = undefined;
      }
    },
    async finish(opts) {
      const endList = opts?.endList ?? true;
      await publisher.stop();
      await poll();
      const run = async () => {
        for (const r of state.renditions) {
          const rt = runtimes.get(r.rendition.name)!;
          if (rt.held) {
            const held = rt.held;
            await publishPart(r, rt, held);
            rt.held = undefined;
          }
          await closeSegment(r, rt);
          await rt.file?.close().catch(() => undefined);
          rt.file = undefined;
        }
        dirty.clear();
        const withSegments = state.renditions.filter((r) => r.segments.length > 0);
        for (const r of withSegments) await (endList ? writeEndedPlaylist(r) : writeLlPlaylist(r));
        if (!state.masterWritten && withSegments.length > 0) await writeMaster(withSegments);
        flushEvents();
        state.ended = endList;
      };
      await poller.exclusive(run);
      return publisher.state();
    },
    state: () => structuredClone(state),
    events,
  };
  return publisher;
}
