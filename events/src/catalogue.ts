import type { EventEnvelope } from './envelope.js';
import type {
  ChannelCreatedV1, ChannelFollowChangedV1, ChannelMetadataUpdatedV1, ChannelModeratorChangedV1, StreamKeyIssuedV1,
  StreamKeyRevokedV1, StreamKeyRotatedV1, ChannelPlaybackPolicyChangedV2, StreamStopRequestedV1, UniqueValueClaimedV1, UniqueValueReleasedV1,
  NotificationsReadV1, UserPasswordChangedV1, UserProfileUpdatedV1, UserRegisteredV1, UserRoleChangedV1,
} from './accounts.js';
import type {
  ChannelViewersCountedV1, ChatBannedTermsSetV1, ChatMessageAcceptedV1, ChatMessageDeletedV1, ChatMessageHeldV1, ChatMessageReportedV1,
  ChatSettingsChangedV1, ChatUserBannedV1, ChatUserTimedOutV1, ChatUserUnbannedV1, ModerationItemResolvedV1,
} from './chat.js';
import type { StreamIngestHealthReportedV1 } from './telemetry.js';
import type {
  RestreamDestinationAddedV1, RestreamDestinationRemovedV1, RestreamDestinationUpdatedV1, RestreamReconnectingV1, RestreamStartedV1, RestreamStoppedV1,
} from './restream.js';
import type { RecordingDeletedV1, RecordingDeletionRequestedV1, RecordingRenamedV1, RecordingRetentionSetV1 } from './recordings.js';

/**
 * Media description of a published source, as the ingest node learned it from the RTMP
 * `onMetaData` and the AVC / AAC sequence headers. Codec strings follow RFC 6381.
 */
export interface SourceMedia {
  readonly video?: {
    readonly codec: string;
    readonly codecString?: string;
    /** Pixels. */
    readonly width?: number;
    /** Pixels. */
    readonly height?: number;
    /** Frames per second. */
    readonly frameRate?: number;
    /** Kilobits per second, as announced by the encoder. */
    readonly bitrateKbps?: number;
  };
  readonly audio?: {
    readonly codec: string;
    readonly codecString?: string;
    /** Hz. */
    readonly sampleRate?: number;
    readonly channels?: number;
    /** Kilobits per second. */
    readonly bitrateKbps?: number;
  };
}

/** One rendition of the ABR ladder as announced in the master playlist. */
export interface RenditionSummary {
  /** Ladder name, e.g. `1080p`. */
  readonly name: string;
  readonly width: number;
  readonly height: number;
  /** Peak bits per second (the master playlist's BANDWIDTH). */
  readonly bandwidth: number;
  /** RFC 6381 codec list, e.g. `avc1.64002a,mp4a.40.2`. */
  readonly codecs: string;
  /** True when the rendition is the source passed through without re-encoding. */
  readonly passthrough: boolean;
}

/** A publisher connected with a valid stream key and its media started flowing. */
export interface StreamPublishStartedV1 {
  readonly channelId: string;
  readonly sessionId: string;
  /** Id of the ingest node that holds the publisher's connection. */
  readonly ingestNodeId: string;
  /** Internal HTTP-FLV relay URL of the session (without its token). */
  readonly relayUrl: string;
  /** RTMP application name, e.g. `live`. */
  readonly app: string;
  readonly source: SourceMedia;
  /**
   * Seconds the session waits for its publisher to come back when the connection drops without
   * a clean stop (the ingest node's reconnect window, `INGEST_RECONNECT_WINDOW_SECONDS`); 0 or
   * absent: none (a drop ends the session). Optional and additive: events stored before it had
   * no window.
   */
  readonly reconnectWindowSeconds?: number;
}

/**
 * A live publisher's connection dropped without a clean stop (TCP close or reset, idle timeout;
 * no `FCUnpublish`/`deleteStream`): the session is NOT over yet. The ingest node keeps the
 * channel's lease for `reconnectWindowSeconds`; a publish with a key of the channel on any node
 * within it continues the same session ({@link StreamPublishResumedV1}); otherwise the node
 * appends StreamPublishEnded (reason `disconnected`) when the window closes.
 */
export interface StreamPublishInterruptedV1 {
  readonly channelId: string;
  readonly sessionId: string;
  /** The node that held the dropped connection and now holds the window. */
  readonly ingestNodeId: string;
  /** Free text for operators, e.g. `connection closed`, `ECONNRESET`, `idle timeout`. */
  readonly detail: string;
  /** Seconds from this event within which a reconnect resumes the session. */
  readonly reconnectWindowSeconds: number;
  /** Bytes received over the session's connections so far. */
  readonly bytesReceived: number;
}

/**
 * A publisher reconnected within the reconnect window (on this node or another) and its media
 * flows again: the same session continues from a new relay. Transcoders resume the session's
 * playlists after one EXT-X-DISCONTINUITY.
 */
export interface StreamPublishResumedV1 {
  readonly channelId: string;
  readonly sessionId: string;
  /** The node that holds the new connection. */
  readonly ingestNodeId: string;
  /** Internal HTTP-FLV relay URL of the new connection (without its token). */
  readonly relayUrl: string;
  /** Application name of the new connection, e.g. `live`. */
  readonly app: string;
  /** Media of the new connection (the ladder of the session stays the one of its start). */
  readonly source: SourceMedia;
  /** Node that held the session before: the one that appended the interruption, or a dead one whose lease was taken over. */
  readonly previousIngestNodeId: string;
  /** How the channel's lease reached this node: `local` (same node), `handover` (asked the holder), `takeover` (holder did not answer). */
  readonly lease: 'local' | 'handover' | 'takeover';
}

/** Why a publish ended. */
export type PublishEndReason = 'unpublished' | 'disconnected' | 'error' | 'kicked';

/** A publisher stopped (cleanly or not). */
export interface StreamPublishEndedV1 {
  readonly channelId: string;
  readonly sessionId: string;
  readonly reason: PublishEndReason;
  /** Bytes of RTMP payload received during the session. */
  readonly bytesReceived: number;
  /** Milliseconds between publish start and end. */
  readonly durationMs: number;
}

/** A transcode attempt of a session started on a worker. `attempt` counts from 1. */
export interface TranscodeStartedV1 {
  readonly channelId: string;
  readonly sessionId: string;
  readonly attempt: number;
  readonly renditions: readonly string[];
  readonly worker: string;
}

/** Every rendition of the session has segments and the master playlist was written. */
export interface RenditionsReadyV1 {
  readonly channelId: string;
  readonly sessionId: string;
  /** Storage key of the live master playlist. */
  readonly masterPlaylistKey: string;
  readonly renditions: readonly RenditionSummary[];
}

/** The VOD of a finished session was packaged. */
export interface VodReadyV1 {
  readonly channelId: string;
  readonly sessionId: string;
  /** Seconds of media in the VOD. */
  readonly durationSeconds: number;
  /** Storage key of the VOD master playlist (EXT-X-ENDLIST media playlists). */
  readonly masterPlaylistKey: string;
  /** Storage key of the `+faststart` MP4 of the top rendition. */
  readonly mp4Key: string;
  readonly renditions: readonly string[];
}

/** The media pipeline of a session gave up after its retries. */
export interface StreamFailedV1 {
  readonly channelId: string;
  readonly sessionId: string;
  /** Pipeline stage that failed. */
  readonly stage: 'transcode' | 'package' | 'orchestration';
  /** Human-readable reason (last error message). */
  readonly reason: string;
}

/** Map from event type to its current data shape. Adding a type here adds it everywhere. */
export interface EventDataByType {
  StreamPublishStarted: StreamPublishStartedV1;
  StreamPublishEnded: StreamPublishEndedV1;
  StreamPublishInterrupted: StreamPublishInterruptedV1;
  StreamPublishResumed: StreamPublishResumedV1;
  TranscodeStarted: TranscodeStartedV1;
  RenditionsReady: RenditionsReadyV1;
  VodReady: VodReadyV1;
  StreamFailed: StreamFailedV1;
  StreamStopRequested: StreamStopRequestedV1;
  UserRegistered: UserRegisteredV1;
  UserProfileUpdated: UserProfileUpdatedV1;
  UserPasswordChanged: UserPasswordChangedV1;
  UserRoleGranted: UserRoleChangedV1;
  UserRoleRevoked: UserRoleChangedV1;
  UniqueValueClaimed: UniqueValueClaimedV1;
  UniqueValueReleased: UniqueValueReleasedV1;
  ChannelCreated: ChannelCreatedV1;
  ChannelMetadataUpdated: ChannelMetadataUpdatedV1;
  ChannelModeratorAdded: ChannelModeratorChangedV1;
  ChannelModeratorRemoved: ChannelModeratorChangedV1;
  StreamKeyIssued: StreamKeyIssuedV1;
  StreamKeyRotated: StreamKeyRotatedV1;
  StreamKeyRevoked: StreamKeyRevokedV1;
  ChannelPlaybackPolicyChanged: ChannelPlaybackPolicyChangedV2;
  ChannelFollowed: ChannelFollowChangedV1;
  ChannelUnfollowed: ChannelFollowChangedV1;
  NotificationsRead: NotificationsReadV1;
  ChatMessageAccepted: ChatMessageAcceptedV1;
  ChatMessageDeleted: ChatMessageDeletedV1;
  ChatUserTimedOut: ChatUserTimedOutV1;
  ChatUserBanned: ChatUserBannedV1;
  ChatUserUnbanned: ChatUserUnbannedV1;
  ChatSettingsChanged: ChatSettingsChangedV1;
  ChatBannedTermsSet: ChatBannedTermsSetV1;
  ChatMessageReported: ChatMessageReportedV1;
  ChatMessageHeld: ChatMessageHeldV1;
  ModerationItemResolved: ModerationItemResolvedV1;
  ChannelViewersCounted: ChannelViewersCountedV1;
  StreamIngestHealthReported: StreamIngestHealthReportedV1;
  RestreamDestinationAdded: RestreamDestinationAddedV1;
  RestreamDestinationUpdated: RestreamDestinationUpdatedV1;
  RestreamDestinationRemoved: RestreamDestinationRemovedV1;
  RestreamStarted: RestreamStartedV1;
  RestreamReconnecting: RestreamReconnectingV1;
  RestreamStopped: RestreamStoppedV1;
  RecordingRenamed: RecordingRenamedV1;
  RecordingDeletionRequested: RecordingDeletionRequestedV1;
  RecordingDeleted: RecordingDeletedV1;
  RecordingRetentionSet: RecordingRetentionSetV1;
}

/** Every event type name in the catalogue. */
export type EventType = keyof EventDataByType;

/** Current schema version of each event type; bump it and add an upcaster to evolve a schema. */
export const CURRENT_VERSION: { readonly [K in EventType]: number } = {
  StreamPublishStarted: 1,
  StreamPublishEnded: 1,
  StreamPublishInterrupted: 1,
  StreamPublishResumed: 1,
  TranscodeStarted: 1,
  RenditionsReady: 1,
  VodReady: 1,
  StreamFailed: 1,
  StreamStopRequested: 1,
  UserRegistered: 1,
  UserProfileUpdated: 1,
  UserPasswordChanged: 1,
  UserRoleGranted: 1,
  UserRoleRevoked: 1,
  UniqueValueClaimed: 1,
  UniqueValueReleased: 1,
  ChannelCreated: 1,
  ChannelMetadataUpdated: 1,
  ChannelModeratorAdded: 1,
  ChannelModeratorRemoved: 1,
  StreamKeyIssued: 1,
  StreamKeyRotated: 1,
  StreamKeyRevoked: 1,
  ChannelPlaybackPolicyChanged: 2,
  ChannelFollowed: 1,
  ChannelUnfollowed: 1,
  NotificationsRead: 1,
  ChatMessageAccepted: 1,
  ChatMessageDeleted: 1,
  ChatUserTimedOut: 1,
  ChatUserBanned: 1,
  ChatUserUnbanned: 1,
  ChatSettingsChanged: 1,
  ChatBannedTermsSet: 1,
  ChatMessageReported: 1,
  ChatMessageHeld: 1,
  ModerationItemResolved: 1,
  ChannelViewersCounted: 1,
  StreamIngestHealthReported: 1,
  RestreamDestinationAdded: 1,
  RestreamDestinationUpdated: 1,
  RestreamDestinationRemoved: 1,
  RestreamStarted: 1,
  RestreamReconnecting: 1,
  RestreamStopped: 1,
  RecordingRenamed: 1,
  RecordingDeletionRequested: 1,
  RecordingDeleted: 1,
  RecordingRetentionSet: 1,
};

/** A decoded, current-version domain event. A discriminated union on `type`. */
export type DomainEvent = { [K in EventType]: EventEnvelope<K, EventDataByType[K]> }[EventType];

/** Narrow a DomainEvent to one type. */
export type EventOf<K extends EventType> = Extract<DomainEvent, { type: K }>;

/**
 * An upcaster turns the stored data of `version` into the data of `version + 1`
 * (stored events are never rewritten; old shapes are lifted when read).
 */
export type Upcaster = (data: Record<string, unknown>) => Record<string, unknown>;

/** Upcasters per type, keyed by the version they read. */
export const UPCASTERS: { readonly [K in EventType]?: Readonly<Record<number, Upcaster>> } = {
  // v2 added bindAddress; policies set before it bound nothing.
  ChannelPlaybackPolicyChanged: { 1: (data) => ({ ...data, bindAddress: false }) },
};

/** Thrown when bytes read from the log are not a well-formed event of the catalogue. */
export class EventDecodeError extends Error {
  override readonly name = 'EventDecodeError';
}

const REQUIRED_STRING_FIELDS: { readonly [K in EventType]: readonly string[] } = {
  StreamPublishStarted: ['channelId', 'sessionId', 'ingestNodeId', 'relayUrl', 'app'],
  StreamPublishEnded: ['channelId', 'sessionId', 'reason'],
  StreamPublishInterrupted: ['channelId', 'sessionId', 'ingestNodeId'],
  StreamPublishResumed: ['channelId', 'sessionId', 'ingestNodeId', 'relayUrl', 'app'],
  TranscodeStarted: ['channelId', 'sessionId', 'worker'],
  RenditionsReady: ['channelId', 'sessionId', 'masterPlaylistKey'],
  VodReady: ['channelId', 'sessionId', 'masterPlaylistKey', 'mp4Key'],
  StreamFailed: ['channelId', 'sessionId', 'stage', 'reason'],
  StreamStopRequested: ['channelId', 'sessionId'],
  UserRegistered: ['userId', 'username', 'email', 'displayName', 'passwordHash'],
  UserProfileUpdated: ['userId', 'displayName', 'bio'],
  UserPasswordChanged: ['userId', 'passwordHash'],
  UserRoleGranted: ['userId', 'role', 'actorUserId'],
  UserRoleRevoked: ['userId', 'role', 'actorUserId'],
  UniqueValueClaimed: ['kind', 'value', 'userId'],
  UniqueValueReleased: ['kind', 'value', 'userId'],
  ChannelCreated: ['channelId', 'displayName'],
  ChannelMetadataUpdated: ['channelId', 'title', 'category', 'language'],
  ChannelModeratorAdded: ['channelId', 'userId'],
  ChannelModeratorRemoved: ['channelId', 'userId'],
  StreamKeyIssued: ['channelId', 'keyId', 'keyHash', 'keyLast4', 'label'],
  StreamKeyRotated: ['channelId', 'oldKeyId', 'keyId', 'keyHash', 'keyLast4', 'label'],
  StreamKeyRevoked: ['channelId', 'keyId'],
  ChannelPlaybackPolicyChanged: ['channelId', 'visibility'],
  ChannelFollowed: ['userId', 'channelId'],
  ChannelUnfollowed: ['userId', 'channelId'],
  NotificationsRead: ['userId', 'readUpTo'],
  ChatMessageAccepted: ['channelId', 'userId', 'username', 'kind', 'text'],
  ChatMessageDeleted: ['channelId', 'messageId', 'authorUserId', 'actorUserId'],
  ChatUserTimedOut: ['channelId', 'userId', 'actorUserId', 'until'],
  ChatUserBanned: ['channelId', 'userId', 'actorUserId'],
  ChatUserUnbanned: ['channelId', 'userId', 'actorUserId'],
  ChatSettingsChanged: ['channelId', 'actorUserId'],
  ChatBannedTermsSet: ['channelId', 'actorUserId'],
  ChatMessageReported: ['channelId', 'messageId', 'reporterUserId', 'authorUserId', 'text'],
  ChatMessageHeld: ['channelId', 'userId', 'username', 'kind', 'text', 'term'],
  ModerationItemResolved: ['channelId', 'itemId', 'actorUserId', 'resolution'],
  ChannelViewersCounted: ['channelId'],
  StreamIngestHealthReported: ['channelId', 'sessionId'],
  RestreamDestinationAdded: ['channelId', 'destinationId', 'name', 'url', 'keySealed', 'keyLast4'],
  RestreamDestinationUpdated: ['channelId', 'destinationId', 'name', 'url'],
  RestreamDestinationRemoved: ['channelId', 'destinationId'],
  RestreamStarted: ['channelId', 'sessionId', 'destinationId', 'ingestNodeId'],
  RestreamReconnecting: ['channelId', 'sessionId', 'destinationId', 'reason', 'ingestNodeId'],
  RestreamStopped: ['channelId', 'sessionId', 'destinationId', 'reason', 'ingestNodeId'],
  RecordingRenamed: ['channelId', 'sessionId', 'title', 'actorUserId'],
  RecordingDeletionRequested: ['channelId', 'sessionId', 'reason', 'actorUserId'],
  RecordingDeleted: ['channelId', 'sessionId', 'reason'],
  RecordingRetentionSet: ['channelId', 'actorUserId'],
};

function isEventType(t: unknown): t is EventType {
  return typeof t === 'string' && Object.prototype.hasOwnProperty.call(CURRENT_VERSION, t);
}

/**
 * Decodes a stored event (a JSON value) into the current-version {@link DomainEvent},
 * applying upcasters from its stored version up to {@link CURRENT_VERSION}.
 * @throws EventDecodeError when the envelope is malformed, the type is unknown, the version is
 *   newer than this code knows, an upcaster is missing, or a required data field is absent.
 */
export function decodeEvent(value: unknown): DomainEvent {
  if (typeof value !== 'object' || value === null) throw new EventDecodeError('event is not an object');
  const e = value as Record<string, unknown>;
  for (const f of ['id', 'type', 'occurredAt', 'subject'] as const) {
    if (typeof e[f] !== 'string') throw new EventDecodeError(`event.${f} must be a string`);
  }
  if (!isEventType(e.type)) throw new EventDecodeError(`unknown event type ${String(e.type)}`);
  const type = e.type;
  let version = e.version;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) {
    throw new EventDecodeError('event.version must be a positive integer');
  }
  if (version > CURRENT_VERSION[type]) {
    throw new EventDecodeError(`${type} v${version} is newer than this code (v${CURRENT_VERSION[type]})`);
  }
  if (typeof e.data !== 'object' || e.data === null) throw new EventDecodeError('event.data must be an object');
  let data = e.data as Record<string, unknown>;
  while (version < CURRENT_VERSION[type]) {
    const up = UPCASTERS[type]?.[version];
    if (!up) throw new EventDecodeError(`no upcaster for ${type} v${version}`);
    data = up(data);
    version += 1;
  }
  for (const f of REQUIRED_STRING_FIELDS[type]) {
    if (typeof data[f] !== 'string') throw new EventDecodeError(`${type}.data.${f} must be a string`);
  }
  const meta = (typeof e.meta === 'object' && e.meta !== null ? e.meta : {}) as Record<string, unknown>;
  return {
    id: e.id as string,
    type,
    version,
    occurredAt: e.occurredAt as string,
    subject: e.subject as string,
    data,
    meta: {
      correlationId: typeof meta.correlationId === 'string' ? meta.correlationId : '',
      causationId: typeof meta.causationId === 'string' ? meta.causationId : null,
      producer: typeof meta.producer === 'string' ? meta.producer : 'unknown',
    },
  } as DomainEvent;
}
