/**
 * The analysts' SQL runs: every example query of ANALYTICS.md and every query of the Grafana
 * dashboard (its grafana-clickhouse-datasource macros expanded the way the plugin expands them)
 * against a real embedded ClickHouse (chDB) with the platform's migrated schema and a few rows
 * of each kind, and the dashboard's numbers match what those rows say.
 * chDB binds one data directory per process (vitest's default `forks` pool: one per file).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streamEvent, systemClock, type StoredBeacon } from '@live/events';
import { createAnalyticsClient, ingestHealthRow, migrateAnalytics, playbackBeaconRow, type ClickHouseClient } from '@live/analytics';

const deployDir = fileURLToPath(new URL('..', import.meta.url));
let dir: string;
let client: ClickHouseClient;
const NOW = Date.now();

interface Target { rawSql: string }
interface Panel { type: string; title: string; targets?: Target[] }

/**
 * A dashboard query as the grafana-clickhouse-datasource plugin sends it: `$__timeFilter(c)` →
 * `c >= toDateTime(from) AND c <= toDateTime(to)`, `$__timeInterval(c)` →
 * `toStartOfInterval(toDateTime(c), INTERVAL <s> second)`, `$__interval_s` → seconds, and the
 * `channel` variable (`${channel:singlequote}`) → `'a','b'` (or its All value `'__all'`).
 */
function expand(sql: string, o: { fromMs: number; toMs: number; intervalS: number; channels: string[] | 'all' }): string {
  const from = `toDateTime(${Math.floor(o.fromMs / 1000)})`;
  const to = `toDateTime(${Math.ceil(o.toMs / 1000)})`;
  const channel = o.channels === 'all' ? `'__all'` : o.channels.map((c) => `'${c}'`).join(',');
  return sql
    .replace(/\$__timeFilter\((\w+)\)/g, (_m, c: string) => `${c} >= ${from} AND ${c} <= ${to}`)
    .replace(/\$__timeInterval\((\w+)\)/g, (_m, c: string) => `toStartOfInterval(toDateTime(${c}), INTERVAL ${o.intervalS} second)`)
    .replace(/\$__interval_s/g, String(o.intervalS))
    .replace(/\$\{channel:singlequote\}/g, channel);
}

async function query<T = Record<string, unknown>>(sql: string): Promise<T[]> {
  const rs = await client.query({ query: sql, format: 'JSONEachRow' });
  return rs.json<T>();
}

function beacon(b: Record<string, unknown> & { type: string; seq: number; at: number }, playbackSessionId: string, channelId = 'demo'): StoredBeacon {
  return { playbackSessionId, channelId, sessionId: `${channelId}-session`, viewerId: `viewer-${playbackSessionId}`, userId: null, receivedAt: b.at, ...b } as unknown as StoredBeacon;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'deploy-analytics-'));
  client = createAnalyticsClient({ chdbPath: dir });
  await migrateAnalytics(client);
  const t = Math.floor((NOW - 30 * 60_000) / 60_000) * 60_000; // on a minute: one viewer's beacons share a bucket
  const beacons = [
    // Viewer 1 on demo: TTFF 500 ms, one 1-s stall, 19 s played at 720p.
    ...[
      { type: 'session_start', seq: 0, at: t, live: true, autoplay: true },
      { type: 'first_frame', seq: 1, at: t + 500, ttffMs: 500, rendition: '720p' },
      { type: 'rendition_switch', seq: 2, at: t + 500, from: null, to: '720p', reason: 'initial' },
      { type: 'rebuffer_start', seq: 3, at: t + 4000, position: 3.5 },
      { type: 'rebuffer_end', seq: 4, at: t + 5000, position: 3.5, durationMs: 1000 },
      { type: 'heartbeat', seq: 5, at: t + 10_000, position: 8.5, rendition: '720p', bandwidthKbps: 5000, liveLatencyMs: 6000, droppedFrames: 0, playingMs: 8500 },
      { type: 'heartbeat', seq: 6, at: t + 20_000, position: 18.5, rendition: '720p', bandwidthKbps: 5000, liveLatencyMs: 6100, droppedFrames: 0, playingMs: 10_000 },
      { type: 'session_end', seq: 7, at: t + 20_500, playingMs: 500 },
    ].map((b) => beacon(b, '00000000-0000-4000-8000-000000000001')),
    // Viewer 2 on demo: TTFF 1500 ms, 10 s at 480p, a fatal error.
    ...[
      { type: 'session_start', seq: 0, at: t, live: true, autoplay: true },
      { type: 'first_frame', seq: 1, at: t + 1500, ttffMs: 1500, rendition: '480p' },
      { type: 'heartbeat', seq: 2, at: t + 10_000, position: 8.5, rendition: '480p', bandwidthKbps: 1200, liveLatencyMs: 7000, droppedFrames: 3, playingMs: 10_000 },
      { type: 'error', seq: 3, at: t + 12_000, fatal: true, code: 'networkError/fragLoadError' },
    ].map((b) => beacon(b, '00000000-0000-4000-8000-000000000002')),
    // A viewer of another channel.
    ...[
      { type: 'session_start', seq: 0, at: t, live: false, autoplay: false },
      { type: 'heartbeat', seq: 1, at: t + 10_000, position: 10, rendition: '240p', bandwidthKbps: 400, liveLatencyMs: null, droppedFrames: 0, playingMs: 4000 },
    ].map((b) => beacon(b, '00000000-0000-4000-8000-000000000003', 'other')),
  ];
  await client.insert({ table: 'playback_beacons', values: beacons.map((b) => playbackBeaconRow(b)), format: 'JSONEachRow' });
  const clock = { now: () => t + 5000, randomBytes: systemClock.randomBytes };
  const health = streamEvent(clock, 'StreamIngestHealthReported', {
    channelId: 'demo', sessionId: 'demo-session', intervalMs: 5000, bitrateKbps: 2628, videoBitrateKbps: 2500, audioBitrateKbps: 128, frameRate: 30, keyframeIntervalSeconds: 2, avDriftMs: 21,
  }, { producer: 'ingest:test' });
  await client.insert({ table: 'ingest_health', values: [ingestHealthRow(health)], format: 'JSONEachRow' });
  await client.insert({
    table: 'chat_messages', format: 'JSONEachRow',
    values: [1, 2, 3].map((i) => ({ message_id: `m${i}`, chat_seq: i, channel_id: 'demo', session_id: 'demo-session', user_id: 'u1', kind: 'message', occurred_at: new Date(t + i * 1000).toISOString().replace('T', ' ').replace('Z', ''), text_length: 5 })),
  });
  await client.insert({ table: 'chat_message_deletions', format: 'JSONEachRow', values: [{ event_id: 'd1', message_id: 'm2', channel_id: 'demo', deleted_at: new Date(t + 9000).toISOString().replace('T', ' ').replace('Z', ''), author_user_id: 'u1', actor_user_id: 'mod' }] });
}, 60_000);

afterAll(async () => {
  await client?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('ANALYTICS.md', () => {
  it('every example query runs on the schema', async () => {
    const doc = await readFile(join(deployDir, 'ANALYTICS.md'), 'utf8');
    const blocks = [...doc.matchAll(/```sql\n([^]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThanOrEqual(8);
    for (const sql of blocks) {
      await expect(query(sql), sql).resolves.toBeInstanceOf(Array);
    }
    const [perChannel] = await query<{ channel_id: string; unique_viewers: string; watch_hours: number }>(blocks[1]!);
    expect(perChannel).toMatchObject({ channel_id: 'demo', unique_viewers: '2' });
    expect(perChannel!.watch_hours * 3600).toBeCloseTo(29, 6);
  });
});

describe('grafana/analytics-dashboard.json', () => {
  let panels: Panel[];
  beforeAll(async () => {
    const dash = JSON.parse(await readFile(join(deployDir, 'grafana/analytics-dashboard.json'), 'utf8')) as { panels: Panel[]; templating: { list: Array<{ name: string; query: unknown }> } };
    panels = dash.panels.filter((p) => p.type !== 'row');
    panels.push({ type: 'variable', title: 'channel variable', targets: [{ rawSql: String(dash.templating.list.find((v) => v.name === 'channel')!.query) }] });
  });
  const range = { fromMs: NOW - 3600_000, toMs: NOW, intervalS: 60 };
  const run = async (title: string, channels: string[] | 'all') => {
    const p = panels.find((x) => x.title === title)!;
    return query(expand(p.targets![0]!.rawSql, { ...range, channels }));
  };

  it('every panel query runs, for All channels and for one', async () => {
    for (const p of panels) {
      for (const channels of ['all', ['demo']] as const) {
        for (const t of p.targets!) {
          const sql = expand(t.rawSql, { ...range, channels: channels === 'all' ? 'all' : [...channels] });
          expect(sql, p.title).not.toMatch(/\$__|\$\{/); // every macro expanded
          await expect(query(sql), `${p.title}\n${sql}`).resolves.toBeInstanceOf(Array);
        }
      }
    }
  });

  it('reports what the rows say', async () => {
    expect((await run('channel variable', 'all')).map((r) => r.channel_id)).toEqual(['demo', 'other']);
    const concurrent = await run('Concurrent viewers per stream', ['demo']);
    expect(Math.max(...concurrent.map((r) => Number(r.viewers)))).toBe(2);
    expect((await run('Concurrent viewers per stream', 'all')).map((r) => r.channel_id)).toContain('other');
    const [stat] = await run('Unique viewers · watch time', ['demo']);
    expect(stat).toMatchObject({ unique_viewers: '2', playback_sessions: '2' });
    expect(Number(stat!.watch_hours) * 3600).toBeCloseTo(29, 6);
    const [ttff] = await run('Time to first frame p50 / p95', ['demo']);
    expect(ttff).toMatchObject({ p50: 1000, p95: 1450 });
    const ratio = (await run('Rebuffering ratio', ['demo'])).map((r) => Number(r.rebuffering_ratio)).filter((v) => v > 0);
    expect(ratio).toEqual([1000 / (1000 + 8500 + 10_000 + 500 + 10_000)]); // both viewers' minute
    expect(await run('Rendition distribution', ['demo'])).toEqual([{ rendition: '720p', seconds: 18.5 }, { rendition: '480p', seconds: 10 }]);
    const errors = await run('Errors per 1,000 playback sessions', ['demo']);
    expect(errors.map((r) => Number(r.errors_per_1000_sessions))).toEqual([500]); // 1 error, 2 playback sessions in that minute
    const chat = await run('Chat messages per minute', ['demo']);
    expect(chat.reduce((s, r) => s + Number(r.messages_per_minute), 0)).toBe(2); // m2 was deleted
    const bitrate = await query(expand(panels.find((p) => p.title === 'Ingest bitrate')!.targets![0]!.rawSql, { ...range, intervalS: 10, channels: ['demo'] }));
    expect(bitrate).toEqual([expect.objectContaining({ channel_id: 'demo', bitrate_kbps: 2628 })]);
  });
});
