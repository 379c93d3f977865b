/**
 * The analytics adapter against a real embedded ClickHouse engine (chDB) in a fresh temporary
 * directory: migrations, the domain_events table and its deduplication, the batch inserter.
 * chDB binds one data directory per process, so this file opens one client for all its tests.
 * Runs in vitest's default `forks` pool (a child process per file); under `--pool=threads` the
 * worker thread that loaded chDB exits, Node unloads the addon and the process segfaults.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import { domainEvent, streamEvent, systemClock, userSubject, type DomainEvent } from '@live/events';
import { ANALYTICS_MIGRATIONS, createAnalyticsClient, createBatchInserter, domainEventRow, migrateAnalytics, type DomainEventRow } from '../src/index.js';

let dir: string;
let client: ClickHouseClient;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'live-analytics-'));
  client = createAnalyticsClient({ chdbPath: dir });
});

afterAll(async () => {
  await client?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function rows<T>(query: string): Promise<T[]> {
  const rs = await client.query({ query, format: 'JSONEachRow' });
  return rs.json<T>();
}

function publishStarted(channelId: string, sessionId: string): DomainEvent {
  return streamEvent(systemClock, 'StreamPublishStarted', {
    channelId, sessionId, ingestNodeId: 'node-a', relayUrl: `http://127.0.0.1:8000/relay/${sessionId}.flv`, app: 'live',
    source: { video: { codec: 'h264', width: 1920, height: 1080, frameRate: 30 }, audio: { codec: 'aac', sampleRate: 48_000, channels: 2 } },
  }, { producer: 'ingest:node-a' });
}

describe('createAnalyticsClient', () => {
  it('refuses to guess a backend', () => {
    expect(() => createAnalyticsClient({})).toThrow(/chdbPath/);
    expect(() => createAnalyticsClient({ chdbPath: dir, database: 'analytics' })).toThrow(TypeError);
  });
});

describe('migrateAnalytics', () => {
  it('applies every migration once; a second run applies nothing', async () => {
    expect(await migrateAnalytics(client)).toEqual(Object.keys(ANALYTICS_MIGRATIONS).sort());
    expect(await migrateAnalytics(client)).toEqual([]);
    const recorded = await rows<{ name: string; n: string }>('SELECT name, toString(count()) AS n FROM analytics_migrations GROUP BY name ORDER BY name');
    expect(recorded).toEqual(Object.keys(ANALYTICS_MIGRATIONS).sort().map((name) => ({ name, n: '1' })));
    const engine = await rows<{ engine: string; sorting_key: string }>("SELECT engine, sorting_key FROM system.tables WHERE database = currentDatabase() AND name = 'domain_events'");
    expect(engine).toEqual([{ engine: 'ReplacingMergeTree', sorting_key: 'type, event_id' }]);
    const undocumented = await rows<{ table: string; name: string }>("SELECT table, name FROM system.columns WHERE database = currentDatabase() AND table != 'analytics_migrations' AND comment = ''");
    expect(undocumented).toEqual([]);
    // Every analytics table is idempotent by record id and sorted so that one channel is one key range.
    const tables = await rows<{ name: string; engine: string; sorting_key: string }>(
      "SELECT name, engine, sorting_key FROM system.tables WHERE database = currentDatabase() AND name != 'analytics_migrations' ORDER BY name");
    expect(tables).toEqual([
      { name: 'chat_message_deletions', engine: 'ReplacingMergeTree', sorting_key: 'channel_id, message_id' },
      { name: 'chat_messages', engine: 'ReplacingMergeTree', sorting_key: 'channel_id, session_id, occurred_at, message_id' },
      { name: 'domain_events', engine: 'ReplacingMergeTree', sorting_key: 'type, event_id' },
      { name: 'ingest_health', engine: 'ReplacingMergeTree', sorting_key: 'channel_id, session_id, occurred_at, event_id' },
      { name: 'playback_beacons', engine: 'ReplacingMergeTree', sorting_key: 'channel_id, session_id, playback_session_id, beacon_seq' },
    ]);
  });
});

describe('domain_events', () => {
  it('stores real events with the right columns, and an event inserted twice counts once', async () => {
    const started = publishStarted('chan-a', 'sess-a');
    const followed = domainEvent(systemClock, 'ChannelFollowed', userSubject('user-a'), { userId: 'user-a', channelId: 'chan-a' }, { producer: 'api' });
    const input = [domainEventRow(started, 1), domainEventRow(followed, 2)];
    await client.insert({ table: 'domain_events', values: input, format: 'JSONEachRow' });
    // Redelivery: the same event arrives again (separate insert, so a separate part).
    await client.insert({ table: 'domain_events', values: [domainEventRow(started, 1)], format: 'JSONEachRow' });

    const back = await rows<DomainEventRow & { occurred_ms: string }>(
      `SELECT event_id, stream_seq, type, version, occurred_at, toString(toUnixTimestamp64Milli(occurred_at)) AS occurred_ms,
              subject, channel_id, session_id, user_id, producer, data
       FROM domain_events FINAL WHERE event_id IN ('${started.id}', '${followed.id}') ORDER BY stream_seq`);
    expect(back).toEqual([
      { ...input[0], stream_seq: '1', occurred_ms: String(Date.parse(started.occurredAt)) },
      { ...input[1], stream_seq: '2', occurred_ms: String(Date.parse(followed.occurredAt)) },
    ]);
    expect(back[0]).toMatchObject({ channel_id: 'chan-a', session_id: 'sess-a', user_id: '', type: 'StreamPublishStarted', version: 1, producer: 'ingest:node-a' });
    expect(back[1]).toMatchObject({ channel_id: 'chan-a', session_id: '', user_id: 'user-a', type: 'ChannelFollowed' });
    expect(JSON.parse(back[0]!.data)).toEqual(started.data);

    const [raw] = await rows<{ n: string }>(`SELECT toString(count()) AS n FROM domain_events WHERE event_id = '${started.id}'`);
    const [deduped] = await rows<{ n: string }>(`SELECT toString(count()) AS n FROM domain_events FINAL WHERE event_id = '${started.id}'`);
    expect(raw?.n).toBe('2'); // both parts are stored until a merge...
    expect(deduped?.n).toBe('1'); // ...and FINAL collapses them by (type, event_id).
  });
});

describe('createBatchInserter', () => {
  async function countOf(sessionId: string): Promise<number> {
    const [r] = await rows<{ n: string }>(`SELECT toString(count()) AS n FROM domain_events FINAL WHERE session_id = '${sessionId}'`);
    return Number(r?.n);
  }

  it('inserts as soon as maxRows rows are buffered, without waiting for maxDelayMs', async () => {
    const maxDelayMs = 600_000;
    const inserter = createBatchInserter<DomainEventRow>({ client, table: 'domain_events', maxRows: 3, maxDelayMs });
    const t0 = Date.now();
    const added = [1, 2, 3].map((i) => inserter.add(domainEventRow(publishStarted('chan-b', 'sess-full'), 100 + i)));
    expect(inserter.pending()).toBe(3);
    await Promise.all(added);
    expect(Date.now() - t0).toBeLessThan(maxDelayMs / 10); // long before the timer would have fired
    expect(inserter.pending()).toBe(0);
    expect(await countOf('sess-full')).toBe(3);
    await inserter.close();
  }, 120_000);

  it('inserts a partial batch maxDelayMs after its first row', async () => {
    const maxDelayMs = 300;
    const inserter = createBatchInserter<DomainEventRow>({ client, table: 'domain_events', maxRows: 1000, maxDelayMs });
    const t0 = Date.now();
    const a = inserter.add(domainEventRow(publishStarted('chan-c', 'sess-partial'), 201));
    const b = inserter.add(domainEventRow(publishStarted('chan-c', 'sess-partial'), 202));
    expect(inserter.pending()).toBe(2); // still buffered before maxDelayMs
    const early = await countOf('sess-partial');
    // (the query itself may take longer than maxDelayMs on a loaded machine: then the batch may be in)
    if (Date.now() - t0 < maxDelayMs - 10) expect(early).toBe(0);
    await Promise.all([a, b]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(maxDelayMs - 10);
    expect(await countOf('sess-partial')).toBe(2);
    await inserter.close();
  }, 60_000);

  it('flush() inserts at once; close() refuses further rows', async () => {
    const inserter = createBatchInserter<DomainEventRow>({ client, table: 'domain_events', maxRows: 1000, maxDelayMs: 60_000 });
    const a = inserter.add(domainEventRow(publishStarted('chan-d', 'sess-flush'), 301));
    await inserter.flush();
    await a;
    expect(await countOf('sess-flush')).toBe(1);
    await inserter.close();
    await expect(inserter.add(domainEventRow(publishStarted('chan-d', 'sess-flush'), 302))).rejects.toThrow(/closed/);
  });

  it('a failed insert rejects the promises of its rows and reports them to onError', async () => {
    const failures: { error: unknown; rows: number }[] = [];
    const inserter = createBatchInserter<{ id: number }>({
      client, table: 'no_such_table', maxRows: 2, maxDelayMs: 60_000, onError: (error, rows) => failures.push({ error, rows }),
    });
    const settled = await Promise.allSettled([inserter.add({ id: 1 }), inserter.add({ id: 2 })]);
    expect(settled.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    for (const r of settled) expect(String((r as PromiseRejectedResult).reason)).toMatch(/no_such_table/);
    expect(failures).toHaveLength(1);
    expect(failures[0]?.rows).toBe(2);
    expect(inserter.pending()).toBe(0);
    // A partial batch flushed by close() fails the same way: close rejects and so does the row.
    const [c, closed] = await Promise.allSettled([inserter.add({ id: 3 }), inserter.close()]);
    expect(c.status).toBe('rejected');
    expect(closed.status).toBe('rejected');
    expect(String((c as PromiseRejectedResult).reason)).toMatch(/no_such_table/);
  });
});
