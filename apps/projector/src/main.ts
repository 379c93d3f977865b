/**
 * Projector process: applies pending migrations, then projects EVENTS into Postgres read models,
 * aggregates the chat gateways' presence reports into viewer counts (`presence.ts`), and
 * projects EVENTS, TELEMETRY and CHAT into the analytics store (`analytics.ts`): a ClickHouse
 * server, or embedded chDB owned by this process and served over ClickHouse's HTTP interface to
 * the other processes (`analytics-store.ts`).
 * Env: DATABASE_URL, NATS_URL, HTTP_PORT (/healthz, /metrics), LOG_LEVEL; analytics:
 * CLICKHOUSE_URL (+ CLICKHOUSE_USER, CLICKHOUSE_PASSWORD, CLICKHOUSE_DATABASE) or CHDB_PATH
 * (default <DATA_DIR>/chdb) with CLICKHOUSE_HTTP_PORT / CLICKHOUSE_HTTP_HOST.
 */
import http from 'node:http';
import pino from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { createDb, migrateToLatest } from '@live/db';
import { connectMessaging, ensureEventStreams } from '@live/messaging';
import { startProjector } from './projector.js';
import { startPresenceAggregator } from './presence.js';
import { openAnalyticsStore } from './analytics-store.js';
import { startAnalyticsProjector } from './analytics.js';

const logger = pino({ name: 'projector', level: process.env.LOG_LEVEL ?? 'info' });
const db = createDb(requireEnv('DATABASE_URL'));
await migrateToLatest(db);
const messaging = await connectMessaging(requireEnv('NATS_URL'), 'projector');
await ensureEventStreams(messaging.jsm);
const registry = new Registry();
collectDefaultMetrics({ register: registry });
// chDB loads on this (main) thread; the store is open and served before /healthz answers.
const analyticsStore = await openAnalyticsStore(process.env, logger);
const consumer = await startProjector({ db, messaging, logger });
// Chat presence → ChannelViewersCounted; of several projector processes, the lease holder emits.
const presence = startPresenceAggregator({ messaging, logger });
const analytics = analyticsStore ? await startAnalyticsProjector({ messaging, analytics: analyticsStore.client, logger, registry }) : null;
const server = http.createServer(async (req, res) => {
  if (req.url === '/healthz') res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
  else if (req.url === '/metrics') res.writeHead(200, { 'content-type': registry.contentType }).end(await registry.metrics());
  else res.writeHead(404, { 'content-type': 'application/json' }).end('{"code":"NOT_FOUND","message":"No such resource."}');
});
server.listen(Number(process.env.HTTP_PORT ?? 0), process.env.HTTP_HOST ?? '127.0.0.1');
logger.info('projector running');

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'stopping');
  server.close();
  await presence.stop();
  await consumer.stop();
  await analytics?.stop();
  await analyticsStore?.close();
  await messaging.close();
  await db.destroy();
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));

function requireEnv(name: string): string {
  const v = process.env[name];
  if (!v) { logger.fatal(`${name} is required`); process.exit(2); }
  return v;
}
