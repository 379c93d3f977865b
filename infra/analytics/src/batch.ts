import type { ClickHouseClient } from '@clickhouse/client';
import { encodeCompactRows, insertCompactRows } from './insert.js';

/** Options of {@link createBatchInserter}. */
export interface BatchInserterOptions<Row> {
  /** Client the rows are inserted with; the inserter never closes it. */
  client: ClickHouseClient;
  /** Table name (optionally `database.table`), inserted into with `INSERT ... FORMAT JSONCompactEachRow`. */
  table: string;
  /**
   * Columns every insert names, in order; default: the own keys of the first row added (every
   * row must then have the same keys).
   */
  columns?: readonly string[];
  /** The buffered count that triggers an insert at once. Default 1000. */
  maxRows?: number;
  /**
   * Most rows one insert carries. Default 100,000. While an insert runs, rows keep arriving;
   * the next insert takes all of them up to this bound, so under a backlog (a replay, a burst)
   * batches grow and the number of inserts per second stays small.
   */
  maxBatchRows?: number;
  /** Milliseconds a buffered row waits at most before its batch is inserted. Default 1000. */
  maxDelayMs?: number;
  /**
   * Called once per failed insert with the ClickHouse error and the rows of that insert (for
   * logging and metrics), in addition to the rejection of those rows' `add` promises.
   */
  onError?: (error: unknown, rows: readonly Row[]) => void;
}

/** A buffer that turns single rows into batched ClickHouse inserts. */
export interface BatchInserter<Row> {
  /**
   * Buffers one row. Resolves once the insert that carries it succeeded; rejects with the
   * insert's error when that insert failed, or with an `Error` when the inserter is closed.
   * Rows added one after another get the SAME promise object (one per group of up to
   * `maxRows` rows, all inserted together), which lets a caller settle a whole group at once.
   */
  add(row: Row): Promise<void>;
  /**
   * Inserts every row added before the call now, without waiting for `maxRows`/`maxDelayMs`,
   * and resolves when they are all settled.
   * @throws the first insert error among those rows (their `add` promises reject as well).
   */
  flush(): Promise<void>;
  /** Refuses further rows, then {@link BatchInserter.flush}es. Idempotent. Does not close the client. */
  close(): Promise<void>;
  /** Rows added and not yet settled (buffered plus being inserted). */
  pending(): number;
}

/**
 * Rows added one after the other that share one settlement: every row of a chunk is inserted
 * by the same insert, so one promise serves them all (no promise per row).
 */
interface Chunk<Row> {
  readonly rows: Row[];
  /** Epoch ms after which the chunk must be inserted (its first row's add time + maxDelayMs). */
  readonly deadline: number;
  /** Inserted without waiting for maxRows / maxDelayMs (a flush asked for it). */
  forced: boolean;
  readonly settled: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * Batches rows into ClickHouse inserts, following ClickHouse's advice to insert in large,
 * infrequent batches rather than row by row (ClickHouse docs "Bulk inserts" / "Selecting an
 * insert strategy"). Rows are sent as JSONCompactEachRow ({@link encodeCompactRows}: one JSON
 * array of the column values per row; ClickHouse docs "Formats: JSONCompactEachRow") through
 * {@link insertCompactRows} (chDB's raw insert, or HTTP to a server). The columns are those
 * of `columns`, or else the own keys of the first row added: every row must have them all.
 *
 * An insert starts as soon as `maxRows` rows are buffered, or `maxDelayMs` after the oldest
 * buffered row was added, whichever comes first; it carries every buffered row, up to
 * `maxBatchRows` (whole groups of `maxRows`), in add order. One insert runs at a time; rows
 * added meanwhile wait for the next one (which then carries them all: batches grow with the
 * backlog). Rows added one after another share one promise (per group of up to `maxRows`), so
 * `add` costs no allocation per row. Rows are never dropped silently and never retried here: a
 * failed insert rejects the `add` promise of each of its rows (and calls `onError`), so that
 * the caller can nak the events for redelivery (inserts into a ReplacingMergeTree keyed by
 * event id are idempotent).
 *
 * The timer is not unref'd: a process with buffered rows stays alive until they are inserted;
 * call `close()` on shutdown.
 * @throws RangeError when `maxRows` is not a positive integer or `maxDelayMs` not a finite
 *   number ≥ 0.
 */
export function createBatchInserter<Row extends object>(opts: BatchInserterOptions<Row>): BatchInserter<Row> {
  const { client, table, onError } = opts;
  const maxRows = opts.maxRows ?? 1000;
  const maxDelayMs = opts.maxDelayMs ?? 1000;
  const maxBatchRows = Math.max(maxRows, opts.maxBatchRows ?? 100_000);
  if (!Number.isSafeInteger(maxRows) || maxRows < 1) throw new RangeError(`maxRows must be a positive integer, got ${maxRows}`);
  if (!Number.isFinite(maxDelayMs) || maxDelayMs < 0) throw new RangeError(`maxDelayMs must be a finite number >= 0, got ${maxDelayMs}`);

  let columns: readonly string[] | undefined = opts.columns;
  /** Chunks not yet handed to an insert, oldest first. */
  const buffer: Chunk<Row>[] = [];
  let buffered = 0;
  /** Chunks being inserted. */
  let inserting: Chunk<Row>[] = [];
  let unsettledRows = 0;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;

  function newChunk(): Chunk<Row> {
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    const settled = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
    // A rejection nobody awaits (every row's caller handled it through another reference) must
    // not become an unhandled rejection of this internal promise.
    settled.catch(() => undefined);
    return { rows: [], deadline: Date.now() + maxDelayMs, forced: false, settled, resolve, reject };
  }

  function due(now: number): boolean {
    const first = buffer[0];
    return first !== undefined && (buffered >= maxRows || first.forced || first.deadline <= now);
  }

  function armTimer(): void {
    if (timer !== undefined) { clearTimeout(timer); timer = undefined; }
    const first = buffer[0];
    if (first === undefined || inserting.length > 0) return;
    timer = setTimeout(() => { timer = undefined; pump(); }, Math.max(0, first.deadline - Date.now()));
  }

  function pump(): void {
    if (inserting.length > 0) return;
    if (!due(Date.now())) { armTimer(); return; }
    if (timer !== undefined) { clearTimeout(timer); timer = undefined; }
    const batch: Chunk<Row>[] = [];
    let rowCount = 0;
    while (buffer.length > 0 && (batch.length === 0 || rowCount + buffer[0]!.rows.length <= maxBatchRows)) {
      const c = buffer.shift()!;
      batch.push(c);
      rowCount += c.rows.length;
    }
    buffered -= rowCount;
    inserting = batch;
    const rows = batch.length === 1 ? batch[0]!.rows : batch.flatMap((c) => c.rows);
    columns ??= Object.keys(rows[0]!);
    let insert: Promise<void>;
    try {
      insert = insertCompactRows(client, table, columns, encodeCompactRows(rows, columns));
    } catch (error) {
      insert = Promise.reject(error);
    }
    insert.then(
      () => { for (const c of batch) c.resolve(); },
      (error: unknown) => {
        for (const c of batch) c.reject(error);
        try { onError?.(error, rows); } catch { /* a throwing logger must not stall the inserter */ }
      },
    ).finally(() => {
      unsettledRows -= rowCount;
      inserting = [];
      pump();
    });
  }

  async function flush(): Promise<void> {
    const waitFor = [...inserting, ...buffer].map((c) => c.settled);
    for (const c of buffer) c.forced = true;
    pump();
    const results = await Promise.allSettled(waitFor);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  return {
    add(row: Row): Promise<void> {
      if (closed) return Promise.reject(new Error(`batch inserter for ${table} is closed`));
      let chunk = buffer[buffer.length - 1];
      // A forced chunk is being flushed: rows added after the flush call start a new one.
      if (chunk === undefined || chunk.rows.length >= maxRows || chunk.forced) {
        chunk = newChunk();
        buffer.push(chunk);
      }
      chunk.rows.push(row);
      buffered++;
      unsettledRows++;
      if (buffered >= maxRows) pump();
      else if (buffered === 1 && inserting.length === 0) armTimer();
      return chunk.settled;
    },
    flush,
    async close(): Promise<void> {
      closed = true;
      await flush();
    },
    pending: () => unsettledRows,
  };
}
