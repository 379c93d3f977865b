/**
 * Recordings: the kept media of finished broadcast sessions (the VOD and what the live pipeline
 * left in storage under the session's prefix), their titles, their deletion and the channel's
 * retention. Each type is registered in `EventDataByType` (catalogue.ts).
 *
 * - stream `evt.stream.<channelId>`: RecordingRenamed and RecordingDeletionRequested (API, by the
 *   owner), RecordingDeleted (the worker's `deleteRecording` / `recordingRetention` workflows,
 *   once the session's objects are gone from storage).
 * - channel `evt.channel.<channelId>`: RecordingRetentionSet (API, by the owner).
 *
 * The read model drops a recording on RecordingDeletionRequested (the API answers 404 for it at
 * once) and on RecordingDeleted (retention appends only that one).
 */
import type { SessionStatus } from './session.js';

/** A recording's title was changed by its channel's owner (or an admin). */
export interface RecordingRenamedV1 {
  readonly channelId: string;
  readonly sessionId: string;
  /** The new title, cleaned (`checkText`), 1-140 characters. */
  readonly title: string;
  readonly actorUserId: string;
}

/** Why a recording was deleted: its owner asked, or the channel's retention limit passed. */
export type RecordingDeletionReason = 'owner' | 'retention';

/**
 * The owner asked to delete a recording: the read model drops it at once; the worker's
 * lifecycle consumer starts the `deleteRecording` workflow, which removes the objects and
 * appends {@link RecordingDeletedV1}.
 */
export interface RecordingDeletionRequestedV1 {
  readonly channelId: string;
  readonly sessionId: string;
  readonly reason: 'owner';
  readonly actorUserId: string;
}

/** Every object of a recording (storage prefix `sessions/<sessionId>`) was removed from storage. */
export interface RecordingDeletedV1 {
  readonly channelId: string;
  readonly sessionId: string;
  readonly reason: RecordingDeletionReason;
  /** Objects removed by this deletion (0 when an earlier attempt had removed them). */
  readonly objectsDeleted: number;
  /** Bytes those objects held. */
  readonly bytesFreed: number;
  /** Who asked (`owner`), null for retention. */
  readonly actorUserId: string | null;
}

/** A channel's recordings are now kept `retentionDays` days after they end (null: forever). */
export interface RecordingRetentionSetV1 {
  readonly channelId: string;
  /** Whole days, {@link RECORDING_RETENTION_DAYS} bounds; null keeps recordings forever. */
  readonly retentionDays: number | null;
  readonly actorUserId: string;
}

/** Bounds of a channel's retention setting, days. */
export const RECORDING_RETENTION_DAYS = { min: 1, max: 3650 } as const;

/** Statuses of a session that is a recording (finished: it may be renamed and deleted). */
export const RECORDING_STATUSES: readonly SessionStatus[] = ['ended', 'vod', 'failed'];

/** Whether a session of `status` is a finished recording ({@link RECORDING_STATUSES}). */
export function isRecordingStatus(status: string): boolean {
  return (RECORDING_STATUSES as readonly string[]).includes(status);
}
