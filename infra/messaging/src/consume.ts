import { AckPolicy, DeliverPolicy, type ConsumerConfig, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { decodeEvent, type DomainEvent } from '@live/events';
import type { Logger } from 'pino';
import { FOLLOW_PULL, logRecoveries } from './follow.js';
import { isConsumerNotFound } from './errors.js';
import { retryTransient } from './transient.js';
import { decodeOrTerminate, holdForRetry, retryDelay } from './delivery.js';

/** Options of a durable pull consumer run by {@link runDurableConsumer}. */
export interface DurableConsumerOptions {
  /** Stream name, e.g. `EVENTS`. */
  readonly stream: string;
  /** Durable name; one name = one shared position in the log (e.g. `lifecycle`, `projector-sessions`). */
  readonly durable: string;
  /** Subject filter, e.g. `evt.stream.*`. */
  readonly filterSubject: string;
  /**
   * Handles one decoded event. Must be idempotent: the same event may arrive again after a
   * failure or a replay. Throwing naks the message with backoff.
   */
  handle(event: DomainEvent, info: { streamSequence: number; deliveryCount: number }): Promise<void>;
  readonly logger: Logger;
  /**
   * Messages handled at once; default 1, which is strictly in log order: a failed message is
   * retried in-process with backoff (extending its ack deadline) before any later message is
   * handled. With more than 1, a failed message is nak'ed and redelivered by the server later.
   */
  readonly concurrency?: number;
  /** Milliseconds the server waits for an ack before redelivering; default 30 000. */
  readonly ackWaitMs?: number;
  /** Nak delays in milliseconds by delivery attempt; default 1 s, 2 s, 5 s, 10 s, 30 s. */
  readonly backoffMs?: readonly number[];
  /** Deliveries before the server stops redelivering; default 20. */
  readonly maxDeliver?: number;
}

/** The setup options a durable consumer shares with {@link runBatchedDurableConsumer}. */
export type DurableSetupOptions = Pick<DurableConsumerOptions, 'stream' | 'durable' | 'filterSubject' | 'logger' | 'ackWaitMs' | 'backoffMs' | 'maxDeliver'>;

/** Default nak/retry delays by attempt, ms. */
export const DEFAULT_BACKOFF_MS: readonly number[] = [1000, 2000, 5000, 10_000, 30_000];


/** Creates the durable consumer, or updates the fields a restart may change when it exists. */
async function addOrUpdateConsumer(jsm: JetStreamManager, stream: string, config: Partial<ConsumerConfig> & { durable_name: string }): Promise<void> {
  try {
    await jsm.consumers.info(stream, config.durable_name);
  } catch (err) {
    if (!isConsumerNotFound(err)) throw err;
    await jsm.consumers.add(stream, config);
    return;
  }
  await jsm.consumers.update(stream, config.durable_name, {
    ack_wait: config.ack_wait, max_deliver: config.max_deliver, filter_subject: config.filter_subject, max_ack_pending: config.max_ack_pending,
  });
}

/** A running consumer; `stop()` lets in-flight handlers finish and stops fetching. */
export interface RunningConsumer {
  stop(): Promise<void>;
  /** Resolves when the loop has ended. */
  readonly done: Promise<void>;
}

/**
 * Creates or updates the durable consumer (explicit ack, deliver all, `ackWaitMs` default 30 s,
 * `maxDeliver` default 20), retried while JetStream answers with a transient failure, and
 * starts consuming it in pulls of `pullMessages` with short expiries and idle heartbeats (as
 * followSubject's: a consumer whose leader died resumes within seconds).
 * @throws JetStreamApiError when the stream does not exist or the consumer cannot be created.
 */
export async function openDurable(
  js: JetStreamClient,
  jsm: JetStreamManager,
  opts: DurableSetupOptions,
  flow: { maxAckPending: number; pullMessages: number },
): Promise<ConsumerMessages> {
  const config = {
    durable_name: opts.durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    filter_subject: opts.filterSubject,
    ack_wait: (opts.ackWaitMs ?? 30_000) * 1e6,
    max_deliver: opts.maxDeliver ?? 20,
    max_ack_pending: flow.maxAckPending,
  };
  // At start a cluster may still be electing its leaders, or answer late under load: retried.
  const consumer = await retryTransient(async () => {
    await addOrUpdateConsumer(jsm, opts.stream, config);
    return js.consumers.get(opts.stream, opts.durable);
  }, { what: `consumer ${opts.durable} on ${opts.stream}`, logger: opts.logger });
  const messages = await consumer.consume({ max_messages: flow.pullMessages, expires: FOLLOW_PULL.expires, idle_heartbeat: FOLLOW_PULL.idle_heartbeat });
  logRecoveries(messages, opts.logger.child({ durable: opts.durable }));
  return messages;
}

/**
 * Creates (or updates) a durable pull consumer with explicit ack, then consumes it: each
 * message is decoded with `decodeEvent` and handed to `handle` with bounded concurrency; ack on
 * success; on failure, retry in-process with backoff when ordered (concurrency 1), else nak with
 * backoff; a message that is not a valid event is logged and
 * terminated (`term`) so that it cannot block the log. (nats.js JetStream README, "Consumers".)
 * Setting the consumer up is retried while JetStream answers with a transient failure (a
 * timeout, no responders, cluster not available: {@link retryTransient}), for up to 2 minutes.
 * @throws JetStreamApiError when the stream does not exist or the consumer cannot be created.
 */
export async function runDurableConsumer(
  js: JetStreamClient,
  jsm: JetStreamManager,
  opts: DurableConsumerOptions,
): Promise<RunningConsumer> {
  const backoff = opts.backoffMs ?? DEFAULT_BACKOFF_MS;
  const concurrency = Math.max(1, opts.concurrency ?? 1);
  const ordered = concurrency === 1;
  const messages = await openDurable(js, jsm, opts, { maxAckPending: Math.max(16, concurrency * 4), pullMessages: concurrency * 2 });
  const inFlight = new Set<Promise<void>>();
  let stopping = false;

  const handleOne = async (m: JsMsg): Promise<void> => {
    const event = decodeOrTerminate(m, opts.logger, opts.durable);
    if (!event) return;
    for (let attempt = 1; ; attempt++) {
      try {
        await opts.handle(event, { streamSequence: m.seq, deliveryCount: m.info.deliveryCount + attempt - 1 });
        m.ack();
        return;
      } catch (err) {
        const delay = retryDelay(backoff, attempt);
        opts.logger.warn({ err: (err as Error)?.message, eventType: event.type, seq: m.seq, attempt, retryInMs: delay, durable: opts.durable }, 'event handler failed; retrying');
        if (!ordered || stopping) {
          m.nak(delay);
          return;
        }
        // In order: hold this message (and so every later one) until it succeeds.
        if (!(await holdForRetry([m], delay, () => stopping))) return;
      }
    }
  };

  const done = (async () => {
    for await (const m of messages) {
      if (stopping) { m.nak(); continue; }
      const p = handleOne(m).finally(() => inFlight.delete(p));
      inFlight.add(p);
      if (inFlight.size >= concurrency) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
  })();

  return {
    done,
    async stop() {
      stopping = true;
      await Promise.all(inFlight);
      await messages.close().catch(() => undefined);
      await done.catch(() => undefined);
    },
  };
}

/**
 * Reads every stored event whose subject matches `filterSubject`, from the start, without a
 * durable consumer (an ordered ephemeral consumer). For tools and tests: a stream's history.
 * @returns the decoded events with their stream sequences, in log order.
 * @throws EventDecodeError when a stored message is not a valid event.
 */
export async function readEvents(
  js: JetStreamClient,
  stream: string,
  filterSubject: string,
): Promise<Array<{ seq: number; event: DomainEvent }>> {
  // A single string is sent as `filter_subject`, which nats-server 2.9 (Debian bookworm) supports.
  const consumer = await js.consumers.get(stream, { filter_subjects: filterSubject });
  const info = await consumer.info(true);
  const total = info.num_pending;
  const out: Array<{ seq: number; event: DomainEvent }> = [];
  if (total === 0) return out;
  const messages = await consumer.consume();
  for await (const m of messages) {
    out.push({ seq: m.seq, event: decodeEvent(m.json()) });
    if (m.info.pending === 0) break;
  }
  await messages.close().catch(() => undefined);
  return out;
}
