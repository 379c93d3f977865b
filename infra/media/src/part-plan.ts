/**
 * How long the Partial Segments of one transcode attempt are: the part length, PART-TARGET and
 * keyframe spacing the low-latency packager (`createLlHlsPublisher`) and its ffmpeg
 * (`buildLowLatencyLadderArgs`) are given.
 *
 * A worker's own setting (`LL_HLS_PARTS_PER_SEGMENT`) decides them for a new session. A retried
 * or reconnected attempt continues the session's playlists, and their EXT-X-PART-INF must not
 * change (RFC 8216bis §4.4.3.7: the Part Target Duration of a playlist; a player sized its
 * buffer and its blocking reloads by it). So an attempt that runs on a worker set otherwise (a
 * rolling change of the setting across a cluster) keeps the session's PART-TARGET and cuts
 * parts that fit it.
 */
import { partFramesFor } from './args.js';

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
  /**
   * PART-TARGET of the session's stored playlists in seconds (`PublisherState.partTarget` of
   * the resume), absent for a new session or one with no low-latency playlist yet.
   */
  readonly sessionPartTarget?: number;
}

/** The parts of one attempt (see {@link planLowLatencyParts}). */
export interface LowLatencyPartsPlan {
  /** Frames per part: ffmpeg's fragment length and the publisher's `partFrames`. */
  readonly partFrames: number;
  /** PART-TARGET in seconds, the publisher's `partTarget`; never below one part of `partFrames`. */
  readonly partTarget: number;
  /** Keyframes per segment for ffmpeg. */
  readonly keyframesPerSegment: number;
  /** True when the session's PART-TARGET was kept against this worker's setting. */
  readonly keptSessionPartTarget: boolean;
}

/**
 * The part layout of one attempt. A new session (or one whose PART-TARGET is the one this
 * worker's setting gives) gets the worker's: `partFramesFor(frameRate, partSeconds)` frames,
 * {@link partTargetSeconds} of them, `keyframesPerSegment`. A session whose playlists carry
 * another PART-TARGET keeps it: parts of `floor(sessionPartTarget × frameRate)` frames (at
 * least 1; never longer than the target, and at most one frame shorter, within the 85 % an
 * RFC 8216bis §4.4.4.9 part needs at frame rates from 20 fps up), and the worker's keyframe
 * spacing only when a GOP is a whole number of those parts, else one keyframe per segment (a
 * keyframe inside a part would cut it short mid-segment).
 *
 * Pure. @throws RangeError when `frameRate`, `segmentSeconds` or `partSeconds` is not a positive
 *   finite number, or `keyframesPerSegment` is not a positive integer. A `sessionPartTarget` that
 *   is not a positive finite number counts as absent.
 */
export function planLowLatencyParts(input: LowLatencyPartsInput): LowLatencyPartsPlan {
  const { frameRate, segmentSeconds, partSeconds, keyframesPerSegment, sessionPartTarget } = input;
  for (const [name, v] of [['frameRate', frameRate], ['segmentSeconds', segmentSeconds], ['partSeconds', partSeconds]] as const) {
    if (!(Number.isFinite(v) && v > 0)) throw new RangeError(`${name} must be a positive number, got ${v}`);
  }
  if (!Number.isInteger(keyframesPerSegment) || keyframesPerSegment < 1) throw new RangeError(`keyframesPerSegment must be a positive integer, got ${keyframesPerSegment}`);
  const ownFrames = partFramesFor(frameRate, partSeconds);
  const ownTarget = partTargetSeconds(ownFrames, frameRate);
  const session = sessionPartTarget !== undefined && Number.isFinite(sessionPartTarget) && sessionPartTarget > 0 ? sessionPartTarget : undefined;
  if (session === undefined || Math.abs(session - ownTarget) < 1e-6) {
    return { partFrames: ownFrames, partTarget: ownTarget, keyframesPerSegment, keptSessionPartTarget: false };
  }
  const partFrames = Math.max(1, Math.floor(session * frameRate + 1e-6));
  const gopFrames = Math.round((segmentSeconds * frameRate) / keyframesPerSegment);
  return {
    partFrames,
    // one part of 1 frame can be longer than a tiny target: never advertise less than a part
    partTarget: Math.max(session, partTargetSeconds(partFrames, frameRate)),
    keyframesPerSegment: gopFrames % partFrames === 0 ? keyframesPerSegment : 1,
    keptSessionPartTarget: true,
  };
}
