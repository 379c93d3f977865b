/**
 * infra/db against a real PostgreSQL: migrations, stream keys stored hashed and checked by
 * hash, and the session read model — idempotent under redelivery, and a replay of the same
 * events into an empty table yields the same rows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { randomBytes } from 'node:crypto';
import { channelSubject, domainEvent, streamEvent, type DomainEvent, type EventClock } from '@live/events';
import { checkStreamKey, createDb, ensureChannelWithKey, generateStreamKey, hashStreamKey, listSessions, migrateToLatest, projectEvent, type Db } from '@live/db';
import { startServices, type RunningServices } from '../src/services/index.js';

let t = 1_790_000_000_000;
const clock: EventClock = { now: () => (t += 10), randomBytes: (n) => randomBytes(n) };
let services: RunningServices;
let db: Db;

beforeAll(async () => {
  services = await startServices({ logger: pino({ level: 'silent' }), name: 'db-int', external: { natsUrl: 'nats://127.0.0.1:1', temporalAddress: '127.0.0.1:1', temporalUiUrl: null } });
  db = createDb(services.endpoints.databaseUrl, 4);
}, 90_000);
afterAll(async () => {
  await db?.destroy();
  await services?.stop();
});

describe('db', () => {
  it('migrates once; a second run applies nothing', async () => {
    expect(await migrateToLatest(db)).toEqual(['0001_channels_keys_sessions', '0002_accounts_channels_follows', '0003_search_index_pending_lists', '0004_chat', '0005_playback_policy', '0006_playback_policy_version', '0007_webhooks', '0008_session_metadata', '0009_restream_destinations', '0010_recording_retention', '0011_channel_description']);
    expect(await migrateToLatest(db)).toEqual([]);
  });

  it('stores only the hash of a stream key and checks keys by hash', async () => {
    const key = generateStreamKey();
    expect(key).toMatch(/^live_[A-Za-z0-9_-]{32}$/);
    const channelId = await ensureChannelWithKey(db, { slug: 'alice', displayName: 'Alice', title: 'hi' }, key);
    expect(await ensureChannelWithKey(db, { slug: 'alice', displayName: 'Alice', title: 'hi' }, key)).toBe(channelId);
    const rows = await db.selectFrom('stream_keys').selectAll().where('channel_id', '=', channelId).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.key_hash).toBe(hashStreamKey(key));
    expect(JSON.stringify(rows)).not.toContain(key);

    expect(await checkStreamKey(db, key)).toMatchObject({ ok: true, channelId });
    expect(await checkStreamKey(db, key + 'x')).toMatchObject({ ok: false, code: 'UNKNOWN_STREAM_KEY' });
    expect(await checkStreamKey(db, '')).toMatchObject({ ok: false, code: 'UNKNOWN_STREAM_KEY' });
    expect(await checkStreamKey(db, "' or 1=1 --")).toMatchObject({ ok: false, code: 'UNKNOWN_STREAM_KEY' });
    await db.updateTable('stream_keys').set({ expires_at: new Date(Date.now() - 1000) }).where('channel_id', '=', channelId).execute();
    expect(await checkStreamKey(db, key)).toMatchObject({ ok: false, code: 'STREAM_KEY_EXPIRED' });
    await db.updateTable('stream_keys').set({ expires_at: null, status: 'disabled' }).where('channel_id', '=', channelId).execute();
    expect(await checkStreamKey(db, key)).toMatchObject({ ok: false, code: 'STREAM_KEY_DISABLED' });
  });

  it('projects sessions idempotently; replaying the log into an empty table gives the same rows', async () => {
    const base = { channelId: 'alice', sessionId: 'sess-1' };
    const log: DomainEvent[] = [
      streamEvent(clock, 'StreamPublishStarted', { ...base, ingestNodeId: 'n', relayUrl: 'u', app: 'live', source: {} }, { producer: 't' }),
      streamEvent(clock, 'TranscodeStarted', { ...base, attempt: 1, renditions: ['720p'], worker: 'w' }, { producer: 't' }),
      streamEvent(clock, 'RenditionsReady', { ...base, masterPlaylistKey: 'sessions/sess-1/master.m3u8', renditions: [{ name: '720p', width: 1280, height: 720, bandwidth: 3_300_000, codecs: 'avc1.4d401f,mp4a.40.2', passthrough: false }] }, { producer: 't' }),
      streamEvent(clock, 'StreamPublishEnded', { ...base, reason: 'unpublished', bytesReceived: 1, durationMs: 30_000 }, { producer: 't' }),
      streamEvent(clock, 'VodReady', { ...base, durationSeconds: 30, masterPlaylistKey: 'sessions/sess-1/vod.m3u8', mp4Key: 'sessions/sess-1/vod.mp4', renditions: ['720p'] }, { producer: 't' }),
    ] as DomainEvent[];
    // Live: each event once, then the whole log redelivered.
    for (const [i, e] of log.entries()) {
      await projectEvent(db, e, i + 1);
      if (i === 2) expect((await listSessions(db, { limit: 10 }))[0]?.status).toBe('live');
    }
    const live = await db.selectFrom('stream_sessions').selectAll().execute();
    for (const [i, e] of log.entries()) await projectEvent(db, e, i + 1);
    expect(await db.selectFrom('stream_sessions').selectAll().execute()).toEqual(live);
    expect(live[0]).toMatchObject({ status: 'vod', vod_mp4_key: 'sessions/sess-1/vod.mp4', duration_seconds: 30 });

    // Replay from scratch.
    await db.deleteFrom('stream_sessions').execute();
    await db.deleteFrom('projection_offsets').execute();
    for (const [i, e] of log.entries()) await projectEvent(db, e, i + 1);
    expect(await db.selectFrom('stream_sessions').selectAll().execute()).toEqual(live);
    const [listing] = await listSessions(db, { limit: 10 });
    expect(listing).toMatchObject({ sessionId: 'sess-1', channelName: 'Alice', status: 'vod' });
  });

  it('records the channel\'s metadata on a session when it starts, follows changes while it is live, and keeps it once ended', async () => {
    const channelId = await ensureChannelWithKey(db, { slug: 'meta', displayName: 'Meta', title: '' });
    const meta = (title: string, tags: string[]) => domainEvent(clock, 'ChannelMetadataUpdated', channelSubject(channelId), {
      channelId, title, category: `cat-${title}`, tags, language: 'en', mature: false,
    }, { producer: 't' });
    const session = (sessionId: string) => ({ channelId, sessionId, streamKeyId: 'k' });
    const started = (sessionId: string) => streamEvent(clock, 'StreamPublishStarted', { ...session(sessionId), ingestNodeId: 'n', relayUrl: 'u', app: 'live', source: {} }, { producer: 't' });
    const ended = (sessionId: string) => streamEvent(clock, 'StreamPublishEnded', { ...session(sessionId), reason: 'unpublished', bytesReceived: 1, durationMs: 1000 }, { producer: 't' });
    const log = [
      meta('first', ['a']), started('m-1'), meta('renamed live', ['b']), ended('m-1'),
      meta('after the end', ['c']), started('m-2'), ended('m-2'), meta('later still', ['d']),
    ] as DomainEvent[];
    const base = Number((await db.selectFrom('projection_offsets').select('last_seq').executeTakeFirst())?.last_seq ?? 0);
    for (const [i, e] of log.entries()) await projectEvent(db, e, base + i + 1);
    const rows = await db.selectFrom('stream_sessions').select(['session_id', 'title', 'category', 'tags']).where('channel_id', '=', channelId).orderBy('session_id').execute();
    expect(rows).toEqual([
      { session_id: 'm-1', title: 'renamed live', category: 'cat-renamed live', tags: ['b'] },
      { session_id: 'm-2', title: 'after the end', category: 'cat-after the end', tags: ['c'] },
    ]);
    // The listing shows each recording's own title, not the channel's current one.
    const listed = await listSessions(db, { limit: 10, channelId });
    expect(listed.map((l) => [l.sessionId, l.title]).sort()).toEqual([['m-1', 'renamed live'], ['m-2', 'after the end']]);
  });
});
