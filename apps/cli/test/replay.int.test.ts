/**
 * `replay readmodels` and `events` against a real nats-server and PostgreSQL, with the live
 * projector building the read models: the rebuilt tables equal the live ones row for row, the
 * swap keeps every index, constraint and foreign-key name, the live projector keeps projecting
 * afterwards, a second replay changes no count, two replays cannot run at once; and the CLI
 * process's --help, exit codes and error lines.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import { sql } from 'kysely';
import {
  createReadModelSchema, listSessions, projectEvent, READ_MODEL_TABLES, readModelRows, searchChannels, waitForProjection, type Db,
} from '@live/db';
import { channelSubject, domainEvent, EVENTS_STREAM, systemClock } from '@live/events';
import { appendEvent, readEvents } from '@live/messaging';
import {
  READ_MODELS_REPLAY_LOCK, ReplayBusyError, replayReadModels, runCli, withAsyncCommit, type ReplayReport,
} from '../src/index.js';
import { withAdvisoryLock } from '../src/pg.js';
import { broadcast, channelEvents, followed, startBackends, userRegistered, type Backends } from './harness.js';

const logger = pino({ level: process.env.TEST_LOG ?? 'silent' });
const root = fileURLToPath(new URL('../../..', import.meta.url));
let b: Backends;
let db: Db;
let replayDb: Db;
const tables = Object.keys(READ_MODEL_TABLES) as Array<keyof typeof READ_MODEL_TABLES>;

/** Every read-model table's rows, by table. */
async function snapshot(schema = 'public'): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const t of tables) out[t] = await readModelRows(db, t, schema);
  return out;
}

/** Index and constraint names (with definitions) of the public read-model tables. */
async function catalogue(): Promise<{ indexes: string[]; constraints: string[] }> {
  const indexes = await sql<{ d: string }>`select indexname || ' ' || regexp_replace(indexdef, ' ON \S+ ', ' ON ') as d from pg_indexes
    where schemaname = 'public' and tablename = any(${tables}) order by 1`.execute(db);
  const constraints = await sql<{ d: string }>`select c.relname || '.' || k.conname || ' ' || pg_get_constraintdef(k.oid) as d
    from pg_constraint k join pg_class c on c.oid = k.conrelid join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relname = any(${tables}) order by 1`.execute(db);
  return { indexes: indexes.rows.map((r) => r.d), constraints: constraints.rows.map((r) => r.d) };
}

async function replaySchemas(): Promise<string[]> {
  return (await sql<{ n: string }>`select nspname as n from pg_namespace where nspname like 'replay%' order by 1`.execute(db)).rows.map((r) => r.n);
}

async function lastSeq(): Promise<number> {
  return (await b.messaging.jsm.streams.info(EVENTS_STREAM)).state.last_seq;
}

function collector(): { write(s: string): boolean; text(): string; isTTY: boolean } {
  let buf = '';
  return { write: (s: string) => { buf += s; return true; }, text: () => buf, isTTY: false };
}

beforeAll(async () => {
  b = await startBackends('cli-replay-int', logger);
  db = b.db;
  replayDb = (await import('@live/db')).createDb(withAsyncCommit(b.services.endpoints.databaseUrl), 2);
  // History: three users, two channels with metadata and keys, follows, a moderator, a
  // broadcast (its RenditionsReady notifies the followers), chat moderation.
  const users = [['u-alice', 'Alice_1'], ['u-bob', 'bob_2'], ['u-carol', 'carol_3']] as const;
  await b.append(...users.map(([id, name]) => userRegistered(id, name)));
  await b.append(...channelEvents('alice_1', 'u-alice'), ...channelEvents('carol_3', 'u-carol'));
  await b.append(followed('u-bob', 'alice_1'), followed('u-carol', 'alice_1'), followed('u-bob', 'carol_3'));
  await b.append(
    domainEvent(systemClock, 'ChannelModeratorAdded', channelSubject('alice_1'), { channelId: 'alice_1', userId: 'u-carol', actorUserId: 'u-alice' }, { producer: 'test' }),
    domainEvent(systemClock, 'ChatSettingsChanged', channelSubject('alice_1'), {
      channelId: 'alice_1', actorUserId: 'u-carol', settings: { slowModeSeconds: 5, followersOnly: true, emoteOnly: false, linksAllowed: false, duplicateFilter: true },
    }, { producer: 'test' }),
    domainEvent(systemClock, 'ChatUserBanned', channelSubject('alice_1'), { channelId: 'alice_1', userId: 'u-bob', actorUserId: 'u-carol', reason: 'spam' }, { producer: 'test' }),
  );
  await b.append(...broadcast('alice_1', 'sess-1'));
  await b.append(...broadcast('alice_1', 'sess-2').slice(0, 2)); // live now
}, 180_000);

afterAll(async () => {
  await replayDb?.destroy();
  await b?.stop();
}, 60_000);

describe('replay readmodels', { timeout: 60_000 }, () => {
  let before: Record<string, unknown[]>;
  let report: ReplayReport;

  it('rebuilds every read model from EVENTS and swaps it in: same rows, same index and constraint names, offset at the end of the log', async () => {
    before = await snapshot();
    expect(before.follows).toHaveLength(3);
    expect(before.notifications).toHaveLength(4); // two followers × two sessions that became ready
    const names = await catalogue();
    const oids = await sql<{ oid: number }>`select 'public.channels'::regclass::oid as oid`.execute(db);
    const progress = collector();
    report = await replayReadModels({ db, replayDb, messaging: b.messaging, progress });

    expect(report.swapped).toBe(true);
    expect(report.eventsRead).toBe(await lastSeq());
    expect(report.eventsApplied).toBe(report.eventsRead);
    expect(report.eventsSkipped).toBe(0);
    for (const t of report.tables) expect(t.rows, t.table).toBe(t.liveRows);
    expect(await snapshot()).toEqual(before);
    expect(await catalogue()).toEqual(names);
    // The tables really are new ones, and nothing of the replay is left behind.
    const after = await sql<{ oid: number }>`select 'public.channels'::regclass::oid as oid`.execute(db);
    expect(after.rows[0]?.oid).not.toBe(oids.rows[0]?.oid);
    expect(await replaySchemas()).toEqual([]);
    const offset = await db.selectFrom('projection_offsets').select('last_seq').where('name', '=', 'readmodels').executeTakeFirstOrThrow();
    expect(Number(offset.last_seq)).toBe(await lastSeq());
    // Progress went to the sink as plain lines (not a terminal).
    expect(progress.text()).toMatch(/^replay readmodels: \d+\/\d+ events \(100\.0%\), [\d,]+ events\/s, ETA 0:00\n$/m);
  });

  it('leaves the application\'s queries working on the swapped tables', async () => {
    const sessions = await listSessions(db, { limit: 10 });
    expect(sessions.map((s) => [s.sessionId, s.status])).toEqual([['sess-2', 'live'], ['sess-1', 'ended']]);
    const found = await searchChannels(db, { q: 'speedrun', limit: 10 });
    expect(JSON.stringify(found)).toContain('alice_1');
    // Foreign keys hold on the new tables (and point at the new tables).
    await expect(sql`insert into follows (follower_id, channel_id, created_at) values ('nobody', 'alice_1', now())`.execute(db))
      .rejects.toMatchObject({ code: '23503' });
    await expect(sql`insert into stream_keys (id, channel_id, key_hash, key_last4, status) values ('k', 'no-channel', 'h', 'abcd', 'active')`.execute(db))
      .rejects.toMatchObject({ code: '23503' });
  });

  it('keeps the live projector projecting new events after the swap', async () => {
    await b.append(followed('u-alice', 'carol_3'));
    expect(await db.selectFrom('follows').select('channel_id').where('follower_id', '=', 'u-alice').execute()).toEqual([{ channel_id: 'carol_3' }]);
    expect((await db.selectFrom('channels').select('follower_count').where('id', '=', 'carol_3').executeTakeFirstOrThrow()).follower_count).toBe(2);
  });

  it('changes no count the second time, and the rows stay equal', async () => {
    const now = await snapshot();
    const again = await replayReadModels({ db, replayDb, messaging: b.messaging });
    expect(again.tables.map((t) => [t.table, t.rows - t.liveRows])).toEqual(tables.map((t) => [t, 0]));
    expect(await snapshot()).toEqual(now);
  });

  it('does not lose the events appended while it runs (the swap catches up with the live projector)', async () => {
    const appending = (async () => {
      for (let i = 0; i < 40; i++) {
        await appendEvent(b.messaging.js, i % 2 === 0 ? followed('u-carol', 'carol_3') : domainEvent(systemClock, 'ChannelUnfollowed', `evt.user.u-carol`, { userId: 'u-carol', channelId: 'carol_3' }, { producer: 'test' }));
      }
      await appendEvent(b.messaging.js, followed('u-alice', 'alice_1'));
    })();
    await replayReadModels({ db, replayDb, messaging: b.messaging });
    await appending;
    expect(await waitForProjection(db, await lastSeq(), 15_000)).toBe(true);
    // The reference: every event of the log projected into empty tables.
    await createReadModelSchema(db, 'reference_check');
    for (const { seq, event } of await readEvents(b.messaging.js, EVENTS_STREAM, 'evt.>')) await projectEvent(db.withSchema('reference_check'), event, seq);
    expect(await snapshot()).toEqual(await snapshot('reference_check'));
    await sql`drop schema reference_check cascade`.execute(db);
  });

  it('replays from a sequence or a time over a copy of the current tables, with the same result', async () => {
    const now = await snapshot();
    const events = await readEvents(b.messaging.js, EVENTS_STREAM, 'evt.>');
    const mid = events[Math.floor(events.length / 2)]!;
    const bySeq = await replayReadModels({ db, replayDb, messaging: b.messaging, from: { kind: 'seq', seq: mid.seq } });
    expect([bySeq.fromSeq, bySeq.eventsRead]).toEqual([mid.seq, events.length - mid.seq + 1]);
    expect(await snapshot()).toEqual(now);
    const byTime = await replayReadModels({ db, replayDb, messaging: b.messaging, from: { kind: 'time', time: new Date(Date.parse(mid.event.occurredAt) - 1) } });
    expect(byTime.fromSeq).toBeLessThanOrEqual(mid.seq);
    expect(await snapshot()).toEqual(now);
    // A point beyond the read models' offset is lowered to it.
    const beyond = await replayReadModels({ db, replayDb, messaging: b.messaging, from: { kind: 'seq', seq: (await lastSeq()) + 100 } });
    expect(beyond.fromSeq).toBe((await lastSeq()) + 1);
    expect(beyond.notes.join()).toMatch(/after the read models' offset/);
  });

  it('with --dry-run builds and counts but leaves the live tables alone', async () => {
    const oid = (await sql<{ oid: number }>`select 'public.users'::regclass::oid as oid`.execute(db)).rows[0]?.oid;
    const dry = await replayReadModels({ db, replayDb, messaging: b.messaging, dryRun: true });
    expect(dry.swapped).toBe(false);
    expect(dry.tables.find((t) => t.table === 'users')).toEqual({ table: 'users', rows: 3, liveRows: 3 });
    expect((await sql<{ oid: number }>`select 'public.users'::regclass::oid as oid`.execute(db)).rows[0]?.oid).toBe(oid);
    expect(await replaySchemas()).toEqual([]);
  });

  it('refuses to run while another replay holds the advisory lock', async () => {
    await withAdvisoryLock(db, READ_MODELS_REPLAY_LOCK, async () => {
      await expect(replayReadModels({ db, replayDb, messaging: b.messaging })).rejects.toBeInstanceOf(ReplayBusyError);
    });
  });

  it('refuses tables a swap would break (a view over them), before building anything', async () => {
    await sql`create view live_channels as select id from channels where live_session_id is not null`.execute(db);
    try {
      await expect(replayReadModels({ db, replayDb, messaging: b.messaging })).rejects.toThrow('the read-model tables cannot be swapped: view live_channels reads channels');
      expect(await replaySchemas()).toEqual([]);
    } finally {
      await sql`drop view live_channels`.execute(db);
    }
  });

  it('stops cleanly when aborted: no schema left, live tables untouched', async () => {
    const oid = (await sql<{ oid: number }>`select 'public.users'::regclass::oid as oid`.execute(db)).rows[0]?.oid;
    const aborter = new AbortController();
    aborter.abort(new Error('interrupted (SIGINT)'));
    await expect(replayReadModels({ db, replayDb, messaging: b.messaging, signal: aborter.signal })).rejects.toThrow(/interrupted/);
    expect((await sql<{ oid: number }>`select 'public.users'::regclass::oid as oid`.execute(db)).rows[0]?.oid).toBe(oid);
    expect(await replaySchemas()).toEqual([]);
  });
});

describe('events', { timeout: 30_000 }, () => {
  async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
    const out = collector();
    const err = collector();
    const env = { NATS_URL: b.services.endpoints.natsUrl, LIVE_STACK_FILE: '/nonexistent' };
    const code = await runCli(args, { stdout: out, stderr: err, env });
    return { code, out: out.text(), err: err.text() };
  }

  it('prints a channel\'s history from evt.stream and evt.channel in log order, one line per event, hashes redacted', async () => {
    const all = (await readEvents(b.messaging.js, EVENTS_STREAM, 'evt.>')).filter((e) => ['evt.stream.alice_1', 'evt.channel.alice_1'].includes(e.event.subject));
    const r = await run(['events', 'alice_1']);
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines).toHaveLength(all.length);
    expect(lines.map((l) => Number(/#(\d+)/.exec(l)?.[1]))).toEqual(all.map((e) => e.seq));
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z {2}#\d+ {2}channel ChannelCreated +ownerUserId=u-alice displayName="alice_1 plays"$/);
    expect(r.out).toMatch(/stream {2}StreamPublishStarted +sessionId=sess-1 ingestNodeId=ingest-a/);
    expect(r.out).toContain('keyHash=[redacted]');
    expect(r.out).not.toMatch(/abab/);
    expect(r.out).not.toContain('carol_3 plays');
  });

  it('prints JSON lines with --json, and starts at --from', async () => {
    const r = await run(['events', 'alice_1', '--json']);
    const parsed = r.out.trimEnd().split('\n').map((l) => JSON.parse(l) as { seq: number; type: string; subject: string; data: Record<string, unknown> });
    expect(parsed[0]).toMatchObject({ type: 'ChannelCreated', subject: 'evt.channel.alice_1', data: { channelId: 'alice_1', ownerUserId: 'u-alice' } });
    expect(parsed.find((p) => p.type === 'StreamKeyIssued')?.data.keyHash).toBe('[redacted]');
    const third = parsed[2]!;
    const from = await run(['events', 'alice_1', '--json', '--from', String(third.seq)]);
    expect(from.out.trimEnd().split('\n').map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual(parsed.slice(2).map((p) => p.seq));
    const none = await run(['events', 'nobody_here']);
    expect([none.code, none.out, none.err]).toEqual([0, '', 'no events on evt.stream.nobody_here or evt.channel.nobody_here\n']);
  });

  it('follows new events with --follow until interrupted', async () => {
    const out = collector();
    const aborter = new AbortController();
    const done = runCli(['events', 'carol_3', '--follow', '--from', String((await lastSeq()) + 1)], {
      stdout: out, stderr: collector(), env: { NATS_URL: b.services.endpoints.natsUrl }, signal: aborter.signal,
    });
    // --from the next sequence: the event is delivered whether it is appended before or after the CLI subscribes.
    await appendEvent(b.messaging.js, domainEvent(systemClock, 'ChannelMetadataUpdated', channelSubject('carol_3'), { channelId: 'carol_3', title: 'Late night', category: '', tags: [], language: '', mature: false }, { producer: 'test' }));
    await vi.waitFor(() => expect(out.text()).toContain('Late night'), { timeout: 30_000, interval: 50 });
    aborter.abort();
    expect(await done).toBe(0);
    expect(out.text()).toMatch(/ChannelMetadataUpdated +title="Late night"/);
    expect(out.text().trimEnd().split('\n')).toHaveLength(1);
  }, 60_000);
});

describe('the CLI process', { timeout: 60_000 }, () => {
  function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string; err: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'apps/cli/src/main.ts', ...args], {
        cwd: root, env: { PATH: process.env.PATH ?? '', LIVE_STACK_FILE: '/nonexistent', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
      child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, out, err }));
    });
  }

  it('has --help on the program and on every command, documenting the environment (exit 0)', async () => {
    for (const args of [['--help'], ['replay', '--help'], ['events', '--help'], ['help', 'replay']]) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.out).toMatch(/^Usage: pnpm cli /);
      for (const v of ['NATS_URL', 'DATABASE_URL', 'CLICKHOUSE_URL']) expect(r.out).toContain(v);
    }
    expect((await cli(['replay', '--help'])).out).toMatch(/--from rebuilds from a point[^]*COPY of\s+the current tables/);
  });

  it('exits 2 on usage errors and 1 on failures, with one error line and no stack trace', async () => {
    const usage = await cli(['replay', 'everything']);
    expect(usage.code).toBe(2);
    expect(usage.err).toMatch(/^error: command-argument value 'everything' is invalid/);
    expect((await cli(['replay', 'readmodels', '--from', 'last tuesday'])).code).toBe(2);
    expect((await cli([])).code).toBe(2);
    const down = await cli(['events', 'demo'], { NATS_URL: 'nats://127.0.0.1:1' });
    expect(down.code).toBe(1);
    expect(down.err).toBe('error: cannot connect to NATS at nats://127.0.0.1:1: connection refused\n');
    const unset = await cli(['replay', 'readmodels']);
    expect([unset.code, unset.err]).toEqual([1, 'error: NATS_URL is not set (and no embedded stack is running: no .run/stack.json)\n']);
    const verbose = await cli(['--verbose', 'events', 'demo'], { NATS_URL: 'nats://127.0.0.1:1' });
    expect(verbose.err).toMatch(/^error: cannot connect[^\n]*\n(Error|\w+Error): [^]*\n {4}at /);
  });

  it('replays the read models and prints the summary table (exit 0)', async () => {
    const before = await snapshot();
    const r = await cli(['replay', 'readmodels'], { NATS_URL: b.services.endpoints.natsUrl, DATABASE_URL: b.services.endpoints.databaseUrl });
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^readmodels: rebuilt and swapped in \(sequences 1\.\.\d+, built in schema replay_\d{8}_\d{6}_\d{3}\)/);
    expect(r.out).toMatch(/events read +applied +skipped +events\/s +seconds\n[- ]+\n +[\d,]+ +[\d,]+ +0 +[\d,]+ +[\d.]+\n/);
    expect(r.out).toMatch(/\nusers +3 +3 +0\n/);
    expect(r.err).toMatch(/^replay readmodels: [\d,]+\/[\d,]+ events \(100\.0%\)/m);
    expect(await snapshot()).toEqual(before);
  });
});
