/**
 * Worker process: a Temporal worker on the `transcode` task queue (workflow `liveStream` and
 * the media activities) plus the lifecycle consumer that starts and signals the workflows.
 * Env: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE (default `default`), NATS_URL, STORAGE_DIR (or S3_BUCKET
 * with S3_ENDPOINT, S3_REGION, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, S3_PREFIX: `storageConfigFromEnv`),
 * WORK_DIR, RELAY_TOKEN (the ingest relay's internal token), HTTP_PORT (health/metrics),
 * ACTIVITY_SLOTS (activities at once on this worker — transcodes plus the short packaging and
 * event activities; default 6), TRANSCODE_PRESET (x264 preset, default veryfast), LOG_LEVEL,
 * DATABASE_URL (optional: the channels' playback policy, read at each transcode start — a channel
 * with encryption on gets AES-128 segments; without it nothing is encrypted), CONTENT_KEY_SECRET
 * (the content-key secret shared with the edge; required for encrypted channels, which fail
 * closed without it), DVR_WINDOW_SECONDS (seek-back window of the live playlists, default 7200).
 */
import http from 'node:http';
import { mkdirSync } from 'node:fs';
import pino from 'pino';
import { Registry, Gauge, Counter, collectDefaultMetrics } from 'prom-client';
import { NativeConnection, Worker, Runtime, DefaultLogger } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import { connectMessaging, ensureEventStreams } from '@live/messaging';
import { createObjectStorage, storageConfigFromEnv } from '@live/storage';
import { channelPlaybackPolicy, createDb } from '@live/db';
import { parseContentKeySecret } from '@live/auth';
import { TRANSCODE_TASK_QUEUE } from '@live/workflows';
import { createActivities } from './activities.js';
import { startLifecycleConsumer } from './lifecycle.js';
import { WORKFLOWS_PATH } from './workflows-path.js';

const logger = pino({ name: 'worker', level: process.env.LOG_LEVEL ?? 'info' });
const env = (name: string): string => {
  const v = process.env[name];
  if (!v) { logger.fatal(`${name} is required`); process.exit(2); }
  return v;
};
const temporalAddress = env('TEMPORAL_ADDRESS');
const namespace = process.env.TEMPORAL_NAMESPACE ?? 'default';
const workDir = env('WORK_DIR');
mkdirSync(workDir, { recursive: true });
const preset = process.env.TRANSCODE_PRESET as 'ultrafast' | 'superfast' | 'veryfast' | undefined;
const db = process.env.DATABASE_URL ? createDb(process.env.DATABASE_URL, 3) : undefined;
let contentKeySecret: Buffer | undefined;
try {
  contentKeySecret = process.env.CONTENT_KEY_SECRET ? parseContentKeySecret(process.env.CONTENT_KEY_SECRET) : undefined;
} catch (err) {
  logger.fatal({ err: (err as Error).message }, 'CONTENT_KEY_SECRET is invalid');
  process.exit(2);
}
const dvrWindowSeconds = process.env.DVR_WINDOW_SECONDS !== undefined ? Number(process.env.DVR_WINDOW_SECONDS) : undefined;
if (dvrWindowSeconds !== undefined && !(Number.isFinite(dvrWindowSeconds) && dvrWindowSeconds >= 6)) {
  logger.fatal({ DVR_WINDOW_SECONDS: process.env.DVR_WINDOW_SECONDS }, 'DVR_WINDOW_SECONDS must be a number of seconds >= 6 (3 segments)');
  process.exit(2);
}

const registry = new Registry();
collectDefaultMetrics({ register: registry });
const running = new Gauge({ name: 'worker_transcodes_running', help: 'Transcode activities running', registers: [registry] });
const segments = new Counter({ name: 'worker_segments_published_total', help: 'Segments published to storage', labelNames: ['rendition'], registers: [registry] });

Runtime.install({ logger: new DefaultLogger('WARN', (entry) => logger.warn({ temporal: entry.meta }, entry.message)) });
let ready = false;
const server = http.createServer(async (req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: ready ? 'ok' : 'starting' }));
  } else if (req.url === '/metrics') {
    res.writeHead(200, { 'content-type': registry.contentType }).end(await registry.metrics());
  } else {
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'NOT_FOUND', message: 'No such resource.' }));
  }
});
server.listen(Number(process.env.HTTP_PORT ?? 0), process.env.HTTP_HOST ?? '127.0.0.1');

const messaging = await connectMessaging(env('NATS_URL'), 'worker');
await ensureEventStreams(messaging.jsm);
const activities = createActivities({
  storage: createObjectStorage(storageConfigFromEnv(process.env)),
  js: messaging.js,
  workDir,
  relayToken: env('RELAY_TOKEN'),
  logger,
  ...(preset ? { preset } : {}),
  ...(db ? { playbackEncryption: async (channelId: string) => (await channelPlaybackPolicy(db, channelId))?.encryption ?? null } : {}),
  ...(contentKeySecret ? { contentKeySecret } : {}),
  ...(dvrWindowSeconds !== undefined ? { dvrWindowSeconds } : {}),
  metrics: { transcodesRunning: (d) => running.inc(d), segmentPublished: (r) => segments.inc({ rendition: r }) },
});

const nativeConnection = await NativeConnection.connect({ address: temporalAddress });
const worker = await Worker.create({
  connection: nativeConnection,
  namespace,
  taskQueue: TRANSCODE_TASK_QUEUE,
  workflowsPath: WORKFLOWS_PATH,
  activities,
  maxConcurrentActivityTaskExecutions: Number(process.env.ACTIVITY_SLOTS ?? 6),
  // Give a running ffmpeg time to stop when the worker shuts down (activities are cancelled).
  shutdownGraceTime: '10 seconds',
});
const clientConnection = await Connection.connect({ address: temporalAddress });
const client = new Client({ connection: clientConnection, namespace });
const lifecycle = await startLifecycleConsumer({ client, messaging, logger });
ready = true;
logger.info({ taskQueue: TRANSCODE_TASK_QUEUE }, 'worker running');

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'stopping');
  ready = false;
  await lifecycle.stop();
  // Temporal's Runtime also reacts to SIGINT/SIGTERM by shutting the worker down: only ask once.
  if (worker.getState() === 'RUNNING') worker.shutdown();
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));

await worker.run();
await clientConnection.close();
await nativeConnection.close();
await messaging.close();
await db?.destroy();
server.close();
logger.info('stopped');
process.exit(0);
