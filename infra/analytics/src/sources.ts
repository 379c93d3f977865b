/**
 * Where each analytics table's rows come from: the JetStream streams and the pure mapping of one
 * stored message to its rows. One definition for the live projection and the replay.
 */
import { CHAT_STREAM, decodeChatRecord, decodeEvent, EVENTS_STREAM, EVENTS_SUBJECT_PREFIX, TELEMETRY_STREAM } from '@live/events';
import { domainEventRow } from './rows.js';
import { chatMessageDeletionRow, chatMessageRow, ingestHealthRow, playbackBeaconRow } from './telemetry-rows.js';

/** The analytics tables fed from the streams. */
export type AnalyticsTable = 'domain_events' | 'ingest_health' | 'playback_beacons' | 'chat_messages' | 'chat_message_deletions';

/** One row for one analytics table. */
export interface AnalyticsRow {
  readonly table: AnalyticsTable;
  readonly row: object;
}

/**
 * A JetStream stream the analytics tables are projected from, with the pure mapping of one
 * stored message to its rows (the same `@live/analytics` mappers the live projector uses).
 */
export interface AnalyticsSource {
  /** Short name, used in consumer names and metric labels. */
  readonly name: 'events' | 'telemetry' | 'chat';
  /** Stream name, e.g. `EVENTS`. */
  readonly stream: string;
  /** Subject filter covering the whole stream, e.g. `evt.>`. */
  readonly filter: string;
  /** Tables this source feeds. */
  readonly tables: readonly AnalyticsTable[];
  /**
   * True when the stream has bounded retention (TELEMETRY 7 days, CHAT 24 h): its tables are
   * seeded with a copy of the live rows so that history older than the stream is kept.
   */
  readonly bounded: boolean;
  /**
   * The rows of one stored message, all or nothing.
   * @param seq the message's stream sequence; `body` its parsed JSON (untrusted).
   * @throws when the message cannot be decoded or mapped: it is counted as skipped and gives
   *   no row (the live projector terminates it).
   */
  rowsOf(seq: number, body: unknown): AnalyticsRow[];
}

/**
 * The sources of the analytics tables, for the live analytics projector (apps/projector) and the
 * operator's replay (apps/cli) alike, all or nothing per message:
 * EVENTS → `domain_events` (every event) plus `ingest_health` (StreamIngestHealthReported);
 * TELEMETRY → `playback_beacons`; CHAT → `chat_messages` (ChatMessageAccepted) or
 * `chat_message_deletions` (ChatMessageDeleted tombstones). A message that cannot be decoded or
 * mapped produces no row at all (the live projector terminates it).
 */
export const ANALYTICS_SOURCES: readonly AnalyticsSource[] = [
  {
    name: 'events', stream: EVENTS_STREAM, filter: `${EVENTS_SUBJECT_PREFIX}.>`, tables: ['domain_events', 'ingest_health'], bounded: false,
    rowsOf(seq, body) {
      const event = decodeEvent(body);
      const rows: AnalyticsRow[] = [{ table: 'domain_events', row: domainEventRow(event, seq) }];
      if (event.type === 'StreamIngestHealthReported') rows.push({ table: 'ingest_health', row: ingestHealthRow(event) });
      return rows;
    },
  },
  {
    name: 'telemetry', stream: TELEMETRY_STREAM, filter: 'tel.*', tables: ['playback_beacons'], bounded: true,
    rowsOf: (_seq, body) => [{ table: 'playback_beacons', row: playbackBeaconRow(body) }],
  },
  {
    name: 'chat', stream: CHAT_STREAM, filter: 'chat.*', tables: ['chat_messages', 'chat_message_deletions'], bounded: true,
    rowsOf(seq, body) {
      const record = decodeChatRecord(seq, body);
      if (!record) throw new Error('not a ChatMessageAccepted or ChatMessageDeleted event');
      return record.event.type === 'ChatMessageAccepted'
        ? [{ table: 'chat_messages', row: chatMessageRow(record.event, record.seq) }]
        : [{ table: 'chat_message_deletions', row: chatMessageDeletionRow(record.event) }];
    },
  },
];

