/**
 * Ingest health measured from the RTMP media a publish delivers: pure (no timers, no I/O; the
 * caller passes the time). One {@link IngestHealthMeter} per publish; the node's reporter
 * (health-reporter.ts) takes a sample every `INGEST_HEALTH_INTERVAL_MS` and appends it as
 * `StreamIngestHealthReported`.
 */
import type { StreamIngestHealthReportedV1 } from '@live/events';
import type { MediaMessage } from './rtmp/media-sink.js';

/** What one interval measured: the data of `StreamIngestHealthReported` without its ids. */
export type IngestHealthSample = Omit<StreamIngestHealthReportedV1, 'channelId' | 'sessionId'>;

/** The fields of a {@link MediaMessage} the meter reads. */
export type MeasuredMessage = Pick<MediaMessage, 'kind' | 'timestamp' | 'keyframe' | 'sequenceHeader'> & { readonly payload: { readonly length: number } };

const TWO_32 = 2 ** 32;

/**
 * `b − a` for two RTMP timestamps (unsigned 32-bit milliseconds that wrap after ~49.7 days,
 * RTMP 1.0 §5.3.1.3), as the signed difference of smallest magnitude: a wrap between them
 * does not turn a few ms into −4,294,967,xxx.
 */
export function timestampDelta(a: number, b: number): number {
  const d = (((b - a) % TWO_32) + TWO_32) % TWO_32; // 0 ≤ d < 2^32
  return d >= TWO_32 / 2 ? d - TWO_32 : d;
}

const round = (v: number, digits: number): number => {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
};

/**
 * Measures one publish over consecutive intervals:
 * - bitrate: audio and video message payload bytes (FLV tag bodies, sequence headers included;
 *   data messages and RTMP chunk headers excluded) received in the interval, × 8 ÷ interval,
 *   in kbit/s (1 kbit = 1000 bit), total and per kind;
 * - frame rate: video messages other than sequence headers received in the interval ÷ its
 *   length in seconds (what arrived, by the wall clock: a publisher that cannot keep up shows
 *   here even when its timestamps claim the nominal rate);
 * - keyframe interval: seconds between the RTMP timestamps of the last two keyframes seen in
 *   the whole publish (not just the interval; a 10-s GOP spans two 5-s intervals), null before
 *   two were seen;
 * - A/V drift: last audio timestamp − last video timestamp (ms; positive: audio ahead), 0 while
 *   the publish has not sent both (an audio-only or video-only publish reports 0).
 * Values are rounded: kbit/s and frame rate to 2 decimals, seconds to 3.
 */
export class IngestHealthMeter {
  #intervalStart: number;
  #audioBytes = 0;
  #videoBytes = 0;
  #frames = 0;
  #lastAudioTs: number | null = null;
  #lastVideoTs: number | null = null;
  #lastKeyframeTs: number | null = null;
  #keyframeIntervalMs: number | null = null;

  /** @param startMs when the first interval starts, ms (any monotonic or epoch clock; the same one as {@link take}'s). */
  constructor(startMs: number) {
    this.#intervalStart = startMs;
  }

  /** Counts one message of the publish (in arrival order). */
  observe(msg: MeasuredMessage): void {
    if (msg.kind === 'audio') {
      this.#audioBytes += msg.payload.length;
      if (!msg.sequenceHeader) this.#lastAudioTs = msg.timestamp;
    } else if (msg.kind === 'video') {
      this.#videoBytes += msg.payload.length;
      if (msg.sequenceHeader) return;
      this.#frames += 1;
      this.#lastVideoTs = msg.timestamp;
      if (msg.keyframe) {
        if (this.#lastKeyframeTs !== null) {
          const d = timestampDelta(this.#lastKeyframeTs, msg.timestamp);
          // A repeated timestamp (the same keyframe split in two messages) is not an interval.
          if (d > 0) this.#keyframeIntervalMs = d;
        }
        this.#lastKeyframeTs = msg.timestamp;
      }
    }
  }

  /**
   * Ends the current interval at `nowMs` and starts the next one there: returns what it
   * measured and resets the per-interval counters (the keyframe and timestamp memory stays).
   * An interval of 0 ms or less (a clock that went backwards) reports rates of 0.
   */
  take(nowMs: number): IngestHealthSample {
    const intervalMs = Math.max(0, nowMs - this.#intervalStart);
    const perSecond = intervalMs > 0 ? 1000 / intervalMs : 0;
    const kbps = (bytes: number) => round((bytes * 8 * perSecond) / 1000, 2);
    const sample: IngestHealthSample = {
      intervalMs: Math.round(intervalMs),
      bitrateKbps: kbps(this.#audioBytes + this.#videoBytes),
      videoBitrateKbps: kbps(this.#videoBytes),
      audioBitrateKbps: kbps(this.#audioBytes),
      frameRate: round(this.#frames * perSecond, 2),
      keyframeIntervalSeconds: this.#keyframeIntervalMs === null ? null : round(this.#keyframeIntervalMs / 1000, 3),
      avDriftMs: this.#lastAudioTs === null || this.#lastVideoTs === null ? 0 : timestampDelta(this.#lastVideoTs, this.#lastAudioTs),
    };
    this.#intervalStart = nowMs;
    this.#audioBytes = 0;
    this.#videoBytes = 0;
    this.#frames = 0;
    return sample;
  }
}
