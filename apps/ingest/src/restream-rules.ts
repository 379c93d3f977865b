/**
 * The pure rules of restreaming (the I/O is in restream.ts): the ffmpeg command that copies a
 * live publish to a destination, the reconnect backoff, and the failure reason shown to the
 * streamer. Following SRS `forward` and OvenMediaEngine's push publishing: the source is copied
 * as it arrives (`-c copy`, no re-encode), one push per destination, retried until the session
 * ends.
 */

/** First reconnect delay, ms. */
export const RESTREAM_BACKOFF_BASE_MS = 1000;
/** Longest reconnect delay, ms. */
export const RESTREAM_BACKOFF_MAX_MS = 30_000;
/** A push that ran at least this long before failing starts the backoff over, ms. */
export const RESTREAM_STABLE_AFTER_MS = 30_000;

/**
 * ffmpeg arguments for one push: FLV on stdin (the relay's bytes, so no relay URL or token is in
 * the command line), every stream copied (`-map 0 -c copy`), FLV to `target` (the destination's
 * `rtmp://` / `rtmps://` URL with its key), progress on stdout every 0.5 s. The target, key
 * included, is an argument: ffmpeg has no other way to be told it (see docs/architecture.md,
 * "Restreaming").
 */
export function restreamFfmpegArgs(target: string): string[] {
  return [
    '-hide_banner', '-loglevel', 'error', '-nostats',
    '-f', 'flv', '-i', 'pipe:0',
    '-map', '0', '-c', 'copy',
    '-progress', 'pipe:1', '-stats_period', '0.5',
    '-f', 'flv', '-flvflags', 'no_duration_filesize', target,
  ];
}

/**
 * Delay before the next attempt after `failuresInARow` consecutive failures (1 = the first):
 * 1 s, 2 s, 4 s, … capped at {@link RESTREAM_BACKOFF_MAX_MS}.
 * @throws RangeError when `failuresInARow` is not a positive integer.
 */
export function restreamBackoffMs(failuresInARow: number): number {
  if (!Number.isInteger(failuresInARow) || failuresInARow < 1) throw new RangeError('failuresInARow must be a positive integer');
  return Math.min(RESTREAM_BACKOFF_MAX_MS, RESTREAM_BACKOFF_BASE_MS * 2 ** Math.min(failuresInARow - 1, 30));
}

/**
 * Consecutive failures after a push that ran `ranMs` and failed: a push that ran at least
 * {@link RESTREAM_STABLE_AFTER_MS} starts the count over (1), else it is `previous + 1`.
 */
export function nextFailureCount(previous: number, ranMs: number): number {
  return ranMs >= RESTREAM_STABLE_AFTER_MS ? 1 : previous + 1;
}

/**
 * The reason shown for a failed push: ffmpeg's last stderr line (or the exit code), with the
 * destination key replaced by `***` wherever it appears, at most 200 characters.
 */
export function restreamFailureReason(stderrTail: string, exit: { code: number | null; signal: string | null }, key: string): string {
  const lines = stderrTail.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
  let reason = lines.at(-1) ?? (exit.signal ? `ffmpeg killed by ${exit.signal}` : `ffmpeg exited with code ${String(exit.code)}`);
  if (key.length > 0) reason = reason.split(key).join('***');
  return reason.length > 200 ? `${reason.slice(0, 197)}...` : reason;
}
