import { join } from 'node:path';
import { hostname } from 'node:os';
import { mkdir, rm } from 'node:fs/promises';
import { Context, ApplicationFailure, CancelledFailure } from '@temporalio/activity';
import type { Logger } from 'pino';
import type { Messaging } from '@live/messaging';
import { streamEvent, systemClock, type EventEnvelope, type RenditionSummary, type SourceMedia } from '@live/events';
import { appendEvent as appendToLog } from '@live/messaging';
import {
  buildLadderArgs, createHlsPublisher, FfmpegError, loadPublisherState, nextAttemptNumber, nextStartNumber, packageVod as packageVodFiles,
  runFfmpeg, selectLadder, UnsupportedSourceError, variantBandwidth, renditionCodecs, masterPlaylistKey, type PublisherState, type Rendition,
} from '@live/media';
import type { ObjectStorage } from '@live/storage';
import type { PackageVodResult, PipelineActivities, TranscodeInput, TranscodeResult } from '@live/workflows';

/** Dependencies of {@link createActivities}. */
export interface ActivityDeps {
  readonly storage: ObjectStorage;
  readonly js: Messaging['js'];
  /** Local scratch directory for ffmpeg's output (one sub-directory per session attempt). */
  readonly workDir: string;
  /** Internal token the ingest relay requires. */
  readonly relayToken: string;
  readonly logger: Logger;
  /** x264 preset of the encoded renditions (default `veryfast`). */
  readonly preset?: 'ultrafast' | 'superfast' | 'veryfast';
  /** Metrics hooks. */
  readonly metrics?: { transcodesRunning(delta: number): void; segmentPublished(rendition: string): void };
}

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

/** Storage key prefix of a session's objects. */
export function sessionKeyPrefix(sessionId: string): string {
  return `sessions/${sessionId}`;
}

/** Heartbeat details of the transcode activity (what a retry on another worker can read). */
export interface TranscodeHeartbeat {
  readonly attempt: number;
  /** Media seconds transcoded in this attempt (ffmpeg `out_time`). */
  readonly outTimeSeconds: number;
  /** Last published media sequence number per rendition. */
  readonly lastSegment: Record<string, number>;
}

function relayInputUrl(relayUrl: string, token: string): string {
  const u = new URL(relayUrl);
  u.searchParams.set('token', token);
  return u.href;
}

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
 */
export function createActivities(deps: ActivityDeps): PipelineActivities {
  const worker = `worker@${hostname()}:${process.pid}`;

  async function emit(event: EventEnvelope): Promise<void> {
    await appendToLog(deps.js, event);
  }

  return {
    async transcode(input: TranscodeInput): Promise<TranscodeResult> {
      const ctx = Context.current();
      const attempt = ctx.info.attempt;
      const { channelId, sessionId } = input;
      const log = deps.logger.child({ sessionId, streamId: channelId, attempt });
      const ladder = ladderFor(input.source);
      const keyPrefix = sessionKeyPrefix(sessionId);
      const frameRate = sourceFrameRate(input.source);
      // A retry (here or on another worker) continues the published playlists after a discontinuity.
      const resume = attempt > 1 ? await loadPublisherState(deps.storage, keyPrefix, ladder, { frameRate }) : undefined;
      const hasResume = resume && resume.renditions.some((r) => r.segments.length > 0);
      const outputDir = join(deps.workDir, sessionId, `attempt-${attempt}`);
      await rm(outputDir, { recursive: true, force: true });
      await mkdir(outputDir, { recursive: true });

      const lastSegment: Record<string, number> = {};
      let masterWritten = false;
      const publisher = createHlsPublisher({
        storage: deps.storage, outputDir, keyPrefix, ladder, source: input.source, frameRate,
        ...(hasResume ? { resume } : {}),
        logger: log,
        events: {
          onSegment(name, seg) {
            lastSegment[name] = seg.sequence;
            deps.metrics?.segmentPublished(name);
          },
          onMasterWritten() { masterWritten = true; },
          onError(err) { log.warn({ err: (err as Error).message }, 'publish pass failed; retrying'); },
        },
      });
      const args = buildLadderArgs({
        input: relayInputUrl(input.relayUrl, deps.relayToken), source: input.source, ladder, outputDir, segmentSeconds: 2,
        startNumber: hasResume ? nextStartNumber(resume) : 0, initSegmentName: `init_${hasResume ? nextAttemptNumber(resume) : 1}.mp4`,
        frameRate, ...(deps.preset ? { preset: deps.preset } : {}),
      });
      await emit(streamEvent(systemClock, 'TranscodeStarted', { channelId, sessionId, attempt, renditions: ladder.map((r) => r.name), worker }, { producer: worker, causationId: input.causationId }));
      log.info({ renditions: ladder.map((r) => `${r.name}${r.passthrough ? '(copy)' : ''}`) }, 'transcode started');

      let outTimeSeconds = 0;
      let renditionsReadySent = resume?.masterWritten ?? false;
      const heartbeat = () => ctx.heartbeat({ attempt, outTimeSeconds, lastSegment } satisfies TranscodeHeartbeat);
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
        heartbeat();
        sendRenditionsReady().catch((err) => { renditionsReadySent = false; log.warn({ err: (err as Error).message }, 'RenditionsReady not sent yet'); });
      }, 1000);
      deps.metrics?.transcodesRunning(1);
      publisher.start();
      try {
        let failure: unknown = null;
        try {
          await runFfmpeg(args, {
            signal: ctx.cancellationSignal,
            onProgress: (p) => { outTimeSeconds = p.outTimeMs / 1000; },
            onStderrLine: (line) => log.debug({ ffmpeg: line }),
          });
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
        // ffmpeg exits cleanly at the relay's EOF. A failure while the relay is gone is the same
        // end of the source (the ingest node closed it); a failure while it lives is retried.
        if (failure && (await relayAlive(input.relayUrl, deps.relayToken))) {
          const msg = failure instanceof FfmpegError ? `ffmpeg exited with ${failure.exitCode ?? failure.signal}: ${failure.stderrTail.slice(-1500)}` : String(failure);
          log.warn({ err: msg }, 'transcode failed while the source is live; will retry');
          throw ApplicationFailure.retryable(msg, 'TranscodeFailed');
        }
        const state = await publisher.finish();
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
        deps.metrics?.transcodesRunning(-1);
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
      const result = await packageVodFiles({ storage: deps.storage, keyPrefix, state, frameRate, tmpDir: deps.workDir, logger: deps.logger.child({ sessionId: input.sessionId }) });
      if (!result.mp4Key) throw new Error('packageVod produced no MP4');
      return { durationSeconds: result.durationSeconds, masterPlaylistKey: result.masterKey, mp4Key: result.mp4Key, renditions: result.renditions.map((r) => r.name) };
    },

    async appendEvent(event) {
      await emit(event);
    },
  };
}
