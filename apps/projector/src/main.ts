/**
 * Projector process: `node apps/projector/dist/main.js` (production) or `tsx src/main.ts`.
 * Applies pending migrations, then projects EVENTS into Postgres read models, aggregates the
 * chat gateways' presence reports into viewer counts (`presence.ts`), and projects EVENTS,
 * TELEMETRY and CHAT into the analytics store (`analytics.ts`): a ClickHouse server, or embedded
 * chDB owned by this process and served over ClickHouse's HTTP interface to the other processes
 * (`analytics-store.ts`); and sends the webhook deliveries (`webhooks.ts`). Each projection runs
 * only while this process holds its lease in the NATS KV bucket `leases` (`run-projections.ts`),
 * so several projector processes can run: one
 * is active per projection, the others take over within seconds. With `PROJECTOR_PROJECTIONS=none`
 * the process only owns the chDB directory and serves it (the cluster profile's ClickHouse
 * endpoint, which the projectors reach through `CLICKHOUSE_URL`); it then uses neither NATS nor
 * PostgreSQL. Configuration: environment variables validated at start ({@link projectorConfigSchema}).
 */
import http from 'node:http';
import pino from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { createDb, migrateToLatest } from '@live/db';
import { connectMessaging, ensureEventStreams, leaseHolderId, openLeaseBucket, retryTransient } from '@live/messaging';
import { handleShutdown, loadConfigOrExit, type ShutdownStep } from '@live/runtime';
import { openAnalyticsStore } from './analytics-store.js';
import { deriveProjectorConfig, projectorConfigSchema } from './config.js';
import { healthBody, registerLeaseGauge } from './leases.js';
import { startProjections, type RunningProjections } from './run-projections.js';

const c = loadConfigOrExit('projector', projectorConfigSchema, {}, deriveProjectorConfig);
const s = c.settings;
const logger = pino({ name: 'projector', level: s.LOG_LEVEL });
const holder = leaseHolderId('projector');
const registry = new Registry();
collectDefaultMetrics({ register: registry });
// chDB loads on this (main) thread; the store is open and served before /healthz answers. A
// ClickHouse server is only opened for the analytics projection, whose lease holder migrates it.
const ownsChdb = !c.analyticsEnv.CLICKHOUSE_URL?.trim();
const analyticsStore = ownsChdb || c.projections.includes('analytics') ? await openAnalyticsStore(c.analyticsEnv, logger, { migrate: false }) : null;
let running: RunningProjections | null = null;
const steps: ShutdownStep[] = [];
if (c.projections.length > 0) {
  const db = createDb(s.DATABASE_URL);
  await migrateToLatest(db);
  const messaging = await connectMessaging(s.NATS_URL, 'projector', c.natsAuth);
  await ensureEventStreams(messaging.jsm, { replicas: s.NATS_REPLICAS });
  const bucket = await retryTransient(() => openLeaseBucket(messaging.js, messaging.jsm), { what: 'lease bucket', logger });
  running = startProjections({ projections: c.projections, holder, bucket, db, messaging, analytics: analyticsStore, logger, registry, webhooks: c.webhooks });
  steps.push(
    { name: 'projections', run: () => running!.stop() },
    { name: 'analytics store', run: () => analyticsStore?.close() },
    { name: 'nats', run: () => messaging.close() },
    { name: 'database', run: () => db.destroy() },
  );
} else {
  steps.push({ name: 'analytics store', run: () => analyticsStore?.close() });
}
const leases = running?.leases ?? new Map();
registerLeaseGauge(registry, leases);
const server = http.createServer(async (req, res) => {
  if (req.url === '/healthz') res.writeHead(200, { 'content-type': 'application/json' }).end(healthBody(holder, leases));
  else if (req.url === '/metrics') res.writeHead(200, { 'content-type': registry.contentType }).end(await registry.metrics());
  else res.writeHead(404, { 'content-type': 'application/json' }).end('{"code":"NOT_FOUND","message":"No such resource."}');
});
server.listen(s.HTTP_PORT, s.HTTP_HOST);
logger.info({ holder, projections: c.projections, chdb: analyticsStore?.mode === 'embedded' ? analyticsStore.http?.url ?? 'not served' : null }, 'projector running');

handleShutdown(logger, [
  { name: 'http', run: () => new Promise<void>((resolve) => server.close(() => resolve())) },
  ...steps,
]);
