import { log, proxyActivities } from '@temporalio/workflow';
import { streamEvent, type RecordingDeletionReason } from '@live/events';
import type { DeletedObjects, PipelineActivities, RecordingActivities } from './activities.js';
import { workflowClock } from './clock.js';
import { TRANSCODE_TASK_QUEUE } from './live-stream.js';

/** Workflow id of a recording's deletion: one per session, so a redelivered request deletes once. */
export function deleteRecordingWorkflowId(sessionId: string): string {
  return `recording-delete-${sessionId}`;
}

/** Id of the Temporal Schedule that runs {@link recordingRetention} (created by the worker at start-up). */
export const RECORDING_RETENTION_SCHEDULE_ID = 'recording-retention';

/** Recordings one retention run deletes at most (the next run continues). */
export const RETENTION_BATCH = 200;

const { deleteRecordingObjects, expiredRecordings } = proxyActivities<RecordingActivities>({
  taskQueue: TRANSCODE_TASK_QUEUE,
  startToCloseTimeout: '30 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 10 },
});

const { appendEvent } = proxyActivities<PipelineActivities>({
  taskQueue: TRANSCODE_TASK_QUEUE,
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 10 },
});

/** Input of {@link deleteRecording}. */
export interface DeleteRecordingInput {
  readonly channelId: string;
  readonly sessionId: string;
  readonly reason: RecordingDeletionReason;
  /** Who asked (`owner`); null for retention. */
  readonly actorUserId: string | null;
  /** Id of the event that asked (RecordingDeletionRequested), if any. */
  readonly causationId?: string | null;
}

/**
 * Deletes one recording: the `deleteRecordingObjects` activity removes its objects from storage,
 * then RecordingDeleted (objects and bytes freed) is appended; its id is fixed in the workflow's
 * history, so a retried append is deduplicated by the log.
 */
export async function deleteRecording(input: DeleteRecordingInput): Promise<DeletedObjects> {
  const freed = await deleteRecordingObjects({ sessionId: input.sessionId });
  await appendEvent(streamEvent(workflowClock, 'RecordingDeleted', {
    channelId: input.channelId, sessionId: input.sessionId, reason: input.reason, actorUserId: input.actorUserId, ...freed,
  }, { producer: `workflow:deleteRecording`, causationId: input.causationId ?? null }));
  return freed;
}

/** Input of {@link recordingRetention}: the run's "now" (default: the workflow's start time). */
export interface RecordingRetentionInput {
  /** Milliseconds since the epoch; recordings that ended at least their channel's retention days before it are deleted. */
  readonly nowMs?: number;
}

/** What one retention run deleted. */
export interface RecordingRetentionResult {
  readonly deleted: ReadonlyArray<{ readonly sessionId: string } & DeletedObjects>;
}

/**
 * One retention run (started by the `recording-retention` Schedule): finds the recordings past
 * their channel's retention at `nowMs` (at most {@link RETENTION_BATCH}) and deletes each as
 * {@link deleteRecording} does, with reason `retention`.
 */
export async function recordingRetention(input: RecordingRetentionInput = {}): Promise<RecordingRetentionResult> {
  const nowMs = input.nowMs ?? Date.now();
  const expired = await expiredRecordings({ nowMs, limit: RETENTION_BATCH });
  const deleted: Array<{ sessionId: string } & DeletedObjects> = [];
  for (const r of expired) {
    const freed = await deleteRecording({ channelId: r.channelId, sessionId: r.sessionId, reason: 'retention', actorUserId: null });
    deleted.push({ sessionId: r.sessionId, ...freed });
  }
  log.info('recording retention run', { nowMs, deleted: deleted.length });
  return { deleted };
}
