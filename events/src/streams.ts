import { EVENTS_STREAM, EVENTS_SUBJECT_PREFIX, LEASES_STREAM } from './subjects.js';

/**
 * Declarative JetStream stream definition (the fields of the JetStream `StreamConfig` we set;
 * NATS JetStream docs "Streams"). Kept free of client types so `events/` stays I/O-free;
 * `infra/messaging` maps it onto the client's config.
 */
export interface StreamDefinition {
  readonly name: string;
  readonly subjects: readonly string[];
  /** `limits` retention: the log is kept, consumers do not remove messages. */
  readonly retention: 'limits';
  readonly storage: 'file' | 'memory';
  /** Nanoseconds for which `Nats-Msg-Id` duplicates are detected. */
  readonly duplicateWindowNs: number;
  /** 0 means unlimited. */
  readonly maxAgeNs: number;
  readonly maxMsgsPerSubject: number;
  /** Bytes; -1 means unlimited. */
  readonly maxMsgSize: number;
  readonly replicas: number;
}

/**
 * The EVENTS stream: the platform's event log. Kept forever (it is the source of every read
 * model), file-backed, 2-minute dedup window, events of at most 1 MiB.
 * `replicas` is 1 for the embedded single server; a production cluster overrides it to 3.
 */
export const EVENTS_STREAM_DEFINITION: StreamDefinition = {
  name: EVENTS_STREAM,
  subjects: [`${EVENTS_SUBJECT_PREFIX}.>`],
  retention: 'limits',
  storage: 'file',
  duplicateWindowNs: 120 * 1e9,
  maxAgeNs: 0,
  maxMsgsPerSubject: -1,
  maxMsgSize: 1024 * 1024,
  replicas: 1,
};

/** Seconds a lease lives without renewal (a crashed holder frees it after at most this long). */
export const LEASE_TTL_SECONDS = 30;

/**
 * The LEASES stream: one message per subject (the current holder, or a release marker), each
 * expiring after {@link LEASE_TTL_SECONDS} unless renewed. Claims are made with an expected last
 * subject sequence, so two nodes can never both win.
 */
export const LEASES_STREAM_DEFINITION: StreamDefinition = {
  name: LEASES_STREAM,
  subjects: ['lease.>'],
  retention: 'limits',
  storage: 'file',
  duplicateWindowNs: 5 * 1e9, // must not exceed max_age
  maxAgeNs: LEASE_TTL_SECONDS * 1e9,
  maxMsgsPerSubject: 1,
  maxMsgSize: 4096,
  replicas: 1,
};
