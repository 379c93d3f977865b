/**
 * The ingest process's configuration: every environment variable it reads (the README's
 * configuration table is generated from {@link ingestConfigSchema}).
 */
import { hostname } from 'node:os';
import { Type, type Static } from '@sinclair/typebox';
import { restreamSealingKey, type SealingKey } from '@live/auth/sealed';
import { natsAuthFromEnv, type NatsAuth } from '@live/messaging';
import {
  Host, List, PROXY_TRUST_ITEMS, Port, Secret, Url, checkSettings, databaseSettings, logSettings, natsSettings, parseSetting, restreamSettings, tlsFilesOf, tlsSettings,
} from '@live/runtime';
import {
  DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_ADDRESS, DEFAULT_MAX_PENDING_BYTES, DEFAULT_MAX_PENDING_BYTES_UNPUBLISHED,
  DEFAULT_UNPUBLISHED_TIMEOUT_MS, type RtmpLimits,
} from './rtmp/index.js';
import { DEFAULT_HANDOVER_TIMEOUT_MS, DEFAULT_RECONNECT_WINDOW_SECONDS } from './reconnect.js';
import { srtSettings, srtOptionsOf, type SrtProcessOptions } from './srt/config.js';
import { deriveWhipConfig, whipSettings } from './whip/config.js';
import { deriveWhepConfig, whepSettings } from './whep/config.js';

/** Environment variables of `apps/ingest` (keys are the variable names). */
export const ingestConfigSchema = Type.Object({
  RTMP_PORT: Port('TCP port of the RTMP listener (`rtmp://<host>:<port>/live/<stream key>`); 0 picks a free one.', 1935, true),
  RTMP_HOST: Host('Interface the RTMP listener binds (`0.0.0.0` for publishers on other machines).'),
  RTMPS_PORT: Port('TCP port of the RTMPS listener (RTMP over TLS, OBS `rtmps://`), started when `RTMPS_TLS_CERT_FILE` is set; 0 picks a free one.', 1936, true),
  RTMPS_HOST: Type.Optional(Type.String({ minLength: 1, description: 'Interface the RTMPS listener binds.', defaultText: '`RTMP_HOST`' })),
  ...tlsSettings('RTMPS_TLS', 'the RTMPS listener'),
  HTTP_PORT: Port('Internal HTTP port: the HTTP-FLV relay transcoders read, `/healthz`, `/metrics`; 0 picks a free one.', 8090, true),
  HTTP_HOST: Host('Interface of the internal HTTP listener (reachable by the workers, not by viewers).'),
  RELAY_BASE_URL: Type.Optional(Url('How transcoders reach this node\'s relay, e.g. `http://10.0.0.5:8090`.', ['http', 'https'], { defaultText: '`http://HTTP_HOST:HTTP_PORT`' })),
  INTERNAL_TOKEN: Secret('Bearer token the relay requires from transcoders (the workers\' `RELAY_TOKEN`); at least 16 characters.', 16),
  RTMP_MAX_CONNECTIONS: Type.Integer({ minimum: 1, default: DEFAULT_MAX_CONNECTIONS, description: 'Most RTMP and RTMPS connections open at once on this node (both listeners together, counted from TCP accept); one more is closed at once and counted in `ingest_connections_refused_total{reason="total"}`.' }),
  RTMP_MAX_CONNECTIONS_PER_ADDRESS: Type.Integer({ minimum: 1, default: DEFAULT_MAX_CONNECTIONS_PER_ADDRESS, description: 'Most RTMP and RTMPS connections open at once from one IP address (IPv4-mapped IPv6 counts as IPv4); raise it for many encoders behind one NAT. One more is closed at once (`ingest_connections_refused_total{reason="per_address"}`).' }),
  RTMP_UNPUBLISHED_TIMEOUT_SECONDS: Type.Number({ minimum: 0, default: DEFAULT_UNPUBLISHED_TIMEOUT_MS / 1000, description: 'A connection must have its publish accepted (connect, publish with a valid stream key) within this many seconds of the RTMP handshake, however much it sends meanwhile; 0 disables it. Publishing connections are closed after 30 s without any data instead.' }),
  RTMP_MAX_PENDING_BYTES_UNPUBLISHED: Type.Integer({ minimum: 1024, default: DEFAULT_MAX_PENDING_BYTES_UNPUBLISHED, description: 'Most bytes a connection without an accepted publish may hold in partially received RTMP messages (commands are small); over it the connection is closed.' }),
  RTMP_MAX_PENDING_BYTES_PER_CONNECTION: Type.Integer({ minimum: 1024, default: 16 * 1024 * 1024, description: 'Most bytes a publishing connection may hold in partially received RTMP messages (a keyframe in transit, with interleaved audio); over it the connection is closed.' }),
  RTMP_MAX_PENDING_BYTES: Type.Integer({ minimum: 1024, default: DEFAULT_MAX_PENDING_BYTES, description: 'Most bytes all connections of this node together may hold in partially received RTMP messages; the connection whose message would grow past it is closed, the others keep going.' }),
  INGEST_RECONNECT_WINDOW_SECONDS: Type.Number({ minimum: 0, maximum: 3600, default: DEFAULT_RECONNECT_WINDOW_SECONDS, description: 'Reconnect window (Mux\'s `reconnect_window`): when a publisher\'s connection drops without a clean stop (TCP close or reset, idle timeout; no `FCUnpublish`/`deleteStream`), its session waits this many seconds (`StreamPublishInterrupted`, the session shows `reconnecting`); a publish with a key of the channel on any ingest node within it continues the same session, workflow and playlists (one `EXT-X-DISCONTINUITY`, one VOD). 0: a drop ends the session at once. Node-wide today; a per-channel value would come from the channel read model through the stream-key check and override it.' }),
  INGEST_HANDOVER_TIMEOUT_MS: Type.Integer({ minimum: 50, maximum: 30000, default: DEFAULT_HANDOVER_TIMEOUT_MS, description: 'How long a node waits for the node holding a channel\'s publish lease to answer its handover request (core NATS `ingest.handover.<nodeId>`) before deeming it dead and taking the lease over, instead of waiting for the 30 s lease expiry.' }),
  RTMP_PROXY_PROTOCOL_FROM: Type.Optional(List('The TCP load balancers in front of the RTMP and RTMPS listeners that send the PROXY protocol (HAProxy `send-proxy-v2` or `send-proxy`, an AWS NLB with proxy protocol v2). A connection from one of them must start with a PROXY header (for RTMPS, before TLS), and the publisher it names is the address every rule sees (connection caps, stream-key CIDRs, logs); other peers connect directly. Unset: no PROXY protocol.', PROXY_TRUST_ITEMS)),
  INGEST_NODE_ID: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,100}$', patternText: 'letters, digits, `_` or `-`', description: 'This node\'s id in StreamPublishStarted and logs.', defaultText: '`ingest-<hostname>`' })),
  ...srtSettings,
  ...whipSettings,
  ...whepSettings,
  ...restreamSettings,
  ...databaseSettings,
  ...natsSettings,
  ...logSettings,
});

/** The ingest node's settings as loaded. */
export type IngestSettings = Static<typeof ingestConfigSchema>;

/** What `main.ts` starts the node with. */
export interface IngestProcessConfig {
  readonly settings: IngestSettings;
  /** This service's NATS credentials (undefined: anonymous, refused by a locked-down server). */
  readonly natsAuth: NatsAuth | undefined;
  readonly nodeId: string;
  readonly relayBaseUrl: string;
  /** The RTMPS listener, when its certificate files are set. */
  readonly rtmps: { port: number; host: string; certFile: string; keyFile: string } | undefined;
  /** Bounds of the RTMP/RTMPS listeners, from the `RTMP_MAX_*` and `RTMP_UNPUBLISHED_*` settings. */
  readonly rtmpLimits: RtmpLimits;
  /** `INGEST_RECONNECT_WINDOW_SECONDS` in ms. */
  readonly reconnectWindowMs: number;
  /** Opens restream destination keys (`RESTREAM_KEY_SECRET`); undefined without it. */
  readonly restreamSealing: SealingKey | undefined;
  /** The SRT listener, when `SRT_PORT` is set. */
  readonly srt: SrtProcessOptions | undefined;
  /** The WHIP endpoint (`WHIP_*` settings). */
  readonly whip: ReturnType<typeof deriveWhipConfig>;
  /** WHEP playback on the WHIP listener (`WHEP_*`, `PLAYBACK_KEYS`); undefined when turned off. */
  readonly whep: ReturnType<typeof deriveWhepConfig>;
}

/**
 * Applies defaults that depend on other settings.
 * @throws ConfigError naming the variable.
 */
export function deriveIngestConfig(s: IngestSettings): IngestProcessConfig {
  const tls = tlsFilesOf(s, 'RTMPS_TLS');
  return {
    settings: s,
    natsAuth: checkSettings('NATS_USER', () => natsAuthFromEnv(s)),
    nodeId: s.INGEST_NODE_ID ?? `ingest-${hostname().replace(/[^A-Za-z0-9_-]/g, '-')}`,
    relayBaseUrl: s.RELAY_BASE_URL ?? `http://${s.HTTP_HOST}:${s.HTTP_PORT}`,
    rtmps: tls ? { port: s.RTMPS_PORT, host: s.RTMPS_HOST ?? s.RTMP_HOST, ...tls } : undefined,
    reconnectWindowMs: Math.round(s.INGEST_RECONNECT_WINDOW_SECONDS * 1000),
    srt: srtOptionsOf(s),
    whip: checkSettings('WHIP_ICE_PORT_MIN', () => deriveWhipConfig(s)),
    whep: deriveWhepConfig(s),
    restreamSealing: s.RESTREAM_KEY_SECRET ? parseSetting('RESTREAM_KEY_SECRET', s.RESTREAM_KEY_SECRET, restreamSealingKey) : undefined,
    rtmpLimits: {
      maxConnections: s.RTMP_MAX_CONNECTIONS,
      maxConnectionsPerAddress: s.RTMP_MAX_CONNECTIONS_PER_ADDRESS,
      unpublishedTimeoutMs: Math.round(s.RTMP_UNPUBLISHED_TIMEOUT_SECONDS * 1000),
      maxPendingBytesUnpublished: s.RTMP_MAX_PENDING_BYTES_UNPUBLISHED,
      maxPendingBytesPerConnection: s.RTMP_MAX_PENDING_BYTES_PER_CONNECTION,
      maxPendingBytes: s.RTMP_MAX_PENDING_BYTES,
    },
  };
}

