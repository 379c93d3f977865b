/**
 * Ingest process. Env: DATABASE_URL, NATS_URL, RTMP_PORT (1935), RTMP_HOST (127.0.0.1),
 * HTTP_PORT (8090; relay, /healthz, /metrics), HTTP_HOST (127.0.0.1), RELAY_BASE_URL
 * (how transcoders reach the relay; default http://HTTP_HOST:HTTP_PORT), INTERNAL_TOKEN,
 * INGEST_NODE_ID, LOG_LEVEL.
 */
import { hostname } from 'node:os';
import pino from 'pino';
import { createDb } from '@live/db';
import { connectMessaging, ensureEventStreams } from '@live/messaging';
import { startIngestNode } from './node.js';

const logger = pino({ name: 'ingest', level: process.env.LOG_LEVEL ?? 'info' });
const env = (name: string): string => {
  const v = process.env[name];
  if (!v) { logger.fatal(`${name} is required`); process.exit(2); }
  return v;
};
const db = createDb(env('DATABASE_URL'), 5);
const messaging = await connectMessaging(env('NATS_URL'), 'ingest');
await ensureEventStreams(messaging.jsm);
const httpPort = Number(process.env.HTTP_PORT ?? 8090);
const httpHost = process.env.HTTP_HOST ?? '127.0.0.1';
const node = await startIngestNode({
  db, messaging, logger,
  nodeId: process.env.INGEST_NODE_ID ?? `ingest-${hostname()}`,
  rtmp: { port: Number(process.env.RTMP_PORT ?? 1935), host: process.env.RTMP_HOST ?? '127.0.0.1' },
  http: { port: httpPort, host: httpHost },
  relayBaseUrl: process.env.RELAY_BASE_URL ?? `http://${httpHost}:${httpPort}`,
  relayToken: env('INTERNAL_TOKEN'),
});

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'stopping');
  await node.close();
  await messaging.close();
  await db.destroy();
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
