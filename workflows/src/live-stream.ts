import {
  CancellationScope, condition, defineQuery, defineSignal, isCancellation, log, patched, proxyActivities, setHandler,
} from '@temporalio/workflow';
import { streamEvent, type PublishEndReason, type SourceMedia } from '@live/events';
import { workflowClock } from './clock.js';
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
  /**
   * The session's reconnect window (StreamPublishStarted `reconnectWindowSeconds`), seconds;
   * absent or 0: none. With one, the workflow waits for a reconnect after the relay ends.
   */
  readonly reconnectWindowSeconds?: number;
}

/** Payload of {@link publishInterruptedSignal}. */
export interface PublishInterruptedSignal {
  /** Seconds the ingest node waits for the publisher (from the event). */
  readonly reconnectWindowSeconds: number;
  /** Id of the StreamPublishInterrupted event. */
  readonly eventId: string;
}

/** Payload of {@link publishResumedSignal}: the reconnected publisher's relay. */
export interface PublishResumedSignal {
  readonly relayUrl: string;
  readonly source: SourceMedia;
  /** Id of the StreamPublishResumed event. */
  readonly eventId: string;
}

/** Sent by the lifecycle consumer on StreamPublishInterrupted: the publisher dropped, the session waits. */
export const publishInterruptedSignal = defineSignal<[PublishInterruptedSignal]>('publishInterrupted');

/** Sent by the lifecycle consumer on StreamPublishResumed: transcode the new relay into the same playlists. */
export const publishResumedSignal = defineSignal<[PublishResumedSignal]>('publishResumed');

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
/**
 * With a reconnect window: after the relay reached EOF, wait this long beyond the window for a
 * resume or the end before the workflow ends the session itself (the node holding the window
 * may have died with it), ms.
 */
export const RECONNECT_GRACE_MS = 30_000;
/** Patch id of the reconnect-window pipeline (histories started before it replay the old one). */
export const RECONNECT_PATCH = 'reconnect-window';

/**
 * Heartbeat timeout of the transcode activity. The activity records a heartbeat every second and
 * the worker sends them at most a second apart (`maxHeartbeatThrottleInterval`), so a SIGKILLed
 * or partitioned worker is noticed within this and the transcode retried on another worker while
 * the players still have media buffered (the issue-18 goal: a stall of at most 6 s).
 */
export const TRANSCODE_HEARTBEAT_TIMEOUT = '4 seconds';

const { transcode } = proxyActivities<PipelineActivities>({
  taskQueue: TRANSCODE_TASK_QUEUE,
  startToCloseTimeout: '24 hours',
  heartbeatTimeout: TRANSCODE_HEARTBEAT_TIMEOUT,
  // The first retry at once (a dead worker's transcode resumes on another), then backing off up
  // to half a minute of retries in all for a transcode that keeps failing while the source lives.
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '20 seconds', maximumAttempts: 7 },
});

const { packageVod, appendEvent, finishLive } = proxyActivities<PipelineActivities>({
  taskQueue: TRANSCODE_TASK_QUEUE,
  startToCloseTimeout: '10 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 6 },
});


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
 * Workflow id: {@link liveStreamWorkflowId}. Signals: {@link publishEndedSignal},
 * {@link publishInterruptedSignal}, {@link publishResumedSignal}.
 *
 * Reconnect window (`reconnectWindowSeconds` > 0): the transcode leaves the playlists open at the
 * relay's EOF; the workflow then waits for the end (StreamPublishEnded) or a resume (a new relay,
 * transcoded into the same playlists after one EXT-X-DISCONTINUITY), at most the window (the one
 * StreamPublishInterrupted announced, else the session's) plus {@link RECONNECT_GRACE_MS}; past
 * that it appends StreamPublishEnded itself (reason `disconnected`). Once ended, `finishLive`
 * writes EXT-X-ENDLIST and the VOD is packaged from every connection's segments.
 * Versioning: histories started before this pipeline (no {@link RECONNECT_PATCH} marker) replay
 * the previous one unchanged.
 * Deterministic: all I/O happens in activities; timers and signals only.
 */
export async function liveStream(input: LiveStreamInput): Promise<LiveStreamResult> {
  const st: SignalState = { stage: 'transcoding', ended: null, interrupted: null, resumes: [] };
  setHandler(publishEndedSignal, (s) => { st.ended ??= s; });
  setHandler(publishInterruptedSignal, (s) => { st.interrupted = s; });
  setHandler(publishResumedSignal, (s) => {
    // A redelivered signal (same event) is queued once.
    if (!st.resumes.some((r) => r.eventId === s.eventId) && !st.seenResumes?.has(s.eventId)) st.resumes.push(s);
  });
  setHandler(stageQuery, () => st.stage);
  if (!patched(RECONNECT_PATCH)) return legacyPipeline(input, st);
  return reconnectingPipeline(input, st);
}

/** What the signal handlers collected, and the stage the query reports. */
interface SignalState {
  stage: string;
  ended: PublishEndedSignal | null;
  interrupted: PublishInterruptedSignal | null;
  /** Resumes not acted on yet, oldest first. */
  resumes: PublishResumedSignal[];
  /** Event ids of the resumes acted on. */
  seenResumes?: Set<string>;
}

/** One relay of the session: its first publish, or a reconnect. */
interface RelayInput {
  readonly relayUrl: string;
  readonly source: SourceMedia;
  readonly eventId: string;
  readonly resume: boolean;
}

/** Transcodes one relay until its EOF, or until the publisher has ended and the drain grace passed. Throws a non-cancellation failure. */
async function transcodeRelay(input: LiveStreamInput, st: SignalState, relay: RelayInput, leaveOpen: boolean): Promise<void> {
  const { channelId, sessionId } = input;
  st.stage = 'transcoding';
  const scope = new CancellationScope();
  const transcodePromise: Promise<TranscodeResult> = scope.run(() => transcode({
    channelId, sessionId, relayUrl: relay.relayUrl, source: input.source, causationId: relay.eventId,
    ...(relay.resume ? { resume: true, inputSource: relay.source } : {}),
    ...(leaveOpen ? { leaveOpenAtEnd: true } : {}),
  }));
  let transcoded = false;
  transcodePromise.then(() => { transcoded = true; }, () => { transcoded = true; });
  await condition(() => transcoded || st.ended !== null);
  if (!transcoded) {
    st.stage = 'draining';
    if (!(await condition(() => transcoded, DRAIN_GRACE))) {
      log.warn('transcode did not drain in time; cancelling', { sessionId });
      scope.cancel();
    }
  }
  try {
    await transcodePromise;
  } catch (err) {
    if (!isCancellation(err)) throw err;
  }
}

/**
 * The pipeline with the reconnect window (see {@link liveStream}): transcode each relay of the
 * session in turn, until the publisher has ended (or the bound passed), then finish and package.
 */
async function reconnectingPipeline(input: LiveStreamInput, st: SignalState): Promise<LiveStreamResult> {
  const { channelId, sessionId } = input;
  const windowSeconds = Math.max(0, input.reconnectWindowSeconds ?? 0);
  const leaveOpen = windowSeconds > 0;
  const startedAt = Date.now(); // the sandbox's clock: deterministic on replay
  st.seenResumes = new Set();
  const fail = failWith(input, st);
  let relay: RelayInput = { relayUrl: input.relayUrl, source: input.source, eventId: input.publishEventId, resume: false };
  let endCause = input.publishEventId;
  for (;;) {
    try {
      await transcodeRelay(input, st, relay, leaveOpen);
    } catch (err) {
      return fail('transcode', err);
    }
    if (st.ended) break;
    // The relay ended: the publisher stopped (StreamPublishEnded follows within a second) or
    // dropped (it may come back within the window).
    st.stage = leaveOpen ? 'waiting-for-publisher' : 'waiting-for-end';
    const waitMs = leaveOpen ? (st.interrupted?.reconnectWindowSeconds ?? windowSeconds) * 1000 + RECONNECT_GRACE_MS : END_SIGNAL_WAIT;
    await condition(() => st.ended !== null || st.resumes.length > 0, waitMs);
    if (st.ended) break;
    const next = st.resumes.shift();
    if (next) {
      st.seenResumes.add(next.eventId);
      log.info('publisher reconnected; resuming the playlists', { sessionId, relayUrl: next.relayUrl });
      relay = { relayUrl: next.relayUrl, source: next.source, eventId: next.eventId, resume: true };
      endCause = next.eventId;
      continue;
    }
    if (leaveOpen) {
      // Neither a resume nor the end within the window and its grace: whoever held the window is
      // gone with it. End the session here so that read models and the VOD follow.
      log.warn('no resume and no end within the reconnect window; ending the session', { sessionId });
      const ended = streamEvent(workflowClock, 'StreamPublishEnded', {
        channelId, sessionId, reason: 'disconnected', bytesReceived: 0, durationMs: Math.max(0, Date.now() - startedAt),
      }, { producer: 'workflow:liveStream', causationId: endCause });
      await appendEvent(ended);
      st.ended = { reason: 'disconnected', eventId: ended.id };
    }
    break;
  }
  if (leaveOpen) {
    st.stage = 'finishing';
    try {
      await finishLive({ channelId, sessionId, source: input.source });
    } catch (err) {
      return fail('package', err);
    }
  }
  return packageAndAnnounce(input, st, fail);
}

type Fail = (where: 'transcode' | 'package', err: unknown) => Promise<LiveStreamResult>;

/** Appends StreamFailed for the session and returns the failed result. */
function failWith(input: LiveStreamInput, st: SignalState): Fail {
  return async (where, err) => {
    const reason = failureMessage(err);
    st.stage = 'failed';
    log.error('pipeline failed', { sessionId: input.sessionId, where, reason });
    await appendEvent(streamEvent(workflowClock, 'StreamFailed', { channelId: input.channelId, sessionId: input.sessionId, stage: where, reason }, { producer: 'workflow:liveStream', causationId: input.publishEventId }));
    return { status: 'failed', reason };
  };
}

/** Packages the VOD and appends VodReady. */
async function packageAndAnnounce(input: LiveStreamInput, st: SignalState, fail: Fail): Promise<LiveStreamResult> {
  const { channelId, sessionId } = input;
  st.stage = 'packaging';
  let vod: PackageVodResult;
  try {
    vod = await packageVod({ channelId, sessionId, source: input.source });
  } catch (err) {
    return fail('package', err);
  }
  await appendEvent(streamEvent(workflowClock, 'VodReady', {
    channelId, sessionId, durationSeconds: vod.durationSeconds, masterPlaylistKey: vod.masterPlaylistKey, mp4Key: vod.mp4Key, renditions: vod.renditions,
  }, { producer: 'workflow:liveStream', causationId: st.ended ? st.ended.eventId : input.publishEventId }));
  st.stage = 'done';
  return { status: 'vod', vod };
}

/** The pipeline of histories started before {@link RECONNECT_PATCH}: kept command for command. */
async function legacyPipeline(input: LiveStreamInput, st: SignalState): Promise<LiveStreamResult> {
  st.stage = 'transcoding';
  const fail = failWith(input, st);
  // The same activity call, drain and cancellation as the current pipeline's first relay
  // (transcodeRelay without resume or leave-open adds no command of its own).
  try {
    await transcodeRelay(input, st, { relayUrl: input.relayUrl, source: input.source, eventId: input.publishEventId, resume: false }, false);
  } catch (err) {
    return fail('transcode', err);
  }

  // The relay ended; the StreamPublishEnded event normally follows within a second.
  st.stage = 'waiting-for-end';
  await condition(() => st.ended !== null, END_SIGNAL_WAIT);
  return packageAndAnnounce(input, st, fail);
}
