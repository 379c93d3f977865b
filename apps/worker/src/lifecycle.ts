import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { ALL_STREAM_SUBJECTS, EVENTS_STREAM, type DomainEvent } from '@live/events';
import { runDurableConsumer, type Messaging, type RunningConsumer } from '@live/messaging';
import { liveStreamWorkflowId, publishEndedSignal, TRANSCODE_TASK_QUEUE, type liveStream } from '@live/workflows';

/** Durable consumer name of the lifecycle orchestration. */
export const LIFECYCLE_CONSUMER = 'lifecycle';

/**
 * Turns one stream lifecycle event into Temporal calls (idempotent):
 * - `StreamPublishStarted` starts workflow `liveStream` with id `live-<sessionId>`; a redelivered
 *   event finds it started (WorkflowExecutionAlreadyStartedError) and does nothing.
 * - `StreamPublishEnded` signals `publishEnded`; a workflow that already finished is fine.
 * Other events are ignored.
 * @throws Temporal client errors other than the two above (the consumer naks and retries).
 */
export async function handleLifecycleEvent(client: Client, event: DomainEvent, logger: Logger): Promise<void> {
  if (event.type === 'StreamPublishStarted') {
    const d = event.data;
    try {
      await client.workflow.start<typeof liveStream>('liveStream', {
        taskQueue: TRANSCODE_TASK_QUEUE,
        workflowId: liveStreamWorkflowId(d.sessionId),
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        args: [{ channelId: d.channelId, sessionId: d.sessionId, relayUrl: d.relayUrl, source: d.source, publishEventId: event.id }],
      });
      logger.info({ sessionId: d.sessionId, streamId: d.channelId }, 'liveStream workflow started');
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return;
      throw err;
    }
  } else if (event.type === 'StreamPublishEnded') {
    const d = event.data;
    try {
      await client.workflow.getHandle(liveStreamWorkflowId(d.sessionId)).signal(publishEndedSignal, { reason: d.reason, eventId: event.id });
      logger.info({ sessionId: d.sessionId, streamId: d.channelId }, 'publishEnded signalled');
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return; // finished already (or never started: nothing to end)
      throw err;
    }
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
