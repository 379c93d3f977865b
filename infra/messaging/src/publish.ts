import type { JetStreamClient, JetStreamManager, StoredMsg } from '@nats-io/jetstream';
import type { EventEnvelope } from '@live/events';
import { isWrongLastSequence } from './errors.js';

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
    if (isWrongLastSequence(err)) {
      throw new ConcurrencyError(event.subject, opts.expectedLastSubjectSequence ?? -1, err);
    }
    throw err;
  }
}

/**
 * The newest message on `subject`: its stream sequence and its JSON body (an event envelope for
 * EVENTS subjects), or null when the subject holds none.
 *
 * Read with a direct get by subject (`$JS.API.DIRECT.GET.<stream>.<subject>`, JetStream "Direct
 * Get", nats-server ≥ 2.9, streams with `allow_direct`, which `ensureStream` sets on EVENTS): the
 * subject is in the request subject, so NATS permissions can allow it for some subjects only (the
 * API may read `evt.claim.>`, not `evt.user.*`). A stream without direct gets (no responders) is
 * read with `$JS.API.STREAM.MSG.GET.<stream>` instead.
 * @throws the nats.js error for anything but "no message found" (JetStream 10037 / 404), e.g. a
 *   `RequestError` caused by a `PermissionViolationError` when this user may not read `subject`.
 */
export async function lastSubjectMessage(jsm: JetStreamManager, stream: string, subject: string): Promise<{ seq: number; body: unknown } | null> {
  let m: StoredMsg | null;
  try {
    try {
      m = await jsm.direct.getMessage(stream, { last_by_subj: subject });
    } catch (err) {
      if (!isNoResponders(err)) throw err;
      m = await jsm.streams.getMessage(stream, { last_by_subj: subject });
    }
  } catch (err) {
    const code = (err as { apiError?: () => { err_code?: number } })?.apiError?.()?.err_code ?? (err as { code?: number | string }).code;
    if (code === 10037 || code === 404 || code === '404' || /no message found/i.test((err as Error)?.message ?? '')) return null;
    throw err;
  }
  if (!m) return null;
  let body: unknown = null;
  try { body = m.json(); } catch { body = null; }
  return { seq: m.seq, body };
}

function isNoResponders(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as Error).name === 'NoRespondersError' || /no responders/i.test((e as Error).message ?? '')) return true;
  }
  return false;
}

/**
 * Whether `subject` holds at least one message of `stream`, without reading any message: the
 * stream's info with a subject filter (`$JS.API.STREAM.INFO.<stream>` with `subjects_filter`,
 * which reports message counts per subject). For identities that may not read a subject's
 * messages but need to know whether it exists (e.g. the API: "has user X registered?", since it
 * may not read `evt.user.*`, which carries password hashes).
 * @throws the nats.js error when the stream does not exist or JetStream does not answer.
 */
export async function subjectHasMessages(jsm: JetStreamManager, stream: string, subject: string): Promise<boolean> {
  const info = await jsm.streams.info(stream, { subjects_filter: subject });
  return Object.values(info.state.subjects ?? {}).some((n) => n > 0);
}
