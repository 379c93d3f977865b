/**
 * Activity contracts of the media pipeline, as types only: workflows import them with
 * `import type` and call them through `proxyActivities`; apps/worker implements them.
 */
import type { EventEnvelope, SourceMedia } from '@live/events';

/** What the transcode activity needs to pull and transcode one session. */
export interface TranscodeInput {
  readonly channelId: string;
  readonly sessionId: string;
  /** Internal HTTP-FLV relay URL of the session (the worker adds its token). */
  readonly relayUrl: string;
  readonly source: SourceMedia;
  /** Id of the StreamPublishStarted event (causation of what the activity emits). */
  readonly causationId: string;
  /**
   * Low-Latency HLS (RFC 8216bis parts, blocking reload, preload hints) on the same media
   * playlists; regular clients keep working. Default true (the worker's packager); false falls
   * back to ffmpeg's hls muxer with 2 s segments only.
   */
  readonly lowLatency?: boolean;
  /**
   * The media of the connection being transcoded when it is not the session's first (a
   * publisher that reconnected): ffmpeg's input options (audio) follow it, while `source` keeps
   * deciding the ladder, so the session's renditions stay the same (a passthrough rung is encoded
   * instead when this video differs from the first one).
   */
  readonly inputSource?: SourceMedia;
  /**
   * Continue the session's published playlists (after an EXT-X-DISCONTINUITY) even on the
   * activity's first attempt: the relay is a reconnected publisher's. Default false (a retry
   * attempt always continues them).
   */
  readonly resume?: boolean;
  /**
   * At the relay's EOF, leave the playlists open (as after a crash: no EXT-X-ENDLIST), because
   * the publisher may reconnect and the session continue; the workflow calls `finishLive` once
   * the session is over. Default false: the playlists are finished at EOF.
   */
  readonly leaveOpenAtEnd?: boolean;
}

/** Why a transcode attempt returned. */
export interface TranscodeResult {
  /**
   * `source-ended`: the relay reached EOF (the publisher stopped). A transcode the workflow
   * cancels (drain timeout) does not return: it finishes the playlists and throws CancelledFailure.
   */
  readonly outcome: 'source-ended';
  /** Segments published per rendition name (all attempts). */
  readonly segments: Readonly<Record<string, number>>;
  /** Seconds of media in the top rendition's published playlist. */
  readonly mediaSeconds: number;
  readonly renditions: readonly string[];
}

/** What packaging produced for the VOD. */
export interface PackageVodResult {
  /** Seconds of media. */
  readonly durationSeconds: number;
  readonly masterPlaylistKey: string;
  readonly mp4Key: string;
  readonly renditions: readonly string[];
}

/** The activities of the `transcode` task queue. */
export interface PipelineActivities {
  /**
   * Runs ffmpeg on the relay until the source ends, publishing segments then playlists to
   * storage and heartbeating the publisher state; a retry resumes the same playlists after an
   * EXT-X-DISCONTINUITY. Emits TranscodeStarted and RenditionsReady itself.
   * Throws (retryable) when ffmpeg fails while the source is still live.
   */
  transcode(input: TranscodeInput): Promise<TranscodeResult>;
  /**
   * Finishes a session's live playlists that a transcode left open (`leaveOpenAtEnd`): rewrites
   * every media playlist with EXT-X-ENDLIST, from the state in storage. No-op when they are
   * finished already or nothing was published.
   */
  finishLive(input: { channelId: string; sessionId: string; source: SourceMedia }): Promise<void>;
  /** Writes the EXT-X-ENDLIST playlists and the `+faststart` MP4 of a finished session (the source decides the ladder). */
  packageVod(input: { channelId: string; sessionId: string; source: SourceMedia }): Promise<PackageVodResult>;
  /** Appends an event built by the workflow (its id is fixed in history, so a retry is deduplicated). */
  appendEvent(event: EventEnvelope): Promise<void>;
}

/** What deleting a recording's objects removed. */
export interface DeletedObjects {
  /** Objects removed (0 when an earlier attempt had removed them all). */
  readonly objectsDeleted: number;
  /** Bytes those objects held. */
  readonly bytesFreed: number;
}

/** A recording past its channel's retention (what {@link RecordingActivities.expiredRecordings} finds). */
export interface ExpiredRecordingRef {
  readonly channelId: string;
  readonly sessionId: string;
}

/** The activities of recordings (deletion, retention), on the same task queue. */
export interface RecordingActivities {
  /**
   * Removes every object of the session (storage prefix `sessions/<sessionId>/`, the layout of
   * `@live/media/formats`) and says how many and how many bytes. Idempotent: a retry after a
   * partial deletion removes the rest.
   */
  deleteRecordingObjects(input: { sessionId: string }): Promise<DeletedObjects>;
  /** The recordings past their channel's retention at `nowMs` (ms since the epoch), oldest first, at most `limit`. */
  expiredRecordings(input: { nowMs: number; limit: number }): Promise<ExpiredRecordingRef[]>;
}
