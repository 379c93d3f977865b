/** Read-model projections from the EVENTS log into PostgreSQL, and the chat presence aggregator. */
export * from './projector.js';
export * from './presence.js';
