/**
 * Recording deletion and retention on real components: nats-server, PostgreSQL, the Temporal dev
 * server and MinIO (S3). The worker's real activities (`createActivities`' appendEvent,
 * `createRecordingActivities`) run on a Temporal worker with the real workflows, and the real
 * lifecycle consumer starts `deleteRecording` when RecordingDeletionRequested is in the log (as
 * the API appends it). A deletion removes exactly the session's objects (not those of a session
 * whose id shares the prefix) and RecordingDeleted says how many and how many bytes; a retention
 * run at an injected "now" deletes only the recordings past their channel's limit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NativeConnection, Worker, Runtime, DefaultLogger } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import { startMinio, startServices, type MinioHandle, type RunningServices } from '@live/dev';
import { waitFor } from '@live/dev/testing';
import { ALL_STREAM_SUBJECTS, EVENTS_STREAM, streamEvent, systemClock, type EventOf, type SessionStatus } from '@live/events';
import { createDb, migrateToLatest, type Db } from '@live/db';
import { appendEvent, connectMessaging, ensureEventStreams, readEvents, type Messaging, type RunningConsumer } from '@live/messaging';
import { createS3Storage, type S3ObjectStorage } from '@live/storage';
import { RECORDING_RETENTION_SCHEDULE_ID, TRANSCODE_TASK_QUEUE, type RecordingRetentionResult } from '@live/workflows';
import { createActivities } from '../src/activities.js';
import { createRecordingActivities, ensureRetentionSchedule } from '../src/recordings.js';
import { startLifecycleConsumer } from '../src/lifecycle.js';
import { WORKFLOWS_PATH } from '../src/workflows-path.js';

const logger = pino({ level: 'silent' });
const DAY = 86_400_000;
let services: RunningServices;
let minio: MinioHandle;
let storage: S3ObjectStorage;
let db: Db;
let messaging: Messaging;
let worker: Worker;
let running: Promise<void>;
let client: Client;
let clientConnection: Connection;
let nativeConnection: NativeConnection;
let lifecycle: RunningConsumer;
let workDir: string;

beforeAll(async () => {
  [services, minio] = await Promise.all([startServices({ logger, name: 'worker-recordings' }), startMinio()]);
  storage = createS3Storage({ endpoint: minio.endpoint, region: minio.region, accessKeyId: minio.accessKeyId, secretAccessKey: minio.secretAccessKey, bucket: 'media' });
  await storage.ensureBucket();
  db = createDb(services.endpoints.databaseUrl, 4);
  await migrateToLatest(db);
  messaging = await connectMessaging(services.endpoints.natsUrl, 'worker-recordings');
  await ensureEventStreams(messaging.jsm);
  workDir = mkdtempSync(join(tmpdir(), 'worker-recordings-'));
  const media = createActivities({ storage, js: messaging.js, workDir, relayToken: 'unused-relay-token-0123456789', logger });
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  nativeConnection = await NativeConnection.connect({ address: services.endpoints.temporalAddress });
  worker = await Worker.create({
    connection: nativeConnection, taskQueue: TRANSCODE_TASK_QUEUE, workflowsPath: WORKFLOWS_PATH,
    activities: { ...media, ...createRecordingActivities({ storage, db }) },
  });
  running = worker.run();
  clientConnection = await Connection.connect({ address: services.endpoints.temporalAddress });
  client = new Client({ connection: clientConnection });
  lifecycle = await startLifecycleConsumer({ client, messaging, logger });
}, 180_000);

afterAll(async () => {
  await lifecycle?.stop();
  worker?.shutdown();
  await running;
  await clientConnection?.close();
  await nativeConnection?.close();
  await messaging?.close();
  await db?.destroy();
  storage?.close();
  await minio?.stop();
  await services?.stop();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
}, 90_000);

/** Writes a small recording's objects (segment, playlists, MP4) under `sessions/<sessionId>/`; returns their total bytes. */
async function writeRecording(sessionId: string, size = 1000): Promise<{ keys: string[]; bytes: number }> {
  const files: Array<[string, Buffer]> = [
    [`sessions/${sessionId}/480p/seg_00000.m4s`, Buffer.alloc(size, 1)],
    [`sessions/${sessionId}/480p/init_0.mp4`, Buffer.alloc(size / 2, 2)],
    [`sessions/${sessionId}/480p/vod.m3u8`, Buffer.from('#EXTM3U\n#EXT-X-ENDLIST\n')],
    [`sessions/${sessionId}/vod.m3u8`, Buffer.from('#EXTM3U\n')],
    [`sessions/${sessionId}/vod.mp4`, Buffer.alloc(size * 2, 3)],
  ];
  for (const [key, body] of files) await storage.writeSegment(key, body);
  return { keys: files.map(([k]) => k).sort(), bytes: files.reduce((n, [, b]) => n + b.length, 0) };
}

async function addChannel(id: string, retentionDays: number | null): Promise<void> {
  await db.insertInto('channels').values({ id, slug: id, display_name: id, title: '', recording_retention_days: retentionDays }).execute();
}

async function addSession(channelId: string, sessionId: string, status: SessionStatus, endedAt: Date | null): Promise<void> {
  const startedAt = new Date((endedAt ?? new Date()).getTime() - 3_600_000);
  await db.insertInto('stream_sessions').values({ session_id: sessionId, channel_id: channelId, status, started_at: startedAt, ended_at: endedAt, renditions: '[]', last_seq: 1 }).execute();
}

async function deletedEvents(): Promise<Array<EventOf<'RecordingDeleted'>>> {
  return (await readEvents(messaging.js, EVENTS_STREAM, ALL_STREAM_SUBJECTS)).map((r) => r.event).filter((e): e is EventOf<'RecordingDeleted'> => e.type === 'RecordingDeleted');
}

describe('recordings', () => {
  it('deletes every object of a requested recording and records what it freed', { timeout: 120_000 }, async () => {
    await addChannel('ann', null);
    await addSession('ann', 'rec-1', 'vod', new Date());
    const rec = await writeRecording('rec-1');
    const sibling = await writeRecording('rec-10'); // its id starts with rec-1: must survive
    expect(await storage.list('sessions/rec-1/')).toEqual(rec.keys);

    const request = streamEvent(systemClock, 'RecordingDeletionRequested', { channelId: 'ann', sessionId: 'rec-1', reason: 'owner', actorUserId: 'u-ann' }, { producer: 'test' });
    await appendEvent(messaging.js, request);
    // Redelivered or appended twice, the request starts one workflow (its id is the session's).
    await appendEvent(messaging.js, { ...request, id: streamEvent(systemClock, 'RecordingDeletionRequested', request.data, { producer: 'test' }).id });

    const deleted = await waitFor('RecordingDeleted of rec-1', async () => (await deletedEvents()).find((e) => e.data.sessionId === 'rec-1'), 60_000);
    expect(deleted.data).toEqual({ channelId: 'ann', sessionId: 'rec-1', reason: 'owner', actorUserId: 'u-ann', objectsDeleted: rec.keys.length, bytesFreed: rec.bytes });
    expect(deleted.meta.causationId).toBe(request.id);
    expect(await storage.list('sessions/rec-1/')).toEqual([]);
    expect(await storage.stat('sessions/rec-1/vod.mp4')).toBeNull();
    expect(await storage.list('sessions/rec-10/')).toEqual(sibling.keys);
    const wf = await client.workflow.getHandle('recording-delete-rec-1').describe();
    expect(wf.status.name).toBe('COMPLETED');
    expect((await deletedEvents()).filter((e) => e.data.sessionId === 'rec-1')).toHaveLength(1);
  });

  it('a retention run deletes only the recordings past their channel\'s limit', { timeout: 120_000 }, async () => {
    const now = Date.UTC(2030, 0, 31, 12);
    await addChannel('keep30', 30);
    await addChannel('forever', null);
    await addSession('keep30', 'old-vod', 'vod', new Date(now - 31 * DAY));
    await addSession('keep30', 'old-failed', 'failed', new Date(now - 30 * DAY)); // exactly at the limit: deleted
    await addSession('keep30', 'young', 'vod', new Date(now - 29 * DAY));
    await addSession('keep30', 'live-old', 'live', null); // started 1 h before the wall clock, never a recording
    await addSession('forever', 'ancient', 'vod', new Date(now - 900 * DAY));
    const objects = new Map<string, { keys: string[]; bytes: number }>();
    for (const id of ['old-vod', 'old-failed', 'young', 'ancient']) objects.set(id, await writeRecording(id, 400));

    const result = await client.workflow.execute<(i: { nowMs: number }) => Promise<RecordingRetentionResult>>('recordingRetention', {
      taskQueue: TRANSCODE_TASK_QUEUE, workflowId: `retention-test-${now}`, args: [{ nowMs: now }],
    });
    expect(result.deleted.map((d) => d.sessionId).sort()).toEqual(['old-failed', 'old-vod']);
    for (const d of result.deleted) expect(d).toEqual({ sessionId: d.sessionId, objectsDeleted: 5, bytesFreed: objects.get(d.sessionId)!.bytes });
    expect(await storage.list('sessions/old-vod/')).toEqual([]);
    expect(await storage.list('sessions/old-failed/')).toEqual([]);
    expect(await storage.list('sessions/young/')).toEqual(objects.get('young')!.keys);
    expect(await storage.list('sessions/ancient/')).toEqual(objects.get('ancient')!.keys);
    const events = (await deletedEvents()).filter((e) => e.data.reason === 'retention');
    expect(events.map((e) => [e.data.sessionId, e.data.channelId, e.data.actorUserId]).sort()).toEqual([['old-failed', 'keep30', null], ['old-vod', 'keep30', null]]);
  });

  it('creates the retention schedule once: a second worker finds it', { timeout: 60_000 }, async () => {
    expect(await ensureRetentionSchedule(client, '60 minutes')).toBe('created');
    expect(await ensureRetentionSchedule(client, '60 minutes')).toBe('exists');
    const d = await client.schedule.getHandle(RECORDING_RETENTION_SCHEDULE_ID).describe();
    expect(d.action).toMatchObject({ type: 'startWorkflow', workflowType: 'recordingRetention', taskQueue: TRANSCODE_TASK_QUEUE });
    expect(d.spec.intervals?.[0]?.every).toBe(3_600_000);
  });
});
