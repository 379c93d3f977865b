/**
 * Fragmented MP4 (ISO/IEC 14496-12 §8.8, "movie fragments") timing, pure: the tracks of an init
 * segment and each fragment's timing and whether it starts with a sync sample (keyframe). Read
 * by the low-latency packager (`Fmp4Splitter` in `../fmp4.ts` cuts the stream) and by the edge
 * (the media time an MPD's SegmentTimeline starts at).
 */

/** The bytes are not a well-formed ISO BMFF box sequence. */
export class Mp4ParseError extends Error {
  override readonly name = 'Mp4ParseError';
}

/**
 * One track of an init segment: `id` (tkhd track_ID), `timescale` (mdhd, ticks per second),
 * `handler` (hdlr handler_type, `vide` / `soun` / ...), and the `trex` defaults used when a
 * fragment does not state a sample's duration, size (bytes) or flags (ISO/IEC 14496-12 §8.8.3).
 */
export interface Fmp4Track {
  id: number;
  timescale: number;
  handler: string;
  defaultSampleDuration: number;
  defaultSampleSize: number;
  defaultSampleFlags: number;
}

/**
 * Timing of one track inside one fragment: `baseDecodeTime` (tfdt, in the track's timescale
 * ticks), `duration` (sum of sample durations, ticks), `samples` (count), and `firstSampleSync`
 * (its first sample is a sync sample: `sample_is_non_sync_sample` = 0, §8.8.3.1).
 */
export interface Fmp4TrackRun {
  trackId: number;
  baseDecodeTime: number;
  duration: number;
  samples: number;
  firstSampleSync: boolean;
}

/**
 * A fragment's summary, measured on its primary track (the first video track, else the first
 * track): `startSeconds` / `durationSeconds` in seconds of media time, `independent` when that
 * track's first sample is a sync sample (what EXT-X-PART INDEPENDENT=YES states, RFC 8216bis
 * §4.4.4.9), and the per-track `runs`.
 */
export interface Fmp4FragmentInfo {
  startSeconds: number;
  durationSeconds: number;
  independent: boolean;
  runs: Fmp4TrackRun[];
}

interface Box {
  type: string;
  start: number;
  body: number;
  end: number;
}

function header(buf: Uint8Array, at: number, end: number): Box {
  if (at + 8 > end) throw new Mp4ParseError(`truncated box header at ${at}`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let size = view.getUint32(at);
  const type = String.fromCharCode(buf[at + 4]!, buf[at + 5]!, buf[at + 6]!, buf[at + 7]!);
  let body = at + 8;
  if (size === 1) {
    if (at + 16 > end) throw new Mp4ParseError(`truncated largesize at ${at}`);
    size = Number(view.getBigUint64(at + 8));
    body = at + 16;
  } else if (size === 0) {
    size = end - at;
  }
  if (size < body - at || at + size > end) throw new Mp4ParseError(`box ${JSON.stringify(type)} at ${at} has bad size ${size}`);
  return { type, start: at, body, end: at + size };
}

function boxes(buf: Uint8Array, start: number, end: number): Box[] {
  const out: Box[] = [];
  for (let at = start; at + 8 <= end; ) {
    const b = header(buf, at, end);
    out.push(b);
    at = b.end;
  }
  return out;
}

function child(buf: Uint8Array, parent: Box, type: string): Box | undefined {
  return boxes(buf, parent.body, parent.end).find((b) => b.type === type);
}

const NON_SYNC = 0x0001_0000; // sample_is_non_sync_sample bit of sample flags (§8.8.3.1)

/** Reads fields of one box: never past its end (a short box is malformed, not a RangeError). */
function fields(view: DataView, box: Box) {
  const need = (at: number, n: number) => {
    if (at < box.body || at + n > box.end) throw new Mp4ParseError(`box ${JSON.stringify(box.type)} at ${box.start} is too short for its fields`);
  };
  return {
    u8(at: number): number {
      need(at, 1);
      return view.getUint8(at);
    },
    u32(at: number): number {
      need(at, 4);
      return view.getUint32(at);
    },
    u64(at: number): number {
      need(at, 8);
      return Number(view.getBigUint64(at));
    },
  };
}

/**
 * Reads the tracks of an fMP4 init segment (`ftyp` + `moov`): track ids, timescales,
 * handler types and `trex` defaults.
 *
 * @throws {Mp4ParseError} when there is no `moov`, or a box is malformed.
 */
export function parseInitTracks(init: Uint8Array): Fmp4Track[] {
  const view = new DataView(init.buffer, init.byteOffset, init.byteLength);
  const moov = boxes(init, 0, init.byteLength).find((b) => b.type === 'moov');
  if (!moov) throw new Mp4ParseError('init segment has no moov');
  const trex = new Map<number, { duration: number; size: number; flags: number }>();
  const mvex = child(init, moov, 'mvex');
  if (mvex) {
    for (const b of boxes(init, mvex.body, mvex.end)) {
      if (b.type !== 'trex') continue;
      // FullBox(4) track_ID(4) default_sample_description_index(4) duration(4) size(4) flags(4)
      const f = fields(view, b);
      trex.set(f.u32(b.body + 4), { duration: f.u32(b.body + 12), size: f.u32(b.body + 16), flags: f.u32(b.body + 20) });
    }
  }
  const tracks: Fmp4Track[] = [];
  for (const trak of boxes(init, moov.body, moov.end)) {
    if (trak.type !== 'trak') continue;
    const tkhd = child(init, trak, 'tkhd');
    const mdia = child(init, trak, 'mdia');
    if (!tkhd || !mdia) continue;
    const id = trackIdOf(view, tkhd);
    const mdhd = child(init, mdia, 'mdhd');
    const hdlr = child(init, mdia, 'hdlr');
    if (!mdhd) continue;
    const mh = fields(view, mdhd);
    const timescale = mh.u8(mdhd.body) === 1 ? mh.u32(mdhd.body + 4 + 16) : mh.u32(mdhd.body + 4 + 8);
    // hdlr: FullBox(4) pre_defined(4) handler_type(4)
    if (hdlr) fields(view, hdlr).u32(hdlr.body + 8);
    const handler = hdlr ? String.fromCharCode(...init.subarray(hdlr.body + 8, hdlr.body + 12)) : '';
    const d = trex.get(id);
    tracks.push({ id, timescale, handler, defaultSampleDuration: d?.duration ?? 0, defaultSampleSize: d?.size ?? 0, defaultSampleFlags: d?.flags ?? 0 });
  }
  return tracks;
}

/** A `tkhd`'s track_ID (ISO/IEC 14496-12 §8.3.2: after version 1's 64-bit times or version 0's 32-bit ones). */
function trackIdOf(view: DataView, tkhd: Box): number {
  const th = fields(view, tkhd);
  return th.u8(tkhd.body) === 1 ? th.u32(tkhd.body + 4 + 16) : th.u32(tkhd.body + 4 + 8);
}

/** A `tfhd` (ISO/IEC 14496-12 §8.8.7): its flags, track and the optional fields present (undefined when absent). */
interface TrackFragmentHeader {
  flags: number;
  trackId: number;
  baseDataOffset: number | undefined;
  defaultSampleDuration: number | undefined;
  defaultSampleSize: number | undefined;
  defaultSampleFlags: number | undefined;
}

function readTfhd(view: DataView, tfhd: Box): TrackFragmentHeader {
  const th = fields(view, tfhd);
  const flags = th.u32(tfhd.body) & 0xffffff;
  let at = tfhd.body + 8;
  const take = (flag: number, bytes: 4 | 8): number | undefined => {
    if (!(flags & flag)) return undefined;
    const v = bytes === 8 ? th.u64(at) : th.u32(at);
    at += bytes;
    return v;
  };
  const baseDataOffset = take(0x01, 8);
  take(0x02, 4); // sample_description_index
  const defaultSampleDuration = take(0x08, 4);
  const defaultSampleSize = take(0x10, 4);
  const defaultSampleFlags = take(0x20, 4);
  return { flags, trackId: th.u32(tfhd.body + 4), baseDataOffset, defaultSampleDuration, defaultSampleSize, defaultSampleFlags };
}

/** The track fragments of a `moof`, each with its `tfhd` read. @throws {Mp4ParseError} for a traf without tfhd. */
function* trafsOf(buf: Uint8Array, view: DataView, moof: Box): Generator<{ traf: Box; h: TrackFragmentHeader }> {
  for (const traf of boxes(buf, moof.body, moof.end)) {
    if (traf.type !== 'traf') continue;
    const tfhd = child(buf, traf, 'tfhd');
    if (!tfhd) throw new Mp4ParseError('traf without tfhd');
    yield { traf, h: readTfhd(view, tfhd) };
  }
}

/**
 * A `trun`'s header (ISO/IEC 14496-12 §8.8.8): flags, sample count, the data offset and first
 * sample flags when present, where its per-sample entries start and their size in bytes (4 per
 * field present: duration 0x100, size 0x200, flags 0x400, composition time offset 0x800).
 * @throws {Mp4ParseError} when the box cannot hold the entries it announces.
 */
function readTrunHeader(view: DataView, trun: Box): { flags: number; count: number; dataOffset: number | undefined; firstSampleFlags: number | undefined; entries: number; entrySize: number } {
  const tr = fields(view, trun);
  const flags = tr.u32(trun.body) & 0xffffff;
  const count = tr.u32(trun.body + 4);
  let p = trun.body + 8;
  let dataOffset: number | undefined;
  if (flags & 0x01) {
    dataOffset = tr.u32(p) | 0; // signed
    p += 4;
  }
  let firstSampleFlags: number | undefined;
  if (flags & 0x04) {
    firstSampleFlags = tr.u32(p);
    p += 4;
  }
  const entrySize = 4 * ((flags & 0x100 ? 1 : 0) + (flags & 0x200 ? 1 : 0) + (flags & 0x400 ? 1 : 0) + (flags & 0x800 ? 1 : 0));
  if (entrySize > 0 && p + count * entrySize > trun.end) {
    throw new Mp4ParseError(`trun at ${trun.start} announces ${count} samples, more than its ${trun.end - p} bytes hold`);
  }
  return { flags, count, dataOffset, firstSampleFlags, entries: p, entrySize };
}

/**
 * Reads the timing of one fragment from its `moof` (tfhd, tfdt, trun: ISO/IEC 14496-12
 * §8.8.7, §8.8.12, §8.8.8): per track the base decode time, the summed sample durations and
 * whether the first sample is a sync sample (first-sample-flags, else the sample's own flags,
 * else tfhd/trex defaults).
 *
 * @param fragment bytes starting at (or containing, at top level) a `moof` box.
 * @param tracks from {@link parseInitTracks} of the same stream.
 * @throws {Mp4ParseError} when there is no `moof`, a box is malformed, or a track is unknown.
 */
export function parseFragment(fragment: Uint8Array, tracks: readonly Fmp4Track[]): Fmp4FragmentInfo {
  const view = new DataView(fragment.buffer, fragment.byteOffset, fragment.byteLength);
  const moof = boxes(fragment, 0, fragment.byteLength).find((b) => b.type === 'moof');
  if (!moof) throw new Mp4ParseError('fragment has no moof');
  const runs: Fmp4TrackRun[] = [];
  for (const { traf, h } of trafsOf(fragment, view, moof)) {
    const trackId = h.trackId;
    const track = tracks.find((t) => t.id === trackId);
    if (!track) throw new Mp4ParseError(`fragment names unknown track ${trackId}`);
    const defaultDuration = h.defaultSampleDuration ?? track.defaultSampleDuration;
    const defaultFlags = h.defaultSampleFlags ?? track.defaultSampleFlags;

    const tfdt = child(fragment, traf, 'tfdt');
    const td = tfdt && fields(view, tfdt);
    const baseDecodeTime = !tfdt || !td ? 0 : td.u8(tfdt.body) === 1 ? td.u64(tfdt.body + 4) : td.u32(tfdt.body + 4);

    let duration = 0;
    let samples = 0;
    let firstSampleSync: boolean | undefined;
    for (const trun of boxes(fragment, traf.body, traf.end)) {
      if (trun.type !== 'trun') continue;
      const tr = fields(view, trun);
      const { flags: trFlags, count, firstSampleFlags: firstFlags, entries, entrySize: perSample } = readTrunHeader(view, trun);
      let p = entries;
      if (perSample === 0) {
        // every sample takes the defaults: no need to walk (a count up to 2^32 - 1 costs nothing)
        if (count > 0 && firstSampleSync === undefined) firstSampleSync = ((firstFlags ?? defaultFlags) & NON_SYNC) === 0;
        duration += count * defaultDuration;
      }
      for (let i = 0; perSample > 0 && i < count; i++) {
        let d = defaultDuration;
        let f = defaultFlags;
        if (trFlags & 0x100) {
          d = tr.u32(p);
          p += 4;
        }
        if (trFlags & 0x200) p += 4; // sample_size
        if (trFlags & 0x400) {
          f = tr.u32(p);
          p += 4;
        }
        if (trFlags & 0x800) p += 4; // composition time offset
        if (i === 0 && firstFlags !== undefined) f = firstFlags;
        if (firstSampleSync === undefined) firstSampleSync = (f & NON_SYNC) === 0;
        duration += d;
      }
      samples += count;
    }
    runs.push({ trackId, baseDecodeTime, duration, samples, firstSampleSync: firstSampleSync ?? false });
  }
  if (runs.length === 0) throw new Mp4ParseError('moof without traf');
  const primaryTrack = tracks.find((t) => t.handler === 'vide' && runs.some((r) => r.trackId === t.id)) ?? tracks.find((t) => t.id === runs[0]!.trackId)!;
  const primary = runs.find((r) => r.trackId === primaryTrack.id)!;
  // a fragment of a stream with video but without a video sample (the audio tail at the end
  // of a stream) does not start with a keyframe: a decoder could not start there
  const hasVideo = tracks.some((t) => t.handler === 'vide');
  return {
    startSeconds: primary.baseDecodeTime / primaryTrack.timescale,
    durationSeconds: primary.duration / primaryTrack.timescale,
    independent: primary.firstSampleSync && (primaryTrack.handler === 'vide' || !hasVideo),
    runs,
  };
}

/** VisualSampleEntry fields before its child boxes (ISO/IEC 14496-12 §12.1.3): 78 bytes. */
const VISUAL_SAMPLE_ENTRY_FIELDS = 78;

/**
 * The NAL unit length size (1, 2 or 4 bytes) of an H.264 track, from its `avc1`/`avc3` sample
 * entry's `avcC` (`lengthSizeMinusOne`, ISO/IEC 14496-15 §5.3.3.1.2); null when the track is not
 * H.264 (or not in the init segment).
 *
 * @throws {Mp4ParseError} when a box on the way is malformed.
 */
export function avcNalLengthSize(init: Uint8Array, trackId: number): number | null {
  const view = new DataView(init.buffer, init.byteOffset, init.byteLength);
  const moov = boxes(init, 0, init.byteLength).find((b) => b.type === 'moov');
  if (!moov) return null;
  for (const trak of boxes(init, moov.body, moov.end)) {
    if (trak.type !== 'trak') continue;
    const tkhd = child(init, trak, 'tkhd');
    if (!tkhd) continue;
    const id = trackIdOf(view, tkhd);
    if (id !== trackId) continue;
    let box: Box | undefined = trak;
    for (const type of ['mdia', 'minf', 'stbl', 'stsd']) box = box && child(init, box, type);
    if (!box) return null;
    // stsd: FullBox(4) entry_count(4), then the sample entries
    const entry = boxes(init, box.body + 8, box.end)[0];
    if (!entry || (entry.type !== 'avc1' && entry.type !== 'avc3')) return null;
    const avcC = boxes(init, entry.body + VISUAL_SAMPLE_ENTRY_FIELDS, entry.end).find((b) => b.type === 'avcC');
    if (!avcC) return null;
    return (fields(view, avcC).u8(avcC.body + 4) & 0x03) + 1;
  }
  return null;
}

/**
 * Where the samples of one track lie in a fragment or a segment of several fragments: byte
 * ranges `[start, end)` of `fragment`, in decode order, from each `moof`'s `traf` of the track
 * (tfhd base data offset or default-base-is-moof, trun data offsets and sample sizes, tfhd and
 * trex default sizes: ISO/IEC 14496-12 §8.8.7, §8.8.8).
 *
 * @throws {Mp4ParseError} when a box is malformed or a sample lies outside the bytes.
 */
export function trackSampleRanges(fragment: Uint8Array, trackId: number, tracks: readonly Fmp4Track[]): Array<{ start: number; end: number }> {
  const view = new DataView(fragment.buffer, fragment.byteOffset, fragment.byteLength);
  const out: Array<{ start: number; end: number }> = [];
  for (const moof of boxes(fragment, 0, fragment.byteLength)) {
    if (moof.type !== 'moof') continue;
    // without a base data offset or default-base-is-moof, a traf's data follows the previous traf's (§8.8.7.1)
    let previousEnd = moof.start;
    for (const { traf, h } of trafsOf(fragment, view, moof)) {
      const id = h.trackId;
      const base = h.baseDataOffset ?? (h.flags & 0x020000 ? moof.start : previousEnd);
      const defaultSize = h.defaultSampleSize ?? tracks.find((t) => t.id === id)?.defaultSampleSize ?? 0;
      let next = base;
      for (const trun of boxes(fragment, traf.body, traf.end)) {
        if (trun.type !== 'trun') continue;
        const tr = fields(view, trun);
        const { flags: trFlags, count, dataOffset, entries } = readTrunHeader(view, trun);
        if (dataOffset !== undefined) next = base + dataOffset;
        let p = entries;
        for (let i = 0; i < count; i++) {
          if (trFlags & 0x100) p += 4;
          let size = defaultSize;
          if (trFlags & 0x200) {
            size = tr.u32(p);
            p += 4;
          }
          if (trFlags & 0x400) p += 4;
          if (trFlags & 0x800) p += 4;
          if (next + size > fragment.byteLength) throw new Mp4ParseError(`a sample of track ${id} at ${next} runs past the end (${size} bytes)`);
          if (id === trackId) out.push({ start: next, end: next + size });
          next += size;
        }
      }
      previousEnd = next;
    }
  }
  return out;
}
