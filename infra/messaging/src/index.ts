/**
 * JetStream adapter: connect (with credentials), declare streams, publish events (dedup + optimistic
 * concurrency) and run durable pull consumers. nats.js v3 (`@nats-io/transport-node`,
 * `@nats-io/jetstream`), per the nats.js JetStream README; the per-service NATS permissions and
 * the nats-server authorization block that enforces them (permissions.ts).
 */
export * from './connection.js';
export * from './errors.js';
export * from './publish.js';
export * from './consume.js';
export * from './consume-batch.js';
export * from './lease.js';
export * from './kv-lease.js';
export * from './chat.js';
export * from './follow.js';
export * from './permissions.js';
export * from './transient.js';
