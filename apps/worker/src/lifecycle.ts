import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { ALL_STREAM_SUBJECTS, EVENTS_STREAM, type DomainEvent } from '@live/events';
import { runDurableConsumer, type Messaging, type RunningConsumer } from '@live/messaging';
import {
  deleteRecordingWorkflowId, type deleteRecording,
  liveStreamWorkflowId, publishEndedSignal, publishInterruptedSignal, publishResumedSignal, TRANSCODE_TASK_QUEUE, type liveStream,
} from '@live/workflows';

/** Durable consumer name of the lifecycle orchestration. */
export const LIFECYCLE_CONSUMER = 'lifecycle';

/**
 * Turns one stream lifecycle event into Temporal calls (idempotent):
 * - `StreamPublishStarted` starts workflow `liveStream` with id `live-<sessionId>`; a redelivered
 *   event finds it started (WorkflowExecutionAlreadyStartedError) and does nothing.
 * - `StreamPublishEnded` signals `publishEnded`; a workflow that already finished is fine.
 * - `StreamPublishInterrupted` signals `publishInterrupted` (the reconnect window it opened);
 *   `StreamPublishResumed` signals `publishResumed` with the new relay URL and source (the
 *   workflow transcodes it into the same playlists; a redelivered event is acted on once).
 *   A finished workflow is fine for both (logged for a resume: nobody transcodes it).
 * - `RecordingDeletionRequested` starts workflow `deleteRecording` with id
 *   `recording-delete-<sessionId>` (a redelivered event finds it started and does nothing).
 * Other events are ignored.
 * @throws Temporal client errors other than the two above (the consumer naks and retries).
 */
export async function handleLifecycleEvent(client: Client, event: DomainEvent, logger: Logger): Promise<void> {
  if (event.type === 'StreamPublishStarted') {
    const d = event.data;
    await startOnce(client, logger, 'liveStream', liveStreamWorkflowId(d.sessionId), [{
      channelId: d.channelId, sessionId: d.sessionId, relayUrl: d.relayUrl, source: d.source, publishEventId: event.id,
      ...(d.reconnectWindowSeconds ? { reconnectWindowSeconds: d.reconnectWindowSeconds } : {}),
    } satisfies Parameters<typeof liveStream>[0]], { sessionId: d.sessionId, streamId: d.channelId });
  } else if (event.type === 'StreamPublishEnded') {
    const d = event.data;
    try {
      await client.workflow.getHandle(liveStreamWorkflowId(d.sessionId)).signal(publishEndedSignal, { reason: d.reason, eventId: event.id });
      logger.info({ sessionId: d.sessionId, streamId: d.channelId }, 'publishEnded signalled');
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return; // finished already (or never started: nothing to end)
      throw err;
    }
  } else if (event.type === 'RecordingDeletionRequested') {
    const d = event.data;
    await startOnce(client, logger, 'deleteRecording', deleteRecordingWorkflowId(d.sessionId), [
      { channelId: d.channelId, sessionId: d.sessionId, reason: d.reason, actorUserId: d.actorUserId, causationId: event.id } satisfies Parameters<typeof deleteRecording>[0],
    ], { sessionId: d.sessionId, streamId: d.channelId });
  } else if (event.type === 'StreamPublishInterrupted' || event.type === 'StreamPublishResumed') {
    const d = event.data;
    const handle = client.workflow.getHandle(liveStreamWorkflowId(d.sessionId));
    try {
      if (event.type === 'StreamPublishInterrupted') {
        await handle.signal(publishInterruptedSignal, { reconnectWindowSeconds: event.data.reconnectWindowSeconds, eventId: event.id });
      } else {
        await handle.signal(publishResumedSignal, { relayUrl: event.data.relayUrl, source: event.data.source, eventId: event.id });
      }
      logger.info({ sessionId: d.sessionId, streamId: d.channelId, eventType: event.type }, 'reconnect signalled');
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      if (event.type === 'StreamPublishResumed') logger.warn({ sessionId: d.sessionId, streamId: d.channelId }, 'session resumed after its workflow finished; nothing transcodes it');
    }
  }
}

/**
 * Starts workflow `type` with id `workflowId` on the transcode queue unless a run with that id
 * ever started (REJECT_DUPLICATE: a redelivered event starts nothing twice).
 * @throws Temporal client errors other than WorkflowExecutionAlreadyStartedError.
 */
async function startOnce(client: Client, logger: Logger, type: string, workflowId: string, args: readonly unknown[], log: Record<string, string>): Promise<void> {
  try {
    await client.workflow.start(type, { taskQueue: TRANSCODE_TASK_QUEUE, workflowId, workflowIdReusePolicy: 'REJECT_DUPLICATE', args: [...args] });
    logger.info(log, `${type} workflow started`);
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return;
    throw err;
  }
}

/**
 * Runs the lifecycle consumer: a durable pull consumer on `evt.stream.*`, in log order, handing
 * each event to {@link handleLifecycleEvent}.
 */
export async function startLifecycleConsumer(deps: { client: Client; messaging: Messaging; logger: Logger }): Promise<RunningConsumer> {
  return runDurableConsumer(deps.messaging.js, deps.messaging.jsm, {
    stream: EVENTS_STREAM,
    durable: LIFECYCLE_CONSUMER,
    filterSubject: ALL_STREAM_SUBJECTS,
    logger: deps.logger,
    concurrency: 1,
    handle: (event) => handleLifecycleEvent(deps.client, event, deps.logger),
  });
}
