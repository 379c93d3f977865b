/**
 * The recordings activities (`RecordingActivities` of @live/workflows): removing a session's
 * objects from storage, and finding the recordings past their channel's retention. The
 * `recording-retention` Temporal Schedule that runs the retention workflow is created here too.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { expiredRecordings, type Db } from '@live/db';
import { sessionKeyPrefix } from '@live/media/formats';
import type { ObjectStorage } from '@live/storage';
import { RECORDING_RETENTION_SCHEDULE_ID, TRANSCODE_TASK_QUEUE, type DeletedObjects, type RecordingActivities } from '@live/workflows';

/** Objects stat'ed at once while sizing a deletion. */
const STAT_CONCURRENCY = 16;
/** Keys per `deleteObjects` call (one S3 DeleteObjects request holds at most 1000). */
const DELETE_BATCH = 1000;

/**
 * Removes every object under `sessions/<sessionId>/` (the trailing slash keeps a longer session
 * id sharing the prefix out) and returns how many objects and bytes were removed. Objects that
 * vanish between listing and stat count as 0 bytes. Safe to call again.
 * @param onProgress called after each batch (the activity heartbeats through it).
 */
export async function deleteSessionObjects(storage: ObjectStorage, sessionId: string, onProgress: () => void = () => undefined): Promise<DeletedObjects> {
  const keys = await storage.list(`${sessionKeyPrefix(sessionId)}/`);
  let bytesFreed = 0;
  for (let i = 0; i < keys.length; i += STAT_CONCURRENCY) {
    const infos = await Promise.all(keys.slice(i, i + STAT_CONCURRENCY).map((k) => storage.stat(k)));
    for (const info of infos) bytesFreed += info?.size ?? 0;
    onProgress();
  }
  for (let i = 0; i < keys.length; i += DELETE_BATCH) {
    await storage.deleteObjects(keys.slice(i, i + DELETE_BATCH));
    onProgress();
  }
  return { objectsDeleted: keys.length, bytesFreed };
}

/**
 * The recordings activities over `storage` and, for retention, the read models (`db`; without
 * one, `expiredRecordings` fails non-retryably: the worker was started without DATABASE_URL).
 */
export function createRecordingActivities(deps: { storage: ObjectStorage; db?: Db | undefined }): RecordingActivities {
  return {
    async deleteRecordingObjects({ sessionId }) {
      return deleteSessionObjects(deps.storage, sessionId, () => {
        try {
          Context.current().heartbeat();
        } catch {
          // called outside an activity (tests): nothing to heartbeat
        }
      });
    },
    async expiredRecordings({ nowMs, limit }) {
      if (!deps.db) throw ApplicationFailure.nonRetryable('recording retention needs the read models: start the worker with DATABASE_URL', 'NoDatabase');
      return expiredRecordings(deps.db, nowMs, limit);
    },
  };
}

/**
 * Creates the `recording-retention` Schedule (every `every`, e.g. `1 hour`; one run at a time,
 * a missed run is skipped) that starts workflow `recordingRetention`; an existing schedule is left
 * as it is, so every worker may call this at start-up.
 */
export async function ensureRetentionSchedule(client: Client, every: string): Promise<'created' | 'exists'> {
  try {
    await client.schedule.create({
      scheduleId: RECORDING_RETENTION_SCHEDULE_ID,
      spec: { intervals: [{ every }] },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 minute' },
      action: {
        type: 'startWorkflow', workflowType: 'recordingRetention', taskQueue: TRANSCODE_TASK_QUEUE,
        workflowId: 'recording-retention-run', args: [{}],
      },
    });
    return 'created';
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning) return 'exists';
    throw err;
  }
}
