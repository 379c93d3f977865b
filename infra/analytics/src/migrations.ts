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
