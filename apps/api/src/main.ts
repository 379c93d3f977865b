/**
 * API process: `node apps/api/dist/main.js` (production) or `tsx src/main.ts`. Configuration:
 * environment variables, validated at start ({@link apiConfigSchema} in config.ts; the README's
 * configuration table lists them). Serves HTTP, or HTTPS with `API_TLS_CERT_FILE` and
 * `API_TLS_KEY_FILE` (a renewed certificate is used without a restart). Every hour it deletes
 * expired refresh tokens and stale sign-in failure counters.
 */
import { createDb, migrateToLatest } from '@live/db';
import { createAnalyticsClient } from '@live/analytics';
import { connectMessaging, ensureEventStreams } from '@live/messaging';
import { applyTlsReloads, handleShutdown, loadConfigOrExit, watchTlsFiles } from '@live/runtime';
import { buildApp } from './app.js';
import { deleteExpiredRefreshTokens } from './auth/refresh.js';
import { deleteStaleLoginFailures } from './auth/throttle.js';
import { apiConfigSchema, deriveApiConfig } from './config.js';

const { settings: s, natsAuth, api, corsOrigins, tls, hsts } = loadConfigOrExit('api', apiConfigSchema, {}, deriveApiConfig);

const tlsWatcher = tls ? watchTlsFiles(tls) : undefined;
const db = createDb(s.DATABASE_URL);
await migrateToLatest(db);
const messaging = await connectMessaging(s.NATS_URL, 'api', natsAuth);
await ensureEventStreams(messaging.jsm, { replicas: s.NATS_REPLICAS });
const analytics = s.CLICKHOUSE_URL
  ? createAnalyticsClient({
    url: s.CLICKHOUSE_URL,
    ...(s.CLICKHOUSE_USER ? { username: s.CLICKHOUSE_USER } : {}),
    ...(s.CLICKHOUSE_PASSWORD ? { password: s.CLICKHOUSE_PASSWORD } : {}),
    ...(s.CLICKHOUSE_DATABASE ? { database: s.CLICKHOUSE_DATABASE } : {}),
  })
  : undefined;
const app = await buildApp({
  db,
  messaging,
  ...(analytics ? { analytics } : {}),
  logger: { name: 'api', level: s.LOG_LEVEL },
  config: api,
  corsOrigins,
  ...(tlsWatcher ? { https: tlsWatcher.current() } : {}),
  ...(s.TRUST_PROXY ? { trustProxy: s.TRUST_PROXY } : {}),
  hsts,
  rateLimit: { max: s.RATE_LIMIT_PER_MINUTE, timeWindowMs: 60_000 },
  beaconRateLimit: { max: s.BEACON_RATE_LIMIT_PER_MINUTE, timeWindowMs: 60_000 },
});
if (tlsWatcher) applyTlsReloads(tlsWatcher, app.server as unknown as Parameters<typeof applyTlsReloads>[1]);
if (!analytics) app.log.warn('CLICKHOUSE_URL is unset: analytics routes answer 503');

const housekeeping = setInterval(() => {
  const now = Date.now();
  Promise.all([deleteExpiredRefreshTokens(db, now), deleteStaleLoginFailures(db, now, s.LOGIN_WINDOW_SECONDS)])
    .then(([tokens, counters]) => app.log.info({ tokens, counters }, 'housekeeping: expired credentials deleted'))
    .catch((err: unknown) => app.log.warn({ err: (err as Error).message }, 'housekeeping failed'));
}, 3600_000);
housekeeping.unref();

handleShutdown(app.log, [
  { name: 'http', run: () => app.close() },
  { name: 'tls watcher', run: () => tlsWatcher?.close() },
  { name: 'housekeeping', run: () => clearInterval(housekeeping) },
  { name: 'analytics client', run: () => analytics?.close() },
  { name: 'nats', run: () => messaging.close() },
  { name: 'database', run: () => db.destroy() },
]);
await app.listen({ port: s.API_PORT, host: s.API_HOST });
