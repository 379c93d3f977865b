import { join } from 'node:path';
import { hostname } from 'node:os';
import { mkdir, rm } from 'node:fs/promises';
import { Context, ApplicationFailure, CancelledFailure } from '@temporalio/activity';
import type { Logger } from 'pino';
import type { Messaging } from '@live/messaging';
import { streamEvent, systemClock, type EventEnvelope, type PlaybackEncryption, type RenditionSummary, type SourceMedia } from '@live/events';
import { contentKeyPath, deriveContentKey } from '@live/auth';
import { appendEvent as appendToLog } from '@live/messaging';
import {
  buildLadderArgs, buildLowLatencyLadderArgs, createHlsPublisher, createLlHlsPublisher, FFMPEG_STDIN_INPUT, FfmpegError, loadPublisherState, nextAttemptNumber,
  nextStartNumber, packageVod as packageVodFiles, planLowLatencyParts, prepareLowLatencyOutputDirs, runFfmpeg, selectLadder,
  UnsupportedSourceError, variantBandwidth, renditionCodecs, masterPlaylistKey, sessionKeyPrefix, type HlsPublisher, type HlsPublisherOptions, type PublisherState,
  type LowLatencyPartsInput, type LowLatencyPartsPlan, type Rendition, type SegmentEncryption,
} from '@live/media';
import type { ObjectStorage } from '@live/storage';
import { createLivePoster } from '@live/media';
import type { PackageVodResult, PipelineActivities, TranscodeInput, TranscodeResult } from '@live/workflows';
import { openRelayStream } from './relay-input.js';
import { createMediaAnnouncer, type PublishMedia } from './announcer.js';
import { lowLatencyLayout, SEGMENT_SECONDS, type LowLatencyLayout } from './config.js';

/** Dependencies of {@link createActivities}. */
export interface ActivityDeps {
  readonly storage: ObjectStorage;
  readonly js: Messaging['js'];
  /** Local scratch directory for ffmpeg's output (one sub-directory per session attempt). */
  readonly workDir: string;
  /**
   * Internal token the ingest relay requires. Sent only as `Authorization: Bearer` on this
   * process's own requests to the relay ({@link openRelayStream}, the liveness probe); ffmpeg
   * reads the stream from its stdin and never sees the token (argv, environment or logs).
   */
  readonly relayToken: string;
  readonly logger: Logger;
  /** x264 preset of the encoded renditions (default `veryfast`). */
  readonly preset?: 'ultrafast' | 'superfast' | 'veryfast';
  /** Metrics hooks. */
  readonly metrics?: { transcodesRunning(delta: number): void; segmentPublished(rendition: string): void };
  /**
   * The channel's playback encryption as the Postgres read model has it (`channelPlaybackPolicy`
   * of `@live/db`), read at the start of every transcode attempt; null for an unknown channel.
   * Absent: sessions are never encrypted.
   */
  readonly playbackEncryption?: (channelId: string) => Promise<PlaybackEncryption | null>;
  /** `CONTENT_KEY_SECRET` (decoded): the secret AES-128 content keys are derived from; the edge holds the same. */
  readonly contentKeySecret?: Buffer;
  /**
   * DVR window of the live playlists in seconds (`DVR_WINDOW_SECONDS`, default
   * {@link DEFAULT_DVR_WINDOW_SECONDS}); segments that slide out stay in storage for the VOD.
   */
  readonly dvrWindowSeconds?: number;
  /** PART-HOLD-BACK of the low-latency playlists in parts (`LL_HLS_PART_HOLD_BACK_PARTS`; default `DEFAULT_PART_HOLD_BACK_PARTS` of `@live/media`). */
  readonly partHoldBackParts?: number;
  /**
   * Partial Segments per segment of the low-latency playlists (`LL_HLS_PARTS_PER_SEGMENT`), 2 to
   * `MAX_PARTS_PER_SEGMENT`; default `DEFAULT_PARTS_PER_SEGMENT` (4: parts of 0.5 s).
   */
  readonly partsPerSegment?: number;
  /**
   * Keyframe interval of the encoded renditions of the low-latency playlists, in parts
   * (`LL_HLS_KEYFRAME_PARTS`): a divisor of the parts per segment (`keyframePartsChoices`);
   * default one keyframe per segment. Passthrough renditions keep the source's.
   */
  readonly keyframeParts?: number;
  /**
   * Core NATS publish (`messaging.nc.publish`): the packager announces every part, segment and
   * playlist it writes on `media.<sessionId>` ({@link createMediaAnnouncer}), which the edges
   * subscribe to. Absent: nothing is announced (edges then poll storage).
   */
  readonly publishMedia?: PublishMedia;
}

/** Default DVR window of the live playlists: 2 hours. */
export const DEFAULT_DVR_WINDOW_SECONDS = 7200;

/**
 * The publisher's encryption for a session: keys derived per key period with
 * `deriveContentKey(secret, sessionId, keyIndex)` (cached: a key period has many segments), URIs
 * `contentKeyPath(sessionId, keyIndex)` on the edge.
 * @throws TypeError (from `@live/auth`) for a secret that is too short or an invalid session id.
 */
export function sessionEncryption(secret: Buffer, sessionId: string, rotateEverySegments: number): SegmentEncryption {
  contentKeyPath(sessionId, 0); // validates the session id before any segment is cut
  const cache = new Map<number, Buffer>();
  return {
    rotateEverySegments,
    keyFor(keyIndex) {
      let key = cache.get(keyIndex);
      if (!key) {
        key = deriveContentKey(secret, sessionId, keyIndex);
        if (cache.size > 64) cache.clear();
        cache.set(keyIndex, key);
      }
      return key;
    },
    keyUri: (keyIndex) => contentKeyPath(sessionId, keyIndex),
  };
}

/**
 * The key behind an EXT-X-KEY URI of `sessionId` (`/keys/<sessionId>/<n>.key`), for building
 * the clear MP4 of an encrypted VOD.
 * @throws Error when the URI is not one of this session's key paths.
 */
export function contentKeyForUri(secret: Buffer, sessionId: string, uri: string): Buffer {
  const m = /^\/keys\/([A-Za-z0-9_-]{1,128})\/(0|[1-9]\d{0,8})\.key$/.exec(uri);
  if (!m || m[1] !== sessionId) throw new Error(`EXT-X-KEY URI ${JSON.stringify(uri)} is not a key of session ${sessionId}`);
  return deriveContentKey(secret, sessionId, Number(m[2]));
}

/**
 * Default of {@link TranscodeInput.lowLatency}: Low-Latency HLS from our own packager
 * (`createLlHlsPublisher`), proven by `infra/media/test/ll-hls.int.test.ts` and
 * `apps/worker/test/transcode.int.test.ts` (real ffmpeg, conformance-checked playlists).
 */
export const LOW_LATENCY_DEFAULT = true;

/** Frames per second of the source as announced, or 30 when unknown. */
function sourceFrameRate(source: SourceMedia): number {
  const fps = source.video?.frameRate;
  return fps && fps > 0 ? fps : 30;
}

/**
 * The ladder for a source; a source the pipeline cannot take (no video) is a rule violation, so
 * it fails without retries.
 */
function ladderFor(source: SourceMedia): Rendition[] {
  try {
    return selectLadder(source);
  } catch (err) {
    if (err instanceof UnsupportedSourceError) throw ApplicationFailure.nonRetryable(err.message, 'UnsupportedSource');
    throw err;
  }
}

/**
 * The ladder of a reconnected publisher's transcode: the session's (from its first source), so
 * the playlists continue; a passthrough rung is encoded instead when the new source's video is
 * not the same (codec, size, codec string), since a copy would no longer match the rung.
 */
export function resumeLadder(ladder: Rendition[], first: SourceMedia, current: SourceMedia | undefined): Rendition[] {
  const a = first.video;
  const b = current?.video;
  if (!current || (a?.codec === b?.codec && a?.width === b?.width && a?.height === b?.height && a?.codecString === b?.codecString)) return ladder;
  return ladder.map((r) => (r.passthrough ? { ...r, passthrough: false } : r));
}

/** Heartbeat details of the transcode activity (what a retry on another worker can read). */
export interface TranscodeHeartbeat {
  readonly attempt: number;
  /** Media seconds transcoded in this attempt (ffmpeg `out_time`). */
  readonly outTimeSeconds: number;
  /** Last published media sequence number per rendition. */
  readonly lastSegment: Record<string, number>;
}

/** What the transcode heartbeats besides the attempt: ffmpeg's output time and each rendition's last published segment. */
type Progress = { outTimeSeconds: number; lastSegment: Record<string, number> };

/** Is the relay still serving the session? (404 = the publisher is gone.) */
async function relayAlive(relayUrl: string, token: string): Promise<boolean> {
  try {
    const r = await fetch(relayUrl, { method: 'HEAD', headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(3000) });
    return r.status !== 404;
  } catch {
    return false; // the ingest node itself is gone: so is the source
  }
}

/** The renditions as announced in the live master playlist (same BANDWIDTH and CODECS). */
async function summaries(storage: ObjectStorage, keyPrefix: string, ladder: readonly Rendition[], state: PublisherState, hasAudio: boolean): Promise<RenditionSummary[]> {
  return Promise.all(ladder.map(async (r) => {
    const rs = state.renditions.find((x) => x.rendition.name === r.name);
    const codecs = rs ? await renditionCodecs(storage, keyPrefix, rs, hasAudio).catch(() => []) : [];
    return {
      name: r.name,
      width: r.width,
      height: r.height,
      bandwidth: variantBandwidth(r, rs?.segments ?? [], 'live').bandwidth,
      codecs: codecs.length ? codecs.join(',') : [r.codecString, ...(hasAudio ? ['mp4a.40.2'] : [])].join(','),
      passthrough: r.passthrough,
    };
  }));
}

/**
 * The media pipeline's activities (the `transcode` task queue), built from their dependencies
 * (Temporal sample `activities-dependency-injection`).
 * @throws RangeError when `deps.partsPerSegment` or `deps.keyframeParts` is out of range ({@link lowLatencyLayout}).
 */
export function createActivities(deps: ActivityDeps): PipelineActivities {
  const worker = `worker@${hostname()}:${process.pid}`;
  const layout: LowLatencyLayout = lowLatencyLayout(deps.partsPerSegment, deps.keyframeParts);
  const { keyframesPerSegment } = layout;

  /**
   * The parts of an attempt ({@link planLowLatencyParts}): this worker's layout, or the
   * PART-TARGET and PART-HOLD-BACK of the session's stored playlists (`state`) where they differ,
   * which happens when a retry lands on a worker set otherwise; that is logged (warn).
   */
  function partsFor(frameRate: number, state: PublisherState | undefined, log: Logger): LowLatencyPartsPlan {
    const settings: LowLatencyPartsInput = {
      frameRate, segmentSeconds: SEGMENT_SECONDS, partSeconds: layout.partSeconds, keyframesPerSegment,
      ...(deps.partHoldBackParts !== undefined ? { partHoldBackParts: deps.partHoldBackParts } : {}),
    };
    const plan = planLowLatencyParts({ ...settings, ...(state ? { session: state } : {}) });
    if (plan.keptFromSession.length > 0) {
      const own = planLowLatencyParts(settings); // what a new session gets here
      log.warn({
        partTarget: plan.partTarget, partHoldBackParts: plan.partHoldBackParts, partFrames: plan.partFrames, keyframesPerSegment: plan.keyframesPerSegment,
        workerPartTarget: own.partTarget, workerPartHoldBackParts: own.partHoldBackParts,
      }, `keeping the session's ${plan.keptFromSession.join(' and ')}: this worker's LL_HLS settings give others, and a playlist's must not change`);
    }
    return plan;
  }

  async function emit(event: EventEnvelope): Promise<void> {
    await appendToLog(deps.js, event);
  }

  /** The transcode activity's work (see `PipelineActivities.transcode`); the caller heartbeats `progress` every second. */
  async function transcodeWith(ctx: Context, input: TranscodeInput, progress: Progress): Promise<TranscodeResult> {
    const attempt = ctx.info.attempt;
    const { channelId, sessionId } = input;
    const log = deps.logger.child({ sessionId, streamId: channelId, attempt });
    const ladder = resumeLadder(ladderFor(input.source), input.source, input.inputSource);
    const keyPrefix = sessionKeyPrefix(sessionId);
    const frameRate = sourceFrameRate(input.source);
    // A retry (here or on another worker), or a reconnected publisher, continues the published playlists after a discontinuity.
    const resume = attempt > 1 || input.resume ? await loadPublisherState(deps.storage, keyPrefix, ladder, { frameRate }) : undefined;
    const hasResume = resume && resume.renditions.some((r) => r.segments.length > 0);
    const outputDir = join(deps.workDir, sessionId, `attempt-${attempt}`);
    await rm(outputDir, { recursive: true, force: true });
    await mkdir(outputDir, { recursive: true });

    const { lastSegment } = progress;
    let masterWritten = false;
    const lowLatency = input.lowLatency ?? LOW_LATENCY_DEFAULT;
    // The channel's policy now (a change applies from the next session or attempt): encrypt?
    const policy = deps.playbackEncryption ? await deps.playbackEncryption(channelId) : null;
    let encryption: SegmentEncryption | undefined;
    if (policy?.enabled) {
      // Fail closed: a channel that asked for encryption is never published in the clear.
      if (!deps.contentKeySecret) throw ApplicationFailure.nonRetryable('the channel requires encryption but CONTENT_KEY_SECRET is not configured on the worker', 'EncryptionUnavailable');
      if (!lowLatency) throw ApplicationFailure.nonRetryable('encryption needs the low-latency packager (lowLatency: true)', 'EncryptionUnavailable');
      encryption = sessionEncryption(deps.contentKeySecret, sessionId, policy.rotateEverySegments);
    }
    const startNumber = hasResume ? nextStartNumber(resume) : 0;
    const attemptNumber = hasResume ? nextAttemptNumber(resume) : 1;
    // by default 0.5 s parts (15 frames at 30 fps): 4 per 2 s segment; a resumed session keeps its PART-TARGET
    const parts = partsFor(frameRate, hasResume ? resume : undefined, log);
    const publisherOptions: HlsPublisherOptions = {
      storage: deps.storage, outputDir, keyPrefix, ladder, source: input.source, frameRate,
      ...(hasResume ? { resume } : {}),
      ...(deps.publishMedia ? { announcer: createMediaAnnouncer(sessionId, deps.publishMedia) } : {}),
      logger: log,
      events: {
        onSegment(name, seg) {
          lastSegment[name] = seg.sequence;
          deps.metrics?.segmentPublished(name);
        },
        onMasterWritten() { masterWritten = true; },
        onError(err) { log.warn({ err: (err as Error).message }, 'publish pass failed; retrying'); },
      },
    };
    // ffmpeg reads the relay's FLV from stdin: we fetch it (token in a header) and pipe it in
    const ffmpegInput = FFMPEG_STDIN_INPUT;
    const inputOptions = { format: 'flv' } as const;
    let publisher: HlsPublisher;
    let args: string[];
    if (lowLatency) {
      // our packager: ffmpeg writes fragmented MP4 per rendition, fragments become LL-HLS parts
      await prepareLowLatencyOutputDirs(outputDir, ladder);
      publisher = createLlHlsPublisher({
        ...publisherOptions, segmentSeconds: SEGMENT_SECONDS, partFrames: parts.partFrames, partTarget: parts.partTarget, startNumber, initSegmentName: `init_${attemptNumber}.mp4`,
        ...(encryption ? { encryption } : {}),
        // every session becomes a VOD, which needs every segment: slid-out segments are archived, not deleted
        dvrWindowSeconds: deps.dvrWindowSeconds ?? DEFAULT_DVR_WINDOW_SECONDS, slidOutSegments: 'archive',
        partHoldBackParts: parts.partHoldBackParts,
      });
      args = buildLowLatencyLadderArgs({
        input: ffmpegInput, inputOptions, source: input.inputSource ?? input.source, ladder, outputDir, segmentSeconds: SEGMENT_SECONDS, frameRate,
        partFrames: parts.partFrames, keyframesPerSegment: parts.keyframesPerSegment, ...(deps.preset ? { preset: deps.preset } : {}),
      });
    } else {
      publisher = createHlsPublisher(publisherOptions);
      args = buildLadderArgs({
        input: ffmpegInput, inputOptions, source: input.inputSource ?? input.source, ladder, outputDir, segmentSeconds: SEGMENT_SECONDS,
        startNumber, initSegmentName: `init_${attemptNumber}.mp4`,
        frameRate, ...(deps.preset ? { preset: deps.preset } : {}),
      });
    }
    await emit(streamEvent(systemClock, 'TranscodeStarted', { channelId, sessionId, attempt, renditions: ladder.map((r) => r.name), worker }, { producer: worker, causationId: input.causationId }));
    log.info({ renditions: ladder.map((r) => `${r.name}${r.passthrough ? '(copy)' : ''}`), lowLatency, encrypted: Boolean(encryption), rotateEverySegments: encryption?.rotateEverySegments }, 'transcode started');

    let renditionsReadySent = resume?.masterWritten ?? false;
    const sendRenditionsReady = async () => {
      if (renditionsReadySent || !masterWritten) return;
      renditionsReadySent = true;
      const renditions = await summaries(deps.storage, keyPrefix, ladder, publisher.state(), Boolean(input.source.audio));
      await emit(streamEvent(systemClock, 'RenditionsReady', {
        channelId, sessionId, masterPlaylistKey: masterPlaylistKey(keyPrefix), renditions,
      }, { producer: worker, causationId: input.causationId }));
      log.info('renditions ready');
    };
    const ticker = setInterval(() => {
      sendRenditionsReady().catch((err) => { renditionsReadySent = false; log.warn({ err: (err as Error).message }, 'RenditionsReady not sent yet'); });
    }, 1000);
    deps.metrics?.transcodesRunning(1);
    publisher.start();
    // live poster: sessions/<id>/poster.jpg every 10 s from the newest segment, until the broadcast ends
    const posterSecret = deps.contentKeySecret;
    const poster = createLivePoster({
      storage: deps.storage, keyPrefix, renditions: ladder, tmpDir: deps.workDir, logger: log,
      ...(posterSecret ? { decryptionKey: (uri: string) => contentKeyForUri(posterSecret, sessionId, uri) } : {}),
    });
    poster.start();
    try {
      let failure: unknown = null;
      try {
        // a refused/unreachable relay (401, 404, reset) is a failure like ffmpeg's own: see below
        const stdin = await openRelayStream(input.relayUrl, { token: deps.relayToken, signal: ctx.cancellationSignal });
        try {
          await runFfmpeg(args, {
            signal: ctx.cancellationSignal,
            stdin,
            onProgress: (p) => { progress.outTimeSeconds = p.outTimeMs / 1000; },
            onStderrLine: (line) => log.debug({ ffmpeg: line }),
          });
        } finally {
          stdin.destroy(); // closes the relay connection whatever happened (a no-op after its end)
        }
      } catch (err) {
        failure = err;
      }
      await publisher.stop();
      if (ctx.cancellationSignal.aborted) {
        if (ctx.cancellationDetails?.cancelRequested) {
          // The workflow cancelled us after the publisher ended (drain timeout): close the playlists.
          await publisher.finish();
          log.info('transcode cancelled by the workflow; playlists finished');
        } else {
          // Worker shutdown, lost heartbeat, reset: the broadcast goes on. Leave the playlists open
          // so the retry (on this or another worker) continues them after a discontinuity.
          log.warn({ reason: String(ctx.cancellationSignal.reason) }, 'transcode interrupted; playlists left open for the retry');
        }
        throw ctx.cancellationSignal.reason instanceof Error ? ctx.cancellationSignal.reason : new CancelledFailure('transcode cancelled');
      }
      // ffmpeg exits cleanly at the relay's EOF. A failure (ffmpeg's, or the relay stream's:
      // refused, reset, stalled) while the relay is gone is the same end of the source (the
      // ingest node closed it); a failure while it lives is retried.
      if (failure && (await relayAlive(input.relayUrl, deps.relayToken))) {
        const msg = failure instanceof FfmpegError ? `ffmpeg exited with ${failure.exitCode ?? failure.signal}: ${failure.stderrTail.slice(-1500)}`
          : failure instanceof Error ? failure.message : String(failure);
        log.warn({ err: msg }, 'transcode failed while the source is live; will retry');
        throw ApplicationFailure.retryable(msg, 'TranscodeFailed');
      }
      // With a reconnect window the publisher may come back: the last segment is published but
      // the playlists stay open (no ENDLIST); a resume continues them, `finishLive` ends them.
      const state = await publisher.finish({ endList: !input.leaveOpenAtEnd });
      await sendRenditionsReady();
      const top = state.renditions[0];
      const mediaSeconds = top ? top.segments.reduce((s, x) => s + x.duration, 0) : 0;
      log.info({ mediaSeconds }, 'transcode finished');
      return {
        outcome: 'source-ended',
        segments: Object.fromEntries(state.renditions.map((r) => [r.rendition.name, r.segments.length])),
        mediaSeconds,
        renditions: ladder.map((r) => r.name),
      };
    } finally {
      clearInterval(ticker);
      await poster.stop(); // never throws
      deps.metrics?.transcodesRunning(-1);
      await rm(outputDir, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  return {
    async transcode(input: TranscodeInput): Promise<TranscodeResult> {
      // Heartbeats from the first moment: resuming loads the playlists from storage and may take
      // longer than the heartbeat timeout (4 s) on a loaded machine, before ffmpeg even starts.
      const ctx = Context.current();
      const progress: Progress = { outTimeSeconds: 0, lastSegment: {} };
      const heartbeat = () => ctx.heartbeat({ attempt: ctx.info.attempt, ...progress } satisfies TranscodeHeartbeat);
      heartbeat();
      const beating = setInterval(heartbeat, 1000);
      try {
        return await transcodeWith(ctx, input, progress);
      } finally {
        clearInterval(beating);
      }
    },

    async finishLive(input): Promise<void> {
      const keyPrefix = sessionKeyPrefix(input.sessionId);
      const ladder = ladderFor(input.source);
      const frameRate = sourceFrameRate(input.source);
      const state = await loadPublisherState(deps.storage, keyPrefix, ladder, { frameRate, measureBytes: false });
      if (state.ended || !state.renditions.some((r) => r.segments.length > 0)) return;
      // A publisher over the stored state with no new media: finish() writes the ENDLIST playlists.
      const log = deps.logger.child({ sessionId: input.sessionId });
      const parts = partsFor(frameRate, state, log);
      const outputDir = join(deps.workDir, input.sessionId, 'finish');
      await rm(outputDir, { recursive: true, force: true });
      try {
        const publisher = createLlHlsPublisher({
          storage: deps.storage, outputDir, keyPrefix, ladder, source: input.source, frameRate, resume: state,
          segmentSeconds: SEGMENT_SECONDS, partFrames: parts.partFrames, partTarget: parts.partTarget, partHoldBackParts: parts.partHoldBackParts, startNumber: nextStartNumber(state),
          initSegmentName: `init_${nextAttemptNumber(state)}.mp4`, logger: log,
          ...(deps.publishMedia ? { announcer: createMediaAnnouncer(input.sessionId, deps.publishMedia) } : {}),
          dvrWindowSeconds: deps.dvrWindowSeconds ?? DEFAULT_DVR_WINDOW_SECONDS, slidOutSegments: 'archive',
        });
        await publisher.finish();
      } finally {
        await rm(outputDir, { recursive: true, force: true }).catch(() => undefined);
      }
    },

    async packageVod(input): Promise<PackageVodResult> {
      const keyPrefix = sessionKeyPrefix(input.sessionId);
      const ladder = ladderFor(input.source);
      const frameRate = sourceFrameRate(input.source);
      const state = await loadPublisherState(deps.storage, keyPrefix, ladder, { frameRate });
      if (!state.renditions.some((r) => r.segments.length > 0)) {
        throw ApplicationFailure.nonRetryable('no segments were published for this session', 'NothingToPackage');
      }
      const encrypted = state.renditions.some((r) => r.segments.some((s) => s.key));
      if (encrypted && !deps.contentKeySecret) throw ApplicationFailure.nonRetryable('the session is encrypted but CONTENT_KEY_SECRET is not configured on the worker', 'EncryptionUnavailable');
      const secret = deps.contentKeySecret;
      const result = await packageVodFiles({
        storage: deps.storage, keyPrefix, state, frameRate, tmpDir: deps.workDir, logger: deps.logger.child({ sessionId: input.sessionId }),
        ...(secret ? { decryptionKey: (uri: string) => contentKeyForUri(secret, input.sessionId, uri) } : {}),
      });
      if (!result.mp4Key) throw new Error('packageVod produced no MP4');
      return { durationSeconds: result.durationSeconds, masterPlaylistKey: result.masterKey, mp4Key: result.mp4Key, renditions: result.renditions.map((r) => r.name) };
    },

    async appendEvent(event) {
      await emit(event);
    },
  };
}
