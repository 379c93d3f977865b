/**
 * A durable consumer that hands events to its handler in batches, strictly in log order: what
 * the server has delivered and the client holds is taken at once (up to `maxBatch`), so a
 * consumer that has fallen behind catches up a batch per handler call, and one that keeps up
 * handles each event as it arrives. Used by projections that apply a batch in one transaction
 * (the read-model projector).
 */
import type { ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import type { DomainEvent } from '@live/events';
import { DEFAULT_BACKOFF_MS, openDurable, type DurableSetupOptions, type RunningConsumer } from './consume.js';
import { decodeOrTerminate, holdForRetry, retryDelay } from './delivery.js';

/** One decoded event of a batch, with its stream sequence (the shape `readEvents` returns). */
export interface BatchedEvent {
  readonly event: DomainEvent;
  readonly seq: number;
}

/** Options of {@link runBatchedDurableConsumer}. */
export interface BatchedConsumerOptions extends DurableSetupOptions {
  /**
   * Handles events in stream order (at least one). Must be idempotent: a batch may arrive again,
   * whole or in part, after a failure. Throwing retries the same batch in-process with backoff.
   */
  handleBatch(batch: readonly BatchedEvent[]): Promise<void>;
  /** Most events per call; default 500 (also the pull size). */
  readonly maxBatch?: number;
}

const IDLE = Symbol('idle');

/** The next message when the client already holds it (it resolves before a macrotask), else IDLE. */
function nextIfBuffered(next: Promise<IteratorResult<JsMsg>>): Promise<IteratorResult<JsMsg> | typeof IDLE> {
  return Promise.race([next, new Promise<typeof IDLE>((r) => setImmediate(() => r(IDLE)))]);
}

/**
 * Creates (or updates) a durable pull consumer (`openDurable`: explicit ack, setup retried while
 * JetStream answers with a transient failure) and consumes it in batches: each batch of decoded
 * events is handed to `handleBatch`; on success every message is acked; on failure the same
 * batch is retried in-process with backoff (`backoffMs`), extending the messages' ack deadline,
 * before any later message is handled. `stop()` lets the batch in hand finish (or naks it when
 * it is waiting to be retried) and stops pulling.
 * @throws JetStreamApiError when the stream does not exist or the consumer cannot be created.
 */
export async function runBatchedDurableConsumer(js: JetStreamClient, jsm: JetStreamManager, opts: BatchedConsumerOptions): Promise<RunningConsumer> {
  const maxBatch = Math.max(1, opts.maxBatch ?? 500);
  const backoff = opts.backoffMs ?? DEFAULT_BACKOFF_MS;
  const messages: ConsumerMessages = await openDurable(js, jsm, opts, { maxAckPending: maxBatch * 2, pullMessages: maxBatch });
  let stopping = false;
  let current: Promise<void> = Promise.resolve();

  const handle = async (msgs: readonly JsMsg[]): Promise<void> => {
    const batch: BatchedEvent[] = [];
    const live: JsMsg[] = [];
    for (const m of msgs) {
      const event = decodeOrTerminate(m, opts.logger, opts.durable);
      if (event) { batch.push({ event, seq: m.seq }); live.push(m); }
    }
    for (let attempt = 1; batch.length > 0; attempt++) {
      try {
        await opts.handleBatch(batch);
        for (const m of live) m.ack();
        return;
      } catch (err) {
        const delay = retryDelay(backoff, attempt);
        opts.logger.warn({
          err: (err as Error)?.message, fromSeq: batch[0]!.seq, toSeq: batch[batch.length - 1]!.seq, events: batch.length,
          attempt, retryInMs: delay, durable: opts.durable,
        }, 'event batch handler failed; retrying');
        // In order: hold this batch (and so every later event) until it succeeds.
        if (!(await holdForRetry(live, delay, () => stopping))) return;
      }
    }
  };

  const done = (async () => {
    const it = messages[Symbol.asyncIterator]();
    let next = it.next();
    for (;;) {
      const first = await next;
      if (first.done) return;
      const msgs = [first.value];
      next = it.next();
      let ended = false;
      while (msgs.length < maxBatch) {
        const r = await nextIfBuffered(next);
        if (r === IDLE) break;
        if (r.done) { ended = true; break; }
        msgs.push(r.value);
        next = it.next();
      }
      if (stopping) { for (const m of msgs) m.nak(); } else {
        current = handle(msgs);
        await current;
      }
      if (ended) return;
    }
  })();

  return {
    done,
    async stop() {
      stopping = true;
      await current;
      await messages.close().catch(() => undefined);
      await done.catch(() => undefined);
    },
  };
}
