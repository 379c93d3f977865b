/**
 * The `liveStream` workflow on a real Temporal dev server, with activities implemented in the
 * test (our own functions, not a mock of Temporal): the happy path emits VodReady after the
 * publish ends; a transcode failure is retried with backoff; a failure that outlives the
 * retries ends in StreamFailed with the reason. With a reconnect window, a resumed publisher is
 * transcoded into the same session, and a window nobody closes is ended by the workflow.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import { readFileSync } from 'node:fs';
import { ApplicationFailure } from '@temporalio/activity';
import { NativeConnection, Worker, Runtime, DefaultLogger } from '@temporalio/worker';
import { Client, Connection } from '@temporalio/client';
import { startServices, type RunningServices } from '@live/dev';
import { streamEvent, systemClock, type DomainEvent, type EventEnvelope } from '@live/events';
import { handleLifecycleEvent } from '../src/lifecycle.js';
import { WORKFLOWS_PATH } from '../src/workflows-path.js';
import { liveStreamWorkflowId, publishEndedSignal, stageQuery, TRANSCODE_TASK_QUEUE, type LiveStreamResult, type PipelineActivities, type TranscodeInput } from '@live/workflows';

const clock = systemClock;
let services: RunningServices;
let worker: Worker;
let running: Promise<void>;
let client: Client;
let clientConnection: Connection;
let nativeConnection: NativeConnection;

/** What the activities saw, per session. */
const appended = new Map<string, EventEnvelope[]>();
const transcodeAttempts = new Map<string, number>();
const transcodeInputs = new Map<string, TranscodeInput[]>();
const finished = new Map<string, number>();
/** Per session: how the transcode activity behaves. */
const behaviour = new Map<string, 'ok' | 'fail-once' | 'fail-always'>();

const activities: PipelineActivities = {
  async transcode(input: TranscodeInput) {
    const n = (transcodeAttempts.get(input.sessionId) ?? 0) + 1;
    transcodeAttempts.set(input.sessionId, n);
    transcodeInputs.set(input.sessionId, [...(transcodeInputs.get(input.sessionId) ?? []), input]);
    const b = behaviour.get(input.sessionId);
    if (b === 'fail-always') throw ApplicationFailure.nonRetryable('ffmpeg exited with 1: Invalid data found when processing input', 'TranscodeFailed');
    if (b === 'fail-once' && n === 1) throw ApplicationFailure.retryable('ffmpeg crashed', 'TranscodeFailed');
    return { outcome: 'source-ended', segments: { '720p': 15 }, mediaSeconds: 30, renditions: ['720p'] };
  },
  async finishLive(input) {
    finished.set(input.sessionId, (finished.get(input.sessionId) ?? 0) + 1);
  },
  async packageVod(input) {
    return { durationSeconds: 30, masterPlaylistKey: `sessions/${input.sessionId}/vod.m3u8`, mp4Key: `sessions/${input.sessionId}/vod.mp4`, renditions: ['720p'] };
  },
  async appendEvent(event) {
    const sid = (event.data as { sessionId: string }).sessionId;
    appended.set(sid, [...(appended.get(sid) ?? []), event]);
  },
};

beforeAll(async () => {
  services = await startServices({ logger: pino({ level: 'silent' }), name: 'workflow-int', external: { natsUrl: 'nats://127.0.0.1:1', databaseUrl: 'postgres://unused@127.0.0.1:1/x' } });
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  nativeConnection = await NativeConnection.connect({ address: services.endpoints.temporalAddress });
  worker = await Worker.create({
    connection: nativeConnection, taskQueue: TRANSCODE_TASK_QUEUE, activities,
    workflowsPath: WORKFLOWS_PATH,
  });
  running = worker.run();
  clientConnection = await Connection.connect({ address: services.endpoints.temporalAddress });
  client = new Client({ connection: clientConnection });
}, 120_000);

afterAll(async () => {
  worker?.shutdown();
  await running;
  await clientConnection?.close();
  await nativeConnection?.close();
  await services?.stop();
}, 60_000);

function start(sessionId: string, reconnectWindowSeconds?: number) {
  return client.workflow.start('liveStream', {
    taskQueue: TRANSCODE_TASK_QUEUE, workflowId: liveStreamWorkflowId(sessionId),
    args: [{ channelId: 'demo', sessionId, relayUrl: 'http://127.0.0.1:1/relay/x.flv', source: {}, publishEventId: 'evt-1', ...(reconnectWindowSeconds ? { reconnectWindowSeconds } : {}) }],
  });
}

describe('liveStream workflow', () => {
  it('transcodes, waits for the publish to end, packages the VOD and emits VodReady', async () => {
    behaviour.set('s-ok', 'ok');
    const handle = await start('s-ok');
    await handle.signal(publishEndedSignal, { reason: 'unpublished', eventId: 'evt-2' });
    const result = (await handle.result()) as LiveStreamResult;
    expect(result.status).toBe('vod');
    const events = appended.get('s-ok') ?? [];
    expect(events.map((e) => e.type)).toEqual(['VodReady']);
    expect(events[0]).toMatchObject({ subject: 'evt.stream.demo', data: { mp4Key: 'sessions/s-ok/vod.mp4', durationSeconds: 30 }, meta: { causationId: 'evt-2', correlationId: 's-ok' } });
    expect(events[0]!.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    // The workflow id is derived from the session: a redelivered start event starts nothing twice.
    const before = await handle.describe();
    const redelivered = streamEvent(clock, 'StreamPublishStarted', { channelId: 'demo', sessionId: 's-ok', ingestNodeId: 'n', relayUrl: 'http://x/relay/s-ok.flv', app: 'live', source: {} }, { producer: 'test' });
    await handleLifecycleEvent(client, redelivered as DomainEvent, pino({ level: 'silent' }));
    const after = await client.workflow.getHandle(liveStreamWorkflowId('s-ok')).describe();
    expect(after.runId).toBe(before.runId);
    expect(after.status.name).toBe('COMPLETED');
  }, 60_000);

  it('retries a failed transcode with backoff', async () => {
    behaviour.set('s-retry', 'fail-once');
    const handle = await start('s-retry');
    await handle.signal(publishEndedSignal, { reason: 'unpublished', eventId: 'evt-3' });
    expect(((await handle.result()) as LiveStreamResult).status).toBe('vod');
    expect(transcodeAttempts.get('s-retry')).toBe(2);
  }, 60_000);

  it('ends in StreamFailed with the reason when the transcode cannot succeed', async () => {
    behaviour.set('s-fail', 'fail-always');
    const result = (await (await start('s-fail')).result()) as LiveStreamResult;
    expect(result.status).toBe('failed');
    const events = appended.get('s-fail') ?? [];
    expect(events.map((e) => e.type)).toEqual(['StreamFailed']);
    expect(events[0]!.data).toMatchObject({ stage: 'transcode', reason: expect.stringContaining('Invalid data found') });
  }, 60_000);

  it('continues the same session when the publisher reconnects within the window (lifecycle consumer signals)', async () => {
    behaviour.set('s-reconnect', 'ok');
    const handle = await start('s-reconnect', 60);
    const silent = pino({ level: 'silent' });
    const send = (e: EventEnvelope) => handleLifecycleEvent(client, e as DomainEvent, silent);
    await waitForValue(() => transcodeInputs.get('s-reconnect')?.length === 1);
    expect(await handle.query(stageQuery)).toBe('waiting-for-publisher');
    await send(streamEvent(clock, 'StreamPublishInterrupted', { channelId: 'demo', sessionId: 's-reconnect', ingestNodeId: 'a', detail: 'ECONNRESET', reconnectWindowSeconds: 60, bytesReceived: 1 }, { producer: 'test' }));
    const resumed = streamEvent(clock, 'StreamPublishResumed', {
      channelId: 'demo', sessionId: 's-reconnect', ingestNodeId: 'b', relayUrl: 'http://127.0.0.1:2/relay/y.flv', app: 'live', source: { video: { codec: 'h264' } },
      previousIngestNodeId: 'a', lease: 'handover',
    }, { producer: 'test' });
    await send(resumed);
    await send(resumed); // redelivered: acted on once
    await waitForValue(() => transcodeInputs.get('s-reconnect')?.length === 2);
    const [first, second] = transcodeInputs.get('s-reconnect')!;
    expect(first).toMatchObject({ relayUrl: 'http://127.0.0.1:1/relay/x.flv', leaveOpenAtEnd: true });
    expect(first!.resume).toBeUndefined();
    expect(second).toMatchObject({ relayUrl: 'http://127.0.0.1:2/relay/y.flv', resume: true, leaveOpenAtEnd: true, inputSource: { video: { codec: 'h264' } }, causationId: resumed.id });
    await handle.signal(publishEndedSignal, { reason: 'unpublished', eventId: 'evt-end' });
    expect(((await handle.result()) as LiveStreamResult).status).toBe('vod');
    expect(transcodeInputs.get('s-reconnect')).toHaveLength(2);
    expect(finished.get('s-reconnect')).toBe(1);
    expect((appended.get('s-reconnect') ?? []).map((e) => e.type)).toEqual(['VodReady']);
  }, 60_000);

  it('replays a history recorded before the reconnect window unchanged (patched: the legacy pipeline)', async () => {
    // Recorded with the workflow code of commit 508ae40 (transcode, publishEnded, packageVod, VodReady).
    const history = JSON.parse(readFileSync(new URL('./fixtures/live-stream-v1-history.json', import.meta.url), 'utf8'));
    await expect(Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH, replayName: 'live-stream-v1' }, history)).resolves.toBeUndefined();
  }, 60_000);

  it('ends the session itself when neither a resume nor the end arrives within the window and its grace', async () => {
    behaviour.set('s-bound', 'ok');
    const handle = await start('s-bound', 1);
    expect(((await handle.result()) as LiveStreamResult).status).toBe('vod');
    const events = appended.get('s-bound') ?? [];
    expect(events.map((e) => e.type)).toEqual(['StreamPublishEnded', 'VodReady']);
    expect(events[0]!.data).toMatchObject({ reason: 'disconnected' });
    expect(events[1]!.meta.causationId).toBe(events[0]!.id);
    expect(finished.get('s-bound')).toBe(1);
  }, 90_000);
});

/** Resolves once `check` holds (polled every 50 ms, at most 20 s). */
async function waitForValue(check: () => boolean): Promise<void> {
  await vi.waitFor(() => { if (!check()) throw new Error('not yet'); }, { timeout: 20_000, interval: 50 });
}
