/**
 * The domain of the platform: the event catalogue, envelopes, subjects, JetStream stream
 * definitions and pure projection functions. Nothing here does I/O.
 */
export * from './uuid.js';
export * from './envelope.js';
export * from './catalogue.js';
export * from './subjects.js';
export * from './streams.js';
export * from './session.js';
export * from './factory.js';
export * from './keys.js';
export * from './accounts.js';
export * from './chat.js';
export * from './text.js';
export * from './telemetry.js';
export * from './media.js';
export * from './routing.js';
export * from './restream.js';
export * from './webhooks.js';
export * from './moderation.js';
export * from './chat-limits.js';
export * from './chat-send.js';
export * from './recordings.js';
