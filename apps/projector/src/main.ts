/**
 * Projector process: `node apps/projector/dist/main.js` (production) or `tsx src/main.ts`.
 * Applies pending migrations, then projects EVENTS into Postgres read models, aggregates the
 * chat gateways' presence reports into viewer counts (`presence.ts`), and projects EVENTS,
 * TELEMETRY and CHAT into the analytics store (`analytics.ts`): a ClickHouse server, or embedded
 * chDB owned by this process and served over ClickHouse's HTTP interface to the other processes
 * (`analytics-store.ts`). Configuration: environment variables validated at start
 * ({@link projectorConfigSchema}).
 */
import http from 'node:http';
import pino from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { createDb, migrateToLatest } from '@live/db';
import { connectMessaging, ensureEventStreams } from '@live/messaging';
import { handleShutdown, loadConfigOrExit } from '@live/runtime';
import { startProjector } from './projector.js';
import { startPresenceAggregator } from './presence.js';
import { openAnalyticsStore } from './analytics-store.js';
import { startAnalyticsProjector } from './analytics.js';
import { deriveProjectorConfig, projectorConfigSchema } from './config.js';

const c = loadConfigOrExit('projector', projectorConfigSchema, {}, deriveProjectorConfig);
const s = c.settings;
const logger = pino({ name: 'projector', level: s.LOG_LEVEL });
const db = createDb(s.DATABASE_URL);
await migrateToLatest(db);
const messaging = await connectMessaging(s.NATS_URL, 'projector', c.natsAuth);
await ensureEventStreams(messaging.jsm);
const registry = new Registry();
collectDefaultMetrics({ register: registry });
// chDB loads on this (main) thread; the store is open and served before /healthz answers.
const analyticsStore = await openAnalyticsStore(c.analyticsEnv, logger);
const consumer = await startProjector({ db, messaging, logger });
// Chat presence → ChannelViewersCounted; of several projector processes, the lease holder emits.
const presence = startPresenceAggregator({ messaging, logger });
const analytics = analyticsStore ? await startAnalyticsProjector({ messaging, analytics: analyticsStore.client, logger, registry }) : null;
const server = http.createServer(async (req, res) => {
  if (req.url === '/healthz') res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
  else if (req.url === '/metrics') res.writeHead(200, { 'content-type': registry.contentType }).end(await registry.metrics());
  else res.writeHead(404, { 'content-type': 'application/json' }).end('{"code":"NOT_FOUND","message":"No such resource."}');
});
server.listen(s.HTTP_PORT, s.HTTP_HOST);
logger.info('projector running');

handleShutdown(logger, [
  { name: 'http', run: () => new Promise<void>((resolve) => server.close(() => resolve())) },
  { name: 'presence', run: () => presence.stop() },
  { name: 'read-model projection', run: () => consumer.stop() },
  { name: 'analytics projection', run: () => analytics?.stop() },
  { name: 'analytics store', run: () => analyticsStore?.close() },
  { name: 'nats', run: () => messaging.close() },
  { name: 'database', run: () => db.destroy() },
]);
