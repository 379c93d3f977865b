/**
 * Read-model projections from the EVENTS log into PostgreSQL, the chat presence aggregator, and
 * the analytics projection (EVENTS, TELEMETRY, CHAT → ClickHouse / chDB) with its store.
 */
export * from './projector.js';
export * from './presence.js';
export * from './analytics.js';
export * from './analytics-store.js';
