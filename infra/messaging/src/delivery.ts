/**
 * What the durable consumers (consume.ts, consume-batch.ts) do with a delivered message besides
 * handing it over: decode it or terminate it, and hold it in order while its handler is
 * retried. Internal to this package (not exported by index.ts).
 */
import type { JsMsg } from '@nats-io/jetstream';
import type { Logger } from 'pino';
import { decodeEvent, type DomainEvent } from '@live/events';

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * The event in `m`, or null when it is not a valid event: then it is logged and terminated
 * (`term`) so that it cannot block the log. No reason argument: `+TERM <reason>` needs
 * nats-server 2.10.4+; the reason is logged.
 */
export function decodeOrTerminate(m: JsMsg, logger: Logger, durable: string): DomainEvent | null {
  try {
    return decodeEvent(m.json());
  } catch (err) {
    logger.error({ err: String(err), seq: m.seq, subject: m.subject, durable }, 'undecodable event terminated');
    m.term();
    return null;
  }
}

/** The delay before retry `attempt` (1-based), ms: `backoff`'s entry, its last one beyond it. */
export function retryDelay(backoff: readonly number[], attempt: number): number {
  return backoff[Math.min(attempt - 1, backoff.length - 1)] ?? 1000;
}

/**
 * Holds `msgs` (and so, in order, every later message) for `delayMs` before their handler is
 * retried: their ack deadline is extended before and after the wait.
 * @returns false when `stopping()` says the consumer stops: the messages are then nak'ed
 *   for redelivery and must not be retried here.
 */
export async function holdForRetry(msgs: readonly JsMsg[], delayMs: number, stopping: () => boolean): Promise<boolean> {
  if (!stopping()) {
    for (const m of msgs) m.working();
    await sleep(delayMs);
  }
  if (stopping()) {
    for (const m of msgs) m.nak();
    return false;
  }
  for (const m of msgs) m.working();
  return true;
}
