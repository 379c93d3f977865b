/**
 * Read-model projections from the EVENTS log into PostgreSQL, the chat presence aggregator, and
 * the analytics projection (EVENTS, TELEMETRY, CHAT → ClickHouse / chDB) with its store; each
 * projection under its lease (`run-projections.ts`), one active projector process per projection.
 */
export * from './projector.js';
export * from './presence.js';
export * from './analytics.js';
export * from './analytics-store.js';
export * from './leases.js';
export * from './run-projections.js';
export * from './webhooks.js';
export * from './webhook-schedule.js';
