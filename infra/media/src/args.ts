import type { Rendition, SourceInfo } from './ladder.js';

/**
 * Input-side options for {@link buildLadderArgs}. Defaults suit a live HTTP-FLV relay.
 *
 * - `probeSizeBytes` (`-probesize`, default 1 000 000) and `analyzeDurationUs`
 *   (`-analyzeduration`, microseconds, default 1 000 000): FLV announces its streams in the
 *   first tags, so a short probe starts the transcode ~4 s sooner than ffmpeg's 5 s default.
 * - `rwTimeoutUs` (`-rw_timeout`, microseconds, default 10 000 000): a stalled network input
 *   fails the process after 10 s instead of hanging the activity forever. Not emitted for a
 *   pipe input ({@link isPipeInput}): a pipe read has no timeout, whoever feeds the pipe
 *   detects stalls.
 * - `realtime` (`-re`): read the input at its native rate (only for file inputs used as a
 *   fake live source; a live relay is already paced by the publisher). Default false.
 * - `format` (`-f`, right before `-i`): the input's container, e.g. `flv` for
 *   {@link FFMPEG_STDIN_INPUT} (a pipe cannot be probed by name). Default: probed.
 * - `extra`: more input options, inserted verbatim before `-i` (e.g. `['-stream_loop', '-1']`).
 */
export interface LadderInputOptions {
  probeSizeBytes?: number;
  analyzeDurationUs?: number;
  rwTimeoutUs?: number;
  realtime?: boolean;
  format?: string;
  extra?: readonly string[];
}

/**
 * The ffmpeg input that reads ffmpeg's stdin: what the transcoder uses, feeding the relay's
 * FLV stream (fetched with the relay token in a header) through `runFfmpeg`'s `stdin` option,
 * so neither the relay URL's credentials nor any token appear in ffmpeg's command line.
 */
export const FFMPEG_STDIN_INPUT = 'pipe:0';

/** Whether `input` is an ffmpeg pipe (`pipe:`, `pipe:<fd>` or `-`) rather than a URL or path. */
export function isPipeInput(input: string): boolean {
  return input === '-' || input.startsWith('pipe:');
}

/** Options of {@link buildLadderArgs}. */
export interface LadderArgsOptions {
  /**
   * ffmpeg input: {@link FFMPEG_STDIN_INPUT} (with `inputOptions.format` `flv`) for the live
   * relay stream piped in by the caller, or a file path / URL. Never put a credential here:
   * the argument list is visible to every user of the machine (`ps`, `/proc/<pid>/cmdline`).
   */
  input: string;
  /** What the input carries; `audio` decides copy (AAC) vs AAC encode, or no audio at all. */
  source: SourceInfo;
  /** Renditions, highest first (from `selectLadder`); at most one may be `passthrough`. */
  ladder: readonly Rendition[];
  /** ffmpeg work directory; each rendition writes `<outputDir>/<name>/`. Use a fresh directory per attempt. */
  outputDir: string;
  /** Target segment duration in seconds (`-hls_time`, GOP length). Usually 2. */
  segmentSeconds: number;
  /** Sequence number of the first segment (`-start_number`); on a retry, the next unused number. */
  startNumber: number;
  /**
   * Init segment file name of this attempt, e.g. `init_1.mp4` (unique per attempt, because
   * segments are immutable and cached for a year). ffmpeg 5.1 requires `%v` in it when
   * there is more than one variant, so `_%v` is inserted before the extension (files
   * `init_1_720p.mp4`); see {@link ffmpegInitSegmentName}.
   */
  initSegmentName: string;
  /** Output frame rate used for the GOP length (frames/s), normally the source's. */
  frameRate: number;
  /** Input options; defaults for a live FLV relay. */
  inputOptions?: LadderInputOptions;
  /** x264 threads per encoded rendition (`-threads:v:N`). Default: ffmpeg's automatic choice. */
  threads?: number;
  /** x264 preset; default `veryfast` (sustains > 2x realtime for 1080p30 on 2 cores with a passthrough top rung). */
  preset?: 'ultrafast' | 'superfast' | 'veryfast';
}

/**
 * The init segment name ffmpeg will be given: `name` unchanged for one variant, otherwise
 * `_%v` inserted before the extension (`init_1.mp4` -> `init_1_%v.mp4`) because ffmpeg
 * 5.1's hls muxer refuses a multi-variant init name without `%v`. Names that already
 * contain `%v` are kept.
 */
export function ffmpegInitSegmentName(name: string, variantCount: number): string {
  if (variantCount <= 1 || name.includes('%v')) return name;
  const dot = name.lastIndexOf('.');
  return dot > 0 ? `${name.slice(0, dot)}_%v${name.slice(dot)}` : `${name}_%v`;
}

/** File name of the playlist ffmpeg writes in each rendition directory (ours is `index.m3u8`). */
export const FFMPEG_PLAYLIST_NAME = 'ffmpeg.m3u8';

/**
 * Builds the ffmpeg argument list (without the program name) that transcodes one live
 * input into the whole ABR ladder as fMP4/CMAF HLS, in ONE process with ONE decode.
 *
 * Pure: same options, same list. Shape:
 * - global: `-hide_banner -nostats -loglevel warning -progress pipe:1 -y`;
 * - input: low probe, `-fflags +genpts`, `-rw_timeout` (not for a pipe), `[-f <format>]`, `-i <input>`;
 * - `-filter_complex`: `[0:v:0]split=N` feeding one `scale=WxH,format=yuv420p` per encoded
 *   rendition (omitted when nothing is encoded);
 * - per rendition in ladder order: `-map` video (`0:v:0` for passthrough, the scaled pad
 *   otherwise) with `-c:v:i copy` or libx264 settings, then `-map 0:a:0` when there is audio;
 * - audio: `-c:a copy` for an AAC source, else `-c:a aac -ac <=2` with `-b:a:i` per rendition;
 * - HLS muxer: 2 s fMP4 segments, `independent_segments+program_date_time+temp_file`, EVENT
 *   playlists, `-var_stream_map`, `<outputDir>/%v/seg_%05d.m4s`, `<outputDir>/%v/ffmpeg.m3u8`.
 *
 * Keyframe alignment (needed for seamless ABR switching, RFC 8216bis §6.2.4 /
 * Apple HLS Authoring Spec 1.10): every encoder uses a fixed GOP of `segmentSeconds x
 * frameRate` frames, no scene-cut keyframes, and forced keyframes every `segmentSeconds` of
 * input time; a passthrough rendition is cut at the source's keyframes, which align when
 * the publisher uses a 2 s keyframe interval (as OBS/Twitch recommend).
 *
 * @throws {RangeError} on an empty ladder, more than one passthrough rendition, or
 *   non-positive `segmentSeconds`/`frameRate`.
 */
export function buildLadderArgs(opts: LadderArgsOptions): string[] {
  const { ladder, source, segmentSeconds, frameRate } = opts;
  if (ladder.length === 0) throw new RangeError('empty ladder');
  if (ladder.filter((r) => r.passthrough).length > 1) throw new RangeError('at most one passthrough rendition');
  if (!(segmentSeconds > 0) || !(frameRate > 0)) throw new RangeError('segmentSeconds and frameRate must be > 0');
  const input = opts.inputOptions ?? {};
  const gop = String(Math.round(segmentSeconds * frameRate));
  const hasAudio = source.audio !== undefined;
  const copyAudio = source.audio?.codec === 'aac';

  const args: string[] = [
    '-hide_banner',
    // machine-readable progress (key=value blocks) on stdout instead of the \r status line
    '-nostats',
    '-loglevel', 'warning',
    '-progress', 'pipe:1',
    // never stop at "File exists. Overwrite?": stdin is our pipe for the graceful 'q'
    '-y',
  ];

  // ---- input ----
  if (input.realtime) args.push('-re');
  args.push(
    // FLV announces its streams in the first tags: probe 1 MB / 1 s instead of 5 MB / 5 s
    '-probesize', String(input.probeSizeBytes ?? 1_000_000),
    '-analyzeduration', String(input.analyzeDurationUs ?? 1_000_000),
    // RTMP-originated FLV may carry packets without pts; generate them so the muxer never sees holes
    '-fflags', '+genpts',
  );
  // fail (and let the activity retry) when a network input stalls for 10 s, instead of hanging;
  // a pipe has no read timeout: its feeder watches for stalls
  if (!isPipeInput(opts.input)) args.push('-rw_timeout', String(input.rwTimeoutUs ?? 10_000_000));
  if (input.extra) args.push(...input.extra);
  if (input.format) args.push('-f', input.format);
  args.push('-i', opts.input);

  // ---- one decode, split to one scaler per encoded rendition ----
  const encodes = ladder.filter((r) => !r.passthrough);
  if (encodes.length > 0) {
    const chains: string[] = [];
    // format=yuv420p: 4:2:0 8-bit is what Main/Baseline/High (and every browser) accept,
    // whatever the source pixel format; the scaler converts in the same pass
    const scale = (r: Rendition) => `scale=${r.width}:${r.height},format=yuv420p`;
    if (encodes.length === 1) {
      chains.push(`[0:v:0]${scale(encodes[0]!)}[out${encodes[0]!.name}]`);
    } else {
      chains.push(`[0:v:0]split=${encodes.length}${encodes.map((r) => `[in${r.name}]`).join('')}`);
      for (const r of encodes) chains.push(`[in${r.name}]${scale(r)}[out${r.name}]`);
    }
    args.push('-filter_complex', chains.join(';'));
  }

  // ---- per rendition: video stream v:i (+ audio stream a:i) ----
  ladder.forEach((r, i) => {
    const v = `v:${i}`;
    if (r.passthrough) {
      args.push('-map', '0:v:0', `-c:${v}`, 'copy');
    } else {
      args.push(
        '-map', `[out${r.name}]`,
        `-c:${v}`, 'libx264',
        `-preset:${v}`, opts.preset ?? 'veryfast',
        `-profile:${v}`, r.profile,
        `-level:${v}`, r.level,
        `-b:${v}`, `${r.videoBitrateKbps}k`,
        // capped VBR: peak and buffer bound the bitrate a player must sustain (BANDWIDTH)
        `-maxrate:${v}`, `${r.maxrateKbps}k`,
        `-bufsize:${v}`, `${r.bufsizeKbps}k`,
        // fixed GOP of exactly one segment: every segment starts with an IDR frame
        `-g:${v}`, gop,
        `-keyint_min:${v}`, gop,
        // no extra keyframes on scene cuts: they would shift GOPs apart between renditions
        `-sc_threshold:${v}`, '0',
        // force an IDR at every segment boundary of INPUT time, so all renditions cut at
        // the same instants even if frames are dropped/duplicated differently
        `-force_key_frames:${v}`, `expr:gte(t,n_forced*${segmentSeconds})`,
      );
      if (opts.threads !== undefined) args.push(`-threads:${v}`, String(opts.threads));
    }
    if (hasAudio) args.push('-map', '0:a:0');
  });

  // ---- audio ----
  if (hasAudio) {
    if (copyAudio) {
      // AAC already: copy it into every variant (no generation loss, no CPU)
      args.push('-c:a', 'copy');
    } else {
      const channels = Math.min(source.audio?.channels ?? 2, 2);
      args.push('-c:a', 'aac', '-ac', String(channels));
      ladder.forEach((r, i) => args.push(`-b:a:${i}`, `${r.audioBitrateKbps}k`));
    }
  }

  // ---- HLS muxer ----
  const varStreamMap = ladder.map((r, i) => (hasAudio ? `v:${i},a:${i},name:${r.name}` : `v:${i},name:${r.name}`)).join(' ');
  args.push(
    '-f', 'hls',
    '-hls_time', String(segmentSeconds),
    // fMP4 (CMAF) segments: one format for HLS and (later) DASH, required for HEVC/AV1
    '-hls_segment_type', 'fmp4',
    // independent_segments: every segment starts with a keyframe (we force them);
    // program_date_time: wall-clock anchor for each segment (copied into our playlists);
    // temp_file: write playlists to a temp name and rename, so our poller never reads a torn one
    '-hls_flags', 'independent_segments+program_date_time+temp_file',
    // keep every segment in ffmpeg's playlist: the publisher diffs it to find new segments
    '-hls_playlist_type', 'event',
    '-hls_fmp4_init_filename', ffmpegInitSegmentName(opts.initSegmentName, ladder.length),
    '-hls_segment_filename', `${opts.outputDir}/%v/seg_%05d.m4s`,
    // a retried attempt continues the numbering: segment names are immutable, never reused
    '-start_number', String(opts.startNumber),
    '-var_stream_map', varStreamMap,
    `${opts.outputDir}/%v/${FFMPEG_PLAYLIST_NAME}`,
  );
  return args;
}

/** Options of {@link buildLowLatencyLadderArgs}: those of {@link buildLadderArgs} plus the part length and keyframe interval. */
export interface LowLatencyLadderArgsOptions extends Omit<LadderArgsOptions, 'initSegmentName' | 'startNumber'> {
  /** Frames per Partial Segment (e.g. 15 at 30 fps = 0.5 s); see {@link partFramesFor}. */
  partFrames: number;
  /**
   * Keyframes per segment of the ENCODED renditions, a positive integer; default 1 (one GOP
   * per segment). `n` gives a fixed GOP of `segmentSeconds / n` seconds: with 2 s segments and
   * 0.5 s parts, 2 puts a keyframe at every other part (1 s GOP) and 4 at every part (0.5 s
   * GOP), so a low-latency player can start decoding at more parts (EXT-X-PART INDEPENDENT=YES),
   * nearer the live edge, for more bits per second of video at the same quality. Segments still
   * start at keyframes (`n` divides them evenly). A passthrough rendition keeps the source's GOP.
   */
  keyframesPerSegment?: number;
}

/** File ffmpeg writes per rendition in the low-latency mode: `<outputDir>/<name>/stream.mp4` (fragmented MP4, growing). */
export const FRAGMENTED_STREAM_NAME = 'stream.mp4';

/**
 * Frames per Partial Segment for a frame rate: `round(frameRate x partSeconds)`, at least 1.
 * With the fixed 2 s GOP at 30 fps and `partSeconds` 0.5 that is 15 frames, 4 parts per
 * segment. The Part Target Duration is then `partFrames / frameRate` seconds.
 */
export function partFramesFor(frameRate: number, partSeconds = 0.5): number {
  return Math.max(1, Math.round(frameRate * partSeconds));
}

/**
 * Builds the ffmpeg argument list for the LOW-LATENCY packager: the same input, decode,
 * split, scaling and x264 settings as {@link buildLadderArgs} (fixed GOP, forced aligned
 * keyframes), but instead of the hls muxer (which cannot cut Partial Segments) ONE output
 * per rendition, fragmented MP4 written progressively to `<outputDir>/<name>/stream.mp4`:
 *
 * `-map <video> [-map 0:a:0] <codecs> -f mp4 -movflags
 * +frag_keyframe+empty_moov+default_base_moof+skip_sidx+skip_trailer -frag_duration <us>
 * -flush_packets 1 <file>`.
 *
 * Keyframes: as {@link buildLadderArgs} (fixed GOP, no scene cuts, forced on input time), one
 * GOP per segment, or `keyframesPerSegment` GOPs of `segmentSeconds / keyframesPerSegment`
 * (`-g`/`-keyint_min` that many frames, rounded; `-force_key_frames
 * expr:gte(t,n_forced*<segmentSeconds>/<keyframesPerSegment>)`, exact at every segment start).
 *
 * Each `moof`+`mdat` fragment becomes one Partial Segment (our packager cuts segments at
 * keyframes once a segment is nearly full; `frag_keyframe` starts a fragment at every keyframe,
 * so every keyframe starts a part: INDEPENDENT=YES).
 *
 * `-frag_duration` is one part, `partFrames / frameRate` floored to the millisecond, in
 * microseconds (500000 at 30 and at 29.97 fps): the mov muxer cuts BEFORE the first packet of
 * a track whose offset from that track's first packet in the fragment reaches it, so video
 * is cut every `partFrames` frames, also for a passthrough rendition whose FLV timestamps are
 * whole milliseconds (at 29.97 fps frame 15 is at 500 or 501 ms, never below 500). Audio
 * packets reach that offset only around the same video frame, so audio does not cut fragments
 * short. A value clearly below one part (tried: 483 ms) lets audio cut early and leaves
 * one-frame fragments before keyframes (seen with ffmpeg 5.1).
 *
 * @throws {RangeError} as {@link buildLadderArgs}, for `partFrames` < 1, or for a
 *   `keyframesPerSegment` that is not a positive integer or leaves less than one frame per GOP.
 */
export function buildLowLatencyLadderArgs(opts: LowLatencyLadderArgsOptions): string[] {
  if (!(opts.partFrames >= 1)) throw new RangeError('partFrames must be >= 1');
  const keyframesPerSegment = opts.keyframesPerSegment ?? 1;
  if (!Number.isInteger(keyframesPerSegment) || keyframesPerSegment < 1) throw new RangeError(`keyframesPerSegment must be a positive integer, got ${keyframesPerSegment}`);
  // the input and filter graph are those of the HLS mode: take them from buildLadderArgs
  const hls = buildLadderArgs({ ...opts, initSegmentName: 'init.mp4', startNumber: 0 });
  const firstMap = hls.indexOf('-map');
  const args = hls.slice(0, firstMap);
  const { ladder, source, segmentSeconds, frameRate } = opts;
  // keyframe interval: the segment, or an even division of it
  const keyframeSeconds = segmentSeconds / keyframesPerSegment;
  const gopFrames = Math.round(keyframeSeconds * frameRate);
  if (gopFrames < 1) throw new RangeError(`keyframesPerSegment ${keyframesPerSegment} leaves less than one frame per keyframe interval (${segmentSeconds} s segments at ${frameRate} fps)`);
  const gop = String(gopFrames);
  const hasAudio = source.audio !== undefined;
  const copyAudio = source.audio?.codec === 'aac';
  // one part, floored to the millisecond (see the doc comment)
  const fragUs = Math.floor((opts.partFrames / frameRate) * 1000 + 1e-6) * 1000;
  for (const r of ladder) {
    if (r.passthrough) {
      args.push('-map', '0:v:0', '-c:v', 'copy');
    } else {
      args.push(
        '-map', `[out${r.name}]`,
        '-c:v', 'libx264',
        '-preset', opts.preset ?? 'veryfast',
        // no lookahead, no B-frames, sliced threads: a frame leaves x264 as soon as it is encoded
        // (x264 --tune zerolatency); the frame-threaded lookahead otherwise holds ~0.5 s of video
        '-tune:v', 'zerolatency',
        '-profile:v', r.profile,
        '-level:v', r.level,
        '-b:v', `${r.videoBitrateKbps}k`,
        '-maxrate:v', `${r.maxrateKbps}k`,
        '-bufsize:v', `${r.bufsizeKbps}k`,
        // fixed GOP of one segment (or of segmentSeconds / keyframesPerSegment), no scene-cut
        // keyframes, forced IDRs on input time: as in HLS mode
        '-g:v', gop,
        '-keyint_min:v', gop,
        '-sc_threshold:v', '0',
        '-force_key_frames:v', `expr:gte(t,n_forced*${segmentSeconds}${keyframesPerSegment > 1 ? `/${keyframesPerSegment}` : ''})`,
      );
      if (opts.threads !== undefined) args.push('-threads:v', String(opts.threads));
    }
    if (hasAudio) {
      args.push('-map', '0:a:0');
      if (copyAudio) args.push('-c:a', 'copy');
      else args.push('-c:a', 'aac', '-ac', String(Math.min(source.audio?.channels ?? 2, 2)), '-b:a', `${r.audioBitrateKbps}k`);
    }
    args.push(
      '-f', 'mp4',
      // empty_moov: init segment (ftyp+moov) first, samples only in fragments;
      // frag_keyframe: a fragment starts at every keyframe (segment boundaries, independent parts);
      // default_base_moof: offsets relative to each moof, so a part is self-contained (CMAF);
      // skip_sidx/skip_trailer: no index or mfra, nothing but init + fragments in the stream
      '-movflags', '+frag_keyframe+empty_moov+default_base_moof+skip_sidx+skip_trailer',
      // one fragment per part; see the doc comment for why exactly one part long
      '-frag_duration', String(fragUs),
      // write each fragment out as soon as it is complete, not when the 32 KB I/O buffer fills
      '-flush_packets', '1',
      `${opts.outputDir}/${r.name}/${FRAGMENTED_STREAM_NAME}`,
    );
  }
  return args;
}
