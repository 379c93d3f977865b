/** Bounds and timing of the WHIP endpoint (kept apart from `server.ts`: the settings import them without werift). */

/** Timing of a WHIP session, ms. */
export interface WhipTimings {
  /** No video RTP within this long of the answer ends the session (`timed out`). */
  readonly mediaTimeoutMs: number;
  /** No RTP for this long once media flowed ends the session (`disconnected`). */
  readonly idleTimeoutMs: number;
  /** Period of the keyframe requests (RTCP PLI). */
  readonly pliIntervalMs: number;
}

/** Bounds and timing of the WHIP endpoint; see {@link DEFAULT_WHIP_LIMITS}. */
export interface WhipLimits extends WhipTimings {
  /** Most WHIP sessions (set up or live) on the node. */
  readonly maxSessions: number;
  /** Most WHIP sessions from one address. */
  readonly maxSessionsPerAddress: number;
  /** Largest offer accepted, bytes (413 past it). */
  readonly maxOfferBytes: number;
}

/** Defaults of {@link WhipLimits}. */
export const DEFAULT_WHIP_LIMITS: WhipLimits = {
  maxSessions: 100, maxSessionsPerAddress: 5, maxOfferBytes: 64 * 1024, mediaTimeoutMs: 15_000, idleTimeoutMs: 10_000, pliIntervalMs: 2_000,
};

