/**
 * Pure mappings from what the projector reads (TELEMETRY beacons, CHAT records, ingest-health
 * events) to rows of the analytics tables of migration `0002_viewer_analytics`, in the shape
 * ClickHouse's JSONEachRow input accepts (ClickHouse docs "Formats: JSONEachRow"). Column
 * meanings and units are documented on the tables' columns (see migrations.ts).
 *
 * Every mapper validates what it reads and throws {@link MalformedRecordError} instead of
 * producing a row from bad input, so that nothing malformed reaches ClickHouse.
 */
import { BEACON_TYPES, type BeaconType, type EventOf } from '@live/events';
import { toClickHouseDateTime64 } from './rows.js';

/**
 * A record that cannot become an analytics row (wrong types, missing fields, out-of-range
 * numbers). `reason` is a short machine-friendly text, e.g. `heartbeat.playingMs: not a
 * non-negative number`; the projector counts and skips such records.
 */
export class MalformedRecordError extends Error {
  /** What is wrong, e.g. `type: unknown beacon type`. */
  readonly reason: string;
  constructor(reason: string) {
    super(`malformed record: ${reason}`);
    this.name = 'MalformedRecordError';
    this.reason = reason;
  }
}

/** Largest UInt32, the type of the ms / count columns. */
const MAX_UINT32 = 4_294_967_295;
/** Longest id (playback session, channel, session, viewer, user) accepted in a beacon, characters. */
export const MAX_BEACON_ID_LENGTH = 128;

/**
 * One row of `playback_beacons`: one stored player beacon (`StoredBeacon`). Columns that do not
 * apply to a beacon's type are `null` (sampled values) or `0` / `''` / `false` (values that are
 * summed or counted), as documented on the table.
 */
export interface PlaybackBeaconRow {
  readonly channel_id: string;
  readonly session_id: string;
  readonly playback_session_id: string;
  /** Beacon `seq` (UInt32). */
  readonly beacon_seq: number;
  readonly type: BeaconType;
  /** Beacon `at` (client clock) as DateTime64(3) text, UTC. */
  readonly client_at: string;
  /** `receivedAt` (server clock) as DateTime64(3) text, UTC. */
  readonly received_at: string;
  readonly viewer_id: string;
  /** `userId`, `''` when anonymous. */
  readonly user_id: string;
  readonly live: boolean | null;
  readonly autoplay: boolean | null;
  /** Media position, seconds. */
  readonly position_s: number | null;
  readonly rendition: string;
  /** kbit/s. */
  readonly bandwidth_kbps: number | null;
  /** ms, rounded. */
  readonly live_latency_ms: number | null;
  readonly dropped_frames: number | null;
  /** ms, rounded. */
  readonly ttff_ms: number | null;
  /** ms, rounded; 0 unless rebuffer_end. */
  readonly rebuffer_ms: number;
  /** ms, rounded; 0 unless heartbeat or session_end. */
  readonly playing_ms: number;
  readonly from_rendition: string;
  readonly to_rendition: string;
  readonly reason: string;
  readonly fatal: boolean;
  readonly error_code: string;
}

type Obj = Record<string, unknown>;

function fail(reason: string): never {
  throw new MalformedRecordError(reason);
}

function str(o: Obj, key: string, path: string, opts: { nonEmpty?: boolean; max?: number } = {}): string {
  const v = o[key];
  if (typeof v !== 'string') fail(`${path}.${key}: not a string`);
  if (opts.nonEmpty && v.length === 0) fail(`${path}.${key}: empty`);
  if (opts.max !== undefined && v.length > opts.max) fail(`${path}.${key}: longer than ${opts.max}`);
  return v;
}

function bool(o: Obj, key: string, path: string): boolean {
  const v = o[key];
  if (typeof v !== 'boolean') fail(`${path}.${key}: not a boolean`);
  return v;
}

/** A finite number ≥ 0 (or any finite number with `signed`). */
function num(o: Obj, key: string, path: string, signed = false): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || (!signed && v < 0)) fail(`${path}.${key}: not a ${signed ? '' : 'non-negative '}finite number`);
  return v;
}

/** A non-negative number rounded to an integer that fits UInt32 (ms, counts). */
function uint32(o: Obj, key: string, path: string): number {
  const v = Math.round(num(o, key, path));
  if (v > MAX_UINT32) fail(`${path}.${key}: larger than ${MAX_UINT32}`);
  return v;
}

function instant(o: Obj, key: string, path: string): string {
  const v = num(o, key, path);
  try {
    return toClickHouseDateTime64(v);
  } catch {
    return fail(`${path}.${key}: not a time in DateTime64's range`);
  }
}

const BEACON_TYPE_SET: ReadonlySet<string> = new Set(BEACON_TYPES);
const SWITCH_REASONS: ReadonlySet<string> = new Set(['initial', 'abr', 'manual']);

/**
 * Maps one stored beacon (the parsed JSON of a TELEMETRY message, `StoredBeacon` of
 * `@live/events` telemetry.ts) to its `playback_beacons` row. Durations and counts are rounded
 * to whole ms / units (UInt32 columns); positions and bandwidth keep their fraction.
 * @param value the message body, parsed, not trusted: validated field by field.
 * @throws MalformedRecordError when it is not a well-formed StoredBeacon: unknown `type`,
 *   missing or mistyped fields, negative or non-finite numbers, `seq` not an integer in
 *   [0, 2^32), times outside DateTime64's range, ids empty or longer than
 *   {@link MAX_BEACON_ID_LENGTH}.
 */
export function playbackBeaconRow(value: unknown): PlaybackBeaconRow {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('beacon: not an object');
  const b = value as Obj;
  const type = b.type;
  if (typeof type !== 'string' || !BEACON_TYPE_SET.has(type)) fail('beacon.type: unknown beacon type');
  const p = `beacon(${type})`;
  const seq = b.seq;
  if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 0 || seq > MAX_UINT32) fail(`${p}.seq: not an integer in [0, 2^32)`);
  const userId = b.userId;
  if (userId !== null && (typeof userId !== 'string' || userId.length > MAX_BEACON_ID_LENGTH)) fail(`${p}.userId: not a string or null`);
  const id = { nonEmpty: true, max: MAX_BEACON_ID_LENGTH };
  const row: { -readonly [K in keyof PlaybackBeaconRow]: PlaybackBeaconRow[K] } = {
    channel_id: str(b, 'channelId', p, id),
    session_id: str(b, 'sessionId', p, id),
    playback_session_id: str(b, 'playbackSessionId', p, id),
    beacon_seq: seq,
    type: type as BeaconType,
    client_at: instant(b, 'at', p),
    received_at: instant(b, 'receivedAt', p),
    viewer_id: str(b, 'viewerId', p, id),
    user_id: userId ?? '',
    live: null, autoplay: null, position_s: null, rendition: '', bandwidth_kbps: null, live_latency_ms: null,
    dropped_frames: null, ttff_ms: null, rebuffer_ms: 0, playing_ms: 0, from_rendition: '', to_rendition: '', reason: '',
    fatal: false, error_code: '',
  };
  const short = { max: MAX_BEACON_ID_LENGTH };
  switch (type as BeaconType) {
    case 'session_start':
      row.live = bool(b, 'live', p);
      row.autoplay = bool(b, 'autoplay', p);
      break;
    case 'first_frame':
      row.ttff_ms = uint32(b, 'ttffMs', p);
      row.rendition = str(b, 'rendition', p, short);
      break;
    case 'rebuffer_start':
      row.position_s = num(b, 'position', p);
      break;
    case 'rebuffer_end':
      row.position_s = num(b, 'position', p);
      row.rebuffer_ms = uint32(b, 'durationMs', p);
      break;
    case 'rendition_switch': {
      if (b.from !== null) row.from_rendition = str(b, 'from', p, short);
      row.to_rendition = str(b, 'to', p, short);
      const reason = str(b, 'reason', p);
      if (!SWITCH_REASONS.has(reason)) fail(`${p}.reason: not initial, abr or manual`);
      row.reason = reason;
      break;
    }
    case 'error':
      row.fatal = bool(b, 'fatal', p);
      row.error_code = str(b, 'code', p, short);
      break;
    case 'heartbeat':
      row.position_s = num(b, 'position', p);
      row.rendition = str(b, 'rendition', p, short);
      row.bandwidth_kbps = num(b, 'bandwidthKbps', p);
      row.live_latency_ms = b.liveLatencyMs === null ? null : uint32(b, 'liveLatencyMs', p);
      row.dropped_frames = uint32(b, 'droppedFrames', p);
      row.playing_ms = uint32(b, 'playingMs', p);
      break;
    case 'session_end':
      row.playing_ms = uint32(b, 'playingMs', p);
      break;
  }
  return row;
}

/** One row of `chat_messages`: an accepted chat message, without its text. */
export interface ChatMessageRow {
  /** The message id (= ChatMessageAccepted envelope id). */
  readonly message_id: string;
  /** Sequence of the message in the JetStream CHAT stream. */
  readonly chat_seq: number;
  readonly channel_id: string;
  /** Live session when sent, `''` when the channel was offline. */
  readonly session_id: string;
  readonly user_id: string;
  readonly kind: string;
  /** `occurredAt` as DateTime64(3) text, UTC. */
  readonly occurred_at: string;
  /** Text length in Unicode code points. */
  readonly text_length: number;
}

/**
 * Maps an accepted chat message (a CHAT record, `ChatMessageAccepted` of `@live/events`
 * chat.ts) to its `chat_messages` row: ids, kind, time and the text's length in code points;
 * the text itself never reaches the analytics store.
 * @param chatSeq the message's sequence in the CHAT stream (JetStream `seq`, ≥ 1).
 * @throws MalformedRecordError when `chatSeq` is not a positive safe integer, `kind` is not
 *   `message`/`emote`, `text` is not a string, `sessionId` is neither a string nor null, or
 *   `occurredAt` is not a time in DateTime64's range.
 */
export function chatMessageRow(event: EventOf<'ChatMessageAccepted'>, chatSeq: number): ChatMessageRow {
  if (!Number.isSafeInteger(chatSeq) || chatSeq < 1) fail('chat.seq: not a positive integer');
  const d = event.data as unknown as Obj;
  const kind = str(d, 'kind', 'chat');
  if (kind !== 'message' && kind !== 'emote') fail('chat.kind: not message or emote');
  const text = str(d, 'text', 'chat');
  const sessionId = d.sessionId;
  if (sessionId !== null && typeof sessionId !== 'string') fail('chat.sessionId: not a string or null');
  let occurredAt: string;
  try { occurredAt = toClickHouseDateTime64(event.occurredAt); } catch { fail('chat.occurredAt: not a time in DateTime64\'s range'); }
  return {
    message_id: event.id,
    chat_seq: chatSeq,
    channel_id: event.data.channelId,
    session_id: sessionId ?? '',
    user_id: event.data.userId,
    kind,
    occurred_at: occurredAt,
    text_length: Math.min([...text].length, 65_535),
  };
}

/** One row of `chat_message_deletions`: a moderator's tombstone for one message. */
export interface ChatMessageDeletionRow {
  /** The ChatMessageDeleted envelope id. */
  readonly event_id: string;
  /** Id of the deleted message (`chat_messages.message_id`). */
  readonly message_id: string;
  readonly channel_id: string;
  /** `occurredAt` of the deletion, DateTime64(3) text, UTC. */
  readonly deleted_at: string;
  readonly author_user_id: string;
  readonly actor_user_id: string;
}

/**
 * Maps a chat tombstone (`ChatMessageDeleted` on the room's CHAT subject) to its
 * `chat_message_deletions` row. The moderator's free-text reason is not copied.
 * @throws MalformedRecordError when `messageId` is empty or `occurredAt` is not a time in
 *   DateTime64's range.
 */
export function chatMessageDeletionRow(event: EventOf<'ChatMessageDeleted'>): ChatMessageDeletionRow {
  const d = event.data as unknown as Obj;
  const messageId = str(d, 'messageId', 'chatDeletion', { nonEmpty: true });
  let deletedAt: string;
  try { deletedAt = toClickHouseDateTime64(event.occurredAt); } catch { fail('chatDeletion.occurredAt: not a time in DateTime64\'s range'); }
  return {
    event_id: event.id,
    message_id: messageId,
    channel_id: event.data.channelId,
    deleted_at: deletedAt,
    author_user_id: typeof d.authorUserId === 'string' ? d.authorUserId : '',
    actor_user_id: typeof d.actorUserId === 'string' ? d.actorUserId : '',
  };
}

/** One row of `ingest_health`: one 5-second ingest health report of a live session. */
export interface IngestHealthRow {
  readonly event_id: string;
  readonly channel_id: string;
  readonly session_id: string;
  /** `occurredAt` (end of the measured interval), DateTime64(3) text, UTC. */
  readonly occurred_at: string;
  /** ms. */
  readonly interval_ms: number;
  /** kbit/s. */
  readonly bitrate_kbps: number;
  readonly video_bitrate_kbps: number;
  readonly audio_bitrate_kbps: number;
  /** frames per second. */
  readonly frame_rate: number;
  /** seconds, null before two keyframes were seen. */
  readonly keyframe_interval_s: number | null;
  /** ms, positive when audio is ahead. */
  readonly av_drift_ms: number;
}

/**
 * Maps a `StreamIngestHealthReported` event (`@live/events` telemetry.ts,
 * `StreamIngestHealthReportedV1`) to its `ingest_health` row.
 * @throws MalformedRecordError when a measurement is missing, not a finite number, or negative
 *   (every field but `avDriftMs`, which may be negative), `keyframeIntervalSeconds` is neither
 *   null nor such a number, or `occurredAt` is not a time in DateTime64's range.
 */
export function ingestHealthRow(event: EventOf<'StreamIngestHealthReported'>): IngestHealthRow {
  const d = event.data as unknown as Obj;
  const p = 'ingestHealth';
  let occurredAt: string;
  try { occurredAt = toClickHouseDateTime64(event.occurredAt); } catch { fail(`${p}.occurredAt: not a time in DateTime64's range`); }
  return {
    event_id: event.id,
    channel_id: str(d, 'channelId', p, { nonEmpty: true }),
    session_id: str(d, 'sessionId', p, { nonEmpty: true }),
    occurred_at: occurredAt,
    interval_ms: uint32(d, 'intervalMs', p),
    bitrate_kbps: num(d, 'bitrateKbps', p),
    video_bitrate_kbps: num(d, 'videoBitrateKbps', p),
    audio_bitrate_kbps: num(d, 'audioBitrateKbps', p),
    frame_rate: num(d, 'frameRate', p),
    keyframe_interval_s: d.keyframeIntervalSeconds === null ? null : num(d, 'keyframeIntervalSeconds', p),
    av_drift_ms: num(d, 'avDriftMs', p, true),
  };
}
