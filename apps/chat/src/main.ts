/**
 * Chat gateway process. Env:
 * - NATS_URL, DATABASE_URL (required);
 * - JWT_KEYS: the API's access-token key ring, `kid:secret[,kid:secret…]` (required);
 * - CHAT_HOST (default 127.0.0.1), CHAT_PORT (default 8082; 0 = any free port);
 * - GATEWAY_ID (default `<hostname>-<pid>`), a subject token naming this gateway in presence;
 * - CHAT_RATE_MESSAGES (20) per CHAT_RATE_WINDOW_SECONDS (5): the per-user per-room rate limit;
 * - CHAT_MAX_BACKPRESSURE_BYTES (1048576): send buffer after which a slow client is dropped;
 * - CHAT_ROOM_IDLE_SECONDS (30): how long a room without members stays open;
 * - LOG_LEVEL.
 * Serves `ws://<host>:<port>/chat/<channelId>`, `/healthz` and `/metrics`.
 */
import { hostname } from 'node:os';
import pino from 'pino';
import { parseJwtKeys } from '@live/auth';
import { createDb } from '@live/db';
import { connectMessaging, ensureEventStreams } from '@live/messaging';
import { startGateway } from './gateway.js';

const logger = pino({ name: 'chat', level: process.env.LOG_LEVEL ?? 'info' });
function requireEnv(name: string): string {
  const v = process.env[name];
  if (!v) { logger.fatal(`${name} is required`); process.exit(2); }
  return v;
}
const num = (name: string, dflt: number): number => {
  const v = process.env[name] ? Number(process.env[name]) : dflt;
  if (!Number.isFinite(v) || v < 0) { logger.fatal(`${name} must be a non-negative number`); process.exit(2); }
  return v;
};
let jwtKeys;
try {
  jwtKeys = parseJwtKeys(requireEnv('JWT_KEYS'));
} catch (err) {
  logger.fatal(`JWT_KEYS: ${(err as Error).message}`);
  process.exit(2);
}
const gatewayId = (process.env.GATEWAY_ID ?? `${hostname()}-${process.pid}`).replace(/[^A-Za-z0-9_-]/g, '-');

const db = createDb(requireEnv('DATABASE_URL'));
const messaging = await connectMessaging(requireEnv('NATS_URL'), `chat-${gatewayId}`);
await ensureEventStreams(messaging.jsm);
const gateway = await startGateway({
  messaging, db, jwtKeys, logger, gatewayId,
  host: process.env.CHAT_HOST ?? '127.0.0.1',
  port: num('CHAT_PORT', 8082),
  rateLimit: { capacity: num('CHAT_RATE_MESSAGES', 20), windowMs: num('CHAT_RATE_WINDOW_SECONDS', 5) * 1000 },
  maxBackpressureBytes: num('CHAT_MAX_BACKPRESSURE_BYTES', 1024 * 1024),
  roomIdleMs: num('CHAT_ROOM_IDLE_SECONDS', 30) * 1000,
});

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'stopping');
  await gateway.close();
  await messaging.close();
  await db.destroy();
  process.exit(0);
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
