import type { Logger } from 'pino';
import { LEASE_TTL_SECONDS, LEASES_STREAM } from '@live/events';
import type { Messaging } from './connection.js';
import { isWrongLastSequence } from './errors.js';

/** Free-form JSON data a holder keeps in its lease message (e.g. when its session started). */
export type LeaseInfo = Readonly<Record<string, unknown>>;

/** The body of a lease message. */
interface LeaseRecord {
  readonly state: 'held' | 'released';
  readonly holder: string;
  /** ISO-8601 time of the claim or renewal. */
  readonly at: string;
  /** The holder's {@link LeaseInfo}, repeated in every renewal. */
  readonly info?: LeaseInfo;
}

/**
 * The last message of a lease subject, as {@link LeaseStore.inspect} reads it. `seq` is its
 * stream sequence: the expected last subject sequence of a {@link LeaseStore.takeOver}.
 */
export interface LeaseSnapshot {
  readonly state: 'held' | 'released';
  readonly holder: string;
  /** Time of the claim or last renewal (ms since the epoch). */
  readonly at: number;
  readonly info: LeaseInfo;
  readonly seq: number;
}

/**
 * Exclusive, expiring claims on subjects of the LEASES stream — e.g. "channel X is being published
 * on ingest node N". A claim succeeds only when the subject is free (no message, an expired one,
 * or a release marker) and is written with the expected last subject sequence, so of two
 * concurrent claimers exactly one wins. Held leases are renewed every `renewEveryMs`; a holder
 * that dies stops renewing and its lease expires after the stream's max age
 * ({@link LEASE_TTL_SECONDS}) — or is taken over sooner by someone who learned that the holder
 * is gone ({@link LeaseStore.takeOver}, guarded by the sequence it read).
 */
export interface LeaseStore {
  /**
   * Claims `subject` for `holder`, with `info` kept in the lease message. Resolves true when won,
   * false when someone else holds it.
   * @throws the nats.js error when JetStream does not answer.
   */
  acquire(subject: string, holder: string, info?: LeaseInfo): Promise<boolean>;
  /**
   * The subject's current lease message, or null when there is none (never claimed, or expired).
   * @throws the nats.js error when JetStream does not answer.
   */
  inspect(subject: string): Promise<LeaseSnapshot | null>;
  /**
   * Claims `subject` for `holder` over a lease someone else holds, if its last message is still
   * the one with sequence `expectedSeq` (the caller decided from it that its holder is gone or
   * handed it over). Resolves true when won, false when the lease changed meanwhile.
   * @throws the nats.js error when JetStream does not answer.
   */
  takeOver(subject: string, holder: string, expectedSeq: number, info?: LeaseInfo): Promise<boolean>;
  /**
   * Stops renewing a lease `holder` has WITHOUT releasing it, so that another holder can take it
   * over from the returned sequence (after a renewal still in flight settled). Null when `holder`
   * does not hold it.
   */
  handOff(subject: string, holder: string): Promise<number | null>;
  /** Rewrites a held lease's message now with new `info` (renewals carry it on). Never throws (logged). */
  update(subject: string, holder: string, info: LeaseInfo): Promise<void>;
  /** Releases the lease if `holder` has it, or will get it from a claim still in flight. Never throws. */
  release(subject: string, holder: string): void;
  /** {@link release}, resolving once the release marker is written (or its write failed: logged). Never rejects. */
  releaseNow(subject: string, holder: string): Promise<void>;
  /** Releases every held lease and stops renewing. */
  close(): Promise<void>;
}

/** Options of {@link createLeaseStore}. */
export interface LeaseStoreOptions {
  readonly logger: Logger;
  /** How often held leases are renewed, ms; default a third of the TTL. */
  readonly renewEveryMs?: number;
  /**
   * Called when a renewal finds that someone else took the lease over (the holder was thought
   * dead); the lease is no longer renewed. Must not throw.
   */
  readonly onLost?: (subject: string, holder: string) => void;
}

interface Held {
  holder: string;
  seq: number;
  info: LeaseInfo | undefined;
  timer: NodeJS.Timeout;
  /** The write in flight (renewal or update), so a hand-off or release waits for its sequence. */
  writing: Promise<void>;
}

/**
 * Creates a {@link LeaseStore} on the LEASES stream (created by `ensureEventStreams`).
 */
export function createLeaseStore(m: Messaging, opts: LeaseStoreOptions): LeaseStore {
  const renewEveryMs = opts.renewEveryMs ?? (LEASE_TTL_SECONDS * 1000) / 3;
  const held = new Map<string, Held>();
  const inFlight = new Map<string, { holder: string; releaseWhenDone: boolean }>();
  const encode = (r: LeaseRecord) => new TextEncoder().encode(JSON.stringify(r));
  const record = (state: LeaseRecord['state'], holder: string, info: LeaseInfo | undefined): LeaseRecord =>
    ({ state, holder, at: new Date().toISOString(), ...(info ? { info } : {}) });

  async function write(subject: string, rec: LeaseRecord, expectedSeq: number): Promise<number | null> {
    try {
      const ack = await m.js.publish(subject, encode(rec), { expect: { lastSubjectSequence: expectedSeq } });
      return ack.seq;
    } catch (err) {
      if (isWrongLastSequence(err)) return null;
      throw err;
    }
  }

  /** Rewrites a held lease (renewal or update), in order with the other writes of the same lease. */
  function rewrite(subject: string, h: Held): Promise<void> {
    h.writing = h.writing.then(async () => {
      if (held.get(subject) !== h) return;
      try {
        const next = await write(subject, record('held', h.holder, h.info), h.seq);
        if (next !== null) {
          h.seq = next;
          return;
        }
        opts.logger.error({ subject, holder: h.holder }, 'lease lost: another holder took it');
        held.delete(subject);
        clearInterval(h.timer);
        opts.onLost?.(subject, h.holder);
      } catch (err) {
        opts.logger.warn({ err: (err as Error).message, subject }, 'lease renewal failed; retrying');
      }
    });
    return h.writing;
  }

  function hold(subject: string, holder: string, seq: number, info: LeaseInfo | undefined): void {
    const h: Held = { holder, seq, info, writing: Promise.resolve(), timer: setInterval(() => void rewrite(subject, h), renewEveryMs) };
    h.timer.unref();
    held.set(subject, h);
  }

  async function releaseHeld(subject: string, holder: string): Promise<void> {
    const h = held.get(subject);
    if (!h || h.holder !== holder) return;
    held.delete(subject);
    clearInterval(h.timer);
    await h.writing;
    await write(subject, record('released', holder, undefined), h.seq)
      .catch((err) => opts.logger.warn({ err: (err as Error).message, subject }, 'lease release failed; it expires on its own'));
  }

  async function inspect(subject: string): Promise<LeaseSnapshot | null> {
    const last = await m.jsm.streams.getMessage(LEASES_STREAM, { last_by_subj: subject }).catch((err: { code?: number; message?: string }) => {
      if (/no message found|not found/i.test(err?.message ?? '') || err?.code === 404) return null;
      throw err;
    });
    if (!last) return null;
    const r = last.json() as Partial<LeaseRecord>;
    const at = Date.parse(String(r.at));
    return {
      state: r.state === 'held' ? 'held' : 'released',
      holder: typeof r.holder === 'string' ? r.holder : '',
      at: Number.isFinite(at) ? at : 0,
      info: typeof r.info === 'object' && r.info !== null ? r.info : {},
      seq: last.seq,
    };
  }

  /** Claims with the expected sequence, honouring a release requested while in flight. */
  async function claim(subject: string, holder: string, expectedSeq: number, info: LeaseInfo | undefined, flight: { releaseWhenDone: boolean }): Promise<boolean> {
    const seq = await write(subject, record('held', holder, info), expectedSeq);
    if (seq === null) return false;
    hold(subject, holder, seq, info);
    if (flight.releaseWhenDone) {
      await releaseHeld(subject, holder);
      return false;
    }
    return true;
  }

  async function guarded(subject: string, holder: string, fn: (flight: { releaseWhenDone: boolean }) => Promise<boolean>): Promise<boolean> {
    if (held.has(subject) || inFlight.has(subject)) return false;
    const flight = { holder, releaseWhenDone: false };
    inFlight.set(subject, flight);
    try {
      return await fn(flight);
    } finally {
      inFlight.delete(subject);
    }
  }

  function releaseNow(subject: string, holder: string): Promise<void> {
    const flight = inFlight.get(subject);
    if (flight && flight.holder === holder) flight.releaseWhenDone = true;
    return releaseHeld(subject, holder);
  }

  return {
    acquire(subject, holder, info) {
      return guarded(subject, holder, async (flight) => {
        const last = await inspect(subject);
        if (last && last.state === 'held') return false;
        return claim(subject, holder, last?.seq ?? 0, info, flight);
      });
    },
    inspect,
    takeOver(subject, holder, expectedSeq, info) {
      return guarded(subject, holder, (flight) => claim(subject, holder, expectedSeq, info, flight));
    },
    async handOff(subject, holder) {
      const h = held.get(subject);
      if (!h || h.holder !== holder) return null;
      held.delete(subject);
      clearInterval(h.timer);
      await h.writing;
      return h.seq;
    },
    async update(subject, holder, info) {
      const h = held.get(subject);
      if (!h || h.holder !== holder) return;
      h.info = info;
      await rewrite(subject, h);
    },
    release(subject, holder) {
      void releaseNow(subject, holder);
    },
    releaseNow,
    async close() {
      await Promise.all([...held].map(([subject, h]) => releaseHeld(subject, h.holder)));
    },
  };
}
