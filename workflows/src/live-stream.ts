import {
  CancellationScope, condition, defineQuery, defineSignal, isCancellation, log, proxyActivities, setHandler,
} from '@temporalio/workflow';
import { streamEvent, type EventClock, type PublishEndReason, type SourceMedia } from '@live/events';
import type { PackageVodResult, PipelineActivities, TranscodeResult } from './activities.js';

/** Task queue the media pipeline runs on; scale out by adding workers on it. */
export const TRANSCODE_TASK_QUEUE = 'transcode';

/** Workflow id of a session's pipeline: derived from the session so a redelivered event starts nothing twice. */
export function liveStreamWorkflowId(sessionId: string): string {
  return `live-${sessionId}`;
}

/** Input of {@link liveStream}: the data of the StreamPublishStarted event that started it. */
export interface LiveStreamInput {
  readonly channelId: string;
  readonly sessionId: string;
  readonly relayUrl: string;
  readonly source: SourceMedia;
  /** Id of the StreamPublishStarted event. */
  readonly publishEventId: string;
}

/** Payload of {@link publishEndedSignal}. */
export interface PublishEndedSignal {
  readonly reason: PublishEndReason;
  /** Id of the StreamPublishEnded event. */
  readonly eventId: string;
}

/** Sent by the lifecycle consumer when the session's StreamPublishEnded event is seen. */
export const publishEndedSignal = defineSignal<[PublishEndedSignal]>('publishEnded');

/** Pipeline stage, for operators (`temporal workflow query --name stage`). */
export const stageQuery = defineQuery<string>('stage');

/** Final outcome of {@link liveStream}. */
export interface LiveStreamResult {
  readonly status: 'vod' | 'failed';
  readonly vod?: PackageVodResult;
  readonly reason?: string;
}

/** How long after the publisher ends the transcode may take to drain before it is cancelled. */
const DRAIN_GRACE = '60 seconds';
/** How long to wait for the StreamPublishEnded signal after the relay reached EOF. */
const END_SIGNAL_WAIT = '30 seconds';

const { transcode } = proxyActivities<PipelineActivities>({
  taskQueue: TRANSCODE_TASK_QUEUE,
  startToCloseTimeout: '24 hours',
  // ffmpeg progress is heartbeated every few seconds; a dead worker is noticed within this.
  heartbeatTimeout: '20 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '20 seconds', maximumAttempts: 5 },
});

const { packageVod, appendEvent } = proxyActivities<PipelineActivities>({
  taskQueue: TRANSCODE_TASK_QUEUE,
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 6 },
});

/** The sandbox's Date.now and Math.random are deterministic and replay-safe. */
const workflowClock: EventClock = {
  now: () => Date.now(),
  randomBytes: (n) => Uint8Array.from({ length: n }, () => Math.floor(Math.random() * 256)),
};

function failureMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  // Surface the innermost cause: ActivityFailure -> ApplicationFailure(message from the activity).
  while (e?.cause && typeof e.cause === 'object') e = e.cause as typeof e;
  return (e?.message ?? String(err)).slice(0, 2000);
}

/**
 * One broadcast session's media pipeline: transcode the relay to ABR HLS until the publisher
 * ends (retrying with backoff, resuming the same playlists), drain, package the VOD and emit
 * `VodReady`; on a failure that outlives the retries, emit `StreamFailed` with the reason.
 * Workflow id: {@link liveStreamWorkflowId}. Signals: {@link publishEndedSignal}.
 * Deterministic: all I/O happens in activities.
 */
export async function liveStream(input: LiveStreamInput): Promise<LiveStreamResult> {
  const { channelId, sessionId } = input;
  let stage = 'transcoding';
  let ended: PublishEndedSignal | null = null;
  setHandler(publishEndedSignal, (s) => { ended ??= s; });
  setHandler(stageQuery, () => stage);

  const fail = async (where: 'transcode' | 'package', err: unknown): Promise<LiveStreamResult> => {
    const reason = failureMessage(err);
    stage = 'failed';
    log.error('pipeline failed', { sessionId, where, reason });
    await appendEvent(streamEvent(workflowClock, 'StreamFailed', { channelId, sessionId, stage: where, reason }, { producer: 'workflow:liveStream', causationId: input.publishEventId }));
    return { status: 'failed', reason };
  };

  // Transcode in its own scope so that a stuck drain can be cancelled without cancelling us.
  const scope = new CancellationScope();
  const transcodePromise: Promise<TranscodeResult> = scope.run(() => transcode({
    channelId, sessionId, relayUrl: input.relayUrl, source: input.source, causationId: input.publishEventId,
  }));
  let transcoded = false;
  transcodePromise.then(() => { transcoded = true; }, () => { transcoded = true; });

  // Once the publisher has ended, give the transcode a bounded time to drain.
  await condition(() => transcoded || ended !== null);
  if (!transcoded) {
    stage = 'draining';
    if (!(await condition(() => transcoded, DRAIN_GRACE))) {
      log.warn('transcode did not drain in time; cancelling', { sessionId });
      scope.cancel();
    }
  }
  try {
    await transcodePromise;
  } catch (err) {
    if (!isCancellation(err)) return fail('transcode', err);
  }

  // The relay ended; the StreamPublishEnded event normally follows within a second.
  stage = 'waiting-for-end';
  await condition(() => ended !== null, END_SIGNAL_WAIT);

  stage = 'packaging';
  let vod: PackageVodResult;
  try {
    vod = await packageVod({ channelId, sessionId, source: input.source });
  } catch (err) {
    return fail('package', err);
  }
  await appendEvent(streamEvent(workflowClock, 'VodReady', {
    channelId, sessionId, durationSeconds: vod.durationSeconds, masterPlaylistKey: vod.masterPlaylistKey, mp4Key: vod.mp4Key, renditions: vod.renditions,
  }, { producer: 'workflow:liveStream', causationId: ended ? (ended as PublishEndedSignal).eventId : input.publishEventId }));
  stage = 'done';
  return { status: 'vod', vod };
}
