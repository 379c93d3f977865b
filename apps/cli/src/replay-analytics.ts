/**
 * `replay analytics`: rebuilds the ClickHouse analytics tables from the JetStream streams
 * (EVENTS, TELEMETRY, CHAT) into `<table>_replay` and exchanges each pair.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { ANALYTICS_SOURCES, type AnalyticsRow, type AnalyticsSource } from '@live/analytics';
import { EVENTS_STREAM } from '@live/events';
import type { Db } from '@live/db';
import type { Messaging } from '@live/messaging';
import { openLogReader, resolveStartSequence, streamBounds, type LogPosition, type LogReader } from './log.js';
import { withAdvisoryLock } from './pg.js';
import { createProgress, type Progress, type ProgressSink } from './progress.js';
import type { ReplayReport } from './report.js';

/** Name of the advisory lock every `replay analytics` holds while it runs (when it has a database). */
export const ANALYTICS_REPLAY_LOCK = 'replay analytics';

/** Suffix of the tables a replay builds: `domain_events` is rebuilt as `domain_events_replay`. */
export const REPLAY_SUFFIX = '_replay';

/** Options of {@link replayAnalytics}. */
export interface AnalyticsReplayOptions {
  readonly clickhouse: ClickHouseClient;
  /** Where the advisory lock {@link ANALYTICS_REPLAY_LOCK} is taken; null: no lock. */
  readonly lockDb: Db | null;
  readonly messaging: Messaging;
  /** Partial rebuild (see `replay --help`); null: everything the streams hold. */
  readonly from?: LogPosition | null;
  readonly dryRun?: boolean;
  readonly progress?: ProgressSink | null;
  readonly signal?: AbortSignal;
  /** Rows per insert (default 50,000). */
  readonly batchRows?: number;
  /** Default {@link ANALYTICS_SOURCES}. */
  readonly sources?: readonly AnalyticsSource[];
}

function ident(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new TypeError(`invalid table name ${name}`);
  return name;
}

/**
 * Rebuilds the analytics tables:
 * 1. (with `lockDb`) takes the advisory lock {@link ANALYTICS_REPLAY_LOCK};
 * 2. for each table `t`: `CREATE TABLE t_replay AS t` (same columns, engine, sorting key,
 *    partitioning); seeds it with `INSERT … SELECT` from `t` when its source stream has bounded
 *    retention, or always with `from` (a partial rebuild starts from a copy);
 * 3. reads each source from its start (`from`, or its first message) to its end with an
 *    ordered consumer and inserts the mapped rows in batches of `batchRows` (one insert per
 *    table in flight while reading goes on), then catches up with what was appended meanwhile;
 * 4. `EXCHANGE TABLES t AND t_replay` for each table (atomic per pair), replays what was
 *    appended during the exchange into the now-live tables (rows are keyed by record id, so a
 *    record the live projector also inserted is stored once), and drops the `_replay` tables,
 *    which now hold the old rows.
 * Counts are exact (`FINAL`). With `dryRun`, step 4 is replaced by dropping the `_replay` tables.
 * @throws ReplayBusyError when another replay holds the lock; the ClickHouse or nats.js error
 *   otherwise (before the exchange, the `_replay` tables are dropped and the live ones untouched).
 */
export async function replayAnalytics(opts: AnalyticsReplayOptions): Promise<ReplayReport> {
  const run = (): Promise<ReplayReport> => rebuild(opts);
  return opts.lockDb ? withAdvisoryLock(opts.lockDb, ANALYTICS_REPLAY_LOCK, run) : run();
}

async function rebuild(opts: AnalyticsReplayOptions): Promise<ReplayReport> {
  const ch = opts.clickhouse;
  const m = opts.messaging;
  const sources = opts.sources ?? ANALYTICS_SOURCES;
  const batchRows = opts.batchRows ?? 50_000;
  const started = performance.now();
  const tables = [...new Set(sources.flatMap((s) => s.tables))].map(ident);
  const notes: string[] = [];
  const exec = (query: string): Promise<unknown> => ch.command({ query });

  for (const t of tables) {
    const exists = await ch.query({ query: `EXISTS TABLE ${t}`, format: 'JSONEachRow' }).then((r) => r.json<{ result: number }>());
    if (Number(exists[0]?.result ?? 0) !== 1) throw new Error(`ClickHouse table ${t} does not exist: is the analytics schema migrated (the projector migrates it when it starts)?`);
  }
  for (const t of tables) {
    await exec(`DROP TABLE IF EXISTS ${t}${REPLAY_SUFFIX} SYNC`);
    await exec(`CREATE TABLE ${t}${REPLAY_SUFFIX} AS ${t}`);
  }
  let exchanged = false;
  const readers: Array<{ source: AnalyticsSource; reader: LogReader }> = [];
  try {
    for (const s of sources) {
      if (opts.from || s.bounded) for (const t of s.tables) await exec(`INSERT INTO ${t}${REPLAY_SUFFIX} SELECT * FROM ${t}`);
    }
    const startTime = await startTimeOf(m, opts.from ?? null);
    let eventsFrom = 0;
    for (const s of sources) {
      const pos: LogPosition | null = s.stream === EVENTS_STREAM ? opts.from ?? null : startTime ? { kind: 'time', time: startTime } : null;
      const startSeq = await resolveStartSequence(m, s.stream, s.filter, pos);
      if (s.stream === EVENTS_STREAM) eventsFrom = startSeq;
      readers.push({ source: s, reader: await openLogReader(m, { stream: s.stream, filter: s.filter, startSeq }) });
    }
    const total = readers.reduce((n, r) => n + r.reader.total, 0);
    const progress: Progress | null = opts.progress ? createProgress({ sink: opts.progress, label: 'replay analytics', total }) : null;
    const live = new Set<string>();
    const sink = createRowSink(ch, batchRows, (t) => (live.has(t) ? t : `${t}${REPLAY_SUFFIX}`));
    let read = 0;
    let skipped = 0;
    const catchUp = async (): Promise<void> => {
      for (const { source, reader } of readers) {
        const end = (await streamBounds(m, source.stream)).lastSeq;
        if (end > reader.lastSeq) progress?.setTotal(read + (end - reader.lastSeq));
        await reader.readUntil(end, async (lm) => {
          let rows: AnalyticsRow[] = [];
          try {
            rows = source.rowsOf(lm.seq, lm.msg.json());
          } catch {
            skipped++;
          }
          for (const r of rows) await sink.add(r.table, r.row);
          read++;
          progress?.update(read);
        }, opts.signal);
      }
      await sink.flush();
    };
    await catchUp();
    await catchUp();
    const liveBefore = await countFinal(ch, tables, '');
    let rebuilt = await countFinal(ch, tables, REPLAY_SUFFIX);
    if (!opts.dryRun) {
      for (const t of tables) {
        await exec(`EXCHANGE TABLES ${t} AND ${t}${REPLAY_SUFFIX}`);
        live.add(t);
      }
      exchanged = true;
      await catchUp();
      for (const t of tables) await exec(`DROP TABLE IF EXISTS ${t}${REPLAY_SUFFIX} SYNC`);
      rebuilt = await countFinal(ch, tables, '');
    }
    progress?.finish();
    const seconds = (performance.now() - started) / 1000;
    const events = readers.find((r) => r.source.stream === EVENTS_STREAM)?.reader;
    return {
      projection: 'analytics',
      builtIn: `tables <name>${REPLAY_SUFFIX}`,
      fromSeq: eventsFrom,
      toSeq: events?.lastSeq ?? 0,
      eventsRead: read,
      eventsApplied: read - skipped,
      eventsSkipped: skipped,
      seconds,
      eventsPerSecond: seconds > 0 ? read / seconds : 0,
      tables: tables.map((t) => ({ table: t, rows: rebuilt.get(t) ?? 0, liveRows: liveBefore.get(t) ?? 0 })),
      swapped: exchanged,
      notes,
    };
  } finally {
    for (const { reader } of readers) await reader.close();
    if (!exchanged) for (const t of tables) await exec(`DROP TABLE IF EXISTS ${t}${REPLAY_SUFFIX} SYNC`).catch(() => undefined);
  }
}

/** The storage time of the EVENTS message a position names (TELEMETRY and CHAT start there). */
async function startTimeOf(m: Messaging, from: LogPosition | null): Promise<Date | null> {
  if (!from) return null;
  if (from.kind === 'time') return from.time;
  try {
    const msg = await m.jsm.streams.getMessage(EVENTS_STREAM, { seq: from.seq });
    return msg ? msg.time : null;
  } catch {
    return null; // a sequence before the first or after the last stored one: streams from their start
  }
}

/** Exact row counts (`count()` with `FINAL`: one row per record id) of `tables` + `suffix`. */
async function countFinal(ch: ClickHouseClient, tables: readonly string[], suffix: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const t of tables) {
    const r = await ch.query({ query: `SELECT count() AS n FROM ${t}${suffix} FINAL`, format: 'JSONEachRow' }).then((x) => x.json<{ n: string | number }>());
    out.set(t, Number(r[0]?.n ?? 0));
  }
  return out;
}

/**
 * Buffers rows per table and inserts them in batches of `batchRows` (JSONEachRow), with at
 * most one insert per table in flight while the next batch fills.
 */
function createRowSink(ch: ClickHouseClient, batchRows: number, target: (table: string) => string) {
  const buffers = new Map<string, object[]>();
  const inFlight = new Map<string, Promise<void>>();
  const send = async (table: string): Promise<void> => {
    const rows = buffers.get(table);
    if (!rows || rows.length === 0) return;
    buffers.set(table, []);
    await inFlight.get(table);
    const p = ch.insert({ table: target(table), values: rows, format: 'JSONEachRow' }).then(() => undefined);
    p.catch(() => undefined); // rejected inserts surface at the next await of this table or flush()
    inFlight.set(table, p);
  };
  return {
    async add(table: string, row: object): Promise<void> {
      let b = buffers.get(table);
      if (!b) buffers.set(table, (b = []));
      b.push(row);
      if (b.length >= batchRows) await send(table);
    },
    async flush(): Promise<void> {
      for (const t of buffers.keys()) await send(t);
      await Promise.all(inFlight.values());
      inFlight.clear();
    },
  };
}
