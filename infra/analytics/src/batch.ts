import type { ClickHouseClient } from '@clickhouse/client';

/** Options of {@link createBatchInserter}. */
export interface BatchInserterOptions<Row> {
  /** Client the rows are inserted with; the inserter never closes it. */
  client: ClickHouseClient;
  /** Table name (optionally `database.table`), inserted into with `INSERT ... FORMAT JSONEachRow`. */
  table: string;
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
   * Always handle the returned promise (an ignored rejection is an unhandled rejection).
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

interface Entry<Row> {
  readonly row: Row;
  /** Epoch ms after which the row's batch must be inserted. */
  readonly deadline: number;
  /** Sequence number of the row in add order. */
  readonly seq: number;
  readonly settled: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * Batches rows into ClickHouse inserts, following ClickHouse's advice to insert in large,
 * infrequent batches rather than row by row (ClickHouse docs "Bulk inserts" / "Selecting an
 * insert strategy"). Rows are sent as JSONEachRow (one JSON object per row, keys = column names;
 * ClickHouse docs "Formats: JSONEachRow").
 *
 * An insert starts as soon as `maxRows` rows are buffered, or `maxDelayMs` after the oldest
 * buffered row was added, whichever comes first; it carries every buffered row, up to
 * `maxBatchRows`, in add order. One insert runs at a time; rows added meanwhile wait for the next
 * one (which then carries them all: batches grow with the backlog). Rows are
 * never dropped silently and never retried here: a failed insert rejects the `add` promise of
 * each of its rows (and calls `onError`), so that the caller can nak the events for redelivery
 * (inserts into a ReplacingMergeTree keyed by event id are idempotent).
 *
 * The timer is not unref'd: a process with buffered rows stays alive until they are inserted;
 * call `close()` on shutdown.
 * @throws RangeError when `maxRows` is not a positive integer or `maxDelayMs` not a finite
 *   number ≥ 0.
 */
export function createBatchInserter<Row>(opts: BatchInserterOptions<Row>): BatchInserter<Row> {
  const { client, table, onError } = opts;
  const maxRows = opts.maxRows ?? 1000;
  const maxDelayMs = opts.maxDelayMs ?? 1000;
  const maxBatchRows = Math.max(maxRows, opts.maxBatchRows ?? 100_000);
  if (!Number.isSafeInteger(maxRows) || maxRows < 1) throw new RangeError(`maxRows must be a positive integer, got ${maxRows}`);
  if (!Number.isFinite(maxDelayMs) || maxDelayMs < 0) throw new RangeError(`maxDelayMs must be a finite number >= 0, got ${maxDelayMs}`);

  const buffer: Entry<Row>[] = [];
  const unsettled = new Set<Entry<Row>>();
  let nextSeq = 0;
  /** Rows with `seq` below this must be inserted without waiting (flush requested). */
  let forceBelow = 0;
  let inserting = false;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;

  function due(now: number): boolean {
    const first = buffer[0];
    return first !== undefined && (buffer.length >= maxRows || first.seq < forceBelow || first.deadline <= now);
  }

  function armTimer(): void {
    if (timer !== undefined) { clearTimeout(timer); timer = undefined; }
    const first = buffer[0];
    if (first === undefined || inserting) return;
    timer = setTimeout(() => { timer = undefined; pump(); }, Math.max(0, first.deadline - Date.now()));
  }

  function pump(): void {
    if (inserting) return;
    if (!due(Date.now())) { armTimer(); return; }
    inserting = true;
    if (timer !== undefined) { clearTimeout(timer); timer = undefined; }
    const batch = buffer.splice(0, maxBatchRows);
    const rows = batch.map((e) => e.row);
    client.insert({ table, values: rows, format: 'JSONEachRow' }).then(
      () => { for (const e of batch) e.resolve(); },
      (error: unknown) => {
        for (const e of batch) e.reject(error);
        try { onError?.(error, rows); } catch { /* a throwing logger must not stall the inserter */ }
      },
    ).finally(() => {
      for (const e of batch) unsettled.delete(e);
      inserting = false;
      pump();
    });
  }

  async function flush(): Promise<void> {
    const waitFor = [...unsettled].map((e) => e.settled);
    forceBelow = nextSeq;
    pump();
    const results = await Promise.allSettled(waitFor);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  return {
    add(row: Row): Promise<void> {
      if (closed) return Promise.reject(new Error(`batch inserter for ${table} is closed`));
      let resolve!: () => void;
      let reject!: (error: unknown) => void;
      const settled = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
      const entry: Entry<Row> = { row, deadline: Date.now() + maxDelayMs, seq: nextSeq++, settled, resolve, reject };
      buffer.push(entry);
      unsettled.add(entry);
      if (buffer.length >= maxRows) pump();
      else if (buffer.length === 1 && !inserting) armTimer();
      return settled;
    },
    flush,
    async close(): Promise<void> {
      closed = true;
      await flush();
    },
    pending: () => unsettled.size,
  };
}
