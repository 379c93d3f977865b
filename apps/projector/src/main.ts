/**
 * Projector process: applies pending migrations, then projects EVENTS into Postgres read models,
 * and aggregates the chat gateways' presence reports into viewer counts (`presence.ts`).
 * Env: DATABASE_URL, NATS_URL, HTTP_PORT (/healthz, /metrics), LOG_LEVEL.
 */
import http from 'node:http';
import pino from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { createDb, migrateToLatest } from '@live/db';
import { connectMessaging, ensureEventStreams } from '@live/messaging';
import { startProjector } from './projector.js';
import { startPresenceAggregator } from './presence.js';

const logger = pino({ name: 'projector', level: process.env.LOG_LEVEL ?? 'info' });
const db = createDb(requireEnv('DATABASE_URL'));
await migrateToLatest(db);
const messaging = await connectMessaging(requireEnv('NATS_URL'), 'projector');
await ensureEventStreams(messaging.jsm);
const consumer = await startProjector({ db, messaging, logger });
// Chat presence → ChannelViewersCounted; of several projector processes, the lease holder emits.
const presence = startPresenceAggregator({ messaging, logger });
const registry = new Registry();
collectDefaultMetrics({ register: registry });
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
