import type { ClickHouseClient } from '@clickhouse/client';
import { insertCompactRows } from './insert.js';

/** Options of {@link createBatchInserter}. */
export interface BatchInserterOptions {
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
   * Least milliseconds between the starts of two inserts triggered by `maxRows`. Default 200.
   * Under a backlog (a replay) rows then gather into inserts of several thousand rows, which
   * chDB writes at a third of the CPU per row of 1,000-row inserts (measured: 15.6 µs/row at
   * 1,000 rows, 5.2 at 10,000, 3.8 at 100,000), while a live flow below `maxRows` per interval
   * is inserted as before.
   */
  minIntervalMs?: number;
  /**
   * Called once per failed insert with the ClickHouse error and the number of rows of that
   * insert (for logging and metrics), in addition to the rejection of those rows' `add` promises.
   */
  onError?: (error: unknown, rowCount: number) => void;
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
 * by the same insert, so one promise serves them all (no promise per row). The rows are kept
 * encoded (JSONCompactEachRow lines in a Buffer outside the JavaScript heap), not as objects,
 * so that a backlog of buffered rows costs the garbage collector nothing.
 */
interface Chunk {
  buf: Buffer;
  /** Bytes of `buf` in use. */
  bytes: number;
  rows: number;
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
 * insert strategy"). Rows are encoded when added, as JSONCompactEachRow (one JSON
 * array of the column values per row; ClickHouse docs "Formats: JSONCompactEachRow") through
 * {@link insertCompactRows} (chDB's raw insert, or HTTP to a server). The columns are those
 * of `columns`, or else the own keys of the first row added: every row must have them all.
 *
 * An insert starts as soon as `maxRows` rows are buffered (but not sooner than `minIntervalMs`
 * after the previous one started), or `maxDelayMs` after the oldest buffered row was added,
 * whichever comes first; it carries every buffered row, up to
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
export function createBatchInserter<Row extends object>(opts: BatchInserterOptions): BatchInserter<Row> {
  const { client, table, onError } = opts;
  const maxRows = opts.maxRows ?? 1000;
  const maxDelayMs = opts.maxDelayMs ?? 1000;
  const maxBatchRows = Math.max(maxRows, opts.maxBatchRows ?? 100_000);
  const minIntervalMs = opts.minIntervalMs ?? 200;
  if (!Number.isSafeInteger(maxRows) || maxRows < 1) throw new RangeError(`maxRows must be a positive integer, got ${maxRows}`);
  if (!Number.isFinite(maxDelayMs) || maxDelayMs < 0) throw new RangeError(`maxDelayMs must be a finite number >= 0, got ${maxDelayMs}`);

  let columns: readonly string[] | undefined = opts.columns;
  /** Chunks not yet handed to an insert, oldest first. */
  const buffer: Chunk[] = [];
  let buffered = 0;
  /** Chunks being inserted. */
  let inserting: Chunk[] = [];
  /** Reused array of one row's column values while it is encoded. */
  let values: unknown[] = [];
  let unsettledRows = 0;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  /** When the last insert started (performance.now() ms). */
  let lastStart = Number.NEGATIVE_INFINITY;

  function newChunk(): Chunk {
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    const settled = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
    // A rejection nobody awaits (every row's caller handled it through another reference) must
    // not become an unhandled rejection of this internal promise.
    settled.catch(() => undefined);
    return { buf: Buffer.allocUnsafe(64 * 1024), bytes: 0, rows: 0, deadline: Date.now() + maxDelayMs, forced: false, settled, resolve, reject };
  }

  function due(): boolean {
    const first = buffer[0];
    return first !== undefined
      && ((buffered >= maxRows && performance.now() - lastStart >= minIntervalMs) || first.forced || first.deadline <= Date.now());
  }

  function armTimer(): void {
    if (timer !== undefined) { clearTimeout(timer); timer = undefined; }
    const first = buffer[0];
    if (first === undefined || inserting.length > 0) return;
    let wait = first.deadline - Date.now();
    if (buffered >= maxRows) wait = Math.min(wait, lastStart + minIntervalMs - performance.now());
    timer = setTimeout(() => { timer = undefined; pump(); }, Math.max(0, wait));
  }

  function pump(): void {
    if (inserting.length > 0) return;
    if (!due()) { armTimer(); return; }
    if (timer !== undefined) { clearTimeout(timer); timer = undefined; }
    lastStart = performance.now();
    const batch: Chunk[] = [];
    let rowCount = 0;
    while (buffer.length > 0 && (batch.length === 0 || rowCount + buffer[0]!.rows <= maxBatchRows)) {
      const c = buffer.shift()!;
      batch.push(c);
      rowCount += c.rows;
    }
    buffered -= rowCount;
    inserting = batch;
    const payload = batch.length === 1 ? batch[0]!.buf.subarray(0, batch[0]!.bytes) : Buffer.concat(batch.map((c) => c.buf.subarray(0, c.bytes)));
    let insert: Promise<void>;
    try {
      insert = insertCompactRows(client, table, columns!, payload);
    } catch (error) {
      insert = Promise.reject(error);
    }
    insert.then(
      () => { for (const c of batch) c.resolve(); },
      (error: unknown) => {
        for (const c of batch) c.reject(error);
        try { onError?.(error, rowCount); } catch { /* a throwing logger must not stall the inserter */ }
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
      columns ??= Object.keys(row);
      const n = columns.length;
      if (values.length !== n) values = new Array<unknown>(n);
      for (let i = 0; i < n; i++) values[i] = (row as Record<string, unknown>)[columns[i]!];
      let line: string;
      try {
        line = JSON.stringify(values);
      } catch (error) {
        return Promise.reject(error); // e.g. a BigInt value: this row only
      }
      let chunk = buffer[buffer.length - 1];
      // A forced chunk is being flushed: rows added after the flush call start a new one.
      if (chunk === undefined || chunk.rows >= maxRows || chunk.forced) {
        chunk = newChunk();
        buffer.push(chunk);
      }
      // UTF-8 takes at most 3 bytes per UTF-16 code unit, plus the newline.
      const room = chunk.bytes + 3 * line.length + 1;
      if (room > chunk.buf.length) {
        const grown = Buffer.allocUnsafe(Math.max(room, 2 * chunk.buf.length));
        chunk.buf.copy(grown, 0, 0, chunk.bytes);
        chunk.buf = grown;
      }
      chunk.bytes += chunk.buf.write(line, chunk.bytes);
      chunk.buf[chunk.bytes++] = 0x0a;
      chunk.rows++;
      buffered++;
      unsettledRows++;
      if (buffered === maxRows) pump();
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
