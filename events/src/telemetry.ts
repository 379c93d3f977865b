/**
 * Player telemetry (quality-of-experience beacons) and ingest health: shapes, the TELEMETRY
 * stream and its subjects. Pure; no I/O.
 *
 * A player page sends beacons in batches (`POST /api/beacons`, body {@link BeaconBatch}). Each
 * beacon carries the page's playback-session id and a per-session sequence number, so the pair
 * identifies it: the API appends one {@link StoredBeacon} per beacon to the TELEMETRY stream on
 * `tel.<channelId>` with `Nats-Msg-Id = <playbackSessionId>:<seq>`, and analytics stores it once
 * however often it is retried, redelivered or replayed.
 */
import { subjectToken } from './subjects.js';
import type { StreamDefinition } from './streams.js';

/** The JetStream stream of player beacons. */
export const TELEMETRY_STREAM = 'TELEMETRY';
/** How long beacons stay in TELEMETRY, seconds (7 days; analytics keeps the projection). */
export const TELEMETRY_MAX_AGE_SECONDS = 7 * 24 * 3600;

/** TELEMETRY: `tel.*`, file-backed, 7 days, 2-minute dedup window, beacons of at most 4 KiB. */
export const TELEMETRY_STREAM_DEFINITION: StreamDefinition = {
  name: TELEMETRY_STREAM,
  subjects: ['tel.*'],
  retention: 'limits',
  storage: 'file',
  duplicateWindowNs: 120 * 1e9,
  maxAgeNs: TELEMETRY_MAX_AGE_SECONDS * 1e9,
  maxMsgsPerSubject: -1,
  maxMsgSize: 4096,
  replicas: 1,
};

/** `tel.<channelId>`: the beacons of every playback of one channel (live and VOD). */
export function telemetrySubject(channelId: string): string {
  return `tel.${subjectToken(channelId)}`;
}

/** Most beacons in one batch. */
export const MAX_BEACONS_PER_BATCH = 100;
/** Largest accepted `POST /api/beacons` body, bytes. */
export const MAX_BEACON_BATCH_BYTES = 64 * 1024;
/** How far in the future (by the server's clock) a beacon's `at` may be, ms (clock skew). */
export const MAX_BEACON_CLOCK_SKEW_MS = 60_000;
/** How old a beacon's `at` may be, ms (a page that was asleep sends its backlog). */
export const MAX_BEACON_AGE_MS = 24 * 3600_000;
/** A player sends a heartbeat this often while the page is open, ms. */
export const HEARTBEAT_INTERVAL_MS = 10_000;

/** Why the player changed rendition. */
export type RenditionSwitchReason = 'initial' | 'abr' | 'manual';

/** The fields every beacon has. `at` is the client's clock, ms since the Unix epoch. */
interface BeaconBase {
  /** Per playback session, from 0, increasing by 1 per beacon. */
  readonly seq: number;
  /** ms since the Unix epoch, client clock. */
  readonly at: number;
}

/** One QoE beacon, by `type`. Positions are seconds of media; durations ms; bandwidth kbit/s. */
export type Beacon =
  | (BeaconBase & { readonly type: 'session_start'; readonly live: boolean; readonly autoplay: boolean })
  /** Time to first frame: from session_start (the player was asked to play) to the first rendered frame. */
  | (BeaconBase & { readonly type: 'first_frame'; readonly ttffMs: number; readonly rendition: string })
  | (BeaconBase & { readonly type: 'rebuffer_start'; readonly position: number })
  | (BeaconBase & { readonly type: 'rebuffer_end'; readonly position: number; readonly durationMs: number })
  | (BeaconBase & { readonly type: 'rendition_switch'; readonly from: string | null; readonly to: string; readonly reason: RenditionSwitchReason })
  | (BeaconBase & { readonly type: 'error'; readonly fatal: boolean; readonly code: string })
  /**
   * Every {@link HEARTBEAT_INTERVAL_MS} while the page is open: `playingMs` is the time spent
   * playing (not paused, not stalled) since the previous heartbeat (or session_start);
   * `liveLatencyMs` is null for VOD; `droppedFrames` is the running total of the video element.
   */
  | (BeaconBase & {
    readonly type: 'heartbeat';
    readonly position: number;
    readonly rendition: string;
    readonly bandwidthKbps: number;
    readonly liveLatencyMs: number | null;
    readonly droppedFrames: number;
    readonly playingMs: number;
  })
  | (BeaconBase & { readonly type: 'session_end'; readonly playingMs: number });

/** Every beacon type. */
export const BEACON_TYPES = ['session_start', 'first_frame', 'rebuffer_start', 'rebuffer_end', 'rendition_switch', 'error', 'heartbeat', 'session_end'] as const;
/** One of {@link BEACON_TYPES}. */
export type BeaconType = (typeof BEACON_TYPES)[number];

/** Body of `POST /api/beacons`. */
export interface BeaconBatch {
  /** A UUID the page makes when playback starts (one per page view and stream). */
  readonly playbackSessionId: string;
  /** The broadcast session being watched (live or VOD); must exist. */
  readonly sessionId: string;
  /** A random id the browser keeps (localStorage) to count unique viewers; not a user id. */
  readonly viewerId: string;
  readonly beacons: readonly Beacon[];
}

/**
 * A beacon as stored in TELEMETRY and projected into ClickHouse: the beacon plus what the API
 * knew when it accepted it. `userId` is the signed-in caller or null.
 */
export type StoredBeacon = Beacon & {
  readonly playbackSessionId: string;
  readonly channelId: string;
  readonly sessionId: string;
  readonly viewerId: string;
  readonly userId: string | null;
  /** ms since the Unix epoch, server clock. */
  readonly receivedAt: number;
};

/** `Nats-Msg-Id` (and analytics key) of a stored beacon. */
export function beaconId(b: { readonly playbackSessionId: string; readonly seq: number }): string {
  return `${b.playbackSessionId}:${b.seq}`;
}

/** How often an ingest session reports its health, ms. */
export const INGEST_HEALTH_INTERVAL_MS = 5000;

/**
 * Data of `StreamIngestHealthReported` (on `evt.stream.<channelId>`), one per live session every
 * {@link INGEST_HEALTH_INTERVAL_MS}, measured over the interval that just ended.
 */
export interface StreamIngestHealthReportedV1 {
  readonly channelId: string;
  readonly sessionId: string;
  /** Length of the measured interval, ms. */
  readonly intervalMs: number;
  /** RTMP payload received (audio + video), kbit/s. */
  readonly bitrateKbps: number;
  readonly videoBitrateKbps: number;
  readonly audioBitrateKbps: number;
  /** Video frames per second received. */
  readonly frameRate: number;
  /** Seconds between the last two keyframes; null when fewer than two were seen yet. */
  readonly keyframeIntervalSeconds: number | null;
  /** Last audio timestamp minus last video timestamp, ms (positive: audio ahead). */
  readonly avDriftMs: number;
}
