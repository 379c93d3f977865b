/**
 * The edge process's configuration: every environment variable it reads (the README's
 * configuration table is generated from {@link edgeConfigSchema}), and the mapping onto
 * {@link buildEdge}'s options.
 */
import { Type, type Static } from '@sinclair/typebox';
import { parseContentKeySecret, playbackKeysFromSettings, type JwtKey } from '@live/auth';
import { storageConfigFromEnv, type ObjectStorageConfig } from '@live/storage';
import { natsAuthFromEnv, type NatsAuth } from '@live/messaging';
import {
  checkSettings, ConfigError, edgePathwaysSettings, parseEdgePathways, servedOverHttps, Host, Port, Secret, Url, databaseSettings, logSettings, natsSettings, parseSetting, storageSettings, tlsFilesOf, tlsSettings, trustProxySettings,
} from '@live/runtime';
import { parseCacheBytes } from './cache.js';
import { DEFAULT_MAX_BLOCKING_PER_CLIENT, DEFAULT_MAX_WATCHED_PLAYLISTS } from './blocking.js';
import { DEFAULT_COLD_LOOKUP_CONCURRENCY, DEFAULT_COLD_LOOKUP_QUEUE } from './lookups.js';
import { DEFAULT_LIVE_SESSIONS } from './live-store.js';
import { checkEdgeSteering, type EdgeSteering } from './steering.js';
import type { EdgeServerKind } from './app.js';

/** Environment variables of `apps/edge` (keys are the variable names). */
export const edgeConfigSchema = Type.Object({
  EDGE_PORT: Port('TCP port of the edge: HLS playlists, segments, keys, and the web app with `WEB_ROOT` (HTTPS with `EDGE_TLS_CERT_FILE`).', 8081),
  EDGE_HOST: Host('Interface the edge binds (`0.0.0.0` for all).'),
  ...tlsSettings('EDGE_TLS', 'the edge'),
  EDGE_SERVER: Type.Union([Type.Literal('node'), Type.Literal('uws')], { default: 'node', description: 'The HTTP server on `EDGE_PORT`: `node`, Node\'s own server for everything; `uws`, uWebSockets.js, which answers segments and parts held in memory itself (less CPU per request than Node\'s server: `pnpm bench:edge`) and hands every other request to the edge\'s routes on a loopback port. `uws` serves plain HTTP only (terminate TLS in front of it) and is opt-in: the README\'s known limits say why.' }),
  PUBLIC_URL: Type.Optional(Url('Public origin of the platform, e.g. `https://live.example.com`; `https` turns on HSTS for the web app.', ['http', 'https'])),
  WEB_ROOT: Type.Optional(Type.String({ minLength: 1, description: 'Directory of the built web app (`apps/web/dist`) to serve at `/`; unset: the edge serves media only.' })),
  EDGE_PUBLIC_URL: Type.Optional(Url('Origin of playback URLs when it is not the page\'s own (a CDN): allowed in the web app\'s Content-Security-Policy.', ['http', 'https'])),
  ...databaseSettings,
  ...storageSettings,
  PLAYBACK_KEYS: Type.Optional(Secret('Playback-token key ring (the API\'s, `kid:secret,…`); default: `JWT_KEYS`. Without either, only public unencrypted channels play.', 32)),
  JWT_KEYS: Type.Optional(Secret('The API\'s access-token key ring, used for playback tokens when `PLAYBACK_KEYS` is unset.', 32)),
  CONTENT_KEY_SECRET: Type.Optional(Secret('Secret the AES-128 HLS content keys are derived from (base64, or `hex:<hex>`; at least 16 bytes), shared with the worker; without it `/keys/…` answers 404.')),
  EDGE_CACHE_BYTES: Type.Optional(Type.String({ pattern: '^\\d+\\s*([kKmMgG]?)[iI]?[bB]?$', patternText: 'a byte count such as `268435456` or `256m`', description: 'Memory for immutable objects (segments, parts); `0` turns the cache off.', defaultText: '`256m`' })),
  EDGE_MAX_BLOCKING_PER_CLIENT: Type.Integer({ minimum: 1, default: DEFAULT_MAX_BLOCKING_PER_CLIENT, description: 'Blocking playlist reloads (`_HLS_msn`, RFC 8216bis §6.2.5.2) one client address may have waiting at once; more are answered 429 with `Retry-After`. The address is the viewer\'s with `TRUST_PROXY`, else the proxy\'s: raise it behind a proxy that does not forward addresses.' }),
  EDGE_PATHWAY_ID: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$', patternText: '1 to 64 of `[A-Za-z0-9._-]`', description: 'This edge\'s Pathway ID for HLS Content Steering (RFC 8216bis §4.4.6.6), one of `EDGE_PATHWAYS`; with `EDGE_STEERING_URL` and `EDGE_PATHWAYS`, master playlists carry `EXT-X-CONTENT-STEERING` and every edge\'s variants, this edge\'s first. Unset: no steering.' })),
  EDGE_STEERING_URL: Type.Optional(Type.String({ pattern: '^(https?://[^\\s"]+|/[^/\\s"][^\\s"]*)$', patternText: 'an http(s) URL or a path such as `/api/streams`', description: 'Where players find the steering manifest: the prefix of the API\'s `/<streamId>/steering` route, absolute or resolved against the master playlist\'s URL (e.g. `/api/streams` when the API shares the page\'s origin). Needs `EDGE_PATHWAY_ID`.' })),
  ...edgePathwaysSettings,
  EDGE_PLAYLIST_TOKENS: Type.Union([Type.Literal('define'), Type.Literal('inline')], { default: 'define', description: 'How a media playlist of a channel that needs a playback token passes the viewer\'s token on to its segments, parts, keys and hints: `define` writes `token={$token}` into each URI and `#EXT-X-DEFINE:QUERYPARAM="token"` (RFC 8216bis §4.4.2.3; hls.js, Shaka Player and Apple\'s players), so every viewer gets the same body, compressed once, and a delta update stays about 2 KB; `inline` writes the token itself into every URI (about 7 KB per delta update) for players without variable substitution. Master playlists always carry it written out.' }),
  EDGE_ACCESS_LOG: Type.Boolean({ default: false, description: 'Log every request at `info` (Fastify\'s "incoming request" / "request completed" lines). Off by default: an LL-HLS viewer makes several requests a second, and logging each one costs the edge about a fifth of its CPU per request (and turns off the fast path for segments and parts held in memory); `edge_requests_total` counts them by kind and status.' }),
  EDGE_CMSD: Type.Boolean({ default: true, description: 'Send `CMSD-Dynamic` (CTA-5006) with segments, parts and init segments to viewers connected directly: the throughput (`etp`) and round-trip time (`rtt`) of their TCP connections as the kernel measures them, read once a second with `ss` (iproute2) while media is asked for. Low-latency players that time a held part from its request (Shaka Player) take the wait for a slow network and stay on a low rendition; Shaka Player weighs `etp` in by default. Not sent behind a proxy (`TRUST_PROXY`): the figures would be the proxy\'s connection.' }),
  EDGE_COLD_LOOKUP_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 4, default: DEFAULT_COLD_LOOKUP_CONCURRENCY, description: 'Database lookups of channels and sessions the edge does not know to exist (made-up names) at once, of its 5 connections; lookups of known ones never wait behind them.' }),
  EDGE_COLD_LOOKUP_QUEUE: Type.Integer({ minimum: 1, default: DEFAULT_COLD_LOOKUP_QUEUE, description: 'Such lookups waiting for a slot before more requests for unknown names are answered 503 `LOOKUPS_BUSY` with `Retry-After`.' }),
  EDGE_MAX_WATCHED_PLAYLISTS: Type.Integer({ minimum: 1, default: DEFAULT_MAX_WATCHED_PLAYLISTS, description: 'Distinct playlists the edge polls for waiting blocking reloads at once (each: one storage metadata read every 50 ms); a blocking reload of another playlist is answered 503 with `Retry-After`.' }),
  ...natsSettings,
  NATS_URL: Type.Optional(natsSettings.NATS_URL),
  EDGE_LIVE_BYTES: Type.Optional(Type.String({ pattern: '^\\d+\\s*([kKmMgG]?)[iI]?[bB]?$', patternText: 'a byte count such as `134217728` or `128m`', description: 'With `NATS_URL`: memory for the live playlists and recent parts announced by the packager (the sessions this edge serves).', defaultText: '`128m`' })),
  EDGE_LIVE_SESSIONS: Type.Integer({ minimum: 1, default: DEFAULT_LIVE_SESSIONS, description: 'With `NATS_URL`: live sessions whose announcements this edge subscribes to at once (the least recently watched is dropped for a new one, and then polled from storage).' }),
  ...trustProxySettings,
  ...logSettings,
});

/** The edge's settings as loaded. */
export type EdgeSettings = Static<typeof edgeConfigSchema>;

/** What `main.ts` builds the edge with. */
export interface EdgeProcessConfig {
  readonly settings: EdgeSettings;
  readonly storage: ObjectStorageConfig;
  readonly playbackKeys: JwtKey[] | undefined;
  readonly contentKeySecret: Buffer | undefined;
  readonly cacheBytes: number | undefined;
  readonly tls: { certFile: string; keyFile: string } | undefined;
  /** Whether viewers reach the edge over HTTPS (HSTS on the web app). */
  readonly https: boolean;
  /** NATS credentials (`NATS_USER`/`NATS_PASSWORD`, `NATS_TOKEN`, `NATS_CREDS`) for the media announcements. */
  readonly natsAuth: NatsAuth | undefined;
  /** `EDGE_LIVE_BYTES` parsed (undefined: the default). */
  readonly liveBytes: number | undefined;
  /** The server on `EDGE_PORT` (`EDGE_SERVER`). */
  readonly server: EdgeServerKind;
  /** HLS Content Steering of master playlists (`EDGE_PATHWAY_ID`, `EDGE_STEERING_URL`, `EDGE_PATHWAYS`); undefined: off. */
  readonly steering: EdgeSteering | undefined;
}

/**
 * Parses key rings, the content-key secret, the cache size and the storage selection.
 * @throws ConfigError naming the variable.
 */
export function deriveEdgeConfig(s: EdgeSettings): EdgeProcessConfig {
  const storage = checkSettings('STORAGE_DIR', () => storageConfigFromEnv(s, { required: true }));
  const tls = tlsFilesOf(s, 'EDGE_TLS');
  return {
    settings: s,
    storage,
    playbackKeys: checkSettings('PLAYBACK_KEYS', () => playbackKeysFromSettings(s)),
    contentKeySecret: s.CONTENT_KEY_SECRET ? parseSetting('CONTENT_KEY_SECRET', s.CONTENT_KEY_SECRET, parseContentKeySecret) : undefined,
    cacheBytes: parseSetting('EDGE_CACHE_BYTES', s.EDGE_CACHE_BYTES ?? '', parseCacheBytes),
    tls,
    https: servedOverHttps(s.PUBLIC_URL, tls),
    natsAuth: checkSettings('NATS_USER', () => natsAuthFromEnv(s)),
    liveBytes: parseSetting('EDGE_LIVE_BYTES', s.EDGE_LIVE_BYTES ?? '', parseCacheBytes),
    steering: edgeSteeringOf(s),
    server: edgeServerOf(s.EDGE_SERVER, tls !== undefined),
  };
}

/**
 * `EDGE_SERVER`, checked against the TLS files.
 * @throws ConfigError for `uws` with TLS files (the uWS front serves plain HTTP).
 */
function edgeServerOf(setting: EdgeServerKind, tls: boolean): EdgeServerKind {
  if (setting === 'uws' && tls) throw new ConfigError('EDGE_SERVER', 'EDGE_SERVER=uws serves plain HTTP: with EDGE_TLS_CERT_FILE use node, or terminate TLS in front of the edge');
  return setting;
}

/**
 * The edge's content steering: on with `EDGE_PATHWAY_ID`, which then needs `EDGE_STEERING_URL`
 * and `EDGE_PATHWAYS` naming it. `EDGE_PATHWAYS` alone is ignored (one environment file may
 * serve the API and the edges); `EDGE_STEERING_URL` alone is an error.
 * @throws ConfigError naming the missing or invalid variable.
 */
function edgeSteeringOf(s: EdgeSettings): EdgeSteering | undefined {
  if (s.EDGE_PATHWAY_ID === undefined) {
    if (s.EDGE_STEERING_URL !== undefined) throw new ConfigError('EDGE_PATHWAY_ID', 'EDGE_PATHWAY_ID is required with EDGE_STEERING_URL');
    return undefined;
  }
  if (s.EDGE_STEERING_URL === undefined) throw new ConfigError('EDGE_STEERING_URL', 'EDGE_STEERING_URL is required with EDGE_PATHWAY_ID');
  if (s.EDGE_PATHWAYS.length === 0) throw new ConfigError('EDGE_PATHWAYS', 'EDGE_PATHWAYS is required with EDGE_PATHWAY_ID (every edge, this one included)');
  const pathways = parseSetting('EDGE_PATHWAYS', s.EDGE_PATHWAYS.join(','), () => parseEdgePathways(s.EDGE_PATHWAYS));
  const pathwayId = s.EDGE_PATHWAY_ID;
  if (!pathways.some((p) => p.id === pathwayId)) throw new ConfigError('EDGE_PATHWAY_ID', `EDGE_PATHWAY_ID ${pathwayId} is not one of EDGE_PATHWAYS`);
  return parseSetting('EDGE_STEERING_URL', s.EDGE_STEERING_URL, (serverUrl) => checkEdgeSteering({ pathwayId, serverUrl, pathways }));
}
