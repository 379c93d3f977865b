/**
 * `events <streamId>`: a stream's (channel's) event history from `evt.stream.<id>` (broadcast
 * lifecycle) and `evt.channel.<id>` (the channel aggregate: keys, metadata, moderation), merged
 * in log order, as one human-readable line or one JSON line per event.
 */
import type { Logger } from 'pino';
import { channelSubject, decodeEvent, EVENTS_STREAM, EVENTS_SUBJECT_PREFIX, streamSubject, subjectToken, type DomainEvent } from '@live/events';
import { followSubject, type Messaging } from '@live/messaging';
import { openLogReader, resolveStartSequence, streamBounds, type LogPosition } from './log.js';

/** Data fields never printed: credential and stream-key hashes (as in analytics `SECRET_FIELDS`). */
export const REDACTED_FIELDS: ReadonlySet<string> = new Set(['passwordHash', 'keyHash']);

/** One stored message of a stream's history: a decoded event, or why it could not be decoded. */
export type HistoryEntry =
  | { readonly seq: number; readonly storedAt: Date; readonly subject: string; readonly event: DomainEvent }
  | { readonly seq: number; readonly storedAt: Date; readonly subject: string; readonly error: string };

function redact(data: unknown): unknown {
  return JSON.parse(JSON.stringify(data, (k, v: unknown) => (REDACTED_FIELDS.has(k) ? '[redacted]' : v)));
}

function shortValue(v: unknown): string {
  if (typeof v === 'string') return v === '' ? '""' : /[\s"=]/.test(v) ? JSON.stringify(v) : v;
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (Array.isArray(v) && v.every((x) => typeof x === 'string' || typeof x === 'number')) return v.length === 0 ? '[]' : v.join(',');
  const json = JSON.stringify(v) ?? '';
  return json.length > 80 ? `${json.slice(0, 77)}...` : json;
}

/**
 * The human-readable line of an entry: time the event occurred (UTC ISO-8601), `#<sequence>`,
 * type, then its data fields as `key=value` (without `channelId`, which is the stream asked for,
 * and with hashes redacted), e.g.
 * `2025-06-01T12:00:00.000Z  #42  StreamPublishStarted  sessionId=0197… ingestNodeId=ingest-1 …`.
 * An undecodable message prints its storage time, sequence, subject and the decoder's error.
 */
export function formatHistoryLine(e: HistoryEntry): string {
  if ('error' in e) return `${e.storedAt.toISOString()}  #${e.seq}  (undecodable on ${e.subject}: ${e.error})`;
  const data = redact(e.event.data) as Record<string, unknown>;
  const fields = Object.entries(data).filter(([k]) => k !== 'channelId').map(([k, v]) => `${k}=${shortValue(v)}`);
  const aggregate = e.subject.split('.')[1] ?? '';
  return `${e.event.occurredAt}  #${e.seq}  ${aggregate.padEnd(7)} ${e.event.type.padEnd(24)} ${fields.join(' ')}`.trimEnd();
}

/**
 * The JSON line of an entry (no trailing newline): `{ seq, storedAt, ...envelope }` with the
 * decoded (current-version) envelope and hashes redacted, or `{ seq, storedAt, subject, error }`.
 */
export function formatHistoryJson(e: HistoryEntry): string {
  if ('error' in e) return JSON.stringify({ seq: e.seq, storedAt: e.storedAt.toISOString(), subject: e.subject, error: e.error });
  return JSON.stringify({ seq: e.seq, storedAt: e.storedAt.toISOString(), ...e.event, data: redact(e.event.data) });
}

/** Options of {@link printEvents}. */
export interface PrintEventsOptions {
  readonly messaging: Messaging;
  /** Channel id (a subject token). */
  readonly streamId: string;
  readonly from?: LogPosition | null;
  readonly json?: boolean;
  /** Keep printing events as they are appended, until `signal` aborts. */
  readonly follow?: boolean;
  readonly signal?: AbortSignal;
  /** Receives each output line (with its newline). */
  write(line: string): void;
  /** Logger of the follower (reconnects, errors); only used with `follow`. */
  readonly logger: Logger;
}

/**
 * Prints the history of one stream: every event on `evt.stream.<id>` and `evt.channel.<id>`
 * from `from` (default the beginning) in stream-sequence order, read with one ordered consumer
 * filtered on `evt.*.<id>` (one filter subject, which nats-server 2.9 supports; other aggregates
 * with the same id token are dropped client-side). With `follow`, continues with events as they
 * are appended (`followSubject`) until `signal` aborts.
 * @returns how many events were printed.
 * @throws TypeError when `streamId` is not a valid subject token; the nats.js error when the
 *   stream cannot be read.
 */
export async function printEvents(o: PrintEventsOptions): Promise<number> {
  subjectToken(o.streamId);
  const wanted = new Set([streamSubject(o.streamId), channelSubject(o.streamId)]);
  const filter = `${EVENTS_SUBJECT_PREFIX}.*.${o.streamId}`;
  const startSeq = await resolveStartSequence(o.messaging, EVENTS_STREAM, filter, o.from ?? null);
  let printed = 0;
  const emit = (seq: number, subject: string, storedAt: Date, body: () => unknown): void => {
    if (!wanted.has(subject)) return;
    let entry: HistoryEntry;
    try {
      entry = { seq, storedAt, subject, event: decodeEvent(body()) };
    } catch (err) {
      entry = { seq, storedAt, subject, error: (err as Error).message };
    }
    o.write(`${o.json ? formatHistoryJson(entry) : formatHistoryLine(entry)}\n`);
    printed++;
  };

  if (o.follow) {
    if (o.signal?.aborted) return 0;
    const follower = await followSubject(o.messaging, {
      stream: EVENTS_STREAM, filter, from: startSeq, logger: o.logger,
      onMessage: (msg) => emit(msg.seq, msg.subject, msg.time, () => msg.json()),
    });
    await new Promise<void>((resolve) => {
      if (o.signal?.aborted) return resolve();
      o.signal?.addEventListener('abort', () => resolve(), { once: true });
    });
    await follower.close();
    return printed;
  }

  const reader = await openLogReader(o.messaging, { stream: EVENTS_STREAM, filter, startSeq, batchBytes: 1024 * 1024 });
  try {
    const end = (await streamBounds(o.messaging, EVENTS_STREAM)).lastSeq;
    await reader.readUntil(end, (lm) => emit(lm.seq, lm.subject, lm.time, () => lm.msg.json()), o.signal);
  } finally {
    await reader.close();
  }
  return printed;
}
