/**
 * The worker process's configuration: every environment variable it reads (the README's
 * configuration table is generated from {@link workerConfigSchema}), and the Temporal connection
 * options it implies.
 */
import { readFileSync } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import { parseContentKeySecret } from '@live/auth';
import { DEFAULT_PART_HOLD_BACK_PARTS } from '@live/media';
import { natsAuthFromEnv, type NatsAuth } from '@live/messaging';
import { storageConfigFromEnv, type ObjectStorageConfig } from '@live/storage';
import {
  ConfigError, Host, Port, Secret, checkSettings, databaseSettings, logSettings, natsSettings, parseSetting, storageSettings, temporalSettings,
} from '@live/runtime';

/** Segment length of the worker's playlists in seconds (HLS and LL-HLS alike). */
export const SEGMENT_SECONDS = 2;

/** Partial Segments per segment of the low-latency playlists by default (`LL_HLS_PARTS_PER_SEGMENT`): 4, i.e. parts of 0.5 s. */
export const DEFAULT_PARTS_PER_SEGMENT = 4;

/** The most Partial Segments per segment `LL_HLS_PARTS_PER_SEGMENT` accepts: 6, parts of 1/3 s (10 frames at 30 fps). */
export const MAX_PARTS_PER_SEGMENT = 6;

/**
 * The shape of a low-latency playlist's segments, from the two settings that define it:
 * `partsPerSegment` Partial Segments per {@link SEGMENT_SECONDS} s segment, and a keyframe
 * every `keyframeParts` parts in the encoded renditions.
 */
export interface LowLatencyLayout {
  /** Partial Segments per segment, 2 to {@link MAX_PARTS_PER_SEGMENT}. */
  readonly partsPerSegment: number;
  /** Nominal Partial Segment length in seconds: `SEGMENT_SECONDS / partsPerSegment` (0.5 for 4 parts, 1/3 for 6); `partFramesFor` turns it into frames. */
  readonly partSeconds: number;
  /** Keyframe interval in parts, a divisor of `partsPerSegment` (default: `partsPerSegment`, one keyframe per segment). */
  readonly keyframeParts: number;
  /** Keyframes per segment (`buildLowLatencyLadderArgs`' `keyframesPerSegment`): `partsPerSegment / keyframeParts`. */
  readonly keyframesPerSegment: number;
}

/** The keyframe intervals, in parts, a segment of `partsPerSegment` parts allows: its divisors (4 parts: 1, 2, 4; 6 parts: 1, 2, 3, 6), so a segment is a whole number of GOPs. */
export function keyframePartsChoices(partsPerSegment: number): number[] {
  return Array.from({ length: partsPerSegment }, (_, i) => i + 1).filter((n) => partsPerSegment % n === 0);
}

/** The rule a keyframe interval of `got` parts broke, for an error message: `one of 1, 2, 4<unit> (a divisor of the 4 parts of a segment); got 3`. */
function keyframePartsRule(partsPerSegment: number, got: number, unit: string): string {
  return `one of ${keyframePartsChoices(partsPerSegment).join(', ')}${unit} (a divisor of the ${partsPerSegment} parts of a segment); got ${got}`;
}

/**
 * The low-latency layout of `partsPerSegment` parts per segment (default
 * {@link DEFAULT_PARTS_PER_SEGMENT}) with a keyframe every `keyframeParts` parts (default: one
 * per segment). 4 parts: 0.5 s parts, keyframe interval 4 -> 1 keyframe per segment (a 2 s GOP),
 * 2 -> 2 (1 s), 1 -> 4 (0.5 s). 6 parts: 1/3 s parts, intervals 6, 3, 2 or 1.
 * @throws RangeError when `partsPerSegment` is not an integer from 2 to {@link MAX_PARTS_PER_SEGMENT},
 *   or, naming the choices, when `keyframeParts` does not divide it.
 */
export function lowLatencyLayout(partsPerSegment = DEFAULT_PARTS_PER_SEGMENT, keyframeParts = partsPerSegment): LowLatencyLayout {
  if (!Number.isInteger(partsPerSegment) || partsPerSegment < 2 || partsPerSegment > MAX_PARTS_PER_SEGMENT) {
    throw new RangeError(`the parts per segment must be an integer from 2 to ${MAX_PARTS_PER_SEGMENT}; got ${partsPerSegment}`);
  }
  if (!keyframePartsChoices(partsPerSegment).includes(keyframeParts)) {
    throw new RangeError(`the keyframe interval must be ${keyframePartsRule(partsPerSegment, keyframeParts, ' parts')}`);
  }
  return { partsPerSegment, partSeconds: SEGMENT_SECONDS / partsPerSegment, keyframeParts, keyframesPerSegment: partsPerSegment / keyframeParts };
}

/** x264 presets the worker accepts (`TRANSCODE_PRESET`). */
export const TRANSCODE_PRESETS = ['ultrafast', 'superfast', 'veryfast'] as const;

/** Environment variables of `apps/worker` (keys are the variable names). */
export const workerConfigSchema = Type.Object({
  ...temporalSettings,
  ...natsSettings,
  ...storageSettings,
  DATABASE_URL: Type.Optional(databaseSettings.DATABASE_URL),
  WORK_DIR: Type.String({ minLength: 1, description: 'Scratch directory of running transcodes (created when missing).' }),
  RELAY_TOKEN: Secret('Bearer token of the ingest nodes\' relay (their `INTERNAL_TOKEN`).', 16),
  CONTENT_KEY_SECRET: Type.Optional(Secret('Secret the AES-128 HLS content keys are derived from (base64 or `hex:<hex>`, at least 16 bytes), shared with the edge; channels with encryption fail closed without it.')),
  HTTP_PORT: Port('TCP port of `/healthz` and `/metrics`; 0 picks a free one.', 0, true),
  HTTP_HOST: Host('Interface of `/healthz` and `/metrics`.'),
  ACTIVITY_SLOTS: Type.Integer({ minimum: 1, maximum: 64, default: 6, description: 'Activities at once on this worker (transcodes plus the short packaging and event activities).' }),
  TRANSCODE_PRESET: Type.Union(TRANSCODE_PRESETS.map((p) => Type.Literal(p)), { default: 'veryfast', description: 'x264 preset of the ABR ladder: faster presets cost less CPU per stream and more bits.' }),
  LL_HLS_PARTS_PER_SEGMENT: Type.Integer({ minimum: 2, maximum: MAX_PARTS_PER_SEGMENT, default: DEFAULT_PARTS_PER_SEGMENT, description: 'How many Partial Segments each 2 s segment of the low-latency playlists has: 4 gives parts of 0.5 s (PART-TARGET 0.5), 6 parts of 1/3 s (10 frames at 30 fps, the part length of RFC 8216bis\' examples). Shorter parts lower the latency of every player, ours and third-party ones alike (PART-HOLD-BACK is counted in parts), for more requests per viewer: one part and one blocking playlist reload per part. A change applies to new sessions: a retry or reconnect of a live session keeps the PART-TARGET and PART-HOLD-BACK its playlists have (logged as a warning on a worker set otherwise), so the setting can be rolled out across a cluster\'s workers one at a time.' }),
  LL_HLS_PART_HOLD_BACK_PARTS: Type.Integer({ minimum: 2, maximum: 6, default: DEFAULT_PART_HOLD_BACK_PARTS, description: 'PART-HOLD-BACK of the low-latency playlists, in parts (`LL_HLS_PARTS_PER_SEGMENT`): how far behind the newest part players start and stay (hls.js, Safari and Shaka take it as their target latency). 2 (1.0 s with 0.5 s parts) is the minimum RFC 8216bis §4.4.3.8 allows; 3 (1.5 s) is what it recommends and gives players more buffer against late parts on a loaded machine or network. A change applies to new sessions, as for `LL_HLS_PARTS_PER_SEGMENT`.' }),
  LL_HLS_KEYFRAME_PARTS: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PARTS_PER_SEGMENT, description: 'Keyframe interval of the encoded renditions of the low-latency playlists, in parts: a divisor of `LL_HLS_PARTS_PER_SEGMENT` (with 4 parts of 0.5 s: 1, 2 or 4; 3 is refused). Unset: one keyframe per 2 s segment. Fewer parts (1 s or 0.5 s GOPs with 0.5 s parts) mark more parts INDEPENDENT=YES, so a player that starts PART-HOLD-BACK behind the live edge decodes from a nearer keyframe and starts sooner, for more bits per second of video at the same quality. A passthrough (source) rendition keeps the publisher\'s own keyframes.' })),
  DVR_WINDOW_SECONDS: Type.Integer({ minimum: 6, default: 7200, description: 'Seek-back window of the live playlists, seconds (at least 3 segments).' }),
  RETENTION_INTERVAL_MINUTES: Type.Integer({ minimum: 1, maximum: 10080, default: 60, description: 'How often the `recording-retention` Temporal Schedule (created at start-up when missing) deletes recordings past their channel\'s retention, minutes.' }),
  ...logSettings,
});

/** The worker's settings as loaded. */
export type WorkerSettings = Static<typeof workerConfigSchema>;

/** Temporal connection options (`NativeConnection.connect` / `Connection.connect` take the same `address`, `tls`, `apiKey`). */
export interface TemporalConnectionConfig {
  readonly address: string;
  readonly namespace: string;
  readonly tls?: { serverNameOverride?: string; serverRootCACertificate?: Buffer; clientCertPair?: { crt: Buffer; key: Buffer } } | true;
  readonly apiKey?: string;
}

/** What `main.ts` starts the worker with. */
export interface WorkerProcessConfig {
  readonly settings: WorkerSettings;
  /** The low-latency playlists' parts and keyframes (`LL_HLS_PARTS_PER_SEGMENT`, `LL_HLS_KEYFRAME_PARTS`). */
  readonly lowLatency: LowLatencyLayout;
  readonly natsAuth: NatsAuth | undefined;
  readonly storage: ObjectStorageConfig;
  readonly contentKeySecret: Buffer | undefined;
  readonly temporal: TemporalConnectionConfig;
}

/**
 * Parses the secrets, the storage selection and the Temporal TLS files; checks that
 * `LL_HLS_KEYFRAME_PARTS` divides `LL_HLS_PARTS_PER_SEGMENT`.
 * @throws ConfigError naming the variable.
 */
export function deriveWorkerConfig(s: WorkerSettings): WorkerProcessConfig {
  const storage = checkSettings('STORAGE_DIR', () => storageConfigFromEnv(s, { required: true }));
  const parts = s.LL_HLS_PARTS_PER_SEGMENT;
  const keyframeParts = s.LL_HLS_KEYFRAME_PARTS ?? parts;
  if (!keyframePartsChoices(parts).includes(keyframeParts)) {
    throw new ConfigError('LL_HLS_KEYFRAME_PARTS', `LL_HLS_KEYFRAME_PARTS must be ${keyframePartsRule(parts, keyframeParts, '')}`);
  }
  return {
    settings: s,
    lowLatency: lowLatencyLayout(parts, keyframeParts),
    natsAuth: checkSettings('NATS_USER', () => natsAuthFromEnv(s)),
    storage,
    contentKeySecret: s.CONTENT_KEY_SECRET ? parseSetting('CONTENT_KEY_SECRET', s.CONTENT_KEY_SECRET, parseContentKeySecret) : undefined,
    temporal: temporalConnectionOf(s),
  };
}

/**
 * Temporal's connection options from `TEMPORAL_*`: TLS when any of the TLS files, the server
 * name or an API key is set (Temporal docs, "Connect to a Temporal Service": mTLS with a client
 * certificate pair, a custom CA, or an API key over TLS).
 * @throws ConfigError when only one of the client certificate pair is set.
 */
export function temporalConnectionOf(s: Pick<WorkerSettings, 'TEMPORAL_ADDRESS' | 'TEMPORAL_NAMESPACE' | 'TEMPORAL_TLS_CERT_FILE' | 'TEMPORAL_TLS_KEY_FILE' | 'TEMPORAL_TLS_CA_FILE' | 'TEMPORAL_TLS_SERVER_NAME' | 'TEMPORAL_API_KEY'>): TemporalConnectionConfig {
  if (Boolean(s.TEMPORAL_TLS_CERT_FILE) !== Boolean(s.TEMPORAL_TLS_KEY_FILE)) {
    const missing = s.TEMPORAL_TLS_CERT_FILE ? 'TEMPORAL_TLS_KEY_FILE' : 'TEMPORAL_TLS_CERT_FILE';
    throw new ConfigError(missing, `${missing} is required with ${missing === 'TEMPORAL_TLS_KEY_FILE' ? 'TEMPORAL_TLS_CERT_FILE' : 'TEMPORAL_TLS_KEY_FILE'}: mutual TLS needs the certificate and its key`);
  }
  const tlsWanted = Boolean(s.TEMPORAL_TLS_CERT_FILE || s.TEMPORAL_TLS_CA_FILE || s.TEMPORAL_TLS_SERVER_NAME || s.TEMPORAL_API_KEY);
  const tls = {
    ...(s.TEMPORAL_TLS_SERVER_NAME ? { serverNameOverride: s.TEMPORAL_TLS_SERVER_NAME } : {}),
    ...(s.TEMPORAL_TLS_CA_FILE ? { serverRootCACertificate: readFileSync(s.TEMPORAL_TLS_CA_FILE) } : {}),
    ...(s.TEMPORAL_TLS_CERT_FILE && s.TEMPORAL_TLS_KEY_FILE ? { clientCertPair: { crt: readFileSync(s.TEMPORAL_TLS_CERT_FILE), key: readFileSync(s.TEMPORAL_TLS_KEY_FILE) } } : {}),
  };
  return {
    address: s.TEMPORAL_ADDRESS,
    namespace: s.TEMPORAL_NAMESPACE,
    ...(tlsWanted ? { tls: Object.keys(tls).length > 0 ? tls : true } : {}),
    ...(s.TEMPORAL_API_KEY ? { apiKey: s.TEMPORAL_API_KEY } : {}),
  };
}
