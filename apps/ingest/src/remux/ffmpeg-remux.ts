/**
 * A supervised ffmpeg that remuxes a publish arriving over another protocol (SRT's MPEG-TS, WHIP's
 * RTP described by an SDP) to FLV on its stdout, read back as {@link MediaMessage}s by
 * {@link FlvReader}: the one conversion point between those protocols and the RTMP-shaped relay.
 * Video is copied by default (H.264), audio copied or transcoded (Opus → AAC for WHIP) by the
 * caller's codec args.
 */
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { runFfmpeg, type FfmpegResult } from '@live/media/ffmpeg';
import type { MediaMessage } from '../rtmp/index.js';
import { FlvReader } from './flv-reader.js';

/** Options of {@link startFlvRemux}. */
export interface FlvRemuxOptions {
  /** ffmpeg's input arguments, e.g. `['-f', 'mpegts', '-i', 'pipe:0']`. */
  readonly inputArgs: readonly string[];
  /** Codec arguments of the output; default `['-c:v', 'copy', '-c:a', 'copy']`. */
  readonly codecArgs?: readonly string[];
  /** Bytes for `-i pipe:0`, copied with backpressure (see `runFfmpeg`). */
  readonly stdin?: Readable;
  /** Receives every remuxed message in order. Must not throw. */
  onMessage(msg: MediaMessage): void;
  /** Stops ffmpeg (end of input first, then signals; see `runFfmpeg`). */
  readonly signal?: AbortSignal;
  readonly logger: Logger;
}

/** A running remux. */
export interface FlvRemux {
  /** Settles when ffmpeg has exited: its result, or the `FfmpegError` / `FlvFormatError` that ended it. */
  readonly done: Promise<FfmpegResult>;
}

/**
 * The ffmpeg arguments of a remux (pure, for tests): quiet logging, the input, the first video
 * and first audio stream (either may be missing), the codec args, FLV on `pipe:1` without the
 * seek-back duration/filesize update a pipe cannot take.
 */
export function flvRemuxArgs(inputArgs: readonly string[], codecArgs: readonly string[] = ['-c:v', 'copy', '-c:a', 'copy']): string[] {
  return [
    '-hide_banner', '-loglevel', 'warning', ...inputArgs,
    '-map', '0:v:0?', '-map', '0:a:0?', ...codecArgs,
    '-f', 'flv', '-flvflags', 'no_duration_filesize', 'pipe:1',
  ];
}

/**
 * True for an AAC sequence header without its AudioSpecificConfig (`AF 00` and nothing more):
 * ffmpeg's FLV muxer writes one when copying ADTS audio (MPEG-TS), before the ADTS→ASC
 * conversion yields the config, then the real one at the same timestamp (E.4.2.1 of the FLV
 * spec: AACPacketType 0 carries the AudioSpecificConfig). The remux drops the empty one.
 */
export function isEmptyAacSequenceHeader(m: MediaMessage): boolean {
  return m.kind === 'audio' && m.payload.length <= 2 && (m.payload[0]! >> 4) === 10 && m.payload[1] === 0;
}

/**
 * Starts ffmpeg with {@link flvRemuxArgs} and feeds its stdout through an {@link FlvReader}.
 * Empty AAC sequence headers are dropped ({@link isEmptyAacSequenceHeader}).
 * Output that is not FLV (a broken ffmpeg) aborts the run; `done` then rejects with the
 * `FlvFormatError`.
 * @throws BinaryNotFoundError (synchronously) when no ffmpeg is configured or on PATH.
 */
export function startFlvRemux(opts: FlvRemuxOptions): FlvRemux {
  const reader = new FlvReader();
  const stop = new AbortController();
  let formatError: Error | undefined;
  opts.signal?.addEventListener('abort', () => stop.abort(), { once: true });
  const run = runFfmpeg(flvRemuxArgs(opts.inputArgs, opts.codecArgs), {
    signal: stop.signal,
    ...(opts.stdin ? { stdin: opts.stdin } : {}),
    onStdout(chunk) {
      if (formatError) return;
      try {
        for (const m of reader.push(chunk)) if (!isEmptyAacSequenceHeader(m)) opts.onMessage(m);
      } catch (err) {
        formatError = err as Error;
        opts.logger.error({ err: formatError.message }, 'remux output is not FLV; stopping it');
        stop.abort();
      }
    },
    onStderrLine: (line) => opts.logger.debug({ ffmpeg: line }, 'remux'),
  });
  return {
    done: run.then((r) => {
      if (formatError) throw formatError;
      return r;
    }),
  };
}
