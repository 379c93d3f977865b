/**
 * API process: listens on API_PORT (default 8080) at API_HOST (default 127.0.0.1).
 * Env:
 * - DATABASE_URL, NATS_URL (required);
 * - JWT_KEYS: the access-token key ring, `kid:secret[,kid:secret…]` (the first signs; each
 *   secret at least 32 characters); required;
 * - PLAYBACK_KEYS: the playback-token key ring (same format; shared with the edge); default:
 *   JWT_KEYS; PLAYBACK_TOKEN_TTL_SECONDS (600);
 * - INGEST_PUBLIC_URL: the RTMP URL publishers are told (default rtmp://127.0.0.1:1935/live);
 * - EDGE_PUBLIC_URL: prefix of playback URLs (default same-origin);
 * - ADMIN_USERNAMES: comma-separated usernames that become admins when they register;
 * - STREAM_KEY_TTL_DAYS (default 30), ACCESS_TOKEN_TTL_SECONDS (900), REFRESH_TOKEN_TTL_SECONDS (2592000);
 * - LOGIN_MAX_FAILURES (10) per account and per address within LOGIN_WINDOW_SECONDS (900);
 * - CORS_ORIGINS: comma-separated allowed origins (default any); RATE_LIMIT_PER_MINUTE (600);
 *   BEACON_RATE_LIMIT_PER_MINUTE (60 `POST /api/beacons` batches per address); LOG_LEVEL;
 * - CLICKHOUSE_URL: the ClickHouse HTTP endpoint the analytics routes query (a server, or the
 *   embedded stack's projector serving its chDB); CLICKHOUSE_USER, CLICKHOUSE_PASSWORD,
 *   CLICKHOUSE_DATABASE optional. Unset: the analytics routes answer 503 ANALYTICS_UNAVAILABLE.
 * Every hour it deletes expired refresh tokens and stale sign-in failure counters.
 */
import { createDb, migrateToLatest } from '@live/db';
import { createAnalyticsClient } from '@live/analytics';
import { connectMessaging, ensureEventStreams } from '@live/messaging';
import { buildApp } from './app.js';
import { deleteExpiredRefreshTokens } from './auth/refresh.js';
import { deleteStaleLoginFailures } from './auth/throttle.js';
import { parseJwtKeys, type JwtKey } from '@live/auth';
import { DEFAULT_API_CONFIG } from './context.js';

const level = process.env.LOG_LEVEL ?? 'info';
function env(name: string): string {
  const v = process.env[name];
  if (!v) { console.error(`${name} is required`); process.exit(2); }
  return v;
}
function jwtKeysFromEnv(): JwtKey[] {
  try {
    return parseJwtKeys(env('JWT_KEYS'));
  } catch (err) {
    console.error(`JWT_KEYS: ${(err as Error).message}`);
    process.exit(2);
  }
}
function playbackKeysFromEnv(): JwtKey[] {
  if (!process.env.PLAYBACK_KEYS) return [];
  try {
    return parseJwtKeys(process.env.PLAYBACK_KEYS);
  } catch (err) {
    console.error(`PLAYBACK_KEYS: ${(err as Error).message}`);
    process.exit(2);
  }
}
const num = (name: string, dflt: number): number => (process.env[name] ? Number(process.env[name]) : dflt);

const db = createDb(env('DATABASE_URL'));
await migrateToLatest(db);
const messaging = await connectMessaging(env('NATS_URL'), 'api');
await ensureEventStreams(messaging.jsm);
const analytics = process.env.CLICKHOUSE_URL
  ? createAnalyticsClient({
    url: process.env.CLICKHOUSE_URL,
    ...(process.env.CLICKHOUSE_USER ? { username: process.env.CLICKHOUSE_USER } : {}),
    ...(process.env.CLICKHOUSE_PASSWORD ? { password: process.env.CLICKHOUSE_PASSWORD } : {}),
    ...(process.env.CLICKHOUSE_DATABASE ? { database: process.env.CLICKHOUSE_DATABASE } : {}),
  })
  : undefined;
const app = await buildApp({
  db,
  messaging,
  ...(analytics ? { analytics } : {}),
  logger: { name: 'api', level },
  config: {
    jwtKeys: jwtKeysFromEnv(),
    ingestUrl: process.env.INGEST_PUBLIC_URL ?? DEFAULT_API_CONFIG.ingestUrl,
    edgeBaseUrl: process.env.EDGE_PUBLIC_URL ?? '',
    adminUsernames: (process.env.ADMIN_USERNAMES ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    streamKeyTtlDays: num('STREAM_KEY_TTL_DAYS', DEFAULT_API_CONFIG.streamKeyTtlDays),
    accessTokenTtlSeconds: num('ACCESS_TOKEN_TTL_SECONDS', DEFAULT_API_CONFIG.accessTokenTtlSeconds),
    refreshTokenTtlSeconds: num('REFRESH_TOKEN_TTL_SECONDS', DEFAULT_API_CONFIG.refreshTokenTtlSeconds),
    loginMaxFailures: num('LOGIN_MAX_FAILURES', DEFAULT_API_CONFIG.loginMaxFailures),
    loginWindowSeconds: num('LOGIN_WINDOW_SECONDS', DEFAULT_API_CONFIG.loginWindowSeconds),
    playbackKeys: playbackKeysFromEnv(),
    playbackTokenTtlSeconds: num('PLAYBACK_TOKEN_TTL_SECONDS', DEFAULT_API_CONFIG.playbackTokenTtlSeconds),
  },
  ...(process.env.CORS_ORIGINS ? { corsOrigins: process.env.CORS_ORIGINS.split(',').map((s) => s.trim()) } : {}),
  rateLimit: { max: num('RATE_LIMIT_PER_MINUTE', 600), timeWindowMs: 60_000 },
  beaconRateLimit: { max: num('BEACON_RATE_LIMIT_PER_MINUTE', 60), timeWindowMs: 60_000 },
});
if (!analytics) app.log.warn('CLICKHOUSE_URL is unset: analytics routes answer 503');
await app.listen({ port: Number(process.env.API_PORT ?? 8080), host: process.env.API_HOST ?? '127.0.0.1' });

const housekeeping = setInterval(() => {
  const now = Date.now();
  Promise.all([deleteExpiredRefreshTokens(db, now), deleteStaleLoginFailures(db, now, num('LOGIN_WINDOW_SECONDS', DEFAULT_API_CONFIG.loginWindowSeconds))])
    .then(([tokens, counters]) => app.log.info({ tokens, counters }, 'housekeeping: expired credentials deleted'))
    .catch((err: unknown) => app.log.warn({ err: (err as Error).message }, 'housekeeping failed'));
}, 3600_000);
housekeeping.unref();

let stopping = false;
async function shutdown() {
  if (stopping) return;
  stopping = true;
  clearInterval(housekeeping);
  await app.close();
  await analytics?.close();
  await messaging.close();
  await db.destroy();
  process.exit(0);
}
process.on('SIGINT', () => void shutdown());
process.on('SIGTERM', () => void shutdown());
