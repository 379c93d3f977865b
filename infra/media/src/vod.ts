import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ObjectStorage } from '@live/storage';
import { decryptAes128 } from './encryption.js';
import {
  parseIv,
  type PlaylistSegment,
  renderMasterPlaylist,
  renderMediaPlaylist,
  SegmentEncryptionError,
  type VariantStream,
  vodMasterKey,
  vodMp4Key,
  vodPlaylistKey,
} from './formats/index.js';
import { ffmpegPath as defaultFfmpegPath, runFfmpeg } from './ffmpeg.js';
import type { Rendition, RenditionName } from './ladder.js';
import { topLevelBoxes } from './mp4.js';
import { generateVodThumbnails, type VodThumbnailsOptions } from './thumbnails.js';
import {
  loadPublisherState,
  renditionCodecs,
  variantBandwidth,
  type MediaLogger,
  type PublisherState,
  type RenditionPublishState,
} from './publisher.js';

/** VOD packaging failed: nothing to package, or the MP4 came out without `moov` before `mdat`. */
export class VodPackagingError extends Error {
  override readonly name = 'VodPackagingError';
}

/** Options of {@link packageVod}: give the publisher's final `state`, or the `ladder` to rebuild it from storage. */
export interface PackageVodOptions {
  storage: ObjectStorage;
  /** Session key prefix, e.g. `sessions/<sessionId>`. */
  keyPrefix: string;
  /** Final publisher state (preferred: has segment sizes and PROGRAM-DATE-TIMEs). */
  state?: PublisherState;
  /** Ladder, used to rebuild the state with `loadPublisherState` when `state` is absent. */
  ladder?: readonly Rendition[];
  /** FRAME-RATE for the VOD master (frames/s); default `state.frameRate`. */
  frameRate?: number;
  /** ffmpeg binary; default `ffmpegPath()`. */
  ffmpegPath?: string;
  /** Parent of the scratch directory (needs ~2x the top rendition's size). Default `os.tmpdir()`. */
  tmpDir?: string;
  /** Skip the MP4 (playlists only; also no thumbnails, they are taken from the MP4). Default false. */
  skipMp4?: boolean;
  /**
   * Seek-preview thumbnails from the MP4 (`generateVodThumbnails`: sprites + WebVTT under
   * `<prefix>/thumbs/`), with these overrides (interval, cell size, grid); `false` skips them.
   * Default on. A failure is logged (`warn`) and leaves the VOD without previews.
   */
  thumbnails?: false | Pick<VodThumbnailsOptions, 'intervalSeconds' | 'width' | 'height' | 'maxColumns' | 'maxRows'>;
  /**
   * The 16-byte AES-128 key behind an EXT-X-KEY URI (e.g. `/keys/<sessionId>/<n>.key` ->
   * `deriveContentKey(secret, sessionId, n)`): needed to build the MP4 of an encrypted session,
   * whose segments are decrypted on the way into the remux. The VOD playlists keep their
   * EXT-X-KEY lines either way (players fetch the keys from the edge).
   */
  decryptionKey?: (keyUri: string) => Buffer | Promise<Buffer>;
  signal?: AbortSignal;
  logger?: MediaLogger;
}

/** One rendition of the VOD: its playlist key, segment count, duration (s) and bandwidths (bit/s). */
export interface VodRendition {
  name: RenditionName;
  playlistKey: string;
  segments: number;
  durationSeconds: number;
  bandwidth: number;
  averageBandwidth: number;
}

/**
 * Result of {@link packageVod}. `durationSeconds` is the top rendition's total EXTINF duration; `mp4Key` is `undefined` with `skipMp4`;
 * `thumbnailsKey` is the WebVTT thumbnails track when seek previews were produced.
 */
export interface VodResult {
  durationSeconds: number;
  mp4Key: string | undefined;
  thumbnailsKey?: string;
  masterKey: string;
  renditions: VodRendition[];
}

/** Splits segments into runs that share one init segment (a new run at every discontinuity or EXT-X-MAP change). */
function runsOf(segments: readonly PlaylistSegment[]): PlaylistSegment[][] {
  const runs: PlaylistSegment[][] = [];
  for (const seg of segments) {
    const current = runs.at(-1);
    if (!current || seg.discontinuity || seg.map !== current[0]!.map) runs.push([seg]);
    else current.push(seg);
  }
  return runs;
}

async function appendDecrypted(storage: ObjectStorage, key: string, seg: PlaylistSegment, decryptionKey: PackageVodOptions['decryptionKey'], out: WriteStream): Promise<void> {
  if (!seg.key) return appendObject(storage, key, out);
  if (!decryptionKey) throw new VodPackagingError(`segment ${key} is encrypted (${seg.key.uri}) and no decryptionKey was given`);
  const body = await storage.read(key);
  if (!body) throw new VodPackagingError(`missing object ${key}`);
  let clear: Buffer;
  try {
    clear = decryptAes128(body, await decryptionKey(seg.key.uri), parseIv(seg.key.iv));
  } catch (err) {
    if (err instanceof SegmentEncryptionError) throw new VodPackagingError(`segment ${key}: ${err.message}`);
    throw err;
  }
  if (!out.write(clear)) await once(out, 'drain');
}

async function appendObject(storage: ObjectStorage, key: string, out: WriteStream): Promise<void> {
  const stream = await storage.createReadStream(key);
  if (!stream) throw new VodPackagingError(`missing object ${key}`);
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    if (!out.write(chunk)) await once(out, 'drain'); // respect backpressure: segments can be large
  }
}

/**
 * Turns an ended session into VOD (what `apps/worker` runs on StreamPublishEnded, after
 * the publisher's `finish()`):
 *
 * 1. per rendition `<prefix>/<name>/vod.m3u8`: EXT-X-PLAYLIST-TYPE:VOD + EXT-X-ENDLIST over
 *    every retained segment (8216bis §4.4.3.5, §6.2.1), same segment objects as the live
 *    playlist (nothing is copied);
 * 2. `<prefix>/vod.m3u8`: master with MEASURED peak/average bandwidth (8216bis §4.4.6.2:
 *    all segments exist, so BANDWIDTH is the real peak) and CODECS from the init segments;
 * 3. `<prefix>/vod.mp4`: the top rendition remuxed (`-c copy -movflags +faststart`, no
 *    re-encode): init + segments of each attempt are concatenated into one fragmented MP4
 *    per attempt, several attempts are joined with ffmpeg's concat demuxer (which re-bases
 *    their timestamps), and the result is checked to have `moov` before `mdat`. Encrypted
 *    segments (`key`) are decrypted with `decryptionKey` first (the MP4 is clear: it is served
 *    like any segment, behind the edge's token check);
 * 4. `<prefix>/thumbs/sprite_<n>.jpg` + `<prefix>/thumbs/thumbnails.vtt`: seek-preview
 *    thumbnails from that MP4 (`generateVodThumbnails`), unless `thumbnails: false`.
 *
 * The VOD playlists keep every EXT-X-KEY line (8216bis §4.4.4.4), so the encrypted segments
 * are played from the same objects with keys from the edge.
 *
 * Playlists are written before the MP4 so a failed remux still leaves a playable VOD;
 * re-running is safe (every step overwrites its outputs).
 *
 * @throws {VodPackagingError} when there is no segment at all, an object is missing, an
 *   encrypted segment cannot be decrypted (no `decryptionKey`, wrong key), or the MP4 does not
 *   have `moov` before `mdat`.
 * @throws {FfmpegError} when the remux fails.
 */
export async function packageVod(opts: PackageVodOptions): Promise<VodResult> {
  const { storage, keyPrefix, logger } = opts;
  let state = opts.state;
  if (!state) {
    if (!opts.ladder) throw new TypeError('packageVod needs state or ladder');
    state = await loadPublisherState(storage, keyPrefix, opts.ladder, opts.frameRate !== undefined ? { frameRate: opts.frameRate } : {});
  }
  const frameRate = opts.frameRate ?? state.frameRate;
  const renditions = state.renditions.filter((r) => r.segments.length > 0);
  if (renditions.length === 0) throw new VodPackagingError(`no segments to package under ${keyPrefix}`);

  // sizes are needed for measured bandwidth; a state from loadPublisherState(measureBytes: false) lacks them
  for (const r of renditions) {
    for (const seg of r.segments) {
      if (seg.bytes === undefined) {
        const info = await storage.stat(`${keyPrefix}/${r.rendition.name}/${seg.uri}`);
        if (info) seg.bytes = info.size;
      }
    }
  }

  const hasAudio = await audioPresent(storage, keyPrefix, renditions[0]!);
  const out: VodRendition[] = [];
  const variants: VariantStream[] = [];
  for (const r of renditions) {
    const key = vodPlaylistKey(keyPrefix, r.rendition.name);
    await storage.writePlaylist(key, renderMediaPlaylist({ segments: r.segments, playlistType: 'VOD', endList: true }), { live: false });
    const bw = variantBandwidth(r.rendition, r.segments, 'vod');
    const codecs = r.codecs ?? (await renditionCodecs(storage, keyPrefix, r, hasAudio));
    const variant: VariantStream = { uri: `${r.rendition.name}/vod.m3u8`, ...bw, width: r.rendition.width, height: r.rendition.height, codecs };
    if (frameRate !== undefined) variant.frameRate = frameRate;
    variants.push(variant);
    out.push({
      name: r.rendition.name,
      playlistKey: key,
      segments: r.segments.length,
      durationSeconds: r.segments.reduce((n, s) => n + s.duration, 0),
      ...bw,
    });
  }
  const masterKey = vodMasterKey(keyPrefix);
  await storage.writePlaylist(masterKey, renderMasterPlaylist(variants), { live: false });

  const top = renditions[0]!;
  const durationSeconds = out[0]!.durationSeconds;
  if (opts.skipMp4) return { durationSeconds, mp4Key: undefined, masterKey, renditions: out };

  const work = await mkdtemp(path.join(opts.tmpDir ?? tmpdir(), 'live-vod-'));
  try {
    const runs = runsOf(top.segments);
    const runFiles: string[] = [];
    for (const [i, run] of runs.entries()) {
      const file = path.join(work, `run_${i}.mp4`);
      const sink = createWriteStream(file);
      const map = run[0]!.map;
      if (map !== undefined) await appendObject(storage, `${keyPrefix}/${top.rendition.name}/${map}`, sink);
      for (const seg of run) await appendDecrypted(storage, `${keyPrefix}/${top.rendition.name}/${seg.uri}`, seg, opts.decryptionKey, sink);
      await new Promise<void>((resolve, reject) => sink.end((err?: Error | null) => (err ? reject(err) : resolve())));
      runFiles.push(file);
    }
    const mp4 = path.join(work, 'vod.mp4');
    let inputArgs: string[];
    if (runFiles.length === 1) {
      inputArgs = ['-i', runFiles[0]!];
    } else {
      const list = path.join(work, 'runs.ffconcat');
      await writeFile(list, 'ffconcat version 1.0\n' + runFiles.map((f) => `file '${path.basename(f)}'\n`).join(''));
      // concat demuxer: one input whose timestamps continue across attempts
      inputArgs = ['-f', 'concat', '-safe', '0', '-i', list];
    }
    const remux = await runFfmpeg(
      [
        '-hide_banner', '-nostats', '-loglevel', 'error', '-y',
        ...inputArgs,
        '-map', '0',
        '-c', 'copy',
        // moov before mdat: players can start before downloading the whole file
        '-movflags', '+faststart',
        '-f', 'mp4',
        mp4,
      ],
      { ffmpegPath: opts.ffmpegPath ?? defaultFfmpegPath(), ...(opts.signal ? { signal: opts.signal } : {}) },
    );
    if (remux.aborted) throw opts.signal?.reason ?? new VodPackagingError('aborted');
    const boxes = (await topLevelBoxes(mp4)).map((b) => b.type);
    const moov = boxes.indexOf('moov');
    const mdat = boxes.indexOf('mdat');
    if (moov < 0 || mdat < 0 || moov > mdat) {
      throw new VodPackagingError(`vod.mp4 is not faststart (top-level boxes: ${boxes.join(',')})`);
    }
    const mp4Key = vodMp4Key(keyPrefix);
    await storage.writeSegment(mp4Key, mp4);
    let thumbnailsKey: string | undefined;
    if (opts.thumbnails !== false) {
      // seek previews from the local (clear) MP4, keyframes only; a VOD without them still plays
      try {
        const thumbs = await generateVodThumbnails({
          storage, keyPrefix, input: mp4, durationSeconds, ...(opts.thumbnails ?? {}),
          ...(opts.ffmpegPath ? { ffmpegPath: opts.ffmpegPath } : {}), tmpDir: work,
          ...(opts.signal ? { signal: opts.signal } : {}), ...(logger ? { logger } : {}),
        });
        thumbnailsKey = thumbs.vttKey;
      } catch (err) {
        if (opts.signal?.aborted) throw err;
        logger?.warn?.({ keyPrefix, err: err instanceof Error ? err.message : String(err) }, 'vod thumbnails failed; no seek previews');
      }
    }
    logger?.info?.({ keyPrefix, mp4Key, durationSeconds, runs: runs.length, thumbnailsKey }, 'vod packaged');
    return { durationSeconds, mp4Key, masterKey, renditions: out, ...(thumbnailsKey ? { thumbnailsKey } : {}) };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function audioPresent(storage: ObjectStorage, keyPrefix: string, r: RenditionPublishState): Promise<boolean> {
  if (r.codecs) return r.codecs.some((c) => c.startsWith('mp4a'));
  const codecs = await renditionCodecs(storage, keyPrefix, r, true);
  return codecs.some((c) => c.startsWith('mp4a'));
}
