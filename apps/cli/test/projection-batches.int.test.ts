/**
 * The read-model projection gives the same rows however a history is cut into batches
 * (`projectEvents`): one event per transaction, batches of random sizes, one batch of
 * everything, and batches into the live tables with their foreign keys, on a real PostgreSQL.
 * The history (apps/cli/bench/history.ts) uses few users and channels so that a batch often
 * touches the same rows several times (follow then unfollow, ban then unban, a key rotated
 * twice, a report resolved after it was filed).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { sql } from 'kysely';
import { startServices, type RunningServices } from '@live/dev';
import {
  createDb, createReadModelSchema, migrateToLatest, projectEvents, READ_MODEL_TABLES, readModelRows, type Db, type KeptNotification, type SequencedEvent,
} from '@live/db';
import { syntheticHistory } from '../bench/history.js';

const logger = pino({ level: process.env.TEST_LOG ?? 'silent' });
const tables = Object.keys(READ_MODEL_TABLES) as Array<keyof typeof READ_MODEL_TABLES>;
let services: RunningServices;
let db: Db;
const history: SequencedEvent[] = syntheticHistory({ events: 4000, users: 40, channels: 6, seed: 20261206 }).map((event, i) => ({ event, seq: i + 1 }));

async function snapshot(schema: string): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const t of tables) out[t] = await readModelRows(db, t, schema);
  return out;
}

/** Projects the history into `schema` cut at the given batch sizes (cycled). */
async function project(schema: string, sizes: (i: number) => number): Promise<KeptNotification[]> {
  const target = schema === 'public' ? db : db.withSchema(schema);
  if (schema !== 'public') await createReadModelSchema(db, schema);
  const kept: KeptNotification[] = [];
  for (let i = 0, b = 0; i < history.length; b++) {
    const size = Math.max(1, sizes(b));
    const r = await projectEvents(target, history.slice(i, i + size));
    expect(r.applied).toBe(Math.min(size, history.length - i));
    kept.push(...r.notifications);
    i += size;
  }
  return kept;
}

describe('read-model projection in batches', () => {
  beforeAll(async () => {
    services = await startServices({ logger, name: 'projection-batches', external: { temporalAddress: '127.0.0.1:1', temporalUiUrl: null } });
    db = createDb(services.endpoints.databaseUrl, 4);
    await migrateToLatest(db);
  }, 180_000);
  afterAll(async () => {
    await db?.destroy();
    await services?.stop();
  });

  it('writes the same rows and keeps the same notifications for any batch sizes', async () => {
    const one = await project('batch_one', () => 1);
    const reference = await snapshot('batch_one');
    // The history reaches every table, so the comparison covers every rule.
    for (const t of tables) expect(reference[t]!.length, t).toBeGreaterThan(0);
    expect(one.length).toBeGreaterThan(0);

    let x = 7;
    const random = () => { x = (x * 48271) % 2147483647; return 1 + (x % 400); };
    const mixed = await project('batch_mixed', random);
    expect(await snapshot('batch_mixed')).toEqual(reference);
    expect(mixed).toEqual(one);

    const whole = await project('batch_whole', () => history.length);
    expect(await snapshot('batch_whole')).toEqual(reference);
    expect(whole).toEqual(one);

    // The live tables carry the foreign keys: parents are written before the rows that refer to them.
    const live = await project('public', () => 500);
    expect(await snapshot('public')).toEqual(reference);
    expect(live).toEqual(one);
  }, 600_000);

  it('applies nothing a second time (offset), and refuses a batch out of order', async () => {
    const before = await snapshot('public');
    const again = await projectEvents(db, history.slice(1000, 3000));
    expect(again).toEqual({ applied: 0, notifications: [] });
    expect(await snapshot('public')).toEqual(before);
    await expect(projectEvents(db, [history[5]!, history[4]!])).rejects.toThrow(RangeError);
    for (const s of ['batch_one', 'batch_mixed', 'batch_whole']) await sql`drop schema ${sql.id(s)} cascade`.execute(db);
  });
});
