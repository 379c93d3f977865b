/**
 * Chat gateway process: `node apps/chat/dist/main.js` (production) or `tsx src/main.ts`.
 * Serves `ws://<host>:<port>/chat/<channelId>` (WSS with `CHAT_TLS_CERT_FILE`/`CHAT_TLS_KEY_FILE`),
 * `/healthz` and `/metrics`. Configuration: environment variables validated at start
 * ({@link chatConfigSchema}).
 */
import pino from 'pino';
import { createDb } from '@live/db';
import { connectMessaging, ensureEventStreams } from '@live/messaging';
import { compileProxyTrust, handleShutdown, loadConfigOrExit, watchTlsFiles } from '@live/runtime';
import { startGateway } from './gateway.js';
import { chatConfigSchema, deriveChatConfig } from './config.js';

const { settings: s, natsAuth, jwtKeys, gatewayId, tls } = loadConfigOrExit('chat', chatConfigSchema, {}, deriveChatConfig);
const logger = pino({ name: 'chat', level: s.LOG_LEVEL });
// Validates the pair now (a clear error instead of uWS's silent failure) and watches for renewals.
const tlsWatcher = tls ? watchTlsFiles(tls, { logger }) : undefined;

const db = createDb(s.DATABASE_URL);
const messaging = await connectMessaging(s.NATS_URL, `chat-${gatewayId}`, natsAuth);
await ensureEventStreams(messaging.jsm, { replicas: s.NATS_REPLICAS });
const gateway = await startGateway({
  messaging, db, jwtKeys, logger, gatewayId,
  host: s.CHAT_HOST,
  port: s.CHAT_PORT,
  rateLimit: { capacity: s.CHAT_RATE_MESSAGES, windowMs: s.CHAT_RATE_WINDOW_SECONDS * 1000 },
  maxBackpressureBytes: s.CHAT_MAX_BACKPRESSURE_BYTES,
  maxConnectionsPerAddress: s.CHAT_MAX_CONNECTIONS_PER_ADDRESS, maxConnections: s.CHAT_MAX_CONNECTIONS,
  roomIdleMs: s.CHAT_ROOM_IDLE_SECONDS * 1000,
  ...(tls ? { tls } : {}),
  ...(s.TRUST_PROXY ? { trustProxy: compileProxyTrust(s.TRUST_PROXY) } : {}),
});
tlsWatcher?.subscribe((_options, certificate) => gateway.reloadTls(dnsNamesOf(certificate.subjectAltName)));

handleShutdown(logger, [
  { name: 'gateway', run: () => gateway.close() },
  { name: 'tls watcher', run: () => tlsWatcher?.close() },
  { name: 'nats', run: () => messaging.close() },
  { name: 'database', run: () => db.destroy() },
]);

/** The `DNS:` names of a subjectAltName string (`DNS:a.example, IP Address:…`). */
function dnsNamesOf(subjectAltName: string | undefined): string[] {
  return (subjectAltName ?? '').split(',').map((p) => p.trim()).filter((p) => p.startsWith('DNS:')).map((p) => p.slice(4));
}
