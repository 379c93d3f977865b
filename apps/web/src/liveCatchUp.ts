/**
 * Live catch-up of the player page's low-latency HLS playback: the playback rate that brings a
 * live playhead back to its target latency.
 *
 * hls.js has its own catch-up (`maxLiveSyncPlaybackRate`, latency-controller.ts), but it only
 * speeds up while more than 1 s is buffered ahead of the playhead. With parts of 0.5 s and a
 * PART-HOLD-BACK of 1.0 s (two parts, RFC 8216bis §4.4.3.8's minimum) the forward buffer
 * is 0.15-0.65 s shorter than the latency (the age of the last playlist and the part still being
 * fetched), so that rule stops catching up at about 1.2-1.4 s and the playhead never reaches the
 * target the server advertises. This module keeps hls.js' rate curve and range but requires only
 * one part target (`minBuffer`) of forward buffer. The cost: the low point of the buffer's
 * saw-tooth is about 0.4 s instead of 0.7 s, so a part that much late stalls the player; hls.js
 * then adds `liveSyncOnStallIncrease` to its `targetLatency`, which this follows.
 *
 * Pure (`catchUpRate`) apart from {@link attachLiveCatchUp}, which reads hls.js and sets the
 * `<video>`'s `playbackRate`.
 */

/** What {@link catchUpRate} decides from; every figure in seconds. */
export interface CatchUpInput {
  /** How far the playhead is behind the estimated live edge (hls.js `latency`). */
  readonly latency: number;
  /** Where it should be (hls.js `targetLatency`: PART-HOLD-BACK plus hls.js' stall allowance). */
  readonly targetLatency: number;
  /** Media buffered ahead of the playhead, contiguous with it. */
  readonly forwardBuffer: number;
  /** The playlist's PART-TARGET (its EXT-X-TARGETDURATION when it has no parts). */
  readonly partTarget: number;
  /** The playlist's EXT-X-TARGETDURATION. */
  readonly targetDuration: number;
}

/** Limits of {@link catchUpRate}. */
export interface CatchUpOptions {
  /** Highest playback rate (≥ 1; hls.js caps at 2). */
  readonly maxRate: number;
  /** Forward buffer in seconds under which the playhead is not sped up; default `partTarget`. */
  readonly minBuffer?: number;
}

/** Latency above the target, in seconds, tolerated without speeding up (hls.js uses the same 50 ms). */
export const CATCH_UP_TOLERANCE_S = 0.05;

/**
 * The playback rate for one live playhead: 1 when it is within {@link CATCH_UP_TOLERANCE_S} of its
 * target, when less than `minBuffer` (default one part target) is buffered ahead, or when its
 * distance to the target reaches the target plus one target duration (hls.js' live range: a viewer
 * who paused or seeked back into the DVR window is left where they chose to be). Otherwise hls.js' logistic
 * curve of the distance d = latency − target, `2 / (1 + e^(−0.75 d))` rounded to 0.05 (1.05 at
 * d = 0.1 s, 1.1 at 0.3 s, 1.35 at 1 s), within [1, maxRate].
 *
 * @returns a rate in [1, min(2, maxRate)]; 1 for non-finite input.
 */
export function catchUpRate(input: CatchUpInput, options: CatchUpOptions): number {
  const { latency, targetLatency, forwardBuffer, partTarget, targetDuration } = input;
  if (![latency, targetLatency, forwardBuffer, partTarget, targetDuration].every(Number.isFinite)) return 1;
  const distance = latency - targetLatency;
  const minBuffer = options.minBuffer ?? partTarget;
  if (distance <= CATCH_UP_TOLERANCE_S || distance >= targetLatency + targetDuration || forwardBuffer <= minBuffer) return 1;
  const max = Math.min(2, Math.max(1, options.maxRate));
  const rate = Math.round((2 / (1 + Math.exp(-0.75 * distance))) * 20) / 20;
  return Math.min(max, Math.max(1, rate));
}

/**
 * Seconds buffered ahead of `time` in the range that contains it (0 when `time` is not buffered).
 * `buffered` is a `<video>`'s `TimeRanges`.
 */
export function forwardBufferOf(buffered: TimeRanges, time: number): number {
  for (let i = 0; i < buffered.length; i++) {
    // a playhead a few ms before a range's start (after a seek) counts as in it, as in hls.js' BufferHelper
    if (time >= buffered.start(i) - 0.01 && time < buffered.end(i)) return buffered.end(i) - time;
  }
  return 0;
}

/** The parts of an hls.js instance {@link attachLiveCatchUp} reads (hls.js ≥ 1.6). */
export interface CatchUpPlayer {
  readonly latency: number;
  readonly targetLatency: number | null;
  readonly latestLevelDetails: {
    readonly live: boolean;
    readonly partTarget: number;
    readonly targetduration: number;
  } | null;
  readonly config: { readonly lowLatencyMode: boolean };
}

/**
 * Drives `video.playbackRate` with {@link catchUpRate} on every `timeupdate` while `player` plays a
 * live low-latency playlist. When the playlist stops being live (the broadcast ended) or
 * low-latency mode is off, a rate this function set goes back to 1; a rate it did not set is left
 * alone. hls.js' own catch-up must be off (`maxLiveSyncPlaybackRate: 1`, its default), or the two
 * would fight over the rate.
 *
 * @returns a function that detaches the listener (the rate is left as it is).
 */
export function attachLiveCatchUp(player: CatchUpPlayer, video: HTMLMediaElement, options: CatchUpOptions): () => void {
  let spedUp = false;
  const onTimeUpdate = () => {
    const details = player.latestLevelDetails;
    const target = player.targetLatency;
    if (!details?.live || !player.config.lowLatencyMode || target === null) {
      if (spedUp) video.playbackRate = 1;
      spedUp = false;
      return;
    }
    const rate = catchUpRate({
      latency: player.latency,
      targetLatency: target,
      forwardBuffer: forwardBufferOf(video.buffered, video.currentTime),
      partTarget: details.partTarget || details.targetduration,
      targetDuration: details.targetduration,
    }, options);
    if (video.playbackRate !== rate) video.playbackRate = rate;
    spedUp = rate !== 1;
  };
  video.addEventListener('timeupdate', onTimeUpdate);
  return () => video.removeEventListener('timeupdate', onTimeUpdate);
}
