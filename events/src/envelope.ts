import { formatUuidV7 } from './uuid.js';

/**
 * Causation and correlation ids of an event (the "meta" of the envelope).
 * `correlationId` ties every event of one flow together (for a broadcast: the session id);
 * `causationId` is the id of the event or command that directly caused this one.
 */
export interface EventMeta {
  readonly correlationId: string;
  readonly causationId: string | null;
  /** Who or what produced the event, e.g. `ingest:<nodeId>`, `worker:<identity>`. */
  readonly producer: string;
}

/**
 * The envelope every stored event has (docs/architecture.md "Event conventions").
 * - `id`: UUIDv7, also the JetStream `Nats-Msg-Id` (deduplication).
 * - `type`: past-tense event name; `version`: schema version of `data` for that type.
 * - `occurredAt`: ISO-8601 UTC timestamp with milliseconds.
 * - `subject`: the NATS subject the event is stored under.
 */
export interface EventEnvelope<TType extends string = string, TData = unknown> {
  readonly id: string;
  readonly type: TType;
  readonly version: number;
  readonly occurredAt: string;
  readonly subject: string;
  readonly data: Readonly<TData>;
  readonly meta: EventMeta;
}

/** Source of ids and time, injected so that workflow code can pass its deterministic ones. */
export interface EventClock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Returns `n` random bytes. */
  randomBytes(n: number): Uint8Array;
}

/**
 * The process's wall clock and the platform's cryptographic random source (Web Crypto
 * `crypto.getRandomValues`, global in Node ≥ 19 and browsers). For every producer outside
 * workflow code, which passes the sandbox's deterministic clock instead.
 */
export const systemClock: EventClock = {
  now: () => Date.now(),
  randomBytes: (n) => globalThis.crypto.getRandomValues(new Uint8Array(n)),
};

/**
 * Builds an envelope with a fresh UUIDv7 id and `occurredAt` from the given clock.
 * @throws RangeError from {@link formatUuidV7} when the clock is out of range.
 */
export function makeEnvelope<TType extends string, TData>(
  clock: EventClock,
  fields: { type: TType; version: number; subject: string; data: TData; meta: EventMeta },
): EventEnvelope<TType, TData> {
  const now = clock.now();
  return {
    id: formatUuidV7(now, clock.randomBytes(10)),
    type: fields.type,
    version: fields.version,
    occurredAt: new Date(now).toISOString(),
    subject: fields.subject,
    data: fields.data,
    meta: fields.meta,
  };
}
