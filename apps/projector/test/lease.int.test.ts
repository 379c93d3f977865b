/**
 * One active projector per projection, against real servers: nats-server with the platform's
 * users and permissions (the projector connects as `projector`, so its KV permissions are
 * exercised), PostgreSQL, and embedded chDB owned by a third process.
 *
 * 1. `runUnderLease` in-process: one holder of two; a graceful stop hands over at once; a holder
 *    cut off from NATS stops its work before the standby starts (fencing).
 * 2. Processes, as the cluster profile runs them: a chDB owner (`PROJECTOR_PROJECTIONS=none`,
 *    serving ClickHouse's HTTP interface) and two projectors writing to it (`CLICKHOUSE_URL`).
 *    Events are appended, the active projector is SIGKILLed mid-backlog, the standby takes over
 *    (the time is printed), every event is in the read models once and in ClickHouse once; then
 *    a SIGTERM hands over immediately.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { domainEvent, systemClock, userSubject } from '@live/events';
import { sql } from 'kysely';
import { createDb, projectedSequence, READ_MODELS_PROJECTION, type Db } from '@live/db';
import {
  appendEvent, connectMessaging, ensureEventStreams, ensureLeaseBucket, leaseTimings, openLeaseBucket, runUnderLease,
  type LeaseBucket, type LeaseRun, type Messaging,
} from '@live/messaging';
import { appArgs, freePort, ManagedProcess, REPO_ROOT, startServices, type RunningServices } from '@live/dev';

const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const WRITER = { name: 'writer', password: 'writer-lease-test' };
const READER = { name: 'reader', password: 'reader-lease-test' };

let services: RunningServices;
let admin: Messaging;
let projectorNats: Messaging;
let bucket: LeaseBucket;
let chdbDir: string;
const procs: ManagedProcess[] = [];

beforeAll(async () => {
  services = await startServices({ logger, name: 'projector-lease', natsAuth: true, external: { temporalAddress: '127.0.0.1:1', temporalUiUrl: null } });
  admin = await connectMessaging(services.endpoints.natsUrl, 'lease-test-admin', services.natsAuth('bootstrap'));
  await ensureEventStreams(admin.jsm);
  await ensureLeaseBucket(admin.jsm);
  projectorNats = await connectMessaging(services.endpoints.natsUrl, 'lease-test-projector', services.natsAuth('projector'), { logger });
  bucket = await openLeaseBucket(projectorNats.js, projectorNats.jsm);
  chdbDir = await mkdtemp(join(tmpdir(), 'lease-chdb-'));
}, 120_000);

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await projectorNats?.close();
  await admin?.close();
  await services?.stop();
  if (chdbDir) await rm(chdbDir, { recursive: true, force: true });
});

/** Work that records when it started and stopped. */
function recordedWork(log: string[], name: string) {
  return async () => {
    log.push(`${name} start`);
    return { stop: async () => { log.push(`${name} stop`); } };
  };
}

describe('ensureLeaseBucket', () => {
  it('creates the bucket with its TTL and replicas, updates what differs as the admin, and only reports it as an app', async () => {
    expect(await ensureLeaseBucket(admin.jsm, { bucket: 'lease-test', ttlMs: 6000 })).toBe('created');
    const config = async () => (await admin.jsm.streams.info('KV_lease-test')).config;
    expect(await config()).toMatchObject({ max_age: 6000 * 1e6, num_replicas: 1, max_msgs_per_subject: 1, allow_rollup_hdrs: true });
    expect(await ensureLeaseBucket(admin.jsm, { bucket: 'lease-test', ttlMs: 6000 })).toBe('unchanged');
    expect(await ensureLeaseBucket(admin.jsm, { bucket: 'lease-test', ttlMs: 3000 })).toBe('updated');
    expect((await config()).max_age).toBe(3000 * 1e6);
    // The projector's user may read the platform bucket's configuration but not change it.
    expect(await ensureLeaseBucket(projectorNats.jsm, { ttlMs: 3000, logger })).toBe('differs');
    expect(await ensureLeaseBucket(projectorNats.jsm, { logger })).toBe('unchanged');
    await expect(ensureLeaseBucket(admin.jsm, { replicas: 6 })).rejects.toThrow(RangeError);
  });
});

describe('runUnderLease', () => {
  it('runs the work in one process of two and hands it over at once on stop', async () => {
    const events: string[] = [];
    const run = (name: string): LeaseRun => runUnderLease({ kv: bucket.kv, key: 'test.handover', holder: name, ttlMs: bucket.ttlMs, logger, onAcquired: recordedWork(events, name) });
    const a = run('a');
    await vi.waitFor(() => expect(a.isHolder()).toBe(true), { timeout: 10_000, interval: 20 });
    const b = run('b');
    await vi.waitFor(() => expect(b.heldBy()).toBe('a'), { timeout: 10_000, interval: 20 });
    expect(b.state()).toBe('standby');
    const t0 = performance.now();
    await a.stop();
    await vi.waitFor(() => expect(b.isHolder()).toBe(true), { timeout: 10_000, interval: 5 });
    const handoverMs = performance.now() - t0;
    console.log(`lease handover on stop: ${handoverMs.toFixed(0)} ms (TTL ${bucket.ttlMs} ms)`);
    // Not by expiry: that would take at least TTL - TTL/3.
    expect(handoverMs).toBeLessThan(leaseTimings(bucket.ttlMs).giveUpAfterMs);
    expect(a.state()).toBe('stopped');
    await b.stop();
    expect(events).toEqual(['a start', 'a stop', 'b start', 'b stop']);
  }, 30_000);

  it('stops the work of a holder cut off from NATS before the standby starts it', async () => {
    const events: string[] = [];
    const lost: string[] = [];
    const cutOff = await connectMessaging(services.endpoints.natsUrl, 'lease-test-cut-off', services.natsAuth('projector'));
    const cutOffBucket = await openLeaseBucket(cutOff.js, cutOff.jsm);
    const a = runUnderLease({
      kv: cutOffBucket.kv, key: 'test.fencing', holder: 'a', ttlMs: cutOffBucket.ttlMs, logger, onAcquired: recordedWork(events, 'a'), onLost: (why) => lost.push(why),
    });
    await vi.waitFor(() => expect(a.isHolder()).toBe(true), { timeout: 10_000, interval: 20 });
    const b = runUnderLease({ kv: bucket.kv, key: 'test.fencing', holder: 'b', ttlMs: bucket.ttlMs, logger, onAcquired: recordedWork(events, 'b') });
    await vi.waitFor(() => expect(b.heldBy()).toBe('a'), { timeout: 10_000, interval: 20 });
    const t0 = performance.now();
    await cutOff.nc.close();
    await vi.waitFor(() => expect(b.isHolder()).toBe(true), { timeout: 20_000, interval: 20 });
    console.log(`lease takeover after the holder lost NATS: ${(performance.now() - t0).toFixed(0)} ms (TTL ${bucket.ttlMs} ms)`);
    expect(lost).toEqual([`no renewal succeeded for ${leaseTimings(bucket.ttlMs).giveUpAfterMs} ms`]);
    expect(events).toEqual(['a start', 'a stop', 'b start']);
    await Promise.all([a.stop(), b.stop()]);
  }, 40_000);
});

/** A projector process and what it printed. */
interface Projector {
  readonly proc: ManagedProcess;
  readonly url: string;
  readonly lines: string[];
}

interface Health {
  holder: string;
  projections: Record<string, { state: string; heldBy: string | null }>;
}

async function spawnProjector(name: string, env: Record<string, string>): Promise<Projector> {
  const port = await freePort();
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      // Each line of the child (its pino JSON) arrives as the `msg` of one of ManagedProcess's lines.
      for (const l of chunk.toString().split('\n')) {
        if (!l) continue;
        const line = (JSON.parse(l) as { msg: string }).msg;
        try {
          lines.push((JSON.parse(line) as { msg: string }).msg);
        } catch {
          lines.push(line);
        }
      }
      done();
    },
  });
  const proc = new ManagedProcess({
    service: name, command: process.execPath, args: appArgs('projector', 'source'), cwd: REPO_ROOT, logger: pino({ level: 'debug' }, sink),
    env: {
      ...process.env, NATS_URL: services.endpoints.natsUrl, NATS_USER: services.natsCredentials!.projector!.user,
      NATS_PASSWORD: services.natsCredentials!.projector!.password, DATABASE_URL: services.endpoints.databaseUrl, LOG_LEVEL: 'info',
      HTTP_PORT: String(port), ...env,
    },
  });
  procs.push(proc);
  const url = `http://127.0.0.1:${port}/healthz`;
  await vi.waitFor(async () => {
    const failed = proc.exitError();
    if (failed) throw new Error(`${name} exited:\n${proc.tail.toString()}`);
    expect((await fetch(url)).ok).toBe(true);
  }, { timeout: 120_000, interval: 200 });
  return { proc, url, lines };
}

async function health(p: Projector): Promise<Health | null> {
  try {
    return (await (await fetch(p.url)).json()) as Health;
  } catch {
    return null;
  }
}

/** Waits until `p` holds every one of `projections`; returns the ms from `since` at which each was first seen held. */
async function waitForHolder(p: Projector, projections: readonly string[], since: number): Promise<Record<string, number>> {
  const seen: Record<string, number> = {};
  await vi.waitFor(async () => {
    const h = await health(p);
    for (const name of projections) if (h?.projections[name]?.state === 'holder') seen[name] ??= performance.now() - since;
    expect(Object.keys(seen).sort()).toEqual([...projections].sort());
  }, { timeout: 60_000, interval: 25 });
  return seen;
}

async function appendUsers(prefix: string, n: number): Promise<number> {
  let seq = 0;
  for (let i = 0; i < n; i += 500) {
    const acks = await Promise.all(Array.from({ length: Math.min(500, n - i) }, (_, j) => {
      const userId = `${prefix}-${i + j}`;
      const data = { userId, username: userId.replace(/-/g, '_'), email: `${userId}@example.test`, displayName: userId, passwordHash: 'not-a-real-hash', roles: [] };
      return appendEvent(admin.js, domainEvent(systemClock, 'UserRegistered', userSubject(userId), data, { producer: 'test' }));
    }));
    seq = Math.max(seq, ...acks.map((a) => a.seq));
  }
  return seq;
}

describe('two projector processes and one chDB owner', () => {
  let db: Db;
  let ch: ClickHouseClient;
  afterAll(async () => {
    await ch?.close();
    await db?.destroy();
  });

  it('keeps one active projector per projection; the standby takes over a SIGKILL and a SIGTERM, every event projected once', async () => {
    const chPort = await freePort();
    await spawnProjector('chdb-owner', {
      PROJECTOR_PROJECTIONS: 'none', CHDB_PATH: chdbDir, CLICKHOUSE_HTTP_PORT: String(chPort),
      CLICKHOUSE_HTTP_READER_PASSWORD: READER.password, CLICKHOUSE_HTTP_WRITER_PASSWORD: WRITER.password,
    });
    const store = { CLICKHOUSE_URL: `http://127.0.0.1:${chPort}`, CLICKHOUSE_USER: WRITER.name, CLICKHOUSE_PASSWORD: WRITER.password };
    const all = ['readmodels', 'analytics', 'presence', 'webhooks'];
    const p1 = await spawnProjector('projector-1', store);
    await waitForHolder(p1, all, performance.now());
    const p2 = await spawnProjector('projector-2', store);
    const h1 = (await health(p1))!;
    await vi.waitFor(async () => {
      const h = await health(p2);
      for (const name of all) expect(h?.projections[name]).toEqual({ state: 'standby', heldBy: h1.holder });
    }, { timeout: 30_000, interval: 50 });
    await vi.waitFor(() => expect(p2.lines).toContain(`standby for projector.readmodels (held by ${h1.holder})`), { timeout: 10_000, interval: 20 });

    db = createDb(services.endpoints.databaseUrl, 2);
    ch = createClient({ url: store.CLICKHOUSE_URL, username: READER.name, password: READER.password });
    // A backlog; the active projector is killed while it works through it: a transaction of the
    // test holds the read models' offset row, so the projector's batch (up to 500 events per
    // transaction) waits on it with its deliveries unacknowledged when the kill lands.
    const firstSeq = (await admin.jsm.streams.info('EVENTS')).state.last_seq;
    await vi.waitFor(async () => expect(await projectedSequence(db)).toBeGreaterThanOrEqual(firstSeq), { timeout: 60_000, interval: 10 });
    const blocker = await db.startTransaction().execute();
    await sql`insert into projection_offsets (name, last_seq) values (${READ_MODELS_PROJECTION}, 0) on conflict (name) do nothing`.execute(blocker);
    await sql`select last_seq from projection_offsets where name = ${READ_MODELS_PROJECTION} for update`.execute(blocker);
    const N1 = 1500;
    let lastSeq = await appendUsers('lease-a', N1);
    // (pg_locks, not pg_stat_activity: the projector's database role is not the test's.)
    const blockedOnOffset = async () => Number((await sql<{ n: string }>`select count(*) as n from pg_locks where not granted`.execute(db)).rows[0]!.n);
    await vi.waitFor(async () => expect(await blockedOnOffset()).toBeGreaterThan(0), { timeout: 60_000, interval: 10 });
    const killedAt = performance.now();
    process.kill(p1.proc.pid, 'SIGKILL');
    await p1.proc.exited;
    await blocker.rollback().execute();
    // Killed in the middle of the backlog.
    expect(await projectedSequence(db)).toBeLessThan(lastSeq);
    const takeover = await waitForHolder(p2, all, killedAt);
    console.log(`standby took over after SIGKILL: ${all.map((n) => `${n} ${takeover[n]!.toFixed(0)} ms`).join(', ')} (lease TTL ${bucket.ttlMs} ms)`);
    await vi.waitFor(() => expect(p2.lines).toContain('acquired lease projector.readmodels'), { timeout: 10_000, interval: 20 });
    const N2 = 200;
    lastSeq = await appendUsers('lease-b', N2);

    // Every event in the read models once (the offset makes a second application impossible).
    await vi.waitFor(async () => expect(await projectedSequence(db)).toBe(lastSeq), { timeout: 120_000, interval: 100 });
    const users = await db.selectFrom('users').select((eb) => eb.fn.countAll<string>().as('n')).where('username', 'like', 'lease\\_%').executeTakeFirstOrThrow();
    expect(Number(users.n)).toBe(N1 + N2);
    // Every event in ClickHouse once (rows inserted again after the takeover replace their first copy).
    const counts = async () => (await (await ch.query({
      query: "SELECT count() AS final, (SELECT count() FROM domain_events WHERE type = 'UserRegistered') AS raw, (SELECT uniqExact(event_id) FROM domain_events WHERE type = 'UserRegistered') AS ids FROM domain_events FINAL WHERE type = 'UserRegistered'",
      format: 'JSONEachRow',
    })).json<{ final: string; raw: string; ids: string }>())[0]!;
    await vi.waitFor(async () => expect(Number((await counts()).final)).toBe(N1 + N2), { timeout: 120_000, interval: 250 });
    const c = await counts();
    console.log(`the new holder rewound: ${p2.lines.filter((l) => /rewound|recreated from its acknowledgement floor/.test(l)).join('; ') || 'nothing (no delivery was pending)'}`);
    console.log(`ClickHouse domain_events: ${c.final} rows with FINAL, ${c.ids} distinct event ids, ${c.raw} stored copies before merges`);
    expect(Number(c.ids)).toBe(N1 + N2);

    // A SIGTERM releases the leases: a new standby takes over at once, not after the TTL.
    const p3 = await spawnProjector('projector-3', store);
    const h2 = (await health(p2))!;
    await vi.waitFor(async () => expect((await health(p3))?.projections.readmodels).toEqual({ state: 'standby', heldBy: h2.holder }), { timeout: 30_000, interval: 50 });
    const termAt = performance.now();
    process.kill(p2.proc.pid, 'SIGTERM');
    const handover = await waitForHolder(p3, all, termAt);
    console.log(`standby took over after SIGTERM: ${all.map((n) => `${n} ${handover[n]!.toFixed(0)} ms`).join(', ')}`);
    await p2.proc.exited;
    expect(p2.lines).toContain('released lease projector.readmodels');
    expect(p2.proc.exit?.code).toBe(0);
    expect(Math.max(...Object.values(handover))).toBeLessThan(leaseTimings(bucket.ttlMs).giveUpAfterMs);
    lastSeq = await appendUsers('lease-c', 10);
    await vi.waitFor(async () => expect(await projectedSequence(db)).toBe(lastSeq), { timeout: 60_000, interval: 100 });
  }, 400_000);
});
