/**
 * JetStream adapter: connect, declare streams, publish events (dedup + optimistic
 * concurrency) and run durable pull consumers. nats.js v3 (`@nats-io/transport-node`,
 * `@nats-io/jetstream`), per the nats.js JetStream README.
 */
export * from './connection.js';
export * from './publish.js';
export * from './consume.js';
export * from './lease.js';
export * from './chat.js';
export * from './follow.js';
