/**
 * How the Partial Segments of one transcode attempt are laid out: the part length, PART-TARGET,
 * keyframe spacing and PART-HOLD-BACK the low-latency packager (`createLlHlsPublisher`) and its
 * ffmpeg (`buildLowLatencyLadderArgs`) are given.
 *
 * A worker's own settings (`LL_HLS_PARTS_PER_SEGMENT`, `LL_HLS_KEYFRAME_PARTS`,
 * `LL_HLS_PART_HOLD_BACK_PARTS`) decide them for a new session. A retried or reconnected attempt
 * continues the session's playlists, whose EXT-X-PART-INF and EXT-X-SERVER-CONTROL must not
 * change (RFC 8216bis §6.2.1 lists the changes a server may make to a Media Playlist; a player
 * sized its buffer, its target latency and its blocking reloads by them). So an attempt that runs
 * on a worker set otherwise (a rolling change of a setting across a cluster) keeps the
 * session's PART-TARGET, with parts that fit it, and its PART-HOLD-BACK.
 */
import { partFramesFor } from './args.js';

/**
 * Default PART-HOLD-BACK, in parts: 2, the minimum of RFC 8216bis §4.4.3.8 ("at least twice the
 * Part Target Duration"; it SHOULD be three times). With 0.5 s parts that is 1.0 s: the edge
 * holds preload-hinted parts and blocking reloads, so a player learns of a part when it is
 * written, and two parts of buffer cover a part's publishing interval plus its request.
 * `pnpm bench:latency` (apps/web/bench/BENCH.md) measured the glass-to-glass latency of both.
 */
export const DEFAULT_PART_HOLD_BACK_PARTS = 2;

/**
 * The Part Target Duration (seconds) for `partFrames` at `frameRate` frames/s: one part's
 * nominal length `partFrames / frameRate` rounded UP to the millisecond. The rounding absorbs
 * the millisecond timestamps of FLV sources, which a passthrough rendition keeps: at 29.97 fps
 * 15 frames last 0.5005 s, but with ms timestamps the parts alternate 0.500 / 0.501 s, so
 * PART-TARGET is 0.501 (RFC 8216bis §4.4.4.9: every part <= PART-TARGET). Exact frame rates
 * (30, 25, 60) are unaffected: 15 frames at 30 fps give 0.5.
 */
export function partTargetSeconds(partFrames: number, frameRate: number): number {
  return Math.ceil((partFrames / frameRate) * 1000 - 1e-6) / 1000;
}

/** What {@link planLowLatencyParts} decides from. */
export interface LowLatencyPartsInput {
  /** The source's frame rate, frames/s (> 0). */
  readonly frameRate: number;
  /** Segment length in seconds (`buildLowLatencyLadderArgs`' `segmentSeconds`, e.g. 2). */
  readonly segmentSeconds: number;
  /** This worker's nominal part length in seconds (e.g. 0.5 for 4 parts per 2 s segment). */
  readonly partSeconds: number;
  /** This worker's keyframes per segment (an integer ≥ 1; `buildLowLatencyLadderArgs`' `keyframesPerSegment`). */
  readonly keyframesPerSegment: number;
  /** This worker's PART-HOLD-BACK in parts (default {@link DEFAULT_PART_HOLD_BACK_PARTS}). */
  readonly partHoldBackParts?: number;
  /**
   * The resumed session's PART-TARGET and PART-HOLD-BACK in seconds, as its stored playlists
   * carry them (the resume's `PublisherState`); absent, or without them, for a new session or
   * one with no low-latency playlist yet.
   */
  readonly session?: { readonly partTarget?: number; readonly partHoldBack?: number };
}

/** The parts of one attempt (see {@link planLowLatencyParts}). */
export interface LowLatencyPartsPlan {
  /** Frames per part: ffmpeg's fragment length and the publisher's `partFrames`. */
  readonly partFrames: number;
  /** PART-TARGET in seconds, the publisher's `partTarget`; never below one part of `partFrames`. */
  readonly partTarget: number;
  /** Keyframes per segment for ffmpeg. */
  readonly keyframesPerSegment: number;
  /** PART-HOLD-BACK in parts of `partTarget`, the publisher's `partHoldBackParts`. */
  readonly partHoldBackParts: number;
  /** What was kept from the session against this worker's settings (empty for a new session). */
  readonly keptFromSession: ReadonlyArray<'PART-TARGET' | 'PART-HOLD-BACK'>;
}

const positive = (v: number | undefined): number | undefined => (v !== undefined && Number.isFinite(v) && v > 0 ? v : undefined);

/**
 * The part layout of one attempt. A new session (or one whose PART-TARGET is the one this
 * worker's setting gives) gets the worker's: `partFramesFor(frameRate, partSeconds)` frames,
 * {@link partTargetSeconds} of them, `keyframesPerSegment`. A session whose playlists carry
 * another PART-TARGET keeps it: parts of `floor(session.partTarget × frameRate)` frames (at
 * least 1; never longer than the target, and at most one frame shorter, within the 85 % an
 * RFC 8216bis §4.4.4.9 part needs at frame rates from 20 fps up), and the worker's keyframe
 * spacing only when a GOP is a whole number of those parts, else one keyframe per segment (a
 * keyframe inside a part would cut it short mid-segment). Likewise the session's PART-HOLD-BACK
 * is kept when it is a whole number (2 to 6) of the PART-TARGET, else the worker's
 * `partHoldBackParts` applies.
 *
 * Pure. @throws RangeError when `frameRate`, `segmentSeconds` or `partSeconds` is not a positive
 *   finite number, or `keyframesPerSegment` is not a positive integer. A session value that is
 *   not a positive finite number counts as absent.
 */
export function planLowLatencyParts(input: LowLatencyPartsInput): LowLatencyPartsPlan {
  const { frameRate, segmentSeconds, partSeconds, keyframesPerSegment } = input;
  for (const [name, v] of [['frameRate', frameRate], ['segmentSeconds', segmentSeconds], ['partSeconds', partSeconds]] as const) {
    if (!(Number.isFinite(v) && v > 0)) throw new RangeError(`${name} must be a positive number, got ${v}`);
  }
  if (!Number.isInteger(keyframesPerSegment) || keyframesPerSegment < 1) throw new RangeError(`keyframesPerSegment must be a positive integer, got ${keyframesPerSegment}`);
  const kept: Array<'PART-TARGET' | 'PART-HOLD-BACK'> = [];
  let partFrames = partFramesFor(frameRate, partSeconds);
  let partTarget = partTargetSeconds(partFrames, frameRate);
  let keyframes = keyframesPerSegment;
  const sessionTarget = positive(input.session?.partTarget);
  if (sessionTarget !== undefined && Math.abs(sessionTarget - partTarget) >= 1e-6) {
    partFrames = Math.max(1, Math.floor(sessionTarget * frameRate + 1e-6));
    // one part of 1 frame can be longer than a tiny target: never advertise less than a part
    partTarget = Math.max(sessionTarget, partTargetSeconds(partFrames, frameRate));
    const gopFrames = Math.round((segmentSeconds * frameRate) / keyframesPerSegment);
    if (gopFrames % partFrames !== 0) keyframes = 1;
    kept.push('PART-TARGET');
  }
  let partHoldBackParts = input.partHoldBackParts ?? DEFAULT_PART_HOLD_BACK_PARTS;
  const sessionHoldBack = positive(input.session?.partHoldBack);
  if (sessionHoldBack !== undefined) {
    const parts = sessionHoldBack / partTarget;
    const whole = Math.round(parts);
    if (Math.abs(parts - whole) < 1e-3 && whole >= 2 && whole <= 6 && whole !== partHoldBackParts) {
      partHoldBackParts = whole;
      kept.push('PART-HOLD-BACK');
    }
  }
  return { partFrames, partTarget, keyframesPerSegment: keyframes, partHoldBackParts, keptFromSession: kept };
}
