import type { DomainEvent } from '@live/events';

/**
 * One row of the `domain_events` table (migration `0001_domain_events`), in the shape
 * ClickHouse's JSONEachRow input format accepts (ClickHouse docs "Formats: JSONEachRow").
 * Column meanings and units are documented on the table's columns.
 */
export interface DomainEventRow {
  /** Envelope `id` (UUIDv7). */
  readonly event_id: string;
  /** JetStream sequence of the message in the EVENTS stream (positive integer). */
  readonly stream_seq: number;
  /** Event type, e.g. `StreamPublishStarted`. */
  readonly type: string;
  /** Schema version of `data` (the current version: events are upcast when decoded). */
  readonly version: number;
  /** `occurredAt` as `YYYY-MM-DD hh:mm:ss.sss`, UTC (DateTime64(3, 'UTC') text). */
  readonly occurred_at: string;
  /** NATS subject of the event. */
  readonly subject: string;
  /** `data.channelId`, or `''` when the event has none. */
  readonly channel_id: string;
  /** `data.sessionId`, or `''`. */
  readonly session_id: string;
  /** `data.userId`, or `''` (actor / owner ids stay in `data`). */
  readonly user_id: string;
  /** `meta.producer`, e.g. `ingest:<nodeId>`. */
  readonly producer: string;
  /** `data` as JSON text. */
  readonly data: string;
}

const MIN_DATETIME64_MS = Date.UTC(1900, 0, 1);
const MAX_DATETIME64_MS = Date.UTC(2299, 11, 31, 23, 59, 59, 999);

/**
 * Formats an instant as DateTime64(3) text, `YYYY-MM-DD hh:mm:ss.sss` in UTC, the form the
 * JSONEachRow input format parses for a `DateTime64(3, 'UTC')` column under the default
 * `date_time_input_format = 'basic'` (ClickHouse docs "DateTime64", "date_time_input_format").
 * @param instant an ISO-8601 string (e.g. an envelope's `occurredAt`), a `Date`, or epoch ms.
 * @throws RangeError when the instant is not a valid time or lies outside DateTime64's range
 *   [1900-01-01, 2299-12-31].
 */
export function toClickHouseDateTime64(instant: string | number | Date): string {
  const ms = instant instanceof Date ? instant.getTime() : typeof instant === 'number' ? instant : Date.parse(instant);
  if (!Number.isFinite(ms) || ms < MIN_DATETIME64_MS || ms > MAX_DATETIME64_MS) {
    throw new RangeError(`not a DateTime64 instant: ${String(instant)}`);
  }
  const whole = Math.floor(ms);
  const second = Math.floor(whole / 1000);
  if (second !== cachedSecond) {
    // toISOString is always `YYYY-MM-DDThh:mm:ss.sssZ` within this range.
    cachedPrefix = new Date(second * 1000).toISOString().replace('T', ' ').slice(0, 20);
    cachedSecond = second;
  }
  // Records of one batch mostly fall in the same second: only the milliseconds are formatted.
  return cachedPrefix + String(1000 + whole - second * 1000).slice(1);
}
/** The whole second (epoch s) whose `YYYY-MM-DD hh:mm:ss.` text is {@link cachedPrefix}. */
let cachedSecond = Number.NaN;
let cachedPrefix = '';

function stringField(data: unknown, key: string): string {
  if (typeof data !== 'object' || data === null) return '';
  const v = (data as Record<string, unknown>)[key];
  return typeof v === 'string' ? v : '';
}

/**
 * Fields of event data that never reach the analytics store: credentials (argon2id password
 * hashes) and stream-key hashes. Analysts do not need them, and the analytics store is read by
 * more people than the platform database.
 */
export const SECRET_FIELDS: ReadonlySet<string> = new Set(['passwordHash', 'keyHash']);

/**
 * Maps a decoded domain event and its JetStream stream sequence to its `domain_events` row;
 * `data` leaves out {@link SECRET_FIELDS}.
 * `channel_id`, `session_id`, `user_id` are copied from `data.channelId`, `data.sessionId`,
 * `data.userId` when those are strings, else `''`.
 * @param streamSequence the message's sequence in the EVENTS stream (JetStream `seq`, ≥ 1).
 * @throws RangeError when `streamSequence` is not a positive safe integer, or `occurredAt` is
 *   not a valid time in DateTime64's range.
 */
export function domainEventRow(event: DomainEvent, streamSequence: number): DomainEventRow {
  if (!Number.isSafeInteger(streamSequence) || streamSequence < 1) {
    throw new RangeError(`stream sequence must be a positive integer, got ${streamSequence}`);
  }
  return {
    event_id: event.id,
    stream_seq: streamSequence,
    type: event.type,
    version: event.version,
    occurred_at: toClickHouseDateTime64(event.occurredAt),
    subject: event.subject,
    channel_id: stringField(event.data, 'channelId'),
    session_id: stringField(event.data, 'sessionId'),
    user_id: stringField(event.data, 'userId'),
    producer: event.meta.producer,
    data: JSON.stringify(event.data, (key, value: unknown) => (SECRET_FIELDS.has(key) ? undefined : value)),
  };
}
