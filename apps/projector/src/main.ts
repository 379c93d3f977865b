/**
 * Projector process: applies pending migrations, then projects EVENTS into Postgres read models.
 * Env: DATABASE_URL, NATS_URL, LOG_LEVEL.
 */
import pino from 'pino';
import { createDb, migrateToLatest } from '@live/db';
import { connectMessaging, ensureEventStreams } from '@live/messaging';
import { startProjector } from './projector.js';

const logger = pino({ name: 'projector', level: process.env.LOG_LEVEL ?? 'info' });
const db = createDb(requireEnv('DATABASE_URL'));
await migrateToLatest(db);
const messaging = await connectMessaging(requireEnv('NATS_URL'), 'projector');
await ensureEventStreams(messaging.jsm);
const consumer = await startProjector({ db, messaging, logger });
logger.info('projector running');

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'stopping');
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
