import type { Logger } from 'pino';
import type { JsMsg } from '@nats-io/jetstream';
import type { Messaging } from './connection.js';
import { retryTransient } from './transient.js';

type OrderedConsumer = Awaited<ReturnType<Messaging['js']['consumers']['get']>>;
type ConsumerMessages = Awaited<ReturnType<OrderedConsumer['consume']>>;

/** Options of {@link followSubject}. */
export interface FollowOptions {
  /** Stream name, e.g. `CHAT`. */
  readonly stream: string;
  /** One filter subject (nats-server 2.9 takes one per consumer), e.g. `chat.demo`. */
  readonly filter: string;
  /**
   * Where to start: `'end'` = only messages stored after the follower opens; a number = the
   * first stream sequence to deliver (1 = everything stored).
   */
  readonly from: 'end' | number;
  readonly logger: Logger;
  /** Delays before recreating a consumer whose iterator ended, ms, by attempt (default 250, 500, 1000, 2000, 5000). */
  readonly retryDelaysMs?: readonly number[];
  /**
   * Called for each message in stream order, synchronously; a throw is logged and the message
   * skipped. Never called twice for one sequence, including across consumer re-creations.
   */
  onMessage(msg: JsMsg): void;
  /**
   * Called once, when every message stored at open time has been delivered (at once when there
   * were none). Live messages follow.
   */
  onCaughtUp?(): void;
}

/** A running follower. */
export interface Follower {
  /** The next stream sequence it will deliver. */
  readonly nextSeq: number;
  /** Stops following and deletes the consumer. Never throws. */
  close(): Promise<void>;
}

const RETRY_DELAYS_MS = [250, 500, 1000, 2000, 5000];

/**
 * Pull settings of the followers and the durable consumers (nats.js `consume`): pulls that expire
 * after 3 s with an idle heartbeat every second. nats.js resets a consumer after two missed
 * heartbeats and, while the server cannot answer for it (a JetStream leader election), retries
 * every `expires`; both bound how long a consumer stays silent after its nats-server died.
 */
export const FOLLOW_PULL = { max_messages: 256, expires: 3_000, idle_heartbeat: 1_000 } as const;

/**
 * Follows one subject of a stream with an ephemeral ordered consumer (ack policy none; the
 * nats.js client recreates it after a gap), and when its message iterator ends anyway (the
 * connection was closed, the consumer was lost for good) recreates it with backoff from the
 * sequence after the last message delivered, so nothing stored meanwhile is missed and nothing
 * is delivered twice. For per-process views of the log (a chat gateway's rooms, an ingest
 * node's control events); shared projections use durable consumers instead.
 * Opening the first consumer is retried for up to a minute while JetStream answers with a
 * transient failure ({@link retryTransient}).
 * @throws the nats.js error when the first consumer cannot be created (no stream, no server).
 */
export async function followSubject(m: Messaging, opts: FollowOptions): Promise<Follower> {
  const stopper = new AbortController();
  let nextSeq = 0;
  let caughtUp = false;
  let current: { consumer: OrderedConsumer; messages: ConsumerMessages; touch?: () => void } | undefined;
  const log = opts.logger.child({ stream: opts.stream, filter: opts.filter });

  const caughtUpNow = (): void => {
    if (caughtUp) return;
    caughtUp = true;
    try {
      opts.onCaughtUp?.();
    } catch (err) {
      log.error({ err }, 'follow: onCaughtUp failed');
    }
  };

  const open = async (startSeq: number | 'end'): Promise<void> => {
    const info = await m.jsm.streams.info(opts.stream);
    const end = info.state.last_seq + 1;
    // A cursor past the end means the stream was purged or recreated: start at its end.
    const start = startSeq === 'end' ? end : Math.min(Math.max(1, startSeq), end);
    // The explicit start sequence (not deliver policy `new`): the ordered consumer recreates
    // itself at its cursor + 1, which with policy `new` is 0 until a first message arrives.
    const consumer = await m.js.consumers.get(opts.stream, { filter_subjects: opts.filter, opt_start_seq: start });
    const ci = await consumer.info(true);
    nextSeq = start;
    if (ci.num_pending === 0) caughtUpNow();
    // Short pulls with idle heartbeats: a consumer lost on the server (its nats-server died) is
    // noticed after two missed heartbeats, and nats.js waits `expires` between attempts to find
    // it again, so both stay short.
    const messages = await consumer.consume(FOLLOW_PULL);
    current = { consumer, messages };
    logRecoveries(messages, log);
    // An ordered consumer is R1: when its nats-server dies, nats.js keeps asking for it (the info
    // request times out instead of answering "not found") until that server returns. Recreated
    // here, from the cursor, it lands on a live server.
    current.touch = watchSilence(messages, () => {
      log.warn({ nextSeq, silentMs: RECREATE_AFTER_SILENCE_MS }, 'follow: consumer silent; recreating it');
      messages.stop();
    });
  };

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      if (stopper.signal.aborted) return resolve();
      const done = (): void => {
        clearTimeout(t);
        stopper.signal.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, ms);
      stopper.signal.addEventListener('abort', done, { once: true });
    });

  await retryTransient(() => open(opts.from), { what: `follow ${opts.filter} on ${opts.stream}`, logger: log, deadlineMs: 60_000 });

  const run = async (): Promise<void> => {
    for (let attempt = 0; !stopper.signal.aborted; ) {
      if (current) {
        try {
          for await (const msg of current.messages) {
            current.touch?.();
            if (msg.seq < nextSeq) continue; // already delivered before a re-creation
            nextSeq = msg.seq + 1;
            attempt = 0;
            try {
              opts.onMessage(msg);
            } catch (err) {
              log.error({ err, seq: msg.seq }, 'follow: handling a message failed');
            }
            if (msg.info.pending === 0) caughtUpNow();
          }
          if (stopper.signal.aborted) return;
          log.warn({ nextSeq }, 'follow: consumer ended; recreating it');
        } catch (err) {
          if (stopper.signal.aborted) return;
          log.warn({ err: (err as Error).message, nextSeq }, 'follow: consumer failed; recreating it');
        }
        const old = current;
        current = undefined;
        void old.consumer.delete().catch(() => undefined);
      }
      const delays = opts.retryDelaysMs ?? RETRY_DELAYS_MS;
      await sleep(delays[Math.min(attempt, delays.length - 1)] ?? 1000);
      attempt++;
      if (stopper.signal.aborted) return;
      try {
        await open(nextSeq);
        if (stopper.signal.aborted) break;
        log.info({ nextSeq, attempt }, 'follow: consumer recreated');
      } catch (err) {
        log.warn({ err: (err as Error).message, attempt }, 'follow: could not recreate the consumer; retrying');
      }
    }
  };
  const done = run();

  let closing: Promise<void> | undefined;
  return {
    get nextSeq() {
      return nextSeq;
    },
    close() {
      closing ??= (async () => {
        stopper.abort();
        const c = current;
        await c?.messages.close().catch(() => undefined);
        await done.catch(() => undefined);
        await c?.consumer.delete().catch(() => undefined);
        await current?.messages.close().catch(() => undefined);
        await current?.consumer.delete().catch(() => undefined);
      })();
      return closing;
    },
  };
}

/**
 * How long a follower's consumer may stay silent (no message and no idle heartbeat, which come
 * every second while idle, {@link FOLLOW_PULL}) before the follower recreates it, ms.
 */
export const RECREATE_AFTER_SILENCE_MS = 5_000;

/**
 * Calls `onSilent` once when `messages` has had neither a message (reported with the returned
 * `touch`) nor an idle heartbeat for {@link RECREATE_AFTER_SILENCE_MS}; stops watching when the
 * iterator ends.
 */
function watchSilence(messages: ConsumerMessages, onSilent: () => void): () => void {
  let last = Date.now();
  const touch = (): void => { last = Date.now(); };
  const timer = setInterval(() => {
    if (Date.now() - last < RECREATE_AFTER_SILENCE_MS) return;
    clearInterval(timer);
    onSilent();
  }, 1000);
  timer.unref();
  void (async () => {
    for await (const n of messages.status()) if (n.type === 'heartbeat') touch();
  })().catch(() => undefined).finally(() => clearInterval(timer));
  void messages.closed().finally(() => clearInterval(timer));
  return touch;
}

/** nats.js consumer notifications worth an operator's line: the consumer went silent, was lost or was recreated. */
const RECOVERY_NOTIFICATIONS = new Set(['heartbeats_missed', 'consumer_not_found', 'stream_not_found', 'consumer_deleted', 'no_responders', 'ordered_consumer_recreated', 'reset']);

/** A notification type logged again within this many ms is counted, not logged (`repeated` on the next line). */
const RECOVERY_LOG_WINDOW_MS = 10_000;

/**
 * Logs, at info, how a consumer recovers from the loss of its nats-server (missed heartbeats,
 * not found, no responders, recreated), from nats.js' status notifications: one line per type
 * per {@link RECOVERY_LOG_WINDOW_MS}, with how many were not logged since. Ends with the iterator.
 */
export function logRecoveries(messages: ConsumerMessages, log: Logger): void {
  const last = new Map<string, { at: number; suppressed: number }>();
  void (async () => {
    for await (const n of messages.status()) {
      if (!RECOVERY_NOTIFICATIONS.has(n.type)) continue;
      const now = Date.now();
      const seen = last.get(n.type);
      if (seen && now - seen.at < RECOVERY_LOG_WINDOW_MS) {
        seen.suppressed += 1;
        continue;
      }
      last.set(n.type, { at: now, suppressed: 0 });
      log.info({ notification: n, repeated: seen?.suppressed ?? 0 }, `consumer: ${n.type}`);
    }
  })().catch(() => undefined);
}
