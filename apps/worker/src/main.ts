/**
 * Worker process: `node apps/worker/dist/main.js` (production) or `tsx src/main.ts`. A Temporal
 * worker on the `transcode` task queue (workflows `liveStream`, `deleteRecording` and
 * `recordingRetention` — from the prebuilt bundle when built — with the media and recordings
 * activities) plus the lifecycle consumer that starts and signals the workflows, and the
 * `recording-retention` Schedule (created when missing). Configuration: environment variables validated at start ({@link workerConfigSchema};
 * Temporal address, namespace, TLS client certificates or API key included).
 */
import http from 'node:http';
import { mkdirSync } from 'node:fs';
import pino from 'pino';
import { Registry, Gauge, Counter, collectDefaultMetrics } from 'prom-client';
import { NativeConnection, Worker, Runtime, DefaultLogger } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import { connectMessaging, ensureEventStreams } from '@live/messaging';
import { createObjectStorage } from '@live/storage';
import { channelPlaybackPolicy, createDb } from '@live/db';
import { handleShutdown, loadConfigOrExit } from '@live/runtime';
import { TRANSCODE_TASK_QUEUE } from '@live/workflows';
import { createActivities } from './activities.js';
import { createRecordingActivities, ensureRetentionSchedule } from './recordings.js';
import { startLifecycleConsumer } from './lifecycle.js';
import { WORKFLOW_BUNDLE_PATH, WORKFLOWS_PATH } from './workflows-path.js';
import { deriveWorkerConfig, workerConfigSchema } from './config.js';

const c = loadConfigOrExit('worker', workerConfigSchema, {}, deriveWorkerConfig);
const s = c.settings;
const logger = pino({ name: 'worker', level: s.LOG_LEVEL });
mkdirSync(s.WORK_DIR, { recursive: true });
const db = s.DATABASE_URL ? createDb(s.DATABASE_URL, 3) : undefined;

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
server.listen(s.HTTP_PORT, s.HTTP_HOST);

const messaging = await connectMessaging(s.NATS_URL, 'worker', c.natsAuth);
await ensureEventStreams(messaging.jsm, { replicas: s.NATS_REPLICAS });
const storage = createObjectStorage(c.storage);
const activities = createActivities({
  storage,
  js: messaging.js,
  workDir: s.WORK_DIR,
  relayToken: s.RELAY_TOKEN,
  logger,
  preset: s.TRANSCODE_PRESET,
  ...(db ? { playbackEncryption: async (channelId: string) => (await channelPlaybackPolicy(db, channelId))?.encryption ?? null } : {}),
  ...(c.contentKeySecret ? { contentKeySecret: c.contentKeySecret } : {}),
  dvrWindowSeconds: s.DVR_WINDOW_SECONDS,
  partHoldBackParts: s.LL_HLS_PART_HOLD_BACK_PARTS,
  partsPerSegment: c.lowLatency.partsPerSegment,
  keyframeParts: c.lowLatency.keyframeParts,
  publishMedia: (subject, data) => messaging.nc.publish(subject, data),
  metrics: { transcodesRunning: (d) => running.inc(d), segmentPublished: (r) => segments.inc({ rendition: r }) },
});

const { namespace, ...temporalConnection } = c.temporal;
const nativeConnection = await NativeConnection.connect(temporalConnection);
const worker = await Worker.create({
  connection: nativeConnection,
  namespace,
  taskQueue: TRANSCODE_TASK_QUEUE,
  ...(WORKFLOW_BUNDLE_PATH ? { workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } } : { workflowsPath: WORKFLOWS_PATH }),
  activities: { ...activities, ...createRecordingActivities({ storage, db }) },
  maxConcurrentActivityTaskExecutions: s.ACTIVITY_SLOTS,
  // Give a running ffmpeg time to stop when the worker shuts down (activities are cancelled).
  shutdownGraceTime: '10 seconds',
  // Send the transcode's heartbeats (recorded every second) at most a second apart, not at 80 %
  // of its heartbeat timeout: with TRANSCODE_HEARTBEAT_TIMEOUT (4 s) that leaves 3 s of slack on
  // a loaded machine, and a SIGKILLed worker's transcode is retried elsewhere within 4 s.
  maxHeartbeatThrottleInterval: '1 second',
});
const clientConnection = await Connection.connect(temporalConnection);
const client = new Client({ connection: clientConnection, namespace });
const lifecycle = await startLifecycleConsumer({ client, messaging, logger });
ready = true;
// Not awaited: readiness does not wait for it; a failure is logged and the next start tries again.
ensureRetentionSchedule(client, `${s.RETENTION_INTERVAL_MINUTES} minutes`).then(
  (schedule) => logger.info({ schedule }, 'recording retention schedule'),
  (err: unknown) => logger.error({ err: (err as Error).message }, 'could not create the recording retention schedule'),
);
logger.info({ taskQueue: TRANSCODE_TASK_QUEUE, workflows: WORKFLOW_BUNDLE_PATH ? 'prebuilt bundle' : 'bundled from source' }, 'worker running');
const run = worker.run();

const stopping = handleShutdown(logger, [
  { name: 'lifecycle consumer', run: async () => { ready = false; await lifecycle.stop(); } },
  // Temporal's Runtime also reacts to SIGINT/SIGTERM by shutting the worker down: only ask once.
  { name: 'temporal worker', run: async () => { if (worker.getState() === 'RUNNING') worker.shutdown(); await run; } },
  { name: 'temporal connections', run: async () => { await clientConnection.close(); await nativeConnection.close(); } },
  { name: 'nats', run: () => messaging.close() },
  { name: 'database', run: () => db?.destroy() },
  { name: 'http', run: () => new Promise<void>((resolve) => server.close(() => resolve())) },
], { stepTimeoutMs: 30_000 });
// The worker can also stop on its own (Temporal's Runtime handles the signals too, or a fatal
// worker error): then the same steps run.
run.then(() => void stopping.shutdown('temporal worker stopped'), (err: unknown) => {
  logger.fatal({ err: (err as Error).message }, 'temporal worker failed');
  void stopping.shutdown('temporal worker failed');
});
