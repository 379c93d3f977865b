import type { ClickHouseClient } from '@clickhouse/client';
import { toClickHouseDateTime64 } from './rows.js';

/**
 * Versioned ClickHouse schema migrations, in code, like the Postgres ones of `@live/db`:
 * migration name → DDL statements run in order. Names sort in apply order; a migration that has
 * run anywhere is never edited — add a new one. ClickHouse has no transactional DDL, so every
 * statement is written to be re-runnable (`IF NOT EXISTS`): a migration interrupted half-way is
 * simply run again from its first statement.
 *
 * `0001_domain_events`: `domain_events`, one row per event of the JetStream EVENTS log, so that
 * the whole history can be queried in SQL. Idempotent by event id: ReplacingMergeTree collapses
 * rows with the same sorting key `(type, event_id)` at merge time (ClickHouse docs
 * "ReplacingMergeTree"), so a redelivered or replayed event is stored once; exact counts read
 * with `FINAL` (or `uniqExact(event_id)`), since merges run in the background.
 *
 * `0002_viewer_analytics`: the viewer-analytics tables, all ReplacingMergeTree with a sorting
 * key that starts with `channel_id` (then the broadcast `session_id`) so that one stream's
 * query reads a small primary-key range, and that ends with the record's id so that a
 * redelivered or replayed record collapses into one row (every other key column is a fixed
 * property of that id). Partitioned by month of the record's own time (never of a receive
 * time), so both copies of a record always land in the same partition.
 * - `playback_beacons`: one row per player beacon (TELEMETRY), keyed by
 *   (playback_session_id, beacon_seq);
 * - `chat_messages`: one row per accepted chat message (CHAT), without its text;
 * - `chat_message_deletions`: chat tombstones (a separate table, so that a deletion never
 *   rewrites the message's row; counts exclude deleted ids);
 * - `ingest_health`: one row per `StreamIngestHealthReported` (EVENTS).
 * The aggregates (concurrent viewers, watch time, TTFF percentiles, rebuffering ratio, ...)
 * are query-time aggregates over these tables (see queries.ts), not materialized views: a
 * materialized view over a ReplacingMergeTree would count a replayed record twice.
 */
export const ANALYTICS_MIGRATIONS: Readonly<Record<string, readonly string[]>> = {
  '0001_domain_events': [
    `CREATE TABLE IF NOT EXISTS domain_events
(
    event_id    String                  COMMENT 'Envelope id: UUIDv7, also the JetStream Nats-Msg-Id',
    stream_seq  UInt64                  COMMENT 'Sequence of the message in the JetStream EVENTS stream (1-based count)',
    type        LowCardinality(String)  COMMENT 'Past-tense event type, e.g. StreamPublishStarted',
    version     UInt16                  COMMENT 'Schema version of data for this type (current version: events are upcast on read)',
    occurred_at DateTime64(3, 'UTC')    COMMENT 'When the fact happened: UTC, millisecond precision',
    subject     String                  COMMENT 'NATS subject the event is stored under, e.g. evt.stream.<channelId>',
    channel_id  String                  COMMENT 'data.channelId, empty string when the event has none',
    session_id  String                  COMMENT 'data.sessionId (broadcast session), empty string when none',
    user_id     String                  COMMENT 'data.userId, empty string when none',
    producer    LowCardinality(String)  COMMENT 'meta.producer, e.g. ingest:<nodeId>, api',
    data        String                  COMMENT 'Event data as JSON text (current schema version), without password and stream-key hashes'
)
ENGINE = ReplacingMergeTree
ORDER BY (type, event_id)
COMMENT 'Every event of the EVENTS log, one row per event id after merges (read with FINAL for exact counts)'`,
  ],
  '0002_viewer_analytics': [
    `CREATE TABLE IF NOT EXISTS playback_beacons
(
    channel_id          String                  COMMENT 'Channel watched: the <channelId> of the TELEMETRY subject tel.<channelId>',
    session_id          String                  COMMENT 'Broadcast session watched (live or VOD)',
    playback_session_id String                  COMMENT 'One page view playing one stream: a UUID made by the player',
    beacon_seq          UInt32                  COMMENT 'Per playback session beacon number from 0; (playback_session_id, beacon_seq) is the beacon id (Nats-Msg-Id <playbackSessionId>:<seq>)',
    type                LowCardinality(String)  COMMENT 'session_start | first_frame | rebuffer_start | rebuffer_end | rendition_switch | error | heartbeat | session_end',
    client_at           DateTime64(3, 'UTC')    COMMENT 'When the player recorded the beacon: client clock, UTC, ms precision (API refuses > 60 s ahead, > 24 h old)',
    received_at         DateTime64(3, 'UTC')    COMMENT 'When the API accepted the beacon: server clock, UTC, ms precision',
    viewer_id           String                  COMMENT 'Random id the browser keeps (not a user id); unique viewers = uniqExact(viewer_id)',
    user_id             String                  COMMENT 'Signed-in user id, empty string when anonymous',
    live                Nullable(Bool)          COMMENT 'session_start: true for a live stream, false for VOD; NULL on other types',
    autoplay            Nullable(Bool)          COMMENT 'session_start: playback started without a click; NULL on other types',
    position_s          Nullable(Float64)       COMMENT 'heartbeat, rebuffer_start, rebuffer_end: media position, seconds; NULL on other types',
    rendition           LowCardinality(String)  COMMENT 'first_frame, heartbeat: rendition playing, e.g. 720p; empty string on other types',
    bandwidth_kbps      Nullable(Float64)       COMMENT 'heartbeat: player bandwidth estimate, kbit/s; NULL on other types',
    live_latency_ms     Nullable(UInt32)        COMMENT 'heartbeat: distance to the live edge, ms; NULL for VOD and on other types',
    dropped_frames      Nullable(UInt32)        COMMENT 'heartbeat: running total of dropped video frames of the page (frames); NULL on other types',
    ttff_ms             Nullable(UInt32)        COMMENT 'first_frame: time to first frame, from session_start to the first rendered frame, ms; NULL on other types',
    rebuffer_ms         UInt32                  COMMENT 'rebuffer_end: stall duration, ms; 0 on other types (stalled time = sum)',
    playing_ms          UInt32                  COMMENT 'heartbeat: ms spent playing (not paused, not stalled) since the previous heartbeat; session_end: since the last heartbeat; 0 on other types (watch time = sum)',
    from_rendition      LowCardinality(String)  COMMENT 'rendition_switch: previous rendition, empty string for the initial choice; empty on other types',
    to_rendition        LowCardinality(String)  COMMENT 'rendition_switch: new rendition; empty on other types',
    reason              LowCardinality(String)  COMMENT 'rendition_switch: initial | abr | manual; empty on other types',
    fatal               Bool                    COMMENT 'error: the error stopped playback; false on other types',
    error_code          String                  COMMENT 'error: player error code (hls.js details); empty on other types',
    INDEX client_at_minmax client_at TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(client_at)
ORDER BY (channel_id, session_id, playback_session_id, beacon_seq)
COMMENT 'One row per player QoE beacon of the TELEMETRY stream; a beacon id is stored once after merges (read with FINAL)'`,
    `CREATE TABLE IF NOT EXISTS chat_messages
(
    message_id  String                  COMMENT 'Message id: the ChatMessageAccepted envelope id (UUIDv7), also its CHAT Nats-Msg-Id',
    chat_seq    UInt64                  COMMENT 'Sequence of the message in the JetStream CHAT stream',
    channel_id  String                  COMMENT 'Channel (room) the message was sent in',
    session_id  String                  COMMENT 'Live session when the message was sent; empty string when the channel was offline',
    user_id     String                  COMMENT 'Author user id',
    kind        LowCardinality(String)  COMMENT 'message | emote',
    occurred_at DateTime64(3, 'UTC')    COMMENT 'When the gateway accepted the message: UTC, ms precision',
    text_length UInt16                  COMMENT 'Length of the text in Unicode code points (the text itself is not stored)'
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (channel_id, session_id, occurred_at, message_id)
COMMENT 'One row per accepted chat message of the CHAT stream (deleted ones too: see chat_message_deletions); read with FINAL'`,
    `CREATE TABLE IF NOT EXISTS chat_message_deletions
(
    event_id       String                COMMENT 'ChatMessageDeleted envelope id (the tombstone on CHAT, the audit record on EVENTS)',
    message_id     String                COMMENT 'Id of the deleted message: chat_messages.message_id',
    channel_id     String                COMMENT 'Channel (room) of the message',
    deleted_at     DateTime64(3, 'UTC')  COMMENT 'When a moderator deleted it: UTC, ms precision',
    author_user_id String                COMMENT 'Author of the deleted message',
    actor_user_id  String                COMMENT 'Moderator who deleted it'
)
ENGINE = ReplacingMergeTree
ORDER BY (channel_id, message_id)
COMMENT 'Chat tombstones: messages counted as deleted (chat counts exclude message_id IN this table)'`,
    `CREATE TABLE IF NOT EXISTS ingest_health
(
    event_id            String                COMMENT 'StreamIngestHealthReported envelope id (UUIDv7)',
    channel_id          String                COMMENT 'Channel being published',
    session_id          String                COMMENT 'Broadcast (publish) session',
    occurred_at         DateTime64(3, 'UTC')  COMMENT 'End of the measured interval: UTC, ms precision',
    interval_ms         UInt32                COMMENT 'Length of the measured interval, ms (about 5000)',
    bitrate_kbps        Float64               COMMENT 'RTMP payload received (audio + video) over the interval, kbit/s',
    video_bitrate_kbps  Float64               COMMENT 'Video payload received, kbit/s',
    audio_bitrate_kbps  Float64               COMMENT 'Audio payload received, kbit/s',
    frame_rate          Float64               COMMENT 'Video frames received per second',
    keyframe_interval_s Nullable(Float64)     COMMENT 'Seconds between the last two keyframes; NULL before two were seen',
    av_drift_ms         Float64               COMMENT 'Last audio timestamp minus last video timestamp, ms (positive: audio ahead)'
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (channel_id, session_id, occurred_at, event_id)
COMMENT 'One row per StreamIngestHealthReported event (every 5 s per live session); read with FINAL'`,
  ],
};

/** Table that records which migrations have run; one row per applied migration. */
const MIGRATIONS_TABLE = 'analytics_migrations';

/**
 * Applies every migration of {@link ANALYTICS_MIGRATIONS} not yet recorded in
 * `analytics_migrations (name String, applied_at DateTime64(3, 'UTC'))`, in name order, and
 * records each one after its last statement succeeded. A second call applies nothing.
 *
 * Not safe to run from two processes at once (ClickHouse has no advisory locks): run it from
 * the one process that owns the schema (with chDB, the one process that owns the directory);
 * the `IF NOT EXISTS` DDL makes an accidental concurrent run harmless but may record a name
 * twice, which is also harmless (names are compared as a set).
 * @returns names of the migrations applied by this call, in apply order.
 * @throws the ClickHouse error of the failing statement (`ClickHouseError` from
 *   `@clickhouse/client`); migrations before it stay recorded.
 */
export async function migrateAnalytics(client: ClickHouseClient): Promise<string[]> {
  await client.command({
    query: `CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (name String, applied_at DateTime64(3, 'UTC')) ENGINE = MergeTree ORDER BY name`,
  });
  const rs = await client.query({ query: `SELECT name FROM ${MIGRATIONS_TABLE}`, format: 'JSONEachRow' });
  const done = new Set((await rs.json<{ name: string }>()).map((r) => r.name));
  const applied: string[] = [];
  for (const name of Object.keys(ANALYTICS_MIGRATIONS).sort()) {
    if (done.has(name)) continue;
    for (const statement of ANALYTICS_MIGRATIONS[name] ?? []) await client.command({ query: statement });
    await client.insert({
      table: MIGRATIONS_TABLE,
      values: [{ name, applied_at: toClickHouseDateTime64(Date.now()) }],
      format: 'JSONEachRow',
    });
    applied.push(name);
  }
  return applied;
}
