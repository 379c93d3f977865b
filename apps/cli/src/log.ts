/**
 * Reading a JetStream stream in log order for the CLI: where to start (`--from`), and a reader on
 * an ephemeral ordered consumer that pulls in large batches and can be read up to a sequence,
 * then further once more has been appended (a replay catches up with the live log).
 */
import type { JsMsg } from '@nats-io/jetstream';
import type { Messaging } from '@live/messaging';

/** Where a read starts: a stream sequence (≥ 1) or the first message stored at or after a time. */
export type LogPosition = { readonly kind: 'seq'; readonly seq: number } | { readonly kind: 'time'; readonly time: Date };

/**
 * Parses a `--from` value: a positive integer is a stream sequence, anything that starts like an
 * ISO-8601 date (`2025-06-01`, `2025-06-01T12:00:00Z`, `2025-06-01T14:00:00+02:00`) is a time.
 * A date-time without a zone is read as UTC.
 * @throws RangeError with a one-line message when the value is neither.
 */
export function parseLogPosition(value: string): LogPosition {
  const v = value.trim();
  if (/^\d+$/.test(v)) {
    const seq = Number(v);
    if (!Number.isSafeInteger(seq) || seq < 1) throw new RangeError(`a stream sequence must be a positive integer, got ${value}`);
    return { kind: 'seq', seq };
  }
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}:?\d{2})?$/i.test(v)) {
    const zoned = /(Z|[+-]\d{2}:?\d{2})$/i.test(v) || !/[T ]/i.test(v) ? v : `${v}Z`;
    const ms = Date.parse(zoned.replace(' ', 'T'));
    if (Number.isFinite(ms)) return { kind: 'time', time: new Date(ms) };
  }
  throw new RangeError(`expected a stream sequence (e.g. 1200) or an ISO-8601 time (e.g. 2025-06-01T12:00:00Z), got ${JSON.stringify(value)}`);
}

/** Stored-message bounds of a stream: first and last sequence (last < first when it is empty). */
export interface StreamBounds {
  readonly firstSeq: number;
  readonly lastSeq: number;
}

/**
 * The stream's current first and last sequence (JetStream stream info `state`).
 * @throws the nats.js error when the stream does not exist or the server does not answer.
 */
export async function streamBounds(m: Messaging, stream: string): Promise<StreamBounds> {
  const info = await m.jsm.streams.info(stream);
  return { firstSeq: info.state.first_seq, lastSeq: info.state.last_seq };
}

/**
 * Turns a {@link LogPosition} into the first stream sequence to read: a sequence as given (at
 * least the stream's first); a time as the sequence of the first message matching `filter`
 * stored at or after it, or the stream's last sequence + 1 when there is none (nothing to read).
 * `null` means "from the beginning" (the stream's first stored sequence).
 * @throws the nats.js error when the stream does not exist or the server does not answer.
 */
export async function resolveStartSequence(m: Messaging, stream: string, filter: string, from: LogPosition | null): Promise<number> {
  const bounds = await streamBounds(m, stream);
  const first = Math.max(1, bounds.firstSeq);
  if (from === null) return first;
  if (from.kind === 'seq') return Math.max(first, from.seq);
  const consumer = await m.js.consumers.get(stream, { filter_subjects: filter, opt_start_time: from.time.toISOString() });
  try {
    const info = await consumer.info(true);
    if (info.num_pending === 0) return bounds.lastSeq + 1;
    const msg = await consumer.next({ expires: 5000 });
    return msg ? msg.seq : bounds.lastSeq + 1;
  } finally {
    await consumer.delete().catch(() => undefined);
  }
}

/** One stored message as the reader hands it out. */
export interface LogMessage {
  readonly seq: number;
  readonly subject: string;
  /** When JetStream stored it. */
  readonly time: Date;
  /** Messages matching the filter stored after this one when it was delivered. */
  readonly pending: number;
  /** The raw message (for `json()`, headers). */
  readonly msg: JsMsg;
}

/** A reader over one stream from a start sequence, in stream order; see {@link openLogReader}. */
export interface LogReader {
  /** Messages matching the filter from the start sequence to the end of the stream when opened. */
  readonly total: number;
  /** Sequence of the last message handed out (start − 1 before the first). */
  readonly lastSeq: number;
  /**
   * Hands every message with a sequence up to `seq` to `onMessage`, in order, awaiting each
   * call; returns when the message at `seq` (or, when `seq` is not stored for this filter, the
   * last one stored when it was delivered) has been handled. At once when `lastSeq >= seq`.
   * @throws what `onMessage` throws, or the nats.js error when the consumer fails for good.
   */
  readUntil(seq: number, onMessage: (m: LogMessage) => Promise<void> | void, signal?: AbortSignal): Promise<void>;
  /** Stops pulling and deletes the consumer. Never throws. */
  close(): Promise<void>;
}

/**
 * Opens an ephemeral ordered consumer (ack policy none; the nats.js client recreates it at its
 * cursor after a gap) on `stream` filtered by `filter`, starting at `startSeq`, pulling up to
 * up to `batchBytes` per pull request (default 16 MiB: large pulls keep a replay fed, about
 * 10,000 typical events, while memory stays bounded however large single messages are).
 * @throws the nats.js error when the consumer cannot be created.
 */
export async function openLogReader(m: Messaging, opts: { stream: string; filter: string; startSeq: number; batchBytes?: number }): Promise<LogReader> {
  const consumer = await m.js.consumers.get(opts.stream, { filter_subjects: opts.filter, opt_start_seq: Math.max(1, opts.startSeq) });
  const info = await consumer.info(true);
  const total = info.num_pending;
  let lastSeq = opts.startSeq - 1;
  let lastPending = total;
  let iterator: AsyncIterator<JsMsg> | undefined;
  let messages: Awaited<ReturnType<typeof consumer.consume>> | undefined;
  let closed = false;

  return {
    total,
    get lastSeq() {
      return lastSeq;
    },
    async readUntil(seq, onMessage, signal) {
      if (lastSeq >= seq) return;
      if (!iterator) {
        messages = await consumer.consume({ max_bytes: opts.batchBytes ?? 16 * 1024 * 1024 });
        iterator = messages[Symbol.asyncIterator]();
      }
      for (;;) {
        if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
        // Nothing matching was stored after the last delivery when it was delivered: wait only
        // when something up to `seq` has been stored since (a deleted or non-matching tail
        // would otherwise be waited for forever).
        if (lastPending === 0 && !(await storedAfter(m, opts.stream, opts.filter, lastSeq, seq))) return;
        const next = await abortable(iterator.next(), signal);
        if (next.done) throw new Error(`the ${opts.stream} consumer stopped before sequence ${seq}${closed ? ' (closed)' : ''}`);
        const msg = next.value;
        lastSeq = msg.seq;
        lastPending = msg.info.pending;
        await onMessage({ seq: msg.seq, subject: msg.subject, time: msg.time, pending: msg.info.pending, msg });
        if (msg.seq >= seq) return;
      }
    },
    async close() {
      closed = true;
      if (messages && iterator) {
        // `close()` resolves only once the iterator has consumed its stop marker: stop, then
        // drain what is still buffered (bounded by a deadline).
        messages.stop();
        const deadline = Date.now() + 2000;
        const it = iterator;
        for (;;) {
          const r = await Promise.race([it.next().catch(() => ({ done: true as const, value: undefined })), sleep(Math.max(0, deadline - Date.now()))]);
          if (!r || r.done) break;
        }
      } else {
        await messages?.close().catch(() => undefined);
      }
      await consumer.delete().catch(() => undefined);
    },
  };
}

/**
 * Whether any message matching `filter` is stored in (after, upTo]: checks a stream whose tail
 * was deleted (the reader then stops at the last stored message instead of waiting).
 */
async function storedAfter(m: Messaging, stream: string, filter: string, after: number, upTo: number): Promise<boolean> {
  const c = await m.js.consumers.get(stream, { filter_subjects: filter, opt_start_seq: after + 1 });
  try {
    const info = await c.info(true);
    if (info.num_pending === 0) return false;
    const first = await c.next({ expires: 2000 });
    return first !== null && first.seq <= upTo;
  } finally {
    await c.delete().catch(() => undefined);
  }
}

/** Resolves or rejects with `p`, or rejects with the signal's reason as soon as it aborts. */
function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Resolves with undefined after `ms` (an unref'd timer: it never keeps the process alive). */
function sleep(ms: number): Promise<undefined> {
  return new Promise((resolve) => setTimeout(() => resolve(undefined), ms).unref());
}
