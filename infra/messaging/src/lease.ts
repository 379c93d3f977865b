import type { Logger } from 'pino';
import { LEASE_TTL_SECONDS, LEASES_STREAM } from '@live/events';
import type { Messaging } from './connection.js';
import { JS_WRONG_LAST_SEQUENCE } from './publish.js';

/** The body of a lease message. */
interface LeaseRecord {
  readonly state: 'held' | 'released';
  readonly holder: string;
  /** ISO-8601 time of the claim or renewal. */
  readonly at: string;
}

/**
 * Exclusive, expiring claims on subjects of the LEASES stream — e.g. "channel X is being published
 * on ingest node N". A claim succeeds only when the subject is free (no message, an expired one,
 * or a release marker) and is written with the expected last subject sequence, so of two
 * concurrent claimers exactly one wins. Held leases are renewed every `renewEveryMs`; a holder
 * that dies stops renewing and its lease expires after the stream's max age
 * ({@link LEASE_TTL_SECONDS}).
 */
export interface LeaseStore {
  /**
   * Claims `subject` for `holder`. Resolves true when won, false when someone else holds it.
   * @throws the nats.js error when JetStream does not answer.
   */
  acquire(subject: string, holder: string): Promise<boolean>;
  /** Releases the lease if `holder` has it, or will get it from a claim still in flight. Never throws. */
  release(subject: string, holder: string): void;
  /** Releases every held lease and stops renewing. */
  close(): Promise<void>;
}

function isWrongLastSequence(err: unknown): boolean {
  const e = err as { code?: number; apiError?: () => { err_code?: number }; message?: string };
  return e?.apiError?.()?.err_code === JS_WRONG_LAST_SEQUENCE || e?.code === JS_WRONG_LAST_SEQUENCE || /wrong last sequence/i.test(e?.message ?? '');
}

/**
 * Creates a {@link LeaseStore} on the LEASES stream (created by `ensureEventStreams`).
 * @param opts.renewEveryMs how often held leases are renewed; default a third of the TTL.
 */
export function createLeaseStore(m: Messaging, opts: { logger: Logger; renewEveryMs?: number }): LeaseStore {
  const renewEveryMs = opts.renewEveryMs ?? (LEASE_TTL_SECONDS * 1000) / 3;
  const held = new Map<string, { holder: string; seq: number; timer: NodeJS.Timeout }>();
  const inFlight = new Map<string, { holder: string; releaseWhenDone: boolean }>();
  const encode = (r: LeaseRecord) => new TextEncoder().encode(JSON.stringify(r));

  async function write(subject: string, record: LeaseRecord, expectedSeq: number): Promise<number | null> {
    try {
      const ack = await m.js.publish(subject, encode(record), { expect: { lastSubjectSequence: expectedSeq } });
      return ack.seq;
    } catch (err) {
      if (isWrongLastSequence(err)) return null;
      throw err;
    }
  }

  async function releaseHeld(subject: string, holder: string): Promise<void> {
    const h = held.get(subject);
    if (!h || h.holder !== holder) return;
    held.delete(subject);
    clearInterval(h.timer);
    await write(subject, { state: 'released', holder, at: new Date().toISOString() }, h.seq)
      .catch((err) => opts.logger.warn({ err: (err as Error).message, subject }, 'lease release failed; it expires on its own'));
  }

  return {
    async acquire(subject, holder) {
      if (held.has(subject) || inFlight.has(subject)) return false;
      const flight = { holder, releaseWhenDone: false };
      inFlight.set(subject, flight);
      try {
        const last = await m.jsm.streams.getMessage(LEASES_STREAM, { last_by_subj: subject }).catch((err: { code?: number; message?: string }) => {
          if (/no message found|not found/i.test(err?.message ?? '') || err?.code === 404) return null;
          throw err;
        });
        if (last && (last.json() as LeaseRecord).state === 'held') return false;
        const seq = await write(subject, { state: 'held', holder, at: new Date().toISOString() }, last?.seq ?? 0);
        if (seq === null) return false;
        const timer = setInterval(() => {
          const h = held.get(subject);
          if (!h) return;
          write(subject, { state: 'held', holder, at: new Date().toISOString() }, h.seq).then(
            (next) => {
              if (next === null) opts.logger.error({ subject, holder }, 'lease lost: another holder took it');
              else h.seq = next;
            },
            (err) => opts.logger.warn({ err: (err as Error).message, subject }, 'lease renewal failed; retrying'),
          );
        }, renewEveryMs);
        timer.unref();
        held.set(subject, { holder, seq, timer });
        if (flight.releaseWhenDone) {
          await releaseHeld(subject, holder);
          return false;
        }
        return true;
      } finally {
        inFlight.delete(subject);
      }
    },
    release(subject, holder) {
      const flight = inFlight.get(subject);
      if (flight && flight.holder === holder) flight.releaseWhenDone = true;
      void releaseHeld(subject, holder);
    },
    async close() {
      await Promise.all([...held].map(([subject, h]) => releaseHeld(subject, h.holder)));
    },
  };
}
