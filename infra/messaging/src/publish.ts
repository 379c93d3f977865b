import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { EventEnvelope } from '@live/events';

/**
 * Thrown when a publish carried an expected last subject sequence and the subject had moved on
 * (JetStream API error 10071, "wrong last sequence"): another writer changed the aggregate.
 */
export class ConcurrencyError extends Error {
  override readonly name = 'ConcurrencyError';
  constructor(readonly subject: string, readonly expectedSequence: number, cause?: unknown) {
    super(`concurrent write on ${subject}: expected last sequence ${expectedSequence}`, { cause });
  }
}

/** Where an event landed in the stream. `duplicate` is true when the msgID was already stored. */
export interface AppendResult {
  readonly stream: string;
  readonly seq: number;
  readonly duplicate: boolean;
}

/** JetStream API error code for "wrong last sequence" (nats-server `JSStreamWrongLastSequenceErrF`). */
export const JS_WRONG_LAST_SEQUENCE = 10071;

/**
 * Appends an event to JetStream under `event.subject`, with `Nats-Msg-Id = event.id` so a
 * retried publish is stored once, and — for aggregates — the expected last sequence of the
 * subject (0 = the subject must be empty).
 * @throws ConcurrencyError when `expectedLastSubjectSequence` no longer holds.
 * @throws the nats.js error for anything else (no stream, timeout).
 */
export async function appendEvent(
  js: JetStreamClient,
  event: EventEnvelope,
  opts: { expectedLastSubjectSequence?: number; timeoutMs?: number } = {},
): Promise<AppendResult> {
  const payload = new TextEncoder().encode(JSON.stringify(event));
  try {
    const ack = await js.publish(event.subject, payload, {
      msgID: event.id,
      timeout: opts.timeoutMs ?? 5000,
      ...(opts.expectedLastSubjectSequence !== undefined ? { expect: { lastSubjectSequence: opts.expectedLastSubjectSequence } } : {}),
    });
    return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
  } catch (err) {
    const code = (err as { code?: number; apiError?: () => { err_code?: number } })?.apiError?.()?.err_code
      ?? (err as { code?: number }).code;
    if (code === JS_WRONG_LAST_SEQUENCE || /wrong last sequence/i.test((err as Error)?.message ?? '')) {
      throw new ConcurrencyError(event.subject, opts.expectedLastSubjectSequence ?? -1, err);
    }
    throw err;
  }
}

/**
 * The newest message on `subject`: its stream sequence and its JSON body (an event envelope for
 * EVENTS subjects), or null when the subject holds none.
 * @throws the nats.js error for anything but "no message found" (JetStream 10037).
 */
export async function lastSubjectMessage(jsm: JetStreamManager, stream: string, subject: string): Promise<{ seq: number; body: unknown } | null> {
  try {
    const m = await jsm.streams.getMessage(stream, { last_by_subj: subject });
    if (!m) return null;
    let body: unknown = null;
    try { body = m.json(); } catch { body = null; }
    return { seq: m.seq, body };
  } catch (err) {
    const code = (err as { apiError?: () => { err_code?: number } })?.apiError?.()?.err_code ?? (err as { code?: number | string }).code;
    if (code === 10037 || code === 404 || code === '404' || /no message found/i.test((err as Error)?.message ?? '')) return null;
    throw err;
  }
}
