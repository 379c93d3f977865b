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

/** Nominal Partial Segment length of the low-latency playlists in seconds (`partFramesFor`'s default: 15 frames at 30 fps). */
export const PART_SECONDS = 0.5;

/** Partial Segments per segment of the low-latency playlists: {@link SEGMENT_SECONDS} / {@link PART_SECONDS} = 4. */
export const PARTS_PER_SEGMENT = Math.round(SEGMENT_SECONDS / PART_SECONDS);

/** The values `LL_HLS_KEYFRAME_PARTS` accepts: the divisors of {@link PARTS_PER_SEGMENT} (1, 2, 4), so a segment is a whole number of GOPs. */
export const KEYFRAME_PARTS_CHOICES: readonly number[] = Array.from({ length: PARTS_PER_SEGMENT }, (_, i) => i + 1).filter((n) => PARTS_PER_SEGMENT % n === 0);

/** The rule a keyframe interval of `got` parts broke, for an error message: `one of 1, 2, 4<unit> (a divisor of the 4 parts of a segment); got 3`. */
function keyframePartsRule(got: number, unit: string): string {
  return `one of ${KEYFRAME_PARTS_CHOICES.join(', ')}${unit} (a divisor of the ${PARTS_PER_SEGMENT} parts of a segment); got ${got}`;
}

/**
 * Keyframes per segment (`buildLowLatencyLadderArgs`' `keyframesPerSegment`) for a keyframe
 * interval of `keyframeParts` parts (`LL_HLS_KEYFRAME_PARTS`): 4 -> 1 (a 2 s GOP), 2 -> 2 (1 s),
 * 1 -> 4 (0.5 s).
 * @throws RangeError, naming the choices, unless `keyframeParts` is one of {@link KEYFRAME_PARTS_CHOICES}.
 */
export function keyframesPerSegmentFor(keyframeParts: number): number {
  if (!KEYFRAME_PARTS_CHOICES.includes(keyframeParts)) {
    throw new RangeError(`the keyframe interval must be ${keyframePartsRule(keyframeParts, ' parts')}`);
  }
  return PARTS_PER_SEGMENT / keyframeParts;
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
  LL_HLS_PART_HOLD_BACK_PARTS: Type.Integer({ minimum: 2, maximum: 6, default: DEFAULT_PART_HOLD_BACK_PARTS, description: 'PART-HOLD-BACK of the low-latency playlists, in parts of 0.5 s: how far behind the newest part players start and stay (hls.js, Safari and Shaka take it as their target latency). 2 (1.0 s) is the minimum RFC 8216bis §4.4.3.8 allows; 3 (1.5 s) is what it recommends and gives players more buffer against late parts on a loaded machine or network.' }),
  LL_HLS_KEYFRAME_PARTS: Type.Integer({ minimum: 1, maximum: PARTS_PER_SEGMENT, default: PARTS_PER_SEGMENT, description: 'Keyframe interval of the encoded renditions of the low-latency playlists, in parts of 0.5 s: 1, 2 or 4 (a divisor of the 4 parts of a 2 s segment; 3 is refused). 4 is one keyframe per segment (2 s GOP); 2 (1 s) or 1 (0.5 s) mark more parts INDEPENDENT=YES, so a player that starts PART-HOLD-BACK behind the live edge decodes from a nearer keyframe and starts sooner, for more bits per second of video at the same quality. A passthrough (source) rendition keeps the publisher\'s own keyframes.' }),
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
  readonly natsAuth: NatsAuth | undefined;
  readonly storage: ObjectStorageConfig;
  readonly contentKeySecret: Buffer | undefined;
  readonly temporal: TemporalConnectionConfig;
}

/**
 * Parses the secrets, the storage selection and the Temporal TLS files; checks that
 * `LL_HLS_KEYFRAME_PARTS` divides the parts of a segment.
 * @throws ConfigError naming the variable.
 */
export function deriveWorkerConfig(s: WorkerSettings): WorkerProcessConfig {
  const storage = checkSettings('STORAGE_DIR', () => storageConfigFromEnv(s, { required: true }));
  if (!KEYFRAME_PARTS_CHOICES.includes(s.LL_HLS_KEYFRAME_PARTS)) {
    throw new ConfigError('LL_HLS_KEYFRAME_PARTS', `LL_HLS_KEYFRAME_PARTS must be ${keyframePartsRule(s.LL_HLS_KEYFRAME_PARTS, '')}`);
  }
  return {
    settings: s,
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
