/**
 * `replay readmodels`: rebuilds every Postgres read model from the EVENTS log into a fresh
 * schema and swaps the rebuilt tables into `public` in one transaction.
 */
import { sql } from 'kysely';
import { decodeEvent, EVENTS_STREAM, EVENTS_SUBJECT_PREFIX } from '@live/events';
import { createReadModelSchema, PREFETCH_SECONDARY_LOOKUPS, projectEvents, READ_MODEL_TABLES, READ_MODELS_PROJECTION, type Db, type SequencedEvent } from '@live/db';
import type { Messaging } from '@live/messaging';
import { openLogReader, resolveStartSequence, streamBounds, type LogMessage, type LogPosition } from './log.js';
import { alignIndexNames, assertSwappable, buildIndexes, copyForeignKeys, deferIndexes, copyPrivileges, countRows, insertableColumns, withAdvisoryLock } from './pg.js';
import { createProgress, type ProgressSink } from './progress.js';
import type { ReplayReport } from './report.js';

/** Name of the advisory lock every `replay readmodels` holds while it runs. */
export const READ_MODELS_REPLAY_LOCK = 'replay readmodels';

/** Options of {@link replayReadModels}. */
export interface ReadModelReplayOptions {
  /** The platform database: catalogue work, the lock and the swap. */
  readonly db: Db;
  /**
   * Where the events are applied (the same database; a pool with `synchronous_commit = off` is
   * faster, and safe: nothing of the fresh schema matters until the swap, which commits with
   * `synchronous_commit = on`). Default `db`.
   */
  readonly replayDb?: Db;
  readonly messaging: Messaging;
  /**
   * Partial rebuild: copy the current tables, set the copy's offset to just before this point
   * and apply every event from it (see the `replay --help` text). Null/undefined: from the start
   * of the log into empty tables.
   */
  readonly from?: LogPosition | null;
  /** Build and count, then drop the rebuilt tables without touching the live ones. */
  readonly dryRun?: boolean;
  /** Progress bar destination (stderr); null for none. */
  readonly progress?: ProgressSink | null;
  /** Aborts the replay (Ctrl-C): the fresh schema is dropped, nothing is swapped. */
  readonly signal?: AbortSignal;
  /** Clock, for the schema names (tests). Default `() => new Date()`. */
  readonly now?: () => Date;
  /** Longest wait for the live tables' locks in one swap attempt, ms (default 10,000; 3 attempts). */
  readonly lockTimeoutMs?: number;
  /** Events applied per transaction (`projectEvents`), default {@link REPLAY_BATCH_EVENTS}; 1 applies them one by one. */
  readonly batchSize?: number;
}

/** Events a replay applies per transaction by default. */
export const REPLAY_BATCH_EVENTS = 10_000;

/**
 * Applies `batch` in one transaction; when that fails, applies its events one by one up to the
 * one that fails, so that the error names it.
 * @returns the number of events applied.
 * @throws Error naming the event (sequence, type, subject) that could not be projected.
 */
async function applyBatch(db: Db, batch: readonly SequencedEvent[]): Promise<number> {
  try {
    return (await projectEvents(db, batch)).applied;
  } catch {
    let applied = 0;
    for (const b of batch) {
      try {
        applied += (await projectEvents(db, [b])).applied;
      } catch (err) {
        throw new Error(`event #${b.seq} (${b.event.type} on ${b.event.subject}) could not be projected: ${(err as Error).message}`, { cause: err });
      }
    }
    // Each event alone went through: the batch failed for a reason of its own (a lost connection).
    return applied;
  }
}

/** `2025-06-01T12:00:00.123Z` → `20250601_120000_123`. */
function stamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace('T', '_').replace('.', '_').slice(0, 19);
}

const SCHEMA_PATTERN = /^replay_(old_)?\d{8}_\d{6}_\d{3}$/;

/**
 * Rebuilds the read models from EVENTS and swaps them in:
 * 1. takes the advisory lock {@link READ_MODELS_REPLAY_LOCK} (a second replay fails at once) and
 *    drops schemas left by an interrupted replay (`replay_<stamp>`, `replay_old_<stamp>`);
 * 2. creates schema `replay_<stamp>` with empty copies of every table of `READ_MODEL_TABLES`
 *    (`createReadModelSchema`) and gives their indexes the live indexes' names;
 *    with `from`: copies the live rows (one snapshot) and sets the copy's offset to `from − 1`
 *    (or to the live offset when `from` lies beyond it: events cannot be skipped);
 * 3. applies every event from the start sequence to the end of the log with `projectEvents`,
 *    {@link REPLAY_BATCH_EVENTS} per transaction
 *    (read with an ordered consumer in pulls of 16 MiB), then adds the live tables' foreign
 *    keys (validated), `ANALYZE`s, and catches up with what was appended meanwhile;
 * 4. in one transaction: locks the live tables (`projection_offsets` first: every projector
 *    transaction starts there), catches up to the live projector's offset if it is ahead,
 *    keeps the offsets of other projections, moves the live tables to `replay_old_<stamp>`
 *    and the rebuilt ones into `public` (retried on a lock timeout or deadlock);
 * 5. drops the old tables. The live projector continues from the rebuilt `projection_offsets`
 *    (its statements resolve the table names again once the swap has committed).
 * @throws ReplayBusyError when another replay holds the lock; the driver's or nats.js error
 *   otherwise; in every failure case before the swap the fresh schema is dropped and the live
 *   tables are untouched.
 */
export async function replayReadModels(opts: ReadModelReplayOptions): Promise<ReplayReport> {
  const { db, messaging: m } = opts;
  const target = opts.replayDb ?? db;
  const started = performance.now();
  const tables = Object.keys(READ_MODEL_TABLES);
  const notes: string[] = [];
  return withAdvisoryLock(db, READ_MODELS_REPLAY_LOCK, async () => {
    const leftovers = (await sql<{ name: string }>`select nspname as name from pg_namespace where nspname like 'replay\\_%'`.execute(db)).rows
      .map((r) => r.name).filter((n) => SCHEMA_PATTERN.test(n));
    for (const s of leftovers) {
      await sql`drop schema ${sql.id(s)} cascade`.execute(db);
      notes.push(`dropped schema ${s} left by an interrupted replay`);
    }
    await assertSwappable(db, tables);
    const when = stamp((opts.now ?? (() => new Date()))());
    const fresh = `replay_${when}`;
    const old = `replay_old_${when}`;
    await createReadModelSchema(db, fresh);
    const built = target.withSchema(fresh);
    let swapped = false;
    let reader: Awaited<ReturnType<typeof openLogReader>> | undefined;
    try {
      await alignIndexNames(db, fresh, tables);
      const deferred = await deferIndexes(db, fresh, tables, PREFETCH_SECONDARY_LOOKUPS);
      const filter = `${EVENTS_SUBJECT_PREFIX}.>`;
      let startSeq = await resolveStartSequence(m, EVENTS_STREAM, filter, opts.from ?? null);
      if (opts.from) {
        const liveOffset = await copyLiveRows(db, fresh, tables);
        if (startSeq > liveOffset + 1) {
          notes.push(`--from ${startSeq} is after the read models' offset ${liveOffset}: replayed from ${liveOffset + 1} so that no event is left out`);
          startSeq = liveOffset + 1;
        }
        await sql`insert into ${sql.id(fresh, 'projection_offsets')} (name, last_seq) values (${READ_MODELS_PROJECTION}, ${startSeq - 1})
          on conflict (name) do update set last_seq = excluded.last_seq`.execute(db);
      }

      reader = await openLogReader(m, { stream: EVENTS_STREAM, filter, startSeq });
      const progress = opts.progress ? createProgress({ sink: opts.progress, label: 'replay readmodels', total: reader.total }) : null;
      let read = 0;
      let applied = 0;
      let skipped = 0;
      const batchSize = Math.max(1, opts.batchSize ?? REPLAY_BATCH_EVENTS);
      const pending: SequencedEvent[] = [];
      // One batch is applied (PostgreSQL's work) while the next one is read and decoded (ours).
      let applying: Promise<void> = Promise.resolve();
      const flush = async (): Promise<void> => {
        if (pending.length === 0) return;
        const batch = pending.splice(0);
        const previous = applying;
        applying = previous.then(async () => { applied += await applyBatch(built, batch); });
        applying.catch(() => undefined); // awaited below or by the next flush; never unhandled
        await previous;
      };
      const apply = async (lm: LogMessage): Promise<void> => {
        try {
          pending.push({ event: decodeEvent(lm.msg.json()), seq: lm.seq });
        } catch {
          // The live projector terminates an undecodable message (it never reaches the read models).
          skipped++;
        }
        read++;
        if (pending.length >= batchSize) await flush();
        progress?.update(read);
      };
      const readUntil = async (seq: number): Promise<void> => {
        try {
          await reader!.readUntil(seq, apply, opts.signal);
          await flush();
        } finally {
          // Whatever happened, no batch is left writing (the caller may drop the schema next).
          await applying.catch(() => undefined);
        }
        await applying; // rethrows a batch's failure
      };
      const catchUp = async (): Promise<void> => {
        const end = (await streamBounds(m, EVENTS_STREAM)).lastSeq;
        if (end > reader!.lastSeq) progress?.setTotal(read + (end - reader!.lastSeq));
        await readUntil(end);
      };

      await catchUp();
      await buildIndexes(db, deferred);
      await copyForeignKeys(db, fresh, tables);
      for (const t of tables) await sql`analyze ${sql.id(fresh, t)}`.execute(db);
      await catchUp();

      const liveBefore = await countRows(db, 'public', tables);
      if (!opts.dryRun) {
        await copyPrivileges(db, fresh, tables);
        await swapIn(db, { fresh, old, tables, lockTimeoutMs: opts.lockTimeoutMs ?? 10_000 }, async (liveOffset) => {
          if (reader!.lastSeq < liveOffset) await readUntil(liveOffset);
        });
        swapped = true;
        try {
          await sql`drop table ${sql.join(tables.map((t) => sql.id(old, t)))}`.execute(db);
          await sql`drop schema ${sql.id(old)}`.execute(db);
          await sql`drop schema ${sql.id(fresh)}`.execute(db);
        } catch (err) {
          // The swap has committed: the rebuilt tables are live. Say what is left, do not fail.
          notes.push(`the old tables were kept in schema ${old} (${(err as Error).message}); the next replay drops that schema, or drop it by hand`);
        }
      }
      progress?.finish();
      const rebuilt = await countRows(db, swapped ? 'public' : fresh, tables);
      const seconds = (performance.now() - started) / 1000;
      return {
        projection: 'readmodels',
        builtIn: `schema ${fresh}`,
        fromSeq: startSeq,
        toSeq: reader.lastSeq,
        eventsRead: read,
        eventsApplied: applied,
        eventsSkipped: skipped,
        seconds,
        eventsPerSecond: seconds > 0 ? read / seconds : 0,
        tables: tables.map((t) => ({ table: t, rows: rebuilt.get(t) ?? 0, liveRows: liveBefore.get(t) ?? 0 })),
        swapped,
        notes,
      };
    } finally {
      await reader?.close();
      if (!swapped) await sql`drop schema if exists ${sql.id(fresh)} cascade`.execute(db).catch(() => undefined);
    }
  });
}

/**
 * Copies every live read-model row into `fresh` in one repeatable-read snapshot (consistent
 * with the live offset it returns).
 */
async function copyLiveRows(db: Db, fresh: string, tables: readonly string[]): Promise<number> {
  return db.transaction().setIsolationLevel('repeatable read').execute(async (trx) => {
    for (const t of tables) {
      const cols = sql.join((await insertableColumns(trx, 'public', t)).map((c) => sql.id(c)));
      await sql`insert into ${sql.id(fresh, t)} (${cols}) select ${cols} from ${sql.id('public', t)}`.execute(trx);
    }
    const r = await sql<{ last_seq: string }>`select last_seq from ${sql.id(fresh, 'projection_offsets')} where name = ${READ_MODELS_PROJECTION}`.execute(trx);
    return Number(r.rows[0]?.last_seq ?? 0);
  });
}

/** Postgres errors a swap attempt is retried on: lock_not_available, deadlock_detected. */
const RETRY_CODES = new Set(['55P03', '40P01']);

/**
 * The swap transaction (see {@link replayReadModels} step 4). `catchUp(liveOffset)` is called
 * with the live tables locked, to bring the rebuilt tables up to the live projector's offset.
 */
async function swapIn(
  db: Db,
  o: { fresh: string; old: string; tables: readonly string[]; lockTimeoutMs: number },
  catchUp: (liveOffset: number) => Promise<void>,
): Promise<void> {
  const ordered = ['projection_offsets', ...o.tables.filter((t) => t !== 'projection_offsets')];
  for (let attempt = 1; ; attempt++) {
    try {
      await db.transaction().execute(async (trx) => {
        await sql`select set_config('synchronous_commit', 'on', true), set_config('lock_timeout', ${`${o.lockTimeoutMs}ms`}, true)`.execute(trx);
        await sql`lock table ${sql.join(ordered.map((t) => sql.id('public', t)))} in access exclusive mode`.execute(trx);
        const live = await sql<{ last_seq: string }>`select last_seq from public.projection_offsets where name = ${READ_MODELS_PROJECTION}`.execute(trx);
        await catchUp(Number(live.rows[0]?.last_seq ?? 0));
        const cols = sql.join((await insertableColumns(trx, 'public', 'projection_offsets')).map((c) => sql.id(c)));
        await sql`insert into ${sql.id(o.fresh, 'projection_offsets')} (${cols})
          select ${cols} from public.projection_offsets where name <> ${READ_MODELS_PROJECTION} on conflict (name) do nothing`.execute(trx);
        await sql`create schema ${sql.id(o.old)}`.execute(trx);
        for (const t of o.tables) await sql`alter table ${sql.id('public', t)} set schema ${sql.id(o.old)}`.execute(trx);
        for (const t of o.tables) await sql`alter table ${sql.id(o.fresh, t)} set schema public`.execute(trx);
      });
      return;
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (attempt >= 3 || !RETRY_CODES.has(code)) {
        if (RETRY_CODES.has(code)) throw new Error(`could not lock the live read-model tables in ${attempt} attempts of ${o.lockTimeoutMs} ms (${(err as Error).message}); long transactions hold them`, { cause: err });
        throw err;
      }
    }
  }
}
