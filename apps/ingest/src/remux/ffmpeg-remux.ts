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
 * Starts ffmpeg with {@link flvRemuxArgs} and feeds its stdout through an {@link FlvReader}.
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
        for (const m of reader.push(chunk)) opts.onMessage(m);
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
