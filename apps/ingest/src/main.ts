/**
 * Ingest process: `node apps/ingest/dist/main.js` (production) or `tsx src/main.ts`. RTMP, SRT (with `SRT_PORT`) and
 * RTMPS (with `RTMPS_TLS_CERT_FILE`/`RTMPS_TLS_KEY_FILE`; renewed certificates are used without a
 * restart) publish listeners, the internal HTTP-FLV relay, restreaming to the channels'
 * destinations, `/healthz` and `/metrics`.
 * Configuration: environment variables validated at start ({@link ingestConfigSchema}).
 */
import pino from 'pino';
import { createDb } from '@live/db';
import { connectMessaging, ensureEventStreams } from '@live/messaging';
import { handleShutdown, loadConfigOrExit } from '@live/runtime';
import { startIngestNode } from './node.js';
import { deriveIngestConfig, ingestConfigSchema } from './config.js';

const c = loadConfigOrExit('ingest', ingestConfigSchema, {}, deriveIngestConfig);
const s = c.settings;
const logger = pino({ name: 'ingest', level: s.LOG_LEVEL });
const db = createDb(s.DATABASE_URL, 5);
const messaging = await connectMessaging(s.NATS_URL, 'ingest', c.natsAuth);
await ensureEventStreams(messaging.jsm, { replicas: c.settings.NATS_REPLICAS });
const node = await startIngestNode({
  db, messaging, logger,
  nodeId: c.nodeId,
  rtmp: { port: s.RTMP_PORT, host: s.RTMP_HOST },
  ...(c.rtmps ? { rtmps: c.rtmps } : {}),
  http: { port: s.HTTP_PORT, host: s.HTTP_HOST },
  relayBaseUrl: c.relayBaseUrl,
  relayToken: s.INTERNAL_TOKEN,
  rtmpLimits: c.rtmpLimits,
  ...(s.RTMP_PROXY_PROTOCOL_FROM ? { proxyProtocolFrom: s.RTMP_PROXY_PROTOCOL_FROM } : {}),
  reconnectWindowMs: c.reconnectWindowMs,
  handoverTimeoutMs: s.INGEST_HANDOVER_TIMEOUT_MS,
  ...(c.restreamSealing ? { restreamSealing: c.restreamSealing } : {}),
  ...(c.srt ? { srt: c.srt } : {}),
  whip: c.whip,
  ...(c.whep ? { whep: c.whep } : {}),
});
handleShutdown(logger, [
  { name: 'ingest node', run: () => node.close() },
  { name: 'nats', run: () => messaging.close() },
  { name: 'database', run: () => db.destroy() },
]);
