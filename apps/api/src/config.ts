/**
 * The API process's configuration: every environment variable it reads, with its type, default
 * and description (the README's configuration table is generated from this schema by
 * `infra/dev/bin/config-docs.ts`), and the mapping onto {@link buildApp}'s options.
 */
import { Type, type Static } from '@sinclair/typebox';
import { natsAuthFromEnv, type NatsAuth } from '@live/messaging';
import { parseJwtKeys, restreamSealingKey, type JwtKey } from '@live/auth';
import {
  ConfigError, edgePathwaysSettings, parseEdgePathways, Host, List, Port, Secret, Url, clickhouseClientSettings, databaseSettings, logSettings, natsSettings, checkSettings, parseSetting, servedOverHttps, tlsFilesOf, tlsSettings, trustProxySettings,
  restreamSettings, type EdgePathway,
} from '@live/runtime';
import { DEFAULT_API_CONFIG, type ApiConfig } from './context.js';

const positive = (description: string, dflt: number) => Type.Integer({ minimum: 1, description, default: dflt });
const count = (description: string, dflt: number) => Type.Integer({ minimum: 0, description, default: dflt });

/** Environment variables of `apps/api` (keys are the variable names). */
export const apiConfigSchema = Type.Object({
  API_PORT: Port('TCP port of the HTTP API (HTTPS with `API_TLS_CERT_FILE`).', 8080),
  API_HOST: Host('Interface the API binds (`0.0.0.0` for all).'),
  ...tlsSettings('API_TLS', 'the API'),
  PUBLIC_URL: Type.Optional(Url('Public origin of the platform as viewers reach it, e.g. `https://live.example.com`: the default CORS origin, and `https` turns on HSTS.', ['http', 'https'])),
  ...databaseSettings,
  ...natsSettings,
  ...restreamSettings,
  JWT_KEYS: Secret('Access-token key ring, `kid:secret[,kid:secret…]`: the first key signs, every key verifies; each secret at least 32 characters.', 32),
  PLAYBACK_KEYS: Type.Optional(Secret('Playback-token key ring shared with the edge (same format); default: `JWT_KEYS`.', 32)),
  PLAYBACK_TOKEN_TTL_SECONDS: Type.Integer({ minimum: 10, maximum: 86_400, default: DEFAULT_API_CONFIG.playbackTokenTtlSeconds, description: 'Lifetime of a playback token, seconds (players renew them before they expire).' }),
  INGEST_PUBLIC_URL: Url('The RTMP(S) URL publishers are told to use (OBS "Server").', ['rtmp', 'rtmps'], { default: DEFAULT_API_CONFIG.ingestUrl }),
  INGEST_SRT_PUBLIC_URL: Type.Optional(Url('The SRT listener publishers are told to use, `srt://host:port` (the dashboard shows it with the stream key in the `streamid`); unset: not shown.', ['srt'])),
  INGEST_WHIP_PUBLIC_URL: Type.Optional(Url('Base of WHIP publish URLs as encoders reach the ingest\'s WHIP listener, e.g. `https://live.example.com/whip`: the dashboard shows `<base>/<channelId>` with the stream key as the Bearer token (OBS 30+ "WHIP"); unset: not shown.', ['http', 'https'])),
  EDGE_PUBLIC_URL: Type.Optional(Url('Prefix of playback URLs (the edge or CDN); unset: same-origin paths.', ['http', 'https'])),
  WHEP_PUBLIC_URL: Type.Optional(Url('Base of WHEP playback URLs as viewers reach the ingest\'s WHIP listener, e.g. `https://live.example.com/whep`: a live stream\'s `whepUrl` is `<base>/<channelId>` and the player offers real-time (WebRTC) playback; unset: no `whepUrl`, LL-HLS only.', ['http', 'https'])),
  ...edgePathwaysSettings,
  EDGE_HEALTH_INTERVAL_MS: Type.Integer({ minimum: 100, maximum: 60_000, default: DEFAULT_API_CONFIG.edgeHealthIntervalMs, description: 'How often each edge of `EDGE_PATHWAYS` is checked, ms; a check times out after the same (at most 2 s). One failed check moves an edge to the end of the priority list, two good ones bring it back.' }),
  STEERING_TTL_SECONDS: Type.Integer({ minimum: 1, maximum: 3600, default: DEFAULT_API_CONFIG.steeringTtlSeconds, description: 'TTL of the steering manifest, seconds: players reload it this often (and follow a changed priority that soon).' }),
  ADMIN_USERNAMES: List('Usernames that become admins when they register (the first admin).', { default: [], itemText: 'usernames' }),
  STREAM_KEY_TTL_DAYS: positive('Default lifetime of a new stream key, days.', DEFAULT_API_CONFIG.streamKeyTtlDays),
  ACCESS_TOKEN_TTL_SECONDS: positive('Access-token lifetime, seconds.', DEFAULT_API_CONFIG.accessTokenTtlSeconds),
  REFRESH_TOKEN_TTL_SECONDS: positive('Refresh-token lifetime, seconds.', DEFAULT_API_CONFIG.refreshTokenTtlSeconds),
  LOGIN_PAIR_FREE_FAILURES: count('Failed sign-ins to one account from one client address before that pair must wait: 1 s after the next failure, then 2 s, 4 s … up to `LOGIN_MAX_DELAY_SECONDS` (429 `LOGIN_THROTTLED` with `Retry-After`). The owner signing in from another address is not affected.', DEFAULT_API_CONFIG.loginPairFreeFailures),
  LOGIN_ADDRESS_FREE_FAILURES: count('Failed sign-ins from one client address, over all accounts, before that address must wait (same progressive delays): limits password spraying and credential stuffing.', DEFAULT_API_CONFIG.loginAddressFreeFailures),
  LOGIN_ACCOUNT_FREE_FAILURES: count('Failed sign-ins to one account, from all addresses, before every sign-in to it must wait (progressive delays up to `LOGIN_ACCOUNT_MAX_DELAY_SECONDS`): slows a distributed attack without locking the owner out.', DEFAULT_API_CONFIG.loginAccountFreeFailures),
  LOGIN_MAX_DELAY_SECONDS: positive('Longest sign-in delay of an account + address pair and of an address, seconds.', DEFAULT_API_CONFIG.loginMaxDelaySeconds),
  LOGIN_ACCOUNT_MAX_DELAY_SECONDS: positive('Longest sign-in delay of an account over all addresses, seconds (keep it short: it also delays the owner).', DEFAULT_API_CONFIG.loginAccountMaxDelaySeconds),
  PASSWORD_HASH_CONCURRENCY: positive('Password hashes and verifications (argon2id, about 20 ms of a core and 19 MiB each) computed at once; more wait their turn, so a password spray cannot take every core from other requests. About half the cores of the API\'s machine.', DEFAULT_API_CONFIG.passwordHashConcurrency),
  LOGIN_WINDOW_SECONDS: positive('Failed sign-ins are forgotten after this many seconds without an attempt once the last delay ended.', DEFAULT_API_CONFIG.loginWindowSeconds),
  CORS_ORIGINS: Type.Optional(List('Origins allowed to call the API from a browser (`*` for any); default: `PUBLIC_URL`, or any when unset.', { itemText: 'origins' })),
  RATE_LIMIT_PER_MINUTE: positive('Requests per minute per client address.', 600),
  BEACON_RATE_LIMIT_PER_MINUTE: positive('`POST /api/beacons` batches per minute per client address.', 60),
  ...trustProxySettings,
  ...clickhouseClientSettings,
  ...logSettings,
});

/** The API's settings as loaded. */
export type ApiSettings = Static<typeof apiConfigSchema>;

/** What `main.ts` builds the app with, derived from {@link ApiSettings}. */
export interface ApiProcessConfig {
  /** This service's NATS credentials (undefined: anonymous, refused by a locked-down server). */
  readonly natsAuth: NatsAuth | undefined;
  readonly settings: ApiSettings;
  readonly api: ApiConfig;
  readonly corsOrigins: string[] | true;
  /** Whether viewers reach the API over HTTPS (own TLS or `PUBLIC_URL`): HSTS. */
  readonly hsts: boolean;
  /** Certificate files of the HTTPS listener; undefined: plain HTTP (TLS in a reverse proxy). */
  readonly tls: { certFile: string; keyFile: string } | undefined;
}

/**
 * Parses the settings that carry their own format (key rings) and applies the cross-field rules.
 * @throws ConfigError naming the variable.
 */
export function deriveApiConfig(s: ApiSettings): ApiProcessConfig {
  const jwtKeys = parseSetting('JWT_KEYS', s.JWT_KEYS, parseJwtKeys);
  const playbackKeys: JwtKey[] = s.PLAYBACK_KEYS ? parseSetting('PLAYBACK_KEYS', s.PLAYBACK_KEYS, parseJwtKeys) : [];
  const tls = tlsFilesOf(s, 'API_TLS');
  const cors = s.CORS_ORIGINS ?? (s.PUBLIC_URL ? [new URL(s.PUBLIC_URL).origin] : undefined);
  return {
    settings: s,
    natsAuth: checkSettings('NATS_USER', () => natsAuthFromEnv(s)),
    tls,
    hsts: servedOverHttps(s.PUBLIC_URL, tls),
    corsOrigins: !cors || cors.includes('*') ? true : cors,
    api: {
      ...DEFAULT_API_CONFIG,
      jwtKeys,
      playbackKeys,
      ingestUrl: s.INGEST_PUBLIC_URL,
      srtIngestUrl: s.INGEST_SRT_PUBLIC_URL ?? '',
      whipIngestBaseUrl: s.INGEST_WHIP_PUBLIC_URL ?? '',
      edgeBaseUrl: s.EDGE_PUBLIC_URL ?? '',
      whepBaseUrl: s.WHEP_PUBLIC_URL ?? '',
      adminUsernames: s.ADMIN_USERNAMES,
      streamKeyTtlDays: s.STREAM_KEY_TTL_DAYS,
      accessTokenTtlSeconds: s.ACCESS_TOKEN_TTL_SECONDS,
      refreshTokenTtlSeconds: s.REFRESH_TOKEN_TTL_SECONDS,
      loginPairFreeFailures: s.LOGIN_PAIR_FREE_FAILURES,
      loginAddressFreeFailures: s.LOGIN_ADDRESS_FREE_FAILURES,
      loginAccountFreeFailures: s.LOGIN_ACCOUNT_FREE_FAILURES,
      loginMaxDelaySeconds: s.LOGIN_MAX_DELAY_SECONDS,
      loginAccountMaxDelaySeconds: s.LOGIN_ACCOUNT_MAX_DELAY_SECONDS,
      loginWindowSeconds: s.LOGIN_WINDOW_SECONDS,
      passwordHashConcurrency: s.PASSWORD_HASH_CONCURRENCY,
      playbackTokenTtlSeconds: s.PLAYBACK_TOKEN_TTL_SECONDS,
      edgePathways: edgePathwaysOf(s.EDGE_PATHWAYS),
      edgeHealthIntervalMs: s.EDGE_HEALTH_INTERVAL_MS,
      steeringTtlSeconds: s.STEERING_TTL_SECONDS,
      ...(s.RESTREAM_KEY_SECRET ? { restreamSealing: parseSetting('RESTREAM_KEY_SECRET', s.RESTREAM_KEY_SECRET, restreamSealingKey) } : {}),
    },
  };
}

/**
 * `EDGE_PATHWAYS` parsed ({@link parseEdgePathways}).
 * @throws ConfigError naming the variable and the offending item.
 */
function edgePathwaysOf(items: readonly string[]): EdgePathway[] {
  try {
    return parseEdgePathways(items);
  } catch (err) {
    throw new ConfigError('EDGE_PATHWAYS', `EDGE_PATHWAYS: ${(err as Error).message}`);
  }
}
